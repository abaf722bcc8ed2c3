"""Issue 17's bug: after ``python -m runcomfy models sync`` succeeds, ``python -m runcomfy batch``
must find the models it cached, with neither told where the config folder is (both use the same
default folder). Both CLIs run as child processes against the emulator over loopback; HOME is a
temporary folder, so the default folder (~/.config/runcomfy) is too."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import ROOT
from runcomfy.emulator.catalog import sample_entries

TOKEN = "tok-cli-sync-batch-0123456789"
MODEL = "emulator-samples/image-gen/text-to-image"       # in the emulator's catalog, not shipped


def _cli(home, emu, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNCOMFY_") and k != "XDG_CONFIG_HOME"}
    env.update(HOME=str(home), USERPROFILE=str(home), RUNCOMFY_API_TOKEN=TOKEN,
               RUNCOMFY_MODEL_API_BASE=emu.base_url, RUNCOMFY_STATE_DIR=str(home / "state"), NO_PROXY="127.0.0.1")
    return subprocess.run([sys.executable, "-m", "runcomfy", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


def test_batch_finds_the_model_that_models_sync_cached_in_the_default_folder(start_emulator, tmp_path):
    emu = start_emulator(TOKEN)
    emu.serve_catalog(sample_entries(), replace=False)
    home = tmp_path / "home"
    home.mkdir()
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text(json.dumps({"key": "fox", "prompt": "a fox"}) + "\n" + json.dumps({"prompt": "an owl"}) + "\n")
    batch = ("batch", MODEL, str(jobs), "--out", str(tmp_path / "out"), "--dry-run")

    before = _cli(home, emu, *batch)
    default = home / ".config" / "runcomfy"
    assert before.returncode != 0
    assert f"unknown model {MODEL!r}" in before.stderr and "run `python -m runcomfy models sync` first" in before.stderr
    assert str(default) in before.stderr and "models --sync" not in before.stderr

    sync = _cli(home, emu, "models", "sync")
    assert sync.returncode == 0, sync.stderr
    assert any(p.name.startswith("catalog") for p in default.iterdir())      # the cache is in the default folder

    after = _cli(home, emu, *batch)
    assert after.returncode == 0, after.stderr
    assert "dry run: 2 job(s) valid, 0 invalid; nothing was sent" in after.stdout
    assert emu.count("submit") == 0
