"""Price texts: RunComfy's own figures only, one money format, estimates only where they are honest."""

from __future__ import annotations

import math

import pytest

from runcomfy import pricing
from runcomfy.pricing import describe, format_usd, price_of, price_text, tooltip


@pytest.mark.parametrize("usd, text", [
    (0.03, "$0.03"), (0.1, "$0.10"), (0.0025, "$0.0025"), (1.5, "$1.50"), (12, "$12.00"), (0.125, "$0.125"),
    (0, "$0.00"), (0.00004, "<$0.0001"), (0.00005, "$0.0001"), (0.12345, "$0.1235"), (1234.5, "$1234.50"),
])
def test_money_format(usd, text):
    assert format_usd(usd) == text


@pytest.mark.parametrize("bad", [-0.01, math.nan, math.inf, True, None, "0.03", [0.03]])
def test_money_format_refuses_what_is_not_a_price(bad):
    assert format_usd(bad) is None


def _doc(price, unit, duration_spec=None, note=None):
    props = {"prompt": {"type": "string"}}
    if duration_spec is not None:
        props["duration"] = duration_spec
    doc = {"model_id": "a/b", "base_price_usd": price, "price_unit": unit, "input_schema": {"properties": props}}
    if note is not None:
        doc["pricing_note"] = note
    return doc


def test_per_output_price_never_gets_an_estimate():
    doc = _doc(0.04, "output", {"type": "integer", "default": 5})
    assert price_text(doc) == "$0.04 / output"
    assert describe(doc)["estimate_text"] is None


def test_per_second_price_with_a_concrete_duration_shows_an_estimate():
    doc = _doc(0.08, "second", {"type": "string", "enum": ["auto", "5", "10"], "default": "5"})
    info = describe(doc)
    assert info["unit_text"] == "$0.08 / s"
    assert info["estimate_text"] == "≈ $0.40 for 5 s (estimate)"
    assert info["text"] == "$0.08 / s · ≈ $0.40 for 5 s (estimate)"
    assert info["duration_field"] == "duration" and info["duration"] == "5"
    # The node's own value wins over the schema default.
    assert describe(doc, {"duration": "10"})["estimate_text"] == "≈ $0.80 for 10 s (estimate)"


@pytest.mark.parametrize("value", ["auto", "", None, 0, -5, "five", float("nan")])
def test_auto_or_unknown_duration_shows_only_the_unit_price(value):
    doc = _doc(0.08, "second", {"type": "string", "enum": ["auto", "5"], "default": "auto"})
    assert price_text(doc, {"duration": value}) == "$0.08 / s"


def test_float_durations_and_number_fields():
    doc = _doc(0.002, "second", {"type": "number", "default": 7.5})
    assert price_text(doc) == "$0.002 / s · ≈ $0.015 for 7.5 s (estimate)"


def test_per_second_model_without_a_duration_input_shows_only_the_unit_price():
    doc = _doc(0.05, "second")
    assert price_text(doc) == "$0.05 / s" and describe(doc)["duration_field"] is None
    # A "duration" that is free text (no number in it) is not a duration input.
    assert pricing.duration_field({"properties": {"duration": {"type": "string"}}}) is None


def test_other_units_and_missing_figures():
    assert price_text(_doc(0.5, "run")) == "$0.50 / run"
    assert price_text(_doc(0.5, None)) == "$0.50"
    assert price_text(_doc(None, "output")) == "price unavailable"
    assert price_text(_doc("0.5", "output")) == "price unavailable"   # never parsed out of a string
    assert price_of(None) is None and describe({})["available"] is False


def test_pricing_note_goes_into_the_tooltip_as_prose():
    doc = _doc(0.05, "second", {"type": "integer", "enum": [5, 10], "default": 5}, note="1080p costs twice as much.")
    assert tooltip(doc) == "Price: $0.05 / s · ≈ $0.25 for 5 s (estimate). 1080p costs twice as much."
    assert "not stated" in tooltip({"model_id": "a/b"})
