"""Shared fixtures. The pack is loaded the way ComfyUI loads a custom node: its root
``__init__.py`` imported as a package under the directory's name."""

from __future__ import annotations

import importlib.util
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def load_pack(root: Path = ROOT, name: str | None = None):
    """Import a pack directory as ComfyUI does (spec_from_file_location on __init__.py)."""
    name = name or f"runcomfy_pack_{uuid.uuid4().hex[:8]}"
    spec = importlib.util.spec_from_file_location(name, root / "__init__.py",
                                                  submodule_search_locations=[str(root)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def pack():
    return load_pack(ROOT, "runcomfy_pack")


@pytest.fixture
def isolated_env(tmp_path, monkeypatch):
    """Keep saved tokens and journals of the machine out of the tests."""
    monkeypatch.setenv("RUNCOMFY_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("RUNCOMFY_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("RUNCOMFY_API_TOKEN", raising=False)
    monkeypatch.delenv("RUNCOMFY_MODEL_API_BASE", raising=False)
    monkeypatch.delenv("RUNCOMFY_DOWNLOAD_HOSTS", raising=False)
    return tmp_path


@pytest.fixture
def start_emulator(isolated_env, monkeypatch):
    """Starts emulators; with ``as_env=True`` the pack's nodes are pointed at it (token + base URL).
    Every emulator is stopped at the end and must have logged no internal error."""
    from runcomfy.emulator import Emulator

    started = []

    def start(token: str, *, as_env: bool = False, **kwargs):
        emu = Emulator(token=token, **kwargs).start()
        started.append(emu)
        if as_env:
            monkeypatch.setenv("RUNCOMFY_API_TOKEN", token)
            monkeypatch.setenv("RUNCOMFY_MODEL_API_BASE", emu.base_url)
        return emu

    yield start
    for emu in started:
        emu.stop()
    for emu in started:
        assert not emu.internal_errors, emu.internal_errors[:1]
