// Unit tests of web/lib/format.js (run: node --test tests/web/).
import { test } from "node:test";
import assert from "node:assert/strict";

import {
  PRICE_UNAVAILABLE,
  PriceCache,
  errorText,
  formatCost,
  formatElapsed,
  formatUsdAmount,
  formatUsd,
  estimateText,
  unitPriceText,
  panelLines,
  catalogRefreshResult,
  isRunComfyType,
  mergeStatus,
  parseStatusEvent,
  priceQuery,
  priceText,
  splitExecutionId,
  stateTone,
  statusAfterInterrupt,
  statusFromExecutionError,
  statusLines,
  tokenActionResult,
  tokenStatusLabel,
  wrapText,
} from "../../web/lib/format.js";

test("isRunComfyType only accepts the pack's class names", () => {
  assert.equal(isRunComfyType("RunComfy_wan_ai_wan_2_6_image_to_image"), true);
  assert.equal(isRunComfyType("RunComfy_"), false);
  assert.equal(isRunComfyType("LoadImage"), false);
  assert.equal(isRunComfyType("runcomfy_x"), false);
  assert.equal(isRunComfyType(undefined), false);
});

// The cases shared with Python (runcomfy/pricing.py) live in tests/contracts/money.json and are
// checked by contracts.test.js; here only what JSON cannot carry and the JS-only helpers.
test("formatUsd: non-finite and missing amounts are no price; formatUsdAmount drops the sign", () => {
  for (const bad of [NaN, Infinity, -Infinity, undefined]) assert.equal(formatUsd(bad), null, String(bad));
  assert.equal(formatUsdAmount(0.03), "0.03");
  assert.equal(formatUsdAmount(0.000001), "<0.0001");
  assert.equal(formatUsdAmount(-1), null);
});

test("priceText: per-model units and an estimate only for per-second prices with a concrete duration", () => {
  assert.equal(priceText({ available: true, base_price_usd: 0.03, price_unit: "output" }), "$0.03 / output");
  assert.equal(priceText({ available: true, base_price_usd: 0.1, price_unit: "second" }), "$0.10 / s");
  const perSecond = { available: true, base_price_usd: 0.1, price_unit: "second", duration_field: "duration" };
  assert.equal(priceText(perSecond, { duration: 5 }), "$0.10 / s · ≈ $0.50 for 5 s (estimate)");
  assert.equal(priceText(perSecond, { duration: "10" }), "$0.10 / s · ≈ $1.00 for 10 s (estimate)");
  assert.equal(priceText(perSecond, { duration: 2.5 }), "$0.10 / s · ≈ $0.25 for 2.5 s (estimate)");
  for (const none of ["auto", "", 0, -3, "x", null]) {
    assert.equal(priceText(perSecond, { duration: none }), "$0.10 / s", `duration ${JSON.stringify(none)}`);
  }
  assert.equal(priceText({ ...perSecond, duration: 4 }), "$0.10 / s · ≈ $0.40 for 4 s (estimate)", "server's duration when no widget");
  assert.equal(priceText({ available: true, base_price_usd: 0.03, price_unit: "image", duration_field: "duration" }, { duration: 5 }),
    "$0.03 / image", "no estimate for a per-image price");
  assert.equal(unitPriceText(-1, "s"), null);
});

test("formatCost and formatElapsed", () => {
  assert.equal(formatCost(0.03), "$0.03");
  assert.equal(formatCost(0.00001), "<$0.0001");
  assert.equal(formatCost(null), null);
  assert.equal(formatElapsed(7.4), "7s");
  assert.equal(formatElapsed(125), "2m 05s");
  assert.equal(formatElapsed(3720), "1h 02m");
  assert.equal(formatElapsed(-1), null);
  assert.equal(formatElapsed(undefined), null);
});

test("priceQuery encodes the node class and model id", () => {
  assert.equal(priceQuery({ nodeClass: "RunComfy_wan_ai_wan_2_6_image_to_image" }),
    "/runcomfy-model-api/price?node_class=RunComfy_wan_ai_wan_2_6_image_to_image");
  assert.equal(priceQuery({ modelId: "wan-ai/wan-2-6/image-to-image" }),
    "/runcomfy-model-api/price?model_id=wan-ai%2Fwan-2-6%2Fimage-to-image");
  assert.equal(priceQuery({ nodeClass: "A b", modelId: "x/y" }), "/runcomfy-model-api/price?node_class=A%20b&model_id=x%2Fy");
  assert.equal(priceQuery({}), null);
});

test("priceText shows only the server's numeric price, else 'price unavailable'", () => {
  assert.equal(priceText({ available: true, base_price_usd: 0.03, price_unit: "image" }), "$0.03 / image");
  assert.equal(priceText({ available: true, base_price_usd: 0.03, price_unit: "per image" }), "$0.03 / image");
  assert.equal(priceText({ available: true, base_price_usd: 0.5, price_unit: null }), "$0.50");
  assert.equal(priceText({ available: true, base_price_usd: 0.0375, price_unit: "run" }), "$0.0375 / run");
  // The server's text is not trusted blindly: no number, no price.
  assert.equal(priceText({ available: true, text: "$0.03 / image" }), PRICE_UNAVAILABLE);
  assert.equal(priceText({ available: false, text: "price unavailable" }), PRICE_UNAVAILABLE);
  assert.equal(priceText({ available: false, base_price_usd: 0.03 }), PRICE_UNAVAILABLE);
  assert.equal(priceText({ available: true, base_price_usd: "0.03" }), PRICE_UNAVAILABLE);
  assert.equal(priceText(null), PRICE_UNAVAILABLE);
  assert.equal(priceText("oops"), PRICE_UNAVAILABLE);
});

test("PriceCache keeps good answers for the TTL and failures briefly", async () => {
  let now = 1000;
  const cache = new PriceCache({ ttlMs: 300_000, failureTtlMs: 30_000, now: () => now });
  let calls = 0;
  const good = async () => { calls++; return { available: true, base_price_usd: 0.03 }; };
  assert.deepEqual(await cache.load("A", good), { available: true, base_price_usd: 0.03 });
  await cache.load("A", good);
  assert.equal(calls, 1);
  now += 299_000;
  await cache.load("A", good);
  assert.equal(calls, 1);
  now += 2_000;
  await cache.load("A", good);
  assert.equal(calls, 2, "expired after the TTL");

  let failures = 0;
  const bad = async () => { failures++; throw new Error("offline"); };
  const answer = await cache.load("B", bad);
  assert.equal(answer.available, false);
  assert.match(answer.error, /offline/);
  await cache.load("B", bad);
  assert.equal(failures, 1);
  now += 31_000;
  await cache.load("B", bad);
  assert.equal(failures, 2, "failures are retried after the short TTL");
});

test("PriceCache de-duplicates concurrent lookups and drops answers from before clear()", async () => {
  const cache = new PriceCache();
  let calls = 0;
  let release;
  const gate = new Promise((r) => { release = r; });
  const slow = async () => { calls++; await gate; return { available: true, base_price_usd: 1 }; };
  const a = cache.load("K", slow);
  const b = cache.load("K", slow);
  assert.equal(calls, 1);
  cache.clear();
  release();
  await Promise.all([a, b]);
  assert.equal(cache.get("K"), undefined, "a lookup started before clear() is not cached");
  await cache.load("K", async () => { calls++; return { available: true, base_price_usd: 2 }; });
  assert.equal(calls, 2);
  assert.equal(cache.get("K").base_price_usd, 2);
});

test("tokenStatusLabel", () => {
  assert.equal(tokenStatusLabel({ configured: true, source: "saved" }), "Token: saved");
  assert.equal(tokenStatusLabel({ configured: true, source: "environment" }), "Token: from environment");
  assert.equal(tokenStatusLabel({ configured: false, source: "none" }), "Token: not set");
  assert.equal(tokenStatusLabel({ configured: false, source: "saved" }), "Token: not set");
  assert.equal(tokenStatusLabel(null), "Token: status unavailable");
  assert.equal(tokenStatusLabel({ source: "weird" }), "Token: status unavailable");
});

test("errorText prefers the server's message", () => {
  assert.equal(errorText(400, { ok: false, error: "RunComfy rejected this token; it was not saved." }),
    "RunComfy rejected this token; it was not saved.");
  assert.equal(errorText(500, "<html>boom</html>", "Save failed"), "Save failed (HTTP 500)");
  assert.equal(errorText(502, "Bad gateway"), "Bad gateway");
  assert.equal(errorText(0, null, "Save failed"), "Save failed");
});

test("tokenActionResult: success, server errors and 'ok: false' on a 200 (Test)", () => {
  const saved = tokenActionResult("save", 200, { ok: true, configured: true, source: "saved" });
  assert.equal(saved.ok, true);
  assert.deepEqual(saved.info, { configured: true, source: "saved" });
  assert.match(saved.message, /saved/i);

  const rejected = tokenActionResult("save", 400, { ok: false, error: "RunComfy rejected this token; it was not saved." });
  assert.equal(rejected.ok, false);
  assert.equal(rejected.message, "RunComfy rejected this token; it was not saved.");

  const testBad = tokenActionResult("test", 200, { ok: false, configured: true, source: "environment",
    error: "RunComfy rejected the configured token." });
  assert.equal(testBad.ok, false);
  assert.equal(testBad.message, "RunComfy rejected the configured token.");
  assert.deepEqual(testBad.info, { configured: true, source: "environment" });

  const cleared = tokenActionResult("clear", 200, { ok: true, configured: true, source: "environment" });
  assert.equal(cleared.ok, true);
  assert.match(cleared.message, /environment variable/);

  const offline = tokenActionResult("clear", 0, { error: "Could not reach the ComfyUI server: x" });
  assert.equal(offline.ok, false);
  assert.match(offline.message, /Could not reach/);
});

test("parseStatusEvent cleans up the websocket payload", () => {
  const s = parseStatusEvent({ node: "12", text: "queued · 3s", request_id: "req-1", state: "queued",
    elapsed: 3.2, queue_position: 2, cost: null });
  assert.deepEqual(s, { node: "12", text: "queued · 3s", state: "queued", requestId: "req-1", elapsed: 3.2,
    queuePosition: 2, cost: null, note: null });
  assert.equal(parseStatusEvent({ node: 7, text: "x" }).node, "7");
  assert.equal(parseStatusEvent({ text: "no node" }), null);
  assert.equal(parseStatusEvent(null), null);
  const junk = parseStatusEvent({ node: "1", state: 5, elapsed: "3", queue_position: -1, cost: -2, request_id: "" });
  assert.equal(junk.state, null);
  assert.equal(junk.elapsed, null);
  assert.equal(junk.queuePosition, null);
  assert.equal(junk.cost, null);
  assert.equal(junk.requestId, null);
});

test("mergeStatus: text-only events keep the run's details; a new run starts over", () => {
  const running = parseStatusEvent({ node: "3", state: "running", request_id: "r1", elapsed: 10, text: "running" });
  const stopped = mergeStatus(running, parseStatusEvent({ node: "3", text: "Stopped: the remote job was cancelled" }), 5);
  assert.equal(stopped.requestId, "r1");
  assert.equal(stopped.state, "running");
  assert.equal(stopped.text, "Stopped: the remote job was cancelled");
  assert.equal(stopped.at, 5);

  const done = parseStatusEvent({ node: "3", state: "done", request_id: "r1", cost: 0.03, text: "done" });
  const merged = mergeStatus(running, done);
  assert.equal(merged.cost, 0.03);
  const final = mergeStatus(merged, parseStatusEvent({ node: "3", state: "done", request_id: "r1", text: "done: 1 image(s)" }));
  assert.equal(final.cost, 0.03, "the cost of the same request is kept");
  assert.equal(final.elapsed, 10, "and so is its elapsed time");

  const next = mergeStatus(final, parseStatusEvent({ node: "3", state: "submitting", text: "submitting" }));
  assert.equal(next.requestId, null);
  assert.equal(next.cost, null, "a new run does not inherit the last run's cost");
  assert.equal(mergeStatus(null, null), null);
});

test("statusFromExecutionError / statusAfterInterrupt", () => {
  const prev = parseStatusEvent({ node: "4", state: "running", request_id: "r9", elapsed: 3, text: "running" });
  const err = statusFromExecutionError({ node_id: "4", node_type: "RunComfy_x", exception_message: "The remote job failed.\nmore" }, prev);
  assert.equal(err.state, "error");
  assert.equal(err.requestId, "r9");
  assert.equal(err.text, "The remote job failed.\nmore");
  assert.equal(statusFromExecutionError({ node_id: "4", node_type: "KSampler", exception_message: "x" }, prev), null);
  assert.equal(statusFromExecutionError(null, prev), null);

  assert.equal(statusAfterInterrupt(prev).state, "stopped");
  const done = { ...prev, state: "done" };
  assert.equal(statusAfterInterrupt(done), done);
  assert.equal(statusAfterInterrupt(null), null);
});

test("statusLines summarise state, queue, time, cost and request id", () => {
  const queued = parseStatusEvent({ node: "1", state: "queued", queue_position: 3, elapsed: 65, request_id: "abc" });
  assert.deepEqual(statusLines(queued), ["RunComfy: queued · queue #3 · 1m 05s", "request abc"]);
  const done = parseStatusEvent({ node: "1", state: "done", cost: 0.03, request_id: "abc", text: "done: 1 image(s)" });
  assert.deepEqual(statusLines(done), ["RunComfy: done · cost $0.03", "request abc"]);
  const err = statusFromExecutionError({ node_id: "1", node_type: "RunComfy_x", exception_message: "Bad token\ntrace" }, null);
  assert.deepEqual(statusLines(err), ["RunComfy: error", "Bad token"]);
  assert.deepEqual(statusLines(null), []);
  const sending = parseStatusEvent({ node: "1", state: "submitting", elapsed: 2, note: "sending 7.3 MB" });
  assert.deepEqual(statusLines(sending), ["RunComfy: submitting · 2s · sending 7.3 MB"]);
  const doneWithNote = parseStatusEvent({ node: "1", state: "done", note: "sending 7.3 MB" });
  assert.deepEqual(statusLines(doneWithNote), ["RunComfy: done"], "a note only shows while busy");
  assert.equal(stateTone("running"), "busy");
  assert.equal(stateTone("done"), "ok");
  assert.equal(stateTone("failed"), "error");
  assert.equal(stateTone("whatever"), "idle");
});

test("wrapText breaks on words, splits long words and ellipsises", () => {
  const measure = (s) => s.length; // one unit per character
  assert.deepEqual(wrapText("aaa bbb ccc", 7, measure), ["aaa bbb", "ccc"]);
  assert.deepEqual(wrapText("0123456789abcdef", 6, measure), ["012345", "6789ab", "cdef"]);
  const cut = wrapText("one two three four five six seven", 9, measure, 2);
  assert.equal(cut.length, 2);
  assert.ok(cut[1].endsWith("…"));
  assert.ok(cut.every((l) => measure(l) <= 9));
  assert.deepEqual(wrapText("", 10, measure), []);
});

test("splitExecutionId", () => {
  assert.deepEqual(splitExecutionId("12"), ["12"]);
  assert.deepEqual(splitExecutionId("5:12"), ["5", "12"]);
  assert.deepEqual(splitExecutionId(7), ["7"]);
  assert.deepEqual(splitExecutionId(null), []);
});

test("panelLines: the price only where no badge shows it, 'not run yet', status lines with tones", () => {
  const status = { state: "running", elapsed: 12, requestId: "abc", cost: null, queuePosition: null, note: null };
  assert.deepEqual(panelLines({ price: "$0.03 / image", priceInPanel: false, status: null }).map((l) => l.text),
    ["RunComfy: not run yet"]);
  const vue = panelLines({ price: "$0.03 / image", priceInPanel: true, status });
  assert.deepEqual(vue.map((l) => [l.kind, l.text]), [["price", "Price: $0.03 / image"],
    ["status", "RunComfy: running · 12s"], ["request", "request abc"]]);
  assert.equal(vue[1].tone, "busy");
  assert.deepEqual(panelLines({ price: "$0.03", priceInPanel: true, showPrice: false, status, showStatus: false }), []);
  const failed = panelLines({ status: { state: "error", text: "Result: not found.\nmore", requestId: "abc" } });
  assert.deepEqual(failed.map((l) => l.text), ["RunComfy: error", "request abc", "Result: not found."]);
  assert.equal(failed[0].tone, "error");
});

test("catalogRefreshResult: counts and names, restart or live reload, the server's error", () => {
  const live = catalogRefreshResult(200, { ok: true, added: ["a/b", "c/d"], changed: 1, removed: [], restart_required: false });
  assert.equal(live.ok, true);
  assert.equal(live.reload, true);
  assert.match(live.message, /^Model catalog refreshed: 2 added \(a\/b, c\/d\), 1 changed, 0 removed\./);
  const restart = catalogRefreshResult(200, { ok: true, added: 1, changed: 0, removed: 0 });
  assert.equal(restart.reload, false, "a restart is assumed when the server does not say");
  assert.match(restart.message, /Restart ComfyUI/);
  const nothing = catalogRefreshResult(200, { ok: true, added: [], changed: [], removed: [], restart_required: true });
  assert.equal(nothing.reload, false);
  assert.doesNotMatch(nothing.message, /Restart/);
  const many = catalogRefreshResult(200, { ok: true, added: ["m1", "m2", "m3", "m4", "m5", "m6", "m7"] });
  assert.match(many.message, /m5, \+2 more\)/);
  // The route's own shape (nodes/catalog_api.py): counts plus *_ids.
  const route = catalogRefreshResult(200, { ok: true, added: 1, changed: 0, removed: 1, added_ids: ["x/new"],
    changed_ids: [], removed_ids: ["x/old"], restart_required: false, nodes_added: ["RunComfy_x_new"], needs_token: false });
  assert.equal(route.message.split(".")[0] + ".", "Model catalog refreshed: 1 added (x/new), 0 changed, 1 removed (x/old).");
  assert.equal(route.reload, true);
  const noToken = catalogRefreshResult(200, { ok: false, needs_token: true, error: "a token is needed to read the catalog", restart_required: false });
  assert.deepEqual(noToken, { ok: false, message: "a token is needed to read the catalog", reload: false });
  const bad = catalogRefreshResult(502, { ok: false, error: "Could not reach RunComfy: timeout" });
  assert.deepEqual(bad, { ok: false, message: "Could not reach RunComfy: timeout", reload: false });
  assert.equal(catalogRefreshResult(500, "<html>").message, "Catalog refresh failed (HTTP 500)");
});
