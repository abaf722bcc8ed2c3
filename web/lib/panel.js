// The RunComfy panel under a node's widgets: what it says (pure: panelContent, rerunInfo, statusExtras,
// wrapLines, panelHeight; tested with Node) and the DOM that shows it (createPanel). Every line is laid
// out here, wrapped to the panel's width, so the height asked from the frontend is the height drawn:
// nothing is clipped in either renderer (per-frontend sizing rules: ./compat.js).
import { BUSY_STATES, formatCost, formatElapsed, stateLabel, stateTone, wrapText } from "./format.js";
import { TONES } from "./tones.js";

export const LINE_PX = 15;
export const FONT = "11px sans-serif";
export const PAD_Y = 3;          // top and bottom padding inside the border
export const PAD_X = 6;
export const BORDER = 1;
export const BUTTON_ROW_PX = 24;
export const MAX_TEXT_LINES = 12; // visual lines of one message (an error, a note) before "…"
export const FETCH_LABEL = "Fetch this result (no new charge)";
export const NEW_PAID_TEXT = "new paid generation on every run";
const RESUME_INPUT = "resume_request_id";
export const RESUME_LABEL = "Resume request id";

function str(value) {
  return typeof value === "string" && value.trim() ? value.trim() : null;
}

/** The issue-18 fields of a 'runcomfy_model_api.status' event (format.js's parseStatusEvent keeps the rest). */
export function statusExtras(detail) {
  if (!detail || typeof detail !== "object") return {};
  const out = {};
  if (typeof detail.billed === "boolean" || detail.billed === null) out.billed = detail.billed;
  out.fetchRequestId = str(detail.fetch_request_id);
  out.fetchInput = str(detail.fetch_input) || RESUME_INPUT;
  // What happened, without the request id or how to fetch it (the panel shows those itself).
  out.summary = str(detail.summary);
  out.notes = Array.isArray(detail.notes) ? detail.notes.filter((n) => typeof n === "string" && n.trim()) : [];
  out.requestIds = Array.isArray(detail.request_ids) ? detail.request_ids.filter((r) => typeof r === "string" && r) : [];
  out.problems = Array.isArray(detail.problems) ? detail.problems.filter((p) => p && typeof p === "object") : [];
  out.priceText = str(detail.price_text);
  out.payload = detail.payload && typeof detail.payload === "object" ? detail.payload : null;
  out.requests = Number.isInteger(detail.requests) ? detail.requests : null;
  out.rerunWidget = str(detail.rerun_widget);
  out.rerunControl = str(detail.rerun_control);
  out.resubmitCode = str(detail.resubmit_code);
  out.submittedAt = detail.submitted_at ?? null;
  return out;
}

/** The widget a second Run changes (the seed, or "generation" on a model without one) and its
 *  control-after-generate value, read live from the node's widgets. */
export function rerunInfo(widgets, preferred = null) {
  const list = Array.isArray(widgets) ? widgets : [];
  const controlOf = (w) => (Array.isArray(w?.linkedWidgets) ? w.linkedWidgets.find((c) => c && typeof c.value === "string") : null);
  let widget = preferred ? list.find((w) => w?.name === preferred && controlOf(w)) : null;
  if (!widget) widget = list.find((w) => controlOf(w) && /seed|^generation$/i.test(String(w?.name || "")));
  if (!widget) widget = list.find((w) => controlOf(w));
  if (!widget) return null;
  const control = controlOf(widget).value;
  return { widget: widget.label || widget.name, control, newPaidEachRun: control !== "fixed" };
}

function queueText(position) {
  if (position === null || position === undefined) return null;
  return position === 0 ? "next in queue" : `queue position ${position}`;
}

function textLines(text, max = 6) {
  return String(text || "").split(/\r?\n/).map((l) => l.trim()).filter(Boolean).slice(0, max);
}

/** When an earlier submit was made: the node sends seconds since 1970 (the journal's time), a test an ISO text. */
export function submittedText(value) {
  if (typeof value === "number" && Number.isFinite(value) && value > 0) {
    const iso = new Date(value * 1000).toISOString();
    return `${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC`;
  }
  return str(typeof value === "string" ? value : null);
}

export const SHORT_STRING = 48;

/** The short form of a request body: compact JSON with every key, long strings cut to SHORT_STRING
 *  characters (inline media is already "data:image/png;base64,<N bytes>" from the node). */
export function requestShort(payload) {
  try {
    return JSON.stringify(payload, (_, v) => (typeof v === "string" && v.length > SHORT_STRING
      ? `${v.slice(0, SHORT_STRING - 1)}…` : v));
  } catch {
    return String(payload);
  }
}

/** What the panel says, as logical lines [{text, tone, kind}] and the buttons it offers
 *  [{kind, label, requestId?}]. `fetchArmed`: the request id the user already put into
 *  resume_request_id with the button (the panel then says the next Run fetches it). */
export function panelContent({ price = null, priceInPanel = false, showPrice = true, status = null,
  showStatus = true, rerun = null, fetchArmed = null, requestOpen = false } = {}) {
  const lines = [];
  const actions = [];
  const add = (text, tone, kind) => lines.push({ text, tone, kind });
  if (priceInPanel && showPrice && price) add(`Price: ${price}`, "price", "price");
  if (rerun?.newPaidEachRun) add(`${NEW_PAID_TEXT} (${rerun.widget}: ${rerun.control})`, "warn", "rerun");
  if (!showStatus) return { lines, actions };
  if (!status) {
    add("RunComfy: not run yet", "idle", "status");
    return { lines, actions };
  }
  const s = status;
  const head = [stateLabel(s.state) ? `RunComfy: ${stateLabel(s.state)}` : "RunComfy"];
  if (s.state === "queued") {
    const q = queueText(s.queuePosition);
    if (q) head.push(q);
  }
  const elapsed = formatElapsed(s.elapsed);
  if (elapsed) head.push(elapsed);
  const cost = formatCost(s.cost);
  if (cost) head.push(`cost ${cost}`);
  if (s.note && BUSY_STATES.has(s.state)) head.push(s.note);
  add(head.join(" · "), stateTone(s.state), "status");
  const ids = s.requestIds && s.requestIds.length > 1 ? s.requestIds : (s.requestId ? [s.requestId] : []);
  if (ids.length) add(`${ids.length > 1 ? "requests" : "request"} ${ids.join(", ")}`, "detail", "request");

  const bad = stateTone(s.state) === "error";
  if (s.billed === true) add("Billed: RunComfy ran (or is running) this request.", "warn", "billed");
  else if (s.billed === false) add("Not billed: RunComfy cancelled it before it ran.", "detail", "billed");
  else if (bad && s.fetchRequestId) add("May be billed: RunComfy may still run this request.", "warn", "billed");

  if (s.state === "dry_run") {
    const first = textLines(s.text, 1)[0];
    add(s.priceText ? `Dry run: nothing sent, nothing charged · ${s.priceText}` : (first || "Dry run: nothing sent"),
      "detail", "dry-run");
    for (const n of s.notes || []) add(n, "detail", "note");
    if (s.payload) {
      add(`Request: ${requestShort(s.payload)}`, "detail", "request-body");
      actions.push({ kind: "request", label: requestOpen ? "Hide request" : "Show full request" });
      if (requestOpen) {
        for (const l of JSON.stringify(s.payload, null, 1).split("\n")) add(l, "detail", "request-full");
      }
    }
  } else if (bad || !s.state) {
    if (s.problems && s.problems.length) {
      for (const p of s.problems) {
        const label = str(p.label) || str(p.field) || "input";
        const field = str(p.field) && str(p.field) !== label ? ` (${p.field})` : "";
        add(`${label}${field}: ${str(p.text) || "invalid"}${str(p.fix) ? `: ${p.fix}` : ""}`, "detail", "problem");
      }
    } else if (s.resubmitCode && s.summary) {
      // Said below, after when the earlier submit was made.
    } else if (s.fetchRequestId && s.summary) {
      // Each fact once: the id is on its own line, the billed line above, the Fetch button below.
      add(s.summary, "detail", "message");
    } else {
      for (const l of textLines(s.text)) add(l, "detail", "message");
    }
  }
  if (s.state !== "dry_run") for (const n of s.notes || []) add(n, "detail", "note");
  if (s.fetchRequestId) {
    if (fetchArmed === s.fetchRequestId) {
      add(`"${RESUME_LABEL}" is set to this request: the next Run fetches this result (no new charge).`, "ok", "fetch");
    } else {
      actions.push({ kind: "fetch", label: FETCH_LABEL, requestId: s.fetchRequestId });
    }
  }
  if (s.resubmitCode) {
    const at = submittedText(s.submittedAt);
    const when = at ? ` (submitted ${at})` : "";
    add(`An earlier submit of these inputs may have reached RunComfy${when}. To send a new, paid one anyway, `
      + `put ${s.resubmitCode} into "Submit anyway (one-time code)" (submit_anyway).`, "warn", "uncertain");
    if (s.summary) add(s.summary, "detail", "message");
  }
  return { lines, actions };
}

/** Logical lines -> visual lines no wider than `width` px (measured by `measure`). */
export function wrapLines(lines, width, measure) {
  const out = [];
  for (const line of lines) {
    // The whole request is shown whole: its long strings (a prompt) wrap over as many lines as they need.
    const shown = wrapText(line.text, width, measure, line.kind === "request-full" ? 200 : MAX_TEXT_LINES);
    shown.forEach((text, i) => out.push({ ...line, text, first: i === 0 }));
  }
  return out;
}

/** The panel's height in px for that many visual lines and buttons. */
export function panelHeight(visualLines, actions) {
  if (!visualLines) return 0;
  return visualLines * LINE_PX + 2 * PAD_Y + 2 * BORDER + (actions ? BUTTON_ROW_PX : 0);
}

/** A text measurer for the panel font: a canvas where there is one, an estimate otherwise. */
export function textMeasure(doc = globalThis.document) {
  let ctx = null;
  try {
    ctx = doc?.createElement?.("canvas")?.getContext?.("2d") || null;
    if (ctx) ctx.font = FONT;
  } catch {
    ctx = null;
  }
  // Slightly wider than drawn: a line measured to fit never overflows the DOM's own text layout.
  return ctx ? (s) => ctx.measureText(s).width * 1.04 + 1 : (s) => String(s).length * 6.2;
}

/** The panel element. render(content, width) lays out every line and returns its height. */
export function createPanel({ el, onAction }) {
  const root = el("div", {
    className: "runcomfy-panel",
    dataset: { runcomfyPanel: "1" },
    style: {
      boxSizing: "border-box",
      width: "100%",
      padding: `${PAD_Y}px ${PAD_X}px`,
      borderRadius: "4px",
      background: "var(--comfy-input-bg, rgba(0,0,0,0.35))",
      border: `${BORDER}px solid var(--border-color, #444)`,
      color: "var(--input-text, #ddd)",
      fontFamily: "sans-serif",
      fontSize: "11px",
      lineHeight: `${LINE_PX}px`,
      overflow: "hidden",
    },
  });
  const measure = textMeasure();
  let last = null;
  let height = 0;
  function render(content, width) {
    const inner = Math.max(60, Math.floor(width - 2 * PAD_X - 2 * BORDER));
    const visual = wrapLines(content.lines, inner, measure);
    const key = JSON.stringify([visual, content.actions]);
    height = panelHeight(visual.length, content.actions.length > 0);
    if (key === last) return height;
    last = key;
    root.replaceChildren?.();
    if (!root.replaceChildren) root.children.length = 0;
    root.style.display = visual.length ? "block" : "none";
    root.style.height = `${height}px`;
    root.style.minHeight = `${height}px`;
    for (const line of visual) {
      root.append(el("div", {
        textContent: line.text,
        title: line.text,
        dataset: { runcomfyLine: line.kind },
        style: {
          color: TONES[line.tone] || TONES.detail,
          whiteSpace: "pre",
          overflow: "hidden",
          textOverflow: "ellipsis",
          height: `${LINE_PX}px`,
          fontWeight: line.kind === "status" ? "600" : "400",
          fontFamily: "sans-serif",
          userSelect: "text",
        },
      }));
    }
    if (content.actions.length) {
      const bar = el("div", {
        dataset: { runcomfyActions: "1" },
        style: { display: "flex", gap: "4px", height: `${BUTTON_ROW_PX}px`, alignItems: "center" },
      });
      for (const action of content.actions) {
        const b = el("button", {
          type: "button",
          textContent: action.label,
          title: action.kind === "fetch"
            ? `Puts ${action.requestId} into "${RESUME_LABEL}" (${RESUME_INPUT}): the next Run fetches this result without a new charge`
            : "Show or hide the whole request the dry run would send",
          dataset: { runcomfyAction: action.kind },
          style: {
            height: "20px", padding: "0 8px", fontSize: "11px", borderRadius: "4px", cursor: "pointer",
            border: "1px solid var(--border-color, #555)", color: "var(--input-text, #ddd)",
            background: "var(--comfy-menu-secondary-bg, var(--comfy-input-bg, #333))", whiteSpace: "nowrap",
          },
        });
        b.addEventListener("click", (event) => {
          event?.stopPropagation?.();
          onAction?.(action);
        });
        bar.append(b);
      }
      root.append(bar);
    }
    return height;
  }
  return { root, render, height: () => height };
}
