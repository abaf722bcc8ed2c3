// RunComfy Model API: the ComfyUI frontend extension of this node pack.
//  - Settings › RunComfy Model API › Account: API token row (password field, Save / Test / Clear). The token
//    goes straight to the pack's server route and is never put in ComfyUI's settings or a workflow.
//  - Settings › RunComfy Model API › Catalog: "Refresh model catalog" (added / changed / removed models).
//  - On every RunComfy_ node, one set of mechanisms that frontends 1.27 to 1.58 render in both the
//    classic canvas and Vue nodes (Comfy.VueNodes.Enabled):
//      * a panel, a DOM widget (node.addDOMWidget, not serialized): the live status while running
//        (state, queue position, elapsed, request id, note) and the last outcome after it (state,
//        cost, request id, first line of an error), and the price where no live badge shows it;
//      * a price badge through node.badges on the canvas (the Vue renderer reads badges once, so
//        there the price is a panel line instead);
//      * falls back to drawing under the node on a frontend without addDOMWidget.
//    The status is kept on the node object in memory only: never in the saved workflow.
//  - Every node carries the model id it was made for in node.properties.runcomfy_model_id (saved
//    with the workflow; the server checks it at run time), from its definition in object_info.
//  - Text from the service (names, prices, errors, catalog reports) is only ever set as
//    textContent or drawn on the canvas: never parsed as HTML (./lib/dom.js refuses HTML props).
// Pure logic (formatting, parsing, caching) lives in ./lib/format.js and is unit-tested with Node.

import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";
import {
  PriceCache,
  catalogRefreshResult,
  durationField,
  isRunComfyType,
  BUSY_STATES,
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
import { button, column, el, note, row, showMessage, textInput } from "./lib/dom.js";
// Issue 18: the panel's content and layout (./lib/panel.js), per-frontend sizing and defaults (./lib/compat.js).
import { createPanel, panelContent, rerunInfo, statusExtras } from "./lib/panel.js";
import { CANVAS_TONES } from "./lib/tones.js";
import { applyInputOptions, applyLabels, fixControlDefaults, frontendVersion, growNodeToFit, panelWidgetOptions } from "./lib/compat.js";
import { HISTORY_COMMAND, openHistoryDialog, registerHistory } from "./lib/history.js";
import { DEFAULT_CONFIRM_ABOVE_USD, installRunConfirm } from "./lib/confirm.js";
import { renderLimitsRow } from "./lib/limits.js";
import { resolveMissingRunComfyNodes } from "./lib/missing.js";
import { migrateSettings } from "./lib/migrate.js";
import { originAdviceBox } from "./lib/settings_origin.js";
import { renderProxyRow } from "./lib/network.js";

const EXTENSION = "RunComfyModelAPI";
const SETTING_TOKEN = "RunComfyModelAPI.Account.APIToken";
const SETTING_LIMITS = "RunComfyModelAPI.Spending.Limits";
const SETTING_CONFIRM_ABOVE = "RunComfyModelAPI.Spending.ConfirmAboveUSD";
const SETTING_SHOW_PRICE = "RunComfyModelAPI.Display.ShowPrice";
const SETTING_SHOW_STATUS = "RunComfyModelAPI.Display.ShowStatus";
const SETTING_CATALOG = "RunComfyModelAPI.Catalog.Refresh";
const SETTING_PROXY = "RunComfyModelAPI.Network.Proxy";
const VUE_NODES = "Comfy.VueNodes.Enabled";
const PANEL_WIDGET = "runcomfy_status";
const PANEL_REFRESH_MS = 1000;
const MODEL_ID_PROPERTY = "runcomfy_model_id";

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
    rootGraph()?.setDirtyCanvas?.(true, true);
    app.canvas?.setDirty?.(true, true);
  } catch {
    /* canvas not ready */
  }
}

function nodeClassOf(node) {
  return node?.comfyClass || node?.constructor?.comfyClass || node?.type || "";
}

/** The root graph, or null before the app has one. Newer frontends log an error when
 *  app.rootGraph is read before it exists, so their quiet accessors are asked first. */
function rootGraph() {
  try {
    if ("rootGraphOrUndefined" in app) return app.rootGraphOrUndefined || null;
    if ("isGraphReady" in app && !app.isGraphReady) return null;
    return app.rootGraph || app.graph || null;
  } catch {
    return null;
  }
}

function allNodes(graph = rootGraph(), out = [], seen = new Set()) {
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
  let graph = rootGraph();
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

// --- the model id a node was made for -------------------------------------------------------

/** The model id in a node definition (object_info): the pack puts it in the hidden inputs,
 *  which ComfyUI ignores when it runs the node. */
function modelIdOfDefinition(nodeData) {
  const id = nodeData?.input?.hidden?.[MODEL_ID_PROPERTY];
  return typeof id === "string" && id ? id : null;
}

/** Keeps the id a node already carries (a saved workflow's, checked by the server at run time);
 *  gives one to a new node, or to a node of a workflow saved before the id was kept. */
function stampModelId(node, modelId) {
  if (!node || typeof modelId !== "string" || !modelId) return;
  if (!node.properties || typeof node.properties !== "object") node.properties = {};
  const have = node.properties[MODEL_ID_PROPERTY];
  if (typeof have === "string" && have) return;
  node.properties[MODEL_ID_PROPERTY] = modelId;
}

// --- which mechanisms this frontend has -----------------------------------------------------

/** The Vue renderer draws nodes as components and reads node.badges once, when it mounts. */
function vueNodes() {
  return setting(VUE_NODES, false) === true;
}

/** The price goes into the panel where no live canvas badge can show it. */
function priceInPanel(node) {
  return vueNodes() || !Array.isArray(node?.badges);
}

function widgetValues(node) {
  const values = {};
  for (const w of node?.widgets || []) if (w && typeof w.name === "string") values[w.name] = w.value;
  return values;
}

function currentPriceText(node) {
  const answer = node.__runcomfyPrice;
  if (answer === undefined) return "price …";
  const field = durationField(answer);
  return priceText(answer, field ? widgetValues(node) : null);
}

// --- price badge (canvas) -------------------------------------------------------------------

// A duck-typed LGraphBadge: node.badges accepts functions returning {text, height, getWidth, draw};
// the canvas calls them every frame, so the text is always current there.
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
  node.__runcomfyPriceBadge = badge;
  if (Array.isArray(node.badges)) {
    node.badges.push(() => {
      // Empty text = no badge: the Vue renderer skips it (the panel shows the price there).
      badge.text = setting(SETTING_SHOW_PRICE, true) && !priceInPanel(node) ? currentPriceText(node) : "";
      badge.bgColor = node.__runcomfyPrice?.available === true ? "#5c4a1f" : "#444444";
      return badge;
    });
  }
  return badge;
}

async function refreshPrice(node) {
  const nodeClass = nodeClassOf(node);
  if (!isRunComfyType(nodeClass)) return;
  attachPriceBadge(node);
  const seq = ++priceSeq;
  node.__runcomfyPriceSeq = seq;
  const path = priceQuery({ nodeClass });
  const answer = await priceCache.load(nodeClass, async () => {
    const { status, body } = await callJson(path);
    if (status !== 200 || !body || typeof body !== "object") return { available: false };
    return body;
  });
  if (node.__runcomfyPriceSeq !== seq) return; // a newer lookup (e.g. after a token change) won
  stampModelId(node, answer?.model_id); // a definition without the id: the server's answer has it
  node.__runcomfyPrice = answer;
  updateNode(node);
}

function refreshAllPrices() {
  priceCache.clear();
  for (const node of allNodes()) {
    if (isRunComfyType(nodeClassOf(node))) refreshPrice(node);
  }
}

// --- the panel (status, last outcome, price) ----------------------------------------------------

function panelModel(node) {
  const status = statusForNode(node);
  return panelContent({
    price: node.__runcomfyPrice === undefined ? null : currentPriceText(node),
    priceInPanel: priceInPanel(node),
    showPrice: setting(SETTING_SHOW_PRICE, true),
    status,
    showStatus: setting(SETTING_SHOW_STATUS, true),
    rerun: rerunInfo(node.widgets, status?.rerunWidget),
    fetchArmed: node.__runcomfyFetchArmed || null,
    requestOpen: !!node.__runcomfyRequestOpen,
  });
}

function widgetNamed(node, name) {
  return (node?.widgets || []).find((w) => w?.name === name) || null;
}

/** A panel button: put the paid request into resume_request_id (the next Run fetches it, no new
 *  charge, whatever the seed control does), or show/hide the dry run's whole request. */
function onPanelAction(node, action) {
  if (action.kind === "request") node.__runcomfyRequestOpen = !node.__runcomfyRequestOpen;
  if (action.kind === "fetch" && action.requestId) {
    const widget = widgetNamed(node, statusForNode(node)?.fetchInput || "resume_request_id");
    if (!widget) return;
    widget.value = action.requestId;
    widget.callback?.(widget.value);
    node.__runcomfyFetchArmed = action.requestId;
    node.setDirtyCanvas?.(true, true);
  }
  updateNode(node);
}

/** The panel's width as laid out (the element once in the page, the node's width before). */
function panelWidth(node, panel) {
  const measured = panel.root.clientWidth;
  return measured > 0 ? measured : Math.max(120, (node.size?.[0] || 300) - 20);
}

function attachPanel(node) {
  if (node.__runcomfyPanel !== undefined) return node.__runcomfyPanel;
  node.__runcomfyPanel = null;
  if (typeof node.addDOMWidget !== "function") return null; // canvas fallback: drawStatus
  const panel = createPanel({ el, onAction: (action) => onPanelAction(node, action) });
  try {
    const widget = node.addDOMWidget(PANEL_WIDGET, "runcomfy-status", panel.root, {
      serialize: false,
      hideOnZoom: false,
      getValue: () => "",
      setValue: () => {},
      ...panelWidgetOptions(() => panel.height()),
    });
    if (widget) {
      widget.serialize = false; // not in widgets_values: saved workflows keep their positions
      widget.tooltip = "RunComfy status, last outcome and price (kept in memory, never saved)";
    }
    node.__runcomfyPanel = panel;
  } catch (err) {
    console.debug("[RunComfy] no DOM widget on this frontend; drawing the status instead", err);
    node.__runcomfyPanel = null;
  }
  updateNode(node);
  return node.__runcomfyPanel;
}

/** Renders the panel; when it needs more room than the node has, the node grows (never shrinks). */
function renderPanel(node) {
  const panel = node?.__runcomfyPanel;
  if (!panel) return;
  const before = panel.height();
  const after = panel.render(panelModel(node), panelWidth(node, panel));
  if (after !== before || after > 0) {
    try {
      if (growNodeToFit(node) || after !== before) node.setDirtyCanvas?.(true, true);
    } catch (err) {
      console.debug("[RunComfy] could not resize the node", err);
    }
  }
}

function updateNode(node) {
  renderPanel(node);
  redraw();
}

function updateAllPanels() {
  for (const node of allNodes()) {
    if (node.__runcomfyPanel) renderPanel(node);
  }
}

// Fallback for a frontend without DOM widgets: the status drawn under the node on the canvas.
const STATUS_FONT_PX = 11;
const STATUS_LINE_PX = 14;

function drawStatus(node, ctx) {
  if (node.__runcomfyPanel || !setting(SETTING_SHOW_STATUS, true) || node.flags?.collapsed) return;
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
    ctx.fillStyle = i === 0 ? CANVAS_TONES[stateTone(status.state)] : "#dddddd";
    ctx.fillText(line, 4, top + 4 + i * STATUS_LINE_PX);
  });
  Object.assign(ctx, { font, fillStyle, textBaseline, textAlign });
}

// --- status events -------------------------------------------------------------------------------

// The frontend shows ComfyUI's progress text (sent by the pack for clients without this
// extension) as a text widget of this name on every version from 1.27 to 1.58. Where the panel
// shows the same status, that copy is taken off again, the way the frontend itself removes it.
const CORE_TEXT_PREVIEW = "$$node-text-preview";

function dropDuplicateProgressText(node) {
  if (!node.__runcomfyPanel || !setting(SETTING_SHOW_STATUS, true) || !Array.isArray(node.widgets)) return;
  const i = node.widgets.findIndex((w) => w?.name === CORE_TEXT_PREVIEW);
  if (i < 0) return;
  try {
    node.widgets[i].onRemove?.();
    node.widgets.splice(i, 1);
  } catch (err) {
    console.debug("[RunComfy] could not hide the duplicate progress text", err);
  }
}

function recordStatus(status) {
  if (!status) return;
  const node = nodeForExecutionId(status.node);
  if (!node) return;
  node.__runcomfyStatus = status;
  dropDuplicateProgressText(node);
  updateNode(node);
}

function onStatusEvent(event) {
  const parsed = parseStatusEvent(event?.detail);
  if (!parsed) return;
  const node = nodeForExecutionId(parsed.node);
  if (!node) return;
  if (parsed.state === "started") {
    // A new run of this node: the last outcome (and a fetch already set up) is replaced.
    node.__runcomfyRequestOpen = false;
    recordStatus({ ...parsed, ...statusExtras(event.detail), at: Date.now() });
    return;
  }
  const merged = mergeStatus(statusForNode(node), parsed);
  const extras = parsed.state ? statusExtras(event.detail) : {};
  recordStatus({ ...merged, ...extras });
  if (parsed.state === "done" && node.__runcomfyFetchArmed) {
    // The fetch ran: clear resume_request_id, or every later Run would fetch the same result again.
    const widget = widgetNamed(node, "resume_request_id");
    if (widget && widget.value === node.__runcomfyFetchArmed) widget.value = "";
    node.__runcomfyFetchArmed = null;
    updateNode(node);
  }
}

/** A new prompt: the last outcomes of idle RunComfy nodes are cleared (a running node keeps its
 *  live status). */
function clearOutcomes() {
  for (const node of allNodes()) {
    const status = node.__runcomfyStatus;
    if (status && !BUSY_STATES.has(status.state)) {
      node.__runcomfyStatus = null;
      node.__runcomfyRequestOpen = false;
      updateNode(node);
    }
  }
}

/** ComfyUI refused the prompt before it ran (a missing input, a bad value): shown on our nodes
 *  instead of a stale outcome. */
function onPromptRefused(error) {
  const body = error?.response ?? error;
  const nodeErrors = body && typeof body === "object" ? body.node_errors : null;
  if (!nodeErrors || typeof nodeErrors !== "object") return;
  for (const [id, info] of Object.entries(nodeErrors)) {
    const node = nodeForExecutionId(id);
    if (!node || !isRunComfyType(nodeClassOf(node))) continue;
    const messages = (info?.errors || []).map((e) => [e?.message, e?.details].filter(Boolean).join(": ")).filter(Boolean);
    recordStatus({ node: id, state: "error", text: `ComfyUI refused the prompt: ${messages.join("; ") || "invalid"}`,
      requestId: null, elapsed: null, queuePosition: null, cost: null, at: Date.now() });
  }
}

function watchQueue() {
  const original = api.queuePrompt;
  if (typeof original !== "function" || original.__runcomfyWrapped) return;
  const wrapped = async function (...args) {
    clearOutcomes();
    try {
      return await original.apply(this, args);
    } catch (err) {
      try {
        onPromptRefused(err);
      } catch (e) {
        console.debug("[RunComfy] could not show the refusal", e);
      }
      throw err;
    }
  };
  wrapped.__runcomfyWrapped = true;
  api.queuePrompt = wrapped;
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
    if (node.__runcomfyStatus) {
      node.__runcomfyStatus = statusAfterInterrupt(node.__runcomfyStatus);
      updateNode(node);
    }
  }
  redraw();
}

// --- settings: the token row and the catalog refresh ---------------------------------------------

/** The custom settings row. ComfyUI calls it with (name, setter, value); the setter is never
 *  called, so nothing reaches comfy.settings.json. */
function renderTokenRow() {
  const status = note({ textContent: "Token: …", dataset: { runcomfyTokenStatus: "1" } });
  const input = textInput({
    type: "password",
    placeholder: "Paste your RunComfy API token",
    autocomplete: "new-password",
    spellcheck: false,
  });
  input.setAttribute("data-lpignore", "true");
  input.setAttribute("aria-label", "RunComfy API token");
  const message = note({ dataset: { runcomfyTokenMessage: "1" } });
  const advice = originAdviceBox();      // issue 19.4: a refused write names RUNCOMFY_PUBLIC_ORIGIN=<this page>
  const save = button("Save", "Check the token with RunComfy and keep it on the ComfyUI server");
  const test = button("Test", "Check the configured token with RunComfy");
  const clear = button("Clear", "Remove the token saved on the ComfyUI server");
  const buttons = [save, test, clear];

  const showInfo = (info) => { status.textContent = tokenStatusLabel(info); };
  const busy = (on) => buttons.forEach((b) => { b.disabled = on; });

  async function loadStatus() {
    const { status: code, body } = await callJson("/runcomfy-model-api/token");
    showInfo(code === 200 ? body : null);
  }

  async function run(action, path, options) {
    busy(true);
    showMessage(message, action === "test" ? "Checking with RunComfy…" : "Working…", true);
    try {
      const { status: code, body } = await callJson(path, options);
      const result = tokenActionResult(action, code, body);
      showMessage(message, result.message, result.ok);
      advice.update(code, body);
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
      showMessage(message, "Paste a token first.", false);
      return;
    }
    run("save", "/runcomfy-model-api/token", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ token }),
    });
  });
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter") save.click();
  });
  test.addEventListener("click", () => run("test", "/runcomfy-model-api/token/test", { method: "POST" }));
  clear.addEventListener("click", () => run("clear", "/runcomfy-model-api/token", { method: "DELETE" }));

  loadStatus();
  return column([status, row([input, ...buttons]), message, advice.root]);
}

/** New node definitions into the open page, through the frontend's own reload where it has one. */
async function reloadNodeDefinitions() {
  if (typeof app.reloadNodeDefs === "function") await app.reloadNodeDefs();
  else if (typeof app.refreshComboInNodes === "function") await app.refreshComboInNodes();
  else return false;
  return true;
}

function renderCatalogRow() {
  const message = note({ dataset: { runcomfyCatalogMessage: "1" } });
  const advice = originAdviceBox();
  const refresh = button("Refresh model catalog", "Ask RunComfy for its current model list and update the nodes");
  refresh.addEventListener("click", async () => {
    refresh.disabled = true;
    showMessage(message, "Asking RunComfy for its model list…", true);
    try {
      const { status, body } = await callJson("/runcomfy-model-api/catalog/refresh", { method: "POST" });
      const result = catalogRefreshResult(status, body);
      advice.update(status, body);
      let text = result.message;
      if (result.reload && !(await reloadNodeDefinitions().catch(() => false))) {
        text += " Reload this page to see them.";
      }
      showMessage(message, text, result.ok);
      if (result.ok) refreshAllPrices();
    } finally {
      refresh.disabled = false;
    }
  });
  return column([refresh, message, advice.root]);
}

// --- issue 20: the request history (./lib/history.js), limits (./lib/limits.js), Run confirmation (./lib/confirm.js)

function historyDeps() {
  return {
    call: callJson,
    viewUrl: (v) => (v?.filename ? api.apiURL(`/view?${new URLSearchParams({ filename: v.filename, subfolder: v.subfolder || "", type: v.type || "output" })}`) : null),
    download: async (path, name) => {
      const response = await api.fetchApi(path, { headers: { "X-RunComfy-Request": "1" } });
      const url = URL.createObjectURL(await response.blob());
      const a = document.createElement("a");
      a.href = url;
      a.download = name;
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    },
    // Puts the request id into resume_request_id of a new node of the model's class, or of the
    // selected node: the next Run fetches the result (the journal resumes it: no new charge).
    fetchInto: (answer, where) => {
      const cls = answer?.class_name;
      let node = null;
      if (where === "selected") {
        const selected = Object.values(app.canvas?.selected_nodes || {});
        node = selected.find((n) => nodeClassOf(n) === cls || n?.properties?.[MODEL_ID_PROPERTY] === answer?.model_id) || null;
        if (!node) return { ok: false, text: `Select a node of ${answer?.model_id} first.` };
      } else {
        if (!cls) return { ok: false, text: String(answer?.note || "No node of this ComfyUI runs that model.") };
        node = globalThis.LiteGraph?.createNode?.(cls);
        if (!node) return { ok: false, text: `Could not create a ${cls} node.` };
        const c = app.canvas;
        const center = c?.ds ? [(-c.ds.offset[0] + (c.canvas?.width || 800) / 2 / c.ds.scale), (-c.ds.offset[1] + (c.canvas?.height || 600) / 2 / c.ds.scale)] : [100, 100];
        node.pos = center;
        (app.graph || rootGraph())?.add(node);
      }
      const widget = (node.widgets || []).find((w) => w?.name === (answer.input || "resume_request_id"));
      if (!widget) return { ok: false, text: "That node has no resume_request_id input." };
      widget.value = answer.request_id;
      widget.callback?.(widget.value);
      node.setDirtyCanvas?.(true, true);
      redraw();
      return { ok: true, text: `Request ${answer.request_id} set on node #${node.id}: press Run to fetch its result (no new charge).` };
    },
  };
}

// --- registration -------------------------------------------------------------------------

app.registerExtension({
  name: EXTENSION,
  commands: [{ id: HISTORY_COMMAND, label: "RunComfy: requests and spend", icon: "pi pi-dollar", function: () => openHistoryDialog(historyDeps()) }],
  menuCommands: [{ path: ["Extensions"], commands: [HISTORY_COMMAND] }],
  settings: [
    {
      id: SETTING_TOKEN,
      category: ["RunComfy Model API", "Account", "API token"],
      name: "RunComfy API token",
      tooltip: "Kept on the ComfyUI server (user directory), never in the workflow or browser settings. "
        + "The RUNCOMFY_API_TOKEN environment variable is used when no token is saved.",
      type: () => renderTokenRow(),
      defaultValue: "",
    },
    {
      id: SETTING_CATALOG,
      category: ["RunComfy Model API", "Catalog", "Refresh model catalog"],
      name: "Refresh model catalog",
      tooltip: "Reads RunComfy's current model list: new models become nodes, changed ones are updated. "
        + "Says which were added, changed or removed, and whether ComfyUI needs a restart.",
      type: () => renderCatalogRow(),
      defaultValue: "",
    },
    {
      id: SETTING_PROXY,
      category: ["RunComfy Model API", "Proxy", "Proxy"],
      name: "Proxy for RunComfy API calls",
      tooltip: "An HTTP proxy (http://host:port, with a user name and password in it if the proxy asks for them) or "
        + "\"direct\" for none. Kept on "
        + "the ComfyUI server; wins over RUNCOMFY_PROXY and HTTPS_PROXY. Clear it to use the environment's settings.",
      type: () => renderProxyRow(callJson),
      defaultValue: "",
    },
    {
      id: SETTING_SHOW_PRICE,
      category: ["RunComfy Model API", "Display", "Price badge"],
      name: "Show the price on RunComfy nodes",
      tooltip: "The model's list price from RunComfy, as a badge on the classic canvas and a line on Vue nodes; "
        + "the actual cost of a run is shown after it.",
      type: "boolean",
      defaultValue: true,
      onChange: () => { updateAllPanels(); redraw(); },
    },
    {
      id: SETTING_SHOW_STATUS,
      category: ["RunComfy Model API", "Display", "Last status"],
      name: "Show the RunComfy status on the node",
      tooltip: "While running: state, queue position, elapsed time and request id. After the run: state, cost, "
        + "request id and the first line of an error. Kept in memory, never saved in the workflow.",
      type: "boolean",
      defaultValue: true,
      onChange: () => { updateAllPanels(); redraw(); },
    },
    {
      id: SETTING_LIMITS,
      category: ["RunComfy Model API", "Spending", "Limits"],
      name: "Daily and monthly spending limits (USD)",
      tooltip: "A RunComfy submit whose estimate would cross a limit is refused before anything is sent. Kept on the "
        + "ComfyUI server and shared by every node, ComfyUI process and batch run using the same config folder. "
        + "Off by default; RUNCOMFY_DAILY_LIMIT_USD / RUNCOMFY_MONTHLY_LIMIT_USD win over these.",
      type: () => renderLimitsRow(callJson),
      defaultValue: "",
    },
    {
      id: SETTING_CONFIRM_ABOVE,
      category: ["RunComfy Model API", "Spending", "Confirm above"],
      name: "Ask before a Run whose RunComfy estimate is above (USD; 0 = never ask)",
      tooltip: "On Run, the RunComfy nodes that will send a paid request are added up (variations included; reused "
        + "results, resume_request_id and dry_run cost nothing). Above this amount a dialog lists them. API /prompt is never asked.",
      type: "number",
      attrs: { min: 0, step: 0.5 },
      defaultValue: DEFAULT_CONFIRM_ABOVE_USD,
    },
  ],

  setup() {
    // Issue 19.5: values saved under the pack's earlier "RunComfy.*" ids move to its own ids once.
    api.getSettings?.().then((stored) => migrateSettings(stored, (id, v) => app.extensionManager?.setting?.set(id, v)))
      .catch((err) => console.debug("[RunComfy] settings migration skipped", err));
    registerHistory(app, historyDeps());
    installRunConfirm(app, { call: callJson, threshold: () => setting(SETTING_CONFIRM_ABOVE, DEFAULT_CONFIRM_ABOVE_USD) });
    api.addEventListener("runcomfy_model_api.status", onStatusEvent);
    api.addEventListener("execution_error", onExecutionError);
    api.addEventListener("execution_interrupted", onExecutionInterrupted);
    api.addEventListener("execution_start", clearOutcomes);
    watchQueue();
    // Picks up a renderer switch, a duration widget edited (per-second estimate), a setting.
    if (typeof setInterval === "function") {
      const timer = setInterval(() => {
        try {
          updateAllPanels();
        } catch (err) {
          console.debug("[RunComfy] panel refresh failed", err);
        }
      }, PANEL_REFRESH_MS);
      timer?.unref?.();
    }
  },

  // Issue 19.1 (./lib/missing.js): RunComfy nodes of a loaded workflow that this page lacks.
  async beforeConfigureGraph(graphData) {
    const types = globalThis.LiteGraph?.registered_node_types || {};
    await resolveMissingRunComfyNodes(graphData, {
      app, api, call: callJson, path: "/runcomfy-model-api/resolve", isRegistered: (t) => t in types,
    });
  },

  async beforeRegisterNodeDef(nodeType, nodeData) {
    if (!isRunComfyType(nodeData?.name)) return;
    const modelId = modelIdOfDefinition(nodeData);

    const onNodeCreated = nodeType.prototype.onNodeCreated;
    nodeType.prototype.onNodeCreated = function () {
      const r = onNodeCreated?.apply(this, arguments);
      stampModelId(this, modelId);
      // 1.27 ignores the input options newer frontends apply (controls' "fixed" default, labels, hidden);
      // a loaded node's saved values overwrite these defaults in configure().
      fixControlDefaults(this, frontendVersion());
      applyInputOptions(this, nodeData, frontendVersion());
      attachPriceBadge(this);
      attachPanel(this);
      // comfyClass is set by the time the node exists; type may be set only afterwards.
      queueMicrotask(() => refreshPrice(this));
      return r;
    };

    // A loaded node: LiteGraph has merged the saved properties in by now; a saved id stays.
    const onConfigure = nodeType.prototype.onConfigure;
    nodeType.prototype.onConfigure = function () {
      const r = onConfigure?.apply(this, arguments);
      stampModelId(this, modelId);
      applyLabels(this, nodeData);    // saved sockets without a user's label (1.27, older saves) show the schema's title
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
          callback: () => { this.__runcomfyStatus = null; updateNode(this); },
        });
      }
      // Frontend 1.27 prepends the returned items to the node's context menu.
      return Array.isArray(r) ? r.concat(extra) : extra;
    };
  },
});
