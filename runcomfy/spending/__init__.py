"""Spend you can see and cap: the spend history (history.py), the daily/monthly limits
(limits.py), the atomic check-and-reserve before a submit (gate.py) and totals/exports
(report.py). The journal calls a ``Tag`` it is given; it never imports this package."""

from .gate import SpendLimitError, Tag, node_tag, spent_since
from .windows import day_start, month_start, week_start
from .history import KEEP_MONTHS, MAX_MONTH_BYTES, Charge, HistoryLog
from .limits import Limits, current as current_limits, save as save_limits

__all__ = ["SpendLimitError", "Tag", "day_start", "month_start", "node_tag", "spent_since", "week_start",
           "KEEP_MONTHS", "MAX_MONTH_BYTES", "Charge", "HistoryLog", "Limits", "current_limits", "save_limits"]
