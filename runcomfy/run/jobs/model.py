"""What a job reports while it runs (Update, Hooks), what it returns (JobOutcome), and what
makes two jobs "the same inputs" (fingerprint)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Callable

from ...api import QUEUED
from ...pricing import format_usd


@dataclass
class Update:
    """What the node shows while it waits."""

    request_id: str | None
    state: str
    elapsed: float
    queue_position: int | None = None
    cost: float | None = None
    note: str = ""
    index: int = 0          # which variation
    count: int = 1
    progress: float | None = None   # share of the submit's body sent, while submitting

    def text(self) -> str:
        parts = []
        if self.count > 1:
            parts.append(f"[{self.index + 1}/{self.count}]")
        parts.append(self.state.replace("_", " "))
        if self.state == QUEUED and self.queue_position is not None:
            # The service does not say whether positions count from 0 or 1.
            parts.append("(next in queue)" if self.queue_position <= 0 else f"(queue position {self.queue_position})")
        parts.append(f"{self.elapsed:.0f}s")
        if self.cost is not None:
            parts.append(f"cost {format_usd(self.cost)}")
        if self.request_id:
            parts.append(f"request {self.request_id}")
        if self.note:
            parts.append(self.note)
        return " · ".join(parts)


def never_interrupted() -> bool:
    return False


@dataclass
class Hooks:
    on_update: Callable[[Update], None] = lambda u: None
    # The default: nothing can interrupt, so a wait between polls is one sleep, not 50 ms slices.
    is_interrupted: Callable[[], bool] = never_interrupted


@dataclass
class JobOutcome:
    request_id: str
    urls: list[str]
    files: list[bytes]
    cost: float | None
    elapsed: float
    resumed: bool = False
    timings: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def fingerprint(model_id: str, payload: dict) -> str:
    """Identifies "the same inputs": a hash of the exact payload (images included), nothing
    else of it is kept. Long strings (inline images) are hashed on their own first: hashlib
    releases the GIL on large buffers, json.dumps of megabytes would not."""
    def digest_long(v):
        if isinstance(v, str) and len(v) > 4096:
            return "sha256:" + hashlib.sha256(v.encode()).hexdigest()
        if isinstance(v, list):
            return [digest_long(x) for x in v]
        return v
    canon = json.dumps({"model": model_id, "payload": {k: digest_long(v) for k, v in payload.items()}},
                       sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canon.encode()).hexdigest()
