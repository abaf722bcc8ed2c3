// web/lib/migrate.js (issue 19.5): values saved under the pack's old setting ids reach the new ids once.
import { test } from "node:test";
import assert from "node:assert/strict";
import { RENAMED_SETTINGS, migrateSettings } from "../../web/lib/migrate.js";

test("old values are copied to the new ids; a value already under a new id wins; the old token id is never read", async () => {
  const written = new Map();
  const stored = {
    "RunComfy.Display.ShowPrice": false,
    "RunComfy.Spending.ConfirmAboveUSD": 0.5,
    "RunComfyModelAPI.Spending.ConfirmAboveUSD": 2,
    "RunComfy.Account.APIToken": "their-pack's-value",
  };
  const done = await migrateSettings(stored, async (id, v) => written.set(id, v));
  assert.deepEqual(done, ["RunComfyModelAPI.Display.ShowPrice"]);
  assert.deepEqual([...written], [["RunComfyModelAPI.Display.ShowPrice", false]]);
  assert.ok(!RENAMED_SETTINGS.some(([old]) => old === "RunComfy.Account.APIToken"));
  assert.ok(RENAMED_SETTINGS.every(([, now]) => now.startsWith("RunComfyModelAPI.")));
  assert.deepEqual(await migrateSettings({ ...stored, "RunComfyModelAPI.Display.ShowPrice": false }, async () => { throw new Error("no write"); }), []);
  assert.deepEqual(await migrateSettings(null, async () => {}), []);
});
