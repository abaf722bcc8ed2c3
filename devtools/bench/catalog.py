"""Benchmark section "catalog scale": what a 400-model catalog costs ComfyUI's start.

- ``models sync``: the CLI against an emulator started with ``--catalog FILE`` of N generated
  entries, both in child processes, wall time of the CLI until its cache is written and the pack,
  loaded as ComfyUI loads it, has its node classes.
- import: the pack imported the ComfyUI way in a fresh interpreter, with the shipped model only
  and with the N-model cache; the catalog's own cost is the difference. Median of several runs.
- ``/object_info``: the bytes the pack's nodes add to ComfyUI's node definitions (ComfyUI's own
  node_info shape), and RSS / tracemalloc of the import.
- a catalog that does not answer: the import with a stale cache and an emulator that holds the
  catalog call, i.e. the start-up refresh's bounded wait (the refresh then finishes in the background).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ..packload import PACK_ROOT
from runcomfy.emulator.catalog import catalog_document, generate_entries

N_MODELS = 400
TOKEN = "bench-catalog-token-0123456789"

# Runs in a fresh interpreter: import the pack as ComfyUI does, then measure.
_CHILD = r"""
import json, sys, time, tracemalloc
def rss_kb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0
sys.path.insert(0, sys.argv[1])
trace = sys.argv[2] == "trace"
if sys.argv[3] == "warm":          # what ComfyUI has imported before it loads custom nodes
    import numpy, requests, PIL.Image  # noqa: F401
r0 = rss_kb()
if trace:
    tracemalloc.start()
import importlib.util
t, c = time.perf_counter(), time.process_time()
spec = importlib.util.spec_from_file_location("bench_pack", sys.argv[1] + "/__init__.py",
                                              submodule_search_locations=[sys.argv[1]])
pack = importlib.util.module_from_spec(spec)
sys.modules["bench_pack"] = pack
spec.loader.exec_module(pack)           # what ComfyUI's load_custom_node does
seconds, cpu = time.perf_counter() - t, time.process_time() - c
peak = tracemalloc.get_traced_memory()[1] if trace else None
r1 = rss_kb()
from devtools.packload import object_info
info = json.dumps(object_info(pack), default=str)
print(json.dumps({"seconds": seconds, "cpu_seconds": cpu, "nodes": len(pack.NODE_CLASS_MAPPINGS), "object_info_bytes": len(info),
                  "rss_rise_kb": r1 - r0, "tracemalloc_peak": peak}))
"""


def _env(cfg: Path, base: str, refresh: str = "0") -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNCOMFY_")}
    env.update(RUNCOMFY_CONFIG_DIR=str(cfg), RUNCOMFY_MODEL_API_BASE=base, RUNCOMFY_API_TOKEN=TOKEN,
               RUNCOMFY_CATALOG_REFRESH=refresh, NO_PROXY="127.0.0.1")
    return env


def _child_import(cfg: Path, base: str, *, trace: bool = False, refresh: str = "0", warm: bool = False) -> dict:
    out = subprocess.run([sys.executable, "-c", _CHILD, str(PACK_ROOT), "trace" if trace else "time",
                          "warm" if warm else "cold"],
                         env=_env(cfg, base, refresh), cwd=str(PACK_ROOT), capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        raise RuntimeError(f"pack import failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _start_emulator_cli(catalog_file: Path) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "runcomfy", "emulator", "--port", "0", "--token", TOKEN,
                             "--catalog", str(catalog_file), "--duration", "600"], cwd=str(PACK_ROOT),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = proc.stdout.readline()
    if " at " not in first:
        proc.kill()
        raise RuntimeError(f"emulator did not start: {proc.stderr.read()[-2000:]}")
    return proc, first.split(" at ", 1)[1].strip()


def section_catalog(quick: bool = False, n_models: int = N_MODELS) -> dict:
    runs = 1 if quick else 5
    with tempfile.TemporaryDirectory(prefix="runcomfy-bench-catalog-") as tmp:
        tmp = Path(tmp)
        catalog_file = tmp / "catalog.json"
        entries = generate_entries(n_models, seed=400)
        catalog_file.write_text(json.dumps(catalog_document(entries, "synthetic, for the benchmark")))
        emu, base = _start_emulator_cli(catalog_file)
        try:
            cfg = tmp / "cfg"
            t = time.perf_counter()
            cli = subprocess.run([sys.executable, "-m", "runcomfy", "models", "sync", "--build-nodes", "--json"],
                                 cwd=str(PACK_ROOT), env=_env(cfg, base), capture_output=True, text=True,
                                 timeout=600)
            cli_wall = time.perf_counter() - t
            if cli.returncode != 0:
                raise RuntimeError(f"models sync failed: {cli.stderr[-2000:]}")
            synced = json.loads(cli.stdout)
            empty = tmp / "empty"
            shipped = [_child_import(empty, base) for _ in range(runs)]
            full = [_child_import(cfg, base) for _ in range(runs)]
            warm_shipped = [_child_import(empty, base, warm=True) for _ in range(runs)]
            warm_full = [_child_import(cfg, base, warm=True) for _ in range(runs)]
            traced_shipped = _child_import(empty, base, trace=True)
            traced_full = _child_import(cfg, base, trace=True)
        finally:
            emu.terminate()
            emu.wait(timeout=10)
        stalled = None
        if not quick:
            stalled = _stalled_start(tmp)
    med = lambda rows, k: statistics.median(r[k] for r in rows)
    return {
        "models": n_models, "runs": runs,
        "cli_sync_wall_s": cli_wall, "sync_s": synced["seconds"], "pages": -(-n_models // 100),
        "cli_nodes": synced["nodes"]["nodes"], "cli_build_s": synced["nodes"]["seconds"],
        "import_shipped_s": med(shipped, "seconds"), "import_catalog_s": med(full, "seconds"),
        "import_catalog_max_s": max(r["seconds"] for r in full),
        "import_warm_shipped_s": med(warm_shipped, "seconds"), "import_warm_catalog_s": med(warm_full, "seconds"),
        "import_cpu_shipped_s": med(shipped, "cpu_seconds"), "import_cpu_catalog_s": med(full, "cpu_seconds"),
        "import_warm_cpu_shipped_s": med(warm_shipped, "cpu_seconds"),
        "import_warm_cpu_catalog_s": med(warm_full, "cpu_seconds"),
        "loadavg": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "nodes_shipped": shipped[0]["nodes"], "nodes_catalog": full[0]["nodes"],
        "object_info_shipped_bytes": shipped[0]["object_info_bytes"],
        "object_info_catalog_bytes": full[0]["object_info_bytes"],
        "rss_rise_shipped_mb": med(shipped, "rss_rise_kb") / 1024, "rss_rise_catalog_mb": med(full, "rss_rise_kb") / 1024,
        "tracemalloc_shipped_mb": traced_shipped["tracemalloc_peak"] / 1e6,
        "tracemalloc_catalog_mb": traced_full["tracemalloc_peak"] / 1e6,
        "stalled_start": stalled,
    }


def _stalled_start(tmp: Path) -> dict:
    """Import with no cache while the catalog call never answers in time: the bounded wait."""
    from runcomfy.emulator import Emulator
    emu = Emulator(token=TOKEN).start()
    try:
        emu.faults.add("models", "slow", times=None, delay=30)
        row = _child_import(tmp / "stalled", emu.base_url, refresh="1")
    finally:
        emu.stop()
    return {"seconds": row["seconds"], "nodes": row["nodes"]}


def _row(label: str, shipped: float, full: float) -> str:
    return f"     {label:<34}{shipped:>13.3f}s{full:>11.3f}s{full - shipped:>13.3f}s"


def render(c: dict) -> str:
    added = c["object_info_catalog_bytes"] - c["object_info_shipped_bytes"]
    L = [f"6. Catalog scale: {c['models']} generated catalog entries (synthetic, ~3 KB of schema each), "
         f"median of {c['runs']} fresh interpreters",
         f"     models sync (CLI, child process) {c['cli_sync_wall_s']:>7.2f} s wall: {c['pages']} pages in "
         f"{c['sync_s']:.2f} s, then the pack loaded with {c['cli_nodes']} node classes in {c['cli_build_s']:.2f} s",
         f"     {'':<34}{'shipped only':>14}{'+ catalog':>12}{'catalog adds':>14}",
         f"     {'node classes':<34}{c['nodes_shipped']:>14}{c['nodes_catalog']:>12}"
         f"{c['nodes_catalog'] - c['nodes_shipped']:>14}",
         _row("pack import, cold: wall", c["import_shipped_s"], c["import_catalog_s"]),
         _row("                   CPU", c["import_cpu_shipped_s"], c["import_cpu_catalog_s"]),
         _row("numpy/requests/Pillow loaded", c["import_warm_shipped_s"], c["import_warm_catalog_s"]),
         _row("  (as in ComfyUI): CPU", c["import_warm_cpu_shipped_s"], c["import_warm_cpu_catalog_s"]),
         f"     {'/object_info of the pack':<34}{c['object_info_shipped_bytes'] / 1e6:>11.3f} MB"
         f"{c['object_info_catalog_bytes'] / 1e6:>9.3f} MB{added / 1e6:>11.3f} MB",
         f"     {'RSS rise of the import':<34}{c['rss_rise_shipped_mb']:>11.1f} MB{c['rss_rise_catalog_mb']:>9.1f} MB"
         f"{c['rss_rise_catalog_mb'] - c['rss_rise_shipped_mb']:>11.1f} MB",
         f"     {'tracemalloc peak of the import':<34}{c['tracemalloc_shipped_mb']:>11.1f} MB"
         f"{c['tracemalloc_catalog_mb']:>9.1f} MB{c['tracemalloc_catalog_mb'] - c['tracemalloc_shipped_mb']:>11.1f} MB",
         f"     (a fresh interpreter imports requests, numpy and Pillow for the pack too; slowest cold "
         f"import with the catalog {c['import_catalog_max_s']:.3f} s; 1-min load average "
         f"{c['loadavg'] or 0:.1f}: wall times grow with other processes on the CPUs, CPU times much less)"]
    if c.get("stalled_start"):
        s = c["stalled_start"]
        L.append(f"     start with no cache while the catalog does not answer: import {s['seconds']:.2f} s "
                 f"({s['nodes']} shipped node), the refresh waits at most 5 s and goes on in the background")
    return "\n".join(L)


def main(argv: list[str] | None = None) -> int:
    import argparse
    ap = argparse.ArgumentParser(prog="python -m devtools.bench.catalog", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--models", type=int, default=N_MODELS)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    res = section_catalog(args.quick, args.models)
    print(json.dumps(res, indent=2) if args.json else render(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
