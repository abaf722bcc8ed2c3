"""Before a submit: the journal's one atomic "look up, then record submitting" step, waiting
(bounded) while another run or process submits the same inputs, and the warning a user gets
when an earlier submit of exactly these inputs may have been billed without us knowing."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone

from ...errors import EarlierSubmitUncertainError, Interrupted, JobTimeoutError
from ...journal import HEARTBEAT_EVERY, SUBMITTING, Claim

WAIT_POLL = 0.2      # seconds between looks at the journal while another run submits


def _utc(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def uncertain_error(entry: dict, block_window: float, code_rejected: bool) -> EarlierSubmitUncertainError:
    when = _utc(entry["created"])
    if entry.get("state") == SUBMITTING:
        why = "the run that sent it ended (crash, kill or restart) before RunComfy's answer arrived"
    else:
        reason = (entry.get("reason") or "").strip()
        why = "its answer was lost or unclear" + (f" ({reason.rstrip('.')})" if reason else "")
    code = entry.get("resubmit_code")
    wrong = " The one-time code given does not match this entry." if code_rejected else ""
    # Where the request id and the code go (a node input, a CLI flag) is the front end's to add.
    return EarlierSubmitUncertainError(
        f"An earlier submit of exactly these inputs, at {when}, may have been accepted and billed by "
        f"RunComfy: {why}. Nothing was sent now, so you are not charged twice.{wrong} To proceed: look in "
        f"your RunComfy request history for a request made at {when}; if it is there, fetch it by its request "
        "id (no new charge). To pay for a new run of exactly these inputs anyway, give the one-time code "
        f"{code} (it works once, for this entry only). Or change an input, e.g. the seed. This warning stops "
        f"applying at {_utc(entry['created'] + block_window)}.",
        resubmit_code=code, submitted_at=entry["created"])


async def claim(journal, fp: str, model_id: str, codes, hooks, update, max_wait: float) -> Claim:
    """A "submit" or "resume" claim; raises when blocked, stopped, or after ``max_wait`` seconds
    of waiting for another run's submit of the same inputs."""
    end = time.monotonic() + max_wait
    told = False
    while True:
        c = await asyncio.to_thread(journal.claim, fp, model_id, codes=codes)
        if c.action in ("submit", "resume"):
            return c
        if c.action == "blocked":
            raise uncertain_error(c.entry, journal.block_window, c.code_rejected)
        if not told:
            update("waiting", note="another run is submitting exactly these inputs: sharing its request")
            told = True
        if hooks.is_interrupted():
            raise Interrupted("Stopped while another run was submitting exactly these inputs; "
                              "nothing was sent by this run.")
        if time.monotonic() >= end:
            raise JobTimeoutError(
                f"Another run has been submitting exactly these inputs for over {max_wait:.0f} s (since "
                f"{_utc(c.entry['created'])}); nothing was sent by this run. Run again once it has finished.")
        await asyncio.sleep(WAIT_POLL)


async def heartbeat(journal, claim_id: str) -> None:
    """Keeps an in-flight submit marked alive for other processes; cancelled when it ends."""
    while True:
        await asyncio.sleep(HEARTBEAT_EVERY)
        await asyncio.to_thread(journal.heartbeat, claim_id)
