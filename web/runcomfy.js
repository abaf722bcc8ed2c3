// RunComfy Model API: the ComfyUI frontend extension of this node pack.
//  - Settings › RunComfy › Account: API token row (password field, Save / Test / Clear). The token
//    goes straight to the pack's server route and is never put in ComfyUI's settings or a workflow.
//  - A price badge on every RunComfy_ node, from GET /runcomfy/price (cached a few minutes).
//  - The last RunComfy status of a node (state, queue position, elapsed, cost, request id), kept
//    under the node after the run from the "runcomfy.status" websocket events.
// Pure logic (formatting, parsing, caching) lives in ./lib/format.js and is unit-tested with Node.

import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";
import {
  PriceCache,
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
} from "./lib/format.js";

const EXTENSION = "RunComfy.ModelAPI";
const SETTING_TOKEN = "RunComfy.Account.APIToken";
const SETTING_SHOW_PRICE = "RunComfy.Display.ShowPrice";
const SETTING_SHOW_STATUS = "RunComfy.Display.ShowStatus";

const priceCache = new PriceCache();
// The last status is kept on the node object itself (node.__runcomfyStatus), in memory only:
// not in node.properties, so runs neither change the saved workflow nor mark it modified.
let priceSeq = 0;

// --- small helpers ------------------------------------------------------------------------

function setting(id, fallback) {
  try {
    const store = app.extensionManager?.setting;
    const value = store ? store.get(id) : app.ui?.settings?.getSettingValue?.(id);
    return value === undefined || value === null ? fallback : value;
  } catch {
    return fallback;
  }
}

async function callJson(path, options = {}) {
  let response;
  try {
    // The pack's routes refuse writes without this header: a cross-site page cannot send it.
    response = await api.fetchApi(path, { ...options, headers: { ...(options.headers || {}), "X-RunComfy-Request": "1" } });
  } catch (err) {
    return { status: 0, body: { error: `Could not reach the ComfyUI server: ${err?.message || err}` } };
  }
  let body = null;
  const text = await response.text().catch(() => "");
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = text;
  }
  return { status: response.status, body };
}

function redraw() {
  try {
    app.graph?.setDirtyCanvas?.(true, true);
    app.canvas?.setDirty?.(true, true);
  } catch {
    /* canvas not ready */
  }
}

function nodeClassOf(node) {
  return node?.comfyClass || node?.constructor?.comfyClass || node?.type || "";
}

function allNodes(graph = app.rootGraph || app.graph, out = [], seen = new Set()) {
  if (!graph || seen.has(graph)) return out;
  seen.add(graph);
  for (const node of graph._nodes || graph.nodes || []) {
    out.push(node);
    if (node.subgraph) allNodes(node.subgraph, out, seen);
  }
  return out;
}

/** The node an execution id points at ("12", or "5:12" for a node inside subgraph node 5). */
function nodeForExecutionId(id) {
  const path = splitExecutionId(id);
  let graph = app.rootGraph || app.graph;
  let node = null;
  for (const part of path) {
    if (!graph) return null;
    node = graph.getNodeById?.(part) ?? graph.getNodeById?.(Number(part)) ?? null;
    if (!node) return null;
    graph = node.subgraph;
  }
  return node;
}

function statusForNode(node) {
  return node?.__runcomfyStatus || null;
}

// --- price badge --------------------------------------------------------------------------

// A duck-typed LGraphBadge: node.badges accepts functions returning {height, getWidth, draw}.
class TextBadge {
  constructor() {
    this.text = "";
    this.fgColor = "#ffffff";
    this.bgColor = "#5c4a1f";
    this.fontSize = 11;
    this.padding = 6;
    this.height = 18;
    this.cornerRadius = 5;
    this.xOffset = 0;
    this.yOffset = 0;
  }

  get visible() {
    return this.text.length > 0;
  }

  getWidth(ctx) {
    if (!this.visible) return 0;
    const { font } = ctx;
    ctx.font = `${this.fontSize}px sans-serif`;
    const width = ctx.measureText(this.text).width + this.padding * 2;
    ctx.font = font;
    return width;
  }

  draw(ctx, x, y) {
    if (!this.visible) return;
    const { font, fillStyle, textBaseline, textAlign } = ctx;
    ctx.font = `${this.fontSize}px sans-serif`;
    const width = this.getWidth(ctx);
    ctx.fillStyle = this.bgColor;
    ctx.beginPath();
    if (ctx.roundRect) ctx.roundRect(x, y, width, this.height, this.cornerRadius);
    else ctx.rect(x, y, width, this.height);
    ctx.fill();
    ctx.fillStyle = this.fgColor;
    ctx.textBaseline = "middle";
    ctx.textAlign = "left";
    ctx.fillText(this.text, x + this.padding, y + this.height / 2 + 1);
    Object.assign(ctx, { font, fillStyle, textBaseline, textAlign });
  }
}

function attachPriceBadge(node) {
  if (node.__runcomfyPriceBadge) return node.__runcomfyPriceBadge;
  const badge = new TextBadge();
  badge.text = "price …";
  node.__runcomfyPriceBadge = badge;
  if (Array.isArray(node.badges)) {
    node.badges.push(() => {
      if (setting(SETTING_SHOW_PRICE, true)) return badge;
      return { height: 0, visible: false, getWidth: () => 0, draw: () => {} };
    });
  }
  return badge;
}

async function refreshPrice(node) {
  const nodeClass = nodeClassOf(node);
  if (!isRunComfyType(nodeClass)) return;
  const badge = attachPriceBadge(node);
  const seq = ++priceSeq;
  node.__runcomfyPriceSeq = seq;
  const path = priceQuery({ nodeClass });
  const answer = await priceCache.load(nodeClass, async () => {
    const { status, body } = await callJson(path);
    if (status !== 200 || !body || typeof body !== "object") return { available: false };
    return body;
  });
  if (node.__runcomfyPriceSeq !== seq) return; // a newer lookup (e.g. after a token change) won
  badge.text = priceText(answer);
  badge.bgColor = answer && answer.available === true ? "#5c4a1f" : "#444444";
  redraw();
}

function refreshAllPrices() {
  priceCache.clear();
  for (const node of allNodes()) {
    if (isRunComfyType(nodeClassOf(node))) refreshPrice(node);
  }
}

// --- status under the node ----------------------------------------------------------------

const TONE_COLORS = { busy: "#8fb8ff", ok: "#7fd17f", error: "#ff8a80", idle: "#bbbbbb" };
const STATUS_FONT_PX = 11;
const STATUS_LINE_PX = 14;

function drawStatus(node, ctx) {
  if (!setting(SETTING_SHOW_STATUS, true) || node.flags?.collapsed) return;
  const status = statusForNode(node);
  if (!status) return;
  const width = Math.max(120, (node.size?.[0] || 300) - 8);
  const { font, fillStyle, textBaseline, textAlign } = ctx;
  ctx.font = `${STATUS_FONT_PX}px sans-serif`;
  const measure = (s) => ctx.measureText(s).width;
  const lines = [];
  for (const line of statusLines(status)) lines.push(...wrapText(line, width, measure, 2));
  const shown = lines.slice(0, 4);
  const top = (node.size?.[1] || 0) + 6;
  ctx.fillStyle = "rgba(0,0,0,0.55)";
  ctx.beginPath();
  const boxHeight = shown.length * STATUS_LINE_PX + 6;
  if (ctx.roundRect) ctx.roundRect(0, top, width + 8, boxHeight, 4);
  else ctx.rect(0, top, width + 8, boxHeight);
  ctx.fill();
  ctx.textBaseline = "top";
  ctx.textAlign = "left";
  shown.forEach((line, i) => {
    ctx.fillStyle = i === 0 ? TONE_COLORS[stateTone(status.state)] : "#dddddd";
    ctx.fillText(line, 4, top + 4 + i * STATUS_LINE_PX);
  });
  Object.assign(ctx, { font, fillStyle, textBaseline, textAlign });
}

function recordStatus(status) {
  if (!status) return;
  const node = nodeForExecutionId(status.node);
  if (!node) return;
  node.__runcomfyStatus = status;
  redraw();
}

function onStatusEvent(event) {
  const parsed = parseStatusEvent(event?.detail);
  if (!parsed) return;
  const node = nodeForExecutionId(parsed.node);
  if (!node) return;
  recordStatus(mergeStatus(statusForNode(node), parsed));
}

function onExecutionError(event) {
  const detail = event?.detail;
  const id = detail?.node_id === undefined || detail?.node_id === null ? null : String(detail.node_id);
  const node = id ? nodeForExecutionId(id) : null;
  const status = statusFromExecutionError(detail, statusForNode(node));
  if (status) recordStatus({ ...status, at: Date.now() });
}

function onExecutionInterrupted() {
  for (const node of allNodes()) {
    if (node.__runcomfyStatus) node.__runcomfyStatus = statusAfterInterrupt(node.__runcomfyStatus);
  }
  redraw();
}

// --- settings: the token row --------------------------------------------------------------

function el(tag, props = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "style") Object.assign(node.style, value);
    else if (key in node) node[key] = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

/** The custom settings row. ComfyUI calls it with (name, setter, value); the setter is never
 *  called, so nothing reaches comfy.settings.json. */
function renderTokenRow() {
  const status = el("div", { textContent: "Token: …", style: { fontSize: "0.85rem", opacity: "0.85" } });
  const input = el("input", {
    type: "password",
    placeholder: "Paste your RunComfy API token",
    autocomplete: "new-password",
    spellcheck: false,
    className: "p-inputtext p-component",
    style: { width: "16rem" },
  });
  input.setAttribute("data-lpignore", "true");
  const message = el("div", {
    style: { fontSize: "0.8rem", maxWidth: "24rem", whiteSpace: "normal", minHeight: "1em" },
  });
  const button = (label, title) => el("button", {
    type: "button", textContent: label, title,
    className: "p-button p-component p-button-sm p-button-secondary",
    style: { padding: "0.25rem 0.6rem" },
  });
  const save = button("Save", "Check the token with RunComfy and keep it on the ComfyUI server");
  const test = button("Test", "Check the configured token with RunComfy");
  const clear = button("Clear", "Remove the token saved on the ComfyUI server");
  const buttons = [save, test, clear];

  const showInfo = (info) => { status.textContent = tokenStatusLabel(info); };
  const showMessage = (text, ok) => {
    message.textContent = text;
    message.style.color = ok ? "var(--p-green-400, #7fd17f)" : "var(--p-red-400, #ff8a80)";
  };
  const busy = (on) => buttons.forEach((b) => { b.disabled = on; });

  async function loadStatus() {
    const { status: code, body } = await callJson("/runcomfy/token");
    showInfo(code === 200 ? body : null);
  }

  async function run(action, path, options) {
    busy(true);
    showMessage(action === "test" ? "Checking with RunComfy…" : "Working…", true);
    try {
      const { status: code, body } = await callJson(path, options);
      const result = tokenActionResult(action, code, body);
      showMessage(result.message, result.ok);
      if (result.info) showInfo(result.info);
      else await loadStatus();
      if (result.ok && action === "save") input.value = "";
      if (result.ok && action !== "test") refreshAllPrices();
    } finally {
      busy(false);
    }
  }

  save.addEventListener("click", () => {
    const token = input.value.trim();
    if (!token) {
      showMessage("Paste a token first.", false);
      return;
    }
    run("save", "/runcomfy/token", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ token }),
    });
  });
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter") save.click();
  });
  test.addEventListener("click", () => run("test", "/runcomfy/token/test", { method: "POST" }));
  clear.addEventListener("click", () => run("clear", "/runcomfy/token", { method: "DELETE" }));

  loadStatus();
  return el("div", { style: { display: "flex", flexDirection: "column", gap: "0.35rem", alignItems: "flex-end" } }, [
    status,
    el("div", { style: { display: "flex", gap: "0.35rem", alignItems: "center" } }, [input, ...buttons]),
    message,
  ]);
}

// --- registration -------------------------------------------------------------------------

app.registerExtension({
  name: EXTENSION,
  settings: [
    {
      id: SETTING_TOKEN,
      category: ["RunComfy", "Account", "API token"],
      name: "RunComfy API token",
      tooltip: "Kept on the ComfyUI server (user directory), never in the workflow or browser settings. "
        + "The RUNCOMFY_API_TOKEN environment variable is used when no token is saved.",
      type: () => renderTokenRow(),
      defaultValue: "",
    },
    {
      id: SETTING_SHOW_PRICE,
      category: ["RunComfy", "Display", "Price badge"],
      name: "Show the price badge on RunComfy nodes",
      tooltip: "The model's list price from RunComfy (needs a token); the actual cost of a run is shown after it.",
      type: "boolean",
      defaultValue: true,
      onChange: () => redraw(),
    },
    {
      id: SETTING_SHOW_STATUS,
      category: ["RunComfy", "Display", "Last status"],
      name: "Show the last RunComfy status under the node",
      tooltip: "Request id, state, queue position, elapsed time and cost, kept under the node after the run.",
      type: "boolean",
      defaultValue: true,
      onChange: () => redraw(),
    },
  ],

  setup() {
    api.addEventListener("runcomfy.status", onStatusEvent);
    api.addEventListener("execution_error", onExecutionError);
    api.addEventListener("execution_interrupted", onExecutionInterrupted);
  },

  async beforeRegisterNodeDef(nodeType, nodeData) {
    if (!isRunComfyType(nodeData?.name)) return;

    const onNodeCreated = nodeType.prototype.onNodeCreated;
    nodeType.prototype.onNodeCreated = function () {
      const r = onNodeCreated?.apply(this, arguments);
      attachPriceBadge(this);
      // comfyClass is set by the time the node exists; type may be set only afterwards.
      queueMicrotask(() => refreshPrice(this));
      return r;
    };

    const onDrawForeground = nodeType.prototype.onDrawForeground;
    nodeType.prototype.onDrawForeground = function (ctx) {
      const r = onDrawForeground?.apply(this, arguments);
      try {
        drawStatus(this, ctx);
      } catch (err) {
        console.debug("[RunComfy] status draw failed", err);
      }
      return r;
    };

    const getExtraMenuOptions = nodeType.prototype.getExtraMenuOptions;
    nodeType.prototype.getExtraMenuOptions = function (canvas, options) {
      const r = getExtraMenuOptions?.apply(this, arguments);
      const status = statusForNode(this);
      const extra = [];
      if (status?.requestId) {
        extra.push({
          content: "Copy last RunComfy request id",
          callback: () => navigator.clipboard?.writeText(status.requestId),
        });
      }
      extra.push({ content: "Refresh RunComfy price", callback: () => { priceCache.clear(); refreshPrice(this); } });
      if (status) {
        extra.push({
          content: "Clear RunComfy status",
          callback: () => { this.__runcomfyStatus = null; redraw(); },
        });
      }
      // Frontend 1.27 prepends the returned items to the node's context menu.
      return Array.isArray(r) ? r.concat(extra) : extra;
    };
  },
});
