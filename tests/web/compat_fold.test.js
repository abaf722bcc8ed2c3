// Folding the rarely used pack controls on frontend 1.27 (web/lib/compat.js): a node that lays its
// widgets out with 1.27's rules (#arrangeWidgets gives EVERY widget a row: its computeSize height + 4,
// or NODE_WIDGET_HEIGHT + 4; computeSize counts only the widgets it draws). The real frontend is
// checked by tests/test_browser_sockets.py.
import { test } from "node:test";
import assert from "node:assert/strict";

import { applyInputOptions, fitNodeHeight, foldWidget } from "../../web/lib/compat.js";

const ROW = 20;

function node127(names, { showAdvanced = false } = {}) {
  const node = {
    size: [400, 0],
    showAdvanced,
    widgets: names.map((name) => ({ name, value: `${name}-value`, options: {} })),
    isWidgetVisible(w) {
      return !(this.collapsed || w.hidden || (w.advanced && !this.showAdvanced));
    },
    computeSize() {
      let h = 30;
      for (const w of this.widgets) if (this.isWidgetVisible(w)) h += (w.computeSize ? w.computeSize(this.size[0])[1] : ROW) + 4;
      return [this.size[0], h + 8];
    },
    arrange() {
      let y = 30;
      for (const w of this.widgets) {
        w.y = y;
        w.computedHeight = (w.computeSize ? w.computeSize()[1] : ROW) + 4;
        y += w.computedHeight;
      }
    },
    setSize(s) {
      this.size = [...s];
    },
    toggleAdvanced() {
      this.showAdvanced = !this.showAdvanced;
      const s = this.computeSize();
      this.setSize([this.size[0], Math.max(this.size[1], s[1])]); // 1.27: expandToFitContent, grows only
    },
    serialize() {
      return { widgets_values: this.widgets.map((w) => w.value) };
    },
  };
  node.size[1] = node.computeSize()[1];
  return node;
}

const DEF = {
  input: {
    required: { prompt: ["STRING", {}] },
    optional: {
      upload_format: ["COMBO", { hidden: true, advanced: true }],
      fit_inputs_to_limits: ["BOOLEAN", { hidden: true, display_name: "Fit inputs to limits" }],
      variations: ["INT", { display_name: "Variations" }],
      timeout_seconds: ["INT", { advanced: true }],
      resume_request_id: ["STRING", {}],
      submit_anyway: ["STRING", { advanced: true }],
    },
  },
};
const NAMES = ["prompt", "upload_format", "fit_inputs_to_limits", "variations", "timeout_seconds", "resume_request_id",
  "submit_anyway"];
globalThis.LiteGraph = { NODE_WIDGET_HEIGHT: ROW };

test("1.27: hidden and advanced widgets take no row, the others sit one after the other", () => {
  const node = node127(NAMES);
  const before = node.size[1];
  assert.equal(applyInputOptions(node, DEF, "1.27.10"), 4);
  node.arrange();
  const rows = node.widgets.map((w) => [w.name, w.y, w.computedHeight]);
  assert.deepEqual(rows, [
    ["prompt", 30, 24], ["upload_format", 54, 0], ["fit_inputs_to_limits", 54, 0], ["variations", 54, 24],
    ["timeout_seconds", 78, 0], ["resume_request_id", 78, 24], ["submit_anyway", 102, 0],
  ]);
  assert.equal(node.size[1], before - 4 * 24, "the fresh node gives the folded rows back");
  assert.equal(node.widgets[3].label, "Variations");
  // Folded, not removed: every value is saved in its place.
  assert.deepEqual(node.serialize().widgets_values, NAMES.map((n) => `${n}-value`));
});

test("1.27: 'Show Advanced' unfolds the advanced ones (not the hidden ones), 'Hide Advanced' gives the room back", () => {
  const node = node127(NAMES);
  applyInputOptions(node, DEF, "1.27.10");
  const folded = node.size[1];
  node.toggleAdvanced();
  node.arrange();
  assert.deepEqual(node.widgets.filter((w) => w.computedHeight > 0).map((w) => w.name),
    ["prompt", "variations", "timeout_seconds", "resume_request_id", "submit_anyway"]);
  assert.equal(node.size[1], folded + 2 * 24);
  node.toggleAdvanced();
  assert.equal(node.showAdvanced, false);
  assert.equal(node.size[1], folded);
});

test("1.49 and 1.58 canvases: folded the same way (they fold 'advanced' on Vue nodes only)", () => {
  for (const version of ["1.49.6", "1.58.1"]) {
    const node = node127(NAMES);
    assert.equal(applyInputOptions(node, DEF, version), 4);
    assert.deepEqual(node.widgets.filter((w) => !node.isWidgetVisible(w)).map((w) => w.name),
      ["upload_format", "fit_inputs_to_limits", "timeout_seconds", "submit_anyway"]);
  }
});

test("Vue nodes lay themselves out: the node's size is not changed there", () => {
  globalThis.LiteGraph.vueNodesMode = true;
  try {
    const node = node127(NAMES);
    const before = node.size[1];
    assert.equal(applyInputOptions(node, DEF, "1.58.1"), 4);
    assert.equal(node.size[1], before);
  } finally {
    delete globalThis.LiteGraph.vueNodesMode;
  }
});

test("a widget's own computeSize is kept while it is drawn; DOM widgets are left alone", () => {
  const node = node127(["a", "b"]);
  node.widgets[0].computeSize = () => [10, 50];
  node.widgets[0].advanced = true;
  assert.equal(foldWidget(node, node.widgets[0]), true);
  assert.equal(foldWidget(node, node.widgets[0]), false, "once");
  assert.deepEqual(node.widgets[0].computeSize(), [0, -4]);
  node.showAdvanced = true;
  assert.deepEqual(node.widgets[0].computeSize(), [10, 50]);
  const dom = { name: "panel", computeLayoutSize: () => ({ minHeight: 40 }) };
  assert.equal(foldWidget(node, dom), false);
  assert.equal(dom.computeSize, undefined);
});

test("fitNodeHeight sets the height its drawn widgets need and keeps the width", () => {
  const node = node127(["a", "b", "c"]);
  node.size = [333, 500];
  assert.equal(fitNodeHeight(node), true);
  assert.deepEqual(node.size, [333, node.computeSize()[1]]);
  assert.equal(fitNodeHeight(node), false);
  assert.equal(fitNodeHeight({}), false);
});
