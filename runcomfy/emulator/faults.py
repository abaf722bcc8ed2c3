"""Fault injection for the emulator: explicit rules, plus a seeded random mode.

A rule or the random draw decides *what* goes wrong with one call; the server decides *how*
(see server.py). Everything here is thread-safe and has no knowledge of HTTP.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field

ENDPOINTS = ("submit", "status", "result", "cancel", "model", "models", "file")
KINDS = ("http", "drop_before", "drop_after", "slow", "malformed_json", "error_200", "truncated",
         "not_found", "redirect",
         # A hostile or broken server (explicit rules only, never drawn at random):
         "slow_after",      # process the call, then wait `delay` s before answering
         "slow_drip",       # answer one byte every `interval` s (status line and headers too)
         "oversized",       # the real answer padded to `bytes` bytes of valid JSON, streamed
         "nested_json",     # process, then answer 200 with JSON nested `depth` levels deep
         "not_json",        # process, then answer 200 with an HTML page
         "bad_request_id",  # process, then answer with a request id that is not a valid id
         "non_finite",      # process, then set `field` to the JSON-invalid literal `value` (NaN)
         "echo_token",      # refuse with HTTP `status`, echoing the Authorization header back
         "storage_lag",     # a file answers 404 until `seconds` after its job finished
         "bad_file")        # a file answers 200 with `data` (bytes) instead of its own bytes
# Kinds that replace the whole way an answer is sent, or change a processed answer.
SENDING_KINDS = ("slow_drip", "oversized")
AFTER_KINDS = ("nested_json", "not_json", "bad_request_id", "non_finite", "oversized")

# Kinds a correct client survives (retry, or report "outcome unknown" for a submit), per endpoint.
# A file is not JSON, so the JSON-shaped faults make no sense there; "truncated" only there.
_RANDOM_KINDS_JSON = ("http", "drop_before", "drop_after", "slow", "malformed_json", "error_200")
_RANDOM_KINDS_FILE = ("http", "drop_before", "drop_after", "slow", "truncated")
_RANDOM_HTTP_STATUSES = (429, 500, 502, 503, 504)


@dataclass
class Fault:
    endpoint: str
    kind: str
    params: dict = field(default_factory=dict)


@dataclass
class _Rule:
    endpoint: str
    kind: str
    times: int | None          # None: every call, forever
    params: dict


class FaultPlan:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[_Rule] = []
        self._rng: random.Random | None = None
        self._rate = 0.0
        self._kinds: tuple[str, ...] | None = None
        self._endpoints: tuple[str, ...] | None = None
        self._random_params: dict = {}
        self.injected: list[tuple[str, str]] = []

    # --- configuration -------------------------------------------------------------------

    def add(self, endpoint: str, kind: str, times: int | None = 1, **params) -> "FaultPlan":
        """Inject ``kind`` on the next ``times`` calls to ``endpoint`` ("*" = any endpoint).
        ``times=None`` keeps the rule forever. Rules fire in the order they were added."""
        if endpoint != "*" and endpoint not in ENDPOINTS:
            raise ValueError(f"unknown endpoint {endpoint!r}; one of {ENDPOINTS} or '*'")
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; one of {KINDS}")
        if kind == "http":
            params.setdefault("status", 503)
        if kind in ("slow", "slow_after"):
            params.setdefault("delay", 1.0)
        if kind == "slow_drip":
            params.setdefault("interval", 1.5)
        if kind == "oversized":
            params.setdefault("bytes", 300 * 1024 * 1024)
        if kind == "nested_json":
            params.setdefault("depth", 100_000)
        if kind == "non_finite":
            params.setdefault("field", "queue_position")
            params.setdefault("value", "NaN")
        if kind == "echo_token":
            params.setdefault("status", 401)
        if kind == "storage_lag":
            params.setdefault("seconds", 25.0)
        with self._lock:
            self._rules.append(_Rule(endpoint, kind, times, dict(params)))
        return self

    def random(self, rate: float = 0.2, seed: int = 1234, kinds=None, endpoints=None,
               slow_delay: float = 0.2, retry_after: float | None = 0,
               safe_submits: bool = False) -> "FaultPlan":
        """Fault a ``rate`` share of all calls, drawn from a ``random.Random(seed)``.

        Every call consumes the same number of draws whatever its endpoint, so the sequence
        of faults depends only on the call order. ``kinds``/``endpoints`` narrow the choice
        (e.g. ``endpoints=("status", "result", "file")`` to keep submits clean).
        ``safe_submits`` turns every fault drawn for a submit into a 429 (with or without
        Retry-After): the one answer that certainly means "not taken", so a soak can demand
        that every job is delivered without any submit being ambiguous.
        """
        if not 0.0 <= rate <= 1.0:
            raise ValueError("rate must be within 0..1")
        for k in kinds or ():
            if k not in KINDS:
                raise ValueError(f"unknown fault kind {k!r}")
        with self._lock:
            self._rng = random.Random(seed)
            self._rate = rate
            self._kinds = tuple(kinds) if kinds else None
            self._endpoints = tuple(endpoints) if endpoints else None
            self._random_params = {"slow_delay": slow_delay, "retry_after": retry_after,
                                   "safe_submits": safe_submits}
        return self

    def clear(self) -> None:
        """Drop all rules and random mode (``injected`` is kept as a history)."""
        with self._lock:
            self._rules.clear()
            self._rng = None
            self._rate = 0.0

    @property
    def active(self) -> bool:
        with self._lock:
            return bool(self._rules) or self._rng is not None

    # --- used by the server ---------------------------------------------------------------

    def take(self, endpoint: str) -> Fault | None:
        """The fault for this call, if any; consumes one use of a rule or one random draw."""
        with self._lock:
            for rule in self._rules:
                if rule.endpoint in ("*", endpoint) and _applies(rule.kind, endpoint):
                    if rule.times is not None:
                        rule.times -= 1
                        if rule.times <= 0:
                            self._rules.remove(rule)
                    self.injected.append((endpoint, rule.kind))
                    return Fault(endpoint, rule.kind, dict(rule.params))
            if self._rng is None:
                return None
            fault = self._draw(endpoint)
            if fault:
                self.injected.append((endpoint, fault.kind))
            return fault

    def _draw(self, endpoint: str) -> Fault | None:
        rng = self._rng
        # Fixed number of draws per call: the pattern depends on call order only.
        u, k, s, d = rng.random(), rng.random(), rng.random(), rng.random()
        if u >= self._rate:
            return None
        if self._endpoints and endpoint not in self._endpoints:
            return None
        if endpoint == "submit" and self._random_params.get("safe_submits"):
            return Fault(endpoint, "http", {"status": 429, **({"retry_after": 0} if s < 0.5 else {})})
        pool = _RANDOM_KINDS_FILE if endpoint == "file" else _RANDOM_KINDS_JSON
        if self._kinds:
            pool = tuple(x for x in pool if x in self._kinds)
        if not pool:
            return None
        kind = pool[int(k * len(pool))]
        params: dict = {}
        if kind == "http":
            status = _RANDOM_HTTP_STATUSES[int(s * len(_RANDOM_HTTP_STATUSES))]
            params["status"] = status
            if status == 429 and self._random_params["retry_after"] is not None:
                params["retry_after"] = self._random_params["retry_after"]
        elif kind == "slow":
            params["delay"] = self._random_params["slow_delay"] * (0.5 + d / 2)
        return Fault(endpoint, kind, params)


def _applies(kind: str, endpoint: str) -> bool:
    # A file is raw bytes: JSON-shaped faults on it would not model anything real.
    if endpoint == "file":
        return kind not in ("malformed_json", "error_200", "nested_json", "not_json", "bad_request_id",
                            "non_finite", "echo_token")
    return kind not in ("storage_lag", "bad_file")


def parse_fault_spec(spec: str) -> tuple[str, str, int | None, dict]:
    """``ENDPOINT:KIND[:TIMES[:key=val,...]]`` -> (endpoint, kind, times, params).
    TIMES may be ``*`` or ``inf`` for "every call"."""
    parts = spec.split(":", 3)
    if len(parts) < 2:
        raise ValueError(f"fault spec {spec!r}: expected ENDPOINT:KIND[:TIMES[:key=val,...]]")
    endpoint, kind = parts[0].strip(), parts[1].strip()
    times: int | None = 1
    if len(parts) > 2 and parts[2].strip():
        t = parts[2].strip()
        times = None if t in ("*", "inf") else int(t)
    params: dict = {}
    if len(parts) > 3 and parts[3].strip():
        for item in parts[3].split(","):
            key, sep, val = item.partition("=")
            if not sep:
                raise ValueError(f"fault spec {spec!r}: parameter {item!r} is not key=val")
            params[key.strip()] = _number(val.strip())
    if endpoint != "*" and endpoint not in ENDPOINTS:
        raise ValueError(f"fault spec {spec!r}: unknown endpoint {endpoint!r}")
    if kind not in KINDS:
        raise ValueError(f"fault spec {spec!r}: unknown kind {kind!r}")
    return endpoint, kind, times, params


def _number(text: str):
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    return text
