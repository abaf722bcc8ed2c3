"""``python -m runcomfy {demo,emulator,bench,models}``."""

from __future__ import annotations

import sys

USAGE = """usage: python -m runcomfy COMMAND [options]

commands:
  demo       run Wan 2.6 image-to-image on two sample images (local emulator; --live for the real service)
  emulator   start the local RunComfy Model API emulator on loopback
  bench      measure the pack's overhead against a naive client (local emulator)
  models     the model catalog: sync | list [--search S] [--category C] | show MODEL_ID | snapshot
  batch      MODEL_ID JOBS.jsonl --out DIR: one job per line, resumable (--dry-run, --max-cost, --report)
"""


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
        from .bench import main as run
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
