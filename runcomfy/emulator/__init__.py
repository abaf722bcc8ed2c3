"""Local emulator of the RunComfy Model API (loopback only): ``Emulator(...).start()``."""

from .faults import FaultPlan, parse_fault_spec
from .imagegen import render_output
from .jobs import Job
from .server import CallRecord, Emulator

__all__ = ["Emulator", "FaultPlan", "CallRecord", "Job", "render_output", "parse_fault_spec"]
