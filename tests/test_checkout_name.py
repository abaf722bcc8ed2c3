"""The README's test command must work in a clone named like the repository
(comfyui-runcomfy-model-api): not a Python name, so pytest imports the root __init__.py as a lone
file instead of as a package. Before the guard in __init__.py, every test errored there."""

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_root_init_imported_as_a_lone_file_registers_nothing_and_does_not_fail():
    spec = importlib.util.spec_from_file_location("__init__", ROOT / "__init__.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.NODE_CLASS_MAPPINGS == {} and mod.NODE_DISPLAY_NAME_MAPPINGS == {}
    assert mod.WEB_DIRECTORY == "./web"


def test_pytest_runs_in_a_checkout_named_like_the_repository(tmp_path):
    checkout = tmp_path / "comfyui-runcomfy-model-api"
    (checkout / "tests").mkdir(parents=True)
    shutil.copy(ROOT / "__init__.py", checkout / "__init__.py")
    shutil.copy(ROOT / "pyproject.toml", checkout / "pyproject.toml")
    # the real root __init__.py and pytest configuration, a minimal test beside them
    (checkout / "tests" / "test_probe.py").write_text("def test_probe():\n    assert True\n")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
                          cwd=checkout, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "1 passed" in proc.stdout
