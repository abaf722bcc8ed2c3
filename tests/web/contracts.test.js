// The web side of the contracts in tests/contracts/ (the Python side: tests/test_contracts.py).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

import {
  estimateText,
  formatUsd,
  isKnownState,
  mergeStatus,
  parseStatusEvent,
  priceText,
  stateLabel,
  stateTone,
  unitPriceText,
} from "../../web/lib/format.js";
import { panelContent, statusExtras } from "../../web/lib/panel.js";

const fixture = (name) => JSON.parse(readFileSync(new URL(`../contracts/${name}`, import.meta.url), "utf8"));
const STATUS = fixture("status_event.json");
const MONEY = fixture("money.json");

test("format.js knows every state the Python side sends, with its label and colour", () => {
  const states = Object.entries(STATUS.states);
  assert.ok(states.length >= 15, "the fixture lists the states");
  for (const [state, spec] of states) {
    assert.ok(isKnownState(state), `format.js does not know the state ${state}`);
    assert.equal(stateLabel(state), spec.label, `label of ${state}`);
    assert.equal(stateTone(state), spec.tone, `colour of ${state}`);
    assert.notEqual(stateTone(state), "idle", `${state} would show as grey idle`);
  }
  assert.equal(isKnownState("no_such_state"), false);
});

test("every example status event renders as the fixture says", () => {
  for (const [state, spec] of Object.entries(STATUS.states)) {
    for (const { event, panel } of spec.examples) {
      const parsed = parseStatusEvent(event);
      assert.ok(parsed, `${state}: parseStatusEvent refused ${JSON.stringify(event)}`);
      assert.equal(parsed.state, state);
      // The panel the node shows (web/lib/panel.js), with the issue-18 fields of the event.
      const { lines } = panelContent({ status: { ...mergeStatus(null, parsed, 0), ...statusExtras(event) } });
      assert.deepEqual(lines.map((l) => [l.text, l.tone]), panel, `panel of ${state}`);
    }
  }
});

test("a node waiting on another process's submit shows 'waiting', busy, not grey idle", () => {
  const [{ event }] = STATUS.states.waiting.examples;
  const [first] = panelContent({ status: mergeStatus(null, parseStatusEvent(event), 0) }).lines;
  assert.match(first.text, /^RunComfy: waiting/);
  assert.equal(first.tone, "busy");
});

test("money, unit price, estimate and price texts: the shared cases", () => {
  for (const [usd, text] of MONEY.format_usd) assert.equal(formatUsd(usd), text, `formatUsd(${usd})`);
  for (const [usd, unit, text] of MONEY.unit_price) {
    assert.equal(unitPriceText(usd, unit), text, `unitPriceText(${usd}, ${unit})`);
  }
  for (const [usd, unit, duration, text] of MONEY.estimate) {
    assert.equal(estimateText(usd, unit, duration), text, `estimateText(${usd}, ${unit}, ${duration})`);
  }
  for (const { answer, values, text } of MONEY.price_text) {
    assert.equal(priceText(answer, values), text, JSON.stringify({ answer, values }));
  }
});
