"""What the API says about a job, as typed records: its normalised state, the submit's answer,
a status, a result (with every result file URL), a cancel's outcome. Numbers the service sends
outside sane ranges read as "not reported"."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import BadResponseError
from ..media.spec import OUTPUT_KEYS

# Normalised job states. The status endpoint and the result endpoint name them differently.
QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = "queued", "running", "succeeded", "failed", "cancelled"
TERMINAL = frozenset({SUCCEEDED, FAILED, CANCELLED})
_STATE_NAMES = {
    "in_queue": QUEUED, "queued": QUEUED, "pending": QUEUED,
    "in_progress": RUNNING, "running": RUNNING, "processing": RUNNING,
    "completed": SUCCEEDED, "succeeded": SUCCEEDED, "success": SUCCEEDED,
    "failed": FAILED, "error": FAILED,
    "cancelled": CANCELLED, "canceled": CANCELLED,
}

# Numbers outside these ranges are treated as "not reported", never trusted or crashed on.
MAX_QUEUE_POSITION = 1_000_000
MAX_COST_USD = 100_000.0


def normalize_state(raw: Any) -> str:
    state = _STATE_NAMES.get(str(raw or "").strip().lower())
    if state is None:
        raise BadResponseError(f"Unknown job status {raw!r} from the service.")
    return state


@dataclass
class Submission:
    request_id: str
    raw: dict


@dataclass
class JobStatus:
    request_id: str
    state: str
    raw_status: str
    queue_position: int | None
    raw: dict


@dataclass
class JobResult:
    request_id: str
    state: str
    raw_status: str
    output_urls: list[str]
    output: dict
    cost: float | None
    created_at: str | None
    finished_at: str | None
    error_message: str | None
    raw: dict = field(repr=False, default_factory=dict)


@dataclass
class CancelOutcome:
    request_id: str
    outcome: str
    status: str | None
    raw: dict


def output_urls(output: dict) -> list[str]:
    """All result file URLs, whichever of image(s) / video(s) / audio(s) the model filled."""
    urls: list[str] = []
    for key in OUTPUT_KEYS:
        val = output.get(key)
        for item in (val if isinstance(val, list) else [val]):
            if isinstance(item, str) and item and item not in urls:
                urls.append(item)
            elif isinstance(item, dict) and isinstance(item.get("url"), str) and item["url"] not in urls:
                urls.append(item["url"])
    return urls
