"""Layering: the library works without ComfyUI and without torch where it touches no tensors;
the pack falls back to synchronous node functions on ComfyUI older than 0.3.45."""

from __future__ import annotations

import asyncio
import inspect
import subprocess
import sys
import types

from conftest import ROOT, load_pack

KEY = "RunComfy_wan_ai_wan_2_6_image_to_image"


def test_library_runs_the_demo_without_torch_or_comfyui(tmp_path):
    code = (
        "import sys; sys.modules['torch'] = None; sys.modules['comfy'] = None\n"
        "from runcomfy import client, pipeline, schema, media, journal, emulator, demo\n"
        f"rc = demo.main(['--out', r'{tmp_path}', '--processing-time', '0.1'])\n"
        "assert 'torch' not in sys.modules or sys.modules['torch'] is None\n"
        "sys.exit(rc)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (tmp_path / "result_1.png").exists()


def test_old_comfyui_gets_synchronous_node_functions(monkeypatch, start_emulator):
    old_execution = types.ModuleType("execution")
    old_execution.get_output_data = lambda *a, **k: None  # before 0.3.45: nothing async
    monkeypatch.setitem(sys.modules, "execution", old_execution)
    pack = load_pack(ROOT)
    cls = pack.NODE_CLASS_MAPPINGS[KEY]
    fn = getattr(cls(), cls.FUNCTION)
    assert not inspect.iscoroutinefunction(fn)
    emu = start_emulator("tok-old-comfy", as_env=True, processing_time=0.1)
    import torch
    out = fn(prompt="x", image_1=torch.rand(1, 400, 400, 3), negative_prompt="", image_size="1024*1024 (1:1)",
             seed=1, prompt_extend=False, unique_id="5")
    assert not inspect.isawaitable(out) and tuple(out[0].shape) == (1, 1024, 1024, 3)
    assert out[2] in emu.jobs


def test_synchronous_node_function_also_works_inside_a_running_loop(monkeypatch, start_emulator):
    """Were an async-capable ComfyUI mistaken for an old one, it would call the synchronous
    function on its event loop's thread, where asyncio.run refuses to start."""
    old_execution = types.ModuleType("execution")
    old_execution.get_output_data = lambda *a, **k: None
    monkeypatch.setitem(sys.modules, "execution", old_execution)
    pack = load_pack(ROOT)
    cls = pack.NODE_CLASS_MAPPINGS[KEY]
    fn = getattr(cls(), cls.FUNCTION)
    emu = start_emulator("tok-old-comfy-loop", as_env=True, processing_time=0.1)
    import torch

    async def on_the_loop():
        return fn(prompt="x", image_1=torch.rand(1, 400, 400, 3), negative_prompt="",
                  image_size="1024*1024 (1:1)", seed=2, prompt_extend=False, unique_id="6")
    out = asyncio.run(on_the_loop())
    assert tuple(out[0].shape) == (1, 1024, 1024, 3) and out[2] in emu.jobs
    # Errors still reach the caller.
    async def bad():
        return fn(prompt="", image_1=torch.rand(1, 400, 400, 3), unique_id="7")
    import pytest
    with pytest.raises(Exception, match="'prompt': is required") as info:
        asyncio.run(bad())
    assert type(info.value).__name__ == "ValidationError"


def test_new_comfyui_gets_async_node_functions(monkeypatch):
    new_execution = types.ModuleType("execution")

    async def get_output_data(*a, **k):
        return None
    new_execution.get_output_data = get_output_data
    monkeypatch.setitem(sys.modules, "execution", new_execution)
    pack = load_pack(ROOT)
    cls = pack.NODE_CLASS_MAPPINGS[KEY]
    assert inspect.iscoroutinefunction(getattr(cls, cls.FUNCTION))
    asyncio.run(asyncio.sleep(0))
