// Module hooks for tests: ComfyUI's "../../scripts/app.js" and "../../scripts/api.js" shims
// resolve to the fakes next to this file.
const FAKES = {
  "scripts/app.js": new URL("./app.js", import.meta.url).href,
  "scripts/api.js": new URL("./api.js", import.meta.url).href,
};

export async function resolve(specifier, context, next) {
  for (const [tail, url] of Object.entries(FAKES)) {
    if (specifier.endsWith("/" + tail)) return { url, shortCircuit: true };
  }
  return next(specifier, context);
}
