"""Where a batch job's results go: ``DIR/KEY.ext`` for one result, ``DIR/KEY+1.ext``,
``DIR/KEY+2.ext``... for several, and ``DIR/KEY.json``, the manifest written last (atomically)
that marks the job finished.

Names are unique by construction: a key is letters, digits, ``.``, ``_`` and ``-`` and never
contains ``+``, and an extension never contains a dot, so no two (key, result) pairs give one
name and no result is named like a manifest. A job is skipped on a re-run only when its own
manifest matches the job and every file it lists still holds the bytes it wrote (size and
SHA-256 in the manifest), never because a file of that name exists.

Version 1 (earlier releases) named several results ``KEY_1.ext``, which key ``KEY_1`` could
overwrite. ``migrate`` renames such files to the new names when exactly one manifest claims
them, and moves a file two manifests claim to ``NAME+contested.ext`` (kept, never overwritten),
so both jobs fetch their results again by request id.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

from ..api import downloads
from ..journal.store import atomic_write

VERSION = 2
SEPARATOR = "+"          # never in a key (jobsfile._KEY_OK)

_MAGIC = ((b"\x89PNG", "png"), (b"\xff\xd8\xff", "jpg"), (b"GIF8", "gif"), (b"BM", "bmp"),
          (b"ID3", "mp3"), (b"\xff\xfb", "mp3"), (b"fLaC", "flac"), (b"OggS", "ogg"), (b"\x1aE\xdf\xa3", "webm"))
_PLAIN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")


def extension(head: bytes) -> str:
    for magic, ext in _MAGIC:
        if head.startswith(magic):
            return ext
    if head[:4] == b"RIFF":
        return {b"WEBP": "webp", b"WAVE": "wav"}.get(head[8:12], "bin")
    if head[4:8] == b"ftyp":
        return "mov" if head[8:10] == b"qt" else "mp4"
    return "bin"


class Streamed:
    """A result file already written where it waits for its name (``fetch_into``): its path,
    size, SHA-256 and first bytes (which give its extension)."""
    __slots__ = ("path", "size", "sha256", "head")

    def __init__(self, path: str, size: int, sha256: str, head: bytes):
        self.path, self.size, self.sha256, self.head = path, size, sha256, head


def _cap(client, url: str, output_kind: str | None) -> int:
    """The same size cap as the node's download of this result (media/kinds/results.py): a video or
    audio result its kind's ``output_cap_bytes``, anything else the client's download cap."""
    from ..media.kinds import KINDS, results
    kind = results.kind_of_url(url) or (output_kind if output_kind in results.DEFAULT_EXT else None)
    cap = getattr(KINDS.get(kind), "output_cap_bytes", None) if kind else None
    return cap or client.max_download_bytes


def fetch_into(folder: Path, key: str):
    """A result fetcher for ``Runner(fetch_result=...)``: each result of job ``key`` streamed
    straight into ``folder`` (on the output folder's file system), hashed on the way, with the
    client's download rules (allowed hosts, no token, size cap, retries, deadline, Stop);
    ``write_outputs`` then only renames it to its output name. No copy in memory, no spill file
    read back."""
    def fetch(client, url: str, *, request_id: str, n: int, output_kind: str | None = None, **_how) -> Streamed:
        sink = downloads.FileSink(part=_join(folder, f"{key}{SEPARATOR}{n + 1}.part"), durable=False,
                                  hashed=True)
        try:
            downloads.fetch(client, url, sink, _cap(client, url, output_kind), None, None)
            sink.close()
            return Streamed(sink.part, sink.size, sink.hash.hexdigest(), sink.head)
        except BaseException:
            sink.discard()
            raise
    return fetch


def _head(data) -> bytes:
    if isinstance(data, Streamed):
        return data.head
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data[:16])
    with open(data, "rb") as fh:
        return fh.read(16)


def output_name(key: str, n: int, count: int, ext: str) -> str:
    return f"{key}.{ext}" if count == 1 else f"{key}{SEPARATOR}{n}.{ext}"


def manifest_path(out: Path, key: str) -> Path:
    return out / f"{key}.json"


def _join(folder, name: str) -> str:
    """A per-job path as a plain string. pathlib interns every component it parses
    (``sys.intern``): one new name per job kept the interpreter's table of interned strings
    filling until it doubled (+0.9 MB, and both tables at once in the peak, after ~4,000 jobs:
    measured with tracemalloc); ``os.path`` interns nothing."""
    return os.path.join(os.fspath(folder), name)


def file_digest(path: Path) -> tuple[int, str]:
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
            size += len(chunk)
    return size, h.hexdigest()


def read_manifest(out: Path, key: str) -> dict | None:
    try:
        with open(_join(out, f"{key}.json"), "rb") as fh:
            m = json.loads(fh.read().decode("utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    return m if isinstance(m, dict) else None


def _files_of(m: dict) -> list[str] | None:
    files = m.get("files")
    if not isinstance(files, list) or not files:
        return None
    if not all(isinstance(f, str) and _PLAIN_NAME.fullmatch(f) for f in files):
        return None                  # only plain names inside DIR count as outputs
    return files


def all_manifests(out: Path) -> dict[str, dict]:
    """Every manifest in DIR, by key."""
    found = {}
    try:
        paths = sorted(out.glob("*.json"))
    except OSError:
        return found
    for p in paths:
        m = read_manifest(out, p.stem)
        if m is not None and m.get("key", p.stem) == p.stem:
            found[p.stem] = m
    return found


def _claims(manifests: dict[str, dict]) -> dict[str, set[str]]:
    claims: dict[str, set[str]] = {}
    for key, m in manifests.items():
        for f in _files_of(m) or []:
            claims.setdefault(f, set()).add(key)
    return claims


def finished(out: Path, key: str, identity: str, manifests: dict[str, dict] | None = None) -> dict | None:
    """The manifest of a finished job whose outputs are all there as written, else None."""
    m = read_manifest(out, key)
    if m is None or m.get("identity") != identity:
        return None
    files = _files_of(m)
    if files is None:
        return None
    if m.get("version", 1) >= 2:
        sizes, sums = m.get("sizes"), m.get("sha256")
        if not isinstance(sizes, list) or not isinstance(sums, list) or len(sizes) != len(files) \
                or len(sums) != len(files):
            return None
        for name, size, digest in zip(files, sizes, sums):
            p = _join(out, name)
            try:
                if not os.path.isfile(p) or os.stat(p).st_size != size or file_digest(p) != (size, digest):
                    return None
            except OSError:
                return None
        return m
    # Version 1: no digests. Its files count only while no other manifest claims them too.
    claims = _claims(manifests if manifests is not None else all_manifests(out))
    if any(claims.get(f, {key}) != {key} or not (out / f).is_file() for f in files):
        return None
    return m


def migrate(out: Path) -> list[str]:
    """Version-1 outputs to version 2 (see the module docstring); what was done, for the log."""
    manifests = all_manifests(out)
    claims = _claims(manifests)
    done = []
    for name, keys in sorted(claims.items()):
        p = out / name
        if len(keys) > 1 and p.is_file():
            stem, dot, ext = name.rpartition(".")
            aside = out / f"{stem}{SEPARATOR}contested{dot}{ext}"
            n = 1
            while aside.exists():
                n += 1
                aside = out / f"{stem}{SEPARATOR}contested{n}{dot}{ext}"
            os.replace(p, aside)
            done.append(f"{name} was listed by the outputs of {', '.join(sorted(keys))}: kept as {aside.name}; "
                        "those jobs fetch their results again (no new charge)")
    for key, m in manifests.items():
        files = _files_of(m)
        if m.get("version", 1) >= 2 or files is None:
            continue
        if any(claims.get(f) != {key} or not (out / f).is_file() for f in files):
            continue
        new = []
        for n, f in enumerate(files, start=1):
            ext = f.rpartition(".")[2] if "." in f else "bin"
            target = output_name(key, n, len(files), ext)
            if target != f:
                if (out / target).exists():
                    break
                os.replace(out / f, out / target)
            new.append(target)
        else:
            digests = [file_digest(out / f) for f in new]
            write_manifest(out, key, {**m, "files": new, "sizes": [d[0] for d in digests],
                                      "sha256": [d[1] for d in digests], "migrated_from": 1})
            if new != files:
                done.append(f"{key}: {', '.join(files)} renamed to {', '.join(new)}")
    return done


def write_outputs(out: Path, key: str, files: list) -> tuple[list[str], list[int], list[str]]:
    """Each result (a ``Streamed`` file, bytes, or a path it was streamed to) as a file named after
    the job: the names, their sizes and SHA-256 digests."""
    names, sizes, sums = [], [], []
    for n, data in enumerate(files, start=1):
        name = output_name(key, n, len(files), extension(_head(data)))
        target = _join(out, name)
        # Not fsynced: the manifest (fsynced, after this) holds the sizes and SHA-256 digests and
        # the request id, so an output a crash left short is fetched again, never paid again.
        if isinstance(data, Streamed):
            os.replace(data.path, target)            # written and hashed as it downloaded
            size, digest = data.size, data.sha256
        elif isinstance(data, (bytes, bytearray, memoryview)):
            raw = bytes(data)
            tmp = target + ".part"
            with open(tmp, "wb") as dst:
                dst.write(raw)
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
            size, digest = len(raw), hashlib.sha256(raw).hexdigest()
        else:
            tmp = target + ".part"
            h = hashlib.sha256()
            size = 0
            with open(data, "rb") as src, open(tmp, "wb") as dst:
                for chunk in iter(lambda: src.read(1 << 20), b""):
                    h.update(chunk)
                    size += len(chunk)
                    dst.write(chunk)
            os.replace(tmp, target)
            digest = h.hexdigest()
        names.append(name)
        sizes.append(size)
        sums.append(digest)
    return names, sizes, sums


def write_manifest(out: Path, key: str, record: dict) -> None:
    """Atomically and durably, on a plain string path (see _join)."""
    data = json.dumps({**record, "version": VERSION}, indent=1, sort_keys=True).encode()
    atomic_write(_join(out, f"{key}.json"), data, mode=0o644)
