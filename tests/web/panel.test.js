// The panel's pure logic (web/lib/panel.js) and the per-frontend sizing rules (web/lib/compat.js).
import { test } from "node:test";
import assert from "node:assert/strict";

import {
  BORDER, BUTTON_ROW_PX, FETCH_LABEL, LINE_PX, NEW_PAID_TEXT, PAD_Y, SHORT_STRING, panelContent, panelHeight,
  requestShort, rerunInfo, statusExtras, submittedText, wrapLines,
} from "../../web/lib/panel.js";
import {
  PANEL_MARGIN_PX, applyInputOptions, atLeast, controlDefaultIgnored, fixControlDefaults, growNodeToFit,
  panelWidgetOptions,
} from "../../web/lib/compat.js";

const measure = (s) => String(s).length * 6; // 6 px a character
const texts = (c) => c.lines.map((l) => l.text);

test("the height asked from the frontend includes both DOM widget margins (it takes them off again)", () => {
  const opts = panelWidgetOptions(() => 56);
  assert.equal(opts.margin, PANEL_MARGIN_PX);
  for (const get of [opts.getMinHeight, opts.getMaxHeight, opts.getHeight]) assert.equal(get(), 56 + 2 * PANEL_MARGIN_PX);
  // The frontends' DomWidgets: element height = computedHeight - 2 * margin = the content height.
  assert.equal(opts.getMinHeight() - 2 * opts.margin, 56);
  assert.equal(panelWidgetOptions(() => 0).getMinHeight(), 0, "nothing shown: no room taken");
});

test("panel height: every visual line, padding, border and the button row", () => {
  assert.equal(panelHeight(3, false), 3 * LINE_PX + 2 * PAD_Y + 2 * BORDER);
  assert.equal(panelHeight(3, true), 3 * LINE_PX + 2 * PAD_Y + 2 * BORDER + BUTTON_ROW_PX);
  assert.equal(panelHeight(0, true), 0);
});

test("long lines wrap to the width (nothing cut), the height follows the visual lines", () => {
  const status = { state: "stopped", requestId: "r1", text: "word ".repeat(40).trim(), billed: true, fetchRequestId: "r1" };
  const content = panelContent({ status });
  const narrow = wrapLines(content.lines, 120, measure);
  const wide = wrapLines(content.lines, 600, measure);
  assert.ok(narrow.length > wide.length);
  for (const l of narrow) assert.ok(measure(l.text) <= 120, l.text);
  assert.equal(narrow.map((l) => l.text).join(" ").includes("word ".repeat(40).trim()), true, "every word shown");
});

test("a node grows to what computeSize asks, never shrinks", () => {
  const node = { size: [400, 300], computeSize: () => [380, 420], setSize(s) { this.size = s; } };
  assert.equal(growNodeToFit(node), true);
  assert.deepEqual(node.size, [400, 420]);
  node.computeSize = () => [380, 200];
  assert.equal(growNodeToFit(node), false);
  assert.deepEqual(node.size, [400, 420]);
});

test("Stop while running: billed line, request named, Fetch button; pressing it says the next Run fetches", () => {
  const status = statusExtras({ state: "stopped", request_id: "abc", fetch_request_id: "abc", billed: true,
    fetch_input: "resume_request_id" });
  const c = panelContent({ status: { state: "stopped", requestId: "abc", text: "Stopped.", ...status } });
  assert.ok(texts(c).includes("request abc"));
  assert.ok(texts(c).some((t) => t.startsWith("Billed")));
  assert.deepEqual(c.actions, [{ kind: "fetch", label: FETCH_LABEL, requestId: "abc" }]);
  const armed = panelContent({ status: { state: "stopped", requestId: "abc", ...status }, fetchArmed: "abc" });
  assert.equal(armed.actions.length, 0);
  assert.ok(texts(armed).some((t) => t.includes('"Resume request id" is set to this request: the next Run fetches this result (no new charge)')));
  for (const t of [...texts(c), ...texts(armed)]) assert.doesNotMatch(t, /again with the same inputs/i);
});

test("Stop while running: each fact once (state, id, billed, what happens, the button)", () => {
  const summary = "The job was already running on RunComfy: it will finish and be billed. Its result is kept.";
  const detail = { state: "stopped", request_id: "abc123", fetch_request_id: "abc123", billed: true,
    fetch_input: "resume_request_id", summary,
    text: `Stopped. ${summary} To fetch its result without a new charge, put request id abc123 into "Resume request id" (resume_request_id) and run.` };
  const c = panelContent({ status: { state: "stopped", requestId: "abc123", text: detail.text, ...statusExtras(detail) } });
  assert.deepEqual(texts(c), ["RunComfy: stopped", "request abc123", "Billed: RunComfy ran (or is running) this request.", summary]);
  assert.equal(texts(c).join("\n").split("abc123").length - 1, 1);      // the id once
  assert.deepEqual(c.actions, [{ kind: "fetch", label: FETCH_LABEL, requestId: "abc123" }]);
  // An event without a summary (an older pack) still shows its whole text.
  const old = panelContent({ status: { state: "stopped", requestId: "abc123", text: detail.text,
    ...statusExtras({ ...detail, summary: undefined }) } });
  assert.ok(texts(old).includes(detail.text));
});

test("cancelled while queued: not billed, nothing to fetch; may-be-billed when unknown", () => {
  const c = panelContent({ status: { state: "stopped", requestId: "q", billed: false, fetchRequestId: null } });
  assert.ok(texts(c).some((t) => t.startsWith("Not billed")));
  assert.equal(c.actions.length, 0);
  const lost = panelContent({ status: { state: "error", requestId: "q", billed: null, fetchRequestId: "q" } });
  assert.ok(texts(lost).some((t) => t.startsWith("May be billed")));
  assert.equal(lost.actions[0].kind, "fetch");
});

test("validation problems: label first, API field after, the fix", () => {
  const c = panelContent({ status: { state: "error", problems: [
    { label: "Reference image 2", field: "image_urls[1]", text: "width must be at least 384 px, got 200 px",
      fix: 'turn on "fit_inputs_to_limits" to scale it' }] } });
  assert.ok(texts(c).includes('Reference image 2 (image_urls[1]): width must be at least 384 px, got 200 px: '
    + 'turn on "fit_inputs_to_limits" to scale it'));
});

test("done: cost, every request and every note", () => {
  const c = panelContent({ status: { state: "done", requestId: "a", requestIds: ["a", "b"], cost: 0.06,
    notes: ["image_urls[0] resized 200x150 -> 400x300 px", "2 videos returned"] } });
  assert.deepEqual(texts(c), ["RunComfy: done · cost $0.06", "requests a, b",
    "image_urls[0] resized 200x150 -> 400x300 px", "2 videos returned"]);
});

test("dry run: price, notes, the request in short (every key, long strings cut) and in full one click away", () => {
  const payload = { prompt: "x".repeat(200), image_urls: ["data:image/png;base64,<812 bytes>"], seed: 3 };
  const status = { state: "dry_run", text: "dry run: …", priceText: "$0.03 / image x 2 request(s)", payload, notes: ["n1"] };
  const c = panelContent({ status });
  assert.ok(texts(c).includes("Dry run: nothing sent, nothing charged · $0.03 / image x 2 request(s)"));
  assert.ok(texts(c).includes("n1"));
  const short = texts(c).find((t) => t.startsWith("Request: "));
  assert.ok(short.includes('"seed":3') && short.includes("<812 bytes>") && !short.includes("x".repeat(SHORT_STRING + 1)), short);
  assert.equal(requestShort({ a: "y".repeat(100) }).length < 100, true);
  assert.deepEqual(c.actions.map((a) => a.kind), ["request"]);
  const open = panelContent({ status, requestOpen: true });
  assert.ok(open.lines.filter((l) => l.kind === "request-full").some((l) => l.text.includes("x".repeat(200))));
  assert.equal(open.actions[0].label, "Hide request");
});

test("queue position: 'next in queue' for 0, the position otherwise", () => {
  assert.match(texts(panelContent({ status: { state: "queued", queuePosition: 0 } }))[0], /next in queue/);
  assert.match(texts(panelContent({ status: { state: "queued", queuePosition: 4 } }))[0], /queue position 4/);
});

test("re-runs: the live seed/generation control; 'new paid generation on every run' unless fixed", () => {
  const control = { name: "control_after_generate", value: "fixed" };
  const widgets = [{ name: "prompt", value: "x" }, { name: "seed", value: 1, linkedWidgets: [control] }];
  assert.deepEqual(rerunInfo(widgets), { widget: "seed", control: "fixed", newPaidEachRun: false });
  assert.ok(!texts(panelContent({ rerun: rerunInfo(widgets) })).some((t) => t.includes(NEW_PAID_TEXT)));
  control.value = "randomize";
  assert.ok(texts(panelContent({ rerun: rerunInfo(widgets) })).some((t) => t.startsWith(NEW_PAID_TEXT)));
  const seedless = [{ name: "generation", label: "Generation", value: 0, linkedWidgets: [{ value: "increment" }] }];
  assert.deepEqual(rerunInfo(seedless, "generation"), { widget: "Generation", control: "increment", newPaidEachRun: true });
  assert.equal(rerunInfo([{ name: "prompt" }]), null);
});

test("1.27: fresh controls start at 'fixed'; labels from the input options", () => {
  assert.equal(controlDefaultIgnored("1.27.10"), true);
  assert.equal(controlDefaultIgnored("1.49.6"), false);
  assert.equal(atLeast("1.58.1", "1.49.0"), true);
  const control = { value: "randomize", options: { values: ["fixed", "increment", "decrement", "randomize"] } };
  const node = { widgets: [{ name: "seed", value: 0, linkedWidgets: [control] }, { name: "upload_format", options: {} },
    { name: "timeout_seconds", options: { advanced: true } }] };
  assert.equal(fixControlDefaults(node, "1.49.6"), 0);
  assert.equal(control.value, "randomize");
  assert.equal(fixControlDefaults(node, "1.27.10"), 1);
  assert.equal(control.value, "fixed");
  applyInputOptions(node, { input: { required: { seed: ["INT", { display_name: "Seed" }] },
    optional: { upload_format: ["COMBO", { hidden: true }] } } }, "1.27.10");
  assert.equal(node.widgets[0].label, "Seed");
  assert.equal(node.widgets[1].hidden, true, "folded on 1.27 too (tests/web/compat_fold.test.js: without a gap)");
});

test("an uncertain earlier submit: when (from the journal's seconds), the code, how to fetch: each once", () => {
  const summary = 'Nothing was sent now, so nothing is charged twice. If your RunComfy request history has that request, put its id into "Resume request id" (resume_request_id) to fetch it without a new charge.';
  const detail = { state: "error", request_id: null, fetch_request_id: null, billed: null, resubmit_code: "c0de",
    submitted_at: 1764756000, summary, text: "error: An earlier submit of exactly these inputs ... give the one-time code c0de ..." };
  const c = panelContent({ status: { state: "error", text: detail.text, ...statusExtras(detail) } });
  assert.deepEqual(texts(c), ["RunComfy: error",
    'An earlier submit of these inputs may have reached RunComfy (submitted 2025-12-03 10:00:00 UTC). To send a new, paid one anyway, put c0de into "Submit anyway (one-time code)" (submit_anyway).',
    summary]);
  assert.equal(submittedText("2026-12-03T10:00:00Z"), "2026-12-03T10:00:00Z");
  assert.equal(submittedText(null), null);
});
