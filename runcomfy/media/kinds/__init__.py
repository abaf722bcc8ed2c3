"""Media kinds (image, video, audio) behind one interface, so the pipeline and the node layer
handle "a media field" without knowing which kind it is. See ``base.MediaKind``; each kind's
facts are its row in ``media/spec.py``.

Every kind of the table whose module (``<name>.py`` here) imports is registered; one whose
extra library is missing (PyAV for video and audio) is left out, and says so when asked for.
"""

from __future__ import annotations

import importlib

from ..spec import FORMATS, KINDS as SPECS
from .budget import DecodeLimitError, JobBudget, TruncatedMediaError, job_decoding
from .base import REQUEST_CAP_BYTES, MediaInfo, MediaKind, PrepareOptions, Prepared, decode_data_uri
from .image import KIND as IMAGE

KINDS: dict[str, MediaKind] = {"image": IMAGE}

for _name in SPECS:
    if _name in KINDS:
        continue
    try:
        _mod = importlib.import_module(f"{__name__}.{_name}")
    except ModuleNotFoundError as _exc:
        if _exc.name != f"{__name__}.{_name}":
            raise        # the module exists but something it needs is missing: say so
        continue
    KINDS[_mod.KIND.name] = _mod.KIND


def fetch_result(client, url: str, **kwargs):
    """One result file, as the registered kinds want it (results.fetch: images in memory, video
    and audio streamed to files)."""
    from . import results
    return results.fetch(client, url, kinds=KINDS, **kwargs)


def get(name: str) -> MediaKind:
    try:
        return KINDS[name]
    except KeyError:
        raise KeyError(f"no media kind {name!r} in this version of the pack (have: {', '.join(KINDS)})") from None


def kind_for_format(fmt: str) -> tuple[MediaKind, bool] | None:
    """``image_uris`` -> (image kind, True); None for a format that is not media (or a kind not
    available in this version)."""
    hit = FORMATS.get(fmt)
    if hit is None or hit[0] not in KINDS:
        return None
    return KINDS[hit[0]], hit[1]


def kind_for_output_key(key: str) -> MediaKind | None:
    for kind in KINDS.values():
        if key in kind.output_keys:
            return kind
    return None


def sniff(head: bytes) -> MediaKind | None:
    """The kind a result file's first bytes announce, or None."""
    for kind in KINDS.values():
        if kind.sniff(head):
            return kind
    return None


__all__ = ["DecodeLimitError", "JobBudget", "TruncatedMediaError", "job_decoding", "KINDS", "REQUEST_CAP_BYTES", "MediaInfo", "MediaKind", "PrepareOptions", "Prepared",
           "decode_data_uri", "get", "kind_for_format", "kind_for_output_key", "sniff"]
