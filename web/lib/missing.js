// A workflow never loses a RunComfy node (issue 19.1). Before the frontend builds a loaded graph
// (opened, dropped, from a PNG or a template) it awaits every extension's
// beforeConfigureGraph(graphData, missingNodeTypes), and only afterwards lists the node types it
// does not know (frontends 1.27.10, 1.49.6, 1.58.1 alike). So here: the RunComfy nodes whose type
// this page does not know are looked up by the pack's server (by the model id the node carries,
// else by its class name), the server registers their classes, and the page registers their
// definitions (app.registerNodeDef, read from /object_info/<class>) before the graph is built: the
// workflow opens with its widget values and links, and no missing-node dialog.
// A model that cannot be found gets a RunComfy message naming it and the fix; its node is left to
// the frontend's placeholder, which keeps the saved values (saving again loses nothing).
// Service text reaches the page as textContent only.

export const MODEL_ID_PROPERTY = "runcomfy_model_id";
export const NODE_PREFIX = "RunComfy_";
export const RESOLVE_TIMEOUT_MS = 90_000;

function nodeLists(graphData) {
  const lists = [];
  if (Array.isArray(graphData?.nodes)) lists.push(graphData.nodes);
  for (const sub of graphData?.definitions?.subgraphs || []) {
    if (Array.isArray(sub?.nodes)) lists.push(sub.nodes);
  }
  return lists;
}

function savedModelId(node) {
  const id = node?.properties?.[MODEL_ID_PROPERTY];
  return typeof id === "string" && id ? id : null;
}

/** The nodes of a workflow (subgraphs included) that are RunComfy nodes this page has no type
 *  for: {nodes: [{node, type, modelId}], modelIds, classNames (types without an id)}. */
export function unknownRunComfyNodes(graphData, isRegistered) {
  const nodes = [];
  const modelIds = new Set();
  const classNames = new Set();
  for (const list of nodeLists(graphData)) {
    for (const node of list) {
      const type = typeof node?.type === "string" ? node.type : "";
      const modelId = savedModelId(node);
      if (!type || isRegistered(type)) continue;
      if (!type.startsWith(NODE_PREFIX) && !modelId) continue;
      nodes.push({ node, type, modelId });
      if (modelId) modelIds.add(modelId);
      else classNames.add(type);
    }
  }
  return { nodes, modelIds: [...modelIds], classNames: [...classNames] };
}

/** The class each found node gets on this page (which can differ from the saved one: class
 *  names are per machine where two model ids collide). Changes node.type in place. */
export function retypeNodes(found, answer) {
  const byId = answer?.nodes || {};
  const byClass = answer?.by_class || {};
  const classes = new Set();
  for (const { node, type, modelId } of found.nodes) {
    const cls = (modelId && byId[modelId]) || byClass[type];
    if (typeof cls !== "string" || !cls) continue;
    if (cls !== type) node.type = cls;
    classes.add(cls);
  }
  return [...classes];
}

/** The RunComfy message for what could not be found: one line per model, then the fix. */
export function unresolvedLines(found, answer, transportError = null) {
  if (transportError) {
    const ids = found.modelIds.length ? found.modelIds : found.classNames;
    return [
      `RunComfy model(s) ${ids.map((i) => `'${i}'`).join(", ")} are not on this ComfyUI, and the RunComfy pack `
        + `could not look them up: ${transportError}.`,
      "Fix: check that ComfyUI is running with the RunComfy Model API pack, then open the workflow again. "
        + "The nodes keep their saved values.",
    ];
  }
  const lines = [];
  for (const u of answer?.unresolved || []) {
    if (typeof u?.message === "string" && u.message) lines.push(u.message);
  }
  return lines;
}

/** Asks the pack's server; returns {answer, error}. `call(path, options)` -> {status, body}. */
export async function askServer(call, path, found) {
  const { status, body } = await call(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ model_ids: found.modelIds, class_names: found.classNames }),
  });
  if (status === 200 && body && typeof body === "object") return { answer: body, error: null };
  const said = body && typeof body === "object" && typeof body.error === "string" ? body.error : null;
  return { answer: null, error: said || (status ? `the server answered HTTP ${status}` : "the server did not answer") };
}

/** Node definitions for `classes` into the running page, before the graph is built. */
export async function registerDefinitions(app, api, classes, isRegistered) {
  const done = [];
  for (const cls of classes) {
    if (isRegistered(cls)) continue;
    const response = await api.fetchApi(`/object_info/${encodeURIComponent(cls)}`);
    if (!response.ok) continue;
    const defs = await response.json();
    const def = defs?.[cls];
    if (!def || typeof def !== "object") continue;
    await app.registerNodeDef(cls, def);
    done.push(cls);
  }
  if (done.length && app.vueAppReady && typeof app.updateVueAppNodeDefs === "function") {
    // The node library and search (1.49+: a store of every definition) learn them in the background.
    api.getNodeDefs?.().then((all) => app.updateVueAppNodeDefs(all)).catch(() => {});
  }
  return done;
}

// --- the message ------------------------------------------------------------------------------

let shown = null;

export function showUnresolved(lines) {
  if (typeof document === "undefined" || !lines.length) return null;
  shown?.remove?.();
  const box = document.createElement("div");
  box.dataset.runcomfyMissing = "1";
  box.setAttribute("role", "alertdialog");
  box.setAttribute("aria-label", "RunComfy: models not found");
  Object.assign(box.style, {
    position: "fixed", top: "64px", left: "50%", transform: "translateX(-50%)", zIndex: "100000",
    maxWidth: "min(720px, 92vw)", background: "var(--comfy-menu-bg, #202020)", color: "var(--fg-color, #ddd)",
    border: "1px solid var(--error-text, #ff8a80)", borderRadius: "8px", padding: "14px 16px",
    boxShadow: "0 8px 30px rgba(0,0,0,.5)", font: "13px sans-serif", lineHeight: "1.45",
  });
  const title = document.createElement("div");
  title.textContent = "RunComfy: some models of this workflow are not on this ComfyUI";
  Object.assign(title.style, { fontWeight: "bold", marginBottom: "8px" });
  box.append(title);
  for (const line of lines) {
    const p = document.createElement("div");
    p.textContent = line;
    p.style.marginBottom = "6px";
    box.append(p);
  }
  const keep = document.createElement("div");
  keep.textContent = "Their nodes keep the saved values: saving the workflow again loses nothing. "
    + "The frontend's \"missing custom node\" advice does not apply: this pack is installed.";
  keep.style.opacity = "0.8";
  box.append(keep);
  const close = document.createElement("button");
  close.type = "button";
  close.textContent = "Close";
  close.dataset.runcomfyMissingClose = "1";
  Object.assign(close.style, { marginTop: "8px", padding: "4px 12px", cursor: "pointer" });
  close.addEventListener("click", () => { box.remove(); if (shown === box) shown = null; });
  box.append(close);
  document.body.append(box);
  shown = box;
  return box;
}

// --- the hook ---------------------------------------------------------------------------------

/** beforeConfigureGraph: resolves, registers, retypes; never throws (a failure here must not stop
 *  the workflow from opening: the frontend's placeholders then keep the nodes' values). */
export async function resolveMissingRunComfyNodes(graphData, { app, api, call, path, isRegistered }) {
  let found;
  try {
    found = unknownRunComfyNodes(graphData, isRegistered);
    if (!found.nodes.length) return { resolved: [], lines: [] };
  } catch (err) {
    console.warn("[RunComfy] could not read the workflow's nodes", err);
    return { resolved: [], lines: [] };
  }
  let answer = null;
  let error = null;
  try {
    ({ answer, error } = await askServer(call, path, found));
  } catch (err) {
    error = String(err?.message || err);
  }
  let resolved = [];
  if (answer) {
    try {
      const classes = retypeNodes(found, answer);
      await registerDefinitions(app, api, classes, isRegistered);
      resolved = classes.filter((c) => isRegistered(c));
    } catch (err) {
      error = `the page could not add the nodes (${err?.message || err})`;
    }
  }
  const lines = unresolvedLines(found, answer, error);
  if (lines.length) showUnresolved(lines);
  return { resolved, lines };
}
