"""Opt-in real-browser check of the web extension: ComfyUI with only this pack, against the local
emulator, driven in headless Chromium by Playwright, in both renderers (classic LiteGraph canvas
and Vue nodes, setting ``Comfy.VueNodes.Enabled``).

Skipped unless ``COMFYUI_DIR`` names a ComfyUI checkout and the ``playwright`` package is
importable (it is not in requirements.txt: CI never runs this). The browser is the system's
Chromium (``RUNCOMFY_CHROMIUM``, default /usr/bin/chromium); ``playwright install`` is never needed.
``COMFYUI_FRONTEND_ROOT`` picks another frontend (``--front-end-root``). On this project's
machines (``.venv/bin/pip install playwright`` once; no ``playwright install``)::

    # core 0.3.64 + frontend 1.27.10 (canvas only: no public Vue renderer there)
    COMFYUI_DIR=/work/comfy/c064/ComfyUI COMFYUI_PYTHON=/work/comfy/c064/venv/bin/python \\
        .venv/bin/python -m pytest -q tests/test_browser.py
    # core 0.33.0 + its frontend 1.49.6
    COMFYUI_DIR=/work/comfy/c033/ComfyUI COMFYUI_PYTHON=/work/comfy/c033/venv/bin/python \\
        .venv/bin/python -m pytest -q tests/test_browser.py
    # core 0.33.0 + frontend 1.58.1
    COMFYUI_DIR=/work/comfy/c033/ComfyUI COMFYUI_PYTHON=/work/comfy/c033/venv/bin/python \\
    COMFYUI_FRONTEND_ROOT=/work/comfy/c033/frontend-1.58.1/comfyui_frontend_package/static \\
        .venv/bin/python -m pytest -q tests/test_browser.py

Add ``-k catalog_text`` for the hostile-catalog test alone.

What it checks, as a user would see it: the example workflow from the template loads; the node
shows its price (the badge the canvas draws, or the panel line on Vue nodes); while it runs the
node shows the live status (state, elapsed, request id); after it the last outcome (state, cost,
request id), and after a failed run the first line of the error; none of that goes into the
saved workflow; a token is saved and cleared through Settings › RunComfy Model API and never reaches the
browser; and no console error or uncaught exception comes from the pack's scripts.

Catalog text is data, never markup: the emulator's catalog also lists a hostile model whose display
name, description, enum values, enum default, field titles and tooltips carry
``<img src=x onerror=...>`` payloads (each sets a window flag, calls alert() and tries to delete the
saved token through the pack's route). The user searches for it, adds it, opens its combo menu,
hovers its tooltips, runs it and opens Settings › RunComfy Model API: no payload may run, on 1.27 included,
and the run sends the catalog's own enum value.
``RUNCOMFY_SCREENSHOTS=<dir>`` keeps the screenshots (docs/screenshots/ holds a few).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import tempfile
import time
from pathlib import Path

import pytest

from comfyui_harness import PACK_NAME, _wait_until, NEEDS_COMFYUI
from conftest import ROOT

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # the suite is opt-in
    sync_playwright = None

NODE_CLASS = "RunComfy_wan_ai_wan_2_6_image_to_image"
TEMPLATE = f"/api/workflow_templates/{PACK_NAME}/RunComfy Wan 2.6 - two pictures into one scene (image to image).json"
CHROMIUM = os.environ.get("RUNCOMFY_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PROCESSING_S = 6.0          # long enough to see the live status, short enough for a quick suite
LOAD_TIMEOUT_MS = 90_000
RUN_TIMEOUT_S = 60.0
PRICE_TEXT = "$0.03 / image"   # the emulator's price for the model, in the pack's money format

pytestmark = NEEDS_COMFYUI + [
    pytest.mark.skipif(sync_playwright is None, reason="the playwright package is not installed"),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM}"),
]


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    from PIL import Image
    from browser_stack import browser_stack

    def inputs(folder):
        # The template's LoadImage nodes use "example.png": give them a real one.
        Image.new("RGB", (512, 512), (200, 60, 40)).save(folder / "example.png")

    # Only the hostile model is added to the catalog (no sample catalog entries).
    with browser_stack(tmp_path_factory.mktemp("comfy_browser"), ready_classes=[NODE_CLASS, HOSTILE_CLASS],
                       entries=[hostile_entry()], samples=False, processing_time=PROCESSING_S,
                       inputs=inputs) as st:
        yield st


class Page:
    """One browser tab on ComfyUI that records every console message and uncaught error."""

    def __init__(self, stack, label: str):
        self.comfy = stack["comfy"]
        self.label = label
        self.page = stack["browser"].new_page(viewport={"width": 1400, "height": 900})
        self.messages: list[dict] = []
        self.page.on("console", lambda m: self.messages.append(
            {"type": m.type, "text": m.text, "url": (m.location or {}).get("url", "")}))
        self.page.on("pageerror", lambda e: self.messages.append(
            {"type": "pageerror", "text": f"{e}\n{getattr(e, 'stack', '') or ''}", "url": ""}))
        self.page.goto(self.comfy.url + "/")
        self.page.wait_for_function(
            "() => window.app && window.app.extensionManager && window.app.isGraphReady !== false"
            " && !!(window.app.rootGraphOrUndefined ?? window.app.graph)", timeout=LOAD_TIMEOUT_MS)
        self.frontend = self.page.evaluate("() => window.__COMFYUI_FRONTEND_VERSION__ || 'unknown'")
        # A first visit opens the template browser over the canvas: close it, and not again.
        self.js("async () => { try { await app.extensionManager.setting.set('Comfy.TutorialCompleted', true); }"
                " catch { /* older frontends: no such setting */ } }")
        for _ in range(2):
            self.page.keyboard.press("Escape")

    def js(self, code: str, arg=None):
        return self.page.evaluate(code, arg)

    def pack_errors(self, allow: tuple[str, ...] = ()) -> list[str]:
        """Console errors and uncaught exceptions that come from the pack's own scripts, or failed
        calls to its routes; `allow` = regexes of answers the test provoked on purpose."""
        out = []
        for m in self.messages:
            if m["type"] not in ("error", "pageerror"):
                continue
            # The pack's scripts, and failed calls to its routes (/api/runcomfy-model-api/...).
            ours = (PACK_NAME in m["url"] or "/runcomfy-model-api/" in m["url"] or PACK_NAME in m["text"]
                    or "[RunComfy]" in m["text"])
            line = f"{m['type']}: {m['text'][:500]} ({m['url']})"
            if ours and not any(re.search(a, line) for a in allow):
                out.append(line)
        return out

    def shot(self, name: str) -> Path:
        where = Path(os.environ.get("RUNCOMFY_SCREENSHOTS") or tempfile.gettempdir()) / "runcomfy-browser"
        where.mkdir(parents=True, exist_ok=True)
        path = where / f"{self.frontend}-{self.label}-{name}.png"
        self.page.screenshot(path=str(path))
        return path

    def wait_for(self, predicate_js: str, arg=None, timeout_s: float = RUN_TIMEOUT_S, what: str = ""):
        try:
            self.page.wait_for_function(predicate_js, arg=arg, timeout=timeout_s * 1000, polling=100)
        except Exception as exc:  # noqa: BLE001 - re-raised with what the page shows
            try:
                self.shot("failed")
            except Exception:  # noqa: BLE001 - the screenshot only helps
                pass
            raise AssertionError(f"{what or predicate_js} did not happen within {timeout_s:.0f}s on "
                                 f"{self.frontend}/{self.label}; panel: {self.panel_text()!r}\n"
                                 f"{self.comfy.log_tail(30)}") from exc

    def panel_text(self) -> str | None:
        return self.js("() => { const e = document.querySelector('[data-runcomfy-panel]');"
                       " return e ? e.innerText : null; }")

    def close(self):
        self.page.close()


# Frontend 1.27 has Vue nodes only as a hidden experiment (no DOM widgets there); the pack
# supports the Vue renderer from the 1.49 line on, the oldest tested frontend where it is public.
VUE_RENDERER_FROM = (1, 49)


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", text)[:3]) or (0,)


def _set_renderer(page: Page, vue: bool) -> bool:
    """Switch Comfy.VueNodes.Enabled; False when this frontend has no (public) Vue renderer."""
    if vue and _version(page.frontend) < VUE_RENDERER_FROM:
        return False
    has_vue = page.js("""async (vue) => {
        const store = app.extensionManager.setting;
        const known = (() => { try { return store.get('Comfy.VueNodes.Enabled') !== undefined; } catch { return false; } })();
        if (!known) return false;
        await store.set('Comfy.VueNodes.Enabled', vue);
        return true;
    }""", vue)
    return has_vue


def _load_example(page: Page, seed: int) -> None:
    page.js("""async ([url, cls, seed]) => {
        const wf = await (await fetch(url)).json();
        const node = wf.nodes.find((n) => n.type === cls);
        node.widgets_values[3] = seed;   // a new seed: ComfyUI's cache must not skip the node
        await app.loadGraphData(wf);
    }""", [TEMPLATE, NODE_CLASS, seed])
    page.wait_for(f"() => app.graph.findNodesByType('{NODE_CLASS}').length === 1", timeout_s=30,
                  what="the example workflow to load")


def _our_node_js(body: str) -> str:
    return f"() => {{ const node = app.graph.findNodesByType('{NODE_CLASS}')[0]; {body} }}"


def _price_shown(page: Page, vue: bool) -> str:
    """The price as the renderer shows it: the Vue panel line, or the canvas badge's text."""
    if vue:
        page.wait_for("(t) => [...document.querySelectorAll('[data-runcomfy-line=\"price\"]')]"
                      ".some((e) => e.offsetParent !== null && e.innerText.includes(t))", PRICE_TEXT,
                      timeout_s=30, what="the price line in the panel")
        return page.js("() => document.querySelector('[data-runcomfy-line=\"price\"]').innerText")
    badge_js = _our_node_js("return (node.badges || []).map((b) => typeof b === 'function' ? b() : b)"
                            ".map((b) => b && b.text).filter(Boolean).join(' | ');")
    page.wait_for(f"(t) => ({badge_js})().includes(t)", PRICE_TEXT, timeout_s=30, what="the price badge")
    return page.js(badge_js)


def _record_panel_texts(page: Page) -> None:
    """Every text the panel shows from now on (a MutationObserver: no polling race with a
    state that lasts less than a poll)."""
    page.js("""() => { window.__runcomfyTexts = [];
        const panel = document.querySelector('[data-runcomfy-panel]');
        new MutationObserver(() => window.__runcomfyTexts.push(panel.innerText))
            .observe(panel, {subtree: true, childList: true, characterData: true}); }""")


def _queue(page: Page) -> None:
    page.js("async () => { await app.queuePrompt(0, 1); }")


@pytest.mark.parametrize("renderer", ["canvas", "vue"])
def test_price_live_status_and_last_outcome(stack, renderer):
    vue = renderer == "vue"
    page = Page(stack, renderer)
    try:
        if not _set_renderer(page, vue) and vue:
            pytest.skip(f"frontend {page.frontend} has no Vue node renderer")
        _load_example(page, seed=secrets.randbelow(2**31))
        saved_before = page.js(_our_node_js("return JSON.stringify(node.serialize());"))

        price = _price_shown(page, vue)
        assert PRICE_TEXT in price, price
        panel = page.panel_text()
        assert panel is not None, "the panel (a DOM widget) is on the node"
        if not vue:
            assert "Price:" not in panel, "on the canvas the badge shows the price, not the panel"
        assert "RunComfy: not run yet" in panel, panel
        page.shot("before")

        _record_panel_texts(page)
        _queue(page)
        page.wait_for("() => window.__runcomfyTexts.some((t) => /RunComfy: (queued|running)[^\\n]* \\d+s/.test(t)"
                      " && /request [0-9a-f]{32}/.test(t))", what="state, elapsed time and request id while running")
        page.shot("running")
        running = next(t for t in page.js("() => window.__runcomfyTexts")
                       if re.search(r"RunComfy: (queued|running)[^\n]* \d+s", t) and re.search(r"request [0-9a-f]{32}", t))
        request_id = re.search(r"request ([0-9a-f]{32})", running).group(1)
        page.wait_for("() => (document.querySelector('[data-runcomfy-panel]')?.innerText || '').includes('RunComfy: done')",
                      what="the last outcome")
        done = page.panel_text()
        page.shot("done")
        # ComfyUI's own progress text (for clients without the extension) is not shown twice.
        assert page.js(_our_node_js("return (node.widgets || []).every((w) => w.name !== '$$node-text-preview');"))
        assert "cost $0.03" in done and f"request {request_id}" in done, done
        assert request_id in stack["emu"].jobs, "the request id shown is the emulator's"

        # Kept in memory only: the node serializes as before the run, without the status.
        saved_after = page.js(_our_node_js("return JSON.stringify(node.serialize());"))
        assert request_id not in saved_after and "RunComfy: done" not in saved_after
        before, after = json.loads(saved_before), json.loads(saved_after)
        assert len(after["widgets_values"]) == len(before["widgets_values"]), "no extra widget value is saved"
        workflow = page.js("() => JSON.stringify(app.graph.serialize())")
        assert request_id not in workflow

        # A failed run: the first line of RunComfy's error stays on the node.
        page.js(_our_node_js("const w = node.widgets.find((w) => w.name === 'resume_request_id');"
                             " w.value = 'ffffffffffffffffffffffffffffffff'; return true;"))
        _queue(page)
        page.wait_for("() => (document.querySelector('[data-runcomfy-panel]')?.innerText || '').includes('RunComfy: error')",
                      what="the error outcome")
        failed = page.panel_text()
        page.shot("error")
        lines = failed.splitlines()
        assert any(re.search(r"not found|expired|unknown", ln, re.I) for ln in lines), failed
        assert not any("Traceback" in ln for ln in lines)

        # The display setting hides the status (and keeps working after a renderer switch).
        page.js("async () => { await app.extensionManager.setting.set('RunComfyModelAPI.Display.ShowStatus', false); }")
        page.wait_for("() => !(document.querySelector('[data-runcomfy-panel]')?.innerText || '').includes('RunComfy:')",
                      timeout_s=10, what="the status to hide with the setting off")
        page.js("async () => { await app.extensionManager.setting.set('RunComfyModelAPI.Display.ShowStatus', true); }")
        page.js("async () => { await app.extensionManager.setting.set('RunComfyModelAPI.Display.ShowPrice', false); }")
        hidden = ("() => !document.querySelector('[data-runcomfy-line=\"price\"]')" if vue else
                  _our_node_js("return (node.badges || []).map((b) => typeof b === 'function' ? b() : b)"
                               ".every((b) => !b || !String(b.text || '').includes('$'));"))
        page.wait_for(hidden, timeout_s=10, what="the price to hide with its setting off")
        page.js("async () => { await app.extensionManager.setting.set('RunComfyModelAPI.Display.ShowPrice', true); }")
        _price_shown(page, vue)

        assert page.pack_errors() == []
    finally:
        page.close()


def _open_runcomfy_settings(page: Page):
    page.js("async () => { await app.extensionManager.command.execute('Comfy.ShowSettingsDialog'); }")
    page.page.get_by_text("RunComfy Model API", exact=True).first.click(timeout=15_000)
    field = page.page.locator("input[aria-label='RunComfy API token']")
    field.wait_for(state="visible", timeout=15_000)
    return field


def test_settings_save_and_clear_the_token(stack):
    page = Page(stack, "settings")
    token = stack["token"]
    comfy = stack["comfy"]
    try:
        field = _open_runcomfy_settings(page)
        status = page.page.locator("[data-runcomfy-token-status]")
        message = page.page.locator("[data-runcomfy-token-message]")
        _wait_until(lambda: "from environment" in status.inner_text(), 15, what="token status")
        # The token's own buttons: the proxy row below has a Save too.
        row = field.locator("xpath=ancestor::*[.//button[normalize-space()='Save']][1]")

        # Looks native: the controls take ComfyUI's palette colours, not the browser's defaults.
        style = page.js("""() => { const e = document.querySelector("input[aria-label='RunComfy API token']");
            const s = getComputedStyle(e); const probe = document.createElement('div');
            probe.style.background = 'var(--comfy-input-bg)'; document.body.append(probe);
            const want = getComputedStyle(probe).backgroundColor; probe.remove();
            return {bg: s.backgroundColor, want, border: s.borderTopColor}; }""")
        assert style["bg"] == style["want"] and style["bg"] not in ("rgb(255, 255, 255)", "rgba(0, 0, 0, 0)"), style
        page.shot("settings")

        field.fill("wrong-" + token)
        row.get_by_role("button", name="Save", exact=True).click()
        _wait_until(lambda: "rejected" in message.inner_text().lower() or "invalid" in message.inner_text().lower(),
                    20, what="the rejected-token message")
        assert not (comfy.base / "runcomfy_config" / "credentials.json").exists()

        field.fill(token)
        row.get_by_role("button", name="Save", exact=True).click()
        _wait_until(lambda: "Token: saved" in status.inner_text(), 20, what="Token: saved")
        assert field.input_value() == "", "the field is emptied once saved"
        saved = json.loads((comfy.base / "runcomfy_config" / "credentials.json").read_text())
        assert token in json.dumps(saved)

        # The browser never sees the token: not in what the page can read back, nor in settings.
        assert token not in comfy.get("/api/runcomfy-model-api/token").text
        assert token not in comfy.get("/api/settings").text
        assert token not in page.page.content()
        page.shot("settings-saved")

        row.get_by_role("button", name="Clear", exact=True).click()
        _wait_until(lambda: "from environment" in status.inner_text(), 20, what="the token to be cleared")
        assert "environment variable is still used" in message.inner_text()
        assert not (comfy.base / "runcomfy_config" / "credentials.json").exists() or \
            token not in (comfy.base / "runcomfy_config" / "credentials.json").read_text()
        # The one failed call is the wrong token's Save, answered 400 on purpose.
        rejected = r"status of 400 .*/api/runcomfy-model-api/token\)$"
        assert len([m for m in page.messages if re.search(rejected, f"{m['text']} ({m['url']})")]) <= 1
        assert page.pack_errors(allow=(rejected,)) == []
    finally:
        page.close()


LOCALES = ("en", "ko", "zh", "ja")


def _locale_texts(lang: str, input_name: str) -> tuple[str, str]:
    doc = json.loads((ROOT / "locales" / lang / "nodeDefs.json").read_text(encoding="utf-8"))
    item = doc[NODE_CLASS]["inputs"][input_name]
    return item["name"], item["tooltip"]


def _hover_widget(page: Page, vue: bool, widget_name: str, label: str) -> None:
    if vue:
        page.page.get_by_text(label, exact=True).first.hover(timeout=15_000)
        return
    x, y = page.js("""([cls, name]) => { const node = app.graph.findNodesByType(cls)[0];
        const w = node.widgets.find((w) => w.name === name);
        const c = app.canvas.ds.convertOffsetToCanvas([node.pos[0] + 40, node.pos[1] + w.last_y + 10]);
        const r = app.canvas.canvas.getBoundingClientRect();
        const dpr = window.devicePixelRatio || 1; return [r.left + c[0] / dpr, r.top + c[1] / dpr]; }""",
                   [NODE_CLASS, widget_name])
    page.page.mouse.move(x - 8, y)
    page.page.mouse.move(x, y)


def _hover_socket(page: Page, vue: bool, input_name: str, label: str) -> None:
    if vue:
        page.page.get_by_text(label, exact=True).first.hover(timeout=15_000)
        return
    x, y = page.js("""([cls, name]) => { const node = app.graph.findNodesByType(cls)[0];
        const i = node.inputs.findIndex((s) => s.name === name); const pos = node.getConnectionPos(true, i);
        const c = app.canvas.ds.convertOffsetToCanvas(pos); const r = app.canvas.canvas.getBoundingClientRect();
        const dpr = window.devicePixelRatio || 1; return [r.left + c[0] / dpr + 20, r.top + c[1] / dpr]; }""",
                   [NODE_CLASS, input_name])
    page.page.mouse.move(x - 8, y)
    page.page.mouse.move(x, y)


@pytest.mark.parametrize("renderer", ["canvas", "vue"])
def test_socket_and_widget_tooltips_in_every_locale(stack, renderer):
    """Translated socket and widget names keep their tooltips (1.49's Vue sockets look them up by the
    translated name; without the pack's aliases they say "Input: <name>")."""
    vue = renderer == "vue"
    page = Page(stack, "tooltips-" + renderer)
    try:
        if not _set_renderer(page, vue) and vue:
            pytest.skip(f"frontend {page.frontend} has no public Vue node renderer")
        for lang in LOCALES:
            label, tooltip = _locale_texts(lang, "image_3")
            page.js("async (lang) => { await app.extensionManager.setting.set('Comfy.Locale', lang); }", lang)
            # The frontend loads a language's messages lazily: reload the graph until the
            # socket carries the translated name.
            localized = f"() => app.graph.findNodesByType('{NODE_CLASS}')[0]?.inputs.find((s) => s.name === 'image_3')?.localized_name"
            for _ in range(20):
                _load_example(page, seed=1)
                if page.js(localized) == label:
                    break
                time.sleep(0.5)
            assert page.js(localized) == label, f"{lang}: socket image_3 is called {page.js(localized)!r}"
            page.page.keyboard.press("Escape")      # a first visit may open the template browser
            page.page.mouse.move(5, 450)
            time.sleep(0.3)
            _hover_socket(page, vue, "image_3", label)
            page.wait_for("(t) => document.body.innerText.includes(t)", tooltip, timeout_s=10,
                          what=f"the {lang} tooltip of {label!r}")
            assert f"Input: {label}" not in page.js("() => document.body.innerText")
            seed_label, seed_tooltip = _locale_texts(lang, "seed")
            page.page.mouse.move(5, 450)
            time.sleep(0.3)
            _hover_widget(page, vue, "seed", seed_label)
            page.wait_for("(t) => document.body.innerText.includes(t)", seed_tooltip, timeout_s=10,
                          what=f"the {lang} tooltip of the {seed_label!r} widget")
            if lang == "ko":
                page.shot("tooltip-ko")
        assert page.pack_errors() == []
    finally:
        page.js("async () => { await app.extensionManager.setting.set('Comfy.Locale', 'en'); }")
        page.close()


def test_settings_refresh_model_catalog_registers_new_nodes(stack):
    """Settings › RunComfy Model API › Catalog: the button reports what changed and, since the server
    registers new nodes without a restart, the open page can place the new node at once."""
    import copy
    from runcomfy.emulator.catalog import sample_entries
    newcomer = copy.deepcopy(next(d for d in sample_entries() if d["model_id"] == "emulator-samples/upscale"))
    newcomer.update(model_id="emulator-samples/upscale/browser", display_name="Emulator sample: Upscale (browser)")
    new_class = "RunComfy_emulator_samples_upscale_browser"
    page = Page(stack, "catalog")
    try:
        known = f"() => !!(window.LiteGraph?.registered_node_types || {{}})['{new_class}']"
        assert page.js(known) is False
        stack["emu"].serve_catalog([newcomer], replace=False)
        _open_runcomfy_settings(page)
        page.page.get_by_role("button", name="Refresh model catalog", exact=True).click()
        message = page.page.locator("[data-runcomfy-catalog-message]")
        _wait_until(lambda: "Model catalog refreshed" in message.inner_text() or "failed" in message.inner_text().lower(),
                    60, what="the catalog refresh report")
        text = message.inner_text()
        assert "emulator-samples/upscale/browser" in text and "added" in text, text
        assert "Restart" not in text, text
        page.shot("catalog")
        page.wait_for(known, timeout_s=30, what="the new node type in the page")
        created = page.js(f"() => {{ const n = LiteGraph.createNode('{new_class}'); return n ? n.type : null; }}")
        assert created == new_class
        assert page.pack_errors() == []
    finally:
        page.close()


# --- catalog text is data, never markup ---------------------------------------------------------

HOSTILE_ID = "hostile/xss-probe"
HOSTILE_CLASS = "RunComfy_hostile_xss_probe"
# What a payload does when it runs: marks the page, opens a dialog, deletes the saved token.
_SCRIPT = ("window.__xss=(window.__xss||[]).concat('%s');alert('xss %s');"
           "fetch('/api/runcomfy-model-api/token',{method:'DELETE',headers:{'X-RunComfy-Request':'1'}})")


def _payload(tag: str) -> str:
    return f'<img src=x onerror="{_SCRIPT % (tag, tag)}">'


def _shown(text: str) -> str:
    """How the pack shows catalog text: markup characters as look-alikes (nodes/safe_text.py)."""
    return text.replace("<", "\u2039").replace(">", "\u203a")


HOSTILE = {
    "name": "XSS probe " + _payload("name"),
    "description": "Probe description " + _payload("desc"),
    "enum": "16:9" + _payload("enum"),
    "default": "4:3" + _payload("default"),
    "title": "Ratio " + _payload("title"),
    "tooltip": "Ratio tip " + _payload("tooltip"),
    "prompt_title": "Prompt " + _payload("prompt-title"),
    # A short text default is a real default, sent as it is (a text box shows it as its value);
    # a long one is sample content, shown as the placeholder.
    "string_default": 'neg <img src=x onerror="window.__xss=[\'string-default\'];alert(1)">',
    "sample": "A sample prompt, long enough to be sample content rather than a default: " + _payload("sample"),
}


def hostile_entry() -> dict:
    """A catalog entry whose every shown text carries a script (the emulator's text-to-image sample)."""
    import copy
    from runcomfy.emulator.catalog import sample_entries
    doc = copy.deepcopy(next(d for d in sample_entries() if d["model_id"] == "emulator-samples/image-gen/text-to-image"))
    doc.update(model_id=HOSTILE_ID, display_name=HOSTILE["name"], description=HOSTILE["description"])
    props = doc["input_schema"]["properties"]
    props["aspect_ratio"].update(enum=["1:1", HOSTILE["enum"], HOSTILE["default"]], default=HOSTILE["default"],
                                 title=HOSTILE["title"], description=HOSTILE["tooltip"])
    props["prompt"].update(title=HOSTILE["prompt_title"], description="", default=HOSTILE["sample"])
    props["negative_prompt"]["default"] = HOSTILE["string_default"]
    return doc


def _hostile_js(body: str) -> str:
    return f"() => {{ const node = app.graph.findNodesByType('{HOSTILE_CLASS}')[0]; {body} }}"


def _canvas_xy(page: Page, offset_js: str) -> tuple[float, float]:
    """Page coordinates of a point given in graph coordinates relative to the hostile node."""
    return tuple(page.js(_hostile_js(f"""const p = {offset_js};
        const c = app.canvas.ds.convertOffsetToCanvas([node.pos[0] + p[0], node.pos[1] + p[1]]);
        const r = app.canvas.canvas.getBoundingClientRect(); const dpr = window.devicePixelRatio || 1;
        return [r.left + c[0] / dpr, r.top + c[1] / dpr];""")))


def _hover(page: Page, x: float, y: float) -> None:
    page.page.mouse.move(5, 450)
    time.sleep(0.3)
    page.page.mouse.move(x - 8, y)
    page.page.mouse.move(x, y)


def _shows(page: Page, text: str, what: str, timeout_s: float = 15) -> None:
    page.wait_for("(t) => document.body.innerText.includes(t)", text, timeout_s=timeout_s, what=what)


def _search(page: Page, query: str, expect: str, attempts: int = 3) -> None:
    """The node search box, opened as a user does (double click on the empty canvas), until it
    lists ``expect`` (a first double click can land before the canvas listens)."""
    for _ in range(attempts):
        page.page.keyboard.press("Escape")
        page.page.mouse.dblclick(900, 500)
        try:
            page.page.wait_for_function("() => document.activeElement?.tagName === 'INPUT'", timeout=5000)
            page.page.keyboard.type(query, delay=20)
            page.page.wait_for_function("(t) => document.body.innerText.includes(t)", arg=expect, timeout=10_000)
            return
        except Exception:  # noqa: BLE001 - tried again, then reported below
            continue
    page.shot("search-failed")
    raise AssertionError(f"the search box never listed {expect[:40]!r} on {page.frontend}/{page.label}")


def _token_status(comfy) -> dict:
    return comfy.get("/api/runcomfy-model-api/token").json()


@pytest.mark.parametrize("renderer", ["canvas", "vue"])
def test_catalog_text_runs_no_script_anywhere(stack, renderer):
    """Search box, node preview, combo menu, tooltips, panel, run and Settings with the hostile
    model: every payload is shown as text, none runs, the token stays, the real value is sent."""
    vue = renderer == "vue"
    comfy, emu = stack["comfy"], stack["emu"]
    page = Page(stack, "xss-" + renderer)
    dialogs: list[str] = []
    token_writes: list[str] = []
    page.page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.page.on("request", lambda r: token_writes.append(f"{r.method} {r.url}")
                 if "/runcomfy-model-api/token" in r.url and r.method != "GET" else None)

    def no_script(where: str) -> None:
        """Checked right after each surface showed the text, before how it looks is checked."""
        page.page.wait_for_timeout(700)     # an image's error event fires after its (failed) load
        ran = page.js("() => window.__xss || null")
        assert ran is None and dialogs == [] and token_writes == [], (
            f"catalog text ran as script in {where} on {page.frontend}/{renderer}: payloads {ran}, "
            f"dialogs {dialogs}, token requests {token_writes}")
    # A saved token: a payload that ran would delete it.
    saved = comfy.post("/api/runcomfy-model-api/token", json={"token": stack["token"]}, headers={"X-RunComfy-Request": "1"})
    assert saved.status_code == 200, saved.text
    before = _token_status(comfy)
    assert before.get("source") == "saved", before
    try:
        if not _set_renderer(page, vue) and vue:
            pytest.skip(f"frontend {page.frontend} has no public Vue node renderer")
        page.js("() => { app.graph.clear(); app.canvas.ds.offset = [0, 0]; app.canvas.ds.scale = 1;"
                " app.canvas.setDirty(true, true); }")

        # 1. The search box (1.27 rendered the display name as HTML here) and its node preview.
        _search(page, "XSS probe", "XSS probe")
        page.page.keyboard.press("ArrowDown")
        page.page.keyboard.press("ArrowUp")
        _shows(page, "Probe description", "the node preview")
        page.shot("search")
        no_script("the search box and its node preview")
        _shows(page, _shown(HOSTILE["name"]), "the display name, as text, in the search results")
        _shows(page, _shown(HOSTILE["description"]), "the description, as text, in the node preview")
        page.page.keyboard.press("Enter")
        page.wait_for(_hostile_js("return !!node;"), timeout_s=15, what="the node added from the search box")
        # 1.49 and later add it as a ghost that follows the mouse until a click places it.
        placed = _hostile_js("return !node.flags?.ghost && !document.querySelector('[inert]');")
        for _ in range(5):      # the ghost may appear only after the dialog's closing animation
            page.page.wait_for_timeout(500)
            page.page.mouse.move(600, 300)
            page.page.mouse.click(600, 300)
            page.page.wait_for_timeout(300)
            if page.js(placed):
                break
        page.wait_for(placed, timeout_s=5, what="the node to be placed")
        page.shot("added")
        page.js(_hostile_js("node.pos = [160, 160]; app.canvas.ds.offset = [0, 0]; app.canvas.setDirty(true, true);"))
        page.wait_for(_hostile_js("return node.properties && node.properties.runcomfy_model_id === '"
                                  + HOSTILE_ID + "';"), timeout_s=15, what="the model id on the node")
        default_label = page.js(_hostile_js("return node.widgets.find((w) => w.name === 'aspect_ratio').value;"))
        assert default_label == _shown(HOSTILE["default"]), default_label

        # 2. The combo menu (1.27 rendered enum values as HTML here): pick the hostile value.
        enum_label = _shown(HOSTILE["enum"])
        if vue:
            page.page.get_by_text(_shown(HOSTILE["default"])[:20]).first.click(timeout=15_000)
            option = page.page.get_by_role("option", name=re.compile("^16:9"))
            option.wait_for(state="visible", timeout=15_000)
            page.shot("combo")
            no_script("the combo menu")
            assert option.inner_text().strip() == enum_label, option.inner_text()
            option.click()
        else:
            x, y = _canvas_xy(page, "[Math.min(node.size[0] - 60, 500), node.widgets.find((w) => w.name === 'aspect_ratio').last_y + 10]")
            page.page.mouse.click(x, y)
            menu = page.page.locator(".litecontextmenu .litemenu-entry", has_text="16:9")
            menu.first.wait_for(state="visible", timeout=15_000)
            page.shot("combo")
            no_script("the combo menu")
            assert menu.first.inner_text().strip() == enum_label, menu.first.inner_text()
            menu.first.click()
        page.wait_for(_hostile_js("return node.widgets.find((w) => w.name === 'aspect_ratio').value === "
                                  + json.dumps(enum_label) + ";"), timeout_s=10, what="the picked combo entry")

        # 3. Tooltips: the widget's (field description), the node title's (model description).
        page.page.keyboard.press("Escape")
        if vue:
            # The widget's label: its name, or the field's title where the frontend shows labels.
            label = re.compile("^(aspect_ratio|" + re.escape(_shown(HOSTILE["title"])[:12]) + ")")
            page.page.get_by_text(label).first.hover(timeout=15_000)
        else:
            _hover(page, *_canvas_xy(page, "[30, node.widgets.find((w) => w.name === 'aspect_ratio').last_y + 10]"))
        _shows(page, "Ratio tip", "the widget tooltip")
        page.shot("tooltip")
        no_script("the widget tooltip")
        _shows(page, _shown(HOSTILE["tooltip"]), "the widget tooltip, as text")
        if vue:
            page.page.get_by_text(_shown(HOSTILE["name"])[:9], exact=False).first.hover(timeout=15_000)
        else:
            _hover(page, *_canvas_xy(page, "[60, -15]"))
        _shows(page, "Probe description", "the description tooltip on the title")
        page.shot("title-tooltip")
        no_script("the title's tooltip")
        _shows(page, _shown(HOSTILE["description"]), "the description tooltip, as text")

        # 4. A run: the panel shows the outcome; the service gets the catalog's own enum value.
        # A new seed: ComfyUI's cache must not skip the node (the other renderer ran it too).
        page.js(_hostile_js(f"node.widgets.find((w) => w.name === 'seed').value = {secrets.randbelow(2**31)}; return true;"))
        page.js(_hostile_js("""node.widgets.find((w) => w.name === 'prompt').value = 'a lighthouse';
            const preview = LiteGraph.createNode('PreviewImage'); preview.pos = [900, 160];
            app.graph.add(preview); node.connect(0, preview, 0); return true;"""))
        page.page.mouse.move(5, 450)
        jobs_before = set(emu.jobs)
        _queue(page)
        page.wait_for("() => (document.querySelector('[data-runcomfy-panel]')?.innerText || '').includes('RunComfy: done')",
                      what="the hostile model's run to finish")
        page.shot("done")
        no_script("the panel after a run")
        new_jobs = [emu.jobs[r] for r in set(emu.jobs) - jobs_before]
        assert len(new_jobs) == 1 and new_jobs[0].model_id == HOSTILE_ID, new_jobs
        payload = new_jobs[0].payload
        assert payload["aspect_ratio"] == HOSTILE["enum"], payload
        assert payload["negative_prompt"] == HOSTILE["string_default"], payload

        # 5. Settings › RunComfy Model API, the catalog refresh report.
        _open_runcomfy_settings(page)
        page.page.get_by_role("button", name="Refresh model catalog", exact=True).click()
        message = page.page.locator("[data-runcomfy-catalog-message]")
        _wait_until(lambda: "Model catalog refreshed" in message.inner_text() or "failed" in message.inner_text().lower(),
                    60, what="the catalog refresh report")
        page.shot("settings")
        page.page.keyboard.press("Escape")

        no_script("Settings")
        assert _token_status(comfy) == before, "the saved token is unchanged"
        assert page.pack_errors() == []
    finally:
        comfy.http.delete(comfy.url + "/api/runcomfy-model-api/token", headers={"X-RunComfy-Request": "1"}, timeout=15)
        page.close()
