"""The request journal (see ledger.py): where paid requests are written down."""

from .ledger import (BLOCK_WINDOW, DEFAULT_MAX_ENTRIES, DEFAULT_MAX_LIVE, DEFAULT_RESUME_TTL, EXPIRED, PENDING,
                     REJECTED, RESUMABLE, SUBMIT_UNKNOWN, SUBMITTING, SUCCEEDED, SUPERSEDED, UNCERTAIN, Claim, Journal,
                     parse_codes)
from .owners import HEARTBEAT_EVERY, STALE_AFTER
from .store import atomic_write, default_journal_path

__all__ = ["BLOCK_WINDOW", "DEFAULT_MAX_ENTRIES", "DEFAULT_MAX_LIVE", "DEFAULT_RESUME_TTL", "EXPIRED", "PENDING",
           "REJECTED", "RESUMABLE", "SUBMIT_UNKNOWN", "SUBMITTING", "SUCCEEDED", "SUPERSEDED", "UNCERTAIN", "Claim",
           "Journal", "parse_codes", "HEARTBEAT_EVERY", "STALE_AFTER", "atomic_write", "default_journal_path"]
