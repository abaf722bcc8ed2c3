"""The price of a prompt before it is queued (issue 20.5, server side): POST /runcomfy-model-api/prompt/preview
says per RunComfy node how many requests a Run would send, which of them the journal will resume
instead (same inputs already ran: no new charge), and the estimate of the new ones. Read-only:
the emulator sees no submit while it answers. Real sockets against the emulator."""

from __future__ import annotations

import importlib

from tests.test_history import PER_IMAGE, _schema, env, run_node_job  # noqa: F401  (env: fixture)


def _node_class(pack, cfg):
    mn = importlib.import_module(pack.__name__ + ".nodes.model_node")
    return mn.make_node_class(_schema(cfg, PER_IMAGE), class_name="RunComfy_Test_PerImage")


def _inputs(prompt, seed=5, variations=1, **extra):
    return {"prompt": prompt, "num_images": 2, "seed": seed, "variations": variations, "dry_run": False,
            "resume_request_id": "", **extra}


def test_reused_variations_dry_run_resume_and_linked_inputs(pack, env):
    emu, cfg, h, _ = env
    cls = _node_class(pack, cfg)
    classes = {cls.__name__: cls}
    # One request of these exact inputs already ran (the node's payload: its fields, seed 5).
    run_node_job(emu, cfg, PER_IMAGE, {"prompt": "a fox", "num_images": 2, "seed": 5})
    before = emu.submits_accepted
    nodes = [
        {"id": "1", "class_type": cls.__name__, "inputs": _inputs("a fox", seed=5, variations=3)},
        {"id": "2", "class_type": cls.__name__, "inputs": _inputs("a cat", seed=1, variations=2)},
        {"id": "3", "class_type": cls.__name__, "inputs": _inputs("a fox", dry_run=True)},
        {"id": "4", "class_type": cls.__name__, "inputs": _inputs("x", resume_request_id="req-123")},
        {"id": "5", "class_type": cls.__name__, "inputs": _inputs(["9", 0])},
        {"id": "6", "class_type": "KSampler", "inputs": {}},
    ]
    status, body = h.preview({"nodes": nodes}, classes)
    assert status == 200 and body["ok"], body
    by = {n["id"]: n for n in body["nodes"]}
    per = 0.03 * 2                                   # $0.03 per image, num_images 2
    assert by["1"]["requests"] == 3 and by["1"]["reused"] == 1 and by["1"]["new_requests"] == 2
    assert abs(by["1"]["estimate_usd"] - 2 * per) < 1e-9 and "already ran" in by["1"]["reason"]
    assert by["2"]["new_requests"] == 2 and abs(by["2"]["estimate_usd"] - 2 * per) < 1e-9
    assert by["3"]["will_submit"] is False and "dry_run" in by["3"]["reason"]
    assert by["4"]["will_submit"] is False and "req-123" in by["4"]["reason"]
    assert by["5"]["will_submit"] is True and "other nodes" in by["5"]["reason"]
    assert by["6"]["will_submit"] is False and by["6"]["model_id"] is None
    assert abs(body["total_usd"] - 5 * per) < 1e-9
    assert emu.submits_accepted == before            # read-only: nothing sent


def test_a_bad_body_names_the_shape(pack, env):
    _, _, h, _ = env
    status, body = h.preview({"nodes": "x"}, {})
    assert status == 400 and "nodes" in body["error"]


def test_a_new_node_made_to_fetch_a_result_resumes_with_empty_inputs(env):
    """The tab's "fetch into new node": a fresh node has an empty prompt; with resume_request_id set
    it fetches the request (no submit) instead of being refused for the empty input."""
    import asyncio

    from runcomfy.api import RunComfyClient
    from runcomfy.errors import ValidationError
    from runcomfy.journal import Journal
    from runcomfy.run import GenerationRequest, Runner
    from runcomfy.run.polling import PollPolicy
    from tests.test_history import TOKEN

    emu, cfg, _, _ = env
    rid = run_node_job(emu, cfg, PER_IMAGE, {"prompt": "a fox", "num_images": 2, "seed": 5}).request_id
    before = emu.submits_accepted
    schema = _schema(cfg, PER_IMAGE)
    runner = Runner(RunComfyClient(TOKEN, emu.base_url), journal=Journal(cfg / "journal.json"),
                    poll=PollPolicy(first=0.05, cap=0.1), timeout=30)
    gen = asyncio.run(runner.run(GenerationRequest(schema, {"prompt": ""}, resume_request_id=rid)))
    assert gen.request_ids == [rid] and gen.outputs and emu.submits_accepted == before
    # Without a request id to fetch, the empty prompt is still refused before anything is sent.
    try:
        asyncio.run(runner.run(GenerationRequest(schema, {"prompt": ""})))
    except ValidationError as exc:
        assert "prompt" in str(exc)
    else:
        raise AssertionError("an empty required prompt was sent")
    assert emu.submits_accepted == before
