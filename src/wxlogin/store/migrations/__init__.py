"""Alembic migrations for the store; run them with ``Store.migrate()`` or ``wxlogin db upgrade``."""
