"""What a parsed model schema is: its fields, their normalised types, and what is known of a
media input when it is checked. Every catalog dialect is reduced to these shapes by
``dialects.py``, so validation and the node layer see one form."""

from __future__ import annotations

from dataclasses import dataclass, field as dc_field
from pathlib import Path
from typing import Any

from ..media.spec import FORMATS

# Size in bytes of one "MB" in the schema's file_size_mb rules. The stricter decimal reading
# is used so nothing is sent that a server counting in MB (not MiB) would reject after billing.
BYTES_PER_MB = 1_000_000

# The media formats of the catalog (one file per string field, or a list of files): format ->
# (kind, is a list), from the kinds' table. Both list spellings are seen: items.format
# "image_uri", and array-level "image_uris".
MEDIA_FORMATS = FORMATS


class SchemaError(ValueError):
    """A model schema that cannot become a node (names the model and the reason)."""


@dataclass
class MediaInfo:
    """What is known of one media input. ``None`` means unknown: an input given as an
    http(s) URL is not downloaded just to be measured."""

    width: int | None = None
    height: int | None = None
    nbytes: int | None = None
    duration_s: float | None = None
    fps: float | None = None
    frames: int | None = None
    sample_rate: int | None = None
    channels: int | None = None
    mime: str | None = None
    source: str = ""


# The name used before video and audio existed; same class.
ImageInfo = MediaInfo


@dataclass
class Field:
    name: str
    type: str                       # string | integer | number | boolean | array | object
    required: bool = False
    default: Any = None             # None: no default the pack will use (missing, null or sample)
    title: str = ""
    description: str = ""
    enum: list | None = None
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: float | None = None
    exclusive_maximum: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    min_items: int | None = None
    max_items: int | None = None
    item_type: str | None = None
    # For media fields the single-file format ("image_uri") whichever spelling the schema used.
    format: str | None = None
    kind: str | None = None         # media kind name ("image" | "video" | "audio") or None
    validations: list[dict] = dc_field(default_factory=list)
    # Structured fields (objects, arrays of objects): the schema's own spec, validated as JSON.
    structured: bool = False
    spec: dict = dc_field(default_factory=dict)
    # A schema default that looked like sample content (a long sample prompt): shown as a
    # placeholder or example, never sent. See dialects.is_sample_default.
    sample: Any = None
    # Texts of the published schema (for RunComfy's own models they are Korean), kept as a
    # translation; ``title``/``description`` are the English UI texts.
    source_title: str = ""
    source_description: str = ""
    multiline: bool = False
    # The node input's name when it cannot be the field's own (``__proto__`` -> ``field___proto__``,
    # see dialects.input_name_for); the payload always uses ``name``.
    input_name: str = ""

    def __post_init__(self):
        self.input_name = self.input_name or self.name

    @property
    def is_media(self) -> bool:
        return self.kind is not None

    @property
    def is_list(self) -> bool:
        return self.type == "array"

    @property
    def is_image(self) -> bool:
        return self.kind == "image"

    @property
    def is_image_list(self) -> bool:
        return self.kind == "image" and self.type == "array"

    @property
    def is_media_list(self) -> bool:
        return self.kind is not None and self.type == "array"


@dataclass
class ModelSchema:
    model_id: str
    fields: list[Field]
    output: dict
    display_name: str
    description: str = ""
    category: str = ""              # ComfyUI category, e.g. "RunComfy/Video/Kling"
    source_path: Path | None = None
    categories: list[str] = dc_field(default_factory=list)   # the catalog's, e.g. ["image-to-video"]
    output_kind: str = "image"
    family: str = ""
    catalog_kind: str | None = None
    price: dict | None = None       # {base_price_usd, price_unit, pricing_note} when the entry has one
    # Optional fields left out because the pack cannot represent them: (field name, reason).
    skipped: list[tuple[str, str]] = dc_field(default_factory=list)
    # Fields whose node input has another name than the field: (field name, input name, reason).
    renamed: list[tuple[str, str, str]] = dc_field(default_factory=list)
    note: str = ""
    source: str = ""
    doc: dict = dc_field(default_factory=dict, repr=False)

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def media_fields(self) -> list[Field]:
        return [f for f in self.fields if f.kind is not None]

    @property
    def image_fields(self) -> list[Field]:
        return [f for f in self.fields if f.kind == "image"]

    def fields_of_kind(self, kind: str) -> list[Field]:
        return [f for f in self.fields if f.kind == kind]
