// Issue 19.4: a write refused because ComfyUI is reached under an address it does not know as its
// own (a reverse proxy, a hosted machine, another host name). The server answers 403 with
// {reason, fix: "public_origin", public_origin_env, public_origin_set} and never turns the
// request's Host or Origin into advice (a DNS-rebinding page would choose it). The page composes
// the value itself from its own location.origin: the one address this browser really shows.
import { button, el, note } from "./dom.js";

export function clear(node) {
  if (node.replaceChildren) node.replaceChildren();
  else node.children.length = 0;     // the unit tests' fake DOM
}

export const PUBLIC_ORIGIN_ENV = "RUNCOMFY_PUBLIC_ORIGIN";
const ENV_NAME = /^[A-Z][A-Z0-9_]{0,63}$/;
// What location.origin can be for a page served over http(s); anything else ("null" for a
// sandboxed frame or file:, a malformed string) gets no line to copy.
const ORIGIN = /^https?:\/\/(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/;

/** The advice for a refused write, or null when the answer is not such a refusal.
 *  `origin`: the page's own location.origin. Returns {env, origin, line, set, lines: [text]}. */
export function publicOriginAdvice(status, body, origin) {
  if (status !== 403 || !body || typeof body !== "object" || body.fix !== "public_origin") return null;
  const env = typeof body.public_origin_env === "string" && ENV_NAME.test(body.public_origin_env)
    ? body.public_origin_env : PUBLIC_ORIGIN_ENV;
  const set = body.public_origin_set === true;
  if (typeof origin !== "string" || !ORIGIN.test(origin)) {
    return {
      env, origin: null, line: null, set,
      lines: [`ComfyUI refused this because this page's address is not one it knows as its own, and this page `
        + `has no web address to suggest (${String(origin)}). Open ComfyUI at its http(s) address and try again.`],
    };
  }
  const line = `${env}=${origin}`;
  const lines = [
    `ComfyUI does not know ${origin} as its own address (a reverse proxy, a hosted machine or another `
      + `host name), so it refused to change a setting from this page.`,
  ];
  if (set) {
    lines.push(`${env} is set on the ComfyUI server, but not to this page's address. Set it to the line below, `
      + `or keep the other address and add this one: several can be listed separated by commas `
      + `(${env}=https://other.example,${origin}).`);
  } else {
    lines.push(`Set this environment variable where ComfyUI is started, then restart ComfyUI:`);
  }
  return { env, origin, line, set, lines };
}

async function copyText(text, field) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // No clipboard API (plain http on a non-localhost address is not a secure context).
    try {
      const range = document.createRange();
      range.selectNodeContents(field);
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      return document.execCommand("copy");
    } catch {
      return false;
    }
  }
}

/** A box under a settings row; `update(status, body)` shows the advice for a refused write (and
 *  scrolls it into view) or hides it. `origin` defaults to the page's own location.origin. */
export function originAdviceBox(origin = () => globalThis.location?.origin) {
  const root = el("div", {
    dataset: { runcomfyOriginAdvice: "1" },
    style: {
      display: "none", boxSizing: "border-box", maxWidth: "26rem", padding: "0.5rem 0.6rem",
      borderRadius: "6px", border: "1px solid var(--error-text, #ff8a80)",
      background: "var(--comfy-input-bg, #222)", color: "var(--input-text, #ddd)", fontSize: "0.8rem",
    },
  });
  function update(status, body) {
    const advice = publicOriginAdvice(status, body, origin());
    clear(root);
    if (!advice) {
      root.style.display = "none";
      return null;
    }
    for (const text of advice.lines) {
      root.append(note({ textContent: text, style: { color: "var(--input-text, #ddd)", maxWidth: "none" } }));
    }
    if (advice.line) {
      const code = el("code", {
        textContent: advice.line,
        dataset: { runcomfyOriginLine: "1" },
        style: {
          display: "block", margin: "0.35rem 0", padding: "0.3rem 0.45rem", borderRadius: "4px",
          background: "rgba(0,0,0,0.35)", fontFamily: "monospace", fontSize: "0.8rem",
          wordBreak: "break-all", userSelect: "all", whiteSpace: "pre-wrap",
        },
      });
      const copied = note({ dataset: { runcomfyOriginCopied: "1" } });
      const copy = button("Copy", "Copy this line");
      copy.addEventListener("click", async () => {
        copied.textContent = (await copyText(advice.line, code)) ? "Copied." : "Select the line and copy it.";
      });
      root.append(code, el("div", { style: { display: "flex", gap: "0.5rem", alignItems: "center" } }, [copy, copied]));
    }
    root.style.display = "block";
    try {
      root.scrollIntoView?.({ block: "nearest" });
    } catch {
      /* not attached yet */
    }
    return advice;
  }
  return { root, update };
}
