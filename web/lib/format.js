// Pure helpers of the RunComfy extension: no DOM, no ComfyUI imports, so Node can test them
// (`node --test tests/web/`). Everything that touches the page lives in ../runcomfy.js.

export const NODE_PREFIX = "RunComfy_";
export const PRICE_UNAVAILABLE = "price unavailable";
export const PRICE_TTL_MS = 5 * 60 * 1000;
// A failed price lookup is retried sooner than a good answer expires (the server does the same).
export const PRICE_FAILURE_TTL_MS = 30 * 1000;

/** Whether a node type / class name belongs to this pack. */
export function isRunComfyType(type) {
  return typeof type === "string" && type.startsWith(NODE_PREFIX) && type.length > NODE_PREFIX.length;
}

// --- money and time ---------------------------------------------------------------------

function finiteNumber(value) {
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

/** Money as every text of the pack shows it (the same rules as runcomfy/pricing.py's
 *  format_usd, so the node text, status, badge and dry run agree): four decimals, halves up,
 *  trailing zeros dropped but at least two decimals: 0.03 -> "$0.03", 0.1 -> "$0.10",
 *  0.0025 -> "$0.0025", 12 -> "$12.00"; a positive amount under half a basis point is
 *  "<$0.0001"; anything but a finite number >= 0 is null. */
export function formatUsd(amount) {
  const usd = finiteNumber(amount);
  if (usd === null || usd < 0) return null;
  const n = Math.floor(usd * 10000 + 0.5);
  if (n === 0 && usd > 0) return "<$0.0001";
  const whole = Math.floor(n / 10000);
  const decimals = String(n % 10000).padStart(4, "0").replace(/0+$/, "").padEnd(2, "0");
  return `$${whole}.${decimals}`;
}

/** The amount without its dollar sign ("0.03", "<0.0001"), or null. */
export function formatUsdAmount(amount) {
  const text = formatUsd(amount);
  return text === null ? null : text.replace("$", "");
}

/** "$0.03" (or null when the value is not a usable amount). */
export function formatCost(cost) {
  return formatUsd(cost);
}

/** "7s", "2m 05s", "1h 02m". */
export function formatElapsed(seconds) {
  const n = finiteNumber(seconds);
  if (n === null || n < 0) return null;
  const s = Math.round(n);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

// --- price -------------------------------------------------------------------------------

/** The route that answers a node's price: by node class (the server maps it to the model id),
 *  and by model id when one is known. */
export function priceQuery({ nodeClass, modelId } = {}) {
  const params = [];
  if (typeof nodeClass === "string" && nodeClass) params.push(`node_class=${encodeURIComponent(nodeClass)}`);
  if (typeof modelId === "string" && modelId) params.push(`model_id=${encodeURIComponent(modelId)}`);
  if (!params.length) return null;
  return `/runcomfy-model-api/price?${params.join("&")}`;
}

const PER_SECOND_UNITS = new Set(["second", "seconds", "sec", "s"]);
const UNIT_LABELS = { output: "output", second: "s", seconds: "s", sec: "s", s: "s" };

function cleanUnit(unit) {
  if (typeof unit !== "string") return "";
  return unit.trim().replace(/^(per\s+|\/\s*)/i, "").trim();
}

/** A concrete duration in seconds (a number or numeric string > 0), else null ("auto", ""). */
export function secondsOf(value) {
  if (typeof value === "string") {
    if (!value.trim()) return null;
    value = Number(value.trim());
  }
  const n = finiteNumber(value);
  return n !== null && n > 0 ? n : null;
}

/** "$0.03 / image", "$0.10 / s", "$0.03 / output", "$0.03" (no unit), or null (no usable price). */
export function unitPriceText(basePriceUsd, priceUnit) {
  const money = formatUsd(basePriceUsd);
  if (money === null) return null;
  const unit = cleanUnit(priceUnit);
  if (!unit) return money;
  return `${money} / ${UNIT_LABELS[unit.toLowerCase()] || unit}`;
}

/** "≈ $0.50 for 5 s (estimate)" for a per-second price and a concrete duration, else null. */
export function estimateText(basePriceUsd, priceUnit, duration) {
  if (!PER_SECOND_UNITS.has(cleanUnit(priceUnit).toLowerCase())) return null;
  const seconds = secondsOf(duration);
  const base = finiteNumber(basePriceUsd);
  if (seconds === null || base === null || base < 0) return null;
  const total = formatUsd(base * seconds);
  return `≈ ${total} for ${Number.isInteger(seconds) ? seconds : String(seconds)} s (estimate)`;
}

/** The name of the node input that sets a per-second model's duration, from the price answer. */
export function durationField(answer) {
  return answer && typeof answer.duration_field === "string" && answer.duration_field ? answer.duration_field : null;
}

/** The price text for an answer of GET /runcomfy-model-api/price: "$0.03 / image", "$0.10 / s · ≈ $0.50
 *  for 5 s (estimate)" (`values` = the node's current widget values, for the duration), or
 *  "price unavailable". Only the server's numeric price is shown, never an invented one. */
export function priceText(answer, values = null) {
  if (!answer || typeof answer !== "object" || answer.available !== true) return PRICE_UNAVAILABLE;
  const unit = unitPriceText(answer.base_price_usd, answer.price_unit);
  if (unit === null) return PRICE_UNAVAILABLE;
  const field = durationField(answer);
  const duration = field && values && typeof values === "object" && field in values ? values[field] : answer.duration;
  const estimate = estimateText(answer.base_price_usd, answer.price_unit, duration);
  return estimate ? `${unit} · ${estimate}` : unit;
}

/** A small TTL cache with in-flight de-duplication, keyed by model id / node class.
 *  `now` is injectable so tests need no timers. */
export class PriceCache {
  constructor({ ttlMs = PRICE_TTL_MS, failureTtlMs = PRICE_FAILURE_TTL_MS, now = () => Date.now() } = {}) {
    this.ttlMs = ttlMs;
    this.failureTtlMs = failureTtlMs;
    this.now = now;
    this.entries = new Map();
    this.pending = new Map();
  }

  get(key) {
    const hit = this.entries.get(key);
    if (!hit) return undefined;
    if (this.now() >= hit.expires) {
      this.entries.delete(key);
      return undefined;
    }
    return hit.value;
  }

  set(key, value) {
    const ok = !!value && value.available === true;
    this.entries.set(key, { value, expires: this.now() + (ok ? this.ttlMs : this.failureTtlMs) });
  }

  /** Forget everything, including lookups still under way (their answers are dropped):
   *  used when the token changes, since the price needs a valid token. */
  clear() {
    this.entries = new Map();
    this.pending = new Map();
  }

  /** The cached answer, or the loader's (called at most once at a time per key).
   *  A loader that throws counts as "unavailable" and is cached for the failure TTL. */
  async load(key, loader) {
    const hit = this.get(key);
    if (hit !== undefined) return hit;
    const running = this.pending.get(key);
    if (running) return running;
    const generation = this.entries;
    const promise = (async () => {
      let value;
      try {
        value = await loader();
      } catch (err) {
        value = { available: false, error: String(err && err.message ? err.message : err) };
      }
      // A clear() while loading (token changed) makes this answer stale: don't store it.
      if (generation === this.entries) this.set(key, value);
      return value;
    })();
    this.pending.set(key, promise);
    try {
      return await promise;
    } finally {
      if (this.pending.get(key) === promise) this.pending.delete(key);
    }
  }
}

// --- token -------------------------------------------------------------------------------

/** The status line for GET /runcomfy-model-api/token's {configured, source}; never shows a token. */
export function tokenStatusLabel(info) {
  if (!info || typeof info !== "object") return "Token: status unavailable";
  if (info.source === "saved" && info.configured !== false) return "Token: saved";
  if (info.source === "environment" && info.configured !== false) return "Token: from environment";
  if (info.source === "none" || info.configured === false) return "Token: not set";
  return "Token: status unavailable";
}

/** The server's own error text from a JSON body, else a generic one with the HTTP status. */
export function errorText(status, body, fallback = "Request failed") {
  if (body && typeof body === "object") {
    for (const key of ["error", "message", "detail"]) {
      if (typeof body[key] === "string" && body[key].trim()) return body[key].trim();
    }
  }
  if (typeof body === "string" && body.trim() && !/^\s*</.test(body)) return body.trim().slice(0, 300);
  return status ? `${fallback} (HTTP ${status})` : fallback;
}

/** What a Save/Test/Clear reply means for the settings row: {ok, message, info}. */
export function tokenActionResult(action, status, body) {
  const ok = status >= 200 && status < 300 && !!body && body.ok === true;
  const info = body && typeof body === "object" && "source" in body
    ? { configured: body.configured, source: body.source } : null;
  if (!ok) return { ok: false, message: errorText(status, body, `${action} failed`), info };
  const done = {
    save: "Token saved. It is kept on the ComfyUI server, never in the workflow or browser settings.",
    test: "RunComfy accepted the token.",
    clear: "Saved token removed.",
  }[action] || "Done.";
  let message = done;
  if (action === "clear" && info && info.source === "environment") {
    message += " The RUNCOMFY_API_TOKEN environment variable is still used.";
  }
  return { ok: true, message, info };
}

// --- node status -------------------------------------------------------------------------

// Every state the Python side sends is defined once in tests/contracts/status_event.json, which
// the Python and the Node tests both read: a state missing here would show as grey "idle".
const STATE_LABELS = {
  started: "starting",
  waiting: "waiting",
  submitting: "submitting",
  submitted: "submitted",
  resuming: "resuming",
  queued: "queued",
  running: "running",
  in_progress: "running",
  downloading: "downloading",
  succeeded: "succeeded",
  done: "done",
  cancelling: "cancelling",
  cancelled: "cancelled",
  stopped: "stopped",
  interrupted: "stopped",
  failed: "failed",
  error: "error",
  dry_run: "dry run",
};

export const BUSY_STATES = new Set(["started", "waiting", "submitting", "submitted", "resuming", "queued", "running",
  "in_progress", "downloading", "cancelling"]);
// A dry run ended as asked: nothing was sent or charged.
const OK_STATES = new Set(["done", "succeeded", "dry_run"]);
const BAD_STATES = new Set(["failed", "error", "cancelled", "stopped", "interrupted"]);

/** "busy" | "ok" | "error" | "idle": picks the colour of the status line. */
export function stateTone(state) {
  if (BUSY_STATES.has(state)) return "busy";
  if (OK_STATES.has(state)) return "ok";
  if (BAD_STATES.has(state)) return "error";
  return "idle";
}

/** Whether the extension knows this state (an unknown one still shows, as grey "idle"). */
export function isKnownState(state) {
  return typeof state === "string" && Object.prototype.hasOwnProperty.call(STATE_LABELS, state);
}

export function stateLabel(state) {
  if (typeof state !== "string" || !state) return null;
  return STATE_LABELS[state] || state.replace(/_/g, " ");
}

function optString(value) {
  return typeof value === "string" && value.trim() ? value.trim() : null;
}

/** A "runcomfy_model_api.status" event's detail -> a clean status object, or null when unusable.
 *  Detail: {node, text, request_id?, state?, elapsed?, queue_position?, cost?}. */
export function parseStatusEvent(detail) {
  if (!detail || typeof detail !== "object") return null;
  const rawNode = detail.node;
  const node = typeof rawNode === "number" && Number.isFinite(rawNode) ? String(rawNode) : optString(rawNode);
  if (!node) return null;
  const queue = finiteNumber(detail.queue_position);
  const elapsed = finiteNumber(detail.elapsed);
  const cost = finiteNumber(detail.cost);
  return {
    node,
    text: typeof detail.text === "string" ? detail.text : "",
    state: optString(detail.state),
    requestId: optString(detail.request_id),
    elapsed: elapsed !== null && elapsed >= 0 ? elapsed : null,
    queuePosition: queue !== null && queue >= 0 ? Math.floor(queue) : null,
    cost: cost !== null && cost >= 0 ? cost : null,
    note: optString(detail.note),
  };
}

/** The status a node keeps after `next` arrives. A text-only event (no state, e.g. the final
 *  "Stopped: ..." message) keeps the request id, state and cost already known; a new run's
 *  first event (a state without a request id, like "submitting") starts over. */
export function mergeStatus(prev, next, at = Date.now()) {
  if (!next) return prev || null;
  if (!next.state && prev) {
    return { ...prev, text: next.text || prev.text, at };
  }
  const sameRun = prev && next.requestId && prev.requestId === next.requestId;
  return {
    ...next,
    // The final "done" event carries no elapsed time and may omit the cost: keep the run's.
    elapsed: next.elapsed !== null ? next.elapsed : (sameRun ? prev.elapsed : null),
    cost: next.cost !== null ? next.cost : (sameRun ? prev.cost : null),
    at,
  };
}

/** execution_error for one of our nodes -> a status (null for other nodes). */
export function statusFromExecutionError(detail, prev) {
  if (!detail || typeof detail !== "object" || !isRunComfyType(detail.node_type)) return null;
  const node = detail.node_id === undefined || detail.node_id === null ? null : String(detail.node_id);
  if (!node) return null;
  const message = optString(detail.exception_message) || optString(detail.exception_type) || "error";
  return {
    node,
    text: message,
    state: "error",
    requestId: prev && prev.node === node ? prev.requestId : null,
    elapsed: prev && prev.node === node ? prev.elapsed : null,
    queuePosition: null,
    cost: prev && prev.node === node ? prev.cost : null,
  };
}

/** After execution_interrupted, a node whose last status was still busy is "stopped". */
export function statusAfterInterrupt(prev) {
  if (!prev || !BUSY_STATES.has(prev.state)) return prev || null;
  return { ...prev, state: "stopped", queuePosition: null, text: prev.text };
}

/** Lines drawn under a node: a summary and the request id. */
export function statusLines(status) {
  if (!status) return [];
  const parts = [];
  const label = stateLabel(status.state);
  parts.push(label ? `RunComfy: ${label}` : "RunComfy");
  if (status.state === "queued" && status.queuePosition !== null && status.queuePosition !== undefined) {
    parts.push(`queue #${status.queuePosition}`);
  }
  const elapsed = formatElapsed(status.elapsed);
  if (elapsed) parts.push(elapsed);
  const cost = formatCost(status.cost);
  if (cost) parts.push(`cost ${cost}`);
  // e.g. "sending 7.3 MB" while a large submit goes out: only while the node is busy.
  if (status.note && BUSY_STATES.has(status.state)) parts.push(status.note);
  const lines = [parts.join(" · ")];
  if (status.requestId) lines.push(`request ${status.requestId}`);
  const bad = stateTone(status.state) === "error";
  // A dry run's first line is its price ("dry run: nothing sent, nothing charged · $0.03 / image").
  if ((bad || !status.state || status.state === "dry_run") && status.text) lines.push(firstLine(status.text));
  return lines;
}

function firstLine(text) {
  return String(text).split(/\r?\n/)[0].trim();
}

/** Words of `text` broken into lines no wider than `maxWidth`, measured by `measure(str)`;
 *  at most `maxLines` (the last one ends in "…" when cut). Over-long words are split. */
export function wrapText(text, maxWidth, measure, maxLines = 3) {
  const words = String(text || "").split(/\s+/).filter(Boolean);
  const lines = [];
  let line = "";
  const push = (l) => { if (l) lines.push(l); };
  for (let word of words) {
    while (measure(word) > maxWidth && word.length > 1) {
      // split a long word (a request id, a URL) at the widest prefix that fits
      let cut = word.length - 1;
      while (cut > 1 && measure(word.slice(0, cut)) > maxWidth) cut--;
      if (line) { push(line); line = ""; }
      push(word.slice(0, cut));
      word = word.slice(cut);
    }
    const candidate = line ? `${line} ${word}` : word;
    if (measure(candidate) <= maxWidth) {
      line = candidate;
    } else {
      push(line);
      line = word;
    }
  }
  push(line);
  if (lines.length <= maxLines) return lines;
  const kept = lines.slice(0, maxLines);
  let last = kept[maxLines - 1];
  while (last.length > 1 && measure(`${last}…`) > maxWidth) last = last.slice(0, -1);
  kept[maxLines - 1] = `${last}…`;
  return kept;
}

/** An execution id ("12" or "5:12" inside a subgraph) -> the node ids along the path. */
export function splitExecutionId(id) {
  if (id === null || id === undefined) return [];
  return String(id).split(":").map((s) => s.trim()).filter(Boolean);
}

// --- the node's panel ----------------------------------------------------------------------

/** What the RunComfy panel under a node's widgets shows, as [{text, tone, kind}]:
 *  - the price, when the node has no live price badge (Vue nodes, or a frontend without
 *    node badges) and the price setting is on;
 *  - the live status while running (state, queue position, elapsed, request id, note) and the
 *    last outcome after (state, cost, request id, first line of an error), when the status
 *    setting is on; "not run yet" before the first run. */
export function panelLines({ price = null, priceInPanel = false, showPrice = true, status = null,
  showStatus = true } = {}) {
  const lines = [];
  if (priceInPanel && showPrice && price) lines.push({ text: `Price: ${price}`, tone: "price", kind: "price" });
  if (showStatus) {
    const shown = statusLines(status);
    if (!shown.length) lines.push({ text: "RunComfy: not run yet", tone: "idle", kind: "status" });
    shown.forEach((text, i) => lines.push({
      text,
      tone: i === 0 ? stateTone(status.state) : "detail",
      kind: i === 0 ? "status" : (text.startsWith("request ") ? "request" : "detail"),
    }));
  }
  return lines;
}

// --- catalog refresh -------------------------------------------------------------------------

function countOf(value) {
  if (Array.isArray(value)) return value.length;
  const n = finiteNumber(value);
  return n !== null && n >= 0 ? Math.floor(n) : 0;
}

function namesOf(value, max = 5) {
  if (!Array.isArray(value)) return "";
  const names = value.map((v) => (typeof v === "string" ? v : v && (v.model_id || v.name))).filter(Boolean);
  if (!names.length) return "";
  const more = names.length > max ? `, +${names.length - max} more` : "";
  return ` (${names.slice(0, max).join(", ")}${more})`;
}

/** What a POST /runcomfy-model-api/catalog/refresh reply means for the settings row:
 *  {ok, message, reload}: reload = the server registered the changes without a restart, so the
 *  page should re-read the node definitions. */
export function catalogRefreshResult(status, body) {
  const ok = status >= 200 && status < 300 && !!body && typeof body === "object" && body.ok !== false;
  if (!ok) return { ok: false, message: errorText(status, body, "Catalog refresh failed"), reload: false };
  const added = countOf(body.added);
  const changed = countOf(body.changed);
  const removed = countOf(body.removed);
  // The route answers counts (added) with the model ids beside them (added_ids).
  const names = (key) => namesOf(Array.isArray(body[`${key}_ids`]) ? body[`${key}_ids`] : body[key]);
  const parts = [`${added} added${names("added")}`, `${changed} changed${names("changed")}`,
    `${removed} removed${names("removed")}`];
  let message = `Model catalog refreshed: ${parts.join(", ")}.`;
  const anything = added + changed + removed > 0;
  const restart = body.restart_required === true || (body.restart_required === undefined && anything);
  if (anything && restart) {
    message += " Restart ComfyUI to load the new and changed nodes, then reload this page.";
  } else if (anything) {
    message += " The node list was re-read: new nodes can be added now (reload the page if one is missing).";
  }
  return { ok: true, message, reload: anything && !restart };
}
