"""The pack's journal, keyed by batch job instead of by payload.

The node finds an earlier request by a hash of the exact payload. A batch job's payload can
differ between runs without the job changing (``auto`` may pick another lossless format when the
uplink measured differently), and the same payload can belong to two jobs only by accident; so
the batch keys each journal entry by the job's identity (its line, its files' bytes and the
model: ``JobSpec.identity``), one small journal file per job. Everything else is the journal's own logic: the claim
before a submit, resume of pending and finished requests, uncertain submits blocking a re-run.
"""

from __future__ import annotations


class KeyedJournal:
    """A view of ``journal`` where every fingerprint is replaced by one job's identity."""

    def __init__(self, journal, identity: str):
        self._journal = journal
        self.identity = identity

    def claim(self, fp: str, model_id: str, **kw):
        return self._journal.claim(self.identity, model_id, **kw)

    def find_resumable(self, fp: str):
        return self._journal.find_resumable(self.identity)

    def __getattr__(self, name):
        return getattr(self._journal, name)
