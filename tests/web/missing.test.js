// web/lib/missing.js (issue 19.1): which nodes of a loaded workflow the pack looks up, how the
// server's answer retypes them, and the RunComfy message for those it could not find.
import { test } from "node:test";
import assert from "node:assert/strict";
import { retypeNodes, unknownRunComfyNodes, unresolvedLines, resolveMissingRunComfyNodes } from "../../web/lib/missing.js";

const wf = () => ({
  nodes: [
    { id: 1, type: "RunComfy_a_b_c", properties: { runcomfy_model_id: "a/b/c" }, widgets_values: [1] },
    { id: 2, type: "RunComfy_old_name", properties: {} },
    { id: 3, type: "KSampler" },
    { id: 4, type: "RunComfy_wan_known", properties: { runcomfy_model_id: "wan/known/x" } },
  ],
  definitions: { subgraphs: [{ nodes: [{ id: 9, type: "RunComfy_in_sub", properties: { runcomfy_model_id: "s/u/b" } }] }] },
});
const known = new Set(["KSampler", "RunComfy_wan_known"]);
const isRegistered = (t) => known.has(t);

test("only RunComfy nodes this page lacks are looked up, by id where they carry one", () => {
  const found = unknownRunComfyNodes(wf(), isRegistered);
  assert.deepEqual(found.modelIds.sort(), ["a/b/c", "s/u/b"]);
  assert.deepEqual(found.classNames, ["RunComfy_old_name"]);
  assert.deepEqual(found.nodes.map((n) => n.node.id).sort(), [1, 2, 9]);
});

test("a node takes this machine's class for its model id; values untouched", () => {
  const graph = wf();
  const found = unknownRunComfyNodes(graph, isRegistered);
  const classes = retypeNodes(found, { nodes: { "a/b/c": "RunComfy_a_b_c_1234abcd" }, by_class: { RunComfy_old_name: "RunComfy_old_name" } });
  assert.deepEqual(classes.sort(), ["RunComfy_a_b_c_1234abcd", "RunComfy_old_name"]);
  assert.equal(graph.nodes[0].type, "RunComfy_a_b_c_1234abcd");
  assert.deepEqual(graph.nodes[0].widgets_values, [1]);
  assert.equal(graph.definitions.subgraphs[0].nodes[0].type, "RunComfy_in_sub", "unresolved: left as saved");
});

test("unresolved models: the server's messages; no server: the model ids and what to check", () => {
  const found = unknownRunComfyNodes(wf(), isRegistered);
  assert.deepEqual(unresolvedLines(found, { unresolved: [{ message: "RunComfy model 'a/b/c' is not ..." }] }),
    ["RunComfy model 'a/b/c' is not ..."]);
  const lines = unresolvedLines(found, null, "the server answered HTTP 500");
  assert.match(lines[0], /'a\/b\/c'/);
  assert.match(lines[1], /keep their saved values/);
});

test("the hook never throws and registers what the server found before the graph is built", async () => {
  const registered = new Set(known);
  const graph = wf();
  const calls = [];
  const app = { registerNodeDef: async (name) => { registered.add(name); } };
  const api = { fetchApi: async (path) => ({ ok: true, json: async () => ({ [decodeURIComponent(path.split("/").pop())]: { name: "x" } }) }) };
  const call = async (path, options) => {
    calls.push([path, JSON.parse(options.body)]);
    return { status: 200, body: { nodes: { "a/b/c": "RunComfy_a_b_c", "s/u/b": "RunComfy_in_sub" }, by_class: {}, unresolved: [
      { class_name: "RunComfy_old_name", message: "RunComfy node 'RunComfy_old_name' is not on this ComfyUI" }] } };
  };
  const out = await resolveMissingRunComfyNodes(graph, { app, api, call, path: "/x/resolve", isRegistered: (t) => registered.has(t) });
  assert.equal(calls.length, 1);
  assert.deepEqual(calls[0][1].class_names, ["RunComfy_old_name"]);
  assert.deepEqual(out.resolved.sort(), ["RunComfy_a_b_c", "RunComfy_in_sub"]);
  assert.equal(out.lines.length, 1);
  const broken = await resolveMissingRunComfyNodes(wf(), { app, api, call: async () => { throw new Error("down"); }, path: "/x", isRegistered });
  assert.match(broken.lines[0], /could not look them up: down/);
});
