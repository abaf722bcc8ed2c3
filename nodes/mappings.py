"""The pack's ``NODE_CLASS_MAPPINGS`` and ``NODE_DISPLAY_NAME_MAPPINGS``: the dicts ComfyUI reads
(through the pack's ``__init__``), filled once at import and extended in place by the catalog
refresh (catalog_api.apply_updates). They live in a module of their own, importing nothing, so
every module that needs them imports down instead of back into ``nodes/__init__``."""

NODE_CLASS_MAPPINGS: dict = {}
NODE_DISPLAY_NAME_MAPPINGS: dict = {}
