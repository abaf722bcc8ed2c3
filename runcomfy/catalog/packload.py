"""Loading the whole pack the way ComfyUI does (its root ``__init__.py`` by file path, as a
package), for ``models sync --build-nodes`` and the benchmark: the node classes counted and
timed are the ones ComfyUI would get. Nothing of ComfyUI itself is imported."""

from __future__ import annotations

import importlib.util
import sys
import uuid
from pathlib import Path

PACK_ROOT = Path(__file__).resolve().parents[2]


def load_pack(root: Path = PACK_ROOT, name: str | None = None):
    name = name or f"runcomfy_pack_{uuid.uuid4().hex[:8]}"
    spec = importlib.util.spec_from_file_location(name, Path(root) / "__init__.py",
                                                  submodule_search_locations=[str(root)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
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
