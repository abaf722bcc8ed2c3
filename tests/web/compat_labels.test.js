// Labels from the schema's title (input option display_name) on every supported frontend (web/lib/compat.js
// applyLabels), decided by what the node holds, not by version. The fake nodes hold what each frontend
// sets, read from its sources (litegraphService.ts addInputWidget / addInputSocket, LGraphNode.configure):
//  - 1.27.10: widget.label = st(key, name) (the pack's translation, else the NAME); socket localized_name the
//    same; no socket label; display_name ignored; a multiline text's placeholder is the name.
//  - 1.49.6: widget.label = st(key, display_name); a socket's label ??= display_name, localized_name = st(key, name).
//  - 1.58.1: widget.label as 1.49; socket localized_name = translation ?? display_name, no label.
// A user's label (Rename Slot / Rename Widget, saved as the socket's label) is never replaced.
// The real frontends are checked by tests/test_browser_sockets.py -k labels.
import { test } from "node:test";
import assert from "node:assert/strict";

import { applyInputOptions, applyLabels, isDefaultLabel, packLabel } from "../../web/lib/compat.js";

const DEF = {
  input: {
    required: {
      prompt: ["STRING", { multiline: true, display_name: "Prompt" }],
      image_1: ["IMAGE", { display_name: "Reference image 1" }],
      magic_prompt: ["BOOLEAN", { display_name: "Magic prompt" }],
      seed: ["INT", { display_name: "Seed", control_after_generate: "fixed" }],
    },
    optional: {
      image_urls: ["STRING", { multiline: true, display_name: "Reference image URLs" }],
      image_2: ["IMAGE", { display_name: "Reference image 2" }],
      plain: ["INT", {}],
    },
  },
};
const WIDGETS = ["prompt", "magic_prompt", "seed", "image_urls", "plain"];
const SOCKETS = ["image_1", "image_2"];

/** A fresh node as `frontend` builds it; `tr` = the frontend's translations (the pack's locales). */
function fresh(frontend, tr = {}) {
  const spec = { ...DEF.input.required, ...DEF.input.optional };
  const st = (name, fallback) => tr[name] ?? fallback;
  const widgets = WIDGETS.map((name) => {
    const dn = spec[name][1].display_name;
    const w = { name, value: 0, options: {}, label: frontend === "1.27" ? st(name, name) : st(name, dn ?? name) };
    if (spec[name][1].multiline) w.element = { tagName: "TEXTAREA", placeholder: name };
    return w;
  });
  widgets.push({ name: frontend === "1.27" ? "fixed" : "control_after_generate", label: "control after generate", value: "fixed" });
  const inputs = SOCKETS.map((name) => {
    const dn = spec[name][1].display_name;
    if (frontend === "1.27") return { name, type: "IMAGE", localized_name: st(name, name) };
    if (frontend === "1.49") return { name, type: "IMAGE", localized_name: st(name, name), label: dn };
    return { name, type: "IMAGE", localized_name: st(name, dn ?? name) };
  });
  for (const name of WIDGETS) {
    const dn = spec[name][1].display_name;
    inputs.push({ name, type: "X", widget: { name }, localized_name: frontend === "1.58" ? st(name, dn ?? name) : st(name, name) });
  }
  return { widgets, inputs };
}

/** What the canvas / Vue node draws: widget.label || name (BaseWidget.displayName), slot label || localized_name || name. */
const drawn = (node) => ({
  widgets: Object.fromEntries(node.widgets.filter((w) => WIDGETS.includes(w.name)).map((w) => [w.name, w.label || w.name])),
  sockets: Object.fromEntries(node.inputs.filter((i) => !i.widget).map((i) => [i.name, i.label || i.localized_name || i.name])),
  placeholders: Object.fromEntries(node.widgets.filter((w) => w.element).map((w) => [w.name, w.element.placeholder])),
});

const TITLES = {
  widgets: { prompt: "Prompt", magic_prompt: "Magic prompt", seed: "Seed", image_urls: "Reference image URLs", plain: "plain" },
  sockets: { image_1: "Reference image 1", image_2: "Reference image 2" },
  placeholders: { prompt: "Prompt", image_urls: "Reference image URLs" },
};

test("the rule: a label is the frontend's when it is empty, the name or the frontend's translation", () => {
  assert.equal(isDefaultLabel(undefined, "image_urls"), true);
  assert.equal(isDefaultLabel("", "image_urls"), true);
  assert.equal(isDefaultLabel("image_urls", "image_urls"), true);
  assert.equal(isDefaultLabel("참조 이미지 URL", "image_urls", "참조 이미지 URL"), true);
  assert.equal(isDefaultLabel("My refs", "image_urls", "image_urls"), false);
  const dn = { name: "image_urls", translation: "image_urls", displayName: "Reference image URLs" };
  assert.equal(packLabel("image_urls", dn), "Reference image URLs");
  assert.equal(packLabel(undefined, dn), "Reference image URLs");
  assert.equal(packLabel("Reference image URLs", dn), null, "already shown: nothing to change");
  assert.equal(packLabel("My refs", dn), null, "the user's label stays");
  assert.equal(packLabel("참조 이미지 URL", { ...dn, translation: "참조 이미지 URL" }), null, "a translation wins, as on 1.49+");
  assert.equal(packLabel("image_urls", { ...dn, displayName: undefined }), null, "no title: the name stays");
  assert.equal(packLabel("image_urls", { ...dn, displayName: 5 }), null);
});

test("fresh nodes show the schema's titles on 1.27, 1.49 and 1.58 (1.27 labelled them with their names)", () => {
  for (const frontend of ["1.27", "1.49", "1.58"]) {
    const node = fresh(frontend);
    const before = drawn(node);
    const names = node.widgets.map((w) => w.name);
    applyInputOptions(node, DEF, `${frontend}.0`);
    assert.deepEqual(drawn(node), TITLES, frontend);
    assert.deepEqual(node.widgets.map((w) => w.name), names, "names and order stay");
    assert.deepEqual(node.inputs.map((i) => i.name), [...SOCKETS, ...WIDGETS]);
    assert.equal(node.inputs.some((i) => i.label && !SOCKETS.includes(i.name)), false, "no label added to a widget socket");
    if (frontend === "1.27") {
      assert.deepEqual(before.widgets.magic_prompt, "magic_prompt", "what 1.27 showed: the name");
      assert.equal(node.inputs[0].label, undefined, "a socket's text comes from localized_name, not a (saved) label");
    } else {
      assert.equal(applyLabels(node, DEF), 0, `${frontend} labelled them itself`);
    }
    assert.equal(node.widgets.at(-1).label, "control after generate", "the control widget has no title: untouched");
  }
});

test("the frontend's own translation (the pack's locales) wins over the title, as 1.49 and 1.58 do", () => {
  const ko = { magic_prompt: "매직 프롬프트", image_1: "참조 이미지 1" };
  for (const frontend of ["1.27", "1.49", "1.58"]) {
    const node = fresh(frontend, ko);
    applyInputOptions(node, DEF, `${frontend}.0`);
    const d = drawn(node);
    assert.equal(d.widgets.magic_prompt, "매직 프롬프트", frontend);
    assert.equal(d.widgets.seed, "Seed", frontend);
    if (frontend !== "1.49") assert.equal(d.sockets.image_1, "참조 이미지 1", frontend);   // 1.49 labels sockets with the title
  }
});

test("a user's labels stay; labels equal to the name or the translation are the frontend's", () => {
  for (const frontend of ["1.27", "1.49", "1.58"]) {
    const node = fresh(frontend);
    applyInputOptions(node, DEF, `${frontend}.0`);
    // A loaded node: configure() replaced the socket entries with the saved ones (localized_name kept from
    // the definition), 1.49+ copied a widget socket's saved label to its widget; then applyLabels runs again.
    const saved = { image_1: { label: "My face" }, image_2: { label: "image_2" }, magic_prompt: { label: "Enhance!" },
      image_urls: { label: "image_urls" } };
    for (const input of node.inputs) Object.assign(input, { label: undefined }, saved[input.name] || {});
    if (frontend !== "1.27") {
      for (const w of node.widgets) {
        const input = node.inputs.find((i) => i.widget?.name === w.name);
        if (input?.label) w.label = input.label;
      }
    }
    applyLabels(node, DEF);
    const d = drawn(node);
    assert.equal(d.sockets.image_1, "My face", frontend);
    assert.equal(d.sockets.image_2, "Reference image 2", `${frontend}: a saved label equal to the name is not the user's`);
    if (frontend !== "1.27") {
      assert.equal(d.widgets.magic_prompt, "Enhance!", frontend);
      assert.equal(d.widgets.image_urls, "Reference image URLs", frontend);
    }
    // A widget the user renamed on a fresh node (1.49+: Rename Widget) keeps it.
    node.widgets.find((w) => w.name === "seed").label = "My seed";
    applyLabels(node, DEF);
    assert.equal(drawn(node).widgets.seed, "My seed", frontend);
  }
});

test("a textarea's own placeholder (a sample prompt) stays; titles are text, never markup", () => {
  const def = { input: { required: { prompt: ["STRING", { multiline: true, display_name: "<b>Prompt</b> & co" }] } } };
  const el = { tagName: "TEXTAREA", placeholder: "A cat on a sofa", set innerHTML(v) { throw new Error("markup"); } };
  const node = { widgets: [{ name: "prompt", label: "prompt", element: el }], inputs: [{ name: "prompt", widget: { name: "prompt" }, localized_name: "prompt" }] };
  assert.equal(applyLabels(node, def), 2, "the widget's label and its socket's text");
  assert.equal(node.widgets[0].label, "<b>Prompt</b> & co");
  assert.equal(el.placeholder, "A cat on a sofa");
  assert.equal(applyLabels({}, def), 0);
  assert.equal(applyLabels({ widgets: [null], inputs: [null] }, null), 0);
});
