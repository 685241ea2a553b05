"""Properties of access tokens: what AccessTokens issues it verifies to the same claims, and
whatever else is presented — any text, any JWS-shaped text, any claims signed with our own
key — verify answers InvalidToken or TokenExpired, never another exception (an exception of
another kind would be a 500 on every protected route)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.strategies import PROPERTY, json_values
from wxlogin.errors import InvalidToken, TokenExpired
from wxlogin.tokens import AccessClaims, AccessTokens, SigningKey, SigningKeys

ISSUER = "https://login.example.com"
AUDIENCE = "wxlogin"
TTL = 900
LEEWAY = 30
NOW = 1_700_000_000.0
REFUSALS = (InvalidToken, TokenExpired)

KEY = SigningKey.generate(NOW)
# cache_size=0: every example goes through the whole check, none is answered from memory.
TOKENS = AccessTokens(
    SigningKeys([KEY], clock=lambda: NOW),
    issuer=ISSUER,
    audience=AUDIENCE,
    ttl=TTL,
    leeway=LEEWAY,
    clock=lambda: NOW,
    cache_size=0,
)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signed(header: Any, claims: Any) -> str:
    """A JWS over exactly these JSON values, signed with the service's own key."""
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
    _, private = TOKENS.keys.signing_key(NOW)
    return f"{signing_input}.{b64url(private.sign(signing_input.encode()))}"


def verify(token: str) -> AccessClaims | None:
    try:
        return TOKENS.verify(token)
    except REFUSALS:
        return None


ids = st.text(min_size=1, max_size=40)


@PROPERTY
@given(user_id=ids, session_id=ids, appid=ids)
def test_an_issued_token_verifies_to_its_claims(user_id: str, session_id: str, appid: str) -> None:
    issued = TOKENS.issue(user_id=user_id, session_id=session_id, appid=appid)
    claims = TOKENS.verify(issued.token)
    assert (claims.user_id, claims.session_id, claims.appid) == (user_id, session_id, appid)
    assert (claims.jti, claims.expires_at) == (issued.jti, issued.expires_at)
    head, payload, signature = issued.token.split(".")
    # One flipped character anywhere, and it is refused.
    for part in range(3):
        pieces = [head, payload, signature]
        pieces[part] = ("A" if pieces[part][0] != "A" else "B") + pieces[part][1:]
        assert verify(".".join(pieces)) is None


@PROPERTY
@given(token=st.text(max_size=300))
def test_any_text_is_refused_with_a_token_error(token: str) -> None:
    assert verify(token) is None


segments = st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/.", max_size=120
)


@PROPERTY
@given(header=json_values, claims=json_values, signature=segments)
def test_jws_shaped_text_is_refused_with_a_token_error(
    header: Any, claims: Any, signature: str
) -> None:
    token = (
        f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}.{signature}"
    )
    assert verify(token) is None


claim_values = json_values | st.integers(int(NOW) - 2 * TTL, int(NOW) + 2 * TTL)
claim_sets = st.fixed_dictionaries(
    {},
    optional={
        name: claim_values | st.sampled_from([ISSUER, AUDIENCE, [AUDIENCE], "x"])
        for name in ("iss", "aud", "sub", "sid", "azp", "jti", "iat", "exp", "nbf")
    },
)


@PROPERTY
@given(claims=claim_sets, extra=st.dictionaries(st.text(max_size=6), json_values, max_size=2))
def test_claims_signed_with_our_key_are_checked_not_trusted(
    claims: dict[str, Any], extra: dict[str, Any]
) -> None:
    """Past the signature, the claims are still input: wrong types, times and audiences
    are refused, and whatever is accepted has exactly the promised types."""
    kid = TOKENS.keys.signing_key(NOW)[0]
    header = {**extra, "alg": "EdDSA", "typ": "JWT", "kid": kid}
    header.pop("crit", None)
    accepted = verify(signed(header, claims))
    if accepted is None:
        return
    assert all(isinstance(v, str) and v for v in (accepted.user_id, accepted.session_id))
    assert type(accepted.expires_at) is int and accepted.expires_at + LEEWAY > NOW
    assert type(accepted.issued_at) is int and accepted.issued_at <= NOW + LEEWAY
    assert claims["iss"] == ISSUER
    assert claims["aud"] == AUDIENCE or AUDIENCE in claims["aud"]


@PROPERTY
@given(header=st.dictionaries(st.text(max_size=6), json_values, max_size=4), alg=json_values)
def test_any_header_but_ours_is_refused(header: dict[str, Any], alg: Any) -> None:
    claims: dict[str, Any] = {"iss": ISSUER, "aud": AUDIENCE, "sub": "u", "sid": "s"}
    claims |= {"azp": "a", "jti": "j"}
    claims |= {"iat": int(NOW), "exp": int(NOW) + TTL}
    kid = TOKENS.keys.signing_key(NOW)[0]
    forged = signed({**header, "alg": alg, "kid": kid}, claims)
    accepted = verify(forged)
    assert accepted is None or (alg == "EdDSA" and "crit" not in header)
    with pytest.raises(InvalidToken):
        TOKENS.verify(signed({**header, "alg": "EdDSA", "kid": kid + "x"}, claims))
