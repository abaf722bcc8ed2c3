"""The stack of an opt-in browser suite that brings its own catalog entries and input files: the
local emulator (its sample catalog plus the suite's entries), a real ComfyUI with only this pack
(tests/comfyui_harness.py) and headless Chromium by Playwright (tests/test_browser.py's flags).
Pages are tests/test_browser.py's ``Page``; the same COMFYUI_DIR / COMFYUI_PYTHON /
COMFYUI_FRONTEND_ROOT pick the ComfyUI and frontend.
"""

from __future__ import annotations

import contextlib
import secrets
from pathlib import Path
from typing import Callable, Iterable

from comfyui_harness import _wait_until, launch
from test_browser import CHROMIUM, CHROMIUM_ARGS, sync_playwright


@contextlib.contextmanager
def browser_stack(base: Path, *, ready_classes: Iterable[str], entries: Iterable[dict] = (),
                  processing_time: float = 1.0, inputs: Callable[[Path], None] | None = None):
    """Yields ``{"comfy", "browser", "token", "emu"}``; ``inputs(folder)`` writes the files the
    graph's loaders read into ComfyUI's input folder before it starts (their lists are read then).
    Everything started here is stopped here, however the block ends."""
    from runcomfy.emulator import Emulator
    from runcomfy.emulator.catalog import sample_entries

    token = "rc-stack-" + secrets.token_hex(12)
    classes = list(ready_classes)
    emu = Emulator(token=token, processing_time=processing_time, workers=2).start()
    try:
        emu.serve_catalog(sample_entries() + list(entries), replace=False)
        (base / "input").mkdir(parents=True, exist_ok=True)
        if inputs is not None:
            inputs(base / "input")
        comfy = launch(base, emu, token, ready_path="/object_info/" + classes[0])
        try:
            for cls in classes[1:]:
                _wait_until(lambda: comfy.get("/object_info/" + cls).status_code == 200, 60,
                            what=f"the node {cls}")
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
                try:
                    yield {"comfy": comfy, "browser": browser, "token": token, "emu": emu}
                finally:
                    browser.close()
        finally:
            comfy.stop()
    finally:
        emu.stop()
