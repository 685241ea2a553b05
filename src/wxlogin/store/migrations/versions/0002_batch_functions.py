"""PostgreSQL: the login and refresh batch functions (group commit in one round trip).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01

``wxlogin_login_batch`` and ``wxlogin_rotate_batch`` take one array per parameter, one element
per unit of work, and run every unit in the order of its key — (appid, openid) for logins, the
session id for rotations — so two batches running at once take their row locks in the same
order and do not deadlock each other. Each unit runs in its own subtransaction
(``BEGIN … EXCEPTION``): a unit that fails is undone alone and reported (``error`` with its
SQLSTATE), and its neighbours commit. A unit that loses a race for a unique key of ``users``
or ``identities`` to a transaction that has committed meanwhile runs again (READ COMMITTED: the
next statement sees the winner's row). Deadlocks and serialization failures are not caught:
they abort the whole call, and the caller runs the batch again.

The logic is the one of ``wxlogin.store.identities.login`` and ``wxlogin.store.sessions.rotate``
for every case but one: merging two users (a unionid that another user already owns). Those
units come back as ``general`` and the store runs the Python logic for them, in a transaction
of their own. SQLite needs none of this (its writer runs the Python logic in-process), so this
revision does nothing there.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Attempts of one unit that keeps losing races before it is handed back to Python.
_LOGIN_BATCH = r"""
CREATE OR REPLACE FUNCTION wxlogin_login_batch(
    p_appids text[], p_openids text[], p_unionids text[], p_session_ids text[],
    p_session_keys bytea[], p_refresh_hashes bytea[], p_expires timestamptz[],
    p_nows timestamptz[], p_new_user_ids text[])
RETURNS TABLE (
    r_idx integer, r_status text, r_new_user boolean, r_id text, r_unionid text,
    r_phone text, r_pure_phone text, r_phone_country_code text, r_nickname text,
    r_avatar_url text, r_created_at timestamptz, r_last_login_at timestamptz,
    r_appids text[], r_openids text[], r_detail text)
LANGUAGE plpgsql AS $fn$
DECLARE
    i integer;
    attempt integer;
    finished boolean;
    found_user text;
    u users%ROWTYPE;
    owner users%ROWTYPE;
    violated text;
BEGIN
    FOR i IN
        SELECT o FROM generate_subscripts(p_appids, 1) AS o
        ORDER BY p_appids[o], p_openids[o], o
    LOOP
        r_idx := i;
        attempt := 0;
        finished := false;
        WHILE NOT finished LOOP
            attempt := attempt + 1;
            r_status := 'ok';
            r_new_user := false;
            r_detail := NULL;
            BEGIN
                UPDATE identities AS x
                   SET last_login_at = p_nows[i], session_key_enc = p_session_keys[i],
                       unionid = COALESCE(p_unionids[i], x.unionid)
                 WHERE x.appid = p_appids[i] AND x.openid = p_openids[i]
                RETURNING x.user_id INTO found_user;
                IF FOUND THEN
                    UPDATE users AS y SET last_login_at = p_nows[i]
                     WHERE y.id = found_user AND y.merged_into IS NULL
                    RETURNING y.* INTO u;
                    IF NOT FOUND THEN
                        RAISE EXCEPTION USING ERRCODE = 'WXGEN';  -- points at a merged user
                    END IF;
                    IF p_unionids[i] IS NOT NULL AND u.unionid IS NULL THEN
                        PERFORM 1 FROM users AS y WHERE y.unionid = p_unionids[i];
                        IF FOUND THEN
                            RAISE EXCEPTION USING ERRCODE = 'WXGEN';  -- a merge
                        END IF;
                        UPDATE users AS y SET unionid = p_unionids[i], updated_at = p_nows[i]
                         WHERE y.id = u.id AND y.unionid IS NULL
                        RETURNING y.* INTO u;
                        IF NOT FOUND THEN
                            RAISE EXCEPTION USING ERRCODE = 'WXRUN';
                        END IF;
                    END IF;
                ELSE
                    PERFORM 1 FROM identities AS x
                     WHERE x.appid = p_appids[i] AND x.openid = p_openids[i];
                    IF FOUND THEN
                        RAISE EXCEPTION USING ERRCODE = 'WXRUN';
                    END IF;
                    IF p_unionids[i] IS NOT NULL THEN
                        SELECT * INTO owner FROM users AS y WHERE y.unionid = p_unionids[i];
                    END IF;
                    IF p_unionids[i] IS NOT NULL AND FOUND THEN
                        IF owner.merged_into IS NOT NULL THEN
                            RAISE EXCEPTION USING ERRCODE = 'WXGEN';
                        END IF;
                        UPDATE users AS y SET last_login_at = p_nows[i]
                         WHERE y.id = owner.id AND y.merged_into IS NULL
                        RETURNING y.* INTO u;
                        IF NOT FOUND THEN
                            RAISE EXCEPTION USING ERRCODE = 'WXRUN';
                        END IF;
                    ELSE
                        INSERT INTO users (id, unionid, created_at, updated_at, last_login_at)
                        VALUES (p_new_user_ids[i], p_unionids[i], p_nows[i], p_nows[i], p_nows[i])
                        ON CONFLICT DO NOTHING
                        RETURNING * INTO u;
                        IF NOT FOUND THEN
                            RAISE EXCEPTION USING ERRCODE = 'WXRUN';
                        END IF;
                        r_new_user := true;
                    END IF;
                    INSERT INTO identities (appid, openid, user_id, unionid, created_at,
                                            last_login_at, session_key_enc)
                    VALUES (p_appids[i], p_openids[i], u.id, p_unionids[i], p_nows[i],
                            p_nows[i], p_session_keys[i])
                    ON CONFLICT DO NOTHING;
                    IF NOT FOUND THEN
                        RAISE EXCEPTION USING ERRCODE = 'WXRUN';
                    END IF;
                END IF;
                SELECT array_agg(x.appid ORDER BY x.created_at, x.appid, x.openid),
                       array_agg(x.openid ORDER BY x.created_at, x.appid, x.openid)
                  INTO r_appids, r_openids
                  FROM identities AS x WHERE x.user_id = u.id;
                INSERT INTO sessions (id, user_id, appid, openid, refresh_hash, created_at,
                                      last_used_at, expires_at)
                VALUES (p_session_ids[i], u.id, p_appids[i], p_openids[i],
                        p_refresh_hashes[i], p_nows[i], p_nows[i], p_expires[i]);
                r_id := u.id; r_unionid := u.unionid; r_phone := u.phone;
                r_pure_phone := u.pure_phone; r_phone_country_code := u.phone_country_code;
                r_nickname := u.nickname; r_avatar_url := u.avatar_url;
                r_created_at := u.created_at; r_last_login_at := u.last_login_at;
                finished := true;
            EXCEPTION
                WHEN deadlock_detected OR serialization_failure THEN
                    RAISE;
                WHEN SQLSTATE 'WXGEN' THEN
                    r_status := 'general';
                    finished := true;
                WHEN SQLSTATE 'WXRUN' OR unique_violation THEN
                    GET STACKED DIAGNOSTICS violated = CONSTRAINT_NAME;
                    IF violated IN ('pk_sessions', 'uq_sessions_refresh_hash') THEN
                        r_status := 'error';
                        r_detail := SQLSTATE;
                        finished := true;
                    ELSIF attempt >= 8 THEN
                        r_status := 'general';  -- still racing: Python retries with backoff
                        finished := true;
                    END IF;
                WHEN OTHERS THEN
                    r_status := 'error';
                    r_detail := SQLSTATE;
                    finished := true;
            END;
        END LOOP;
        IF r_status <> 'ok' THEN
            r_id := NULL; r_unionid := NULL; r_phone := NULL; r_pure_phone := NULL;
            r_phone_country_code := NULL; r_nickname := NULL; r_avatar_url := NULL;
            r_created_at := NULL; r_last_login_at := NULL; r_appids := NULL; r_openids := NULL;
        END IF;
        RETURN NEXT;
    END LOOP;
END
$fn$;
"""

_ROTATE_BATCH = r"""
CREATE OR REPLACE FUNCTION wxlogin_rotate_batch(
    p_session_ids text[], p_presented bytea[], p_new bytea[], p_expires timestamptz[],
    p_nows timestamptz[])
RETURNS TABLE (
    r_idx integer, r_outcome text, r_id text, r_user_id text, r_appid text, r_openid text,
    r_created_at timestamptz, r_last_used_at timestamptz, r_expires_at timestamptz,
    r_revoked_at timestamptz, r_detail text)
LANGUAGE plpgsql AS $fn$
DECLARE
    i integer;
    s sessions%ROWTYPE;
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
                    PERFORM 1 FROM used_refresh_tokens AS t
                     WHERE t.token_hash = p_presented[i] AND t.session_id = p_session_ids[i];
                    IF NOT FOUND THEN
                        r_outcome := 'unknown';
                        s := NULL;
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
    op.execute(_LOGIN_BATCH)
    op.execute(_ROTATE_BATCH)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "DROP FUNCTION IF EXISTS wxlogin_login_batch("
        "text[], text[], text[], text[], bytea[], bytea[], timestamptz[], timestamptz[], text[])"
    )
    op.execute(
        "DROP FUNCTION IF EXISTS wxlogin_rotate_batch("
        "text[], bytea[], bytea[], timestamptz[], timestamptz[])"
    )
