// The extension's DOM pieces: el() and the settings rows (the node panel is web/lib/panel.js). Styled only with ComfyUI's
// own palette variables (--comfy-input-bg, --input-text, --border-color, --fg-color,
// --descrip-text, --error-text), which every frontend from 1.27 to 1.58 sets, with fallbacks,
// instead of the class names of one PrimeVue version (1.58 no longer styles `p-inputtext`).

// Props that would parse a string as HTML. Service text (names, errors, prices) reaches the page
// through textContent only; el() refuses these so that no later edit can slip one in.
const HTML_PROPS = new Set(["innerHTML", "outerHTML", "srcdoc", "insertAdjacentHTML", "setHTMLUnsafe"]);

export function el(tag, props = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (HTML_PROPS.has(key) || /^on/i.test(key)) throw new Error(`el(): '${key}' is not allowed (text only)`);
    if (key === "style") Object.assign(node.style, value);
    else if (key === "dataset") Object.assign(node.dataset || (node.dataset = {}), value);
    else if (key in node) node[key] = value;
    else node.setAttribute(key, value);
  }
  // Strings become text nodes (append never parses HTML); elements are kept as they are.
  for (const child of children) node.append(child);
  return node;
}

// --- settings rows ----------------------------------------------------------------------------

const CONTROL = {
  boxSizing: "border-box",
  height: "2rem",
  borderRadius: "6px",
  border: "1px solid var(--border-color, #555)",
  background: "var(--comfy-input-bg, #222)",
  color: "var(--input-text, #ddd)",
  font: "inherit",
  fontSize: "0.875rem",
};

export function textInput(props = {}) {
  return el("input", { ...props, style: { ...CONTROL, padding: "0 0.6rem", width: "16rem", ...(props.style || {}) } });
}

export function button(label, title) {
  const b = el("button", {
    type: "button", textContent: label, title,
    style: { ...CONTROL, padding: "0 0.8rem", cursor: "pointer", background: "var(--comfy-menu-secondary-bg, var(--comfy-input-bg, #333))" },
  });
  b.addEventListener("mouseenter", () => { b.style.background = "var(--content-hover-bg, #444)"; });
  b.addEventListener("mouseleave", () => { b.style.background = "var(--comfy-menu-secondary-bg, var(--comfy-input-bg, #333))"; });
  return b;
}

export function note(props = {}) {
  return el("div", {
    ...props,
    style: { fontSize: "0.8rem", maxWidth: "26rem", whiteSpace: "normal", minHeight: "1em",
      color: "var(--descrip-text, #aaa)", ...(props.style || {}) },
  });
}

export function showMessage(target, text, ok) {
  target.textContent = text;
  target.style.color = ok ? "var(--fg-color, #7fd17f)" : "var(--error-text, #ff8a80)";
}

export function column(children) {
  return el("div", { style: { display: "flex", flexDirection: "column", gap: "0.35rem", alignItems: "flex-end" } }, children);
}

export function row(children) {
  return el("div", { style: { display: "flex", gap: "0.35rem", alignItems: "center", flexWrap: "wrap", justifyContent: "flex-end" } }, children);
}
