"""`python -m runcomfy bench` reaches the dev tools (devtools/bench, outside the library) from the
pack's folder and from elsewhere, and says clearly where they are when a copy has none."""

from __future__ import annotations

import shutil
import subprocess
import sys

from conftest import ROOT


def run(args, cwd, timeout=120):
    return subprocess.run([sys.executable, "-m", "runcomfy", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


def test_bench_runs_from_the_pack_root_and_from_another_folder(tmp_path):
    assert run(["bench", "--help"], ROOT).returncode == 0
    proc = subprocess.run([sys.executable, "-c", "import sys, runpy; sys.argv = ['runcomfy', 'bench', '--help']; "
                           "runpy.run_module('runcomfy', run_name='__main__')"],
                          cwd=tmp_path, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "usage: python -m runcomfy bench" in proc.stdout, proc.stderr[-2000:]


def test_a_copy_without_devtools_says_where_the_benchmark_is(tmp_path):
    shutil.copytree(ROOT / "runcomfy", tmp_path / "runcomfy", ignore=shutil.ignore_patterns("__pycache__", "schemas",
                                                                                            "data"))
    proc = run(["bench", "--quick"], tmp_path)
    assert proc.returncode == 2
    assert "development tool" in proc.stderr and "devtools" in proc.stderr and "git checkout" in proc.stderr
    assert "Traceback" not in proc.stderr
