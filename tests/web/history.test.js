// Pure logic of the RunComfy request history, limits and Run confirmation (issue 20).
import { test } from "node:test";
import assert from "node:assert/strict";
import { actionButtons, buildHistoryView, CLEAR_PATH, clearConfirmText, clearHistory, costLabel, historyQuery, mediaKind, safeHttpUrl, stateLabel, totalsLines } from "../../web/lib/history.js";
import { confirmSummary, executedNodeIds, needsConfirm, previewNodes } from "../../web/lib/confirm.js";
import { limitsPayload, limitsStatusText } from "../../web/lib/limits.js";

test("costs are marked reported, estimated or unknown", () => {
  assert.equal(costLabel({ usd: 0.06, kind: "reported" }).text, "$0.06 (reported)");
  assert.equal(costLabel({ usd: 0.5, kind: "estimated" }).text, "≈$0.50 (estimated)");
  assert.equal(costLabel({ usd: null, kind: "none" }).text, "cost unknown");
  assert.equal(costLabel({ usd: 0.06, kind: "bogus" }).kind, "none");
});

test("the listing query carries only filled filters, a bounded limit and the cursor", () => {
  assert.equal(historyQuery({}), "/runcomfy-model-api/history?limit=50");
  assert.equal(historyQuery({ state: "failed,rejected", model: " a/b ", day: "2026-12-03" }, "c1", 999),
    "/runcomfy-model-api/history?state=failed%2Crejected&model=a%2Fb&day=2026-12-03&limit=200&cursor=c1");
  assert.equal(historyQuery({ day: "12/03/2026" }), "/runcomfy-model-api/history?limit=50");
});

test("only http(s) URLs become src/href; media kind from the path", () => {
  assert.equal(safeHttpUrl("javascript:alert(1)"), null);
  assert.equal(safeHttpUrl("data:text/html,<b>x</b>"), null);
  assert.equal(safeHttpUrl("https://x.test/a.png"), "https://x.test/a.png");
  assert.equal(mediaKind("https://x.test/out/a.PNG?sig=1"), "image");
  assert.equal(mediaKind("https://x.test/a.mp4"), "video");
  assert.equal(mediaKind("https://x.test/a.wav"), "audio");
  assert.equal(mediaKind("https://x.test/a.zip"), "file");
  assert.equal(stateLabel("submitted"), "queued / running");
});

test("totals keep reported and estimated apart, per period and per model", () => {
  const lines = totalsLines({
    today: { reported_usd: 0.12, estimated_usd: 0.5, unknown: 1, requests: 3,
      by_model: { "a/b": { display_name: "<img src=x>", reported_usd: 0.12, estimated_usd: 0, unknown: 0, requests: 2 } } },
    month: { reported_usd: 1, estimated_usd: 0, unknown: 0, requests: 9, by_model: {} },
  });
  assert.equal(lines[0].text, "Today: $0.12 reported, $0.50 estimated, 1 of unknown cost · 3 request(s)");
  assert.equal(lines[0].models[0].text, "<img src=x> (a/b): $0.12 reported, $0.00 estimated · 2 request(s)");
  assert.deepEqual(lines.map((l) => l.period), ["today", "month"]);
});

test("actions map to buttons; none of them is a submit", () => {
  assert.deepEqual(actionButtons(["fetch_into_node", "redownload", "cancel", "uncertain"]).map((a) => a[0]),
    ["fetch_new", "fetch_selected", "redownload", "cancel", "uncertain"]);
  assert.deepEqual(actionButtons(undefined), []);
});

const PREVIEW = { ok: true, nodes: [
  { id: "1", display_name: "Pic", new_requests: 2, reused: 1, estimate_usd: 0.12, reason: "request 1: already ran" },
  { id: "2", display_name: "Vid", new_requests: 3, reused: 0, estimate_usd: 1.5 },
  { id: "3", display_name: "Dry", new_requests: 0, reused: 0, estimate_usd: null, reason: "dry_run is on" },
] };

test("the confirmation adds the new requests' estimates, times the batch count", () => {
  const s = confirmSummary(PREVIEW);
  assert.equal(s.total, 1.62);
  assert.equal(s.totalText, "$1.62");
  assert.equal(s.requests, 5);
  assert.equal(s.lines[2].submits, false);
  assert.match(s.lines[0].text, /#1 Pic: 2 new request\(s\), 1 reused: ≈\$0.12/);
  assert.equal(confirmSummary(PREVIEW, 2).total, 3.24);
  assert.equal(needsConfirm(s, 1), true);
  assert.equal(needsConfirm(s, 2), false);
  assert.equal(needsConfirm(s, 0), false);
  const unknown = confirmSummary({ nodes: [{ id: "9", new_requests: 1, estimate_usd: null }] });
  assert.equal(unknown.unknown, 1);
  assert.equal(needsConfirm(unknown, 5), true);
});

test("only RunComfy nodes of the prompt go to the preview", () => {
  assert.deepEqual(previewNodes({ 3: { class_type: "KSampler", inputs: {} }, 4: { class_type: "RunComfy_x", inputs: { a: 1 } } }),
    [{ id: "4", class_type: "RunComfy_x", inputs: { a: 1 } }]);
});

test("limits: empty or 0 is off, anything else must be an amount", () => {
  assert.deepEqual(limitsPayload("", "0").body, { daily_usd: null, monthly_usd: null });
  assert.deepEqual(limitsPayload("$5", "50.5").body, { daily_usd: 5, monthly_usd: 50.5 });
  assert.match(limitsPayload("five", "").error, /Daily limit must be an amount/);
  assert.equal(limitsStatusText({ ok: true, daily_usd: 5, daily_source: "RUNCOMFY_DAILY_LIMIT_USD", monthly_usd: null,
    spent: { today: { usd: 1.2 } } }), "Today: $5.00 (from RUNCOMFY_DAILY_LIMIT_USD), $1.20 counted · This month: off");
});

test("only nodes that feed an output node run, so only they are counted", () => {
  const output = {
    1: { class_type: "RunComfy_a", inputs: {} },
    2: { class_type: "RunComfy_b", inputs: {} },
    3: { class_type: "PreviewImage", inputs: { images: ["1", 0] } },
    4: { class_type: "RunComfy_c", inputs: { x: ["2", 0] } },
  };
  assert.deepEqual([...executedNodeIds(output, (t) => t === "PreviewImage")].sort(), ["1", "3"]);
});

// --- clearing the history (the guarded POST /runcomfy-model-api/history/clear, after a confirmation) ----

function fakeCall(answer = { status: 200, body: { ok: true, removed: ["2026-10.jsonl", "2026-11.jsonl"] } }) {
  const calls = [];
  const call = async (path, opts = {}) => {
    calls.push({ path, opts });
    return path === CLEAR_PATH ? answer : { status: 200, body: { ok: true, items: [], next: null } };
  };
  return { calls, call };
}

test("the confirmation says what is cleared and that billing on RunComfy is not affected", () => {
  const older = clearConfirmText(false);
  const all = clearConfirmText(true);
  for (const text of [older, all]) {
    assert.match(text, /Billing on RunComfy is not affected/);
    assert.match(text, /request journal is kept/);
  }
  assert.match(older, /months before this one/);
  assert.match(older, /This month's requests stay listed/);
  assert.match(all, /this month included/);
  assert.match(all, /spending limits then count this month from \$0/);
});

test("nothing is sent unless the user confirms", async () => {
  const { calls, call } = fakeCall();
  const asked = [];
  const r = await clearHistory({ call, confirm: (t) => { asked.push(t); return false; } }, true);
  assert.deepEqual(calls, []);
  assert.equal(r.cleared, false);
  assert.deepEqual(asked, [clearConfirmText(true)]);
});

test("confirmed, it posts JSON {all} to the clear route and says what was deleted", async () => {
  for (const all of [false, true]) {
    const { calls, call } = fakeCall();
    const r = await clearHistory({ call, confirm: async () => true }, all);
    assert.equal(calls.length, 1);
    assert.equal(calls[0].path, "/runcomfy-model-api/history/clear");
    assert.equal(calls[0].opts.method, "POST");
    assert.equal(calls[0].opts.headers["Content-Type"], "application/json");
    assert.deepEqual(JSON.parse(calls[0].opts.body), { all });
    assert.equal(r.cleared, true);
    assert.match(r.text, all ? /History cleared \(2 month file\(s\) deleted\); this month's spend counts from \$0/ : /^2 older month file\(s\) deleted; this month is kept\.$/);
  }
});

test("a refused clear shows the server's error and clears nothing", async () => {
  const refused = { status: 403, body: { ok: false, error: "RunComfy refused this request: ...", reason: "host", fix: "public_origin" } };
  const { call } = fakeCall(refused);
  const r = await clearHistory({ call, confirm: () => true }, false);
  assert.equal(r.cleared, false);
  assert.equal(r.ok, false);
  assert.equal(r.text, "RunComfy refused this request: ...");
  const r2 = await clearHistory({ call: async () => ({ status: 500, body: null }), confirm: () => true }, false);
  assert.equal(r2.text, "Could not clear the history (HTTP 500).");
});

// A DOM just big enough for buildHistoryView: the tab's Clear history button and its checkbox.
class Node {
  constructor(tag) { Object.assign(this, { tagName: tag.toUpperCase(), style: {}, dataset: {}, children: [], listeners: {}, textContent: "", value: "", checked: false, disabled: false, type: "", title: "" }); }
  setAttribute(k, v) { this[k] = String(v); }
  append(...kids) { this.children.push(...kids); }
  replaceChildren(...kids) { this.children = [...kids]; }
  addEventListener(type, fn) { (this.listeners[type] ||= []).push(fn); }
  *walk() { yield this; for (const c of this.children) if (c instanceof Node) yield* c.walk(); }
  querySelectorAll(tag) { return [...this.walk()].filter((n) => n.tagName === tag.toUpperCase()); }
  find(pred) { return [...this.walk()].find(pred) || null; }
  async click() { await Promise.all((this.listeners.click || []).map((fn) => fn({}))); }
}

test("the tab's Clear history button asks first, then clears (this month too when ticked) and reloads", async () => {
  const saved = globalThis.document;
  globalThis.document = { createElement: (tag) => new Node(tag) };
  try {
    const { calls, call } = fakeCall();
    let answer = false;
    const asked = [];
    const root = new Node("div");
    const view = buildHistoryView(root, { call, confirm: (t) => { asked.push(t); return answer; }, fetchInto: () => ({}), viewUrl: () => null, download: async () => {} });
    await view.ready;
    const clear = root.find((n) => n.dataset.runcomfyClear);
    const all = root.find((n) => n.dataset.runcomfyClearAll);
    assert.equal(clear.textContent, "Clear history");
    const before = calls.length;
    await clear.click();
    assert.equal(calls.filter((c) => c.path === CLEAR_PATH).length, 0);            // declined: nothing sent
    assert.deepEqual(asked, [clearConfirmText(false)]);
    answer = true;
    all.checked = true;
    await clear.click();
    const posts = calls.filter((c) => c.path === CLEAR_PATH);
    assert.equal(posts.length, 1);
    assert.deepEqual(JSON.parse(posts[0].opts.body), { all: true });
    assert.equal(asked[1], clearConfirmText(true));
    assert.ok(calls.slice(before).some((c) => c.path.startsWith("/runcomfy-model-api/history?")));   // the list reloads
    assert.match(root.find((n) => n.dataset.runcomfyHistoryMessage).textContent, /History cleared/);
  } finally {
    globalThis.document = saved;
  }
});
