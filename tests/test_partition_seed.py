"""Tests of gridopt.partition.seed: seeds and region growing."""

from __future__ import annotations

import numpy as np
from conftest import lattice_edges

from gridopt.model import Units
from gridopt.partition.contiguity import is_contiguous
from gridopt.partition.seed import choose_seeds, grow_layout


def lattice(n: int) -> Units:
    edges = lattice_edges(n, n)
    xx, yy = np.meshgrid(np.arange(n, dtype=float), np.arange(n, dtype=float))
    return Units.from_edges(ids=range(n * n), x=xx.ravel(), y=yy.ravel(),
                            attributes={"households": np.ones(n * n)}, edges=edges)  # fmt: skip


def test_seeds_distinct_and_fixed_kept() -> None:
    u = lattice(10)
    rng = np.random.default_rng(0)
    fixed = np.array([55, -1, -1, -1, -1])
    s = choose_seeds(u, 5, np.ones(100), rng, fixed=fixed)
    assert s[0] == 55
    assert len(set(s.tolist())) == 5


def test_grow_layout_balanced_and_connected() -> None:
    u = lattice(12)
    lab = grow_layout(u, 4, np.ones((144, 1)), seed=3)
    counts = np.bincount(lab, minlength=4)
    assert counts.min() > 0
    assert np.abs(counts / 36 - 1).max() < 0.25
    assert is_contiguous(u, lab, 4)


def test_grow_layout_locked_and_reproducible() -> None:
    u = lattice(8)
    locked = np.full(64, -1)
    locked[0] = 1
    a = grow_layout(u, 3, np.ones((64, 1)), seed=5, locked=locked)
    b = grow_layout(u, 3, np.ones((64, 1)), seed=5, locked=locked)
    assert a[0] == 1
    assert np.array_equal(a, b)
