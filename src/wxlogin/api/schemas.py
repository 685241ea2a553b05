"""Request and response bodies of the HTTP API, as msgspec Structs.

Requests are decoded straight from the body's bytes: types, lengths and unknown fields are
checked by msgspec's decoder in C, then ``__post_init__`` strips surrounding whitespace (as
clients send it from text inputs) and checks what remains. The same Structs give OpenAPI its
schemas, so the documentation cannot drift from what is enforced.

One difference from a strip-first validator, on purpose: a length limit applies to the value
as sent, padding included, because it bounds untrusted input before any work is done on it.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, ClassVar

import msgspec

from wxlogin.errors import ErrorCode
from wxlogin.store.records import User

__all__ = [
    "ErrorBody",
    "ErrorDetail",
    "Health",
    "IdentityOut",
    "JwkSet",
    "LoginRequest",
    "LoginResponse",
    "OpenIdConfiguration",
    "PhoneRequest",
    "ProfileUpdate",
    "RefreshRequest",
    "TokenResponse",
    "UserOut",
    "WeChatProfileRequest",
]


# Control characters (C0, DEL, C1) have no place in any text a client sends us: a NUL cannot be
# stored by PostgreSQL at all, and a newline in a nickname or a code would split a log line.
# Everything else is fine, emoji and their zero-width joiners included.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# What the validator below accepts, as JSON Schema patterns (the same in ECMA and Python regex):
# any padding that str.strip() removes (every character str.isspace() calls whitespace, a few
# control characters among them), around a middle with no control character; for a field
# that must not be blank, a middle that starts and ends with something else than whitespace.
# tests/api/test_schema_patterns.py checks the validator and the patterns agree.
_SPACE = r"\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_CTRL = r"\x00-\x1f\x7f-\x9f"
TEXT_PATTERN = rf"^[{_SPACE}]*[^{_CTRL}]*[{_SPACE}]*$"
NOT_BLANK_PATTERN = rf"^[{_SPACE}]*[^{_CTRL}{_SPACE}](?:[^{_CTRL}]*[^{_CTRL}{_SPACE}])?[{_SPACE}]*$"


def _text(
    max_length: int, description: str = "", *, min_length: int = 0, blank: bool = True
) -> msgspec.Meta:
    """A text field. ``blank=False`` documents a field the Struct lists in ``not_blank``."""
    return msgspec.Meta(
        min_length=min_length or None,
        max_length=max_length,
        description=description or None,
        # Documented here, enforced in ``_Request.__post_init__`` with a plainer message.
        extra_json_schema={"pattern": TEXT_PATTERN if blank else NOT_BLANK_PATTERN},
    )


# An open-data iv: base64 of 16 bytes, as WeChat hands it over. Checked by msgspec itself.
_IV = msgspec.Meta(
    pattern=r"^[A-Za-z0-9+/]{22}==$",
    min_length=24,
    max_length=24,
    description="e.detail.iv: base64 of 16 bytes",
)


class _Request(msgspec.Struct, forbid_unknown_fields=True):
    """A request body: unknown fields are refused; text fields are stripped after decoding."""

    # Fields that must not be blank once stripped (their ``min_length`` saw the raw value).
    not_blank: ClassVar[tuple[str, ...]] = ()
    # A rule across fields that the field types cannot say: added to the Struct's JSON Schema
    # in /openapi.json, and enforced by its ``__post_init__``.
    json_schema_extra: ClassVar[dict[str, Any]] = {}

    def __post_init__(self) -> None:
        for name in self.__struct_fields__:
            value = getattr(self, name)
            if isinstance(value, str):
                stripped = value.strip()
                # After stripping: a newline sent around a value is only padding.
                if _CONTROL.search(stripped) is not None:
                    raise ValueError(f"{name}: must not contain control characters")
                if stripped is not value:  # str.strip returns the same object when unchanged
                    setattr(self, name, stripped)
                if not stripped and name in self.not_blank:
                    # msgspec turns this into a ValidationError naming the field.
                    raise ValueError(f"{name}: must not be blank")


class LoginRequest(_Request):
    not_blank: ClassVar[tuple[str, ...]] = ("code",)

    code: Annotated[str, _text(128, "the code from wx.login()", min_length=1, blank=False)]
    appid: (
        Annotated[
            str,
            _text(
                64,
                "which mini program: required when the server serves several (its "
                "/openapi.json then lists appid as required), may be left out when it serves one",
            ),
        ]
        | None
    ) = None


class RefreshRequest(_Request):
    not_blank: ClassVar[tuple[str, ...]] = ("refresh_token",)

    refresh_token: Annotated[
        str,
        _text(512, "the refresh token of the last login or refresh", min_length=1, blank=False),
    ]


class PhoneRequest(_Request):
    """Either ``code`` (the current phone button) or ``encrypted_data`` + ``iv`` (legacy)."""

    not_blank: ClassVar[tuple[str, ...]] = ("code", "encrypted_data")
    json_schema_extra: ClassVar[dict[str, Any]] = {
        "oneOf": [
            {
                "required": ["code"],
                "properties": {
                    "code": {"type": "string"},
                    "encrypted_data": {"type": "null"},
                    "iv": {"type": "null"},
                },
            },
            {
                "required": ["encrypted_data", "iv"],
                "properties": {
                    "code": {"type": "null"},
                    "encrypted_data": {"type": "string"},
                    "iv": {"type": "string"},
                },
            },
        ]
    }

    code: (
        Annotated[
            str,
            _text(256, "e.detail.code of the getPhoneNumber button", min_length=1, blank=False),
        ]
        | None
    ) = None
    encrypted_data: (
        Annotated[
            str, _text(8192, "e.detail.encryptedData (legacy button)", min_length=1, blank=False)
        ]
        | None
    ) = None
    iv: Annotated[str, _IV] | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        legacy = self.encrypted_data is not None or self.iv is not None
        if (self.code is None) == (not legacy) or (
            legacy and not (self.encrypted_data and self.iv)
        ):
            raise ValueError("send either code, or encrypted_data and iv")


class ProfileUpdate(_Request):
    not_blank: ClassVar[tuple[str, ...]] = ("nickname", "avatar_url")

    nickname: (
        Annotated[str, _text(64, "from <input type=nickname>", min_length=1, blank=False)] | None
    ) = None
    avatar_url: (
        Annotated[str, _text(1024, "from chooseAvatar", min_length=1, blank=False)] | None
    ) = None


class WeChatProfileRequest(_Request):
    raw_data: Annotated[str, _text(8192, "rawData from wx.getUserInfo")]
    signature: Annotated[str, _text(64, "signature from wx.getUserInfo")]
    encrypted_data: Annotated[str, _text(8192, "encryptedData from wx.getUserInfo")]
    iv: Annotated[str, _IV]


# ------------------------------------------------------------------------------- responses


# msgspec describes a datetime as a bare string; say which kind of string it is.
Timestamp = Annotated[
    datetime, msgspec.Meta(extra_json_schema={"format": "date-time"}, description="RFC 3339")
]


class IdentityOut(msgspec.Struct):
    appid: str
    openid: str


class UserOut(msgspec.Struct):
    id: str
    unionid: str | None
    identities: list[IdentityOut]
    phone: str | None
    nickname: str | None
    avatar_url: str | None
    created_at: Timestamp
    last_login_at: Timestamp | None

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(
            id=user.id,
            unionid=user.unionid,
            identities=[IdentityOut(i.appid, i.openid) for i in user.identities],
            phone=user.phone,
            nickname=user.nickname,
            avatar_url=user.avatar_url,
            created_at=user.created_at,
            last_login_at=user.last_login_at,
        )


class TokenResponse(msgspec.Struct, kw_only=True):
    access_token: Annotated[str, msgspec.Meta(description="send as 'Authorization: Bearer ...'")]
    token_type: Annotated[str, msgspec.Meta(description="always Bearer")]
    expires_in: Annotated[int, msgspec.Meta(description="seconds the access token lives")]
    refresh_token: Annotated[
        str, msgspec.Meta(description="single use: POST /auth/refresh trades it for a new pair")
    ]


class LoginResponse(TokenResponse, kw_only=True):
    user: UserOut
    new_user: bool


class OpenIdConfiguration(msgspec.Struct):
    """OIDC discovery metadata: enough for any JWT library to verify our access tokens."""

    issuer: str
    jwks_uri: str
    token_endpoint: str
    response_types_supported: list[str]
    subject_types_supported: list[str]
    id_token_signing_alg_values_supported: list[str]
    token_endpoint_auth_methods_supported: list[str]
    claims_supported: list[str]


class JwkSet(msgspec.Struct):
    """Our public signing keys (RFC 7517), retired ones included while their tokens live."""

    keys: list[dict[str, Any]]


class Health(msgspec.Struct):
    status: str


class ErrorDetail(msgspec.Struct, omit_defaults=True):
    code: Annotated[ErrorCode, msgspec.Meta(description="stable machine-readable error code")]
    message: Annotated[str, msgspec.Meta(description="a sentence for people; do not parse it")]
    wechat_errcode: (
        Annotated[int, msgspec.Meta(description="WeChat's errcode, when WeChat refused")] | None
    ) = None


class ErrorBody(msgspec.Struct):
    error: ErrorDetail
