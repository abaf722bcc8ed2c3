"""The node layer's ``nodes/tensors.py`` for tests that use it alone: loaded from its file (it
imports only numpy and torch), since ``nodes`` is not importable as a top-level package."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_NAME = "runcomfy_test_nodes_tensors"
if _NAME not in sys.modules:
    _spec = importlib.util.spec_from_file_location(_NAME, Path(__file__).resolve().parents[1] / "nodes" / "tensors.py")
    sys.modules[_NAME] = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(sys.modules[_NAME])
tensors = sys.modules[_NAME]
