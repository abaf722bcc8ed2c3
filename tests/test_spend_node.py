"""The node's path to the spending limits (issue 20.4): the node's journal carries its spend tag,
so a run is written to the spend history with the node's id and the model's name, a limit refuses
a submit before anything is sent (the node's panel says why), and resuming a paid request by its id
is never refused by a limit (it costs nothing new)."""

from __future__ import annotations

import pytest

from test_node import KEY, TOKEN, FakeServer, call, kwargs  # noqa: F401

from runcomfy.spending import HistoryLog, save_limits


@pytest.fixture
def emu(start_emulator):
    return start_emulator(TOKEN, as_env=True, processing_time=0.2, workers=2)


@pytest.fixture
def server(pack, monkeypatch):
    fake = FakeServer()
    monkeypatch.setattr(pack.nodes.comfy, "prompt_server", lambda: fake)
    return fake


def test_a_node_run_is_in_the_history_and_a_limit_refuses_the_next_submit(pack, emu, server, isolated_env):
    cfg = isolated_env / "config"
    cls = pack.NODE_CLASS_MAPPINGS[KEY]
    _, _, rid = call(cls, **kwargs(seed=31))
    [c] = HistoryLog(cfg).charges().values()
    assert (c.request_id, c.node, c.name, c.source, c.state) == (rid, "12", cls.SCHEMA.display_name, "node",
                                                                 "succeeded")
    assert c.cost is not None and c.delivered is not None
    # This model's catalog entry states no price, so its cost cannot be estimated: under a limit it
    # is refused before anything is sent, and the node says why.
    save_limits(cfg, 100, None)
    with pytest.raises(Exception) as ei:
        call(cls, **kwargs(seed=32))
    assert type(ei.value).__name__ == "SpendLimitError"
    assert "daily spending limit of $100.00 is on (Settings › RunComfy Model API)" in str(ei.value)
    assert "cannot be estimated" in str(ei.value) and "Nothing was sent or charged" in server.texts[-1][1]
    assert emu.submits_accepted == 1
    # The same inputs again, and its request id put into resume_request_id: no new charge, never refused.
    again = call(cls, **kwargs(seed=31))
    fetched = call(cls, **kwargs(seed=99, resume_request_id=rid))
    assert again[2] == fetched[2] == rid and emu.submits_accepted == 1
