"""Soak: hundreds of jobs through the client while the emulator faults a seeded 20% of all
calls. Bounded in count and time, loopback only. Figures are printed for the README."""

from __future__ import annotations

import asyncio
import collections

import pytest

from runcomfy.media import images as media
from runcomfy.api import RetryPolicy, RunComfyClient
from runcomfy.emulator import Emulator
from runcomfy.errors import SubmitOutcomeUnknownError
from runcomfy.journal import Journal
from runcomfy.run import Runner
from runcomfy.run.polling import PollPolicy
from runcomfy.samples import sample_image

TOKEN = "tok-soak-test-000"
MODEL = "wan-ai/wan-2-6/image-to-image"
CONCURRENCY = 25


def soak_runner(emu, journal=None):
    client = RunComfyClient(TOKEN, emu.base_url, read_timeout=1.0, pool_size=CONCURRENCY * 2,
                            retry=RetryPolicy(max_attempts=10, base_delay=0.01, max_delay=0.1,
                                              submit_max_attempts=10))
    poll = PollPolicy(first=0.02, growth=0.05, cap=0.1)
    return Runner(client, poll=poll, journal=journal, timeout=60)


async def run_all(runner, n, image_uri):
    sem = asyncio.Semaphore(CONCURRENCY)

    async def one(i):
        async with sem:
            payload = {"prompt": f"soak job {i}", "image_urls": [image_uri], "seed": i,
                       "image_size": "1344*576 (21:9)", "prompt_extend": False}
            return await runner.run_job(MODEL, payload)
    return await asyncio.gather(*(one(i) for i in range(n)), return_exceptions=True)


@pytest.fixture(scope="module")
def image_uri():
    return media.to_data_uri(media.encode_png(sample_image(1, 400, 400)), "image/png")


def test_soak_200_jobs_every_result_delivered_no_duplicate(tmp_path, image_uri):
    n = 200
    with Emulator(token=TOKEN, processing_time=0.05, workers=CONCURRENCY, idle_timeout=30) as emu:
        emu.faults.random(rate=0.2, seed=20261123, safe_submits=True, slow_delay=2.0)
        outs = asyncio.run(run_all(soak_runner(emu, Journal(tmp_path / "j.json")), n, image_uri))
        errors = [o for o in outs if isinstance(o, BaseException)]
        assert not errors, errors[:3]
        assert emu.submits_accepted == n                      # zero duplicate submits
        seeds = collections.Counter(j.payload["seed"] for j in emu.jobs.values())
        assert set(seeds) == set(range(n)) and max(seeds.values()) == 1
        for o in outs:                                         # zero lost or corrupted results
            assert o.files and o.files[0] == emu.file_bytes(o.request_id, 0)
        kinds = collections.Counter(emu.faults.injected)
        calls = len(emu.calls)
        assert sum(kinds.values()) > 0.1 * calls
        assert {e for e, _ in kinds} >= {"submit", "status", "result", "file"}
        assert not emu.internal_errors
        print(f"\nSOAK delivered={len(outs)}/{n} calls={calls} faults={sum(kinds.values())} "
              f"duplicates=0 by_kind={dict(collections.Counter(k for _, k in kinds.elements()))}")


def test_soak_with_ambiguous_submit_faults_never_pays_twice(image_uri):
    """Faults on submits include lost answers. The client must never re-send such a submit:
    every job is delivered or reported as "outcome unknown", and none is accepted twice."""
    n = 100
    with Emulator(token=TOKEN, processing_time=0.05, workers=CONCURRENCY, idle_timeout=30) as emu:
        emu.faults.random(rate=0.2, seed=7, slow_delay=2.0)
        outs = asyncio.run(run_all(soak_runner(emu), n, image_uri))
        delivered = [o for o in outs if not isinstance(o, BaseException)]
        unknown = [o for o in outs if isinstance(o, SubmitOutcomeUnknownError)]
        assert len(delivered) + len(unknown) == n, [o for o in outs if isinstance(o, BaseException)][:3]
        seeds = collections.Counter(j.payload["seed"] for j in emu.jobs.values())
        assert max(seeds.values()) == 1                        # zero duplicate submits
        known = {o.request_id for o in delivered}
        accepted_unknown = set(emu.jobs) - known
        # every job the client learned of was delivered; the rest were reported to the user
        assert len(accepted_unknown) <= len(unknown)
        for o in delivered:
            assert o.files[0] == emu.file_bytes(o.request_id, 0)
        assert unknown, "the seeded faults should have produced some lost submit answers"
        print(f"\nSOAK-AMBIGUOUS delivered={len(delivered)} unknown_reported={len(unknown)} "
              f"accepted_but_answer_lost={len(accepted_unknown)} duplicates=0")
