"""What every media kind (image, video, audio) provides to the pipeline.

A kind says how a library-level value (an image array, a video source, an audio clip) becomes
bytes to send, which limits apply, how a ``data:`` URI typed into a URL input is measured, and
how a result file decodes. The pipeline only talks to this interface, so a new kind is a new
module, not a new code path. Methods are blocking: the pipeline runs them in threads.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field

from ...errors import Problem
from ...schema import Field, MediaInfo, check_media
from ...schema.rules import byte_limit
from ...schema.validation import media_label
from .. import spec as specs
from ..spec import MiB, KindSpec

# RunComfy's own nodes cap one request body at 64 MiB of inline media.
REQUEST_CAP_BYTES = 64 * MiB

_DATA_URI = re.compile(r"data:([a-z]+/[a-z0-9][a-z0-9.+-]*)((?:;[a-z0-9_.-]+=[^;,]*)*);base64,", re.IGNORECASE)


@dataclass
class PrepareOptions:
    """How inputs become bytes: fitted to the field's limits or refused; images as PNG or JPEG."""

    fit: bool = False
    image_format: str = "png"
    jpeg_quality: int = 95


@dataclass
class Prepared:
    data: bytes
    mime: str
    info: MediaInfo
    notes: list[str] = field(default_factory=list)


def decode_data_uri(uri: str) -> tuple[str, bytes]:
    """``data:<type>/<subtype>[;param=v];base64,<payload>`` -> (mime, bytes); ValueError otherwise."""
    m = _DATA_URI.match(uri)
    if not m:
        raise ValueError("is not a base64 data URI (want 'data:<type>/<subtype>;base64,...')")
    payload = uri[m.end():]
    if not payload:
        raise ValueError("is a data URI with an empty payload")
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        try:   # base64 folded over several lines is still base64
            data = base64.b64decode(re.sub(r"\s+", "", payload), validate=True)
        except (binascii.Error, ValueError) as e:
            raise ValueError(f"is a data URI whose payload is not valid base64 ({e})") from None
    return m.group(1).lower(), data


class MediaKind:
    """One kind's behaviour. Its facts (formats, output keys, socket, caps) are its row in
    ``media/spec.py``, copied onto the instance so a test may adjust one kind's cap."""

    name = ""
    spec: KindSpec
    single_format = ""
    list_format = ""
    mime_prefix = ""
    socket_type = ""
    output_keys: tuple[str, ...] = ()
    inline_cap_bytes = 0
    max_sockets = 3
    default_sockets = 3
    output_cap_bytes: int | None = None

    def __init__(self):
        self.spec = specs.spec(self.name)
        for attr in ("single_format", "list_format", "mime_prefix", "socket_type", "output_keys",
                     "inline_cap_bytes", "max_sockets", "default_sockets", "output_cap_bytes"):
            setattr(self, attr, getattr(self.spec, attr))

    # --- inputs -----------------------------------------------------------------------------

    def prepare(self, values: list, field: Field, options: PrepareOptions) -> list[Prepared]:
        raise NotImplementedError

    def prepare_fields(self, groups: list[tuple[Field, list]], options: PrepareOptions) -> list[list[Prepared]]:
        """All fields of this kind at once (a kind may share work across them, e.g. encode
        identical images once). Default: one field after the other."""
        return [self.prepare(values, f, options) for f, values in groups]

    def measure(self, data: bytes, mime: str) -> MediaInfo:
        """Sizes of one encoded file (raises ValueError when it is not of this kind)."""
        return MediaInfo(nbytes=len(data), mime=mime)

    def inspect_uri(self, uri: str) -> MediaInfo | None:
        """A ``data:`` URI decoded and measured locally, so it is checked like a socket value;
        None for an http(s) URL (not downloaded). Raises ValueError with a reason the user can
        read: another media type, undecodable bytes."""
        if not uri.startswith("data:"):
            return None
        if len(uri) > REQUEST_CAP_BYTES:
            # Over the whole request's cap as text already: refused without decoding megabytes.
            raise ValueError(f"is a data URI of {len(uri) / MiB:.1f} MiB, over the "
                             f"{REQUEST_CAP_BYTES // MiB} MiB a request may carry inline")
        mime, data = decode_data_uri(uri)
        if not mime.startswith(self.mime_prefix):
            raise ValueError(f"is a data:{mime} URI, not {self.name} (want data:{self.mime_prefix}...)")
        info = self.measure(data, mime)
        info.nbytes = len(data)
        info.mime = mime
        return info

    def byte_cap(self, field: Field) -> int:
        """Largest inline file: the field's own rule, else the kind's cap."""
        rule = byte_limit(field)
        return rule if rule is not None else self.inline_cap_bytes

    def check(self, info: MediaInfo, field: Field, index: int = 0) -> list[Problem]:
        """The field's ``validations`` plus the kind's inline cap, naming field, limit and value."""
        label = media_label(field, index)
        problems = check_media(field, info, label)
        if byte_limit(field) is None and info.nbytes is not None and self.inline_cap_bytes \
                and info.nbytes > self.inline_cap_bytes:
            problems.append(Problem(label, f"must be at most (MiB, inline {self.name})",
                                    self.inline_cap_bytes // MiB, f"{info.nbytes / MiB:.2f} MiB"))
        return problems

    def load_input(self, path: str, label: str):
        """An input FILE (the batch runner's jobs) as this kind's library value. An unusable file
        raises ``media.errors.UnreadableInputError`` naming ``label`` and the file."""
        raise NotImplementedError(f"no loader for {self.name} input files")

    # --- outputs ------------------------------------------------------------------------------

    def decode_output(self, data, limits: dict | None = None):
        raise NotImplementedError

    def check_results(self, files: list) -> None:
        """Called on a paid job's downloaded files before any is decoded (bytes or paths, of any
        kind): refuse, from headers alone, results this kind could not hold in memory. Raises
        ValueError with the limit and the value; default: nothing to check."""

    def sniff(self, head: bytes) -> bool:
        """Whether the first bytes of a file look like this kind."""
        return False

    def __repr__(self) -> str:
        return f"<media kind {self.name}>"
