"""The media kinds' facts, in one table: what a schema calls each kind, where its results come in
a /result answer, which files and MIME types it has, which socket it gets and how many, and
what it may cost in memory. Importable without PyAV, Pillow or numpy: the schema, the client,
the node layout and the batch runner read it even where video/audio codecs are not installed.

Adding a media kind: one ``KindSpec`` row here, plus a module in ``media/kinds/`` that
implements ``MediaKind`` (encode, measure, decode) and registers itself there.
"""

from __future__ import annotations

from dataclasses import dataclass

MiB = 1 << 20


@dataclass(frozen=True)
class KindSpec:
    name: str                          # "image": the kind's key everywhere in the pack
    single_format: str                 # schema "format" of one file ("image_uri")
    list_format: str                   # schema "format" of an array of files ("image_uris")
    output_keys: tuple[str, ...]       # /result output keys holding this kind's URLs
    mime_prefix: str                   # "image/": data URIs and downloads of this kind
    extensions: tuple[str, ...]        # file name endings of this kind (lower case, no dot)
    default_extension: str             # a result file's ending when its URL names none we know
    socket_type: str                   # ComfyUI socket type NAME; the node layer maps it
    output_socket: str                 # name of the node's output socket of this kind
    max_sockets: int                   # sockets a list field gets at most (its maxItems, capped)
    default_sockets: int               # sockets of a list field with no maxItems
    inline_cap_bytes: int              # one inline input file, when the field sets no size rule
    output_cap_bytes: int | None       # one result file on disk (download cap); None: in memory
    streamed: bool                     # results stream to a file (True) or come as bytes
    decode_unit: str                   # what the per-job decode budget counts for this kind
    needs: str | None = None           # the extra library its kind module needs ("av"), if any


KINDS: dict[str, KindSpec] = {s.name: s for s in (
    # RunComfy's own nodes cap an inline image at 6 MiB, a request at 64 MiB.
    KindSpec("image", "image_uri", "image_uris", ("image", "images"), "image/",
             ("png", "jpg", "jpeg", "webp", "gif", "bmp", "tif", "tiff", "avif"), "png",
             "IMAGE", "images", max_sockets=16, default_sockets=3,
             inline_cap_bytes=6 * MiB, output_cap_bytes=None, streamed=False, decode_unit="pixels"),
    # A 20 s 4K clip at a high bit rate is ~150 MB: 500 MiB is the largest video result kept.
    KindSpec("video", "video_uri", "video_uris", ("video", "videos"), "video/",
             ("mp4", "mov", "webm", "mkv", "m4v"), "mp4",
             "VIDEO", "video", max_sockets=16, default_sockets=3,
             inline_cap_bytes=32 * MiB, output_cap_bytes=500 * MiB, streamed=True, decode_unit="none",
             needs="av"),
    KindSpec("audio", "audio_uri", "audio_uris", ("audio", "audios"), "audio/",
             ("wav", "mp3", "ogg", "opus", "flac", "m4a", "aac"), "wav",
             "AUDIO", "audio", max_sockets=16, default_sockets=3,
             inline_cap_bytes=16 * MiB, output_cap_bytes=200 * MiB, streamed=True, decode_unit="samples",
             needs="av"),
)}

# Schema format -> (kind, is a list). Both list spellings are seen in the catalog: items.format
# "image_uri" on an array, and array-level "image_uris".
FORMATS: dict[str, tuple[str, bool]] = {
    fmt: (s.name, is_list) for s in KINDS.values()
    for fmt, is_list in ((s.single_format, False), (s.list_format, True))}

# Every /result output key that holds file URLs, in the order results are read.
OUTPUT_KEYS: tuple[str, ...] = tuple(k for s in KINDS.values() for k in s.output_keys)

# File extension -> kind, for the kinds whose results stream to files.
STREAMED_EXTENSIONS: dict[str, str] = {
    ext: s.name for s in KINDS.values() if s.streamed for ext in s.extensions}


def spec(name: str) -> KindSpec:
    try:
        return KINDS[name]
    except KeyError:
        raise KeyError(f"no media kind {name!r} (known: {', '.join(KINDS)})") from None


def for_output_key(key: str) -> KindSpec | None:
    return next((s for s in KINDS.values() if key in s.output_keys), None)


def for_extension(ext: str) -> KindSpec | None:
    ext = ext.lower().lstrip(".")
    return next((s for s in KINDS.values() if ext in s.extensions), None)
