"""Catalog text made inert before it reaches ComfyUI's frontend.

Display names, descriptions, categories, tooltips, placeholders and enum labels come from
RunComfy's catalog, i.e. from outside. Frontend 1.27 puts some of them into the page as HTML
(the node search list, the combo menu), so a ``<img onerror=...>`` in a display name ran as
script there. Escaping with entities would show ``&lt;`` on frontends that already escape
(1.49, 1.58), so markup characters are replaced by look-alikes instead: ``<`` -> ``‹``,
``>`` -> ``›``. Without ``<`` no tag can start, whatever the frontend does with the text.
Entities that decode to ``<`` or ``>`` (``&lt;``, ``&#60;``, ``&#x3e;``...) get the same
look-alikes, so a frontend that decodes once and inserts the result as HTML again still sees no
tag. Other ``&`` stay: alone they cannot start markup. C0 control characters other than tab and
line breaks are dropped (they only hide text).

Enum values are different: they are sent to the service as they are, so a changed value
would be a different request. ``choice_labels`` gives each value the label the combo shows
(the inert text) and maps a label back to its value at run time (``value_of``). Two values
whose labels would be the same cannot be told apart in the combo: the model gets no node and
the reason is logged (``ChoiceCollision``), rather than a node that might send the other one.
"""

from __future__ import annotations

import re

LOOKALIKE = {"<": "\u2039", ">": "\u203a"}          # ‹ ›: single angle quotation marks
_ENTITY = re.compile(r"&(?:(lt|gt)|#0*(60|62)|#[xX]0*(3[cCeE]));?", re.IGNORECASE)
_MARKUP = re.compile(r"[<>]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _entity(m: re.Match) -> str:
    name, dec, hexa = m.groups()
    less = (name or "").lower() == "lt" or dec == "60" or (hexa or "").lower() == "3c"
    return LOOKALIKE["<"] if less else LOOKALIKE[">"]


def inert(text):
    """``text`` with no markup left in it; anything that is not a string is returned as is."""
    if not isinstance(text, str):
        return text
    out = _ENTITY.sub(_entity, text)
    out = _MARKUP.sub(lambda m: LOOKALIKE[m.group(0)], out)
    return _CONTROL.sub("", out)


def is_inert(text) -> bool:
    return inert(text) == text


class ChoiceCollision(ValueError):
    """Two enum values would show as the same combo entry."""


class ChoiceLabels:
    """The combo's labels of an enum and the way back from a label to the value sent."""

    def __init__(self, values, what: str = "choice"):
        self.values = list(values)
        self.labels = [inert(v) for v in self.values]
        self._back: dict = {}
        for value, label in zip(self.values, self.labels):
            key = _key(label)
            if key in self._back and self._back[key] != value:
                raise ChoiceCollision(
                    f"{what}: the values {self._back[key]!r} and {value!r} would both show as {label!r} "
                    "(markup characters are shown as look-alikes), so the combo could send the wrong one")
            self._back[key] = value

    @property
    def changed(self) -> bool:
        return self.labels != self.values

    def label_of(self, value):
        for v, label in zip(self.values, self.labels):
            if v == value and type(v) is type(value):
                return label
        return inert(value)

    def value_of(self, label, default=None):
        """The value behind a combo label (a label that is itself a value maps to that value)."""
        for key in (_key(label), ("\0num", str(label))):
            if key in self._back:
                return self._back[key]
        return default


def _key(label):
    # A combo may hand back "5" for the choice 5: numbers are also matched by their text.
    return label if isinstance(label, str) else ("\0num", str(label))


def choice_labels(values, what: str = "choice") -> ChoiceLabels:
    return ChoiceLabels(values, what)


# Keys of an input's options that ComfyUI's frontends show as text (never sent to the service).
_SHOWN_OPTIONS = ("tooltip", "placeholder", "label_on", "label_off", "display_name")


def inert_input_types(spec: dict, what: str = "node") -> dict:
    """A copy of an INPUT_TYPES answer whose shown texts are inert: tooltips, placeholders,
    boolean labels, and combo entries (with their default) as labels. STRING defaults are
    left alone: they are the value sent when the user does not edit them, and text widgets
    show them as a field's value (never as markup). Raises ChoiceCollision (see above)."""
    out: dict = {}
    for section, inputs in spec.items():
        if not isinstance(inputs, dict):
            out[section] = inputs
            continue
        out[section] = {}
        for name, item in inputs.items():
            if not isinstance(item, (list, tuple)) or not item:
                out[section][name] = item
                continue
            kind, opts = item[0], dict(item[1]) if len(item) > 1 and isinstance(item[1], dict) else None
            if isinstance(kind, list):
                labels = choice_labels(kind, f"{what}, input '{name}'")
                kind = labels.labels
                if opts is not None and "default" in opts:
                    opts["default"] = labels.label_of(opts["default"])
            if opts is not None:
                for key in _SHOWN_OPTIONS:
                    if key in opts:
                        opts[key] = inert(opts[key])
            out[section][name] = [kind] + ([opts] if opts is not None else list(item[1:]))
    return out
