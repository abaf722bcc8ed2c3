// Smoke tests of web/runcomfy.js against fake ComfyUI `app`/`api` objects and a tiny fake DOM:
// the extension registers its settings, never stores the token in ComfyUI settings, shows the
// server's errors, puts a price badge on RunComfy_ nodes and keeps the last status on the node.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { register } from "node:module";

// --- fake DOM -----------------------------------------------------------------------------

class FakeElement {
  constructor(tag) {
    this.tagName = tag.toUpperCase();
    this.style = {};
    this.children = [];
    this.attributes = {};
    this.listeners = {};
    this.textContent = "";
    this.value = "";
    this.type = "";
    this.placeholder = "";
    this.className = "";
    this.title = "";
    this.disabled = false;
    this.autocomplete = "";
    this.spellcheck = true;
  }

  // Service text must never be parsed as HTML: every HTML sink of the fake DOM records its use.
  set innerHTML(v) { htmlSinks.push(["innerHTML", String(v)]); }
  get innerHTML() { return ""; }
  set outerHTML(v) { htmlSinks.push(["outerHTML", String(v)]); }
  insertAdjacentHTML(_, v) { htmlSinks.push(["insertAdjacentHTML", String(v)]); }

  setAttribute(k, v) { this.attributes[k] = String(v); }
  append(...kids) { this.children.push(...kids); }
  addEventListener(type, fn) { (this.listeners[type] ||= []).push(fn); }
  dispatch(type, event = {}) { for (const fn of this.listeners[type] || []) fn(event); }
  click() { if (!this.disabled) this.dispatch("click"); }

  *walk() {
    yield this;
    for (const c of this.children) if (c instanceof FakeElement) yield* c.walk();
  }

  find(pred) {
    for (const e of this.walk()) if (pred(e)) return e;
    return null;
  }
}

const htmlSinks = [];
globalThis.document = { createElement: (tag) => new FakeElement(tag), write: (v) => htmlSinks.push(["write", v]) };

// --- fake ComfyUI -------------------------------------------------------------------------

const settingValues = new Map();
const storedSettings = [];
const registered = [];
const fetchCalls = [];
let routes = {};

class FakeGraph {
  constructor() { this._nodes = []; this.dirty = 0; }
  getNodeById(id) { return this._nodes.find((n) => String(n.id) === String(id)) || null; }
  setDirtyCanvas() { this.dirty++; }
}

const graph = new FakeGraph();
const api = new EventTarget();
api.fetchApi = async (route, options = {}) => {
  fetchCalls.push({ route, options });
  const key = `${(options.method || "GET").toUpperCase()} ${route.split("?")[0]}`;
  const handler = routes[key];
  const [status, body] = handler ? await handler(route, options) : [404, { error: "no route" }];
  return { status, text: async () => (typeof body === "string" ? body : JSON.stringify(body)) };
};
const app = {
  graph,
  rootGraph: graph,
  canvas: { setDirty() {} },
  registerExtension: (ext) => registered.push(ext),
  extensionManager: {
    setting: {
      get: (id) => settingValues.get(id),
      set: async (id, v) => { storedSettings.push([id, v]); settingValues.set(id, v); },
    },
  },
};
globalThis.__runcomfyFakes = { app, api };

const flush = () => new Promise((r) => setTimeout(r, 0));
let ext;

before(async () => {
  register("./fakes/loader.js", import.meta.url);
  await import("../../web/runcomfy.js");
  assert.equal(registered.length, 1, "the extension registers once");
  ext = registered[0];
  ext.setup?.();
});

// A node class as ComfyUI builds it: beforeRegisterNodeDef patches the prototype.
async function nodeClass(name) {
  class Node {
    constructor(id) { this.id = id; this.badges = []; this.size = [400, 300]; this.flags = {}; }
  }
  Node.prototype.comfyClass = name;
  await ext.beforeRegisterNodeDef(Node, { name });
  return Node;
}

function addNode(Node, id) {
  const node = new Node(id);
  node.onNodeCreated?.();
  graph._nodes.push(node);
  return node;
}

class FakeCtx {
  constructor() { this.texts = []; this.font = ""; this.fillStyle = ""; this.textBaseline = ""; this.textAlign = ""; }
  measureText(s) { return { width: s.length * 6 }; }
  fillText(s) { this.texts.push(s); }
  beginPath() {}
  roundRect() {}
  rect() {}
  fill() {}
}

// --- tests --------------------------------------------------------------------------------

test("settings: a custom token row, the catalog refresh and two display toggles under the RunComfy Model API section", () => {
  assert.equal(ext.name, "RunComfyModelAPI");
  const ids = ext.settings.map((s) => s.id);
  assert.deepEqual(ids, ["RunComfyModelAPI.Account.APIToken", "RunComfyModelAPI.Catalog.Refresh", "RunComfyModelAPI.Network.Proxy", "RunComfyModelAPI.Display.ShowPrice",
    "RunComfyModelAPI.Display.ShowStatus", "RunComfyModelAPI.Spending.Limits", "RunComfyModelAPI.Spending.ConfirmAboveUSD"]);
  assert.equal(typeof ext.settings[1].type, "function");
  for (const s of ext.settings) assert.equal(s.category[0], "RunComfy Model API");
  assert.equal(typeof ext.settings[0].type, "function");
  assert.equal(ext.settings[0].defaultValue, "");
});

test("token row: shows the status, sends the token to the server only, shows server errors", async () => {
  routes = {
    "GET /runcomfy-model-api/token": () => [200, { configured: true, source: "environment" }],
    "POST /runcomfy-model-api/token": (route, options) => {
      const { token } = JSON.parse(options.body);
      return token === "good-token"
        ? [200, { ok: true, configured: true, source: "saved" }]
        : [400, { ok: false, error: "RunComfy rejected this token; it was not saved." }];
    },
    "POST /runcomfy-model-api/token/test": () => [200, { ok: false, configured: true, source: "saved", error: "Could not reach RunComfy: timeout" }],
    "DELETE /runcomfy-model-api/token": () => [200, { ok: true, configured: false, source: "none" }],
    "GET /runcomfy-model-api/price": () => [200, { available: false, text: "price unavailable" }],
  };
  const setterCalls = [];
  const row = ext.settings[0].type("RunComfy API token", (v) => setterCalls.push(v), "");
  await flush();
  const texts = () => [...row.walk()].map((e) => e.textContent);
  assert.ok(texts().includes("Token: from environment"));

  const input = row.find((e) => e.tagName === "INPUT");
  assert.equal(input.type, "password");
  const button = (label) => row.find((e) => e.tagName === "BUTTON" && e.textContent === label);

  input.value = "bad-token";
  button("Save").click();
  await flush(); await flush();
  assert.ok(texts().includes("RunComfy rejected this token; it was not saved."), texts().join(" | "));
  assert.equal(input.value, "bad-token", "a rejected token stays in the field to fix");

  input.value = "  good-token ";
  button("Save").click();
  await flush(); await flush();
  assert.ok(texts().includes("Token: saved"));
  assert.equal(input.value, "", "the field is emptied once saved");
  const post = fetchCalls.filter((c) => c.options.method === "POST" && c.route === "/runcomfy-model-api/token").at(-1);
  assert.deepEqual(JSON.parse(post.options.body), { token: "good-token" });
  // The routes refuse writes without JSON and the pack's header (nodes/origin_guard.py).
  assert.equal(post.options.headers["Content-Type"], "application/json");
  for (const c of fetchCalls) {
    assert.equal(c.options.headers?.["X-RunComfy-Request"], "1", `${c.route} sends X-RunComfy-Request: 1`);
  }

  button("Test").click();
  await flush(); await flush();
  assert.ok(texts().includes("Could not reach RunComfy: timeout"));

  button("Clear").click();
  await flush(); await flush();
  assert.ok(texts().includes("Token: not set"));

  input.value = "";
  button("Save").click();
  await flush();
  assert.ok(texts().includes("Paste a token first."));

  assert.deepEqual(setterCalls, [], "the setting's setter is never called");
  assert.deepEqual(storedSettings, [], "nothing goes into ComfyUI's settings");
  const everything = JSON.stringify(fetchCalls.filter((c) => !c.route.startsWith("/runcomfy-model-api/token")));
  assert.ok(!everything.includes("good-token"), "the token goes to /runcomfy-model-api/token only");
});

test("price badge: fetched by node class, cached, 'price unavailable' on failure", async () => {
  let priceCalls = 0;
  routes["GET /runcomfy-model-api/price"] = (route) => {
    priceCalls++;
    assert.match(route, /node_class=RunComfy_wan_ai_wan_2_6_image_to_image/);
    return [200, { model_id: "wan-ai/wan-2-6/image-to-image", available: true, base_price_usd: 0.03,
      price_unit: "image", text: "$0.03 / image" }];
  };
  const Wan = await nodeClass("RunComfy_wan_ai_wan_2_6_image_to_image");
  const a = addNode(Wan, 101);
  const b = addNode(Wan, 102);
  for (let i = 0; i < 5; i++) await flush();
  assert.equal(a.badges.length, 1);
  const badge = a.badges[0]();
  assert.equal(badge.text, "$0.03 / image");
  assert.equal(b.badges[0]().text, "$0.03 / image");
  assert.ok(priceCalls <= 1, `one lookup for two nodes of a class (got ${priceCalls})`);
  const ctx = new FakeCtx();
  assert.ok(badge.getWidth(ctx) > 0);
  badge.draw(ctx, 0, 0);
  assert.deepEqual(ctx.texts, ["$0.03 / image"]);

  settingValues.set("RunComfyModelAPI.Display.ShowPrice", false);
  assert.equal(a.badges[0]().getWidth(ctx), 0, "hidden by the setting");
  settingValues.delete("RunComfyModelAPI.Display.ShowPrice");

  routes["GET /runcomfy-model-api/price"] = () => [500, "<html>Internal Server Error</html>"];
  const Other = await nodeClass("RunComfy_other_model");
  const c = addNode(Other, 103);
  for (let i = 0; i < 5; i++) await flush();
  assert.equal(c.badges[0]().text, "price unavailable");
});

test("non-RunComfy node classes are left alone", async () => {
  class Plain {}
  const before = Object.getOwnPropertyNames(Plain.prototype);
  await ext.beforeRegisterNodeDef(Plain, { name: "KSampler" });
  assert.deepEqual(Object.getOwnPropertyNames(Plain.prototype), before);
});

test("status: runcomfy_model_api.status events are kept on the node and drawn under it", async () => {
  const Wan = await nodeClass("RunComfy_wan_ai_wan_2_6_image_to_image");
  const node = addNode(Wan, 7);
  const other = addNode(Wan, 8);
  const send = (detail) => api.dispatchEvent(new CustomEvent("runcomfy_model_api.status", { detail }));
  send({ node: "7", text: "queued", request_id: "req-123", state: "queued", elapsed: 4, queue_position: 2, cost: null });
  let ctx = new FakeCtx();
  node.onDrawForeground(ctx);
  assert.ok(ctx.texts.some((t) => t.includes("queued") && t.includes("queue #2")), ctx.texts.join(" | "));
  assert.ok(ctx.texts.some((t) => t.includes("req-123")));

  send({ node: "7", text: "done", request_id: "req-123", state: "done", elapsed: 20, cost: 0.03 });
  send({ node: "7", text: "done: 1 image(s) · cost $0.0300 · request req-123", request_id: "req-123", state: "done", cost: 0.03 });
  ctx = new FakeCtx();
  node.onDrawForeground(ctx);
  assert.ok(ctx.texts[0].includes("done") && ctx.texts[0].includes("$0.03") && ctx.texts[0].includes("20s"), ctx.texts.join(" | "));

  const empty = new FakeCtx();
  other.onDrawForeground(empty);
  assert.deepEqual(empty.texts, [], "another node shows nothing");

  // The status persists after the run and an error on the node replaces it.
  api.dispatchEvent(new CustomEvent("execution_error", {
    detail: { node_id: "8", node_type: "RunComfy_wan_ai_wan_2_6_image_to_image", exception_message: "No RunComfy API token." },
  }));
  const errCtx = new FakeCtx();
  other.onDrawForeground(errCtx);
  assert.ok(errCtx.texts.includes("No RunComfy API token."), errCtx.texts.join(" | "));

  const menu = node.getExtraMenuOptions({}, []);
  assert.ok(menu.some((m) => m.content === "Copy last RunComfy request id"));

  settingValues.set("RunComfyModelAPI.Display.ShowStatus", false);
  const hidden = new FakeCtx();
  node.onDrawForeground(hidden);
  assert.deepEqual(hidden.texts, []);
  settingValues.delete("RunComfyModelAPI.Display.ShowStatus");

  // Events for unknown nodes or without a node id are ignored.
  send({ text: "no node" });
  send({ node: "999", state: "running", text: "x" });
});

test("execution_interrupted marks a still-busy node as stopped", async () => {
  const Wan = await nodeClass("RunComfy_wan_ai_wan_2_6_image_to_image");
  const node = addNode(Wan, 9);
  api.dispatchEvent(new CustomEvent("runcomfy_model_api.status", { detail: { node: "9", state: "running", request_id: "r", text: "running" } }));
  api.dispatchEvent(new CustomEvent("execution_interrupted", { detail: { node_id: "9" } }));
  const ctx = new FakeCtx();
  node.onDrawForeground(ctx);
  assert.ok(ctx.texts[0].includes("stopped"), ctx.texts.join(" | "));
});

// --- the panel (DOM widget), both renderers ---------------------------------------------------

// A node of a frontend with addDOMWidget (1.27+): records the widget as ComfyUI would.
async function domNodeClass(name) {
  class Node {
    constructor(id) { this.id = id; this.badges = []; this.size = [400, 300]; this.flags = {}; this.widgets = []; }
    addDOMWidget(widgetName, type, element, options) {
      const widget = { name: widgetName, type, element, options, value: undefined };
      this.widgets.push(widget);
      return widget;
    }
  }
  Node.prototype.comfyClass = name;
  await ext.beforeRegisterNodeDef(Node, { name });
  return Node;
}

const panelTexts = (node) => node.widgets.find((w) => w.name === "runcomfy_status").element.children.map((c) => c.textContent);

test("panel: a non-serialized DOM widget with the live status, then the last outcome", async () => {
  routes["GET /runcomfy-model-api/price"] = () => [200, { available: true, base_price_usd: 0.03, price_unit: "image" }];
  const Wan = await domNodeClass("RunComfy_wan_ai_wan_2_6_image_to_image");
  const node = addNode(Wan, 21);
  for (let i = 0; i < 5; i++) await flush();
  const widget = node.widgets.find((w) => w.name === "runcomfy_status");
  assert.ok(widget, "the panel is a DOM widget");
  assert.equal(widget.serialize, false, "not in widgets_values");
  assert.equal(widget.options.serialize, false, "not in the prompt");
  assert.ok(widget.options.getMinHeight() > 0, "reserves room on the canvas");
  assert.deepEqual(panelTexts(node), ["RunComfy: not run yet"], "canvas: the price is the badge, not a panel line");
  assert.equal(node.badges[0]().text, "$0.03 / image");

  // ComfyUI's own progress text arrives first; the panel's copy replaces it.
  node.widgets.push({ name: "$$node-text-preview", type: "progressText", value: "running" });
  const send = (detail) => api.dispatchEvent(new CustomEvent("runcomfy_model_api.status", { detail }));
  send({ node: "21", text: "queued", request_id: "r-21", state: "queued", elapsed: 2, queue_position: 3 });
  assert.ok(panelTexts(node)[0].includes("queued") && panelTexts(node)[0].includes("queue position 3"), panelTexts(node).join(" | "));
  assert.ok(panelTexts(node).includes("request r-21"));
  assert.ok(!node.widgets.some((w) => w.name === "$$node-text-preview"), "no duplicate progress text");
  send({ node: "21", text: "running", request_id: "r-21", state: "running", elapsed: 9, note: "sending 7.3 MB" });
  assert.ok(panelTexts(node)[0].includes("running · 9s · sending 7.3 MB"), panelTexts(node).join(" | "));
  send({ node: "21", text: "done", request_id: "r-21", state: "done", cost: 0.0025 });
  assert.deepEqual(panelTexts(node), ["RunComfy: done · 9s · cost $0.0025", "request r-21"]);

  api.dispatchEvent(new CustomEvent("execution_error", {
    detail: { node_id: "21", node_type: "RunComfy_wan_ai_wan_2_6_image_to_image",
      exception_message: "The remote job failed. Server said: moderation\nsecond line" },
  }));
  assert.deepEqual(panelTexts(node), ["RunComfy: error · 9s · cost $0.0025", "request r-21",
    "The remote job failed. Server said: moderation", "second line"], "every line of the error (issue 18.4), request and cost kept");

  settingValues.set("RunComfyModelAPI.Display.ShowStatus", false);
  node.getExtraMenuOptions({}, []); // any later update re-renders
  api.dispatchEvent(new CustomEvent("runcomfy_model_api.status", { detail: { node: "21", text: "x", state: "running" } }));
  assert.deepEqual(panelTexts(node), [], "the status setting hides it");
  assert.equal(widget.options.getMinHeight(), 0);
  settingValues.delete("RunComfyModelAPI.Display.ShowStatus");
});

test("Vue nodes: the price moves from the badge (read once by that renderer) into the panel", async () => {
  routes["GET /runcomfy-model-api/price"] = () => [200, { available: true, base_price_usd: 0.1, price_unit: "second", duration_field: "duration" }];
  const Video = await domNodeClass("RunComfy_some_video_model");
  const node = addNode(Video, 31);
  node.widgets.unshift({ name: "duration", value: 5 });
  for (let i = 0; i < 5; i++) await flush();
  assert.equal(node.badges[0]().text, "$0.10 / s · ≈ $0.50 for 5 s (estimate)", "canvas badge, live estimate");
  settingValues.set("Comfy.VueNodes.Enabled", true);
  try {
    assert.equal(node.badges[0]().text, "", "an empty badge: the Vue renderer skips it");
    api.dispatchEvent(new CustomEvent("runcomfy_model_api.status", { detail: { node: "31", text: "queued", state: "queued", request_id: "v1" } }));
    assert.equal(panelTexts(node)[0], "Price: $0.10 / s · ≈ $0.50 for 5 s (estimate)");
    node.widgets[0].value = 8;
    api.dispatchEvent(new CustomEvent("runcomfy_model_api.status", { detail: { node: "31", text: "running", state: "running", request_id: "v1" } }));
    assert.equal(panelTexts(node)[0], "Price: $0.10 / s · ≈ $0.80 for 8 s (estimate)", "follows the duration widget");
    settingValues.set("RunComfyModelAPI.Display.ShowPrice", false);
    api.dispatchEvent(new CustomEvent("runcomfy_model_api.status", { detail: { node: "31", text: "running", state: "running", request_id: "v1", elapsed: 3 } }));
    assert.ok(!panelTexts(node).some((t) => t.startsWith("Price:")), "the price setting hides it");
  } finally {
    settingValues.delete("Comfy.VueNodes.Enabled");
    settingValues.delete("RunComfyModelAPI.Display.ShowPrice");
  }
});

test("catalog refresh: POST with the pack's header, reports the change, reloads node definitions when live", async () => {
  let reloads = 0;
  app.reloadNodeDefs = async () => { reloads++; };
  routes["POST /runcomfy-model-api/catalog/refresh"] = () => [200, { ok: true, added: ["a/new-model"], changed: [], removed: [], restart_required: false }];
  const row = ext.settings[1].type("Refresh model catalog", () => {}, "");
  const buttonEl = row.find((e) => e.tagName === "BUTTON");
  buttonEl.click();
  for (let i = 0; i < 5; i++) await flush();
  const texts = () => [...row.walk()].map((e) => e.textContent).join(" | ");
  assert.match(texts(), /1 added \(a\/new-model\), 0 changed, 0 removed/);
  assert.equal(reloads, 1, "node definitions re-read without a restart");
  const call = fetchCalls.filter((c) => c.route === "/runcomfy-model-api/catalog/refresh").at(-1);
  assert.equal(call.options.method, "POST");
  assert.equal(call.options.headers["X-RunComfy-Request"], "1");

  routes["POST /runcomfy-model-api/catalog/refresh"] = () => [200, { ok: true, added: 2, changed: 1, removed: 0, restart_required: true }];
  buttonEl.click();
  for (let i = 0; i < 5; i++) await flush();
  assert.match(texts(), /Restart ComfyUI/);
  assert.equal(reloads, 1, "no reload when the server needs a restart");

  routes["POST /runcomfy-model-api/catalog/refresh"] = () => [403, { ok: false, error: "Refused: cross-site request" }];
  buttonEl.click();
  for (let i = 0; i < 5; i++) await flush();
  assert.match(texts(), /Refused: cross-site request/);
  delete app.reloadNodeDefs;
});

// --- catalog text is data, never markup; the model id travels with the node ----------------------

const XSS = '<img src=x onerror="globalThis.__pwned=1">';

test("service text with HTML is only ever text: price, status, error, catalog report, token status", async () => {
  htmlSinks.length = 0;
  routes["GET /runcomfy-model-api/price"] = () => [200, { available: true, base_price_usd: 0.03, price_unit: "image" + XSS,
    text: "$0.03 / image" + XSS, model_id: "x/y" }];
  const Node = await domNodeClass("RunComfy_xss_model");
  const node = addNode(Node, 41);
  for (let i = 0; i < 5; i++) await flush();
  const send = (detail) => api.dispatchEvent(new CustomEvent("runcomfy_model_api.status", { detail }));
  send({ node: "41", text: "running" + XSS, request_id: "r" + XSS, state: "running", elapsed: 1, note: XSS });
  assert.ok(panelTexts(node).some((t) => t.includes(XSS)), "shown verbatim, as text: " + panelTexts(node).join(" | "));
  api.dispatchEvent(new CustomEvent("execution_error", {
    detail: { node_id: "41", node_type: "RunComfy_xss_model", exception_message: "failed " + XSS } }));
  assert.ok(panelTexts(node).some((t) => t === "failed " + XSS), panelTexts(node).join(" | "));
  settingValues.set("Comfy.VueNodes.Enabled", true);
  try {
    send({ node: "41", text: "x", state: "running", request_id: "r2" });
    assert.ok(panelTexts(node)[0].startsWith("Price: "), panelTexts(node)[0]);
  } finally {
    settingValues.delete("Comfy.VueNodes.Enabled");
  }

  routes["POST /runcomfy-model-api/catalog/refresh"] = () => [200, { ok: true, added: ["a/" + XSS], changed: [], removed: [],
    restart_required: false }];
  const row = ext.settings[1].type("Refresh model catalog", () => {}, "");
  row.find((e) => e.tagName === "BUTTON").click();
  for (let i = 0; i < 5; i++) await flush();
  assert.ok([...row.walk()].some((e) => e.textContent.includes(XSS)), "the report shows the id as text");

  routes["GET /runcomfy-model-api/token"] = () => [200, { configured: true, source: XSS, hint: XSS }];
  const tokenRow = ext.settings[0].type("RunComfy API token", () => {}, "");
  for (let i = 0; i < 5; i++) await flush();
  assert.ok(tokenRow.find((e) => e.dataset?.runcomfyTokenStatus));
  assert.deepEqual(htmlSinks, [], "no HTML sink was used");
  assert.equal(globalThis.__pwned, undefined);
});

test("dom.js: el() refuses props that parse HTML or attach inline handlers", async () => {
  const { el } = await import("../../web/lib/dom.js");
  for (const key of ["innerHTML", "outerHTML", "srcdoc", "onclick", "onError"]) {
    assert.throws(() => el("div", { [key]: XSS }), /not allowed/, key);
  }
  const e = el("div", { textContent: XSS, title: XSS });
  assert.equal(e.textContent, XSS);
  assert.deepEqual(htmlSinks, []);
});

test("web sources: no HTML sink anywhere in the extension", async () => {
  const { readFile } = await import("node:fs/promises");
  for (const file of ["../../web/runcomfy.js", "../../web/lib/dom.js", "../../web/lib/format.js"]) {
    const code = (await readFile(new URL(file, import.meta.url), "utf8")).replace(/\/\/.*$/gm, "");
    const sinks = code.match(/\.(innerHTML|outerHTML|insertAdjacentHTML|setHTMLUnsafe)\s*[=(]|document\.write|v-html|createContextualFragment/g);
    assert.equal(sinks, null, `${file}: ${sinks}`);
  }
});

async function definedNodeClass(name, modelId) {
  class Node {
    constructor(id) { this.id = id; this.badges = []; this.size = [400, 300]; this.flags = {}; this.properties = {}; }
    configure(info) { Object.assign(this.properties, info.properties || {}); this.onConfigure?.(info); }
  }
  Node.prototype.comfyClass = name;
  const input = { required: {}, hidden: { unique_id: "UNIQUE_ID", ...(modelId ? { runcomfy_model_id: modelId } : {}) } };
  await ext.beforeRegisterNodeDef(Node, { name, input });
  return Node;
}

test("model id: a new node carries its definition's id; a loaded node keeps the id it was saved with", async () => {
  routes["GET /runcomfy-model-api/price"] = () => [200, { available: false, model_id: null }];
  const Wan = await definedNodeClass("RunComfy_wan_ai_wan_2_6_image_to_image", "wan-ai/wan-2-6/image-to-image");
  const fresh = addNode(Wan, 51);
  assert.equal(fresh.properties.runcomfy_model_id, "wan-ai/wan-2-6/image-to-image");

  // Loading: created (gets the current id), then LiteGraph merges the saved properties in.
  const loaded = addNode(Wan, 52);
  loaded.configure({ properties: { runcomfy_model_id: "wan-ai/wan-2-6/image_to_image" } });
  assert.equal(loaded.properties.runcomfy_model_id, "wan-ai/wan-2-6/image_to_image", "the saved id is kept");

  // A workflow saved before ids were kept: the node takes its definition's id.
  const old = addNode(Wan, 53);
  old.configure({ properties: { "Node name for S&R": "x" } });
  assert.equal(old.properties.runcomfy_model_id, "wan-ai/wan-2-6/image-to-image");
  for (let i = 0; i < 5; i++) await flush();
  assert.equal(old.properties.runcomfy_model_id, "wan-ai/wan-2-6/image-to-image", "a null answer changes nothing");

  // A definition without the id: the price route's model_id fills it in.
  routes["GET /runcomfy-model-api/price"] = () => [200, { available: true, base_price_usd: 0.02, price_unit: "image", model_id: "a/b" }];
  const Other = await definedNodeClass("RunComfy_a_b", null);
  const other = addNode(Other, 54);
  assert.equal(other.properties.runcomfy_model_id, undefined);
  for (let i = 0; i < 5; i++) await flush();
  assert.equal(other.properties.runcomfy_model_id, "a/b");
});
