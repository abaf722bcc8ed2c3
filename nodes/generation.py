"""Re-runs on a model without a seed: the node's ``generation`` counter is part of the request's
identity (the journal's fingerprint) and never part of the payload.

Generation 0 keeps the fingerprint the pack always computed, so a workflow saved before the
counter existed still resumes its requests. ``variations`` > 1 on such a model runs one request
per consecutive generation value, each its own journal identity, like consecutive seeds.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib

from ..runcomfy.errors import Interrupted
from .layout import SEED_MAX


def salted(fp: str, generation: int) -> str:
    if not generation:
        return fp
    return hashlib.sha256(f"{fp}|generation={generation}".encode()).hexdigest()


class IdentityJournal:
    """A journal whose fingerprints include a generation; everything else is the journal's own."""

    def __init__(self, inner, generation: int):
        self._inner = inner
        self.generation = int(generation)

    def claim(self, fp: str, model_id: str, **kwargs):
        return self._inner.claim(salted(fp, self.generation), model_id, **kwargs)

    def find_resumable(self, fp: str):
        return self._inner.find_resumable(salted(fp, self.generation))

    def __getattr__(self, name):
        return getattr(self._inner, name)


def generations(start: int, count: int) -> list[int]:
    """``count`` consecutive generation values from ``start``, wrapping inside 0..2147483647."""
    return [(int(start) + i) % (SEED_MAX + 1) for i in range(count)]


def renumbered(on_update, index: int, count: int):
    """An update hook that shows ``[index+1/count]`` for one of several single-request runs."""
    def hook(u):
        on_update(dataclasses.replace(u, index=index, count=count))
    return hook


def merge(gens: list):
    """One Generation from the single-request runs of a seedless node's variations."""
    first = gens[0]
    outputs: dict = {}
    for g in gens:
        for kind, values in g.outputs.items():
            outputs.setdefault(kind, []).extend(values)
    costs = [g.cost for g in gens if g.cost is not None]
    notes: list[str] = []
    for g in gens:
        notes.extend(n for n in g.notes if n not in notes)
    return dataclasses.replace(
        first, outputs=outputs, urls=[u for g in gens for u in g.urls],
        request_ids=[r for g in gens for r in g.request_ids], cost=sum(costs) if costs else None, notes=notes)


async def gather_runs(coros: list):
    """Runs them together; like the pipeline's variations: Stop wins, else the first error."""
    outs = await asyncio.gather(*coros, return_exceptions=True)
    errors = [o for o in outs if isinstance(o, BaseException)]
    for e in errors:
        if isinstance(e, Interrupted):
            raise e
    if errors:
        raise errors[0]
    return outs
