"""The money guarantees as a ComfyUI user meets them, through the node loaded as ComfyUI loads
it, against the emulator over real sockets: an uncertain submit blocks the same prompt with a
one-time code, the code in ``submit_anyway`` pays once on purpose, and an unusable config folder
is a clear error before anything is sent."""

from __future__ import annotations

import re

import pytest

from test_node import KEY, TOKEN, FakeServer, call, kwargs  # noqa: F401  (fixtures' helpers)


@pytest.fixture
def emu(start_emulator):
    return start_emulator(TOKEN, as_env=True, processing_time=0.2, workers=2)


@pytest.fixture
def server(pack, monkeypatch):
    fake = FakeServer()
    monkeypatch.setattr(pack.nodes.comfy, "prompt_server", lambda: fake)
    return fake


def test_submit_anyway_is_the_last_optional_input_and_empty_by_default(pack):
    optional = pack.NODE_CLASS_MAPPINGS[KEY].INPUT_TYPES()["optional"]
    assert list(optional)[-1] == "submit_anyway"
    spec = optional["submit_anyway"]
    assert spec[0] == "STRING" and spec[1]["default"] == ""


def test_uncertain_submit_blocks_the_same_prompt_until_the_code_is_given(pack, emu, server):
    cls = pack.NODE_CLASS_MAPPINGS[KEY]
    emu.faults.add("submit", "drop_after", times=1)            # accepted, answer lost
    with pytest.raises(Exception, match="NOT re-sent"):
        call(cls, **kwargs(seed=901))
    assert emu.submits_accepted == 1
    with pytest.raises(Exception) as ei:
        call(cls, **kwargs(seed=901))
    text = str(ei.value)
    assert "may have been accepted and billed" in text and emu.count("submit") == 1
    code = re.search(r"resubmit-[0-9a-f]{6}", text).group(0)
    assert any(code in t for _, t in server.texts)             # the node's status shows it too
    # The panel: the code once (its own line, from resubmit_code), how to fetch once (summary, label first).
    last = [d for e, d in server.events if e == "runcomfy_model_api.status"][-1]
    assert last["resubmit_code"] == code and code not in last["summary"], last
    assert '"Resume request id" (resume_request_id)' in last["summary"], last
    images, urls, rid = call(cls, **kwargs(seed=901, submit_anyway=code))
    assert emu.submits_accepted == 2 and rid in emu.jobs and images.shape[0] == 1
    assert all(TOKEN not in t for _, t in server.texts)


def test_unusable_config_folder_is_a_clear_error_before_any_submit(pack, emu, server, tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    monkeypatch.setenv("RUNCOMFY_CONFIG_DIR", str(blocker / "config"))     # cannot be a folder
    with pytest.raises(Exception) as ei:
        call(pack.NODE_CLASS_MAPPINGS[KEY], **kwargs(seed=902))
    assert type(ei.value).__name__ == "JournalError"
    assert "cannot be written" in str(ei.value) and "Nothing was sent" in str(ei.value)
    assert emu.count("submit") == 0
    assert "cannot be written" in server.texts[-1][1]
