"""Price texts from RunComfy's own figures (``base_price_usd`` per ``price_unit``).

Nothing here invents a number: a total appears only for a per-second model whose request has a
concrete numeric duration, and it is marked as an estimate (``pricing_note`` says resolution,
audio or duration can change the bill; the API has no structured quote). The same rules are
implemented in web/lib (the node's badge recomputes the estimate when the duration widget
changes), so they are stated exactly here and in README's "Prices":

- money: ``n = floor(usd * 10000 + 0.5)`` (four decimals, halves up, the same IEEE arithmetic
  in Python and JS); the digits of ``n / 10000`` without trailing zeros, but at least two decimals:
  0.03 -> "$0.03", 0.1 -> "$0.10", 0.0025 -> "$0.0025", 1.5 -> "$1.50", 12 -> "$12.00".
  A positive amount that rounds to 0 is "<$0.0001". Not a finite number >= 0: no price.
- unit: ``output`` -> "$X / output", ``second`` -> "$X / s", any other unit U -> "$X / U",
  no unit -> "$X"; a leading "per" or "/" of the unit is dropped ("per image" -> "$X / image").
- estimate (unit ``second`` only): duration D seconds, a number > 0 (an int, a float or a numeric
  string such as "5"; "auto" and anything else give no estimate): "≈ $Y for D s (estimate)" with
  Y = X * D formatted as money and D printed without a trailing ".0".
- one line: unit text, then " · " and the estimate when there is one.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

UNAVAILABLE = "price unavailable"
PER_SECOND_UNITS = ("second", "seconds", "sec", "s")
_UNIT_LABELS = {"output": "output", "second": "s", "seconds": "s", "sec": "s", "s": "s"}
# Inputs that set how many seconds a per-second model produces.
DURATION_FIELDS = ("duration", "duration_seconds", "duration_s", "video_duration", "audio_duration")


def _finite_number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _clean_unit(unit) -> str:
    """"per image" and "/ image" are the unit "image" (as web/lib/format.js's cleanUnit reads them)."""
    return re.sub(r"^(per\s+|/\s*)", "", unit.strip(), flags=re.IGNORECASE).strip() if isinstance(unit, str) else ""


def format_usd(amount) -> str | None:
    """Money as every price text of the pack shows it (rules in the module docstring)."""
    usd = _finite_number(amount)
    if usd is None or usd < 0:
        return None
    n = math.floor(usd * 10000 + 0.5)
    if n == 0 and usd > 0:
        return "<$0.0001"
    whole, frac = divmod(n, 10000)
    decimals = f"{frac:04d}".rstrip("0").ljust(2, "0")
    return f"${whole}.{decimals}"


def seconds_of(value) -> float | None:
    """A concrete duration in seconds, or None ("auto", empty, not a number, not positive)."""
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    number = _finite_number(value)
    return number if number is not None and number > 0 else None


def _seconds_text(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:g}"


@dataclass(frozen=True)
class Price:
    base_price_usd: float
    price_unit: str | None = None
    pricing_note: str = ""

    @property
    def per_second(self) -> bool:
        return _clean_unit(self.price_unit).lower() in PER_SECOND_UNITS

    def unit_text(self) -> str:
        money = format_usd(self.base_price_usd)
        unit = _clean_unit(self.price_unit)
        if not unit:
            return money
        return f"{money} / {_UNIT_LABELS.get(unit.lower(), unit)}"

    def estimate_text(self, duration) -> str | None:
        seconds = seconds_of(duration)
        if not self.per_second or seconds is None:
            return None
        return f"≈ {format_usd(self.base_price_usd * seconds)} for {_seconds_text(seconds)} s (estimate)"

    def text(self, duration=None) -> str:
        estimate = self.estimate_text(duration)
        return self.unit_text() + (f" · {estimate}" if estimate else "")

    def public(self, duration=None) -> dict:
        return {"available": True, "base_price_usd": self.base_price_usd, "price_unit": self.price_unit,
                "pricing_note": self.pricing_note, "unit_text": self.unit_text(),
                "estimate_text": self.estimate_text(duration), "text": self.text(duration)}


def price_of(doc: dict | None) -> Price | None:
    """The price stated in a catalog entry or ``GET /models/{id}`` answer; None when it states none."""
    if not isinstance(doc, dict):
        return None
    amount = _finite_number(doc.get("base_price_usd"))
    if amount is None or amount < 0:
        return None
    unit = doc.get("price_unit")
    note = doc.get("pricing_note")
    return Price(amount, unit if isinstance(unit, str) and unit.strip() else None,
                 note.strip() if isinstance(note, str) else "")


def duration_field(input_schema: dict | None) -> str | None:
    """The input that sets the output length, when it can hold a concrete number of seconds."""
    props = (input_schema or {}).get("properties") or {}
    for name in DURATION_FIELDS:
        spec = props.get(name)
        if not isinstance(spec, dict):
            continue
        if spec.get("type") in ("integer", "number", "float"):
            return name
        if any(seconds_of(v) is not None for v in spec.get("enum") or []):
            return name
    return None


def default_duration(input_schema: dict | None):
    """The duration a node starts with: the schema default, else nothing (no estimate)."""
    name = duration_field(input_schema)
    if name is None:
        return None
    return ((input_schema or {}).get("properties") or {}).get(name, {}).get("default")


def describe(doc: dict | None, values: dict | None = None) -> dict:
    """Everything a price badge, a tooltip or a dry run shows, from one model document.
    ``values`` are the node's (or request's) inputs; without them the schema default is used."""
    price = price_of(doc)
    if price is None:
        return {"available": False, "text": UNAVAILABLE, "duration_field": None}
    schema = (doc or {}).get("input_schema")
    field = duration_field(schema)
    duration = default_duration(schema)
    if field is not None and values and field in values:
        duration = values[field]
    return {**price.public(duration), "duration_field": field,
            "duration": duration if seconds_of(duration) is not None else None}


def price_text(doc: dict | None, values: dict | None = None) -> str:
    return describe(doc, values)["text"]


def tooltip(doc: dict | None) -> str:
    """Price line for a node's description: the figures, then RunComfy's own pricing note."""
    info = describe(doc)
    if not info["available"]:
        return "Price: not stated in the catalog (the node asks RunComfy when shown)."
    text = "Price: " + info["text"]
    if info.get("pricing_note"):
        text += ". " + info["pricing_note"]
    return text
