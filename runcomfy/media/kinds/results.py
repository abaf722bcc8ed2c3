"""Where one result file goes: into memory (small images) or streamed to a file (video and audio:
up to hundreds of MB; images over IMAGE_IN_MEMORY_BYTES), never held whole in memory while it
downloads: 16 image results of 199 MB each once took 3.5 GB before any check could run.

A result streams to a file when the model's output kind is video or audio, or when its URL names
a video/audio file. The file lands in ``folder`` (the node passes ComfyUI's output directory +
``runcomfy/``; the library alone uses the system temp dir) as ``<request id>_<n>.<ext>``, capped
at the kind's ``output_cap_bytes`` (its row in ``media/spec.py``). An image is streamed to
``spill_folder()`` and, when small, read back into memory and the file removed; a larger one stays
a path there until its decode (``ImageKind.decode_output``) removes it. The download itself is
the client's: same host allow-list, no token, retries, deadline.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
import uuid
from urllib.parse import urlsplit

from ..spec import KINDS as SPECS, STREAMED_EXTENSIONS

DEFAULT_EXT = {s.name: s.default_extension for s in SPECS.values() if s.streamed}
# An image result up to this size is handed on as bytes; a larger one as the path of its file.
IMAGE_IN_MEMORY_BYTES = 16 << 20


def kind_of_url(url: str) -> str | None:
    ext = urlsplit(url).path.rsplit(".", 1)[-1].lower() if "." in urlsplit(url).path else ""
    return STREAMED_EXTENSIONS.get(ext)


def default_folder() -> str:
    return os.path.join(tempfile.gettempdir(), "runcomfy-results")


# A spilled image whose decode never came (refused by a limit, a crash) is removed after this.
SPILL_KEEP_S = 3600.0


def spill_folder() -> str:
    """Where large image results wait for their decode (removed after it)."""
    return os.path.join(default_folder(), "images")


_PRUNED_AT = [0.0]          # when this process last looked (a batch fetches hundreds a second)
PRUNE_EVERY_S = 60.0


def _prune_spill(folder: str) -> None:
    """Spilled images older than SPILL_KEEP_S: their job's URLs are in the journal and the
    error, so a re-run downloads them again; the disk is not kept filling up. At most once a
    minute per process: the folder is not scanned for every result."""
    now = time.monotonic()
    if now - _PRUNED_AT[0] < PRUNE_EVERY_S:
        return
    _PRUNED_AT[0] = now
    cutoff = time.time() - SPILL_KEEP_S
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for e in entries:
        try:
            if e.is_file() and e.stat().st_mtime < cutoff:
                os.remove(e.path)
        except OSError:
            pass


def target_path(folder: str, request_id: str, n: int, url: str, kind: str) -> str:
    ext = urlsplit(url).path.rsplit(".", 1)[-1].lower() if "." in urlsplit(url).path else ""
    if not SPECS[kind].streamed:
        ext = re.sub(r"[^a-z0-9]", "", ext)[:5] or "img"
    elif ext not in STREAMED_EXTENSIONS:
        ext = DEFAULT_EXT[kind]
    safe = re.sub(r"[^A-Za-z0-9_-]", "_", request_id)[:64]
    return os.path.join(folder, f"{safe}_{n + 1}.{ext}")


def fetch(client, url: str, *, request_id: str, n: int, kinds: dict, output_kind: str | None = None,
          folder: str | None = None):
    """bytes (in memory) or the path (str) of the streamed file. ``kinds``: the registered media
    kinds (media.kinds.KINDS; passed in, since that registry imports this module)."""
    kind = kind_of_url(url) or (output_kind if output_kind in DEFAULT_EXT else None)
    if kind is None or kind not in kinds:
        _prune_spill(spill_folder())
        # Unique: two nodes may fetch the same paid result at once (a resume).
        path = target_path(spill_folder(), f"{request_id}_{uuid.uuid4().hex[:8]}", n, url, "image")
        # Not fsynced: read back and removed at once, or decoded soon; a crash loses nothing paid
        # (the journal has the URLs).
        size = client.download_to_file(url, path, durable=False)
        if size > IMAGE_IN_MEMORY_BYTES:
            return path
        try:
            with open(path, "rb") as fh:
                return fh.read()
        finally:
            os.remove(path)
    path = target_path(folder or default_folder(), request_id, n, url, kind)
    client.download_to_file(url, path, max_bytes=kinds[kind].output_cap_bytes)
    return path
