"""``python -m runcomfy {demo,emulator,models,batch,bench}``."""

from __future__ import annotations

import sys
from pathlib import Path

USAGE = """usage: python -m runcomfy COMMAND [options]

commands:
  demo       run Wan 2.6 image-to-image on two sample images (local emulator; --live for the real service)
  emulator   start the local RunComfy Model API emulator on loopback
  bench      measure the pack's overhead against a naive client (local emulator)
  models     the model catalog: sync | list [--search S] [--category C] | show MODEL_ID | snapshot
  batch      MODEL_ID JOBS.jsonl --out DIR: one job per line, resumable (--dry-run, --max-cost, --report)
"""


def _bench_main():
    """The benchmark is a development tool (devtools/bench, beside this package in a checkout of
    the pack): imported here, lazily, and nowhere else in the library."""
    root = Path(__file__).resolve().parents[1]
    if not (root / "devtools" / "bench" / "__init__.py").is_file():
        print(f"bench: the benchmark is a development tool in the pack's devtools/ folder ({root / 'devtools'}), "
              "which comes with a git checkout of the pack, not with an installed copy.", file=sys.stderr)
        return None
    if str(root) not in sys.path:          # run from another folder than the pack's
        sys.path.insert(0, str(root))
    from devtools.bench import main
    return main


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0
    cmd, rest = argv[0], argv[1:]
    if cmd == "demo":
        from .demo import main as run
    elif cmd == "emulator":
        from .emulator.cli import main as run
    elif cmd == "bench":
        run = _bench_main()
        if run is None:
            return 2
    elif cmd == "models":
        from .catalog.cli import main as run
    elif cmd == "batch":
        from .batch.cli import main as run
    else:
        print(f"unknown command {cmd!r}\n\n{USAGE}", file=sys.stderr)
        return 2
    return run(rest) or 0


if __name__ == "__main__":
    sys.exit(main())
