"""A separate OS process that runs one job through the pack's job code, for the tests that need
a second ComfyUI-like process (a shared journal) or one that gets killed mid-submit.

usage: python money_worker.py ROOT BASE_URL TOKEN JOURNAL PROMPT  -> prints one JSON line
"""

import asyncio
import json
import sys

if __name__ == "__main__":      # run as a script: the pack's root comes first on the path
    sys.path.insert(0, sys.argv[1])

from runcomfy.media import images as media  # noqa: E402
from runcomfy.api import RetryPolicy, RunComfyClient  # noqa: E402
from runcomfy.journal import Journal  # noqa: E402
from runcomfy.run import Runner  # noqa: E402
from runcomfy.run.polling import PollPolicy  # noqa: E402
from runcomfy.samples import sample_image  # noqa: E402

MODEL = "wan-ai/wan-2-6/image-to-image"


def payload(prompt: str) -> dict:
    uri = media.to_data_uri(media.encode_png(sample_image(1, 400, 400)), "image/png")
    return {"prompt": prompt, "image_urls": [uri], "seed": 5, "image_size": "1344*576 (21:9)",
            "prompt_extend": False}


def main() -> None:
    _, _root, base, token, journal, prompt = sys.argv
    client = RunComfyClient(token, base, retry=RetryPolicy(base_delay=0.01, max_delay=0.05))
    runner = Runner(client, journal=Journal(journal), poll=PollPolicy(first=0.05, cap=0.1), timeout=60)
    print(json.dumps({"ready": True}), flush=True)
    try:
        out = asyncio.run(runner.run_job(MODEL, payload(prompt)))
        print(json.dumps({"request_id": out.request_id, "resumed": out.resumed}), flush=True)
    except Exception as exc:  # reported to the parent test, which judges it
        print(json.dumps({"error": type(exc).__name__, "text": str(exc)}), flush=True)


if __name__ == "__main__":
    main()
