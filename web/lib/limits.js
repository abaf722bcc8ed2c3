// Settings › RunComfy Model API › Spending: the daily and monthly USD limits (issue 20.4), kept by the pack
// on the ComfyUI server (GET/POST /runcomfy-model-api/limits, shared with every process and the batch
// runner using the same config folder), never in the browser's settings. Off by default.

import { formatUsd } from "./format.js";
import { button, column, el, note, row, showMessage, textInput } from "./dom.js";
import { originAdviceBox } from "./settings_origin.js";

/** The POST body from the two fields: empty or 0 = off; else a positive amount. {body} or {error}. */
export function limitsPayload(dailyText, monthlyText) {
  const body = {};
  for (const [key, text, label] of [["daily_usd", dailyText, "Daily limit"], ["monthly_usd", monthlyText, "Monthly limit"]]) {
    const t = String(text ?? "").trim().replace(/^\$/, "");
    if (t === "" || Number(t) === 0) { body[key] = null; continue; }
    const n = Number(t);
    if (!Number.isFinite(n) || n < 0) return { error: `${label} must be an amount in USD (empty or 0 = off), got '${String(text).slice(0, 20)}'.` };
    body[key] = n;
  }
  return { body };
}

/** One line: what is in force, where it comes from, and what it counts so far. */
export function limitsStatusText(body) {
  if (!body || body.ok === false) return body?.error ? String(body.error) : "Limits unavailable.";
  const part = (usd, source, spent, name) => {
    if (!usd) return `${name}: off`;
    const from = source && source !== "settings" ? ` (from ${source})` : "";
    return `${name}: ${formatUsd(usd)}${from}, ${formatUsd(spent?.usd ?? 0)} counted`;
  };
  return `${part(body.daily_usd, body.daily_source, body.spent?.today, "Today")} · ${part(body.monthly_usd, body.monthly_source, body.spent?.month, "This month")}`;
}

function labelled(text, input) {
  return el("label", { style: { display: "flex", alignItems: "center", gap: "0.3rem", fontSize: "0.8rem",
    color: "var(--descrip-text, #aaa)" } }, [text, input]);
}

export function renderLimitsRow(call) {
  // Each field has its own visible label: once a value is typed the placeholder is gone, and two
  // bare numbers ("7.5", "40") did not say which one is the daily limit.
  const daily = textInput({ placeholder: "empty = off", inputMode: "decimal", style: { width: "7rem" } });
  const monthly = textInput({ placeholder: "empty = off", inputMode: "decimal", style: { width: "7rem" } });
  daily.setAttribute("aria-label", "Daily spending limit (USD)");
  monthly.setAttribute("aria-label", "Monthly spending limit (USD)");
  daily.dataset.runcomfyLimitDaily = "1";
  monthly.dataset.runcomfyLimitMonthly = "1";
  const save = button("Save limits", "Keep these limits on the ComfyUI server (every node, process and batch run counts against them)");
  save.dataset.runcomfyLimitSave = "1";
  const status = note({ dataset: { runcomfyLimitStatus: "1" } });
  const message = note({ dataset: { runcomfyLimitMessage: "1" } });
  const advice = originAdviceBox();

  const show = (body) => {
    status.textContent = limitsStatusText(body);
    if (body?.ok) {
      daily.value = body.saved?.daily_usd ? String(body.saved.daily_usd) : "";
      monthly.value = body.saved?.monthly_usd ? String(body.saved.monthly_usd) : "";
    }
  };
  call("/runcomfy-model-api/limits").then(({ status: code, body }) => { advice.update(code, body); show(body); }).catch(() => {});
  save.addEventListener("click", async () => {
    const p = limitsPayload(daily.value, monthly.value);
    if (p.error) return showMessage(message, p.error, false);
    save.disabled = true;
    try {
      const { status: code, body } = await call("/runcomfy-model-api/limits", {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(p.body),
      });
      advice.update(code, body);
      if (code === 200 && body?.ok) { show(body); showMessage(message, "Saved.", true); }
      else showMessage(message, body?.error ? String(body.error) : `Not saved (HTTP ${code}).`, false);
    } finally {
      save.disabled = false;
    }
  });
  return column([row([labelled("Daily $", daily), labelled("Monthly $", monthly), save]), status, message, advice.root]);
}
