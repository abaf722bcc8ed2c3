"""Where a batch job's results go: ``DIR/KEY.ext`` (or ``KEY_1.ext``, ``KEY_2.ext``... for several)
and ``DIR/KEY.json``, the manifest written last (atomically) that marks the job finished. A job
is skipped on a re-run only when its manifest matches the job and every file it lists exists."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from ..journal.store import atomic_write

_MAGIC = ((b"\x89PNG", "png"), (b"\xff\xd8\xff", "jpg"), (b"GIF8", "gif"), (b"BM", "bmp"),
          (b"ID3", "mp3"), (b"\xff\xfb", "mp3"), (b"fLaC", "flac"), (b"OggS", "ogg"), (b"\x1aE\xdf\xa3", "webm"))


def extension(head: bytes) -> str:
    for magic, ext in _MAGIC:
        if head.startswith(magic):
            return ext
    if head[:4] == b"RIFF":
        return {b"WEBP": "webp", b"WAVE": "wav"}.get(head[8:12], "bin")
    if head[4:8] == b"ftyp":
        return "mov" if head[8:10] == b"qt" else "mp4"
    return "bin"


def _head(data) -> bytes:
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data[:16])
    with open(data, "rb") as fh:
        return fh.read(16)


def manifest_path(out: Path, key: str) -> Path:
    return out / f"{key}.json"


def finished(out: Path, key: str, identity: str) -> dict | None:
    """The manifest of a finished job whose outputs all exist, else None."""
    try:
        m = json.loads(manifest_path(out, key).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(m, dict) or m.get("identity") != identity:
        return None
    files = m.get("files")
    if not isinstance(files, list) or not files or not all((out / f).is_file() for f in files):
        return None
    return m


def write_outputs(out: Path, key: str, files: list) -> list[str]:
    """Each result (bytes, or a path it was streamed to) as a file named after the job."""
    names = []
    for n, data in enumerate(files, start=1):
        name = f"{key}.{extension(_head(data))}" if len(files) == 1 else f"{key}_{n}.{extension(_head(data))}"
        target = out / name
        if isinstance(data, (bytes, bytearray, memoryview)):
            atomic_write(target, bytes(data), mode=0o644)
        else:
            tmp = target.with_name(target.name + ".part")
            shutil.copyfile(data, tmp)
            os.replace(tmp, target)
        names.append(name)
    return names


def write_manifest(out: Path, key: str, record: dict) -> None:
    atomic_write(manifest_path(out, key), json.dumps(record, indent=1, sort_keys=True).encode(), mode=0o644)
