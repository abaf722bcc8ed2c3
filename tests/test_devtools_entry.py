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


def test_build_nodes_configures_the_loaded_pack_without_touching_the_environment(tmp_path, monkeypatch):
    """`models sync --build-nodes` (devtools/packload.py) hands the folder and API to the loaded
    pack's own settings module, not to os.environ: the nodes come from that folder's cache."""
    import os
    import time

    from devtools import packload
    from runcomfy.catalog import Cache, cache_path, write_cache
    from runcomfy.emulator.catalog import runnable_sample_ids, sample_entries

    for name in ("RUNCOMFY_CONFIG_DIR", "RUNCOMFY_MODEL_API_BASE", "RUNCOMFY_CATALOG_REFRESH"):
        monkeypatch.delenv(name, raising=False)
    base, cfg = "http://127.0.0.1:9/v1", tmp_path / "cfg"
    docs = [d for d in sample_entries() if d["model_id"] in runnable_sample_ids()]
    write_cache(cache_path(cfg, base), Cache(base_url=base, fetched_at=time.time(), models=docs, total=len(docs)))
    before = dict(os.environ)
    out = packload.build_nodes(cfg, base)
    assert dict(os.environ) == before
    # the cache's models (one sample is built to have no node) + the shipped Wan 2.6, as in the golden fixture
    assert out["nodes"] == len(docs) - 1 + 1 == 12 and out["object_info_bytes"] > 10_000
