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

globalThis.document = { createElement: (tag) => new FakeElement(tag) };

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

test("settings: a custom token row, the catalog refresh and two display toggles under the RunComfy category", () => {
  assert.equal(ext.name, "RunComfy.ModelAPI");
  const ids = ext.settings.map((s) => s.id);
  assert.deepEqual(ids, ["RunComfy.Account.APIToken", "RunComfy.Catalog.Refresh", "RunComfy.Display.ShowPrice",
    "RunComfy.Display.ShowStatus"]);
  assert.equal(typeof ext.settings[1].type, "function");
  for (const s of ext.settings) assert.equal(s.category[0], "RunComfy");
  assert.equal(typeof ext.settings[0].type, "function");
  assert.equal(ext.settings[0].defaultValue, "");
});

test("token row: shows the status, sends the token to the server only, shows server errors", async () => {
  routes = {
    "GET /runcomfy/token": () => [200, { configured: true, source: "environment" }],
    "POST /runcomfy/token": (route, options) => {
      const { token } = JSON.parse(options.body);
      return token === "good-token"
        ? [200, { ok: true, configured: true, source: "saved" }]
        : [400, { ok: false, error: "RunComfy rejected this token; it was not saved." }];
    },
    "POST /runcomfy/token/test": () => [200, { ok: false, configured: true, source: "saved", error: "Could not reach RunComfy: timeout" }],
    "DELETE /runcomfy/token": () => [200, { ok: true, configured: false, source: "none" }],
    "GET /runcomfy/price": () => [200, { available: false, text: "price unavailable" }],
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
  const post = fetchCalls.filter((c) => c.options.method === "POST" && c.route === "/runcomfy/token").at(-1);
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
  const everything = JSON.stringify(fetchCalls.filter((c) => !c.route.startsWith("/runcomfy/token")));
  assert.ok(!everything.includes("good-token"), "the token goes to /runcomfy/token only");
});

test("price badge: fetched by node class, cached, 'price unavailable' on failure", async () => {
  let priceCalls = 0;
  routes["GET /runcomfy/price"] = (route) => {
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

  settingValues.set("RunComfy.Display.ShowPrice", false);
  assert.equal(a.badges[0]().getWidth(ctx), 0, "hidden by the setting");
  settingValues.delete("RunComfy.Display.ShowPrice");

  routes["GET /runcomfy/price"] = () => [500, "<html>Internal Server Error</html>"];
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

test("status: runcomfy.status events are kept on the node and drawn under it", async () => {
  const Wan = await nodeClass("RunComfy_wan_ai_wan_2_6_image_to_image");
  const node = addNode(Wan, 7);
  const other = addNode(Wan, 8);
  const send = (detail) => api.dispatchEvent(new CustomEvent("runcomfy.status", { detail }));
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

  settingValues.set("RunComfy.Display.ShowStatus", false);
  const hidden = new FakeCtx();
  node.onDrawForeground(hidden);
  assert.deepEqual(hidden.texts, []);
  settingValues.delete("RunComfy.Display.ShowStatus");

  // Events for unknown nodes or without a node id are ignored.
  send({ text: "no node" });
  send({ node: "999", state: "running", text: "x" });
});

test("execution_interrupted marks a still-busy node as stopped", async () => {
  const Wan = await nodeClass("RunComfy_wan_ai_wan_2_6_image_to_image");
  const node = addNode(Wan, 9);
  api.dispatchEvent(new CustomEvent("runcomfy.status", { detail: { node: "9", state: "running", request_id: "r", text: "running" } }));
  api.dispatchEvent(new CustomEvent("execution_interrupted", { detail: { node_id: "9" } }));
  const ctx = new FakeCtx();
  node.onDrawForeground(ctx);
  assert.ok(ctx.texts[0].includes("stopped"), ctx.texts.join(" | "));
});
