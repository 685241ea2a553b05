"""The server-to-server credential: how a host app's backend proves it is one.

Some routes are not for the mini program but for the host app's own servers: sending a
subscribe message (``POST /messages``), creating a payment. Those callers have no WeChat
login and no session; they hold one of the bearer secrets in ``service_tokens``
(``WXLOGIN_SERVICE_TOKENS``) and send it as ``Authorization: Bearer <token>``.

* Several tokens may be valid at once: rotate by adding the new one, moving the callers over,
  then removing the old one — no window in which a caller is refused.
* Compared in constant time: the presented token and every configured one are hashed
  (SHA-256) and compared with ``hmac.compare_digest``, every configured token every time,
  so neither the time taken nor an early exit tells how close a guess was or which token
  matched. Only the digests are kept in memory after start-up.
* Never logged, never in a ``repr``, never in an error message; placeholders and short
  tokens are refused outside dev mode (``Settings``).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

from wxlogin.errors import ServiceTokenRejected

__all__ = ["ServiceCredentials"]


def _digest(token: str) -> bytes:
    # surrogatepass: a header decoded as latin-1 always encodes; nothing here can raise.
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


class ServiceCredentials:
    """The configured service tokens, as digests; ``verify`` checks a presented one."""

    __slots__ = ("_digests",)

    def __init__(self, tokens: Iterable[str]) -> None:
        self._digests = tuple(_digest(token) for token in tokens if token)

    def __repr__(self) -> str:
        return f"ServiceCredentials({len(self._digests)} token(s))"

    @property
    def configured(self) -> bool:
        """Whether any token is configured (without one, every call is refused)."""
        return bool(self._digests)

    def verify(self, presented: str | None) -> None:
        """Return when ``presented`` is one of the tokens; ``ServiceTokenRejected`` otherwise."""
        if not self._digests:
            raise ServiceTokenRejected(
                "server-to-server routes are off: no service token is configured "
                "(WXLOGIN_SERVICE_TOKENS)"
            )
        if not presented:
            raise ServiceTokenRejected()
        digest = _digest(presented)
        matched = False
        for known in self._digests:  # all of them, always: no early exit to time
            matched |= hmac.compare_digest(digest, known)
        if not matched:
            raise ServiceTokenRejected("the service token is not one of this server's")
