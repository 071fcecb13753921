"""Capacitated p-median benchmarks.

Ratios are against plain references measured in the same run (``extra_info``):

- one capacitated assignment of all points to fixed medians (Numba regret greedy plus
  shift/swap moves) versus a plain-NumPy *uncapacitated* nearest-median assignment of
  the same points (``argmin`` over the same dense cost columns);
- a whole solve on the large (k-d tree) path versus one k-d tree nearest-median query of
  all points (the cheapest possible uncapacitated assignment).
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from conftest import sizes

from gridopt.partition import _kernels as K
from gridopt.partition.pmedian import capacitated_pmedian


def _instance(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.random(n) * 10_000.0
    y = rng.random(n) * 10_000.0
    demand = rng.integers(1, 10, size=n).astype(np.float64)
    return x, y, demand


@pytest.fixture(scope="session", autouse=True)
def compiled():
    """Compile (or load) the Numba kernels once so compile time is never timed."""
    x, y, d = _instance(80, seed=1)
    capacitated_pmedian(x, y, d, 1.3 * d.sum() / 8, 8, time_limit=2.0, seed=0)


@pytest.mark.parametrize("n", sizes([400], [400, 2000]))
def test_evaluate_medians(benchmark, n):
    x, y, dem = _instance(n)
    p = max(2, n // 10)
    C = np.hypot(x[:, None] - x[None, :], y[:, None] - y[None, :])
    cap = np.full(n, 1.2 * dem.sum() / p)
    med = np.linspace(0, n - 1, p).astype(np.int64)
    work = dict(
        Cm=np.empty((n, p)),
        slot_ids=np.ascontiguousarray(np.broadcast_to(np.arange(p, dtype=np.int32), (n, p))),
        cap_slot=np.empty(p),
        fixed_slot=np.empty(n, dtype=np.int32),
        regret=np.empty(n),
        label=np.empty(n, dtype=np.int32),
        load=np.empty(p),
        start=np.empty(p + 1, dtype=np.int64),
        members=np.empty(n, dtype=np.int64),
    )

    def run():
        return K.evaluate_medians(C, med, dem, cap, *work.values())

    over, cost = benchmark(run)
    # reference: uncapacitated nearest median with NumPy, timed in the same run
    reps = 20
    t0 = time.perf_counter()
    for _ in range(reps):
        ref = C[:, med].min(axis=1).sum()
    t_ref = (time.perf_counter() - t0) / reps
    t0 = time.perf_counter()
    for _ in range(reps):
        run()
    t_ours = (time.perf_counter() - t0) / reps
    benchmark.extra_info["ratio_vs_numpy_uncapacitated"] = t_ours / t_ref
    assert over == 0.0
    assert cost >= ref - 1e-6  # capacities can only add cost


@pytest.mark.parametrize("n", sizes([5_000], [20_000, 100_000]))
def test_large_path_solve(benchmark, n):
    from scipy.spatial import cKDTree

    x, y, dem = _instance(n)
    p = n // 100
    cap = 1.2 * dem.sum() / p
    res = benchmark.pedantic(
        capacitated_pmedian,
        args=(x, y, dem, cap, p),
        kwargs={"time_limit": 120.0, "seed": 0},
        rounds=1,
        iterations=1,
    )
    assert res.stats["path"] == "large"
    assert res.feasible
    t0 = time.perf_counter()
    pts = np.column_stack([x, y])
    nearest, _ = cKDTree(pts[res.medians]).query(pts, k=1)
    t_ref = time.perf_counter() - t0
    benchmark.extra_info["seconds"] = res.stats["seconds"]
    benchmark.extra_info["ratio_vs_kdtree_query"] = res.stats["seconds"] / t_ref
    benchmark.extra_info["cost_vs_uncapacitated"] = res.cost / float(nearest.sum())
    assert res.cost >= float(nearest.sum()) - 1e-6
