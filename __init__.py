"""ComfyUI entry point of the RunComfy Model API node pack.

ComfyUI imports this directory as a package; only relative imports are used because ComfyUI
has top-level modules of its own named ``nodes``, ``server`` and ``utils``.
"""

if __package__:
    from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS
else:
    # Imported as a lone file, not as a package: pytest does this with a checkout whose folder
    # name is not a Python name (a clone named comfyui-runcomfy-model-api). There is no ComfyUI
    # to register with then, and a relative import would fail the whole test run.
    NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS = {}, {}

WEB_DIRECTORY = "./web"

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "WEB_DIRECTORY"]
