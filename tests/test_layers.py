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
    with pytest.raises(Exception, match="Prompt: is required") as info:
        asyncio.run(bad())
    assert "ValidationError" in [c.__name__ for c in type(info.value).__mro__]   # the node's labelled one


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


# --- imports point down (read from the source, so a lazy import inside a function counts too) ---

import ast  # noqa: E402
from pathlib import Path  # noqa: E402

# Top-level module names of ComfyUI itself (its root folder is on sys.path when it runs).
COMFYUI_MODULES = {"comfy", "comfy_api", "comfy_api_nodes", "comfy_config", "comfy_execution", "comfy_extras",
                   "comfyui_version", "folder_paths", "server", "execution", "nodes", "node_helpers",
                   "latent_preview", "model_management", "app", "utils", "protocol", "cuda_malloc"}
LIBRARY_SUBPACKAGES = ("schema", "media", "catalog", "jobs", "journal", "transport", "batch", "emulator")


def _imports(path: Path, root: Path):
    """(line, dotted name, relative?) of every import in ``path``; relative ones resolved against
    the file's package (the pack's root is the empty package)."""
    package = list(path.relative_to(root).parts[:-1])
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, False
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                yield node.lineno, node.module or "", False
            elif node.level - 1 > len(package):
                yield node.lineno, "<outside the pack>", True
            else:
                base = package[:len(package) - (node.level - 1)]
                for name in ([node.module] if node.module else [a.name for a in node.names]):
                    yield node.lineno, ".".join(base + name.split(".")), True


def _top(name: str) -> str:
    return name.split(".", 1)[0]


def _library_rule(rel, name, relative):
    if relative:
        return None if _top(name) == "runcomfy" else "the library reaches up out of runcomfy/"
    if _top(name) == "runcomfy":
        return "an absolute import inside the pack (relative only)"
    if _top(name) == "torch":
        return "torch in the library (IMAGE tensors live in nodes/tensors.py)"
    if _top(name) in COMFYUI_MODULES:
        return "a ComfyUI module in the library"
    return None


def _nodes_rule(rel, name, relative):
    if relative:
        return None if _top(name) in ("nodes", "runcomfy") else "outside the pack's nodes/ and runcomfy/"
    if _top(name) == "runcomfy":
        return "an absolute import inside the pack (relative only)"
    if _top(name) in COMFYUI_MODULES and rel != "nodes/comfy.py":
        return "a ComfyUI module outside nodes/comfy.py"
    return None


def _violations(root: Path, folder: str, rule) -> list[str]:
    out = []
    for path in sorted((root / folder).rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        for line, name, relative in _imports(path, root):
            why = rule(rel, name, relative)
            if why:
                out.append(f"{rel}:{line} imports {name}: {why}")
    return out


def test_library_imports_no_comfyui_no_nodes_and_torch_only_in_tensors():
    assert _violations(ROOT, "runcomfy", _library_rule) == []
    scanned = {p.relative_to(ROOT / "runcomfy").parts[0] for p in (ROOT / "runcomfy").rglob("*.py")}
    assert set(LIBRARY_SUBPACKAGES) <= scanned          # every subpackage is really read


def test_nodes_import_comfyui_only_through_nodes_comfy():
    assert _violations(ROOT, "nodes", _nodes_rule) == []


def test_nodes_comfy_imports_comfyui_lazily():
    """nodes/comfy.py names ComfyUI modules only inside functions (importlib, with fallbacks), so
    importing the pack outside ComfyUI works."""
    tree = ast.parse((ROOT / "nodes" / "comfy.py").read_text(encoding="utf-8"))
    top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    names = {a.name for n in top if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module or "" for n in top if isinstance(n, ast.ImportFrom) and n.level == 0}
    assert not {_top(n) for n in names} & COMFYUI_MODULES


def test_the_import_checks_see_violations(tmp_path):
    """The checks above are only as good as these rules: a small tree breaking each one."""
    (tmp_path / "runcomfy" / "kinds").mkdir(parents=True)
    (tmp_path / "nodes").mkdir()
    (tmp_path / "runcomfy" / "kinds" / "bad.py").write_text(
        "from ...nodes import layout\nimport torch\n\ndef f():\n    import folder_paths\n    from .. import media\n")
    (tmp_path / "runcomfy" / "tensors.py").write_text("import torch\n")
    (tmp_path / "nodes" / "bad.py").write_text("import runcomfy.client\n\ndef g():\n    import comfy.utils\n")
    (tmp_path / "nodes" / "comfy.py").write_text("def h():\n    import comfy.utils\n")
    assert [v.split(": ", 1)[1] for v in _violations(tmp_path, "runcomfy", _library_rule)] == [
        "the library reaches up out of runcomfy/", "torch in the library (IMAGE tensors live in nodes/tensors.py)",
        "a ComfyUI module in the library", "torch in the library (IMAGE tensors live in nodes/tensors.py)"]
    assert [v.split(": ", 1)[1] for v in _violations(tmp_path, "nodes", _nodes_rule)] == [
        "an absolute import inside the pack (relative only)", "a ComfyUI module outside nodes/comfy.py"]


# --- the emulator judges submits by its own reading of the schema dialects ---------------------

def _module_file(root: Path, dotted: str) -> Path | None:
    base = root.joinpath(*dotted.split("."))
    for p in (base.with_suffix(".py"), base / "__init__.py"):
        if p.is_file():
            return p
    return None


def _pack_imports(root: Path, path: Path) -> set[str]:
    """Pack modules ``path`` imports (relative imports; ``from . import x`` names module x too)."""
    out = set()
    package = list(path.relative_to(root).parts[:-1])
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if not isinstance(node, ast.ImportFrom) or node.level == 0 or node.level - 1 > len(package):
            continue
        base = package[:len(package) - (node.level - 1)] + (node.module.split(".") if node.module else [])
        for dotted in [".".join(base)] + [".".join(base + [a.name]) for a in node.names]:
            if dotted and _module_file(root, dotted) is not None:
                out.add(dotted)
    return out


def _emulator_reaches(root: Path, forbidden: str = "runcomfy.schema") -> list[str]:
    """Import chains from runcomfy/emulator/ (directly or through other pack modules) to ``forbidden``."""
    chains = []
    for start in sorted((root / "runcomfy" / "emulator").rglob("*.py")):
        first = ".".join(start.relative_to(root).with_suffix("").parts)
        seen, todo = {first: [first]}, [first]
        while todo:
            mod = todo.pop()
            path = _module_file(root, mod) or start
            for dep in sorted(_pack_imports(root, path)):
                # importing a.b.c runs a/__init__ and a/b/__init__ too
                parts = dep.split(".")
                for k in range(2, len(parts) + 1):
                    name = ".".join(parts[:k])
                    if name not in seen and _module_file(root, name) is not None:
                        seen[name] = seen[mod] + [name]
                        todo.append(name)
        chains += [" -> ".join(seen[m]) for m in sorted(seen) if m == forbidden or m.startswith(forbidden + ".")][:1]
    return chains


def test_the_emulator_never_imports_the_clients_schema_code():
    """Its validator (runcomfy/emulator/validator.py) reads the dialects itself: a dialect bug in
    runcomfy/schema must fail a socket test, not be agreed with on both sides."""
    assert _emulator_reaches(ROOT) == []


def test_the_emulator_schema_check_sees_direct_and_indirect_imports(tmp_path):
    for d in ("runcomfy/emulator", "runcomfy/schema", "runcomfy/kinds"):
        (tmp_path / d).mkdir(parents=True)
        (tmp_path / d / "__init__.py").write_text("")
    (tmp_path / "runcomfy" / "__init__.py").write_text("")
    (tmp_path / "runcomfy" / "schema" / "rules.py").write_text("X = 1\n")
    (tmp_path / "runcomfy" / "kinds" / "timing.py").write_text("from ..schema.rules import X\n")
    (tmp_path / "runcomfy" / "emulator" / "ok.py").write_text("from . import direct\nimport json\n")
    (tmp_path / "runcomfy" / "emulator" / "direct.py").write_text("def f():\n    from ..schema import rules\n")
    (tmp_path / "runcomfy" / "emulator" / "indirect.py").write_text("from ..kinds import timing\n")
    assert _emulator_reaches(tmp_path) == [
        "runcomfy.emulator.direct -> runcomfy.schema",
        "runcomfy.emulator.indirect -> runcomfy.kinds.timing -> runcomfy.schema",
        "runcomfy.emulator.ok -> runcomfy.emulator.direct -> runcomfy.schema"]
    (tmp_path / "runcomfy" / "emulator" / "direct.py").write_text("import json\n")
    (tmp_path / "runcomfy" / "emulator" / "indirect.py").write_text("from .ok import x\n")
    assert _emulator_reaches(tmp_path) == []
