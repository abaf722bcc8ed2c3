"""Link emulation (runcomfy/emulator/shaping.py) over real loopback sockets.

The timing checks are measured properties of the shaper, not of the pack: a link set to
20 Mbit/s must not deliver faster than that (a lower bound, which a loaded machine cannot
break), and the one the issue names (5 MB at 20 Mbit/s in 2 s +- 10%) is checked as stated.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest
import requests

from runcomfy.emulator import Emulator
from runcomfy.emulator.cli import build_parser, make_emulator
from runcomfy.emulator.shaping import Link, TokenBucket, parse_link

TOKEN = "shape-token"
MODEL_PATH = "/v1/models/wan-ai/wan-2-6/image-to-image"


def _post_raw(port: int, body_len: int, path: str = MODEL_PATH) -> tuple[float, bytes]:
    """POST ``body_len`` bytes over a fresh socket; (seconds until the answer's first byte, answer)."""
    body = b"x" * body_len
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {body_len}\r\nConnection: close\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        t0 = time.monotonic()
        s.sendall(head + body)
        first = s.recv(65536)
        elapsed = time.monotonic() - t0
        rest = [first]
        for _ in range(1000):
            chunk = s.recv(65536)
            if not chunk:
                break
            rest.append(chunk)
    return elapsed, b"".join(rest)


def test_five_mb_body_at_20_mbit_takes_two_seconds():
    with Emulator(token=TOKEN, uplink_mbps=20) as emu:
        elapsed, answer = _post_raw(emu.port, 5_000_000)
        assert answer.startswith(b"HTTP/1.1 4")   # a body that is not JSON is refused, after it was read
        assert emu.link.up_total.total >= 5_000_000
    # 5e6 bytes * 8 / 20e6 bit/s = 2.0 s
    assert 1.8 <= elapsed <= 2.2, elapsed


def test_unshaped_emulator_is_much_faster_than_the_link():
    with Emulator(token=TOKEN) as emu:
        assert not emu.link.active
        elapsed, answer = _post_raw(emu.port, 5_000_000)
    assert answer.startswith(b"HTTP/1.1 4")
    assert elapsed < 1.5        # loopback: far below the 2 s a 20 Mbit/s link takes


def test_total_uplink_is_shared_by_parallel_connections():
    # Two 1.25 MB bodies at once over a 10 Mbit/s link: together 2.5 MB = 2 s, not 1 s each side by side.
    times: list[float] = []
    with Emulator(token=TOKEN, uplink_mbps=10) as emu:
        threads = [threading.Thread(target=lambda: times.append(_post_raw(emu.port, 1_250_000)[0]))
                   for _ in range(2)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        wall = time.monotonic() - t0
    assert len(times) == 2
    assert wall >= 1.8, wall


def test_per_connection_cap_below_the_link():
    link = Link(uplink_mbps=100, per_connection_uplink_mbps=8)
    with Emulator(token=TOKEN, link=link) as emu:
        elapsed, _ = _post_raw(emu.port, 1_000_000)
    assert elapsed >= 0.9, elapsed          # 1e6 * 8 / 8e6 = 1.0 s; 100 Mbit/s alone would be 0.08 s


def _png_payload() -> dict:
    import base64
    import io

    import numpy as np
    from PIL import Image
    rng = np.random.default_rng(5)
    arr = rng.integers(0, 255, (400, 400, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG", compress_level=0)
    uri = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
    return {"prompt": "p", "image_urls": [uri], "image_size": "1024*1024 (1:1)"}


def test_per_connection_cap_alone():
    with Emulator(token=TOKEN, link=Link(per_connection_uplink_mbps=8)) as emu:
        assert emu.link.active
        elapsed, _ = _post_raw(emu.port, 1_000_000)
    assert elapsed >= 0.9, elapsed


def test_downlink_shapes_the_result_file():
    with Emulator(token=TOKEN, processing_time=0.0, downlink_mbps=8) as emu:
        s = requests.Session()
        s.trust_env = False
        h = {"Authorization": f"Bearer {TOKEN}"}
        r = s.post(emu.base_url + "/models/wan-ai/wan-2-6/image-to-image", headers=h, timeout=60,
                   json=_png_payload())
        assert r.status_code == 200, r.text
        rid = r.json()["request_id"]
        for _ in range(400):
            if s.get(f"{emu.base_url}/requests/{rid}/status", headers=h, timeout=30).json()["status"] == "completed":
                break
            time.sleep(0.05)
        url = s.get(f"{emu.base_url}/requests/{rid}/result", headers=h, timeout=30).json()["output"]["image"]
        t0 = time.monotonic()
        data = s.get(url, timeout=60).content
        elapsed = time.monotonic() - t0
        assert data == emu.file_bytes(rid, 0)
    assert len(data) > 200_000
    assert elapsed >= 0.9 * len(data) * 8 / 8e6, (elapsed, len(data))


def test_rtt_delays_each_request_and_each_new_connection():
    with Emulator(token=TOKEN, rtt_ms=150) as emu:
        s = requests.Session()
        s.trust_env = False
        h = {"Authorization": f"Bearer {TOKEN}"}
        t0 = time.monotonic()
        s.get(emu.base_url + "/models", headers=h, timeout=30)     # new connection: 2 RTT + 1 RTT
        first = time.monotonic() - t0
        t0 = time.monotonic()
        s.get(emu.base_url + "/models", headers=h, timeout=30)     # kept alive: 1 RTT
        second = time.monotonic() - t0
    assert first >= 0.44, first
    assert second >= 0.14, second
    assert second < first


def test_token_bucket_paces_to_its_rate():
    b = TokenBucket(1_000_000, burst_s=0.0)
    waits = [b.reserve(100_000) for _ in range(10)]
    # 1 MB at 1 MB/s: the last charge of the burst waits about a second
    assert 0.85 <= waits[-1] <= 1.0
    assert waits == sorted(waits)


def test_cli_flags_and_bad_values():
    args = build_parser().parse_args(["--uplink-mbps", "5", "--downlink-mbps", "50", "--rtt-ms", "80", "--port", "0"])
    emu, _ = make_emulator(args)
    assert emu.link.active and emu.link.describe() == "uplink 5 Mbit/s, downlink 50 Mbit/s, RTT 80 ms"
    with pytest.raises(ValueError, match="uplink_mbps must be a positive number of Mbit/s.*-3"):
        Emulator(token=TOKEN, uplink_mbps=-3)
    with pytest.raises(ValueError, match="rtt_ms"):
        Link(rtt_ms=-1)
    assert parse_link("20/100/60") == (20.0, 100.0, 60.0)
    assert parse_link("-/-/0") == (None, None, 0.0)
    with pytest.raises(ValueError, match="UP/DOWN/RTT"):
        parse_link("20/100")
    with pytest.raises(ValueError, match="DOWN must be positive"):
        parse_link("20/0/60")
