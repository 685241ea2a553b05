"""Avatar upload and avatar files: ``POST /me/avatar`` and ``GET /avatars/{name}``.

The upload is what ``wx.uploadFile({url, filePath, name: "file", header})`` sends after
``chooseAvatar``: a ``multipart/form-data`` body whose ``file`` part holds the image (any
``formData`` fields are counted and dropped). Its limit comes from ``Settings`` and is the
image's; the body may be a few KiB longer for the form around it (``FormLimits``).

Files are served by name with their type, ``nosniff``, a sandboxing Content-Security-Policy
(an image opened as a page can run nothing) and a long ``Cache-Control``: a name is never
reused, a new upload gets a new one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from wxlogin.api.multipart import FormLimits, FormParser, boundary_of
from wxlogin.api.routing import BinaryContent, BinaryReply, Context, Route
from wxlogin.api.schemas import UserOut
from wxlogin.errors import NotFound, NotReady, UnsupportedImage
from wxlogin.service.avatars import AVATAR_PATH, IMAGE_KINDS, AvatarService

__all__ = ["FILE_FIELD", "FileUpload", "avatar_routes"]

FILE_FIELD = "file"  # wx.uploadFile's `name`
_MEDIA_TYPES = tuple(kind.media_type for kind in IMAGE_KINDS)
_FILE_HEADERS = (
    (b"cache-control", b"public, max-age=31536000, immutable"),
    (b"x-content-type-options", b"nosniff"),
    (b"content-security-policy", b"default-src 'none'; sandbox"),
)


@dataclass(frozen=True, slots=True)
class FileUpload:
    """A ``multipart/form-data`` body with one file field: its bytes become ``ctx.body``."""

    limits: FormLimits
    field_name: str = FILE_FIELD
    description: str = field(default="the file")

    def open(self, content_type: bytes | None) -> FormParser:
        return FormParser(boundary_of(content_type), self.limits, file_field=self.field_name)

    def openapi_content(self) -> dict[str, Any]:
        file_schema = {"type": "string", "format": "binary", "description": self.description}
        return {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": [self.field_name],
                    "properties": {self.field_name: file_schema},
                    # Other fields (wx.uploadFile's formData) are read past, within the
                    # parser's limits: a part must have a name, a field is one text part.
                    "maxProperties": self.limits.max_parts,
                    "propertyNames": {"minLength": 1, "maxLength": self.limits.max_name_chars},
                    "additionalProperties": {
                        "type": "string",
                        "maxLength": self.limits.max_field_chars,
                    },
                },
                "encoding": {self.field_name: {"contentType": ", ".join(_MEDIA_TYPES)}},
            }
        }


def _avatars(ctx: Context[Any]) -> AvatarService:
    avatars = ctx.service.avatars
    if avatars is None:  # a service assembled by hand, without an avatar store
        raise NotReady("avatar uploads are not set up on this server")
    return avatars


async def upload_avatar(ctx: Context[bytes]) -> UserOut:
    """Upload the avatar picked with chooseAvatar: `wx.uploadFile` with `name: "file"`.

    The image must be JPEG, PNG or WebP, recognised by its bytes (the file name and the
    part's Content-Type are ignored). Answers the user, whose `avatar_url` now points at the
    new file; the file it replaces is deleted.
    """
    record = await _avatars(ctx).replace(ctx.claims.user_id, ctx.body)
    return UserOut.of(record)


async def avatar_file(ctx: Context[None]) -> BinaryReply:
    """An uploaded avatar, as the `avatar_url` of its user names it. No token needed."""
    avatar = await _avatars(ctx).open(ctx.path_params.get("name", ""))
    if avatar is None:
        raise NotFound("no such avatar")
    return BinaryReply(avatar.data, avatar.media_type, _FILE_HEADERS)


def avatar_routes(max_image_bytes: int) -> tuple[Route[Any], ...]:
    """The avatar routes, the upload limited to images of ``max_image_bytes``."""
    limits = FormLimits(max_file_bytes=max_image_bytes)
    upload = FileUpload(
        limits,
        description=f"JPEG, PNG or WebP, at most {max_image_bytes} bytes; judged by its bytes",
    )
    served = BinaryContent(
        _MEDIA_TYPES,
        headers=(
            ("Cache-Control", "the name never changes content: cache it for a year"),
            ("X-Content-Type-Options", "nosniff"),
        ),
    )
    return (
        Route(
            "POST",
            "/me/avatar",
            upload_avatar,
            "Upload the avatar",
            ("me",),
            stream=upload,
            response=UserOut,
            auth=True,
            raises=(UnsupportedImage, NotFound),
            max_body_bytes=limits.max_body_bytes,
        ),
        Route(
            "GET",
            f"{AVATAR_PATH}{{name}}",
            avatar_file,
            "An uploaded avatar",
            ("avatars",),
            response=served,
            raises=(NotFound,),
        ),
    )
