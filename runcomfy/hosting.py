"""Turning encoded input images into URLs the service can fetch.

Callers depend only on ``ImageHost``, so an uploader returning HTTPS URLs can be added
without touching them.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from .media import EncodedImage, to_data_uri


@runtime_checkable
class ImageHost(Protocol):
    name: str

    def host(self, images: list[EncodedImage]) -> list[str]:
        """One URL per image, in the same order."""
        ...


class DataUriHost:
    """Inline ``data:image/png;base64,...`` URIs, as RunComfy's own nodes send them.
    Nothing leaves the machine except inside the request itself."""

    name = "data-uri"

    def host(self, images: list[EncodedImage]) -> list[str]:
        return [to_data_uri(img.data, img.mime) for img in images]
