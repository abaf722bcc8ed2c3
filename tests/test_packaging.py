"""Comfy Registry metadata and install layout (the checks `comfy node validate` makes, and the
registry's stated rules), so a bad pyproject.toml is caught before publishing."""

from __future__ import annotations

import re
import tomllib

from PIL import Image

from conftest import ROOT

VERSION_SPEC = re.compile(r"^(?:(==|>=|<=|!=|~=|>|<|<>|=)\s*)?(\d+\.\d+\.\d+(?:-[a-zA-Z0-9]+)?)?$")


def load():
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_project_table():
    p = load()["project"]
    assert re.fullmatch(r"[A-Za-z][A-Za-z0-9]*(?:[-_.][A-Za-z0-9]+)*", p["name"]) and len(p["name"]) < 100
    assert re.fullmatch(r"\d+\.\d+\.\d+", p["version"])
    assert p["license"] == {"file": "LICENSE"} and (ROOT / "LICENSE").exists()
    assert p["urls"]["Repository"].startswith("https://")
    for c in p.get("classifiers", []):
        if c.startswith("Operating System ::"):
            assert c.split(" :: ")[1] in ("Microsoft", "POSIX", "MacOS", "OS Independent")
        assert not c.startswith("Environment ::") or c in (
            "Environment :: GPU :: NVIDIA CUDA", "Environment :: GPU :: AMD ROCm", "Environment :: GPU :: Intel Arc",
            "Environment :: NPU :: Huawei Ascend", "Environment :: GPU :: Apple Metal")
    from runcomfy import __version__
    assert p["version"] == __version__


def test_tool_comfy_table():
    c = load()["tool"]["comfy"]
    assert c["PublisherId"] and c["DisplayName"]
    assert VERSION_SPEC.match(c["requires-comfyui"])
    icon = c["Icon"]
    assert icon.startswith("https://") and icon.endswith("docs/icon.png")
    with Image.open(ROOT / "docs" / "icon.png") as im:
        assert im.size[0] == im.size[1] <= 400


def test_requirements_never_pull_torch():
    # ComfyUI brings its own torch; a bare "torch" here would make ComfyUI-Manager install a CUDA build.
    reqs = (ROOT / "requirements.txt").read_text().splitlines()
    names = [re.split(r"[<>=!~ ;\[]", r.strip())[0].lower() for r in reqs if r.strip() and not r.startswith("#")]
    assert "torch" not in names and {"requests", "pillow", "numpy"} <= set(names)
    assert set(names) == {re.split(r"[<>=!~ ;\[]", d)[0].lower() for d in load()["project"]["dependencies"]}


def test_no_eval_or_exec_in_pack():
    for path in list((ROOT / "runcomfy").rglob("*.py")) + list((ROOT / "nodes").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"(?<![\w.])(eval|exec)\(", text), path


def test_the_registry_archive_leaves_the_dev_tools_out():
    """devtools/ (benchmark, photo study, pack loader, golden generator) is not part of what users
    run: .comfyignore keeps it out of the registry archive and [tool.comfy].includes does not put
    it back; the library works without it (only `bench` and `--build-nodes` need it, and say so)."""
    ignored = [l.strip() for l in (ROOT / ".comfyignore").read_text().splitlines() if l.strip() and not l.startswith("#")]
    assert "devtools/" in ignored
    assert not any(str(i).strip("/").startswith("devtools") for i in load()["tool"]["comfy"].get("includes", []))
    assert (ROOT / "devtools" / "bench" / "__init__.py").is_file()       # a checkout has them
