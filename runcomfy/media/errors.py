"""Errors of media inputs, apart from result errors: an input file names its input and its file."""

from __future__ import annotations


class UnreadableInputError(ValueError):
    """An input file that is not usable as its kind. Names the input (field) and the file, never
    quotes its bytes (it may be any file a user pointed at); ``reason`` is the text without them."""

    def __init__(self, label: str, source: str, reason: str):
        self.label, self.source, self.reason = label, source, reason
        super().__init__(f"input '{label}': {source} {reason}")
