// The price of a prompt before it is queued (issue 20.5). When the user presses Run, the extension
// asks the pack (POST /runcomfy-model-api/prompt/preview, read-only) which RunComfy nodes of the prompt will
// submit: variations count one request each; requests the journal will resume (same inputs already
// ran), a resume_request_id and dry_run nodes cost nothing. Above the threshold set in
// Settings › RunComfy Model API › Spending it asks to confirm with the total and the list.
// The hook is app.queuePrompt, which the Run button, its shortcuts and the queue commands call on
// 1.27, 1.49 and 1.58 alike; headless POST /prompt never passes through it (the spending limits of
// the server still apply there). The pure helpers are unit-tested with Node (tests/web/confirm.test.js).

import { formatUsd, isRunComfyType } from "./format.js";
import { button, el } from "./dom.js";

// $1.00: one image request costs cents, so image users are not asked on every Run; a video run
// with variations, or several nodes, crosses it, which is where a surprise on the bill comes from.
export const DEFAULT_CONFIRM_ABOVE_USD = 1;

/** The RunComfy nodes of an API prompt ({id: {class_type, inputs}}) as the preview route takes them. */
export function previewNodes(output) {
  const nodes = [];
  for (const [id, n] of Object.entries(output || {})) {
    if (n && isRunComfyType(n.class_type)) nodes.push({ id: String(id), class_type: n.class_type, inputs: n.inputs || {} });
  }
  return nodes;
}

/** Ids of the prompt's nodes that ComfyUI will execute: the output nodes and everything they take
 *  inputs from (links are [id, slot] pairs). A RunComfy node that feeds no output never runs. */
export function executedNodeIds(output, isOutputClass) {
  const seen = new Set();
  const stack = Object.entries(output || {}).filter(([, n]) => n && isOutputClass(n.class_type)).map(([id]) => String(id));
  while (stack.length) {
    const id = stack.pop();
    if (seen.has(id) || !output[id]) continue;
    seen.add(id);
    for (const v of Object.values(output[id].inputs || {})) if (Array.isArray(v) && v.length === 2) stack.push(String(v[0]));
  }
  return seen;
}

/** The confirmation's numbers from the route's answer: the known total of the new requests (times
 *  the batch count: every queued copy of the prompt is a run), requests of unknown price, and one
 *  line per node. */
export function confirmSummary(body, batchCount = 1) {
  const runs = Math.max(1, Math.floor(Number(batchCount) || 1));
  let total = 0;
  let unknown = 0;
  let requests = 0;
  const lines = [];
  for (const n of body?.nodes || []) {
    const name = n.display_name || n.model_id || n.class_type || "?";
    const label = `#${n.id} ${name}`;
    if (!n.new_requests) {
      lines.push({ id: n.id, submits: false, text: `${label}: no new charge${n.reason ? ` (${n.reason})` : ""}` });
      continue;
    }
    requests += n.new_requests * runs;
    const usd = typeof n.estimate_usd === "number" ? n.estimate_usd * runs : null;
    if (usd === null) unknown += n.new_requests * runs;
    else total += usd;
    const reused = n.reused ? `, ${n.reused} reused` : "";
    const times = runs > 1 ? ` × ${runs} runs` : "";
    lines.push({ id: n.id, submits: true,
      text: `${label}: ${n.new_requests} new request(s)${reused}${times}: ${usd === null ? "price unknown" : `≈${formatUsd(usd)}`}` });
  }
  total = Math.round(total * 1e6) / 1e6;
  return { total, totalText: formatUsd(total), unknown, requests, lines };
}

/** Whether to ask: a threshold of 0/empty/negative is "never ask"; an unknown price asks too once
 *  something is known to be sent and a threshold is set. */
export function needsConfirm(summary, threshold) {
  const t = Number(threshold);
  if (!Number.isFinite(t) || t <= 0 || !summary || !summary.requests) return false;
  return summary.total > t || summary.unknown > 0;
}

// --- the dialog -------------------------------------------------------------------------------

/** Resolves true (queue it) or false. Text only. */
export function askToConfirm(summary, threshold) {
  return new Promise((resolve) => {
    const ok = button("Queue it", "Queue the prompt: these requests will be charged");
    const no = button("Cancel", "Do not queue");
    ok.dataset.runcomfyConfirmOk = "1";
    no.dataset.runcomfyConfirmCancel = "1";
    const unknown = summary.unknown ? ` plus ${summary.unknown} request(s) of unknown price` : "";
    const overlay = el("div", {
      dataset: { runcomfyConfirm: "1" },
      style: { position: "fixed", inset: "0", zIndex: "10001", background: "rgba(0,0,0,0.45)", display: "flex", alignItems: "center", justifyContent: "center" },
    }, [el("div", {
      role: "dialog",
      style: { background: "var(--comfy-menu-bg, #202020)", color: "var(--fg-color, #ddd)", border: "1px solid var(--border-color, #555)",
        borderRadius: "8px", padding: "16px", width: "min(520px, 92vw)", display: "flex", flexDirection: "column", gap: "8px", fontSize: "0.9rem" },
    }, [
      el("div", { textContent: "RunComfy: this Run will be charged", style: { fontWeight: "600", fontSize: "1rem" } }),
      el("div", { dataset: { runcomfyConfirmTotal: "1" }, textContent: `Estimated total: ${summary.totalText}${unknown} for ${summary.requests} new request(s).` }),
      el("div", { textContent: `You asked to confirm runs above ${formatUsd(Number(threshold))} (Settings › RunComfy Model API › Spending). Estimates come from RunComfy's list prices; the reported cost may differ.`,
        style: { fontSize: "0.8rem", color: "var(--descrip-text, #aaa)" } }),
      el("ul", { dataset: { runcomfyConfirmList: "1" }, style: { margin: "0", paddingLeft: "1.2rem", maxHeight: "40vh", overflowY: "auto" } },
        summary.lines.map((l) => el("li", { textContent: l.text, style: { color: l.submits ? "inherit" : "var(--descrip-text, #aaa)" } }))),
      el("div", { style: { display: "flex", gap: "8px", justifyContent: "flex-end" } }, [no, ok]),
    ])]);
    const done = (v) => { overlay.remove(); document.removeEventListener("keydown", onKey, true); resolve(v); };
    const onKey = (e) => { if (e.key === "Escape") { e.stopPropagation(); done(false); } };
    ok.addEventListener("click", () => done(true));
    no.addEventListener("click", () => done(false));
    document.addEventListener("keydown", onKey, true);
    document.body.append(overlay);
    ok.focus?.();
  });
}

/** Wraps app.queuePrompt(number, batchCount, ...). deps: {call, threshold() -> number}. A preview
 *  that fails does not block the Run (the server's spending limits still refuse before sending). */
export function installRunConfirm(app, deps) {
  const original = app.queuePrompt;
  if (typeof original !== "function" || original.__runcomfyConfirm) return false;
  const wrapped = async function (number, batchCount, ...rest) {
    const threshold = deps.threshold();
    if (Number(threshold) > 0) {
      try {
        const { output } = await app.graphToPrompt();
        const types = globalThis.LiteGraph?.registered_node_types || {};
        const runs = executedNodeIds(output, (t) => types[t]?.nodeData?.output_node === true);
        // No output node known (a frontend without nodeData on its classes): count them all.
        const nodes = previewNodes(output).filter((n) => !runs.size || runs.has(n.id));
        if (nodes.length) {
          const { status, body } = await deps.call("/runcomfy-model-api/prompt/preview", {
            method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ nodes }),
          });
          if (status === 200 && body?.ok) {
            const summary = confirmSummary(body, batchCount);
            if (needsConfirm(summary, threshold) && !(await askToConfirm(summary, threshold))) return false;
          } else {
            console.warn("[RunComfy] price preview unavailable; queuing without confirmation", status, body);
          }
        }
      } catch (err) {
        console.warn("[RunComfy] price preview failed; queuing without confirmation", err);
      }
    }
    return original.call(this, number, batchCount, ...rest);
  };
  wrapped.__runcomfyConfirm = true;
  app.queuePrompt = wrapped;
  return true;
}
