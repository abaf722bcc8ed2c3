"""ComfyUI entry point of the RunComfy Model API node pack.

ComfyUI imports this directory as a package; only relative imports are used because ComfyUI
has top-level modules of its own named ``nodes``, ``server`` and ``utils``.
"""

from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS

WEB_DIRECTORY = "./web"

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "WEB_DIRECTORY"]
