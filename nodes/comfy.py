"""The one place that touches ComfyUI's own modules. Every import is lazy and every
function is a harmless no-op when ComfyUI is absent, so the pack's tests run without it."""

from __future__ import annotations

import functools
import importlib
import logging
from pathlib import Path

log = logging.getLogger("runcomfy")


def _module(name: str):
    try:
        return importlib.import_module(name)
    except Exception:  # absent, or half-initialised outside ComfyUI
        return None


def processing_interrupted() -> bool:
    mm = _module("comfy.model_management")
    fn = getattr(mm, "processing_interrupted", None)
    try:
        return bool(fn()) if fn else False
    except Exception:
        return False


def interrupt_exception(message: str) -> BaseException:
    """ComfyUI's own exception for Stop, so it ends the run as "interrupted", not as an error."""
    mm = _module("comfy.model_management")
    exc = getattr(mm, "InterruptProcessingException", None)
    if exc is None:
        from ..runcomfy.errors import Interrupted
        return Interrupted(message)
    return exc(message)


def prompt_server():
    srv = _module("server")
    return getattr(getattr(srv, "PromptServer", None), "instance", None)


@functools.lru_cache(maxsize=1)     # asked once per node class: a failed import is not cached by Python
def comfyui_version() -> tuple[int, ...] | None:
    mod = _module("comfyui_version")
    text = getattr(mod, "__version__", None)
    if not text:
        return None
    try:
        return tuple(int(p) for p in text.split(".")[:3])
    except ValueError:
        return None


def supports_async_nodes() -> bool:
    """ComfyUI 0.3.45 and later await ``async def`` node functions and run them concurrently.
    Outside ComfyUI (tests, scripts) the async form is used too."""
    import inspect
    import sys
    execution = sys.modules.get("execution")  # main.py imports it before loading custom nodes
    if execution is None:
        version = comfyui_version()
        return version is None or version >= (0, 3, 45)
    # Before 0.3.45 execution.py had no async functions at all.
    return inspect.iscoroutinefunction(getattr(execution, "get_output_data", None))


def user_directory() -> Path | None:
    fp = _module("folder_paths")
    fn = getattr(fp, "get_user_directory", None)
    try:
        return Path(fn()) if fn else None
    except Exception:
        return None


def folder(kind: str) -> Path | None:
    """ComfyUI's ``temp`` or ``output`` directory (where result videos are written), else None."""
    fp = _module("folder_paths")
    fn = getattr(fp, f"get_{kind}_directory", None)
    try:
        return Path(fn()) if fn else None
    except Exception:
        return None


def comfyui_nodes_module():
    """ComfyUI's own ``nodes`` module when this process is a ComfyUI server (main.py imports it
    before loading custom nodes), else None (tests, scripts)."""
    import sys
    registry = sys.modules.get("nodes")
    return registry if hasattr(registry, "load_custom_node") else None


def video_api():
    """ComfyUI's VIDEO classes (``comfy_api``: VideoInput, VideoFromFile, VideoFromComponents,
    VideoComponents) as one namespace; None on a ComfyUI without a VIDEO type."""
    import types
    found = {}
    for module, names in (("comfy_api.input", ("VideoInput",)),
                          ("comfy_api.input_impl", ("VideoFromFile", "VideoFromComponents")),
                          ("comfy_api.util", ("VideoComponents",))):
        mod = _module(module)
        for name in names:
            found[name] = getattr(mod, name, None)
    if any(v is None for v in found.values()):
        return None
    return types.SimpleNamespace(**found)


class Progress:
    """ComfyUI's progress bar plus a status text on the node. Falls back to the pack's own
    websocket event where the running ComfyUI has no progress-text support."""

    def __init__(self, node_id: str | None, total: int = 1000):
        self.node_id = node_id
        self.total = total
        utils = _module("comfy.utils")
        bar_cls = getattr(utils, "ProgressBar", None)
        try:
            self.bar = bar_cls(total, node_id=node_id) if bar_cls and node_id is not None else (
                bar_cls(total) if bar_cls else None)
        except TypeError:
            self.bar = bar_cls(total) if bar_cls else None
        except Exception:
            self.bar = None
        self.last_text: str | None = None

    def fraction(self, value: float) -> None:
        if self.bar is None:
            return
        try:
            self.bar.update_absolute(max(0, min(self.total, int(value * self.total))), self.total)
        except BaseException as exc:
            # ComfyUI's progress hook raises on Stop *and clears the flag*; put it back so the
            # pipeline sees Stop at its next check and cancels the remote job first. Core 0.33
            # derives InterruptProcessingException from BaseException (0.3.x: Exception): let it
            # out and it skips the cancel, the journal and the "stopped" event naming the request.
            if type(exc).__name__ == "InterruptProcessingException":
                mm = _module("comfy.model_management")
                if mm is not None and hasattr(mm, "interrupt_current_processing"):
                    mm.interrupt_current_processing(True)
            elif not isinstance(exc, Exception):
                raise       # CancelledError, KeyboardInterrupt, SystemExit: not the progress bar's to swallow

    def text(self, message: str, detail: dict | None = None) -> None:
        self.last_text = message
        srv = prompt_server()
        if srv is None or self.node_id is None:
            return
        try:
            send = getattr(srv, "send_progress_text", None)
            if send is not None:
                send(message, self.node_id)
            # The pack's extension keeps the last outcome on the node, with structured fields.
            srv.send_sync("runcomfy_model_api.status", {"node": self.node_id, "text": message, **(detail or {})},
                          getattr(srv, "client_id", None))
        except Exception as exc:
            log.debug("runcomfy: could not send progress text: %s", exc)


def register_node_classes(classes: dict, display_names: dict, like: type | None = None) -> bool:
    """Adds (or replaces) node classes in ComfyUI's own registry after start-up, so /object_info
    lists them and prompts can use them; the browser still has to reload its node definitions.
    ComfyUI reads ``nodes.NODE_CLASS_MAPPINGS`` on every /object_info and every prompt, which is
    what makes this work; it must run on the server's event loop thread (see
    ``call_on_server_loop``) so no request iterates the dict while it changes. False when
    ComfyUI's registry is not there (tests, scripts)."""
    import sys
    registry = sys.modules.get("nodes")     # ComfyUI's nodes.py, imported long before custom nodes
    if not hasattr(registry, "load_custom_node"):
        return False
    mapping = getattr(registry, "NODE_CLASS_MAPPINGS", None)
    names = getattr(registry, "NODE_DISPLAY_NAME_MAPPINGS", None)
    if not isinstance(mapping, dict) or not isinstance(names, dict) or mapping is classes:
        return False
    module = getattr(like, "RELATIVE_PYTHON_MODULE", None)
    for key, cls in classes.items():
        if module and not hasattr(cls, "RELATIVE_PYTHON_MODULE"):
            cls.RELATIVE_PYTHON_MODULE = module   # what ComfyUI sets on classes it loaded itself
        mapping[key] = cls
    names.update({k: v for k, v in display_names.items() if k in classes})
    return True


def call_on_server_loop(fn) -> bool:
    """Runs ``fn()`` on ComfyUI's event loop thread (from any thread); False without a server."""
    srv = prompt_server()
    loop = getattr(srv, "loop", None)
    if loop is None:
        return False
    try:
        loop.call_soon_threadsafe(fn)
        return True
    except RuntimeError:     # loop closed: ComfyUI is shutting down
        return False
