"""What one job will cost, before it is sent, from RunComfy's own figures, and what a finished
job counts for when ``/result`` states no usable ``cost``. Spending limits (the batch's
``--max-cost``, the node's spend limit) are built on these two functions; they never guess a
number: a job whose cost cannot be derived from the price unit and its inputs has an unknown
estimate (``usd`` None) and the caller decides (refuse, or a per-job amount the user gave).

- unit ``second``: price x seconds x outputs; seconds are the job's duration input, else the
  schema default; "auto", no duration input or a non-number: unknown.
- unit ``output`` (also ``image``, ``video``, ``audio``, ``result``...): price x outputs; outputs
  are the job's count input (``num_images``, ``num_outputs``, ``n``...), else the schema default,
  else 1 (the model takes no count: one result per request).
- unit ``run`` / ``request`` / ``job``: price per request.
- no unit, or any other unit ("megapixel", "1k tokens"): unknown.
Every figure is multiplied by ``requests`` (the node's variations send one request each).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .pricing import PER_SECOND_UNITS, Price, duration_field, format_usd, price_of, seconds_of

PER_OUTPUT_UNITS = ("output", "outputs", "image", "images", "video", "videos", "audio", "audios",
                    "result", "results", "clip", "clips")
PER_REQUEST_UNITS = ("run", "runs", "request", "requests", "job", "jobs", "call", "calls", "generation",
                     "generations", "prediction", "predictions")
# Inputs that set how many results one request produces.
COUNT_FIELDS = ("num_images", "num_outputs", "num_videos", "num_samples", "number_of_images", "num_variations",
                "n", "batch_size", "variations")


@dataclass(frozen=True)
class Estimate:
    usd: float | None           # None: unknown (the caller must not treat it as 0)
    basis: str                  # how it was reached, or why it is unknown, for messages
    per_output_usd: float | None = None    # set for per-output prices: a result's count refines it

    @property
    def known(self) -> bool:
        return self.usd is not None

    def text(self) -> str:
        return f"{format_usd(self.usd)} ({self.basis})" if self.known else f"unknown ({self.basis})"


def _unit(price: Price) -> str:
    return (price.price_unit or "").strip().lower()


def _count(input_schema: dict | None, values: dict) -> tuple[int | None, str]:
    props = (input_schema or {}).get("properties") or {}
    for name in COUNT_FIELDS:
        spec = props.get(name)
        if not isinstance(spec, dict):
            continue
        value = values.get(name, spec.get("default"))
        if value is None:
            return 1, f"{name} not set: 1"
        number = seconds_of(value)          # a positive finite number, numeric strings too
        if number is None or not float(number).is_integer():
            return None, f"{name}={value!r} is not a whole number of outputs"
        return int(number), f"{name}={int(number)}"
    return 1, "1 output"


def estimate(price: Price | dict | None, input_schema: dict | None, values: dict | None = None, *,
             requests: int = 1) -> Estimate:
    """The cost of one job (``requests`` requests with the same inputs) from its price (a
    ``pricing.Price``, or any document ``pricing.price_of`` reads), the model's input schema
    and the job's field values (missing fields take the schema default)."""
    if isinstance(price, dict):
        price = price_of(price)
    if price is None:
        return Estimate(None, "the model states no price")
    values = values or {}
    unit = _unit(price)
    reqs = max(1, int(requests))
    times = f" x {reqs} requests" if reqs > 1 else ""
    money = format_usd(price.base_price_usd)
    if unit in PER_SECOND_UNITS:
        name = duration_field(input_schema)
        if name is None:
            return Estimate(None, f"{money} per second, and the model has no duration input")
        props = (input_schema or {}).get("properties") or {}
        value = values.get(name, (props.get(name) or {}).get("default"))
        seconds = seconds_of(value)
        if seconds is None:
            return Estimate(None, f"{money} per second, and {name}={value!r} is not a number of seconds")
        count, how = _count(input_schema, values)
        if count is None:
            return Estimate(None, how)
        usd = price.base_price_usd * seconds * count * reqs
        outs = f" x {count} outputs" if count > 1 else ""
        return Estimate(usd, f"{money}/s x {seconds:g} s{outs}{times}")
    if unit in PER_OUTPUT_UNITS:
        count, how = _count(input_schema, values)
        if count is None:
            return Estimate(None, how)
        return Estimate(price.base_price_usd * count * reqs, f"{money}/{unit} x {how}{times}",
                        per_output_usd=price.base_price_usd)
    if unit in PER_REQUEST_UNITS:
        return Estimate(price.base_price_usd * reqs, f"{money}/{unit}{times}")
    if not unit:
        return Estimate(None, f"{money} with no price unit")
    return Estimate(None, f"{money} per {price.price_unit!r}, which the inputs cannot measure")


def estimate_for(doc: dict | None, values: dict | None = None, *, requests: int = 1) -> Estimate:
    """``estimate`` from one catalog entry or ``GET /models/{id}`` answer (price and schema)."""
    doc = doc if isinstance(doc, dict) else {}
    return estimate(doc, doc.get("input_schema"), values, requests=requests)


def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) and value >= 0 else None


def counted_cost(reported, est: Estimate, outputs: int | None = None) -> tuple[float | None, str]:
    """What a finished job counts for against a spending limit, from ``/result``'s raw ``cost``.

    - a number >= 0: that number (it is the bill);
    - a numeric string ("0.03"): the larger of it and the estimate (the service broke its own
      contract, so neither figure is trusted to be the smaller one);
    - missing, null, anything else: the estimate, raised to price x results for a per-output
      price when more results came than estimated; never 0.
    None when nothing is known (no number and no estimate): the caller uses its assumed amount.
    """
    number = _number(reported)
    if number is not None:
        return number, "reported"
    fallback = est.usd
    if est.per_output_usd is not None and outputs is not None and fallback is not None:
        fallback = max(fallback, est.per_output_usd * outputs)
    if isinstance(reported, str):
        try:
            parsed = _number(float(reported.strip()))
        except ValueError:
            parsed = None
        if parsed is not None:
            return (max(parsed, fallback) if fallback is not None else parsed), \
                f"cost sent as text {reported[:20]!r}: the larger of it and the estimate"
    if fallback is None:
        return None, "no numeric cost and no estimate"
    return fallback, "no numeric cost reported: counted at the estimate"
