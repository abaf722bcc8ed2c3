"""``python -m runcomfy demo``: the node's own code path on two sample images, against an
emulator started here, or against the real service with ``--live``."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from .media import images as media
from .api import RunComfyClient
from .api.urls import TOKEN_ENV, resolve_base_url
from .errors import RunComfyError
from .pricing import format_usd
from .journal import Journal
from .run import Hooks, Runner
from .samples import sample_image
from .schema import find_schema
from .settings import api_token

MODEL_ID = "wan-ai/wan-2-6/image-to-image"
PROMPT = ("On the left sits the monster from image 1, and on the right sits the monster from image 2. "
          "The two of them are like radio hosts, wearing headphones in a recording studio.")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m runcomfy demo", description=__doc__)
    ap.add_argument("--live", action="store_true",
                    help=f"call the real RunComfy service (needs {TOKEN_ENV}; costs money)")
    ap.add_argument("--out", default="demo-output", help="folder for the result PNGs (default: demo-output)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--image-size", default="1280*720 (16:9)")
    ap.add_argument("--processing-time", type=float, default=2.0, help="emulated job length in seconds")
    args = ap.parse_args(argv)
    schema = find_schema(MODEL_ID)
    emu = None
    if args.live:
        token = api_token()
        if not token:
            print(f"--live needs the environment variable {TOKEN_ENV} (your RunComfy API token).", file=sys.stderr)
            return 2
        base = resolve_base_url()
        print(f"Calling the real RunComfy Model API at {base} (this run is billed).")
    else:
        from .emulator import Emulator
        token = "demo-" + os.urandom(8).hex()
        emu = Emulator(token=token, processing_time=args.processing_time).start()
        base = emu.base_url
        print(f"Started the local RunComfy emulator at {base} (nothing is billed).")
    out = Path(args.out)
    try:
        client = RunComfyClient(token, base)
        runner = Runner(client, journal=Journal(out / ".journal.json"))
        images = [sample_image(1), sample_image(2, 640, 896)]
        fields = {"prompt": PROMPT, "image_size": args.image_size, "seed": args.seed,
                  "negative_prompt": schema.field("negative_prompt").default, "prompt_extend": True}

        def show(u):
            if u.state not in ("queued", "running") or int(u.elapsed * 4) % 4 == 0:
                print("  " + u.text(), flush=True)

        gen = asyncio.run(runner.generate(schema, fields, images={"image_urls": images},
                                          hooks=Hooks(on_update=show)))
    except RunComfyError as exc:
        print(f"Demo failed: {exc}", file=sys.stderr)
        return 1
    finally:
        if emu is not None:
            emu.stop()
    out.mkdir(parents=True, exist_ok=True)
    for i, arr in enumerate(images, 1):
        (out / f"input_{i}.png").write_bytes(media.encode_png(arr))
    written = []
    for i, arr in enumerate(gen.images, 1):
        path = out / f"result_{i}.png"
        path.write_bytes(media.encode_png(arr))
        written.append(path)
    cost = f", cost {format_usd(gen.cost)}" if gen.cost is not None else ""
    print(f"Request {', '.join(gen.request_ids)} done{cost}.")
    for path, arr in zip(written, gen.images):
        print(f"Wrote {path.resolve()} ({arr.shape[1]}x{arr.shape[0]})")
    return 0
