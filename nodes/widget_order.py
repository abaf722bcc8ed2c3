"""Where each widget value sits in a UI workflow's ``widgets_values``, as the frontend saves it.

The frontend (1.27, 1.49, 1.58) creates one widget per widget input, required inputs first then
optional ones, each in INPUT_TYPES order; an INT input whose options ask for
``control_after_generate`` (or any INT named ``seed``/``noise_seed``) is followed by its control
widget, whose value ("fixed", "increment", ...) is saved too but never sent in the prompt.
Sockets (IMAGE, VIDEO, AUDIO...) and ``forceInput`` inputs have no widget. A saved workflow
assigns ``widgets_values`` by position, so the pack only ever appends widgets at the end and
never removes one (an input that no longer applies is hidden in place).

``remap`` is the by-name mapping for a layout that did move widgets: the web extension can apply
it in ``onConfigure`` with the names recorded for the saved layout.
"""

from __future__ import annotations

WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
CONTROL = ":control_after_generate"      # suffix of a control widget's entry in a names list


def _has_control(name: str, kind, opts: dict) -> bool:
    return kind == "INT" and bool(opts.get("control_after_generate", name in ("seed", "noise_seed")))


def widget_names(input_types: dict) -> list[str]:
    """The names of ``widgets_values``' entries in order; a control is ``<input>:control_after_generate``."""
    names: list[str] = []
    for section in ("required", "optional"):
        for name, spec in (input_types.get(section) or {}).items():
            kind = spec[0] if isinstance(spec, (list, tuple)) and spec else None
            opts = spec[1] if isinstance(spec, (list, tuple)) and len(spec) > 1 and isinstance(spec[1], dict) else {}
            if opts.get("forceInput") or not (isinstance(kind, list) or kind in WIDGET_TYPES):
                continue
            names.append(name)
            if _has_control(name, kind, opts):
                names.append(name + CONTROL)
    return names


def values_by_name(names: list[str], values: list) -> dict:
    """A saved ``widgets_values`` read positionally, as the frontend loads it."""
    return {n: v for n, v in zip(names, values if isinstance(values, list) else [])}


def remap(saved_names: list[str], saved_values: list, names: list[str], defaults: dict | None = None) -> list:
    """``saved_values`` (saved in the order ``saved_names``) in the order ``names``: each widget gets
    its saved value by name; a widget the saved layout did not have gets ``defaults[name]`` (None
    when absent: the frontend then keeps the widget's own default)."""
    saved = values_by_name(saved_names, saved_values)
    defaults = defaults or {}
    return [saved[n] if n in saved else defaults.get(n) for n in names]


def control_of(input_types: dict, saved_values: list, widget: str) -> str | None:
    """The saved control-after-generate value of ``widget`` ("fixed", "increment", ...), None when
    the workflow does not hold one."""
    value = values_by_name(widget_names(input_types), saved_values).get(widget + CONTROL)
    return value if isinstance(value, str) else None
