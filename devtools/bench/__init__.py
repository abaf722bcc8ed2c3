"""``python -m runcomfy bench`` (or ``python -m devtools.bench``): what the pack costs on top of
the remote model, measured. core: sections 1-5 and the report; common: what the sections share;
link: upload formats and a shaped link (7-8); batch: the batch at scale (9); catalog: the catalog
at scale (6); video: video in and out (10); emulator_child: the emulator in a child process."""


def main(argv: list[str] | None = None) -> int:
    from .core import main as run
    return run(argv)
