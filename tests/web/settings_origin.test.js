// Unit tests of web/lib/settings_origin.js and web/lib/network.js (run: node --test tests/web/).
import { test } from "node:test";
import assert from "node:assert/strict";

import { PUBLIC_ORIGIN_ENV, publicOriginAdvice } from "../../web/lib/settings_origin.js";
import { networkStatusLines, proxyActionResult } from "../../web/lib/network.js";

const REFUSED = { ok: false, error: "RunComfy refused this request: ...", reason: "host",
  public_origin_env: "RUNCOMFY_PUBLIC_ORIGIN", public_origin_set: false, fix: "public_origin" };

test("a refused write gets the exact line, composed from the page's own origin", () => {
  const a = publicOriginAdvice(403, REFUSED, "https://abc-comfyui.example.test");
  assert.equal(a.line, "RUNCOMFY_PUBLIC_ORIGIN=https://abc-comfyui.example.test");
  assert.equal(a.set, false);
  assert.match(a.lines.join(" "), /restart ComfyUI/);
  const port = publicOriginAdvice(403, REFUSED, "http://abc-comfyui.example.test:8443");
  assert.equal(port.line, "RUNCOMFY_PUBLIC_ORIGIN=http://abc-comfyui.example.test:8443");
  const v6 = publicOriginAdvice(403, REFUSED, "http://[::1]:8188");
  assert.equal(v6.line, "RUNCOMFY_PUBLIC_ORIGIN=http://[::1]:8188");
});

test("set to another value: says so and that several can be listed with commas", () => {
  const a = publicOriginAdvice(403, { ...REFUSED, public_origin_set: true }, "https://abc-comfyui.example.test");
  assert.equal(a.set, true);
  assert.equal(a.line, "RUNCOMFY_PUBLIC_ORIGIN=https://abc-comfyui.example.test");
  const text = a.lines.join(" ");
  assert.match(text, /is set on the ComfyUI server, but not to this page's address/);
  assert.match(text, /separated by commas/);
  assert.match(text, /RUNCOMFY_PUBLIC_ORIGIN=https:\/\/other\.example,https:\/\/abc-comfyui\.example\.test/);
});

test("no advice for other answers; the server's body never chooses the origin", () => {
  assert.equal(publicOriginAdvice(200, { ok: true }, "https://a.example"), null);
  assert.equal(publicOriginAdvice(403, { ...REFUSED, fix: undefined, reason: "missing_header" }, "https://a.example"), null);
  assert.equal(publicOriginAdvice(400, REFUSED, "https://a.example"), null);
  assert.equal(publicOriginAdvice(403, "forbidden", "https://a.example"), null);
  // A body naming another origin or a strange variable name changes nothing in the line.
  const odd = publicOriginAdvice(403, { ...REFUSED, origin: "https://evil.example", public_origin_env: "X=1;rm" },
    "https://a.example");
  assert.equal(odd.line, `${PUBLIC_ORIGIN_ENV}=https://a.example`);
  // A page without a web address (sandboxed frame, file:) gets no line to copy.
  for (const origin of ["null", "file://", undefined, "https://a.example/path", "javascript:alert(1)"]) {
    const a = publicOriginAdvice(403, REFUSED, origin);
    assert.equal(a.line, null, String(origin));
  }
});

test("network status lines: proxy and its source, masked as the server sent it, CA bundle, errors", () => {
  const saved = networkStatusLines({ saved_proxy: "http://<user>:<password>@127.0.0.1:3128", env: "RUNCOMFY_PROXY",
    proxy: { used: true, shown: "http://<user>:<password>@127.0.0.1:3128", source: "saved setting" },
    ca_bundle: { source: "default", path: null } });
  assert.deepEqual(saved.map((l) => l.text), ["Proxy: http://<user>:<password>@127.0.0.1:3128 (saved here)"]);
  const env = networkStatusLines({ saved_proxy: null, proxy: { used: true, shown: "http://p:9", source: "HTTPS_PROXY" },
    ca_bundle: { source: "SSL_CERT_FILE", path: "/etc/corp.pem" } });
  assert.deepEqual(env.map((l) => l.text), ["Proxy: http://p:9 (from HTTPS_PROXY)", "CA bundle: /etc/corp.pem (from SSL_CERT_FILE)"]);
  const direct = networkStatusLines({ saved_proxy: "direct", proxy: { used: false, shown: null, source: "saved setting" } });
  assert.match(direct[0].text, /saved here as "direct"/);
  const none = networkStatusLines({ saved_proxy: null, proxy: { used: false, shown: null, source: null } });
  assert.deepEqual(none.map((l) => l.text), ["Proxy: none (direct connection)"]);
  const broken = networkStatusLines({ saved_proxy: null, proxy: { used: false, shown: null, source: null },
    error: "REQUESTS_CA_BUNDLE is set to '/x.pem', which does not exist" });
  assert.equal(broken.at(-1).ok, false);
  assert.match(broken.at(-1).text, /does not exist/);
  assert.equal(networkStatusLines(null)[0].ok, false);
});

test("proxy Save/Clear answers: the server's error text, or what now applies", () => {
  assert.deepEqual(proxyActionResult("save", 400, { ok: false, error: "SOCKS proxies are not supported. It was not saved." }),
    { ok: false, message: "SOCKS proxies are not supported. It was not saved." });
  assert.equal(proxyActionResult("save", 200, { ok: true, saved_proxy: "direct" }).message,
    "Saved: RunComfy is reached without a proxy.");
  assert.match(proxyActionResult("save", 200, { ok: true, saved_proxy: "http://h:1" }).message, /Proxy saved/);
  assert.match(proxyActionResult("clear", 200, { ok: true }).message, /environment/);
  assert.equal(proxyActionResult("save", 403, REFUSED).ok, false);
});

test("setting texts carry no vue-i18n syntax: frontend 1.27 drops a setting whose text it cannot compile", async () => {
  // Seen in a real browser: 1.27.10 ran the Proxy tooltip ("user:password@") through vue-i18n, which
  // read '@' as a linked message ("unhandled node type: 7"), and the whole Proxy row was missing.
  const { readFileSync, readdirSync } = await import("node:fs");
  const root = new URL("../../locales/", import.meta.url);
  const texts = [];
  const walk = (x, where) => {
    if (typeof x === "string") texts.push([where, x]);
    else if (x && typeof x === "object") for (const [k, v] of Object.entries(x)) walk(v, `${where}.${k}`);
  };
  for (const lang of readdirSync(root)) {
    walk(JSON.parse(readFileSync(new URL(`${lang}/settings.json`, root), "utf8")), `${lang}/settings`);
    walk(JSON.parse(readFileSync(new URL(`${lang}/main.json`, root), "utf8")).settingsCategories, `${lang}/categories`);
  }
  assert.ok(texts.length > 8);
  assert.deepEqual(texts.filter(([, t]) => /[@{}|]/.test(t)), []);
});

test("the settings' own texts in web/runcomfy.js carry no vue-i18n syntax either (the fallback of every locale)", async () => {
  // Frontends compile the registered name/tooltip as the default message when a locale has no
  // text for it (t(key, default)); the same '@', '{', '}' or '|' would drop the row there.
  const { readFileSync } = await import("node:fs");
  const js = readFileSync(new URL("../../web/runcomfy.js", import.meta.url), "utf8");
  const start = js.indexOf("\n  settings: [");
  const end = js.indexOf("\n  ],", start);
  assert.ok(start > 0 && end > start, "the settings list of web/runcomfy.js");
  const block = js.slice(start, end);
  assert.match(block, /tooltip:/);
  const literals = [...block.matchAll(/"((?:[^"\\]|\\.)*)"|`((?:[^`\\]|\\.)*)`/g)].map((m) => m[1] ?? m[2]);
  assert.ok(literals.length > 20, `${literals.length} string literals`);
  assert.deepEqual(literals.filter((t) => /[@{}|]/.test(t)), []);
});
