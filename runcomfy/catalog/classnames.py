"""Which node class name each model id gets, for good.

A class name is the model id with every run of other characters than letters and digits
replaced by ``_`` (``wan-ai/wan-2-6/image-to-image`` -> ``RunComfy_wan_ai_wan_2_6_image_to_image``).
Ids that differ only in those characters (``image-to-image`` next to ``image_to_image``, ``4K``
next to ``4k`` is not one: case is kept) would share a name, and a saved workflow would then
run whichever model was registered last. So the first id to get a name keeps it, on this
machine, forever: the assignment is kept in ``node_classes.json`` beside the catalog caches. An
id that arrives later and collides gets ``<name>_<first 8 hex digits of sha256(id)>``, which no
later catalog can take from it. Shipped models come first in every build, so they keep their
names unless this machine saw the other id before the pack shipped its model.

When the file does not exist yet (a machine that ran an earlier version) it is seeded from the
ids being built now (shipped first, then the cache in catalog order) and then every catalog
cache in the directory, so nothing that had a node before loses its name.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
from pathlib import Path

from ..journal import atomic_write
from .cache import read_cache

log = logging.getLogger("runcomfy")

FILE_NAME = "node_classes.json"
VERSION = 1
PREFIX = "RunComfy_"
_CLASS_NAME = re.compile(r"RunComfy_[A-Za-z0-9_]{1,300}")


def base_name(model_id: str) -> str:
    """The class name every id had before collisions were handled (and still has, alone)."""
    return PREFIX + re.sub(r"[^A-Za-z0-9]+", "_", model_id).strip("_")


def suffixed_name(model_id: str, digits: int = 8) -> str:
    return f"{base_name(model_id)}_{hashlib.sha256(model_id.encode('utf-8')).hexdigest()[:digits]}"


def registry_path(config_dir: Path | str) -> Path:
    return Path(config_dir) / FILE_NAME


def cached_ids(config_dir: Path | str) -> list[str]:
    """Every model id of every catalog cache in ``config_dir`` (listed ones, then unlisted ones)."""
    ids: list[str] = []
    for path in sorted(Path(config_dir).glob("catalog*.json")):
        cache = read_cache(path)
        if cache is None:
            continue
        ids += [d.get("model_id") for d in cache.models]
        ids += [u["doc"].get("model_id") for u in cache.unlisted]
    return [i for i in ids if isinstance(i, str)]


class ClassNames:
    """The id -> class name assignment. ``path`` None: kept in memory only (tests, scripts)."""

    def __init__(self, path: Path | str | None = None, seed=None):
        self.path = Path(path) if path is not None else None
        self._seed = seed                    # callable -> ids to migrate when the file is new
        self._lock = threading.Lock()
        self._by_id: dict[str, str] = {}
        self._by_base: dict[str, set] = {}   # usual name -> every id that makes it
        self._loaded = False
        self._migrate = False

    # -- reading ---------------------------------------------------------------------------

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        if self.path is None:
            return
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            self._migrate = True
            return
        except OSError as exc:
            log.warning("RunComfy: cannot read the node class names %s (%s); names are assigned afresh "
                        "for this run", self.path, exc)
            return
        try:
            doc = json.loads(raw)
            if not isinstance(doc, dict) or doc.get("version") != VERSION or not isinstance(doc.get("classes"), dict):
                raise ValueError("not a version-1 node class file")
            owners: dict[str, str] = {}
            for model_id, name in doc["classes"].items():
                if not isinstance(name, str) or not _CLASS_NAME.fullmatch(name) or name in owners:
                    raise ValueError(f"bad or repeated class name for {model_id!r}")
                owners[name] = model_id
                self._by_id[model_id] = name
            for model_id in self._by_id:
                self._by_base.setdefault(base_name(model_id), set()).add(model_id)
        except (ValueError, TypeError) as exc:
            self._by_id.clear()
            self._by_base.clear()
            self._migrate = True
            log.warning("RunComfy: the node class names in %s are unreadable (%s); they are rebuilt from the "
                        "shipped models and the catalog caches", self.path, exc)

    def get(self, model_id: str) -> str | None:
        with self._lock:
            self._load()
            return self._by_id.get(model_id)

    def holders(self) -> dict[str, str]:
        """class name -> model id, for every id ever assigned here."""
        with self._lock:
            self._load()
            return {n: m for m, n in self._by_id.items()}

    # -- assigning -------------------------------------------------------------------------

    def _free_name(self, model_id: str, owners: dict) -> str:
        name = base_name(model_id)
        if owners.get(name, model_id) == model_id:
            return name
        for digits in (8, 16, 64):
            name = suffixed_name(model_id, digits)
            if owners.get(name, model_id) == model_id:
                return name
        n = 2        # only an id built to collide with another's hashed name gets here
        while owners.get(f"{name}_{n}", model_id) != model_id:
            n += 1
        return f"{name}_{n}"

    def assign(self, model_ids, *, bundled=frozenset()) -> dict[str, str]:
        """Names for ``model_ids`` (earlier ids win a contested name). New ids are kept for good;
        the file is written when an id that is not shipped with the pack was added (a machine that
        only ever had the shipped models keeps no file)."""
        with self._lock:
            self._load()
            owners = {n: m for m, n in self._by_id.items()}
            out: dict[str, str] = {}
            added: list[str] = []
            todo = list(model_ids)
            if self._migrate:
                self._migrate = False
                seeded = list(self._seed()) if self._seed is not None else []
                todo_all = todo + [i for i in seeded if i not in set(todo)]
            else:
                todo_all = todo
            wanted = set(todo)
            for model_id in todo_all:
                name = self._by_id.get(model_id)
                if name is None:
                    name = self._free_name(model_id, owners)
                    owners[name] = model_id
                    self._by_id[model_id] = name
                    self._by_base.setdefault(base_name(model_id), set()).add(model_id)
                    added.append(model_id)
                    if name != base_name(model_id):
                        log.warning("RunComfy: model ids %r and %r both make the node class name %s; %r keeps "
                                    "it, %r gets %s (shown with its id in the node's name)",
                                    owners[base_name(model_id)], model_id, base_name(model_id),
                                    owners[base_name(model_id)], model_id, name)
                if model_id in wanted:
                    out[model_id] = name
            if any(m not in bundled for m in added):
                self._save()
            return out

    def rivals(self, model_id: str) -> list[str]:
        """Other ids that make the same base class name as ``model_id``."""
        base = base_name(model_id)
        with self._lock:
            return sorted(m for m in self._by_base.get(base, ()) if m != model_id)

    def _save(self) -> None:
        if self.path is None:
            return
        doc = {"version": VERSION, "note": "RunComfy node class name of each model id seen on this machine; "
                                           "a name is never given to another id.",
               "classes": dict(sorted(self._by_id.items()))}
        try:
            atomic_write(self.path, (json.dumps(doc, indent=1, ensure_ascii=False) + "\n").encode("utf-8"),
                         mode=0o644)
        except OSError as exc:
            log.warning("RunComfy: could not save the node class names to %s (%s); they hold for this run only",
                        self.path, exc)


_registries: dict[Path, ClassNames] = {}
_registries_lock = threading.Lock()


def class_names(config_dir: Path | str) -> ClassNames:
    """The one registry of ``config_dir`` in this process (start-up and every refresh share it)."""
    path = registry_path(config_dir).resolve()
    with _registries_lock:
        reg = _registries.get(path)
        if reg is None:
            reg = _registries[path] = ClassNames(path, seed=lambda: cached_ids(config_dir))
        return reg
