"""`python -m runcomfy demo` runs the node's code path end to end and prints where the result is."""

from __future__ import annotations

import logging

from PIL import Image

from runcomfy import demo


def test_demo_writes_result_and_never_prints_a_token(tmp_path, monkeypatch, capsys, caplog):
    monkeypatch.setenv("RUNCOMFY_API_TOKEN", "tok-user-SECRET-999")
    monkeypatch.setattr(demo.os, "urandom", lambda n: b"\x42" * n)  # the emulator's token becomes known
    emulator_token = "demo-" + (b"\x42" * 8).hex()
    caplog.set_level(logging.DEBUG)
    out = tmp_path / "out"
    assert demo.main(["--out", str(out), "--processing-time", "0.2"]) == 0
    printed = capsys.readouterr()
    result = out / "result_1.png"
    assert str(result.resolve()) in printed.out
    with Image.open(result) as im:
        assert im.size == (1280, 720) and im.mode == "RGB"
    everything = printed.out + printed.err + caplog.text + "".join(
        p.read_text(errors="replace") for p in out.rglob("*.json"))
    assert "tok-user-SECRET-999" not in everything and emulator_token not in everything


def test_live_without_token_explains(monkeypatch, capsys):
    monkeypatch.delenv("RUNCOMFY_API_TOKEN", raising=False)
    assert demo.main(["--live"]) == 2
    assert "RUNCOMFY_API_TOKEN" in capsys.readouterr().err
