"""Settings: one validated object, built from overrides, ``WXLOGIN_*`` env vars and a TOML file.

Nothing is read at import time: callers build a ``Settings`` with ``Settings.load()`` (which
also reads ``wxlogin.toml``) or ``Settings(...)`` (env vars and arguments only). Either way an
invalid configuration raises ``wxlogin.errors.ConfigurationError`` with one line per problem,
each naming the setting and its environment variable. Outside dev mode placeholder secrets are
refused (fail closed).

Precedence, highest first: keyword overrides > environment > TOML file > defaults.

Reading the TOML file is the only I/O here; private files in ``data_dir`` (a generated
encryption key, the legacy signing-key file) belong to ``wxlogin.private_files``.

The package's modules, each with one concern: ``settings`` (``Settings``, ``AppConfig``),
``pay`` (``PayConfig``, a merchant's settings), ``checks`` (the cross-field checks that fail
closed), ``sources`` (the TOML file and the environment's strings) and ``values`` (URLs, keys,
placeholders). Import from ``wxlogin.config``; the names below are its public face.
"""

from __future__ import annotations

from wxlogin.config.pay import PayConfig
from wxlogin.config.settings import AppConfig, Settings
from wxlogin.config.values import decode_key32, normalize_database_url, redact_url

__all__ = [
    "AppConfig",
    "PayConfig",
    "Settings",
    "decode_key32",
    "normalize_database_url",
    "redact_url",
]
