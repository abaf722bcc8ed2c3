// The RunComfy request history (issue 20): a sidebar tab where the frontend has the sidebar-tab API
// (app.extensionManager.registerSidebarTab: 1.27, 1.49, 1.58), a dialog elsewhere (also opened by the
// command "RunComfyModelAPI.History.Open"). It lists this ComfyUI's requests from the pack's routes
// (/runcomfy-model-api/history, /history/totals, /history/export, /history/action, /history/clear), newest
// first, with filters, cursor paging, totals, per-request actions and a confirmed clear, none of which ever
// submits a paid request.
// Everything the service or the journal says (model names, errors, URLs, ids) is set as text or as
// a checked http(s) URL attribute: never parsed as HTML.
// The pure helpers at the top are unit-tested with Node (tests/web/history.test.js).

import { formatUsd } from "./format.js";
import { button, el, note, row, showMessage, textInput } from "./dom.js";
import { originAdviceBox } from "./settings_origin.js";
import { TONES } from "./tones.js";

export const HISTORY_TAB_ID = "runcomfy-model-api-history";   // this pack's own id (issue 19.5): RunComfy's pack may add a tab too
export const HISTORY_COMMAND = "RunComfyModelAPI.History.Open";
export const PAGE_SIZE = 50;

// The journal's states as the tab names them (the route's own words are kept for the filter).
export const STATE_LABELS = {
  submitting: "sending",
  submitted: "queued / running",
  uncertain: "uncertain",
  succeeded: "succeeded",
  failed: "failed",
  cancelled: "cancelled",
  rejected: "rejected",
  expired: "expired",
};
export const STATE_FILTERS = [
  ["", "all states"],
  ["submitted,submitting", "queued / running"],
  ["succeeded", "succeeded"],
  ["failed,rejected,expired", "failed"],
  ["cancelled", "cancelled"],
  ["uncertain", "uncertain"],
];

export function stateLabel(state) {
  return STATE_LABELS[state] || String(state || "unknown");
}

export function stateTone(state) {
  if (state === "succeeded") return "ok";
  if (state === "submitted" || state === "submitting") return "busy";
  if (state === "uncertain") return "price";
  return state === "cancelled" ? "idle" : "error";
}

/** The cost of one request, marked as reported or estimated: {text, kind}. */
export function costLabel(cost) {
  const kind = cost?.kind;
  const usd = formatUsd(cost?.usd);
  if (kind === "reported" && usd) return { text: `${usd} (reported)`, kind };
  if (kind === "estimated" && usd) return { text: `≈${usd} (estimated)`, kind };
  return { text: "cost unknown", kind: "none" };
}

/** The listing route's query: only filled filters, a bounded page size, the cursor as given. */
export function historyQuery({ state = "", model = "", day = "" } = {}, cursor = null, limit = PAGE_SIZE) {
  const q = new URLSearchParams();
  if (state) q.set("state", state);
  if (model && model.trim()) q.set("model", model.trim());
  if (/^\d{4}-\d{2}-\d{2}$/.test(day || "")) q.set("day", day);
  q.set("limit", String(Math.max(1, Math.min(200, Number(limit) || PAGE_SIZE))));
  if (cursor) q.set("cursor", cursor);
  return `/runcomfy-model-api/history?${q.toString()}`;
}

/** A URL the page may point an <img>/<video>/<a> at: http(s) only, else null. */
export function safeHttpUrl(url) {
  if (typeof url !== "string") return null;
  try {
    const u = new URL(url);
    return u.protocol === "https:" || u.protocol === "http:" ? u.href : null;
  } catch {
    return null;
  }
}

const MEDIA_EXT = {
  image: ["png", "jpg", "jpeg", "webp", "gif", "bmp", "avif"],
  video: ["mp4", "webm", "mov", "m4v", "mkv"],
  audio: ["mp3", "wav", "ogg", "flac", "m4a", "aac", "opus"],
};

/** image | video | audio | file, from the URL's path. */
export function mediaKind(url) {
  let path = String(url || "");
  try {
    path = new URL(path).pathname;
  } catch {
    /* a plain path */
  }
  const ext = (path.split(".").pop() || "").toLowerCase();
  for (const [kind, exts] of Object.entries(MEDIA_EXT)) if (exts.includes(ext)) return kind;
  return "file";
}

/** "2026-12-03 10:52" in local time, from epoch seconds. */
export function formatTime(epochSeconds) {
  const n = Number(epochSeconds);
  if (!Number.isFinite(n) || n <= 0) return "";
  const d = new Date(n * 1000);
  const p = (x) => String(x).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
}

/** The totals route's answer as lines: per period the reported and the estimated spend apart,
 *  then per model. [{period, text, models:[{text}]}] */
export function totalsLines(body) {
  const out = [];
  for (const [period, title] of [["today", "Today"], ["week", "This week"], ["month", "This month"]]) {
    const t = body?.[period];
    if (!t || typeof t !== "object") continue;
    const parts = [`${formatUsd(t.reported_usd) ?? "$0.00"} reported`, `${formatUsd(t.estimated_usd) ?? "$0.00"} estimated`];
    if (t.unknown) parts.push(`${t.unknown} of unknown cost`);
    const models = [];
    for (const [id, m] of Object.entries(t.by_model || {})) {
      const name = m?.display_name && m.display_name !== id ? `${m.display_name} (${id})` : id;
      const mp = [`${formatUsd(m?.reported_usd) ?? "$0.00"} reported`, `${formatUsd(m?.estimated_usd) ?? "$0.00"} estimated`];
      if (m?.unknown) mp.push(`${m.unknown} unknown`);
      models.push({ id, text: `${name}: ${mp.join(", ")} · ${m?.requests ?? 0} request(s)` });
    }
    out.push({ period, text: `${title}: ${parts.join(", ")} · ${t.requests ?? 0} request(s)`, models });
  }
  return out;
}

export const CLEAR_PATH = "/runcomfy-model-api/history/clear";

/** What the confirmation before clearing says: what goes, what stays, and that RunComfy's billing
 *  is untouched (only this machine's list is deleted). */
export function clearConfirmText(all) {
  const what = all
    ? "Clear the whole RunComfy request history on this machine, this month included?\n\nThe spending limits then count this month from $0 again."
    : "Clear the RunComfy request history of the months before this one on this machine?\n\nThis month's requests stay listed and the spending limits keep counting them.";
  return `${what}\n\nOnly this local list and its totals are deleted. Billing on RunComfy is not affected: ` +
    "what was spent stays charged on your RunComfy account. The request journal is kept, so paid results can still be fetched.";
}

/** Confirm, then POST the guarded clear route. deps: {call(path, opts), confirm(text) -> bool}.
 *  -> {cleared, ok, text, status?, body?} */
export async function clearHistory(deps, all) {
  if (!(await deps.confirm(clearConfirmText(all)))) return { cleared: false, ok: true, text: "Nothing was cleared." };
  const { status, body } = await deps.call(CLEAR_PATH, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ all: Boolean(all) }),
  });
  if (status !== 200 || !body?.ok) {
    return { cleared: false, ok: false, status, body, text: body?.error ? String(body.error) : `Could not clear the history (HTTP ${status}).` };
  }
  const n = Array.isArray(body.removed) ? body.removed.length : 0;
  const text = all ? `History cleared (${n} month file(s) deleted); this month's spend counts from $0.`
    : `${n} older month file(s) deleted; this month is kept.`;
  return { cleared: true, ok: true, status, body, text };
}

/** Button labels for the route's actions on one item. */
export function actionButtons(actions) {
  const a = new Set(Array.isArray(actions) ? actions : []);
  const out = [];
  if (a.has("fetch_into_node")) out.push(["fetch_new", "Fetch into new node"], ["fetch_selected", "Fetch into selected node"]);
  if (a.has("redownload")) out.push(["redownload", "Re-download missing files"]);
  if (a.has("cancel")) out.push(["cancel", "Cancel (queued)"]);
  if (a.has("uncertain")) out.push(["uncertain", "Show one-time code"]);
  return out;
}

// --- the DOM view -----------------------------------------------------------------------------


function small(text, extra = {}) {
  return el("div", { textContent: text, style: { fontSize: "0.75rem", color: "var(--descrip-text, #aaa)", overflowWrap: "anywhere", ...extra } });
}

function select(options, value = "") {
  const s = el("select", { style: { height: "2rem", background: "var(--comfy-input-bg, #222)", color: "var(--input-text, #ddd)", border: "1px solid var(--border-color, #555)", borderRadius: "6px" } });
  for (const [v, label] of options) s.append(el("option", { value: v, textContent: label }));
  s.value = value;
  return s;
}

/** The whole view (totals, export, clear, filters, list), built into `root`. deps: {call(path, opts),
 *  fetchInto(answer, where) -> text, viewUrl(view) -> url, download(path, name), confirm?(text) -> bool
 *  (default: the browser's confirm)}. */
export function buildHistoryView(root, deps) {
  const filters = { state: "", model: "", day: "" };
  let next = null;
  let loading = false;

  const totalsBox = el("div", { dataset: { runcomfyTotals: "1" }, style: { display: "flex", flexDirection: "column", gap: "2px" } });
  const message = note({ dataset: { runcomfyHistoryMessage: "1" }, style: { maxWidth: "none" } });
  // Behind a proxy under another host name the guarded reads answer 403: say which variable to set.
  const advice = originAdviceBox();
  const list = el("div", { dataset: { runcomfyHistoryList: "1" }, style: { display: "flex", flexDirection: "column", gap: "6px" } });
  const more = button("Load more", "Older requests (next page)");
  more.dataset.runcomfyMore = "1";
  more.style.display = "none";

  const stateSel = select(STATE_FILTERS);
  stateSel.dataset.runcomfyFilterState = "1";
  const modelIn = textInput({ placeholder: "model id or name", style: { width: "10rem" } });
  modelIn.dataset.runcomfyFilterModel = "1";
  const dayIn = textInput({ type: "date", style: { width: "9.5rem" } });
  dayIn.dataset.runcomfyFilterDay = "1";
  const refresh = button("Refresh", "Reload the list and the totals");
  refresh.dataset.runcomfyRefresh = "1";
  const csv = button("Export CSV", "All requests as CSV (the batch runner's --report fields)");
  const jsonl = button("Export JSON lines", "All requests as JSON lines (the batch runner's --report fields)");
  const clear = button("Clear history", "Delete this machine's request history (asks first; RunComfy billing is not affected)");
  clear.dataset.runcomfyClear = "1";
  const clearAll = el("input", { type: "checkbox", title: "Also this month's requests (the spending limits then count from $0)" });
  clearAll.dataset.runcomfyClearAll = "1";
  const clearAllLabel = el("label", { style: { display: "flex", gap: "4px", alignItems: "center", fontSize: "0.75rem" } }, [clearAll, "this month too"]);
  const ask = deps.confirm || ((text) => globalThis.confirm?.(text) ?? false);

  root.replaceChildren(
    el("div", { style: { display: "flex", flexDirection: "column", gap: "8px", padding: "8px", fontSize: "0.85rem", color: "var(--fg-color, #ddd)", boxSizing: "border-box", height: "100%", overflowY: "auto" }, dataset: { runcomfyHistory: "1" } }, [
      el("div", { textContent: "RunComfy requests", style: { fontWeight: "600", fontSize: "1rem" } }),
      totalsBox,
      row([csv, jsonl, clear, clearAllLabel]),
      row([stateSel, modelIn, dayIn, refresh]),
      message,
      advice.root,
      list,
      more,
    ]),
  );
  for (const r of root.querySelectorAll("div")) if (r.style.justifyContent === "flex-end") r.style.justifyContent = "flex-start";

  async function loadTotals() {
    const { status, body } = await deps.call("/runcomfy-model-api/history/totals");
    totalsBox.replaceChildren();
    if (status !== 200 || !body?.ok) {
      totalsBox.append(small(body?.error ? String(body.error) : `Totals unavailable (HTTP ${status}).`));
      return;
    }
    for (const line of totalsLines(body)) {
      const details = el("details", { dataset: { runcomfyPeriod: line.period } }, [
        el("summary", { textContent: line.text, style: { cursor: "pointer" } }),
        ...line.models.map((m) => small(m.text, { paddingLeft: "1rem" })),
      ]);
      totalsBox.append(details);
    }
    const lim = body.limits;
    if (lim?.ok && (lim.daily_usd || lim.monthly_usd)) {
      const parts = [];
      if (lim.daily_usd) parts.push(`daily ${formatUsd(lim.daily_usd)}`);
      if (lim.monthly_usd) parts.push(`monthly ${formatUsd(lim.monthly_usd)}`);
      totalsBox.append(small(`Spending limits: ${parts.join(", ")} (Settings › RunComfy Model API)`));
    }
  }

  function itemView(it) {
    const box = el("div", { dataset: { runcomfyItem: String(it.id), runcomfyState: String(it.state) }, style: { border: "1px solid var(--border-color, #444)", borderRadius: "6px", padding: "6px", display: "flex", flexDirection: "column", gap: "3px" } });
    const cost = costLabel(it.cost);
    box.append(el("div", { style: { display: "flex", gap: "6px", flexWrap: "wrap", alignItems: "baseline" } }, [
      el("span", { textContent: formatTime(it.created), style: { color: "var(--descrip-text, #aaa)" } }),
      el("span", { textContent: stateLabel(it.state), dataset: { runcomfyStateLabel: "1" }, style: { color: TONES[stateTone(it.state)], fontWeight: "600" } }),
      el("span", { textContent: cost.text, dataset: { runcomfyCost: cost.kind }, style: { color: cost.kind === "reported" ? "var(--fg-color, #ddd)" : TONES.price } }),
    ]));
    const name = it.display_name && it.display_name !== it.model_id ? String(it.display_name) : "";
    box.append(el("div", { dataset: { runcomfyModel: "1" }, style: { overflowWrap: "anywhere" } }, [
      el("span", { textContent: name, style: { fontWeight: "600" } }),
      el("span", { textContent: name ? ` ${it.model_id}` : String(it.model_id || ""), style: { color: "var(--descrip-text, #aaa)" } }),
    ]));
    if (it.request_id) {
      const copy = button("Copy", "Copy the request id");
      copy.style.height = "1.5rem";
      copy.addEventListener("click", () => { navigator.clipboard?.writeText(String(it.request_id)).catch(() => {}); copy.textContent = "Copied"; });
      box.append(el("div", { style: { display: "flex", gap: "6px", alignItems: "center" } }, [
        small(`request ${it.request_id}`, { fontFamily: "monospace" }), copy,
      ]));
    }
    const origin = [];
    if (it.node_id) origin.push(`node #${it.node_id}`);
    if (it.workflow) origin.push(`workflow ${it.workflow}`);
    if (it.source === "batch") origin.push(`batch${it.batch_key ? ` ${it.batch_key}` : ""}`);
    if (origin.length) box.append(small(`from ${origin.join(" · ")}`));
    if (it.reason) box.append(small(String(it.reason), { color: TONES.error }));
    const media = el("div", { style: { display: "flex", gap: "4px", flexWrap: "wrap" } });
    for (const raw of (it.urls || []).slice(0, 8)) {
      const url = safeHttpUrl(raw);
      if (!url) continue;
      const kind = mediaKind(url);
      let m;
      if (kind === "image") m = el("img", { src: url, loading: "lazy", referrerPolicy: "no-referrer", alt: "result", style: { maxWidth: "96px", maxHeight: "96px", borderRadius: "4px" } });
      else if (kind === "video") m = el("video", { src: url, controls: true, preload: "metadata", style: { maxWidth: "160px", maxHeight: "120px" } });
      else if (kind === "audio") m = el("audio", { src: url, controls: true, preload: "none", style: { width: "200px" } });
      if (m) media.append(m);
      media.append(el("a", { href: url, target: "_blank", rel: "noopener noreferrer", textContent: "open", style: { fontSize: "0.75rem", color: "#8fb8ff" } }));
    }
    if (media.childNodes.length) box.append(media);
    const files = (it.files || []).filter((f) => f && typeof f.path === "string");
    if (files.length) {
      const missing = files.filter((f) => !f.exists).length;
      box.append(small(`${files.length} local file(s)${missing ? `, ${missing} missing` : ""}`));
    }
    const out = small("", { color: "var(--fg-color, #ddd)" });
    out.dataset.runcomfyActionResult = "1";
    const acts = actionButtons(it.actions);
    if (acts.length) {
      const bar = el("div", { style: { display: "flex", gap: "4px", flexWrap: "wrap" } });
      for (const [key, label] of acts) {
        const b = button(label, label);
        b.dataset.runcomfyAction = key;
        b.style.height = "1.6rem";
        b.style.fontSize = "0.75rem";
        b.addEventListener("click", () => runAction(it, key, out, b));
        bar.append(b);
      }
      box.append(bar);
    }
    box.append(out);
    return box;
  }

  async function runAction(it, key, out, b) {
    const action = key.startsWith("fetch") ? "fetch_into_node" : key;
    b.disabled = true;
    try {
      const { status, body } = await deps.call("/runcomfy-model-api/history/action", {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ action, id: it.id }),
      });
      if (!body || typeof body !== "object") return showMessage(out, `Failed (HTTP ${status}).`, false);
      if (body.ok === false && body.error) return showMessage(out, String(body.error), false);
      if (action === "fetch_into_node") {
        const r = deps.fetchInto(body, key === "fetch_new" ? "new" : "selected");
        return showMessage(out, r.text, r.ok);
      }
      if (action === "redownload") {
        out.replaceChildren();
        out.append(el("div", { textContent: `Downloaded ${body.downloaded ?? 0} file(s), no new charge.${(body.errors || []).length ? ` Errors: ${body.errors.join("; ")}` : ""}` }));
        for (const f of body.files || []) {
          const href = deps.viewUrl(f.view);
          if (href) out.append(el("a", { href, target: "_blank", rel: "noopener noreferrer", textContent: `open ${f.view.filename}`, style: { color: "#8fb8ff", marginRight: "6px" } }));
        }
        return;
      }
      if (action === "cancel") return showMessage(out, String(body.text || body.outcome || "done"), body.ok !== false);
      if (action === "uncertain") {
        out.replaceChildren(
          el("div", { textContent: `One-time code: ${body.code}`, dataset: { runcomfyCode: "1" }, style: { fontFamily: "monospace", fontWeight: "600" } }),
          el("div", { textContent: String(body.meaning || "") }),
        );
      }
    } finally {
      b.disabled = false;
    }
  }

  async function loadPage(reset) {
    if (loading) return;
    loading = true;
    try {
      if (reset) { next = null; list.replaceChildren(); }
      const { status, body } = await deps.call(historyQuery(filters, reset ? null : next));
      advice.update(status, body);
      if (status !== 200 || !body?.ok) {
        showMessage(message, body?.error ? String(body.error) : `Could not load the history (HTTP ${status}).`, false);
        return;
      }
      showMessage(message, "", true);
      for (const it of body.items || []) list.append(itemView(it));
      if (reset && !(body.items || []).length) list.append(small("No RunComfy requests match."));
      next = body.next || null;
      more.style.display = next ? "" : "none";
    } finally {
      loading = false;
    }
  }

  async function exportAs(format) {
    await deps.download(`/runcomfy-model-api/history/export?format=${format}`, `runcomfy-history.${format}`);
  }

  stateSel.addEventListener("change", () => { filters.state = stateSel.value; loadPage(true); });
  modelIn.addEventListener("change", () => { filters.model = modelIn.value; loadPage(true); });
  dayIn.addEventListener("change", () => { filters.day = dayIn.value; loadPage(true); });
  refresh.addEventListener("click", () => { loadTotals(); loadPage(true); });
  more.addEventListener("click", () => loadPage(false));
  csv.addEventListener("click", () => exportAs("csv"));
  clear.addEventListener("click", async () => {
    clear.disabled = true;
    try {
      const r = await clearHistory({ call: deps.call, confirm: ask }, clearAll.checked);
      if (r.status !== undefined) advice.update(r.status, r.body);
      if (r.cleared) await Promise.all([loadTotals(), loadPage(true)]);
      showMessage(message, r.text, r.ok);
    } finally {
      clear.disabled = false;
    }
  });
  jsonl.addEventListener("click", () => exportAs("jsonl"));

  const ready = Promise.all([loadTotals(), loadPage(true)]);
  return { reload: () => Promise.all([loadTotals(), loadPage(true)]), ready };
}

// --- mounting: the sidebar tab, else a dialog ------------------------------------------------------

/** A dialog of our own (every frontend): used where there is no sidebar-tab API, and by the command. */
export function openHistoryDialog(deps) {
  const old = document.querySelector("[data-runcomfy-history-dialog]");
  if (old) old.remove();
  const close = button("Close", "Close the RunComfy requests");
  const body = el("div", { style: { flex: "1", minHeight: "0", overflow: "auto" } });
  const box = el("div", {
    dataset: { runcomfyHistoryDialog: "1" }, role: "dialog",
    style: { position: "fixed", zIndex: "10000", top: "5vh", right: "2vw", width: "min(560px, 96vw)", height: "88vh",
      display: "flex", flexDirection: "column", background: "var(--comfy-menu-bg, #202020)", border: "1px solid var(--border-color, #555)",
      borderRadius: "8px", boxShadow: "0 8px 32px rgba(0,0,0,0.5)" },
  }, [el("div", { style: { display: "flex", justifyContent: "flex-end", padding: "4px" } }, [close]), body]);
  close.addEventListener("click", () => box.remove());
  document.body.append(box);
  return buildHistoryView(body, deps);
}

/** Registers the tab (or nothing: the command opens the dialog). Returns "tab" or "dialog". */
export function registerHistory(app, deps) {
  const manager = app.extensionManager;
  if (typeof manager?.registerSidebarTab === "function") {
    let view = null;
    manager.registerSidebarTab({
      id: HISTORY_TAB_ID,
      icon: "pi pi-dollar",
      title: "RunComfy Model API",
      tooltip: "RunComfy Model API requests: history, spend, fetch results",
      type: "custom",
      render: (container) => { view = buildHistoryView(container, deps); },
      destroy: () => { view = null; },
    });
    return "tab";
  }
  return "dialog";
}
