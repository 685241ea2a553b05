"""The cross-field checks ``Settings`` runs once its fields parse: duplicate appids, placeholder
secrets outside dev mode, the encryption key, database and Redis URLs (and example passwords in
them), ``forwarded_allow_ips``, service tokens and message templates, the metrics token.

Apart from ``Settings`` because they are policy (what fails closed, with which message), read
as a list and changed on their own; ``settings_problems`` returns one line per problem and
``Settings`` raises them together as one ``ConfigurationError``.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from wxlogin.config.pay import pay_problems
from wxlogin.config.values import decode_key32, is_placeholder

if TYPE_CHECKING:
    from wxlogin.config.settings import Settings

__all__ = [
    "SERVICE_TOKEN_MIN_LENGTH",
    "forwarded_allow_ips_problems",
    "is_example_password",
    "metrics_problems",
    "server_to_server_problems",
    "settings_problems",
    "url_password_problems",
]

_log = logging.getLogger("wxlogin.config")

# A real appid is "wx" + 16 alphanumerics; anything else only earns a warning, because the
# simulator and tests use readable fake ids.
_APPID_SHAPE = re.compile(r"^wx[0-9a-zA-Z]{16}$")
# A service token travels in a header: printable ASCII, no spaces, no commas (the list's
# separator in WXLOGIN_SERVICE_TOKENS).
_SERVICE_TOKEN_SHAPE = re.compile(r"[!-+\--~]+")
SERVICE_TOKEN_MIN_LENGTH = 32
_TEMPLATE_ID_SHAPE = re.compile(r"[A-Za-z0-9_-]{1,128}")
_KEYWORD_SHAPE = re.compile(r"[a-z_]{1,32}[0-9]{1,3}")


def settings_problems(settings: Settings) -> list[str]:
    """Every problem of ``settings`` beyond its single fields, one line each; [] when none."""
    problems: list[str] = []
    seen: set[str] = set()
    for index, app in enumerate(settings.apps):
        where = f"apps[{index}]"
        if app.appid in seen:
            problems.append(f"{where}.appid (WXLOGIN_APPS): duplicate appid {app.appid!r}")
        seen.add(app.appid)
        if not _APPID_SHAPE.match(app.appid) and not settings.dev:
            _log.warning(
                "appid %r does not look like a WeChat appid (wx + 16 characters)", app.appid
            )
        if not settings.dev and is_placeholder(app.secret.get_secret_value()):
            problems.append(
                f"{where}.secret (WXLOGIN_APPS): the AppSecret for {app.appid!r} is empty "
                "or a placeholder; set the real AppSecret (placeholders are only allowed "
                "with WXLOGIN_DEV=1)"
            )
        if app.pay is not None:
            problems += pay_problems(where, app.pay, dev=settings.dev)
    key = settings.session_key_encryption_key
    if key is not None:
        name = "session_key_encryption_key (WXLOGIN_SESSION_KEY_ENCRYPTION_KEY)"
        if not settings.dev and is_placeholder(key.get_secret_value()):
            problems.append(
                f"{name}: is a placeholder; generate one with `python -c 'import os,"
                "base64;print(base64.b64encode(os.urandom(32)).decode())'` or leave it "
                "unset to use a key file in data_dir"
            )
        elif decode_key32(key.get_secret_value()) is None:
            problems.append(f"{name}: must be base64 of exactly 32 bytes")
    if settings.database_url is not None and not settings.database_url.startswith(
        ("sqlite+aiosqlite://", "postgresql+asyncpg://")
    ):
        problems.append(
            "database_url (WXLOGIN_DATABASE_URL): only sqlite and postgresql URLs are supported"
        )
    if settings.redis_url is not None and not settings.redis_url.startswith(
        ("redis://", "rediss://", "unix://")
    ):
        problems.append(
            "redis_url (WXLOGIN_REDIS_URL): must start with redis://, rediss:// or unix://"
        )
    if settings.session_retention < settings.access_token_ttl + settings.token_leeway:
        problems.append(
            "session_retention (WXLOGIN_SESSION_RETENTION): must be at least "
            "access_token_ttl + token_leeway: processes without Redis learn revocations "
            "from the sessions it keeps"
        )
    problems += url_password_problems(settings)
    problems += forwarded_allow_ips_problems(settings.forwarded_allow_ips)
    problems += server_to_server_problems(settings)
    problems += metrics_problems(settings)
    return problems


def url_password_problems(settings: Settings) -> list[str]:
    """A password left as the example's placeholder would only fail when the server refuses
    the connection, later and less clearly than here."""
    problems: list[str] = []
    if settings.dev:
        return problems
    for name, url in (
        ("database_url (WXLOGIN_DATABASE_URL)", settings.database_url),
        ("redis_url (WXLOGIN_REDIS_URL)", settings.redis_url),
    ):
        if url is None:
            continue
        try:
            password = urlsplit(url).password
        except ValueError:
            continue  # the URL's own check says what is wrong with it
        if password is not None and is_example_password(unquote(password)):
            problems.append(f"{name}: the password is a placeholder; set the real one")
    return problems


def is_example_password(value: str) -> bool:
    """Narrower than ``is_placeholder``: a short local password ("p", "test") can be real on a
    development database; what an example file writes instead of one cannot."""
    squashed = re.sub(r"[\s\-_.]", "", value.strip().lower())
    return (
        (squashed.startswith("<") and squashed.endswith(">"))
        or "changeme" in squashed
        or "placeholder" in squashed
        or squashed.startswith("your")
    )


def forwarded_allow_ips_problems(value: str) -> list[str]:
    """Each entry an address or a network, or "*": the server would silently take a
    misspelt entry for a host name that never matches, and read no client address at all."""
    bad: list[str] = []
    for entry in (part.strip() for part in value.split(",")):
        if entry == "*":
            continue
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            bad.append(entry)
    if not bad:
        return []
    return [
        "forwarded_allow_ips (WXLOGIN_FORWARDED_ALLOW_IPS): not an IP address or network: "
        + ", ".join(repr(entry[:64]) for entry in bad[:5])
    ]


def metrics_problems(settings: Settings) -> list[str]:
    token = settings.metrics_token
    if token is None or settings.dev:
        return []
    value = token.get_secret_value()
    name = "metrics_token (WXLOGIN_METRICS_TOKEN)"
    if not _SERVICE_TOKEN_SHAPE.fullmatch(value):
        return [f"{name}: must be printable ASCII with no spaces or commas"]
    if is_placeholder(value) or len(value) < SERVICE_TOKEN_MIN_LENGTH:
        return [
            f"{name}: a placeholder or shorter than {SERVICE_TOKEN_MIN_LENGTH} characters; "
            "generate one with `python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
        ]
    return []


def server_to_server_problems(settings: Settings) -> list[str]:
    problems: list[str] = []
    name = "service_tokens (WXLOGIN_SERVICE_TOKENS)"
    for index, token in enumerate(settings.service_tokens):
        value = token.get_secret_value()
        if not _SERVICE_TOKEN_SHAPE.fullmatch(value):
            problems.append(f"{name}[{index}]: must be printable ASCII with no spaces or commas")
        elif not settings.dev and is_placeholder(value):
            problems.append(
                f"{name}[{index}]: is a placeholder; generate one with `python -c 'import "
                "secrets; print(secrets.token_urlsafe(32))'` (placeholders only with "
                "WXLOGIN_DEV=1)"
            )
        elif not settings.dev and len(value) < SERVICE_TOKEN_MIN_LENGTH:
            problems.append(
                f"{name}[{index}]: shorter than {SERVICE_TOKEN_MIN_LENGTH} characters; "
                "generate one with `python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
            )
    where = "message_templates (WXLOGIN_MESSAGE_TEMPLATES)"
    for template_id, fields in settings.message_templates.items():
        if not _TEMPLATE_ID_SHAPE.fullmatch(template_id):
            problems.append(f"{where}: {template_id[:40]!r} is not a template id ([A-Za-z0-9_-])")
        elif not fields:
            problems.append(f"{where}.{template_id}: names no keyword")
        for keyword in fields:
            if not _KEYWORD_SHAPE.fullmatch(keyword):
                problems.append(
                    f"{where}.{template_id[:40]}: {keyword[:40]!r} is not a keyword name "
                    "like thing1 or time2"
                )
    return problems
