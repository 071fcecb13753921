"""Quality runners of the assign/dispatch engines, reached through ``quality.py``.

``solomon`` lives in ``_quality_solomon.py``; ``gap`` is written by the assign engineer.
"""

from __future__ import annotations

from typing import Any


def _quality_gap_run(args: Any) -> int:
    raise NotImplementedError("quality.py gap: the GAP runner is not written yet")


def run(command: str, args: Any) -> int:
    """Dispatch a ``quality.py`` sub-command to its runner."""
    if command == "solomon":
        from _quality_solomon import run_solomon

        return run_solomon(args)
    if command == "gap":
        return _quality_gap_run(args)
    raise ValueError(f"unknown command {command!r}")
