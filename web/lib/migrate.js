// Settings this pack saved before it had ids of its own (issue 19.5). Until then its ids began
// with "RunComfy.", as RunComfy's own node pack's do (both registered "RunComfy.Account.APIToken";
// a frontend keeps the first and drops the other). Now every id begins with "RunComfyModelAPI.".
// A value the user chose under an old id is copied once to the new id, unless the new id already
// has one; the old entry is left alone (RunComfy's pack may read ids of that shape).
// Not carried over: "RunComfy.Account.APIToken" (RunComfy's own pack stores its token setting
// there; this pack's token lives on the server, never in a setting) and the rows that store nothing
// (catalog, proxy, limits).

export const RENAMED_SETTINGS = Object.freeze([
  ["RunComfy.Display.ShowPrice", "RunComfyModelAPI.Display.ShowPrice"],
  ["RunComfy.Display.ShowStatus", "RunComfyModelAPI.Display.ShowStatus"],
  ["RunComfy.Spending.ConfirmAboveUSD", "RunComfyModelAPI.Spending.ConfirmAboveUSD"],
]);

/** Copies saved values to the new ids. `stored` = every saved setting (api.getSettings(), read
 *  once: GET /settings), `set(id, value)` = the settings store's. Returns the ids written. */
export async function migrateSettings(stored, set) {
  const done = [];
  if (!stored || typeof stored !== "object") return done;
  for (const [old, now] of RENAMED_SETTINGS) {
    if (!Object.prototype.hasOwnProperty.call(stored, old)) continue;
    if (Object.prototype.hasOwnProperty.call(stored, now)) continue;
    const value = stored[old];
    if (value === undefined || value === null) continue;
    await set(now, value);
    done.push(now);
  }
  return done;
}
