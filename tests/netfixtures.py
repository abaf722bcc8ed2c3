"""Real network pieces for the proxy and CA tests, all on loopback: a throwaway test CA and a
server certificate it signs (openssl CLI), the proxy.py HTTP CONNECT proxy (a PyPI package,
installed by scripts/setup.sh) run as a child process, optionally with Basic proxy auth, a
recording tap in front of it that keeps every byte the proxy receives, and a tiny hand-written
proxy that misbehaves on purpose (refuses the tunnel, or never answers the CONNECT)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class TestCA:
    ca: Path          # the CA certificate (what REQUESTS_CA_BUNDLE points at)
    cert: Path        # server certificate for 127.0.0.1 / localhost, signed by the CA
    key: Path


def make_test_ca(folder: Path) -> TestCA:
    openssl = shutil.which("openssl")
    assert openssl, "the openssl command is needed to make the test CA"
    folder.mkdir(parents=True, exist_ok=True)

    def run(*args):
        subprocess.run([openssl, *args], cwd=folder, check=True, capture_output=True, timeout=60)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=RunComfy pack test CA",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    (folder / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
                                    "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf")
    return TestCA(folder / "ca.pem", folder / "server.pem", folder / "server.key")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ProxyPy:
    """proxy.py as a child process on loopback."""

    def __init__(self, folder: Path, basic_auth: str | None = None):
        folder.mkdir(parents=True, exist_ok=True)
        port_file = folder / "port"
        args = [sys.executable, "-m", "proxy", "--hostname", "127.0.0.1", "--port", "0",
                "--port-file", str(port_file), "--num-workers", "1", "--num-acceptors", "1",
                "--threaded", "--log-level", "WARNING"]
        if basic_auth:
            args += ["--basic-auth", basic_auth]
        self.log = open(folder / "proxy.log", "wb")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, cwd=folder)
        end = time.monotonic() + 30
        self.port = None
        while time.monotonic() < end and self.proc.poll() is None:
            text = port_file.read_text().strip() if port_file.exists() else ""
            if text.isdigit() and _listening(int(text)):
                self.port = int(text)
                break
            time.sleep(0.05)
        if self.port is None:
            self.stop()
            raise RuntimeError("proxy.py did not start: " + (folder / "proxy.log").read_text(errors="replace")[-500:])

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.log.close()


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@dataclass
class Tap:
    """A TCP relay in front of a proxy: it records every byte the client sends towards the proxy
    (exactly what the proxy receives)."""

    upstream_port: int
    received: bytearray = field(default_factory=bytearray)
    connections: int = 0

    def __post_init__(self):
        self._lock = threading.Lock()
        self._server = socket.socket()
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(64)
        self.port = self._server.getsockname()[1]
        self._socks: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def seen(self) -> bytes:
        with self._lock:
            return bytes(self.received)

    def _accept(self):
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            try:
                up = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=10)
                up.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self.connections += 1
                self._socks += [client, up]
            threading.Thread(target=self._pump, args=(client, up, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(up, client, False), daemon=True).start()

    def _pump(self, src, dst, record):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if record:
                    with self._lock:
                        self.received += data
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self):
        self._server.close()
        with self._lock:
            socks = list(self._socks)
        for s in socks:
            try:
                s.close()
            except OSError:
                pass


class BadProxy:
    """A hand-written proxy that reads the CONNECT and then either answers ``reply`` (e.g. a 403)
    or, with ``reply=None``, never answers until closed."""

    def __init__(self, reply: bytes | None):
        self.reply = reply
        self.requests: list[bytes] = []
        self._server = socket.socket()
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(16)
        self.port = self._server.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._socks: list[socket.socket] = []
        self._closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            self._socks.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        data = b""
        conn.settimeout(30)
        try:
            while b"\r\n\r\n" not in data and len(data) < 65536:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                data += chunk
            self.requests.append(data)
            if self.reply is not None:
                conn.sendall(self.reply)
                conn.close()
            else:
                self._closed.wait(60)
        except OSError:
            pass

    def close(self):
        self._closed.set()
        self._server.close()
        for s in self._socks:
            try:
                s.close()
            except OSError:
                pass


PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy",
              "NO_PROXY", "no_proxy", "RUNCOMFY_PROXY", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
              "SSL_CERT_FILE", "SSL_CERT_DIR")


def clean_network_env(monkeypatch):
    """No proxy or CA setting of the machine leaks into a test."""
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
    from runcomfy.api import proxies
    proxies.set_saved_proxy(None)
    monkeypatch.setattr(proxies, "_saved", None)
    return os.environ
