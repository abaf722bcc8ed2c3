"""``python -m runcomfy models sync | list | show MODEL_ID | snapshot``.

``sync`` is the code path ComfyUI's start and the Settings action use. ``list`` and ``show`` read
what the nodes are built from (shipped models, then the cache) without any network call.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .. import credentials, settings
from ..api.urls import resolve_base_url
from ..errors import ConfigError
from ..pricing import describe
from . import load_entries, sync
from .bundled import SCHEMA_DIR
from .snapshot import write_snapshot

CONFIG_DIR_ENV = settings.CONFIG_DIR_ENV
PACK_ROOT = settings.PACK_ROOT


def default_config_dir() -> tuple[Path, str]:
    """Where the nodes look (runcomfy.settings.config_dir_and_source): $RUNCOMFY_CONFIG_DIR, else
    ComfyUI's user folder when the pack sits in ComfyUI/custom_nodes (the default
    --user-directory), else ~/.config/runcomfy."""
    return settings.config_dir_and_source()


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="runcomfy models", description="RunComfy's model catalog, as the nodes see it.")
    p.add_argument("--config-dir", default=None, help="the pack's config folder (default: see README)")
    p.add_argument("--base-url", default=None, help="API base URL (default $RUNCOMFY_MODEL_API_BASE or RunComfy's)")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("sync", help="read the whole catalog and store it in the cache (what ComfyUI's start does)")
    s.add_argument("--json", action="store_true")
    s.add_argument("--build-nodes", action="store_true",
                   help="then load the pack as ComfyUI does and count (and time) the node classes it builds")
    ls = sub.add_parser("list", help="the models that have nodes (no network)")
    ls.add_argument("--search", default=None, help="substring of the id or display name")
    ls.add_argument("--category", default=None, help="a catalog category such as image-to-video")
    ls.add_argument("--json", action="store_true")
    sh = sub.add_parser("show", help="one model's inputs as its node shows them, and its price")
    sh.add_argument("model_id")
    sh.add_argument("--json", action="store_true")
    sn = sub.add_parser("snapshot", help="maintainers: write the cached catalog into the pack's runcomfy/schemas")
    sn.add_argument("--out", default=str(SCHEMA_DIR), help="target folder (default: the pack's runcomfy/schemas)")
    sn.add_argument("--allow-emulator", action="store_true",
                    help="allow a cache synced from a loopback emulator (only with --out outside the pack)")
    return p


def _token(cfg: Path) -> str | None:
    try:
        return credentials.resolve_token(cfg).token
    except ConfigError as exc:
        print(f"note: {exc}; reading the catalog without a token", file=sys.stderr)
        return None


def build_nodes(cfg: Path, base: str) -> dict:
    """Loads the pack as ComfyUI does, with this cache, and counts its node classes and the
    /object_info they make (no network: the start-up refresh is switched off for this). The
    loader is a development tool (devtools/packload.py, in a checkout of the pack, not in the
    library); it runs in a child process given the folder and API on its command line."""
    import subprocess
    root = PACK_ROOT
    if not (root / "devtools" / "packload.py").is_file():
        raise ConfigError(f"--build-nodes needs the pack's development tools ({root / 'devtools'}), which "
                          "come with a git checkout of the pack, not with an installed copy.")
    proc = subprocess.run([sys.executable, "-m", "devtools.packload", "--config-dir", str(cfg), "--base-url", base],
                          cwd=root, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise ConfigError(f"loading the pack's nodes failed: {proc.stderr.strip()[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _cmd_sync(args, cfg: Path, base: str) -> int:
    token = _token(cfg)
    report = sync(cfg, token=token, base_url=base)
    out = report.public()
    out["cache"] = report.cache_path
    if report.ok and args.build_nodes:
        try:
            out["nodes"] = {"models": len(load_entries(cfg, base)), **build_nodes(cfg, base)}
        except ConfigError as exc:
            print(f"{report.summary()}\n--build-nodes: {exc}", file=sys.stderr)
            return 2
    if args.json:
        print(json.dumps(out, indent=1))
    else:
        print(report.summary())
        if report.ok:
            print(f"cache: {report.cache_path}")
            for label, ids in (("added", report.added), ("changed", report.changed), ("no longer listed", report.removed)):
                if ids:
                    shown = ", ".join(ids[:10]) + (f" and {len(ids) - 10} more" if len(ids) > 10 else "")
                    print(f"  {label}: {shown}")
            if "nodes" in out:
                n = out["nodes"]
                print(f"nodes: the pack loaded as ComfyUI loads it has {n['nodes']} node classes for "
                      f"{n['models']} models ({n['seconds']:.2f} s; /object_info {n['object_info_bytes'] / 1e6:.2f} MB)")
            print("Restart ComfyUI (or use Settings › RunComfy Model API › Refresh model catalog) to get new nodes.")
    return 0 if report.ok else 1


def _matches(e, search: str | None, category: str | None) -> bool:
    if search:
        s = search.lower()
        if s not in e.model_id.lower() and s not in (e.display_name or "").lower():
            return False
    return not category or category.lower() in [c.lower() for c in e.categories]


def _cmd_list(args, cfg: Path, base: str) -> int:
    entries = [e for e in load_entries(cfg, base) if _matches(e, args.search, args.category)]
    if args.json:
        print(json.dumps([e.public() for e in entries], indent=1, ensure_ascii=False))
        return 0
    for e in entries:
        flags = "" if e.listed else "  [no longer listed]"
        flags += "  [shipped]" if e.origin == "bundled" else ""
        cats = ",".join(e.categories) or "-"
        print(f"{e.model_id}  |  {e.display_name or '-'}  |  {cats}  |  {describe(e.doc)['text']}{flags}")
    print(f"{len(entries)} model(s)", file=sys.stderr)
    return 0


def _field_line(f) -> dict:
    kind = getattr(f, "kind", None)
    if kind:
        count = ("1" if f.type != "array" else
                 f"{f.min_items or 0} to {f.max_items}" if f.max_items is not None else f"{f.min_items or 0} or more")
        shown = f"{kind.upper()} socket(s), {count} file(s); URLs also accepted"
    elif getattr(f, "structured", False):
        shown = "JSON text (structured)"
    elif f.enum:
        shown = "choice: " + ", ".join(map(str, f.enum))
    else:
        shown = {"integer": "INT", "number": "FLOAT", "boolean": "BOOLEAN", "array": "list (one per line)"}.get(
            f.type, "STRING")
        bounds = [f"min {f.minimum:g}" if f.minimum is not None else "", f"max {f.maximum:g}" if f.maximum is not None else "",
                  f"at most {f.max_length} chars" if f.max_length is not None else ""]
        shown += "".join(f", {b}" for b in bounds if b)
    return {"name": f.name, "required": f.required, "input": shown, "default": f.default,
            "description": f.description or f.title}


def _cmd_show(args, cfg: Path, base: str) -> int:
    from ..schema import parse_schema
    entry = next((e for e in load_entries(cfg, base) if e.model_id == args.model_id), None)
    if entry is None:
        print(f"unknown model {args.model_id!r}: not shipped and not in the cache of {base} "
              "(run `python -m runcomfy models sync` first)", file=sys.stderr)
        return 2
    price = describe(entry.doc)
    try:
        schema = parse_schema(entry.doc, entry.overlay)
    except Exception as exc:
        schema, problem = None, str(exc)
    info = {"model_id": entry.model_id, "display_name": entry.display_name or (schema.display_name if schema else None),
            "categories": entry.categories, "origin": entry.origin, "listed": entry.listed, "notes": entry.notes,
            "price": price, "inputs": [_field_line(f) for f in schema.fields] if schema else [],
            "left_out": [{"name": n, "reason": r} for n, r in getattr(schema, "skipped", [])] if schema else [],
            "node": None if schema else f"no node: {problem}"}
    if args.json:
        print(json.dumps(info, indent=1, ensure_ascii=False, default=str))
        return 0
    print(f"{info['display_name']}  ({entry.model_id})")
    print(f"  categories: {', '.join(entry.categories) or '-'}   from: {entry.origin}")
    print(f"  price: {price['text']}")
    if price.get("pricing_note"):
        print(f"  pricing note: {price['pricing_note']}")
    for note in entry.notes:
        print(f"  note: {note}")
    if schema is None:
        print(f"  {info['node']}")
        return 1
    print("  inputs:")
    for line in info["inputs"]:
        req = "required" if line["required"] else "optional"
        default = "" if line["default"] is None else f"  [default {line['default']!r}]"
        print(f"    {line['name']} ({req}): {line['input']}{default}")
    for item in info["left_out"]:
        print(f"    (left out) {item['name']}: {item['reason']}")
    return 0


def _cmd_snapshot(args, cfg: Path, base: str) -> int:
    try:
        written = write_snapshot(cfg, base, Path(args.out), allow_emulator=args.allow_emulator)
    except ValueError as exc:
        print(f"snapshot refused: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {len(written)} schema file(s) into {args.out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.config_dir:
        cfg = Path(args.config_dir)
    else:
        cfg, _ = default_config_dir()
    try:
        base = resolve_base_url(args.base_url)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    return {"sync": _cmd_sync, "list": _cmd_list, "show": _cmd_show, "snapshot": _cmd_snapshot}[args.command](
        args, cfg, base)
