"""Our own tokens: Ed25519-signed access JWTs, their keys, and refresh-token hashing.

* ``SigningKeys`` is the set of Ed25519 keys a process signs and verifies with, in memory.
  Where the keys are kept is not its business: the service loads them from the database
  (``service/keyring.py``), sealed at rest, and replaces the set when another process rotates.
  Each key has the moment it starts signing (``activates_at``): a rotation publishes the new
  key first and lets it sign only once every process has had time to learn it, so a token
  signed by one process never reaches another that does not know its key. Every key held is
  published in the JWKS, so tokens signed by a retired key keep verifying until the rotation
  that drops it.
* ``AccessTokens`` issues access JWTs (signed directly, byte for byte what PyJWT would
  write; see ``_sign``) and verifies them (by hand, on the hot path; see
  ``AccessTokens.verify``). Only ``EdDSA`` is ever accepted; every failure becomes
  ``InvalidToken`` (or ``TokenExpired``) at this boundary, and no message quotes the token.
  Neither does any I/O.
* Refresh tokens are opaque strings made by the service; only their SHA-256 is stored
  (``hash_refresh_token``).
"""

from wxlogin.tokens.access import AccessClaims, AccessTokens, IssuedToken
from wxlogin.tokens.keys import SigningKey, SigningKeys, jwk_thumbprint, parse_legacy_key_file
from wxlogin.tokens.refresh import RefreshSuccessors, hash_refresh_token

__all__ = [
    "AccessClaims",
    "AccessTokens",
    "IssuedToken",
    "RefreshSuccessors",
    "SigningKey",
    "SigningKeys",
    "hash_refresh_token",
    "jwk_thumbprint",
    "parse_legacy_key_file",
]
