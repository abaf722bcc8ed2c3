"""Turning prepared media (images, videos, audio) into URLs the service can fetch.

Callers depend only on ``MediaHost``, so an uploader returning HTTPS URLs can be added
without touching them.
"""

from __future__ import annotations

import base64
import re
from typing import Protocol, runtime_checkable

_MIME_OK = re.compile(r"(image|video|audio)/[a-z0-9][a-z0-9.+-]*")


class _HasBytes(Protocol):
    data: bytes
    mime: str


@runtime_checkable
class MediaHost(Protocol):
    name: str

    def host(self, items: list[_HasBytes]) -> list[str]:
        """One URL per item, in the same order."""
        ...


# The name this protocol had when only images were sent.
ImageHost = MediaHost


def to_data_uri(data: bytes, mime: str) -> str:
    if not _MIME_OK.fullmatch(mime or ""):
        raise ValueError(f"data URI media type must look like 'image/png', 'video/mp4' or 'audio/wav', got {mime!r}")
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


class DataUriHost:
    """Inline ``data:<mime>;base64,...`` URIs, as RunComfy's own nodes send them.
    Nothing leaves the machine except inside the request itself."""

    name = "data-uri"

    def host(self, items: list[_HasBytes]) -> list[str]:
        return [to_data_uri(item.data, item.mime) for item in items]
