"""The Python side of the contracts in tests/contracts/ (the web side: tests/web/contracts.test.js).

status_event.json: every state the pack can send in a "runcomfy_model_api.status" event is listed (read from
the source, so a new state fails here until the fixture and web/lib/format.js know it), every field
the node sends is declared, and every example is valid and its text is what Python writes.
money.json: runcomfy/pricing.py gives the fixture's texts."""

from __future__ import annotations

import ast
import json

import pytest

from conftest import ROOT
from runcomfy import pricing
from runcomfy.api import records as client
from runcomfy.run.jobs.model import Update

CONTRACTS = ROOT / "tests" / "contracts"
STATUS = json.loads((CONTRACTS / "status_event.json").read_text(encoding="utf-8"))
MONEY = json.loads((CONTRACTS / "money.json").read_text(encoding="utf-8"))
_JSON_TYPES = {"string": str, "number": (int, float), "integer": int, "null": type(None), "boolean": bool,
               "array": list, "object": dict}


def _calls(path):
    return [n for n in ast.walk(ast.parse(path.read_text(encoding="utf-8"))) if isinstance(n, ast.Call)]


def _strings(node) -> set[str]:
    return {n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)}


def update_states(root=ROOT) -> set[str]:
    """States the job code reports through ``update(state, ...)`` (literal, or a conditional of
    literals), plus every job state the client normalises the service's answers to (passed on as
    ``update(status.state)``)."""
    out = set(client._STATE_NAMES.values())
    for path in sorted((root / "runcomfy" / "run" / "jobs").rglob("*.py")):
        for call in _calls(path):
            if isinstance(call.func, ast.Name) and call.func.id == "update" and call.args:
                out |= _strings(call.args[0])
    return out


def node_events(root=ROOT) -> list[tuple[str, set[str], set[str]]]:
    """(file:line, states, detail keys) of every ``progress.text(message, {detail})`` in nodes/."""
    out = []
    for path in sorted((root / "nodes").rglob("*.py")):
        for call in _calls(path):
            if isinstance(call.func, ast.Attribute) and call.func.attr == "text" and len(call.args) >= 2 \
                    and isinstance(call.args[1], ast.Dict):
                detail = call.args[1]
                keys = {k.value for k in detail.keys if isinstance(k, ast.Constant)}
                states = {v.value for k, v in zip(detail.keys, detail.values)
                          if isinstance(k, ast.Constant) and k.value == "state" and isinstance(v, ast.Constant)}
                out.append((f"{path.relative_to(root).as_posix()}:{call.lineno}", states, keys))
    return out


def test_every_state_python_sends_is_in_the_fixture_and_nothing_else():
    events = node_events()
    assert events, "no progress.text(..., {...}) found in nodes/: the scan is broken"
    sent = update_states() | {s for _, states, _ in events for s in states}
    assert {"waiting", "dry_run", "submitting", "queued", "done", "error"} <= sent     # the scan sees them
    assert sent == set(STATUS["states"]), (
        f"sent but not in the fixture: {sorted(sent - set(STATUS['states']))}; "
        f"in the fixture but never sent: {sorted(set(STATUS['states']) - sent)}")


def test_every_field_python_sends_is_declared():
    declared = set(STATUS["fields"])
    for where, _, keys in node_events():
        assert keys <= declared, f"{where} sends {sorted(keys - declared)}, not in the fixture's fields"
    # nodes/comfy.py adds the node id and the text to every event.
    assert {"node", "text"} <= declared and set(STATUS["update_fields"]) <= declared
    # The event of a job update carries exactly update_fields (nodes/model_node.py's on_update).
    update_keys = [keys for _, states, keys in node_events() if not states and "elapsed" in keys]
    assert update_keys and all(keys | {"node", "text"} == set(STATUS["update_fields"]) for keys in update_keys)


def _valid(event: dict) -> list[str]:
    problems = []
    for name, spec in STATUS["fields"].items():
        if name not in event:
            if spec["required"]:
                problems.append(f"{name} missing")
            continue
        value = event[name]
        ok = any(isinstance(value, _JSON_TYPES[t]) and (t == "boolean" or not isinstance(value, bool))
                 for t in spec["type"])
        if not ok:
            problems.append(f"{name}={value!r} is not {spec['type']}")
    problems += [f"{k} is not a field" for k in event if k not in STATUS["fields"]]
    return problems


@pytest.mark.parametrize("state", sorted(STATUS["states"]))
def test_each_example_is_a_valid_event_of_its_state(state):
    spec = STATUS["states"][state]
    assert spec["tone"] in STATUS["tones"] and spec["examples"] and spec["sent_by"]
    for ex in spec["examples"]:
        event = ex["event"]
        assert _valid(event) == [] and event["state"] == state
        assert ex["panel"] and ex["panel"][0][1] == spec["tone"]
        if "update" in spec["sent_by"] and set(event) == set(STATUS["update_fields"]):
            # A job update's text is what Update.text() writes for these fields.
            u = Update(event["request_id"], state, event["elapsed"], queue_position=event["queue_position"],
                       cost=event["cost"], note=event["note"])
            assert u.text() == event["text"]
    if "update" in spec["sent_by"]:
        assert any(set(ex["event"]) == set(STATUS["update_fields"]) for ex in spec["examples"])


def test_the_validator_of_examples_refuses_bad_events():
    good = STATUS["states"]["waiting"]["examples"][0]["event"]
    assert _valid(good) == []
    assert _valid({k: v for k, v in good.items() if k != "node"}) == ["node missing"]
    assert _valid(dict(good, elapsed="3")) == ["elapsed='3' is not ['number']"]
    assert _valid(dict(good, queue_position=True)) == ["queue_position=True is not ['integer', 'null']"]
    assert _valid(dict(good, colour="red")) == ["colour is not a field"]


def test_the_state_scan_sees_a_new_state(tmp_path):
    (tmp_path / "runcomfy" / "run" / "jobs").mkdir(parents=True)
    (tmp_path / "nodes").mkdir()
    (tmp_path / "runcomfy" / "run" / "jobs" / "x.py").write_text(
        'def f(update, a):\n    update("pondering" if a else "musing", note="")\n    d.update(x=1)\n')
    (tmp_path / "nodes" / "n.py").write_text('def g(progress):\n    progress.text("t", {"state": "napping", "hue": 1})\n')
    assert {"pondering", "musing"} <= update_states(tmp_path)
    assert node_events(tmp_path) == [("nodes/n.py:2", {"napping"}, {"state", "hue"})]


# --- money -----------------------------------------------------------------------------------

def test_money_texts_of_the_shared_cases():
    for usd, text in MONEY["format_usd"]:
        assert pricing.format_usd(usd) == text, usd
    for usd, unit, text in MONEY["unit_price"]:
        price = pricing.price_of({"base_price_usd": usd, "price_unit": unit})
        assert (price.unit_text() if price else None) == text, (usd, unit)
    for usd, unit, duration, text in MONEY["estimate"]:
        assert pricing.price_of({"base_price_usd": usd, "price_unit": unit}).estimate_text(duration) == text, \
            (usd, unit, duration)


@pytest.mark.parametrize("case", MONEY["price_text"], ids=lambda c: c["text"])
def test_price_answers_and_texts_of_the_shared_cases(case):
    answer = pricing.describe(case["doc"])            # what GET /runcomfy-model-api/price answers (without values)
    assert {k: answer.get(k) for k in case["answer"]} == case["answer"]
    assert pricing.describe(case["doc"], case["values"])["text"] == case["text"]
