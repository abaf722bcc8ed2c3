"""Model schemas: every catalog dialect parsed into one shape, and payloads validated against it.

Nothing here knows about ComfyUI or torch. ``from runcomfy.schema import ...`` keeps working for
the names the single module had.
"""

from ..errors import Problem, ValidationError
from . import structured
from .dialects import (SAMPLE_TEXT_CHARS, Unrepresentable, display_name_from_id, family_of, humanize,
                       is_sample_default, parse_schema)
from .loading import (OVERLAY_SUFFIX, SCHEMA_DIR, SCHEMA_SUFFIX, discover_schemas, find_schema, load_schema,
                      log_once, parse_catalog, report)
from .model import BYTES_PER_MB, MEDIA_FORMATS, Field, ImageInfo, MediaInfo, ModelSchema, SchemaError
from .rules import byte_limit, check_media, parse_image_rule, parse_rule
from .sizes import parse_image_size
from .validation import check_payload, looks_like_media_uri, media_label, validate_payload

__all__ = [
    "BYTES_PER_MB", "MEDIA_FORMATS", "OVERLAY_SUFFIX", "SAMPLE_TEXT_CHARS", "SCHEMA_DIR", "SCHEMA_SUFFIX",
    "Field", "ImageInfo", "MediaInfo", "ModelSchema", "Problem", "SchemaError", "Unrepresentable",
    "ValidationError", "byte_limit", "check_media", "check_payload", "discover_schemas", "display_name_from_id",
    "family_of", "find_schema", "humanize", "is_sample_default", "load_schema", "log_once", "looks_like_media_uri",
    "media_label", "parse_catalog", "parse_image_rule", "parse_image_size", "parse_rule", "parse_schema",
    "report", "structured", "validate_payload",
]
