// The one table of tone colours (web/lib/tones.js) used by the panel, the history tab and the canvas.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { CANVAS_TONES, TONES } from "../../web/lib/tones.js";
import { stateTone } from "../../web/lib/format.js";
import { panelContent } from "../../web/lib/panel.js";

test("every tone a state or a panel line can have has a DOM and a canvas colour, the same colour", () => {
  const states = ["started", "waiting", "submitting", "in_queue", "running", "succeeded", "failed", "error", "cancelled", "whatever"];
  const lines = panelContent({ state: "failed", text: "boom", notes: ["n"], billed: true, fetchRequestId: "r1" }, { price: "$1", showPrice: true, priceInPanel: true }).lines;
  const tones = new Set([...states.map(stateTone), ...lines.map((l) => l.tone), "price", "warn", "detail"]);
  for (const tone of tones) {
    assert.match(CANVAS_TONES[tone], /^#[0-9a-f]{6}$/, tone);                 // the canvas cannot read var()
    assert.ok(TONES[tone] === CANVAS_TONES[tone] || TONES[tone].endsWith(`, ${CANVAS_TONES[tone]})`), tone);
  }
  assert.equal(TONES.error, "var(--error-text, #ff8a80)");
});

test("no other module keeps its own copy of the table", () => {
  for (const file of ["web/lib/panel.js", "web/lib/history.js", "web/runcomfy.js"]) {
    const src = readFileSync(new URL(`../../${file}`, import.meta.url), "utf8");
    assert.doesNotMatch(src, /const (CANVAS_)?TONES\s*=/, file);
    assert.match(src, /from "\.\/(lib\/)?tones\.js"/, file);
  }
});
