"""Opt-in real-browser check of issue 20's web side: the RunComfy sidebar tab (the dialog opened by
the command 'RunComfyModelAPI.History.Open' on every frontend), its actions, and the Run confirmation.
Two ComfyUI processes share one RUNCOMFY_CONFIG_DIR, against the emulator, driven in headless
Chromium by Playwright in both renderers (frontend 1.27: canvas only). Same variables and
commands as tests/test_browser.py, e.g.::

    COMFYUI_DIR=/work/comfy/c033/ComfyUI COMFYUI_PYTHON=/work/comfy/c033/venv/bin/python \\
    COMFYUI_FRONTEND_ROOT=/work/comfy/c033/frontend-1.58.1/comfyui_frontend_package/static \\
        .venv/bin/python -m pytest -q tests/test_browser_history.py

What it checks: a request made (headless /prompt) by ComfyUI A is listed in ComfyUI B's tab with
its model, state, reported cost and request id; "Fetch into new node" puts the request id into a
new node of the model's class and running it sends no new submit (the emulator counts); "Re-download"
sends none either and its file opens through /view; the Run confirmation of a graph with three
RunComfy nodes (variations, one request already run) shows the right total and list, and Cancel
queues nothing. ``RUNCOMFY_SCREENSHOTS=<dir>`` keeps the screenshots.
"""

from __future__ import annotations

import csv
import io
import json
import secrets
import uuid

import pytest

from comfyui_harness import _wait_until
from test_browser import Page, _set_renderer, pytestmark  # noqa: F401

MODEL = "emulator-samples/image-gen/text-to-image"      # $0.02 per output (the emulator's price)
CLASS = "RunComfy_emulator_samples_image_gen_text_to_image"
TAB = "runcomfy-model-api-history"
RUN_TIMEOUT_S = 60.0


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    from browser_stack import browser_stack
    from runcomfy.emulator.catalog import sample_entries

    shared = tmp_path_factory.mktemp("shared_config")
    with browser_stack(tmp_path_factory.mktemp("comfy_pair"), ready_classes=[CLASS], samples=False,
                       entries=[e for e in sample_entries() if e["model_id"] == MODEL], processing_time=0.4,
                       env={"RUNCOMFY_CONFIG_DIR": str(shared)}, comfyuis=2) as st:
        a, b = st["comfys"]
        assert b.get("/object_info/" + CLASS).status_code == 200
        yield {**st, "a": a, "b": b, "cls": CLASS}      # st["comfy"] is b, the last one started


def _defaults(comfy, cls: str) -> dict:
    info = comfy.get("/object_info/" + cls).json()[cls]["input"]
    out = {}
    for group in ("required", "optional"):
        for name, spec in info.get(group, {}).items():
            opts = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
            if "default" in opts:
                out[name] = opts["default"]
            elif isinstance(spec[0], list) and spec[0]:
                out[name] = spec[0][0]
    return out


def _api_prompt(comfy, cls: str, prompt: str, seed: int, variations: int = 1) -> dict:
    return {
        "1": {"class_type": cls, "inputs": {**_defaults(comfy, cls), "prompt": prompt, "seed": seed,
                                            "variations": variations, "num_images": 1}},
        "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}},
    }


def _run_headless(comfy, prompt: dict) -> dict:
    pid = comfy.queue(prompt, str(uuid.uuid4()))
    entry = comfy.wait_done(pid, RUN_TIMEOUT_S)
    assert entry["status"]["status_str"] == "success", comfy.log_tail(40)
    return entry


def _open_tab(page: Page) -> None:
    page.js("""(id) => {
        const st = app.extensionManager.sidebarTab;
        if (st?.activeSidebarTabId !== id) st.toggleSidebarTab(id);
    }""", TAB)
    page.wait_for("() => !!document.querySelector('[data-runcomfy-history] [data-runcomfy-history-list]')",
                  timeout_s=20, what="the RunComfy tab")


def _item(page: Page, rid: str) -> str:
    sel = f"[data-runcomfy-history] [data-runcomfy-item]"
    page.wait_for("([sel, rid]) => [...document.querySelectorAll(sel)].some((e) => e.innerText.includes(rid))",
                  [sel, rid], timeout_s=20, what=f"request {rid} in the tab")
    return page.js("([sel, rid]) => [...document.querySelectorAll(sel)].find((e) => e.innerText.includes(rid)).innerText",
                   [sel, rid])


def _click_action(page: Page, rid: str, action: str) -> None:
    page.js("""([rid, action]) => {
        const box = [...document.querySelectorAll('[data-runcomfy-history] [data-runcomfy-item]')]
            .find((e) => e.innerText.includes(rid));
        box.querySelector(`[data-runcomfy-action="${action}"]`).click();
    }""", [rid, action])


def _action_result(page: Page, rid: str) -> str:
    return page.js("""(rid) => [...document.querySelectorAll('[data-runcomfy-history] [data-runcomfy-item]')]
        .find((e) => e.innerText.includes(rid)).querySelector('[data-runcomfy-action-result]').innerText""", rid)


@pytest.mark.parametrize("renderer", ["canvas", "vue"])
def test_tab_lists_another_process_request_and_fetches_without_a_new_charge(pair, renderer):
    a, b, emu, cls = pair["a"], pair["b"], pair["emu"], pair["cls"]
    before_ids = set(emu.jobs)
    _run_headless(a, _api_prompt(a, cls, f"tab {renderer} {secrets.token_hex(4)}", secrets.randbelow(10**6)))
    [rid] = list(set(emu.jobs) - before_ids)

    page = Page(pair, "history-" + renderer)
    try:
        if not _set_renderer(page, renderer == "vue") and renderer == "vue":
            pytest.skip(f"frontend {page.frontend} has no Vue node renderer")
        _open_tab(page)
        text = _item(page, rid)
        assert "succeeded" in text and "$0.02 (reported)" in text and MODEL in text, text
        totals = page.js("() => document.querySelector('[data-runcomfy-totals]').innerText")
        assert "Today:" in totals and "reported" in totals and "estimated" in totals, totals
        page.shot("tab")

        # Fetch into a new node of the model's class; running it resumes: no new submit.
        submits = emu.submits_accepted
        page.js("() => app.graph.clear()")
        _click_action(page, rid, "fetch_new")
        page.wait_for("(rid) => /press Run to fetch/.test([...document.querySelectorAll('[data-runcomfy-item]')]"
                      ".find((e) => e.innerText.includes(rid)).querySelector('[data-runcomfy-action-result]').innerText)",
                      rid, timeout_s=20, what="the fetch into a new node")
        node = page.js(f"""() => {{ const n = app.graph.findNodesByType('{cls}')[0];
            return n && n.widgets.find((w) => w.name === 'resume_request_id').value; }}""")
        assert node == rid
        done_before = len(b.get("/history").json())
        page.js(f"""async () => {{ const n = app.graph.findNodesByType('{cls}')[0];
            const p = LiteGraph.createNode('PreviewImage'); app.graph.add(p); n.connect(0, p, 0);
            await app.queuePrompt(0, 1); }}""")
        _wait_until(lambda: not b.get("/queue").json()["queue_running"] and not b.get("/queue").json()["queue_pending"]
                    and len(b.get("/history").json()) > done_before,
                    RUN_TIMEOUT_S, what="the fetch run to finish")
        assert emu.submits_accepted == submits, "fetching into a node sent a new paid request"
        newest = [v for v in b.get("/history").json().values()][-1]
        assert newest["status"]["status_str"] == "success", newest["status"]
        assert page.js(f"""() => (app.graph.findNodesByType('{cls}')[0].__runcomfyStatus?.requestId)""") == rid

        # Re-download the result files into this ComfyUI's output: no submit; the file opens.
        _click_action(page, rid, "redownload")
        page.wait_for("(rid) => /Downloaded \\d+ file/.test([...document.querySelectorAll('[data-runcomfy-item]')]"
                      ".find((e) => e.innerText.includes(rid)).querySelector('[data-runcomfy-action-result]').innerText)",
                      rid, timeout_s=30, what="the re-download")
        assert emu.submits_accepted == submits
        href = page.js("""(rid) => [...document.querySelectorAll('[data-runcomfy-item]')].find((e) => e.innerText.includes(rid))
            .querySelector('[data-runcomfy-action-result] a')?.href""", rid)
        assert href and "/view?" in href
        assert page.js("async (u) => (await fetch(u)).status", href) == 200

        # The dialog (the fallback where no sidebar-tab API exists) lists the same request.
        page.js("async () => { await app.extensionManager.command.execute('RunComfyModelAPI.History.Open'); }")
        page.wait_for("(rid) => [...document.querySelectorAll('[data-runcomfy-history-dialog] [data-runcomfy-item]')]"
                      ".some((e) => e.innerText.includes(rid))", rid, timeout_s=20, what="the history dialog")
        page.shot("dialog")
        assert page.pack_errors() == []
    finally:
        page.close()


def test_run_confirmation_total_with_variations_and_a_reused_result(pair):
    a, b, emu, cls = pair["a"], pair["b"], pair["emu"], pair["cls"]
    page = Page(pair, "confirm")
    try:
        # Three RunComfy nodes, each feeding a preview; seeds fixed so a Run is the same request.
        page.js(f"""() => {{
            app.graph.clear();
            const mk = (prompt, seed, variations, nImages, x) => {{
                const n = LiteGraph.createNode('{cls}'); n.pos = [x, 80]; app.graph.add(n);
                const set = (name, v) => {{ const w = n.widgets.find((w) => w.name === name); if (w) w.value = v; }};
                set('prompt', prompt); set('seed', seed); set('variations', variations); set('num_images', nImages);
                for (const w of n.widgets) if (w.name === 'control_after_generate' || (w.options?.values || []).includes?.('fixed')
                    && ['fixed', 'increment', 'decrement', 'randomize'].includes(w.value)) w.value = 'fixed';
                const p = LiteGraph.createNode('PreviewImage'); p.pos = [x, 520]; app.graph.add(p); n.connect(0, p, 0);
                return [n.id, p.id];
            }};
            window.__ids = [mk('confirm one', 11, 1, 1, 40), mk('confirm two', 5, 3, 4, 460), mk('confirm three', 7, 1, 1, 880)];
        }}""")
        # Node one runs once first (threshold 0: no dialog), so one of its two variations is reused later.
        page.js("async () => { await app.extensionManager.setting.set('RunComfyModelAPI.Spending.ConfirmAboveUSD', 0); }")
        submits = emu.submits_accepted
        page.js("""async () => { const keep = new Set(window.__ids[0]);
            for (const n of [...app.graph._nodes]) if (!keep.has(n.id)) n.mode = 2;
            await app.queuePrompt(0, 1);
            for (const n of app.graph._nodes) n.mode = 0; }""")
        _wait_until(lambda: emu.submits_accepted == submits + 1 and not b.get("/queue").json()["queue_running"],
                    RUN_TIMEOUT_S, what="node one's first run")
        page.js("""() => { const n = app.graph.getNodeById(window.__ids[0][0]);
            n.widgets.find((w) => w.name === 'variations').value = 2; }""")
        page.js("async () => { await app.extensionManager.setting.set('RunComfyModelAPI.Spending.ConfirmAboveUSD', 0.25); }")
        submits = emu.submits_accepted

        # The Run button's own command (it calls app.queuePrompt on 1.27, 1.49 and 1.58).
        page.js("() => { window.__queued = app.extensionManager.command.execute('Comfy.QueuePrompt'); }")
        page.wait_for("() => !!document.querySelector('[data-runcomfy-confirm]')", timeout_s=20,
                      what="the Run confirmation")
        total = page.js("() => document.querySelector('[data-runcomfy-confirm-total]').innerText")
        lines = page.js("() => [...document.querySelectorAll('[data-runcomfy-confirm-list] li')].map((e) => e.innerText)")
        page.shot("run-confirmation")
        # one: 2 variations, 1 reused -> 1 x $0.02; two: 3 x 4 images x $0.02 = $0.24; three: $0.02.
        assert "Estimated total: $0.28" in total and "for 5 new request(s)" in total, total
        assert len(lines) == 3, lines
        assert any("1 new request(s), 1 reused" in ln and "$0.02" in ln for ln in lines), lines
        assert any("3 new request(s)" in ln and "$0.24" in ln for ln in lines), lines
        page.page.click("[data-runcomfy-confirm-cancel]")
        page.js("async () => { await window.__queued; }")
        assert b.get("/queue").json()["queue_pending"] == [] and emu.submits_accepted == submits
        # Below the threshold no dialog: queued straight away.
        page.js("async () => { await app.extensionManager.setting.set('RunComfyModelAPI.Spending.ConfirmAboveUSD', 5); }")
        page.js("async () => { await app.queuePrompt(0, 1); }")
        assert not page.js("() => !!document.querySelector('[data-runcomfy-confirm]')")
        _wait_until(lambda: emu.submits_accepted == submits + 5, RUN_TIMEOUT_S, what="the five new requests")
        assert page.pack_errors() == []
    finally:
        page.close()


def test_limits_in_settings_and_the_export_buttons(pair):
    from test_browser import _open_runcomfy_settings

    a, b, emu, cls = pair["a"], pair["b"], pair["emu"], pair["cls"]
    # A request of its own, so both exports have a line to show when this test runs alone (the
    # history is shared through RUNCOMFY_CONFIG_DIR; earlier tests' requests are not needed).
    before_ids = set(emu.jobs)
    _run_headless(a, _api_prompt(a, cls, f"export {secrets.token_hex(4)}", secrets.randbelow(10**6)))
    [rid] = list(set(emu.jobs) - before_ids)
    page = Page(pair, "limits")
    try:
        _open_runcomfy_settings(page)
        daily = page.page.locator("[data-runcomfy-limit-daily]")
        monthly = page.page.locator("[data-runcomfy-limit-monthly]")
        message = "() => document.querySelector('[data-runcomfy-limit-message]')?.innerText || ''"
        daily.fill("5")
        monthly.fill("")
        page.page.locator("[data-runcomfy-limit-save]").click()
        page.wait_for(f"() => /Saved/.test(({message})())", timeout_s=15, what="the limits to be saved")
        page.shot("settings-limits")
        lim = b.get("/runcomfy-model-api/limits").json()
        assert lim["daily_usd"] == 5 and lim["monthly_usd"] is None and lim["daily_source"] == "settings"
        assert "Today: $5.00" in page.js("() => document.querySelector('[data-runcomfy-limit-status]').innerText")
        daily.fill("five")
        page.page.locator("[data-runcomfy-limit-save]").click()
        page.wait_for(f"() => /Daily limit must be an amount/.test(({message})())", timeout_s=10, what="the refusal")
        daily.fill("")                                   # off again (the default)
        page.page.locator("[data-runcomfy-limit-save]").click()
        _wait_until(lambda: b.get("/runcomfy-model-api/limits").json()["daily_usd"] is None, 15, what="limit off")
        page.page.keyboard.press("Escape")

        _open_tab(page)
        _item(page, rid)
        exported = {}
        for label, first in (("Export CSV", "key,line,state,request_id"), ("Export JSON lines", "{")):
            with page.page.expect_download(timeout=20_000) as dl:
                page.page.locator("[data-runcomfy-history] button", has_text=label).first.click()
            text = open(dl.value.path(), encoding="utf-8").read()
            assert text.startswith(first), text[:200]
            exported[label] = text
        rows = list(csv.DictReader(io.StringIO(exported["Export CSV"])))
        assert [r["state"] for r in rows if r["request_id"] == rid] == ["done"], rows
        lines = [json.loads(line) for line in exported["Export JSON lines"].splitlines() if line.strip()]
        assert [(x["state"], x["model_id"]) for x in lines if x.get("request_id") == rid] == [("done", MODEL)], lines
        assert page.pack_errors() == []
    finally:
        page.close()


# --- every setting row of the pack, as drawn ----------------------------------------------------
# Seen on 1.27.10 before: the Proxy section showed its header and no row (its tooltip held
# 'user:password@', which that frontend's vue-i18n cannot compile: the whole row is dropped), and
# the Limits row sat below the fold of the settings panel. Every pack row is therefore scrolled to
# and checked as drawn: size, inside every clipping ancestor and the window, not covered at its
# centre (elementFromPoint), pixels in a screenshot of it, and its tooltip shown on hover.

_VISIBLE_JS = """(sel) => {
    const el = document.querySelector(sel);
    if (!el) return {ok: false, why: 'not in the page'};
    el.scrollIntoView({block: 'center', inline: 'nearest', behavior: 'instant'});
    const r = el.getBoundingClientRect();
    const rect = {left: r.left, top: r.top, width: r.width, height: r.height};
    if (r.width < 2 || r.height < 2) return {ok: false, why: `size ${r.width}x${r.height}`, rect};
    if (r.left < 0 || r.top < 0 || r.right > innerWidth || r.bottom > innerHeight)
        return {ok: false, why: 'outside the window', rect};
    for (let p = el; p; p = p.parentElement) {
        const s = getComputedStyle(p);
        if (s.display === 'none' || s.visibility === 'hidden' || Number(s.opacity) < 0.1)
            return {ok: false, why: `hidden by ${p.tagName} ${p.className}`, rect};
        if (p !== el && /hidden|auto|scroll|clip/.test(s.overflowX + ' ' + s.overflowY)) {
            const q = p.getBoundingClientRect();
            if (r.left < q.left - 1 || r.right > q.right + 1 || r.top < q.top - 1 || r.bottom > q.bottom + 1)
                return {ok: false, why: `clipped by ${p.tagName} ${p.className}`, rect};
        }
    }
    const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
    if (!hit || !(hit === el || el.contains(hit) || hit.contains(el)))
        return {ok: false, why: `covered by ${hit && (hit.tagName + ' ' + hit.className)}`, rect};
    return {ok: true, rect};
}"""


def _css_id(setting_id: str) -> str:
    return f'[id="{setting_id}"]'


def _assert_drawn(page: Page, sel: str, what: str, min_colors: int = 3) -> dict:
    """The element is on screen, uncovered, and its screenshot is not one flat colour."""
    from PIL import Image

    state = page.js(_VISIBLE_JS, sel)
    if not state["ok"]:
        page.shot("not-drawn")
    assert state["ok"], f"{what} ({sel}) is not visible on {page.frontend}: {state}"
    png = page.page.locator(sel).first.screenshot(timeout=15_000)
    colors = Image.open(io.BytesIO(png)).convert("RGB").getcolors(maxcolors=1 << 16) or []
    assert len(colors) >= min_colors, f"{what} ({sel}) draws {len(colors)} colour(s) on {page.frontend}"
    return state["rect"]


def _en_setting_texts() -> dict:
    from conftest import ROOT

    return json.loads((ROOT / "locales" / "en" / "settings.json").read_text(encoding="utf-8"))


def _tooltip_shown(page: Page, setting_id: str, text: str) -> None:
    """Hovers the row's (i) icon: the tooltip with the setting's text appears (the text compiled)."""
    icon = page.page.locator(f'[id="{setting_id}-label"] .pi-info-circle').first
    icon.scroll_into_view_if_needed(timeout=10_000)
    icon.hover(timeout=10_000)
    page.wait_for("""(t) => [...document.querySelectorAll('body *')].some((e) => !e.closest('[id$="-label"]')
            && [...e.childNodes].some((n) => n.nodeType === 3 && n.textContent.includes(t))
            && e.getBoundingClientRect().width > 0)""", text[:48], timeout_s=15, what=f"the tooltip of {setting_id}")
    page.page.mouse.move(2, 2)


def _limits_state(b) -> dict:
    return b.get("/runcomfy-model-api/limits").json()


def test_every_pack_setting_row_is_drawn_and_limits_and_proxy_set_there_reach_the_pack(pair):
    from test_browser import _open_runcomfy_settings
    from test_locales import extension_settings

    b = pair["b"]
    texts = _en_setting_texts()
    ids = [s["id"] for s in extension_settings()]
    page = Page(pair, "settings-rows")
    try:
        _open_runcomfy_settings(page)
        present = "(ids) => ids.filter((id) => document.getElementById(id) && document.getElementById(id + '-label'))"
        try:
            page.wait_for(f"(ids) => ({present})(ids).length === ids.length", ids, timeout_s=20,
                          what="every setting row of the pack")
        except AssertionError:
            pass                                         # named below
        missing = sorted(set(ids) - set(page.js(present, ids)))
        assert not missing, f"rows missing from Settings on {page.frontend}: {missing}"
        # The custom rows have asked the server (their status lines are filled in).
        page.wait_for("""() => /Today: |This month: /.test(document.querySelector('[data-runcomfy-limit-status]')?.innerText || '')
            && /^Proxy: (?!…)/.test(document.querySelector('[data-runcomfy-proxy-status]')?.innerText || '')""",
                      timeout_s=20, what="the Limits and Proxy rows to load")
        for sid in ids:
            key = sid.replace(".", "_")
            _assert_drawn(page, _css_id(sid + "-label"), f"the label of {sid}")
            _assert_drawn(page, _css_id(sid), f"the control of {sid}", min_colors=2)
            label = page.js("(id) => document.getElementById(id + '-label').innerText", sid)
            assert texts[key]["name"] in " ".join(label.split()), (sid, label)
            _tooltip_shown(page, sid, texts[key]["tooltip"])
        for sel, what in (("[data-runcomfy-limit-daily]", "the daily limit field"),
                          ("[data-runcomfy-limit-monthly]", "the monthly limit field"),
                          ("[data-runcomfy-limit-save]", "Save limits"),
                          ("input[aria-label='RunComfy proxy']", "the proxy field"),
                          (f"{_css_id('RunComfyModelAPI.Network.Proxy')} button", "the proxy's Save")):
            _assert_drawn(page, sel, what)

        # Limits typed as a user does (click, keys, Save): the pack keeps them on the server.
        daily = page.page.locator("[data-runcomfy-limit-daily]")
        monthly = page.page.locator("[data-runcomfy-limit-monthly]")
        daily.click()
        page.page.keyboard.press("Control+A")
        page.page.keyboard.type("7.5")
        monthly.click()
        page.page.keyboard.press("Control+A")
        page.page.keyboard.type("40")
        page.page.locator("[data-runcomfy-limit-save]").click()
        page.wait_for("() => /Saved/.test(document.querySelector('[data-runcomfy-limit-message]')?.innerText || '')",
                      timeout_s=15, what="the limits to be saved")
        lim = _limits_state(b)
        assert (lim["daily_usd"], lim["monthly_usd"], lim["daily_source"]) == (7.5, 40, "settings"), lim
        _assert_drawn(page, _css_id("RunComfyModelAPI.Spending.Limits"), "the Limits row after Save")
        page.js("() => document.querySelector('[id=\"RunComfyModelAPI.Spending.Limits\"]')"
                ".scrollIntoView({block: 'center', behavior: 'instant'})")
        page.shot("settings-limits")

        # Opened again: the row shows what the server keeps.
        page.js("() => document.activeElement?.blur()")
        page.page.keyboard.press("Escape")
        page.wait_for("() => !document.querySelector('[data-runcomfy-limit-daily]')", timeout_s=15,
                      what="the settings dialog to close")
        _open_runcomfy_settings(page)
        page.wait_for("() => document.querySelector('[data-runcomfy-limit-daily]')?.value === '7.5'"
                      " && document.querySelector('[data-runcomfy-limit-monthly]')?.value === '40'",
                      timeout_s=20, what="the saved limits shown again")
        status = page.js("() => document.querySelector('[data-runcomfy-limit-status]').innerText")
        assert "Today: $7.50" in status and "This month: $40.00" in status, status

        # A proxy with a password: kept on the server, the page never shows the password.
        secret = "pw-" + secrets.token_hex(6)
        field = page.page.locator("input[aria-label='RunComfy proxy']")
        field.click()
        page.page.keyboard.type(f"http://someone:{secret}@proxy.example.test:3128")
        page.page.locator(f"{_css_id('RunComfyModelAPI.Network.Proxy')} button", has_text="Save").click()
        page.wait_for("() => /Proxy saved/.test(document.querySelector('[data-runcomfy-proxy-message]')?.innerText || '')",
                      timeout_s=15, what="the proxy to be saved")
        net = b.get("/runcomfy-model-api/network").json()
        assert net["saved_proxy"] == "http://<user>:<password>@proxy.example.test:3128", net
        assert secret not in page.page.content()
        assert "proxy.example.test:3128" in page.js("() => document.querySelector('[data-runcomfy-proxy-status]').innerText")
        page.page.locator(f"{_css_id('RunComfyModelAPI.Network.Proxy')} button", has_text="Clear").click()
        _wait_until(lambda: b.get("/runcomfy-model-api/network").json()["saved_proxy"] is None, 15,
                    what="the proxy to be cleared")

        for loc in (daily, monthly):                     # limits off again (the default)
            loc.click()
            page.page.keyboard.press("Control+A")
            page.page.keyboard.press("Delete")
        page.page.locator("[data-runcomfy-limit-save]").click()
        _wait_until(lambda: _limits_state(b)["daily_usd"] is None and _limits_state(b)["monthly_usd"] is None,
                    15, what="the limits to be off")
        assert page.pack_errors() == []
    finally:
        page.close()
