"""Opt-in (COMFYUI_DIR): kill -9 of a real ComfyUI while a slow submit is on the wire, then a
restart on the same base directory (so the journal persists) and the same prompt: no second
charge, and the re-run says that the earlier submit may have been billed. The one-time code
from that message, typed into ``submit_anyway``, then pays once more, on purpose."""

from __future__ import annotations

import re
import secrets
import time
import uuid


from comfyui_harness import launch, NEEDS_COMFYUI

NODE_CLASS = "RunComfy_wan_ai_wan_2_6_image_to_image"
RUN_TIMEOUT = 120.0

pytestmark = NEEDS_COMFYUI


def _wait(cond, limit: float, what: str):
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _defaults(comfy) -> dict:
    """Every widget input of the node at its default (the layout is the pack's business)."""
    info = comfy.get("/object_info/" + NODE_CLASS).json()[NODE_CLASS]["input"]
    out = {}
    for group in ("required", "optional"):
        for name, spec in info.get(group, {}).items():
            opts = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
            if "default" in opts:
                out[name] = opts["default"]
            elif isinstance(spec[0], list) and spec[0]:
                out[name] = spec[0][0]
    return out


def _prompt(comfy, submit_anyway: str = "") -> dict:
    p = _prompt_base(submit_anyway)
    p["2"]["inputs"] = {**_defaults(comfy), **p["2"]["inputs"]}
    return p


def _prompt_base(submit_anyway: str) -> dict:
    return {
        "1": {"class_type": "LoadImage", "inputs": {"image": "money_input.png"}},
        "2": {"class_type": NODE_CLASS, "inputs": {
            "prompt": "The cat from image 1 on a sofa.", "image_1": ["1", 0],
            "image_size": "1280*720 (16:9)", "seed": 4242, "prompt_extend": False,
            "submit_anyway": submit_anyway}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "money"}},
    }


def _error_text(entry: dict) -> str:
    for kind, data in entry.get("status", {}).get("messages", []):
        if kind == "execution_error":
            return str(data.get("exception_message", ""))
    return ""


def test_kill_mid_submit_restart_same_prompt_no_second_charge(tmp_path):
    from PIL import Image

    from runcomfy.emulator import Emulator

    token = "rc-money-" + secrets.token_hex(12)
    emu = Emulator(token=token, processing_time=0.5, workers=2).start()
    base = tmp_path / "comfy_base"
    base.mkdir()
    try:
        (base / "input").mkdir()
        Image.new("RGB", (640, 512), (180, 90, 30)).save(base / "input" / "money_input.png")
        # The submit's answer is held for 4 s, as a slow uplink would: the kill lands mid-submit.
        emu.faults.add("submit", "slow", times=1, delay=4.0)
        comfy = launch(base, emu, token, ready_path="/object_info/" + NODE_CLASS)
        try:
            comfy.queue(_prompt(comfy), uuid.uuid4().hex)
            # the fault is taken when the request has arrived, before its answer is sent
            _wait(lambda: ("submit", "slow") in emu.faults.injected, 60, "the submit to reach the emulator")
            comfy.kill()                                   # kill -9 while the submit is in flight
        finally:
            comfy.stop()
        _wait(lambda: emu.submits_accepted == 1, 30, "the emulator to accept (and bill) the submit")

        comfy = launch(base, emu, token, ready_path="/object_info/" + NODE_CLASS)    # same base: same journal
        try:
            pid = comfy.queue(_prompt(comfy), uuid.uuid4().hex)
            entry = comfy.wait_done(pid, RUN_TIMEOUT)
            text = _error_text(entry)
            journal = (base / "runcomfy_config" / "journal.json")
            seen = (f"submits={emu.count('submit')} accepted={emu.submits_accepted} journal="
                    f"{journal.read_text() if journal.exists() else None}\n{comfy.log_tail(30)}")
            assert entry["status"]["status_str"] == "error", seen
            assert "may have been accepted and billed" in text and "UTC" in text, text
            assert emu.submits_accepted == 1 and emu.count("submit") == 1      # no second charge
            assert token not in text

            # the user read it and chose to pay again: the code works once
            code = re.search(r"resubmit-[0-9a-f]{6}", text).group(0)
            pid = comfy.queue(_prompt(comfy, code), uuid.uuid4().hex)
            entry = comfy.wait_done(pid, RUN_TIMEOUT)
            assert entry["status"]["status_str"] == "success", _error_text(entry) or comfy.log_tail()
            assert emu.submits_accepted == 2
        finally:
            comfy.stop()
        assert not emu.internal_errors, emu.internal_errors[:1]
    finally:
        emu.stop()
