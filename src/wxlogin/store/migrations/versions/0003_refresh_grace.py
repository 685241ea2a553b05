"""PostgreSQL: refresh rotation with a grace window for a token presented again.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

``wxlogin_rotate_batch`` gains ``p_grace_seconds`` (one per unit): a spent refresh token
presented again less than that long after it was spent, while its successor is still the
session's current token, comes back ``replayed`` (the caller answers with that same
successor) instead of revoking the session. The rules are those of
``wxlogin.store.sessions.rotate``; the rest of the function is as in 0002. SQLite needs
nothing: its rotation runs the Python logic.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD_SIGNATURE = "text[], bytea[], bytea[], timestamptz[], timestamptz[]"
_NEW_SIGNATURE = "text[], bytea[], bytea[], timestamptz[], timestamptz[], double precision[]"

_ROTATE_BATCH = r"""
CREATE OR REPLACE FUNCTION wxlogin_rotate_batch(
    p_session_ids text[], p_presented bytea[], p_new bytea[], p_expires timestamptz[],
    p_nows timestamptz[], p_grace_seconds double precision[])
RETURNS TABLE (
    r_idx integer, r_outcome text, r_id text, r_user_id text, r_appid text, r_openid text,
    r_created_at timestamptz, r_last_used_at timestamptz, r_expires_at timestamptz,
    r_revoked_at timestamptz, r_detail text)
LANGUAGE plpgsql AS $fn$
DECLARE
    i integer;
    s sessions%ROWTYPE;
    spent_at timestamptz;
BEGIN
    FOR i IN
        SELECT o FROM generate_subscripts(p_session_ids, 1) AS o ORDER BY p_session_ids[o], o
    LOOP
        r_idx := i;
        r_detail := NULL;
        s := NULL;
        BEGIN
            UPDATE sessions AS z
               SET refresh_hash = p_new[i], last_used_at = p_nows[i], expires_at = p_expires[i]
             WHERE z.id = p_session_ids[i] AND z.refresh_hash = p_presented[i]
               AND z.revoked_at IS NULL AND z.expires_at > p_nows[i]
            RETURNING z.* INTO s;
            IF FOUND THEN
                INSERT INTO used_refresh_tokens (token_hash, session_id, used_at)
                VALUES (p_presented[i], p_session_ids[i], p_nows[i]);
                r_outcome := 'rotated';
            ELSE
                SELECT * INTO s FROM sessions AS z WHERE z.id = p_session_ids[i];
                IF NOT FOUND THEN
                    r_outcome := 'unknown';
                ELSIF s.revoked_at IS NOT NULL THEN
                    r_outcome := 'revoked';
                ELSIF s.expires_at <= p_nows[i] THEN
                    r_outcome := 'expired';
                ELSE
                    SELECT t.used_at INTO spent_at FROM used_refresh_tokens AS t
                     WHERE t.token_hash = p_presented[i] AND t.session_id = p_session_ids[i];
                    IF NOT FOUND THEN
                        r_outcome := 'unknown';
                        s := NULL;
                    ELSIF s.refresh_hash = p_new[i] AND p_grace_seconds[i] > 0
                          AND spent_at > p_nows[i] - make_interval(secs => p_grace_seconds[i])
                    THEN
                        r_outcome := 'replayed';
                    ELSE
                        UPDATE sessions AS z
                           SET revoked_at = COALESCE(z.revoked_at, p_nows[i]),
                               revoked_reason = COALESCE(z.revoked_reason, 'refresh_reused')
                         WHERE z.id = p_session_ids[i]
                        RETURNING z.* INTO s;
                        r_outcome := 'reused';
                    END IF;
                END IF;
            END IF;
        EXCEPTION
            WHEN deadlock_detected OR serialization_failure THEN
                RAISE;
            WHEN OTHERS THEN
                r_outcome := 'error';
                r_detail := SQLSTATE;
                s := NULL;
        END;
        r_id := s.id; r_user_id := s.user_id; r_appid := s.appid; r_openid := s.openid;
        r_created_at := s.created_at; r_last_used_at := s.last_used_at;
        r_expires_at := s.expires_at; r_revoked_at := s.revoked_at;
        RETURN NEXT;
    END LOOP;
END
$fn$;
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"DROP FUNCTION IF EXISTS wxlogin_rotate_batch({_OLD_SIGNATURE})")
    op.execute(_ROTATE_BATCH)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"DROP FUNCTION IF EXISTS wxlogin_rotate_batch({_NEW_SIGNATURE})")
    # 0002's function, without the grace window.
    from importlib import import_module

    previous = import_module("wxlogin.store.migrations.versions.0002_batch_functions")
    op.execute(previous._ROTATE_BATCH)
