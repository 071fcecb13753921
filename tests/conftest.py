"""Shared test fixtures: paths to ../shared data (tests skip cleanly when absent)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def shared_path(*parts: str) -> Path:
    """Path under ../shared, or skip the test when it is absent."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"../shared/{'/'.join(parts)} is absent")
    return p


@pytest.fixture
def shared():
    """Callable fixture: ``shared("benchmarks", "gap")`` -> Path or skip."""
    return shared_path


def lattice_edges(nx: int, ny: int) -> np.ndarray:
    """Edges (pairs of unit indices) of an nx x ny lattice numbered row by row."""
    idx = np.arange(nx * ny).reshape(ny, nx)
    return np.concatenate(
        [
            np.column_stack([idx[:, :-1].ravel(), idx[:, 1:].ravel()]),
            np.column_stack([idx[:-1, :].ravel(), idx[1:, :].ravel()]),
        ]
    )
