"""JOBS.jsonl: one job per line, checked before anything is sent.

A line is a JSON object of the model's field values. Media fields take a file path (relative to
the JOBS file), an http(s) or data: URL, or a list of them for list fields. ``key`` names the
job's outputs (``KEY_1.png``...); without it the job is called ``line-N``. Blank lines and lines
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
    path = Path(path)
    base = path.parent
    media = {f.name: f for f in schema.media_fields}
    known = {f.name for f in schema.fields}
    specs: list[JobSpec] = []
    problems: list[LineProblem] = []
    seen: dict[str, int] = {}
    with open(path, encoding="utf-8") as fh:
        lines = fh.read().splitlines()
    for n, text in enumerate(lines, start=1):
        if not text.strip() or text.lstrip().startswith("#"):
            continue
        try:
            obj = json.loads(text)
        except ValueError as exc:
            problems.append(LineProblem(n, None, f"not valid JSON ({exc})"))
            continue
        if not isinstance(obj, dict):
            problems.append(LineProblem(n, None, f"must be a JSON object of field values, got {type(obj).__name__}"))
            continue
        key = obj.pop(KEY_FIELD, None) if KEY_FIELD not in known else None
        key = f"line-{n}" if key is None else key
        if not isinstance(key, str) or not _KEY_OK.fullmatch(key):
            problems.append(LineProblem(n, None, "'key' must be 1 to 100 letters, digits, '.', '_' or '-' "
                                                 f"(starting with a letter or digit), got {key!r}"))
            continue
        if key in seen:
            problems.append(LineProblem(n, key, f"'key' {key!r} is already used on line {seen[key]}"))
            continue
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
            continue
        try:
            spec.digest = _file_digest([p for ps in spec.files.values() for p in ps])
        except OSError as exc:
            problems.append(LineProblem(n, key, f"could not read an input file: {exc}"))
            continue
        specs.append(spec)
    return specs, problems
