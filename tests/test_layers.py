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
        "from runcomfy import api, run, schema, media, journal, emulator, demo\n"
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
LIBRARY_SUBPACKAGES = ("api", "run", "schema", "media", "catalog", "journal", "batch", "emulator")


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


# --- the whole pack: no import cycles, dev tools and torch and the environment in their place ---

PACK_FOLDERS = ("runcomfy", "nodes", "devtools")
# The only modules that may import torch: the node layer's tensor sockets (IMAGE in tensors.py,
# AUDIO waveforms in audio_io.py). Everything else, library and dev tools, works without torch.
TORCH_MODULES = ("nodes/tensors.py", "nodes/audio_io.py")
# The only module that reads the environment (library and node layer; dev tools and tests may).
SETTINGS_MODULE = "runcomfy/settings.py"
# The only library module that imports the dev tools: `python -m runcomfy bench`, inside a function.
DEVTOOLS_ENTRY = "runcomfy/__main__.py"
ENVIRON_NAMES = {"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"}


def _lazy_nodes(tree) -> set[int]:
    return {id(sub) for fn in ast.walk(tree) if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef))
            for sub in ast.walk(fn) if isinstance(sub, (ast.Import, ast.ImportFrom))}


def _module_of(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _pack_edges(root: Path, path: Path):
    """(line, pack module imported, lazy?) for every import of a pack module in ``path``, relative or
    absolute, at module level or inside a function. ``from P import n`` is module P.n when that is
    a module, else P itself (its ``__init__`` or module file)."""
    package = list(path.relative_to(root).parts[:-1])
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    lazy = _lazy_nodes(tree)

    def deepest(parts):
        for k in range(len(parts), 0, -1):
            if _module_file(root, ".".join(parts[:k])) is not None:
                return ".".join(parts[:k])
        return None

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _top(alias.name) in PACK_FOLDERS and deepest(alias.name.split(".")):
                    yield node.lineno, deepest(alias.name.split(".")), id(node) in lazy
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                if not node.module or _top(node.module) not in PACK_FOLDERS:
                    continue
                base = node.module.split(".")
            elif node.level - 1 > len(package):
                continue
            else:
                base = package[:len(package) - (node.level - 1)] + (node.module.split(".") if node.module else [])
            for alias in node.names:
                if _module_file(root, ".".join(base + [alias.name])) is not None:
                    yield node.lineno, ".".join(base + [alias.name]), id(node) in lazy
                elif base and deepest(base):
                    yield node.lineno, deepest(base), id(node) in lazy


def _import_cycles(root: Path) -> list[str]:
    """Every import cycle among the pack's modules (strongly connected components of the graph
    of module-level and lazy imports), each as 'a -> b -> ... -> a'."""
    graph: dict[str, set[str]] = {}
    for folder in PACK_FOLDERS:
        for path in sorted((root / folder).rglob("*.py")) if (root / folder).is_dir() else []:
            me = _module_of(root, path)
            graph.setdefault(me, set()).update(t for _, t, _ in _pack_edges(root, path) if t != me)
    order, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):                     # Tarjan; the pack's graph is shallow enough for recursion
        order[v] = low[v] = len(order)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in order:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], order[w])
        if low[v] == order[v]:
            comp = []
            while not comp or comp[-1] != v:
                comp.append(stack.pop())
                on_stack.discard(comp[-1])
            if len(comp) > 1:
                found.append(_a_cycle(graph, sorted(comp)))

    for v in sorted(graph):
        if v not in order:
            visit(v)
    return found


def _a_cycle(graph: dict, comp: list[str]) -> str:
    """One concrete cycle through the component's first module, for the message."""
    members, start = set(comp), comp[0]
    paths, todo = {start: [start]}, [start]
    while todo:
        v = todo.pop(0)
        for w in sorted(graph[v] & members):
            if w == start:
                return " -> ".join(paths[v] + [start])
            if w not in paths:
                paths[w] = paths[v] + [w]
                todo.append(w)
    return " <-> ".join(comp)


def _placement_violations(root: Path) -> list[str]:
    """torch outside TORCH_MODULES (anywhere in the pack), the environment read outside
    SETTINGS_MODULE (library and node layer), dev tools imported by the library."""
    out = []
    for folder in PACK_FOLDERS:
        for path in sorted((root / folder).rglob("*.py")) if (root / folder).is_dir() else []:
            rel = path.relative_to(root).as_posix()
            tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
            lazy = _lazy_nodes(tree)
            for node in ast.walk(tree):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                         [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
                if any(_top(n) == "torch" for n in names) and rel not in TORCH_MODULES:
                    out.append(f"{rel}:{node.lineno}: torch outside {', '.join(TORCH_MODULES)}")
                if folder == "runcomfy" and any(_top(n) == "devtools" for n in names) and not (
                        rel == DEVTOOLS_ENTRY and id(node) in lazy):
                    out.append(f"{rel}:{node.lineno}: the library imports the dev tools")
                if folder == "devtools" or rel == SETTINGS_MODULE:
                    continue
                reads = (isinstance(node, ast.Attribute) and node.attr in ENVIRON_NAMES
                         and isinstance(node.value, ast.Name) and node.value.id == "os") or (
                    isinstance(node, ast.ImportFrom) and node.module == "os"
                    and any(a.name in ENVIRON_NAMES for a in node.names))
                if reads:
                    out.append(f"{rel}:{node.lineno}: reads the environment outside {SETTINGS_MODULE}")
    return out


def test_the_pack_has_no_import_cycles():
    assert _import_cycles(ROOT) == []


def test_torch_dev_tools_and_the_environment_stay_in_their_modules():
    assert _placement_violations(ROOT) == []
    assert all((ROOT / m).is_file() for m in TORCH_MODULES + (SETTINGS_MODULE, DEVTOOLS_ENTRY))


def _tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def test_the_cycle_check_sees_module_level_lazy_absolute_and_package_cycles(tmp_path):
    clean = {"runcomfy/__init__.py": "", "runcomfy/a.py": "from . import b\n", "runcomfy/b.py": "import json\n",
             "runcomfy/pkg/__init__.py": "from .x import X\n", "runcomfy/pkg/x.py": "from ..a import b\nX = 1\n",
             "nodes/__init__.py": "from ..runcomfy import pkg\n", "devtools/__init__.py": "",
             "devtools/t.py": "from runcomfy.a import b\n"}
    assert _import_cycles(_tree(tmp_path / "ok", clean)) == []
    assert _import_cycles(_tree(tmp_path / "lazy", {**clean, "runcomfy/b.py": "def f():\n    from .a import x\n"})) == [
        "runcomfy.a -> runcomfy.b -> runcomfy.a"]
    # a submodule importing a name back from its package's __init__ (the old nodes/__init__ cycle)
    assert _import_cycles(_tree(tmp_path / "pkg", {**clean, "runcomfy/pkg/x.py": "from . import Y\n"})) == [
        "runcomfy.pkg -> runcomfy.pkg.x -> runcomfy.pkg"]
    assert _import_cycles(_tree(tmp_path / "abs", {**clean, "devtools/u.py": "import devtools.t\n",
                                                   "devtools/t.py": "def g():\n    import devtools.u\n"})) == [
        "devtools.t -> devtools.u -> devtools.t"]
    assert _import_cycles(_tree(tmp_path / "layers", {**clean, "runcomfy/b.py": "from ..nodes import z\n",
                                                      "nodes/z.py": "from ..runcomfy import a\n"})) == [
        "nodes.z -> runcomfy.a -> runcomfy.b -> nodes.z"]


def test_the_placement_check_sees_torch_dev_tools_and_environment_reads(tmp_path):
    root = _tree(tmp_path, {
        "runcomfy/__init__.py": "",
        "runcomfy/settings.py": "import os\nX = os.environ.get('A')\n",
        "runcomfy/__main__.py": "def bench():\n    from devtools.bench import main\n",
        "runcomfy/api/x.py": "import os\nfrom os import getenv\n\ndef f():\n    import torch\n    return os.environ['A']\n",
        "runcomfy/cli.py": "import devtools.bench\n",
        "nodes/tensors.py": "import torch\n", "nodes/audio_io.py": "import torch\n",
        "nodes/inputs.py": "import os\nfrom torch import nn\nY = os.getenv('B')\n",
        "devtools/bench.py": "import os\nimport torch.nn\nZ = os.environ.get('C')\n",
    })
    assert sorted(_placement_violations(root)) == sorted([
        "devtools/bench.py:2: torch outside nodes/tensors.py, nodes/audio_io.py",
        "nodes/inputs.py:2: torch outside nodes/tensors.py, nodes/audio_io.py",
        "nodes/inputs.py:3: reads the environment outside runcomfy/settings.py",
        "runcomfy/api/x.py:2: reads the environment outside runcomfy/settings.py",
        "runcomfy/api/x.py:5: torch outside nodes/tensors.py, nodes/audio_io.py",
        "runcomfy/api/x.py:6: reads the environment outside runcomfy/settings.py",
        "runcomfy/cli.py:1: the library imports the dev tools"])
    (root / "runcomfy" / "__main__.py").write_text("from devtools.bench import main\n")     # not lazy
    assert "runcomfy/__main__.py:1: the library imports the dev tools" in _placement_violations(root)
