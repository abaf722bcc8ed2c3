// What differs between the supported frontends (1.27.10, 1.49.6, 1.58.1), in one place.
// Read from ComfyUI_frontend's built bundles of each version:
//  - DOM widgets (all three): LGraphNode.computeSize adds a layout widget's minHeight (options.getMinHeight),
//    #arrangeWidgets gives it at least that much (distributeSpace) and grows the node when the widgets
//    do not fit; DomWidgets then sizes the element to computedHeight - 2 * widget.margin, where
//    widget.margin = options.margin ?? 10. A widget asking 56 px for 56 px of content therefore got 36 px:
//    the height asked must include both margins.
//  - Vue nodes (1.49, 1.58): the element is mounted in a grid row of height `auto` (hasLayoutSize) inside
//    a node whose height comes from node.size; the element's own min-height keeps its content whole.
//  - control_after_generate: "fixed" as an input option is the control's default on 1.49 and 1.58;
//    1.27 ignores it and starts every fresh control at "randomize".
//  - Input option display_name (the schema's title): 1.49 and 1.58 label widgets and sockets with it (a
//    translation of the pack's locales/ first); 1.27 ignores it and labels each widget with its translation
//    or else its NAME (widget.label = name), each socket's localized_name the same way. A label equal to
//    the name is set by the frontend, not the user (see applyLabels). hidden: 1.27 keeps it in widget.options.
//  - Multiline text widgets on the classic canvas (all three) show the input's NAME as the textarea's
//    placeholder when the input has none of its own: the only label such a widget draws there.
//  - Input option advanced: 1.49 and 1.58 fold it on Vue nodes ("Show advanced inputs") but not on the
//    classic canvas, which reads widget.advanced (1.58: the widget's canvas surface); 1.27 ignores it.
//    All three canvases know widget.hidden / widget.advanced (not drawn, counted out of computeSize, node
//    menu "Show Advanced" / "Hide Advanced"), but their widget layout (#arrangeWidgets / _arrangeWidgets)
//    still gives a folded widget a row: an empty gap. It takes a widget's own computeSize for that row
//    (height + 4 px), so a folded widget's is [0, -4] (see foldWidget).

/** Margin the DOM widget keeps around the panel on the canvas (px, each side). */
export const PANEL_MARGIN_PX = 4;

/** (major, minor, patch) of a version string; [0, 0, 0] when unknown. */
export function parseVersion(text) {
  const parts = String(text || "").match(/\d+/g) || [];
  const nums = parts.slice(0, 3).map(Number);
  while (nums.length < 3) nums.push(0);
  return nums;
}

export function atLeast(version, want) {
  const a = parseVersion(version);
  const b = parseVersion(want);
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i] > b[i];
  return true;
}

/** The frontend's version as it announces itself (every supported frontend sets this global). */
export function frontendVersion(win = globalThis) {
  return String(win?.__COMFYUI_FRONTEND_VERSION__ || "");
}

/** Whether fresh nodes' control widgets ignore control_after_generate: "fixed" (1.27). */
export function controlDefaultIgnored(version) {
  return !!version && !atLeast(version, "1.28.0");
}

/** The addDOMWidget options that give the panel exactly `contentHeight()` px on every frontend:
 *  the frontend takes both margins off the height it gives the widget. */
export function panelWidgetOptions(contentHeight) {
  const asked = () => {
    const h = contentHeight();
    return h > 0 ? Math.ceil(h) + 2 * PANEL_MARGIN_PX : 0;
  };
  return {
    margin: PANEL_MARGIN_PX,
    getMinHeight: asked,
    getMaxHeight: asked,
    getHeight: asked,
  };
}

/** Grows (never shrinks) a node so that all its widgets fit: a saved workflow's size may be smaller than
 *  what the panel needs now. computeSize() counts a DOM widget's minHeight on every supported frontend. */
export function growNodeToFit(node) {
  if (!node || typeof node.computeSize !== "function" || !Array.isArray(node.size) && !node.size) return false;
  let want;
  try {
    want = node.computeSize();
  } catch {
    return false;
  }
  const height = Number(want?.[1]);
  const width = Number(node.size[0]);
  if (!Number.isFinite(height) || !(height > Number(node.size[1]) + 0.5)) return false;
  if (typeof node.setSize === "function") node.setSize([width, height]);
  else node.size[1] = height;
  return true;
}

/** Fresh nodes on 1.27: every seed/generation control starts at "fixed", as the input option says. */
export function fixControlDefaults(node, version) {
  if (!controlDefaultIgnored(version)) return 0;
  let n = 0;
  for (const w of node?.widgets || []) {
    if (w?.options?.control_after_generate === undefined && !w?.linkedWidgets) continue;
    for (const control of w.linkedWidgets || []) {
      if (control && control.value !== "fixed" && (control.options?.values || []).includes("fixed")) {
        control.value = "fixed";
        n++;
      }
    }
  }
  return n;
}

/** The row height 1.27 gives a widget without a computeSize of its own. */
function widgetRowHeight() {
  const h = Number(globalThis.LiteGraph?.NODE_WIDGET_HEIGHT);
  return Number.isFinite(h) && h > 0 ? h : 20;
}

/** Whether the node draws the widget now (LiteGraph's own rule where the node has it). */
function shown(node, widget) {
  if (typeof node?.isWidgetVisible === "function") return node.isWidgetVisible(widget);
  return !(node?.collapsed || widget.hidden || (widget.advanced && !node?.showAdvanced));
}

/** 1.27: a hidden or advanced widget takes no room while it is not drawn, and its usual row when it is
 *  (after "Show Advanced"). The widget stays in node.widgets, so its value is saved and loaded in place.
 *  DOM widgets (computeLayoutSize) are left alone. Returns whether the widget was folded. */
export function foldWidget(node, widget) {
  if (!widget || typeof widget.computeLayoutSize === "function" || widget.__runcomfyFolded) return false;
  const own = typeof widget.computeSize === "function" ? widget.computeSize : null;
  widget.computeSize = function (width) {
    if (!shown(node, this)) return [0, -4];
    if (own) return own.call(this, width);
    return [width ?? node?.size?.[0] ?? 0, widgetRowHeight()];
  };
  widget.__runcomfyFolded = true;
  return true;
}

/** Sets the node's height to what its drawn widgets need (width kept). 1.27's "Hide Advanced" and a
 *  fresh node (sized before the flags were set) only ever grow. */
export function fitNodeHeight(node) {
  if (!node || typeof node.computeSize !== "function" || !node.size) return false;
  let want;
  try {
    want = node.computeSize();
  } catch {
    return false;
  }
  const height = Number(want?.[1]);
  if (!Number.isFinite(height) || Math.abs(height - Number(node.size[1])) < 0.5) return false;
  if (typeof node.setSize === "function") node.setSize([node.size[0], height]);
  else node.size[1] = height;
  return true;
}

/** The input options on the classic canvas of every supported frontend: 1.27 applies none of them (labels:
 *  applyLabels); 1.49 and 1.58 set widget.hidden but fold an 'advanced' input only on Vue nodes
 *  (their canvas reads widget.advanced, which they leave unset). So hidden widgets are never drawn and
 *  advanced ones wait behind the node menu's own "Show Advanced", each taking no row while folded (1.27 and
 *  1.49 lay out every non-hidden widget; 1.58 every advanced one). Called on a fresh node (a loaded one
 *  then gets its saved values and size in configure()). Returns how many widgets were folded. */
export function applyInputOptions(node, nodeData, version) {
  applyLabels(node, nodeData);
  const inputs = { ...(nodeData?.input?.required || {}), ...(nodeData?.input?.optional || {}) };
  let folded = 0;
  for (const w of node?.widgets || []) {
    const spec = inputs[w?.name];
    const opts = Array.isArray(spec) ? spec[1] || {} : {};
    const hidden = opts.hidden === true || w.options?.hidden === true;
    const advanced = opts.advanced === true || w.options?.advanced === true;
    if (!hidden && !advanced) continue;
    for (const one of [w, ...(w.linkedWidgets || [])]) {
      if (hidden && !one.hidden) one.hidden = true;
      if (advanced) one.advanced = true;     // 1.58: a setter that marks the canvas surface advanced too
      if (foldWidget(node, one)) folded++;
    }
  }
  if (folded && typeof node.toggleAdvanced === "function" && !node.__runcomfyToggle) {
    // "Hide Advanced" gives the room back (the frontend's own toggle only grows the node).
    const toggle = node.toggleAdvanced;
    node.toggleAdvanced = function () {
      const r = toggle.apply(this, arguments);
      if (!this.showAdvanced && !globalThis.LiteGraph?.vueNodesMode) fitNodeHeight(this);
      return r;
    };
    node.__runcomfyToggle = true;
  }
  if (folded && !globalThis.LiteGraph?.vueNodesMode) fitNodeHeight(node);
  return folded;
}

/** Whether `text` is a label the frontend gave by itself: none, the input's name, or the frontend's own
 *  translation of it (1.27 sets widget.label = translation-or-name on every widget). Anything else was set
 *  by the user (Rename Slot / Rename Widget, saved in the workflow as the socket's label) and stays. */
export function isDefaultLabel(text, name, translation) {
  return text === undefined || text === null || text === "" || text === name || (!!translation && text === translation);
}

/** The label to show instead of `current`, or null to leave it: a frontend-default label becomes the
 *  frontend's own translation where it has a real one (what 1.49/1.58 show: a locale of the pack wins
 *  over display_name), else the schema's title (display_name). Never a user's label. */
export function packLabel(current, { name, translation, displayName }) {
  if (typeof displayName !== "string" || !displayName) return null;
  if (!isDefaultLabel(current, name, translation)) return null;
  const want = typeof translation === "string" && translation && translation !== name ? translation : displayName;
  return current === want ? null : want;
}

function inputSpecs(nodeData) {
  return { ...(nodeData?.input?.required || {}), ...(nodeData?.input?.optional || {}) };
}

function displayNameOf(spec) {
  const label = Array.isArray(spec) ? spec[1]?.display_name : undefined;
  return typeof label === "string" && label ? label : undefined;
}

/** Labels from the input options' display_name, by what the node holds, not by version: every widget
 *  whose label is a frontend default (1.27: its name) gets the schema's title (a multiline text's
 *  placeholder too, where it is the name: the textarea's only label on the canvas); every socket
 *  without a user's label shows it through localized_name, the text the frontend shows when the user
 *  gave none (1.27, and a socket 1.49 restored from a save without a label). Only labels change: names,
 *  order and values (what saved workflows and prompts hold) stay. localized_name is not a label, so
 *  nothing new is saved as the user's, and configure() keeps the definition's localized_name on load.
 *  Called on a fresh node and again after configure() (saved socket entries replace the fresh ones).
 *  Returns how many labels changed. Text only: never markup. */
export function applyLabels(node, nodeData) {
  const specs = inputSpecs(nodeData);
  const sockets = new Map((node?.inputs || []).filter((i) => i?.widget?.name).map((i) => [i.widget.name, i]));
  let n = 0;
  for (const w of node?.widgets || []) {
    const displayName = displayNameOf(specs[w?.name]);
    if (!displayName) continue;
    const want = packLabel(w.label, { name: w.name, translation: sockets.get(w.name)?.localized_name, displayName });
    if (want !== null) {
      w.label = want;
      n++;
    }
    const el = w.inputEl ?? w.element;
    if (el && typeof el.placeholder === "string" && el.placeholder === w.name && w.label && w.label !== w.name) {
      el.placeholder = String(w.label);
    }
  }
  for (const input of node?.inputs || []) {
    if (!input) continue;
    const displayName = displayNameOf(specs[input.name]);
    if (!displayName) continue;
    if (input.label) {
      // A saved label equal to the name or the frontend's translation is not the user's: shown as the rest.
      if (!isDefaultLabel(input.label, input.name, input.localized_name)) continue;
      if (packLabel(input.label, { name: input.name, translation: input.localized_name, displayName }) === null) continue;
      input.label = undefined;
      n++;
    }
    const shown = input.localized_name;
    const want = packLabel(shown, { name: input.name, translation: shown, displayName });
    if (want !== null) {
      input.localized_name = want;
      n++;
    }
  }
  return n;
}
