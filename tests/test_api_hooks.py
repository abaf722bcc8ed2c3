"""The client's extension point (runcomfy/api/hooks.py) over real sockets: observers see every
attempt of every call by its CallKind, answers, failures (a 429 with its Retry-After) and the
accepted submit; a broken observer changes nothing; ``observed`` attaches for a block only.
And errors in the layer that knows: library texts say what is wrong, never a ComfyUI page; the
node and the batch command add where to fix it."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from runcomfy.api import CallKind, ClientHooks, RetryPolicy, RunComfyClient
from runcomfy.errors import AuthError, RateLimitError
from runcomfy.samples import sample_image
from runcomfy.media import images as media

TOKEN = "tok-hooks-test-0123456789"
MODEL = "wan-ai/wan-2-6/image-to-image"
ROOT = Path(__file__).resolve().parents[1]


def _payload():
    uri = media.to_data_uri(media.encode_png(sample_image(400, 400)), "image/png")
    return {"prompt": "p", "image_urls": [uri], "image_size": "1024*1024 (1:1)"}


@pytest.fixture
def emu(start_emulator):
    return start_emulator(TOKEN, processing_time=0.1, workers=2)


def _client(emu, **kw):
    return RunComfyClient(TOKEN, emu.base_url, retry=RetryPolicy(base_delay=0.01, max_delay=0.05), **kw)


def test_observers_see_each_attempt_by_kind_and_the_accepted_submit(emu):
    emu.faults.add("submit", "http", times=1, status=429, retry_after=0)
    seen = []
    hooks = ClientHooks(on_request=lambda c: seen.append(("request", c.kind, c.request_id)),
                        on_response=lambda a: seen.append(("answer", a.call.kind, a.http_status)),
                        on_error=lambda c, e: seen.append(("error", c.kind, type(e).__name__,
                                                           getattr(e, "retry_after", None))),
                        on_submit_sent=lambda s: seen.append(("accepted", s.request_id)))
    c = _client(emu, hooks=hooks)
    try:
        sub = c.submit(MODEL, _payload())
        c.status(sub.request_id)
    finally:
        c.close()
    assert seen == [("request", CallKind.SUBMIT, None), ("error", CallKind.SUBMIT, "RateLimitError", 0.0),
                    ("request", CallKind.SUBMIT, None), ("answer", CallKind.SUBMIT, 200),
                    ("accepted", sub.request_id),
                    ("request", CallKind.STATUS, sub.request_id), ("answer", CallKind.STATUS, 200)]
    assert emu.submits_accepted == 1


def test_a_broken_observer_changes_no_outcome_and_observed_detaches(emu):
    def broken(*_a):
        raise RuntimeError("observer bug")
    c = _client(emu, hooks=ClientHooks(on_request=broken, on_response=broken, on_submit_sent=broken))
    later = []
    try:
        with c.observed(ClientHooks(on_response=lambda a: later.append(a.call.kind))):
            sub = c.submit(MODEL, _payload())          # accepted despite the broken hooks
        c.status(sub.request_id)                        # after the block: not seen
    finally:
        c.close()
    assert sub.request_id in emu.jobs and later == [CallKind.SUBMIT]


def test_a_rate_limited_read_reaches_on_error_with_retry_after(emu):
    emu.faults.add("status", "http", times=1, status=429, retry_after=0.05)
    errors = []
    c = _client(emu, hooks=ClientHooks(on_error=lambda call, e: errors.append((call.kind, e))))
    try:
        sub = c.submit(MODEL, _payload())
        c.status(sub.request_id)
    finally:
        c.close()
    assert [k for k, _ in errors] == [CallKind.STATUS]
    assert isinstance(errors[0][1], RateLimitError) and errors[0][1].retry_after == pytest.approx(0.05)


# --- errors in the layer that knows ---------------------------------------------------------

def _messages(folder: Path, root: Path = ROOT):
    """(file, text) of the string constants of the library files under ``folder`` (or that file),
    docstrings left out: the texts an error or a log can show."""
    for path in sorted(folder.rglob("*.py") if folder.is_dir() else [folder]):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docs = {id(n.body[0].value) for n in ast.walk(tree)
                if isinstance(n, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                and n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
        for n in ast.walk(tree):
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docs:
                yield str(path.relative_to(root)), n.value


def _front_end_words(folder: Path, root: Path = ROOT) -> list:
    return [(p, m[:80]) for p, m in _messages(folder, root)
            if "ComfyUI" in m or "Settings >" in m or "resume_request_id" in m or "the node" in m]


@pytest.mark.parametrize("where", ["runcomfy/api", "runcomfy/run", "runcomfy/errors.py"])
def test_library_messages_name_no_comfyui_page_or_node_input(where):
    assert _front_end_words(ROOT / where) == []


def test_the_scan_sees_a_comfyui_message(tmp_path):
    (tmp_path / "x.py").write_text('"""ComfyUI in a docstring is fine."""\n'
                                   'def f():\n    raise ValueError("set it in ComfyUI Settings > RunComfy Model API")\n')
    assert _front_end_words(tmp_path, tmp_path) == [("x.py", "set it in ComfyUI Settings > RunComfy Model API")]


def test_a_rejected_token_says_what_in_the_library_and_where_in_each_front_end(emu, tmp_path):
    from runcomfy.batch import hints
    c = RunComfyClient("wrong-token", emu.base_url, retry=RetryPolicy(base_delay=0.01, max_delay=0.05))
    try:
        with pytest.raises(AuthError) as ei:
            c.submit(MODEL, _payload())
    finally:
        c.close()
    lib = str(ei.value)
    assert "token was rejected" in lib and "profile page" in lib
    assert "ComfyUI" not in lib and "RUNCOMFY_API_TOKEN" not in lib
    cli = hints.shown(ei.value)
    assert cli.startswith(lib) and "RUNCOMFY_API_TOKEN" in cli and "--config-dir" in cli and "ComfyUI" not in cli
    assert str(ei.value) == lib          # the raised error itself is left as it was


def test_the_node_adds_where_to_fix_it_in_comfyui(pack):
    import importlib
    where = importlib.import_module(f"{pack.__name__}.nodes.where_to_fix")
    errors = importlib.import_module(f"{pack.__name__}.runcomfy.errors")
    raised = errors.AuthError("Submit: the API token was rejected.", http_status=401, error_code=400004)
    shown = where.add(raised)
    assert isinstance(shown, errors.AuthError) and shown is not raised
    assert str(shown).startswith(str(raised)) and "ComfyUI Settings > RunComfy Model API > API token" in str(shown)
    assert "ComfyUI" not in str(raised)
    unknown = errors.SubmitOutcomeUnknownError("The submit may have reached RunComfy, but its answer was lost.")
    assert '"Resume request id" (resume_request_id)' in str(where.add(unknown))
    blocked = errors.EarlierSubmitUncertainError("An earlier submit ... may have been accepted and billed.",
                                                 resubmit_code="resubmit-0a1b2c")
    assert '"Submit anyway (one-time code)" (submit_anyway)' in str(where.add(blocked))
    assert "resubmit-0a1b2c into" in str(where.add(blocked))
    other = errors.JobFailedError("The remote job failed.", request_id="r-1")
    assert where.add(other) is other          # nothing to add: the same error, unchanged
