"""Opt-in real-browser check of issue 19.4: ComfyUI reached through a real reverse proxy (nginx,
TLS, websockets passed through, ``proxy_set_header Host $host`` as hosting guides write it) on
loopback under another host name, ``abc-comfyui.example.test``, which Chromium resolves to
127.0.0.1 (``--host-resolver-rules``); the proxy's self-signed certificate is accepted with
``--ignore-certificate-errors``.

What a user of a hosted ComfyUI sees: the price badge on a RunComfy node (classic canvas; on Vue
nodes the panel's price line) and the token status, with no setting; Save of a token refused, and
the settings page drawing the exact line ``RUNCOMFY_PUBLIC_ORIGIN=https://abc-comfyui.example.test:<port>``,
composed from its own ``location.origin`` (checked visible: inside the viewport, on top, in a
screenshot), with a Copy button that copies it; the Proxy row shows the same line. Then the line is
proven exact: with the variable set to another address the page says so (and that several can be
listed comma-separated); with that address plus the shown value, comma-separated, Save goes through,
and the Proxy row saves, shows the proxy masked and refuses a SOCKS proxy with a text.

Skipped unless COMFYUI_DIR names a ComfyUI checkout (see tests/test_browser.py for the commands
per frontend), playwright is importable and nginx is installed (``apt-get install -y nginx``).
``RUNCOMFY_SCREENSHOTS=<dir>`` keeps the screenshots.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from comfyui_harness import _free_port, _wait_until, NEEDS_COMFYUI
from test_browser import (CHROMIUM, LOAD_TIMEOUT_MS, NODE_CLASS, PRICE_TEXT, Page, _load_example, _price_shown,
                          _set_renderer, sync_playwright)

PUBLIC_NAME = "abc-comfyui.example.test"
NGINX = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)
OTHER_ORIGIN = "https://other-comfyui.example.test"

pytestmark = NEEDS_COMFYUI + [
    pytest.mark.skipif(sync_playwright is None, reason="the playwright package is not installed"),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM}"),
    pytest.mark.skipif(NGINX is None, reason="nginx is not installed (apt-get install -y nginx)"),
]

NGINX_CONF = """
daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
    server {{
        listen 127.0.0.1:{public_port} ssl;
        server_name {name};
        ssl_certificate {d}/cert.pem;
        ssl_certificate_key {d}/key.pem;
        client_max_body_size 100m;
        location / {{
            proxy_pass http://127.0.0.1:{backend_port};
            proxy_http_version 1.1;
            proxy_set_header Host $host;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Host $host;
            proxy_read_timeout 300s;
        }}
    }}
}}
"""


@contextlib.contextmanager
def reverse_proxy(folder: Path, public_port: int, backend_port: int):
    """nginx in the foreground (one process, this user) serving https://PUBLIC_NAME:public_port."""
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "cert.pem").exists():
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-keyout", "key.pem", "-out", "cert.pem", "-days", "2", "-subj", f"/CN={PUBLIC_NAME}",
                        "-addext", f"subjectAltName=DNS:{PUBLIC_NAME}"],
                       cwd=folder, check=True, capture_output=True, timeout=60)
    (folder / "nginx.conf").write_text(NGINX_CONF.format(d=folder, name=PUBLIC_NAME, public_port=public_port,
                                                         backend_port=backend_port))
    import socket

    def port_taken():
        with socket.socket() as s:
            s.settimeout(0.5)
            return s.connect_ex(("127.0.0.1", public_port)) == 0
    # One proxy at a time on the public port: a second nginx would fail to bind while the first
    # kept answering, for the wrong ComfyUI.
    _wait_until(lambda: not port_taken(), 15, 0.1, f"port {public_port} to be free")
    proc = subprocess.Popen([NGINX, "-p", str(folder), "-c", str(folder / "nginx.conf")],
                            stdout=subprocess.DEVNULL, stderr=open(folder / "stderr.log", "ab"),
                            stdin=subprocess.DEVNULL, start_new_session=True)

    def listening():
        if proc.poll() is not None:
            raise AssertionError(f"nginx exited ({proc.returncode}): {(folder / 'stderr.log').read_text()[-2000:]}"
                                 f"{(folder / 'error.log').read_text()[-2000:] if (folder / 'error.log').exists() else ''}")
        return port_taken()

    def stop():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)        # fast stop: open websockets need not finish
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
    try:
        _wait_until(listening, 20, 0.1, "nginx to listen")
        yield SimpleNamespace(access_log=folder / "access.log", stop=stop)
    finally:
        stop()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Emulator, browser, the public origin; ``serve(public_origin_env)`` starts ComfyUI behind nginx."""
    from PIL import Image
    from browser_stack import browser_stack

    root = tmp_path_factory.mktemp("comfy_reverse_proxy")
    public_port = _free_port()
    public_origin = f"https://{PUBLIC_NAME}:{public_port}"

    def inputs(folder):
        Image.new("RGB", (512, 512), (200, 60, 40)).save(folder / "example.png")

    args = [f"--host-resolver-rules=MAP {PUBLIC_NAME} 127.0.0.1", "--ignore-certificate-errors"]
    with browser_stack(root, ready_classes=[NODE_CLASS], samples=False, processing_time=0.5, inputs=inputs,
                       comfyuis=0, browser_args=args) as st:

        @contextlib.contextmanager
        def serve(public_origin_env: str | None):
            extra = {"RUNCOMFY_PUBLIC_ORIGIN": public_origin_env} if public_origin_env else None
            with st["serve"](extra) as comfy, \
                    reverse_proxy(root / f"nginx-{comfy.base.name}", public_port, comfy.port) as rp:
                # The page's tab sees only the public address; the log stays the real ComfyUI's.
                yield SimpleNamespace(comfy=comfy, proxy=rp,
                                      front=SimpleNamespace(url=public_origin, log_tail=comfy.log_tail))

        yield SimpleNamespace(emu=st["emu"], token=st["token"], browser=st["browser"], public_origin=public_origin,
                              serve=serve)


@pytest.fixture(scope="module")
def unset(world):
    """ComfyUI behind the proxy with RUNCOMFY_PUBLIC_ORIGIN not set (what a new host looks like)."""
    with world.serve(None) as served:
        yield served


class _SlowLoadBrowser:
    """The browser as Page uses it, with a longer first load: frontend 1.27's bundle through TLS
    and the proxy took 36 s on a busy 2-core machine (Page.goto's default is 30 s)."""

    def __init__(self, browser):
        self.browser = browser

    def new_page(self, **kw):
        page = self.browser.new_page(**kw)
        page.set_default_navigation_timeout(LOAD_TIMEOUT_MS)
        return page


def _page(world, served, label: str) -> Page:
    page = Page({"comfy": served.front, "browser": _SlowLoadBrowser(world.browser)}, label)
    assert page.js("() => location.origin") == world.public_origin
    return page


def _open_settings(page: Page):
    page.js("async () => { await app.extensionManager.command.execute('Comfy.ShowSettingsDialog'); }")
    page.page.get_by_text("RunComfy Model API", exact=True).first.click(timeout=15_000)
    field = page.page.locator("input[aria-label='RunComfy API token']")
    field.wait_for(state="visible", timeout=15_000)
    return field


def _visible_on_screen(page: Page, selector: str) -> dict:
    """Where the element is drawn: inside the viewport, not covered (the topmost element at its
    centre is it or inside it), not transparent."""
    loc = page.page.locator(selector).first
    loc.wait_for(state="visible", timeout=15_000)
    loc.scroll_into_view_if_needed(timeout=5000)
    return page.js("""(sel) => { const e = document.querySelector(sel); const r = e.getBoundingClientRect();
        const cx = r.left + r.width / 2, cy = r.top + r.height / 2; const top = document.elementFromPoint(cx, cy);
        const s = getComputedStyle(e);
        return {left: r.left, top: r.top, right: r.right, bottom: r.bottom, width: r.width, height: r.height,
                vw: innerWidth, vh: innerHeight, onTop: !!top && (top === e || e.contains(top)),
                opacity: Number(s.opacity), visibility: s.visibility, text: e.innerText}; }""", selector)


def _assert_on_screen(box: dict, what: str) -> None:
    inside = (box["width"] > 0 and box["height"] > 0 and box["left"] >= 0 and box["top"] >= 0
              and box["right"] <= box["vw"] and box["bottom"] <= box["vh"])
    assert inside and box["onTop"] and box["opacity"] > 0 and box["visibility"] == "visible", (what, box)


def _proxied_calls(served, path: str) -> list[str]:
    text = served.proxy.access_log.read_text() if served.proxy.access_log.exists() else ""
    return [ln for ln in text.splitlines() if path in ln]


@pytest.mark.parametrize("renderer", ["canvas", "vue"])
def test_the_price_badge_shows_through_a_reverse_proxy_under_another_name(world, unset, renderer):
    vue = renderer == "vue"
    page = _page(world, unset, "proxied-" + renderer)
    try:
        if not _set_renderer(page, vue) and vue:
            pytest.skip(f"frontend {page.frontend} has no public Vue node renderer")
        _load_example(page, seed=secrets.randbelow(2**31))
        price = _price_shown(page, vue)
        assert PRICE_TEXT in price, price
        shot = page.shot("price")
        assert any(" 200 " in ln for ln in _proxied_calls(unset, "/api/runcomfy-model-api/price")), \
            "the price came through the reverse proxy"
        print(f"\nscreenshot: {shot}")
        assert page.pack_errors() == []
    finally:
        page.close()


def test_save_draws_the_exact_origin_line_and_that_line_lets_save_through(world, unset):
    token = world.token
    # 1. Not set: the read answers, the save is refused, the page draws the line.
    page = _page(world, unset, "proxied-settings")
    line = f"RUNCOMFY_PUBLIC_ORIGIN={world.public_origin}"
    try:
        page.page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=world.public_origin)
        field = _open_settings(page)
        status = page.page.locator("[data-runcomfy-token-status]")
        _wait_until(lambda: "from environment" in status.inner_text(), 20, what="the token status through the proxy")
        field.fill(token)
        page.page.get_by_role("button", name="Save", exact=True).first.click()
        advice = "[data-runcomfy-token-message] ~ [data-runcomfy-origin-advice] [data-runcomfy-origin-line]"
        page.page.locator(advice).wait_for(state="visible", timeout=20_000)
        box = _visible_on_screen(page, advice)
        shot = page.shot("refused-save")
        print(f"\nscreenshot: {shot}")
        _assert_on_screen(box, "the origin line")
        assert box["text"].strip() == line, box
        message = page.page.locator("[data-runcomfy-token-message]").inner_text()
        assert "refused" in message, message
        advice_text = page.page.locator("[data-runcomfy-token-message] ~ [data-runcomfy-origin-advice]").inner_text()
        assert "restart ComfyUI" in advice_text and "is set on the ComfyUI server" not in advice_text, advice_text
        assert not (unset.comfy.base / "runcomfy_config" / "credentials.json").exists()
        assert any(" 403 " in ln and "POST /api/runcomfy-model-api/token" in ln for ln in _proxied_calls(unset, "/api/runcomfy-model-api/token"))
        # Copy puts exactly the line on the clipboard.
        page.page.locator("[data-runcomfy-token-message] ~ [data-runcomfy-origin-advice]").get_by_role(
            "button", name="Copy", exact=True).click()
        page.wait_for("() => document.querySelector('[data-runcomfy-origin-copied]')?.innerText === 'Copied.'",
                      timeout_s=10, what="the copy confirmation")
        assert page.js("() => navigator.clipboard.readText()") == line
        # The Proxy row: its read is not public, so it shows the same line.
        proxy_advice = "[data-runcomfy-proxy-message] ~ [data-runcomfy-origin-advice] [data-runcomfy-origin-line]"
        page.page.locator(proxy_advice).wait_for(state="visible", timeout=20_000)
        assert page.page.locator(proxy_advice).inner_text().strip() == line
        assert "status unavailable" in page.page.locator("[data-runcomfy-proxy-status]").inner_text()
        page.shot("proxy-row-refused")
        # Also refused on purpose through this proxy: the Spending row's read of /runcomfy-model-api/limits
        # (not a public read: it shows what was spent).
        refused = r"status of 403 .*/api/runcomfy-model-api/(token|network|limits)\)$"
        assert page.pack_errors(allow=(refused,)) == []
    finally:
        page.close()
    shown_value = line.split("=", 1)[1]
    unset.proxy.stop()          # the same public address now leads to the next ComfyUIs

    # 2. Set to another address: still refused, and the page says it is set to another value.
    with world.serve(OTHER_ORIGIN) as other:
        page = _page(world, other, "proxied-other")
        try:
            field = _open_settings(page)
            field.fill(token)
            page.page.get_by_role("button", name="Save", exact=True).first.click()
            box = "[data-runcomfy-token-message] ~ [data-runcomfy-origin-advice]"
            page.page.locator(box + " [data-runcomfy-origin-line]").wait_for(state="visible", timeout=20_000)
            text = page.page.locator(box).inner_text()
            assert "is set on the ComfyUI server, but not to this page's address" in text, text
            assert "separated by commas" in text and f",{world.public_origin}" in text, text
            assert page.page.locator(box + " [data-runcomfy-origin-line]").inner_text().strip() == line
            _assert_on_screen(_visible_on_screen(page, box), "the 'set to another value' advice")
            print(f"\nscreenshot: {page.shot('refused-save-other-value')}")
            assert not (other.comfy.base / "runcomfy_config" / "credentials.json").exists()
        finally:
            page.close()

    # 3. The other address and the value the page showed, comma-separated: Save goes through.
    with world.serve(f"{OTHER_ORIGIN}, {shown_value}") as fixed:
        page = _page(world, fixed, "proxied-fixed")
        try:
            field = _open_settings(page)
            status = page.page.locator("[data-runcomfy-token-status]")
            field.fill(token)
            page.page.get_by_role("button", name="Save", exact=True).first.click()
            _wait_until(lambda: "Token: saved" in status.inner_text(), 30, what="Token: saved through the proxy")
            assert page.js("() => [...document.querySelectorAll('[data-runcomfy-origin-advice]')]"
                           ".every((e) => e.offsetParent === null)"), "no advice once the address is known"
            saved = json.loads((fixed.comfy.base / "runcomfy_config" / "credentials.json").read_text())
            assert token in json.dumps(saved)
            print(f"\nscreenshot: {page.shot('saved')}")

            # The Proxy row: a saved proxy is shown masked, a SOCKS one refused with a text.
            proxy_field = page.page.locator("input[aria-label='RunComfy proxy']")
            proxy_status = page.page.locator("[data-runcomfy-proxy-status]")
            proxy_message = page.page.locator("[data-runcomfy-proxy-message]")
            _wait_until(lambda: "Proxy: none" in proxy_status.inner_text(), 20, what="the proxy status")
            password = "pw-" + secrets.token_hex(6)
            proxy_field.fill(f"http://corp:{password}@127.0.0.1:3128")
            proxy_row = page.page.locator("[data-runcomfy-proxy-status]").locator("xpath=..")
            proxy_row.get_by_role("button", name="Save", exact=True).click()
            _wait_until(lambda: "Saved proxy: http://<user>:<password>@127.0.0.1:3128" in proxy_status.inner_text(),
                        20, what="the saved proxy, masked")
            assert password not in page.page.content()
            assert password in (fixed.comfy.base / "runcomfy_config" / "network.json").read_text()
            proxy_field.fill("socks5://127.0.0.1:1080")
            proxy_row.get_by_role("button", name="Save", exact=True).click()
            _wait_until(lambda: "SOCKS" in proxy_message.inner_text(), 20, what="the SOCKS refusal as text")
            _assert_on_screen(_visible_on_screen(page, "[data-runcomfy-proxy-message]"), "the proxy error")
            print(f"\nscreenshot: {page.shot('proxy-row')}")
            proxy_row.get_by_role("button", name="Clear", exact=True).click()
            _wait_until(lambda: "Saved proxy" not in proxy_status.inner_text()
                        and "removed" in proxy_message.inner_text(), 20, what="the proxy cleared")
            assert not (fixed.comfy.base / "runcomfy_config" / "network.json").exists()
            rejected = r"status of 400 .*/api/runcomfy-model-api/network"
            assert page.pack_errors(allow=(rejected,)) == []
        finally:
            page.close()
