"""The golden /object_info fixture: what users' saved workflows depend on (node class names,
inputs and every option, widget order, outputs) for the Wan 2.6 node and every node of the
emulator's sample catalog that gets one, as ComfyUI's /object_info presents them.

``python -m devtools.golden`` (from the pack root) rewrites tests/golden/object_info.json;
``--check`` only compares. The pack is loaded in a child process the way ComfyUI loads it, with a
config folder whose catalog cache holds the emulator's sample catalog, offline (no refresh)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PACK_ROOT = Path(__file__).resolve().parents[1]
GOLDEN = PACK_ROOT / "tests" / "golden" / "object_info.json"
WAN_ID = "wan-ai/wan-2-6/image-to-image"
ABOUT = ("Golden /object_info of the Wan 2.6 node and the emulator's sample catalog nodes (issue 17). "
         "An intentional change regenerates it with `python -m devtools.golden` and says so in the commit.")

# Runs in the child: the pack imported as ComfyUI imports it, its node classes described like
# ComfyUI's server.py node_info (V1 nodes, core 0.3.64 .. 0.33), plus FUNCTION (what ComfyUI calls).
_CHILD = r"""
import importlib.util, json, sys
root = sys.argv[1]
spec = importlib.util.spec_from_file_location("runcomfy_golden_pack", root + "/__init__.py",
                                              submodule_search_locations=[root])
pack = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = pack
spec.loader.exec_module(pack)
names = pack.NODE_DISPLAY_NAME_MAPPINGS
out = {}
for key, cls in pack.NODE_CLASS_MAPPINGS.items():
    inputs = cls.INPUT_TYPES()
    info = {"input": inputs, "input_order": {k: list(v) for k, v in inputs.items()},
            "is_input_list": getattr(cls, "INPUT_IS_LIST", False), "output": cls.RETURN_TYPES,
            "output_is_list": getattr(cls, "OUTPUT_IS_LIST", [False] * len(cls.RETURN_TYPES)),
            "output_name": getattr(cls, "RETURN_NAMES", cls.RETURN_TYPES), "name": key,
            "display_name": names.get(key, key), "description": getattr(cls, "DESCRIPTION", ""),
            "category": getattr(cls, "CATEGORY", "sd"), "output_node": getattr(cls, "OUTPUT_NODE", False) is True,
            "function": cls.FUNCTION}
    for attr, field in (("OUTPUT_TOOLTIPS", "output_tooltips"), ("DEPRECATED", "deprecated"),
                        ("EXPERIMENTAL", "experimental"), ("API_NODE", "api_node"),
                        ("SEARCH_ALIASES", "search_aliases")):
        if hasattr(cls, attr):
            info[field] = getattr(cls, attr)
    out[key] = info
json.dump(out, sys.stdout, default=repr)
"""


def _sample_docs() -> list[dict]:
    sys.path.insert(0, str(PACK_ROOT))
    from runcomfy.emulator.catalog import sample_entries
    return sample_entries()


def object_info(root: Path = PACK_ROOT) -> dict:
    """The golden document for the pack at ``root`` (a child process; a few seconds)."""
    docs = _sample_docs()
    runnable = [d for d in docs if d.get("kind") in (None, "model")]
    with tempfile.TemporaryDirectory(prefix="runcomfy-golden-") as tmp:
        cfg = Path(tmp) / "config"
        cfg.mkdir()
        cache = {"version": 1, "base_url": "https://model-api.runcomfy.net/v1", "fetched_at": time.time(),
                 "total": len(docs), "models": runnable, "unlisted": [], "skipped": []}
        (cfg / "catalog.json").write_text(json.dumps(cache), encoding="utf-8")
        env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("RUNCOMFY_")}
        env.update(RUNCOMFY_CONFIG_DIR=str(cfg), RUNCOMFY_STATE_DIR=str(Path(tmp) / "state"),
                   RUNCOMFY_CATALOG_REFRESH="0", PYTHONHASHSEED="0")
        proc = subprocess.run([sys.executable, "-c", _CHILD, str(Path(root).resolve())], cwd=tmp, env=env,
                              capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"loading the pack at {root} failed:\n{proc.stderr[-3000:]}")
    nodes = json.loads(proc.stdout)
    wanted = {WAN_ID} | {d["model_id"] for d in runnable}
    kept = {k: v for k, v in nodes.items()
            if v["input"].get("hidden", {}).get("runcomfy_model_id") in wanted}
    if WAN_ID not in {v["input"]["hidden"]["runcomfy_model_id"] for v in kept.values()}:
        raise RuntimeError(f"no node for {WAN_ID}")
    return {"_about": ABOUT, "nodes": dict(sorted(kept.items()))}


def dumps(doc: dict) -> str:
    return json.dumps(doc, indent=1, ensure_ascii=False, sort_keys=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m devtools.golden", description=__doc__.split("\n\n")[0])
    p.add_argument("--root", default=str(PACK_ROOT), help="the pack to describe (default: this one)")
    p.add_argument("--out", default=str(GOLDEN), help="where to write (default: tests/golden/object_info.json)")
    p.add_argument("--check", action="store_true", help="only compare with --out; exit 1 when they differ")
    args = p.parse_args(argv)
    text = dumps(object_info(Path(args.root)))
    out = Path(args.out)
    if args.check:
        same = out.exists() and out.read_text(encoding="utf-8") == text
        print("golden object_info: " + ("unchanged" if same else f"DIFFERS from {out}"))
        return 0 if same else 1
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    print(f"wrote {out} ({len(json.loads(text)['nodes'])} nodes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
