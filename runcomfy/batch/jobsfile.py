"""JOBS.jsonl: one job per line, checked before anything is sent.

A line is a JSON object of the model's field values. Media fields take a file path (relative to
the JOBS file), an http(s) or data: URL, or a list of them for list fields. ``key`` names the
job's outputs (``KEY.png``, ``KEY+1.png``...); without it the job is called ``line-N``. Blank lines and lines
starting with ``#`` are skipped. Problems name the line, the field, the limit and the value.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..schema import ModelSchema

KEY_FIELD = "key"
MAX_DEPTH = 64                 # JSON nesting a job line may have (a field value is rarely past 5)
MAX_LINE_CHARS = 64 << 20         # inline data: URIs included; the request cap is lower
_KEY_OK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_URL = re.compile(r"^(https?://|data:)", re.IGNORECASE)


@dataclass
class JobSpec:
    key: str
    line: int
    fields: dict                                     # non-media field values, as written
    files: dict[str, list[Path]] = field(default_factory=dict)   # media field -> local files, in order
    urls: dict[str, list[str]] = field(default_factory=dict)     # media field -> URLs, after the files
    order: dict[str, list[str]] = field(default_factory=dict)    # media field -> "file"/"url" as written
    digest: str = ""                                 # identifies the job: its line and its files' bytes

    def identity(self, model_id: str) -> str:
        """The journal key of this job: same line, same file contents, same model -> same job.
        Not the upload format: a re-run with another one must resume, not pay again."""
        canon = json.dumps({"model": model_id, "key": self.key, "fields": self.fields,
                            "files": {k: [str(p) for p in v] for k, v in self.files.items()},
                            "urls": self.urls, "content": self.digest},
                           sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(canon.encode()).hexdigest()


@dataclass
class LineProblem:
    line: int
    key: str | None
    message: str

    def __str__(self) -> str:
        who = f"line {self.line}" + (f" (key {self.key!r})" if self.key else "")
        return f"{who}: {self.message}"


def input_error(line: int, label: str, text: str) -> str:
    """An input problem of one job, as the report states it."""
    return f"input error: line {line}, field {label!r}: {text}"


def _too_deep(text: str, limit: int | None = None) -> int | None:
    """The nesting depth of a JSON text when it is over ``limit`` (counted without parsing:
    the parser itself recurses), else None."""
    limit = MAX_DEPTH if limit is None else limit
    if text.count("[") + text.count("{") <= limit:
        return None
    depth = top = 0
    in_str = esc = False
    for ch in text:
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
            top = max(top, depth)
        elif ch in "]}":
            depth -= 1
    return top if top > limit else None


def _file_digest(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        h.update(b"\x00")
    return h.hexdigest()


def parse_jobs(path: str | Path, schema: ModelSchema) -> tuple[list[JobSpec], list[LineProblem]]:
    """Every job of the file and every problem found (a line with a problem is not a job)."""
    stream = JobStream(path, schema)
    specs = list(stream)
    return specs, stream.problems


def _key_hash(key: str) -> int:
    # 4 bytes: a collision only makes pass 2 remember both keys and compare them exactly.
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=4).digest(), "little")


class _Problems(list):
    """The problems found so far; each one also handed to ``on_problem`` as it is found."""

    def __init__(self, owner: "JobStream"):
        super().__init__()
        self.owner = owner

    def append(self, p: LineProblem) -> None:
        super().append(p)
        if self.owner.on_problem is not None:
            self.owner.on_problem(p)


class _SeenKeys(dict):
    """The keys seen so far, kept only for keys that occur more than once in the file (found by
    the first pass): a 100,000-line file does not hold 100,000 keys."""

    def __init__(self, duplicated: set[int]):
        super().__init__()
        self.duplicated = duplicated

    def __setitem__(self, key: str, line: int) -> None:
        if self.duplicated and _key_hash(key) in self.duplicated:
            super().__setitem__(key, line)


class JobStream:
    """The jobs of a JOBS file, parsed as they are taken (one pass, once): memory does not grow
    with the file. ``len()`` is the number of job lines (valid or not, from a first pass that
    also finds duplicated keys, 4 bytes a line, let go before the first job); ``problems`` fills as the lines are read, each
    also passed to ``on_problem``."""

    def __init__(self, path: str | Path, schema: ModelSchema):
        self.path = Path(path)
        self.schema = schema
        self.problems: list[LineProblem] = _Problems(self)
        self.on_problem = None
        self._total, self._duplicated = self._first_pass()

    def __len__(self) -> int:
        return self._total

    def _lines(self):
        with open(self.path, "rb") as fh:
            for n, raw in enumerate(fh, start=1):
                yield n, raw.rstrip(b"\n").rstrip(b"\r")

    def _first_pass(self) -> tuple[int, set[int]]:
        from array import array
        hashes = array("I")
        total = 0
        known = {f.name for f in self.schema.fields}
        for n, raw in self._lines():
            text = raw.decode("utf-8-sig" if n == 1 else "utf-8", errors="replace").strip()
            if not text or text.startswith("#"):
                continue
            total += 1
            if KEY_FIELD in known or '"key"' not in text:
                continue
            try:
                key = json.loads(text).get(KEY_FIELD)
            except (ValueError, AttributeError, RecursionError):
                continue
            if isinstance(key, str):
                hashes.append(_key_hash(key))
        if len(hashes) < 2:
            return total, set()
        try:
            import numpy as np
            h = np.array(hashes, dtype=np.uint32)
            del hashes
            h.sort()
            dup = h[1:][h[1:] == h[:-1]]
            return total, {int(x) for x in dup}
        except ImportError:
            ordered = sorted(hashes)
            return total, {a for a, b in zip(ordered, ordered[1:]) if a == b}

    def __iter__(self):
        base = self.path.parent
        schema = self.schema
        media = {f.name: f for f in schema.media_fields}
        known = {f.name for f in schema.fields}
        seen = _SeenKeys(self._duplicated)
        problems = self.problems
        for n, raw in self._lines():
            try:
                text = raw.decode("utf-8-sig" if n == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                problems.append(LineProblem(n, None, f"is not UTF-8 text (byte {exc.start + 1})"))
                continue
            if not text.strip() or text.lstrip().startswith("#"):
                continue
            try:
                spec = _parse_line(n, text, base, schema, media, known, seen, problems)
            except Exception as exc:       # MemoryError, RecursionError...: this line alone fails
                problems.append(LineProblem(n, None, f"could not be read ({type(exc).__name__})"))
                continue
            if spec is not None:
                yield spec


def _parse_line(n: int, text: str, base: Path, schema: ModelSchema, media: dict, known: set, seen: dict,
                problems: list[LineProblem]) -> JobSpec | None:
    if len(text) > MAX_LINE_CHARS:
        problems.append(LineProblem(n, None, f"is {len(text):,} characters long; at most {MAX_LINE_CHARS:,} "
                                             "(send large media as files or URLs)"))
        return None
    depth = _too_deep(text)
    if depth is not None:
        problems.append(LineProblem(n, None, f"JSON nested {depth} levels deep; at most {MAX_DEPTH}"))
        return None
    try:
        obj = json.loads(text)
    except ValueError as exc:
        problems.append(LineProblem(n, None, f"not valid JSON ({exc})"))
        return None
    if not isinstance(obj, dict):
        problems.append(LineProblem(n, None, f"must be a JSON object of field values, got {type(obj).__name__}"))
        return None
    key = obj.pop(KEY_FIELD, None) if KEY_FIELD not in known else None
    key = f"line-{n}" if key is None else key
    if not isinstance(key, str) or not _KEY_OK.fullmatch(key):
        problems.append(LineProblem(n, None, "'key' must be 1 to 100 letters, digits, '.', '_' or '-' "
                                             f"(starting with a letter or digit), got {key!r}"))
        return None
    if key in seen:
        problems.append(LineProblem(n, key, f"'key' {key!r} is already used on line {seen[key]}"))
        return None
    seen[key] = n
    bad = False
    for name in obj:
        if name not in known:
            problems.append(LineProblem(n, key, f"unknown field {name!r}; {schema.model_id} takes: "
                                                + ", ".join(sorted(known))))
            bad = True
    spec = JobSpec(key=key, line=n, fields={})
    for name, value in obj.items():
        if name not in known:
            continue
        f = media.get(name)
        if f is None:
            spec.fields[name] = value
            continue
        items = value if isinstance(value, list) else [value]
        if not f.is_list and len(items) > 1:
            problems.append(LineProblem(n, key, f"{name!r} takes exactly one {f.kind}, got {len(items)}"))
            bad = True
            continue
        for i, item in enumerate(items):
            label = f"{name}[{i + 1}]" if f.is_list else name
            if not isinstance(item, str) or not item.strip():
                problems.append(LineProblem(n, key, f"{label!r} must be a file path or URL, got {item!r}"))
                bad = True
            elif _URL.match(item.strip()):
                spec.urls.setdefault(name, []).append(item.strip())
                spec.order.setdefault(name, []).append("url")
            else:
                p = Path(os.path.expanduser(item))
                p = p if p.is_absolute() else base / p
                if not p.is_file():
                    problems.append(LineProblem(n, key, f"{label!r}: file not found: {p}"))
                    bad = True
                    continue
                if spec.urls.get(name):
                    problems.append(LineProblem(n, key, f"{label!r}: list files before URLs (the pipeline "
                                                        "sends files first, then URLs)"))
                    bad = True
                    continue
                spec.files.setdefault(name, []).append(p)
                spec.order.setdefault(name, []).append("file")
    if bad:
        return None
    try:
        spec.digest = _file_digest([p for ps in spec.files.values() for p in ps])
    except OSError as exc:
        problems.append(LineProblem(n, key, f"could not read an input file: {exc}"))
        return None
    return spec
