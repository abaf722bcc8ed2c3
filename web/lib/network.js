// Settings › RunComfy Model API › Proxy: the proxy the pack's API calls use (issue 19.3), through the
// server routes GET/POST/DELETE /runcomfy-model-api/network. The server never sends a proxy's password
// (it shows user:password as <user>:<password>); everything it says is set as text only.
import { button, column, note, row, showMessage, textInput } from "./dom.js";
import { errorText } from "./format.js";
import { clear as clearChildren, originAdviceBox } from "./settings_origin.js";

export const NETWORK_PATH = "/runcomfy-model-api/network";

/** The status lines of GET /runcomfy-model-api/network's body: [{text, ok}]. */
export function networkStatusLines(body) {
  if (!body || typeof body !== "object" || !body.proxy || typeof body.proxy !== "object") {
    return [{ text: "Proxy: status unavailable", ok: false }];
  }
  const lines = [];
  const { used, shown, source } = body.proxy;
  const saved = typeof body.saved_proxy === "string" ? body.saved_proxy : null;
  if (used && typeof shown === "string") {
    lines.push({ text: `Proxy: ${shown} (${source === "saved setting" ? "saved here" : `from ${source || "the environment"}`})`, ok: true });
  } else if (source === "NO_PROXY") {
    lines.push({ text: "Proxy: none for RunComfy (its host is listed in NO_PROXY)", ok: true });
  } else if (saved === "direct") {
    lines.push({ text: "Proxy: none (saved here as \"direct\": the environment's proxy is not used)", ok: true });
  } else if (typeof source === "string" && source && source !== "saved setting") {
    lines.push({ text: `Proxy: none (${source})`, ok: true });
  } else {
    lines.push({ text: "Proxy: none (direct connection)", ok: true });
  }
  if (saved && saved !== "direct" && !(used && source === "saved setting")) {
    lines.push({ text: `Saved proxy: ${saved}`, ok: true });
  }
  const ca = body.ca_bundle;
  if (ca && typeof ca === "object" && ca.source && ca.source !== "default") {
    lines.push({ text: `CA bundle: ${ca.path || "?"} (from ${ca.source})`, ok: true });
  }
  if (typeof body.error === "string" && body.error.trim()) lines.push({ text: body.error.trim(), ok: false });
  return lines;
}

/** What a Save/Clear answer means: {ok, message}. */
export function proxyActionResult(action, status, body) {
  const ok = status >= 200 && status < 300 && !!body && body.ok === true;
  if (!ok) return { ok: false, message: errorText(status, body, `${action} failed`) };
  if (action === "clear") return { ok: true, message: "Saved proxy removed: the environment's proxy settings apply." };
  return { ok: true, message: body.saved_proxy === "direct"
    ? "Saved: RunComfy is reached without a proxy." : "Proxy saved; the next RunComfy call uses it." };
}

/** The settings row. `call(path, options)` answers {status, body} (the extension's callJson,
 *  which adds the pack's request header). */
export function renderProxyRow(call) {
  const status = note({ textContent: "Proxy: …", dataset: { runcomfyProxyStatus: "1" } });
  const input = textInput({ type: "text", placeholder: "http://proxy.example:3128 or direct", spellcheck: false,
    autocomplete: "off" });
  input.setAttribute("aria-label", "RunComfy proxy");
  const message = note({ dataset: { runcomfyProxyMessage: "1" } });
  const advice = originAdviceBox();
  const save = button("Save", "Use this proxy for RunComfy API calls (kept on the ComfyUI server)");
  const clear = button("Clear", "Remove the saved proxy: the environment's HTTPS_PROXY / NO_PROXY apply");
  const buttons = [save, clear];

  function showStatus(code, body) {
    if (code !== 200) {
      status.textContent = `Proxy: status unavailable (${errorText(code, body, "request failed")})`;
      status.style.color = "var(--error-text, #ff8a80)";
      return;
    }
    clearChildren(status);
    status.style.color = "";
    for (const line of networkStatusLines(body)) {
      const div = note({ textContent: line.text });
      if (!line.ok) div.style.color = "var(--error-text, #ff8a80)";
      status.append(div);
    }
  }

  async function load() {
    const { status: code, body } = await call(NETWORK_PATH);
    showStatus(code, body);
    advice.update(code, body);
  }

  async function run(action, options) {
    buttons.forEach((b) => { b.disabled = true; });
    showMessage(message, "Working…", true);
    try {
      const { status: code, body } = await call(NETWORK_PATH, options);
      const result = proxyActionResult(action, code, body);
      showMessage(message, result.message, result.ok);
      advice.update(code, body);
      if (result.ok) {
        input.value = "";
        showStatus(code, body);
      }
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
    }
  }

  save.addEventListener("click", () => {
    const proxy = input.value.trim();
    if (!proxy) {
      showMessage(message, "Type a proxy (http://host:port) or \"direct\" first; Clear removes the saved one.", false);
      return;
    }
    run("save", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ proxy }) });
  });
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter") save.click();
  });
  clear.addEventListener("click", () => run("clear", { method: "DELETE" }));

  load();
  return column([status, row([input, ...buttons]), message, advice.root]);
}
