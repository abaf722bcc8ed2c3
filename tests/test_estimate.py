"""runcomfy/estimate.py: a job's cost from RunComfy's price unit and the job's inputs, unknown
whenever the inputs cannot measure it; and what a finished job counts for when /result states
no numeric cost (never 0)."""

from __future__ import annotations

import math

import pytest

from runcomfy.estimate import Estimate, counted_cost, estimate, estimate_for
from runcomfy.pricing import Price


def _schema(**props):
    return {"properties": {"prompt": {"type": "string"}, **props}}


DURATION = {"type": "integer", "default": 60, "minimum": 1, "maximum": 120}


def test_per_second_is_price_times_requested_or_default_duration():
    p = Price(0.10, "second")
    assert estimate(p, _schema(duration=DURATION), {}).usd == pytest.approx(6.0)
    e = estimate(p, _schema(duration=DURATION), {"duration": 5})
    assert e.usd == pytest.approx(0.5) and e.basis == "$0.10/s x 5 s"
    # Enum of numeric strings, "auto" unknown; a count input multiplies; requests multiply.
    enum = {"type": "string", "enum": ["auto", "5", "10"], "default": "auto"}
    assert estimate(p, _schema(duration=enum), {}).usd is None
    assert estimate(p, _schema(duration=enum), {"duration": "10"}).usd == pytest.approx(1.0)
    e = estimate(p, _schema(duration=DURATION, num_outputs={"type": "integer", "default": 2}), {"duration": 10},
                 requests=3)
    assert e.usd == pytest.approx(6.0) and "2 outputs" in e.basis and "3 requests" in e.basis
    # No duration input at all: unknown, and the basis says why.
    e = estimate(p, _schema(), {})
    assert e.usd is None and not e.known and "no duration input" in e.basis


def test_per_output_counts_the_outputs_asked_for():
    p = {"base_price_usd": 0.04, "price_unit": "output"}
    assert estimate(p, _schema(), {}).usd == pytest.approx(0.04)
    s = _schema(num_images={"type": "integer", "default": 1, "maximum": 4})
    assert estimate(p, s, {"num_images": 4}).usd == pytest.approx(0.16)
    assert estimate(p, s, {"num_images": "x"}).usd is None
    assert estimate({"base_price_usd": 0.03, "price_unit": "image"}, _schema(), {}).usd == pytest.approx(0.03)


@pytest.mark.parametrize("doc, known", [
    ({"base_price_usd": 0.5, "price_unit": "run"}, True),
    ({"base_price_usd": 0.5, "price_unit": None}, False),
    ({"base_price_usd": 0.5, "price_unit": "megapixel"}, False),
    ({"base_price_usd": "0.5", "price_unit": "output"}, False),       # no price: never parsed from text
    ({}, False),
    (None, False),
])
def test_units_without_a_measure_are_unknown(doc, known):
    e = estimate_for(doc, {})
    assert e.known is known and isinstance(e.basis, str) and e.basis


def test_estimate_for_reads_a_whole_catalog_entry():
    doc = {"base_price_usd": 0.07, "price_unit": "second", "input_schema": _schema(duration=DURATION)}
    assert estimate_for(doc, {"duration": 10}).usd == pytest.approx(0.7)


EST = Estimate(0.03, "x", per_output_usd=0.03)


@pytest.mark.parametrize("reported, usd", [
    (0.05, 0.05), (0, 0.0), (0.01, 0.01),            # a number is the bill
    (None, 0.03), ("n/a", 0.03), ([0.5], 0.03), (True, 0.03), (math.nan, 0.03), (-1, 0.03),   # the estimate
    ("0.01", 0.03), ("0.25", 0.25),                   # text: the larger of it and the estimate
])
def test_counted_cost_never_counts_a_missing_cost_as_zero(reported, usd):
    assert counted_cost(reported, EST)[0] == pytest.approx(usd)


def test_counted_cost_per_output_uses_the_results_that_came():
    assert counted_cost(None, EST, outputs=4)[0] == pytest.approx(0.12)
    assert counted_cost(0.05, EST, outputs=4)[0] == pytest.approx(0.05)       # the bill wins
    assert counted_cost(None, Estimate(None, "unknown"))[0] is None
