"""Benchmark fixtures.

``make bench`` sets ``GRIDOPT_BENCH_FULL=1`` and runs the full sizes; CI runs this folder
once with ``--benchmark-disable`` at the small sizes as a smoke test.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

FULL = os.environ.get("GRIDOPT_BENCH_FULL", "") == "1"
SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def sizes(small: list[int], full: list[int]) -> list[int]:
    """The sizes to benchmark: ``full`` under ``make bench``, ``small`` otherwise."""
    return full if FULL else small


@pytest.fixture(scope="session")
def full_run() -> bool:
    """True under ``make bench``."""
    return FULL
