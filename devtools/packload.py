"""Loading the whole pack the way ComfyUI does (its root ``__init__.py`` by file path, as a
package), for ``models sync --build-nodes``, the benchmark and the golden fixture: the node classes
counted and timed are the ones ComfyUI would get. Nothing of ComfyUI itself is imported.

``python -m devtools.packload --config-dir DIR --base-url URL`` (from the pack root) loads the pack
with that config folder and API, no catalog refresh, and prints what ``models sync --build-nodes``
reports as JSON. The settings reach the loaded pack through its own ``runcomfy.settings.configure``
(explicitly, before its nodes are built), never through ``os.environ``."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import sys
import time
import uuid
from pathlib import Path

PACK_ROOT = Path(__file__).resolve().parents[1]


def load_pack(root: Path = PACK_ROOT, name: str | None = None, settings: dict | None = None):
    """The pack at ``root`` imported as ComfyUI imports it. ``settings`` (variable name -> value,
    see runcomfy.settings) configure the loaded pack's own settings module before its nodes are
    built (the loaded pack is a second copy of the library, with module objects of its own)."""
    name = name or f"runcomfy_pack_{uuid.uuid4().hex[:8]}"
    spec = importlib.util.spec_from_file_location(name, Path(root) / "__init__.py",
                                                  submodule_search_locations=[str(root)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    if settings:
        importlib.import_module(f"{name}.runcomfy.settings").configure(**settings)
    spec.loader.exec_module(module)
    return module


def node_info(name: str, cls: type, display_names: dict) -> dict:
    """What ComfyUI's /object_info says of one V1 node class (server.py node_info, 0.3.x)."""
    inputs = cls.INPUT_TYPES()
    return {"input": inputs, "input_order": {k: list(v.keys()) for k, v in inputs.items()},
            "is_input_list": getattr(cls, "INPUT_IS_LIST", False), "output": cls.RETURN_TYPES,
            "output_is_list": getattr(cls, "OUTPUT_IS_LIST", [False] * len(cls.RETURN_TYPES)),
            "output_name": getattr(cls, "RETURN_NAMES", cls.RETURN_TYPES), "name": name,
            "display_name": display_names.get(name, name), "description": getattr(cls, "DESCRIPTION", ""),
            "python_module": "custom_nodes.pack", "category": getattr(cls, "CATEGORY", "sd"),
            "output_node": bool(getattr(cls, "OUTPUT_NODE", False)),
            "output_tooltips": getattr(cls, "OUTPUT_TOOLTIPS", None), "search_aliases": []}


def object_info(module) -> dict:
    names = getattr(module, "NODE_DISPLAY_NAME_MAPPINGS", {})
    return {k: node_info(k, c, names) for k, c in module.NODE_CLASS_MAPPINGS.items()}


def build_nodes(config_dir: Path | str, base_url: str, root: Path = PACK_ROOT) -> dict:
    """Loads the pack with this config folder and API (no start-up refresh) and counts its node
    classes and the /object_info they make."""
    t = time.perf_counter()
    pack = load_pack(root, settings={"RUNCOMFY_CONFIG_DIR": str(config_dir), "RUNCOMFY_MODEL_API_BASE": base_url,
                                     "RUNCOMFY_CATALOG_REFRESH": "0"})
    seconds = time.perf_counter() - t
    info_bytes = len(json.dumps(object_info(pack), default=str))
    return {"nodes": len(pack.NODE_CLASS_MAPPINGS), "seconds": round(seconds, 3), "object_info_bytes": info_bytes}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m devtools.packload", description=__doc__.splitlines()[0])
    p.add_argument("--config-dir", required=True)
    p.add_argument("--base-url", required=True)
    p.add_argument("--root", default=str(PACK_ROOT), help="the pack to load (default: this one)")
    args = p.parse_args(argv)
    print(json.dumps(build_nodes(args.config_dir, args.base_url, Path(args.root))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
