"""A real ComfyUI started for opt-in tests: on the CPU, on a free loopback port, with a temporary
base directory whose ``custom_nodes`` holds only a copy of this pack, pointed at a local emulator.

``COMFYUI_DIR`` names the checkout (a directory with ``main.py``); ``COMFYUI_PYTHON`` its python
(default ``<COMFYUI_DIR>/../comfyui-venv/bin/python`` or ``<COMFYUI_DIR>/../venv/bin/python`` if
either exists, else this interpreter); ``COMFYUI_FRONTEND_ROOT`` optionally a frontend ``static``
folder for ``--front-end-root``. Nothing is written into the checkout. Every wait is bounded.
"""

from __future__ import annotations

import base64
import json
import contextlib
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest


ROOT = Path(__file__).resolve().parents[1]
PACK_NAME = "comfyui-runcomfy-model-api"       # the directory name a registry install would use
STARTUP_TIMEOUT = 120.0


def _comfyui_dir() -> Path | None:
    value = os.environ.get("COMFYUI_DIR", "").strip()
    if not value:
        return None
    path = Path(value).expanduser().resolve()
    return path if (path / "main.py").is_file() else None


def _comfyui_python(comfy_dir: Path) -> str:
    explicit = os.environ.get("COMFYUI_PYTHON", "").strip()
    if explicit:
        return explicit
    for name in ("comfyui-venv", "venv"):
        venv = comfy_dir.parent / name / "bin" / "python"
        if venv.exists():
            return str(venv)
    return sys.executable


COMFYUI_DIR = _comfyui_dir()



# --- small helpers ------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until(predicate, timeout: float, interval: float = 0.1, what: str = "condition"):
    end = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= end:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def _parse_size(text) -> tuple[int, int] | None:
    m = re.search(r"(\d+)\s*[*xX×]\s*(\d+)", str(text or ""))
    return (int(m.group(1)), int(m.group(2))) if m else None


class WSListener:
    """A minimal RFC 6455 client (stdlib only) that records ComfyUI's websocket events:
    JSON frames as dicts, and progress-text binary frames (event type 3) as
    ``{"type": "progress_text", "node": ..., "text": ...}``."""

    def __init__(self, host: str, port: int, client_id: str, timeout: float = 10.0):
        self.events: list[dict] = []
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self.error: str | None = None
        self.sock = socket.create_connection((host, port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET /ws?clientId={client_id} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                           "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                           f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("websocket handshake: connection closed")
            buf += chunk
        head, _, self._buf = buf.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101"):
            raise ConnectionError(f"websocket handshake refused: {head[:80]!r}")
        self.sock.settimeout(0.5)
        self._thread = threading.Thread(target=self._loop, name="ws-listener", daemon=True)
        self._thread.start()

    def _read(self, n: int) -> bytes:
        while len(self._buf) < n:
            if self._closed.is_set():
                raise ConnectionError("closed")
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                raise ConnectionError("connection closed by server")
            self._buf += chunk
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    def _send(self, opcode: int, payload: bytes = b"") -> None:
        mask = os.urandom(4)
        header = bytes([0x80 | opcode])
        n = len(payload)
        header += bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack(">H", n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def _loop(self) -> None:
        message, message_op = b"", 0
        try:
            while not self._closed.is_set():
                b0, b1 = self._read(2)
                opcode, n = b0 & 0x0F, b1 & 0x7F
                if n == 126:
                    n = struct.unpack(">H", self._read(2))[0]
                elif n == 127:
                    n = struct.unpack(">Q", self._read(8))[0]
                mask = self._read(4) if b1 & 0x80 else None
                payload = self._read(n)
                if mask:
                    payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
                if opcode == 8:
                    return
                if opcode == 9:
                    self._send(10, payload)
                    continue
                if opcode in (1, 2):
                    message, message_op = payload, opcode
                elif opcode == 0:
                    message += payload
                else:
                    continue
                if b0 & 0x80:
                    self._record(message_op, message)
        except Exception as exc:  # noqa: BLE001 - the listener only observes
            if not self._closed.is_set():
                self.error = repr(exc)

    def _record(self, opcode: int, payload: bytes) -> None:
        event = None
        if opcode == 1:
            try:
                event = json.loads(payload.decode("utf-8"))
            except ValueError:
                event = {"type": "unparsed", "raw": payload[:200]}
        elif len(payload) >= 8 and struct.unpack(">I", payload[:4])[0] == 3:
            n = struct.unpack(">I", payload[4:8])[0]
            event = {"type": "progress_text", "node": payload[8:8 + n].decode("utf-8", "replace"),
                     "text": payload[8 + n:].decode("utf-8", "replace")}
        if event is not None:
            with self._lock:
                self.events.append(event)

    def snapshot(self) -> list[dict]:
        with self._lock:
            return list(self.events)

    def types_for(self, prompt_id: str) -> list[str]:
        return [e.get("type") for e in self.snapshot()
                if isinstance(e.get("data"), dict) and e["data"].get("prompt_id") == prompt_id]

    def texts_for(self, node_id: str) -> list[str]:
        return [e["text"] for e in self.snapshot() if e.get("type") == "progress_text" and e["node"] == node_id]

    def close(self) -> None:
        self._closed.set()
        try:
            self._send(8, struct.pack(">H", 1000))
        except OSError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass
        self._thread.join(timeout=2)


# --- the ComfyUI + emulator fixture -------------------------------------------------------

class Comfy:
    def __init__(self, base: Path, port: int, proc: subprocess.Popen, log_path: Path, emu, token: str,
                 pack_dir: Path):
        self.base, self.port, self.proc, self.log_path = base, port, proc, log_path
        self.emu, self.token, self.pack_dir = emu, token, pack_dir
        self.url = f"http://127.0.0.1:{port}"
        import requests
        self.http = requests.Session()
        self.http.trust_env = False        # no proxy may see loopback traffic

    def get(self, path: str, **kw):
        return self.http.get(self.url + path, timeout=kw.pop("timeout", 15), **kw)

    def post(self, path: str, **kw):
        return self.http.post(self.url + path, timeout=kw.pop("timeout", 15), **kw)

    def stop(self) -> None:
        """End ComfyUI (SIGTERM, then kill)."""
        self.http.close()
        _stop(self.proc)
        lf = getattr(self, "_log_file", None)
        if lf is not None:
            lf.close()

    def kill(self) -> None:
        """kill -9, as a crash would."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def log(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def log_tail(self, n: int = 60) -> str:
        return "\n".join(self.log().splitlines()[-n:])

    def listen(self, client_id: str) -> WSListener | None:
        try:
            return WSListener("127.0.0.1", self.port, client_id)
        except (OSError, ConnectionError):
            return None

    def queue(self, prompt: dict, client_id: str, workflow: dict | None = None) -> str:
        body = {"prompt": prompt, "client_id": client_id}
        if workflow is not None:
            body["extra_data"] = {"extra_pnginfo": {"workflow": workflow}}
        r = self.post("/prompt", json=body)
        assert r.status_code == 200, f"/prompt refused the prompt: {r.status_code} {r.text[:2000]}"
        answer = r.json()
        assert not answer.get("node_errors"), answer
        return answer["prompt_id"]

    def history(self, prompt_id: str) -> dict | None:
        r = self.get(f"/history/{prompt_id}")
        if r.status_code != 200:
            return None
        entry = r.json().get(prompt_id)
        if entry and entry.get("status", {}).get("completed") is not None and (
                entry["status"].get("status_str") in ("success", "error")):
            return entry
        return None

    def wait_done(self, prompt_id: str, timeout: float) -> dict:
        def done():
            if self.proc.poll() is not None:
                raise AssertionError(f"ComfyUI exited ({self.proc.returncode}):\n{self.log_tail()}")
            return self.history(prompt_id)
        try:
            return _wait_until(done, timeout, 0.2, f"prompt {prompt_id} to finish")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- ComfyUI log tail ---\n{self.log_tail()}") from None


def _copy_pack(dest: Path) -> None:
    skip = {".git", ".venv", "venv", "tests", "__pycache__", ".pytest_cache", ".benchmarks", ".mypy_cache",
            ".ruff_cache", "node_modules", "demo-output"}
    shutil.copytree(ROOT, dest, ignore=lambda d, names: [n for n in names if n in skip or n.endswith(".pyc")])



def frontend_root() -> str | None:
    value = os.environ.get("COMFYUI_FRONTEND_ROOT", "").strip()
    return value or None


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def launch(base: Path, emu, token: str | None, *, ready_path: str = "/object_info",
           env_extra: dict | None = None, extra_args: list[str] | None = None, copy_pack: bool = True):
    """Start ComfyUI in ``base`` (a fresh directory) against ``emu``; returns a ``Comfy``.
    ``token=None`` starts it without RUNCOMFY_API_TOKEN. Call ``comfy.stop()`` when done."""
    for sub in ("custom_nodes", "input", "output", "user", "temp", "models"):
        (base / sub).mkdir(exist_ok=True)
    pack_dir = base / "custom_nodes" / PACK_NAME
    if copy_pack and not pack_dir.exists():
        _copy_pack(pack_dir)
    config_dir = base / "runcomfy_config"
    config_dir.mkdir(exist_ok=True)
    log_path = base / "comfyui.log"
    port = _free_port()
    env = dict(os.environ)
    for k in [k for k in env if k.startswith("RUNCOMFY_")]:
        del env[k]
    env.update(RUNCOMFY_MODEL_API_BASE=emu.base_url, RUNCOMFY_CONFIG_DIR=str(config_dir),
               PYTHONUNBUFFERED="1", NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
    if token is not None:
        env["RUNCOMFY_API_TOKEN"] = token
    env.update(env_extra or {})
    cmd = [_comfyui_python(COMFYUI_DIR), "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(port),
           "--disable-auto-launch", "--base-directory", str(base),
           "--disable-all-custom-nodes", "--whitelist-custom-nodes", PACK_NAME,
           "--database-url", "sqlite:///:memory:"]
    if frontend_root():
        cmd += ["--front-end-root", frontend_root()]
    cmd += list(extra_args or [])
    log_file = open(log_path, "ab")
    proc = subprocess.Popen(cmd, cwd=str(COMFYUI_DIR), env=env, stdout=log_file, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    c = Comfy(base, port, proc, log_path, emu, token, pack_dir)
    c._log_file = log_file

    def ready():
        if proc.poll() is not None:
            raise AssertionError(f"ComfyUI exited early ({proc.returncode}):\n{c.log_tail()}")
        try:
            return c.get(ready_path, timeout=5).status_code == 200
        except Exception:  # noqa: BLE001 - not listening yet
            return False
    try:
        _wait_until(ready, STARTUP_TIMEOUT, 0.5, "ComfyUI to answer " + ready_path)
    except AssertionError as exc:
        c.stop()
        raise AssertionError(f"{exc}\n--- ComfyUI log tail ---\n{c.log_tail()}") from None
    return c


# Every opt-in module marks itself with this: skipped unless COMFYUI_DIR names a checkout.
NEEDS_COMFYUI = [
    pytest.mark.comfyui,
    pytest.mark.skipif(COMFYUI_DIR is None,
                       reason="set COMFYUI_DIR to a ComfyUI checkout (a directory with main.py) to run"),
]


@contextlib.contextmanager
def running(base: Path, emu, token: str | None, **kwargs):
    """``launch()`` as a context: ComfyUI is stopped, and then the emulator, however the block ends
    (also when the start itself fails)."""
    try:
        c = launch(base, emu, token, **kwargs)
        try:
            yield c
        finally:
            c.stop()
    finally:
        emu.stop()
