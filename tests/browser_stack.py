"""The stack of an opt-in browser suite: the local emulator (its sample catalog, unless the suite
brings the whole catalog itself, plus the suite's entries), real ComfyUIs with only this pack
(tests/comfyui_harness.py) and headless Chromium by Playwright (tests/test_browser.py's flags).
Pages are tests/test_browser.py's ``Page``; the same COMFYUI_DIR / COMFYUI_PYTHON /
COMFYUI_FRONTEND_ROOT pick the ComfyUI and frontend.
"""

from __future__ import annotations

import contextlib
import itertools
import secrets
from pathlib import Path
from typing import Callable, Iterable

from comfyui_harness import _wait_until, launch
from test_browser import CHROMIUM, CHROMIUM_ARGS, sync_playwright


@contextlib.contextmanager
def browser_stack(base: Path, *, ready_classes: Iterable[str], entries: Iterable[dict] = (),
                  samples: bool = True, processing_time: float = 1.0,
                  inputs: Callable[[Path], None] | None = None, env: dict | None = None,
                  comfyuis: int = 1, browser_args: Iterable[str] = ()):
    """Yields ``{"comfy", "comfys", "browser", "token", "emu", "serve"}``: ``comfyuis`` ComfyUIs
    started with ``env`` (``comfy`` is the last one, None with none), and ``serve(more_env)``, a
    context that starts one more for its block. ``inputs(folder)`` writes the files the graph's
    loaders read into each one's input folder before it starts. The n-th ComfyUI's base is
    ``base/comfy<n>``. Everything started here is stopped here, however the block ends."""
    from runcomfy.emulator import Emulator
    from runcomfy.emulator.catalog import sample_entries

    token = "rc-stack-" + secrets.token_hex(12)
    classes = list(ready_classes)
    numbers = itertools.count()

    @contextlib.contextmanager
    def serve(more_env: dict | None = None):
        n = next(numbers)
        folder = base / f"comfy{n}"
        (folder / "input").mkdir(parents=True, exist_ok=True)
        if inputs is not None:
            inputs(folder / "input")
        comfy = launch(folder, emu, token, ready_path="/object_info/" + classes[0],
                       env_extra={**(env or {}), **(more_env or {})})
        try:
            for cls in classes[1:]:
                _wait_until(lambda: comfy.get("/object_info/" + cls).status_code == 200, 60,
                            what=f"the node {cls}")
            yield comfy
        finally:
            comfy.stop()

    emu = Emulator(token=token, processing_time=processing_time, workers=2).start()
    try:
        emu.serve_catalog((sample_entries() if samples else []) + list(entries), replace=False)
        with contextlib.ExitStack() as started:
            comfys = [started.enter_context(serve()) for _ in range(comfyuis)]
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS + list(browser_args),
                                             headless=True)
                try:
                    yield {"comfy": comfys[-1] if comfys else None, "comfys": comfys, "browser": browser,
                           "token": token, "emu": emu, "serve": serve}
                finally:
                    browser.close()
    finally:
        emu.stop()
