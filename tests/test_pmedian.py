"""Tests of gridopt.partition.pmedian (capacitated p-median)."""

from __future__ import annotations

import numpy as np
import pytest

from gridopt.errors import InputError
from gridopt.partition import pmedian as pm
from gridopt.partition.pmedian import PMedianResult, capacitated_pmedian


def _check(r: PMedianResult, x, y, demand, capacity, p, cost=None):
    """Invariants every feasible result must satisfy; returns the recomputed cost."""
    n = len(x)
    assert r.medians.shape == (p,) and r.medians.dtype == np.int64
    assert r.assignment.shape == (n,) and r.assignment.dtype == np.int64
    assert len(set(r.medians.tolist())) == p
    assert np.isin(r.assignment, r.medians).all()
    assert (r.assignment[r.medians] == r.medians).all(), "a median must serve itself"
    cap = np.broadcast_to(np.asarray(capacity, dtype=float), (n,))
    assert (r.loads(demand) <= cap[r.medians] + 1e-9).all()
    if cost is None:
        total = float(np.hypot(x - x[r.assignment], y - y[r.assignment]).sum())
    else:
        total = float(np.asarray(cost)[np.arange(n), r.assignment].sum())
    assert r.cost == pytest.approx(total)
    return total


@pytest.fixture
def line4():
    """Points at 0, 1, 2, 10 on a line, unit demand."""
    return np.array([0.0, 1.0, 2.0, 10.0]), np.zeros(4), np.ones(4)


def test_uncapacitated_line(line4):
    x, y, d = line4
    r = capacitated_pmedian(x, y, d, 10.0, 2, time_limit=5, seed=0)
    # {0,1,2} around 1 costs 2, {10} alone costs 0
    assert r.cost == pytest.approx(2.0)
    assert r.medians.tolist() == [1, 3]
    assert r.status == "optimal" and r.feasible
    _check(r, x, y, d, 10.0, 2)


def test_capacity_binds(line4):
    x, y, d = line4
    r = capacitated_pmedian(x, y, d, 2.0, 2, time_limit=5, seed=0)
    # capacity 2 forces {0,1} (cost 1) + {2,10} (cost 8) = 9, better than 11 or 11
    assert r.cost == pytest.approx(9.0)
    assert r.feasible
    _check(r, x, y, d, 2.0, 2)


def test_demand_counts_not_cost(line4):
    x, y, _ = line4
    d = np.array([1.0, 1.0, 3.0, 1.0])
    r = capacitated_pmedian(x, y, d, 4.0, 2, time_limit=5, seed=0)
    # loads <= 4: point 2 (demand 3) can take one unit-demand point: {1,2}+{0,10}=1+10,
    # {0,1}+{2,10}: 1+8 = 9 (loads 2 and 4) is best; cost stays unweighted
    assert r.cost == pytest.approx(9.0)
    _check(r, x, y, d, 4.0, 2)


def test_candidates_restrict_medians(line4):
    x, y, d = line4
    r = capacitated_pmedian(x, y, d, 10.0, 2, candidates=[0, 3], time_limit=5, seed=0)
    assert r.medians.tolist() == [0, 3]
    assert r.cost == pytest.approx(3.0)  # 1 + 2 to point 0
    mask = np.array([False, False, True, True])
    r2 = capacitated_pmedian(x, y, d, 10.0, 2, candidates=mask, time_limit=5, seed=0)
    assert r2.medians.tolist() == [2, 3]
    assert r2.cost == pytest.approx(3.0)


def test_cost_matrix_used(line4):
    x, y, d = line4
    cost = np.floor(np.abs(x[:, None] - x[None, :]) / 2.0)  # 0,0,1,5 from point 0
    r = capacitated_pmedian(x, y, d, 10.0, 1, cost=cost, time_limit=5, seed=0)
    _check(r, x, y, d, 10.0, 1, cost=cost)
    # median 1 or 2: floor(1/2)+0+floor(1/2)+floor(9/2)=4; median 2: 1+0+0+4=5
    assert r.cost == pytest.approx(4.0)
    assert r.medians.tolist() == [1]


def test_per_point_capacity():
    x = np.array([0.0, 1.0, 2.0, 3.0])
    y = np.zeros(4)
    d = np.ones(4)
    cap = np.array([1.0, 1.0, 4.0, 1.0])
    r = capacitated_pmedian(x, y, d, cap, 1, time_limit=5, seed=0)
    # only point 2 can hold all four: cost 2 + 1 + 0 + 1
    assert r.medians.tolist() == [2]
    assert r.cost == pytest.approx(4.0)


@pytest.fixture
def random_city():
    """72 points in three clumps, demands 1..5, capacity for a bit more than 1/p."""
    rng = np.random.default_rng(7)
    centres = np.array([[0, 0], [50, 10], [20, 60]], dtype=float)
    pts = np.concatenate([c + rng.normal(scale=8.0, size=(24, 2)) for c in centres])
    d = rng.integers(1, 6, size=72).astype(float)
    p = 6
    cap = 1.25 * d.sum() / p
    return pts[:, 0].copy(), pts[:, 1].copy(), d, cap, p


def test_heuristic_path_feasible_and_deterministic(random_city):
    x, y, d, cap, p = random_city
    r1 = capacitated_pmedian(x, y, d, cap, p, time_limit=60, seed=3)
    r2 = capacitated_pmedian(x, y, d, cap, p, time_limit=60, seed=3)
    assert r1.stats["stopped_by"] != "time_limit"
    assert r1.feasible and r1.status in ("feasible", "optimal")
    _check(r1, x, y, d, cap, p)
    assert r1.medians.tolist() == r2.medians.tolist()
    assert r1.assignment.tolist() == r2.assignment.tolist()
    assert r1.cost == r2.cost
    # never worse than plain nearest-centre assignment to the same medians ignoring
    # capacity is a lower bound for those medians
    dmat = np.hypot(x[:, None] - x[r1.medians][None, :], y[:, None] - y[r1.medians][None, :])
    assert r1.cost >= dmat.min(axis=1).sum() - 1e-9


def test_progress_called(random_city):
    x, y, d, cap, p = random_city
    seen = []
    capacitated_pmedian(x, y, d, cap, p, time_limit=60, seed=0, progress=seen.append)
    assert seen and {"phase", "seconds", "cost", "feasible"} <= set(seen[0])
    costs = [s["cost"] for s in seen]
    assert costs == sorted(costs, reverse=True)


def test_large_path(monkeypatch, random_city):
    x, y, d, cap, p = random_city
    monkeypatch.setattr(pm, "DENSE_MAX", 50)
    r = capacitated_pmedian(x, y, d, cap, p, time_limit=10, seed=0)
    assert r.stats["path"] == "large"
    assert r.feasible
    _check(r, x, y, d, cap, p)
    again = capacitated_pmedian(x, y, d, cap, p, time_limit=10, seed=0)
    assert again.assignment.tolist() == r.assignment.tolist()


def test_infeasible_total_demand(line4):
    x, y, d = line4
    r = capacitated_pmedian(x, y, d, 1.5, 2, time_limit=2, seed=0)
    assert r.status == "infeasible" and not r.feasible
    assert "total demand 4 exceeds" in r.stats["reason"]
    assert "by 1" in r.stats["reason"]
    assert r.medians.shape == (2,)


def test_infeasible_single_demand():
    x = np.array([0.0, 1.0, 2.0])
    r = capacitated_pmedian(x, np.zeros(3), [1.0, 5.0, 1.0], 4.0, 3, time_limit=2, seed=0)
    assert r.status == "infeasible"
    assert "point 1 has demand 5" in r.stats["reason"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"x": [0.0, np.nan, 1.0]}, r"x: must be finite.*row 1"),
        ({"y": [0.0, 1.0]}, r"y: must have 3 rows"),
        ({"demand": [1.0, -1.0, 1.0]}, r"demand: must be >= 0.*row 1"),
        ({"capacity": [1.0, 0.0, 1.0]}, r"capacity: must be finite and > 0.*row 1"),
        ({"capacity": "big"}, r"capacity: must be a number"),
        ({"n_medians": 0}, r"n_medians: must be >= 1"),
        ({"n_medians": 4}, r"n_medians: is 4 but there are only 3 points"),
        ({"n_medians": 1.5}, r"n_medians: must be an integer"),
        ({"candidates": [0, 5]}, r"candidates: refer to points outside 0..2.*row 1"),
        ({"candidates": [1]}, r"candidates: has 1 distinct points, fewer than n_medians=2"),
        ({"candidates": np.array([True, False])}, r"candidates: boolean mask must have shape"),
        ({"cost": np.zeros((2, 2))}, r"cost: must have shape \(3, 3\)"),
        ({"cost": -np.ones((3, 3))}, r"cost: must be finite and >= 0.*rows 0, 1, 2"),
        ({"time_limit": 0}, r"time_limit: must be > 0"),
        ({"seed": -1}, r"seed: must be a non-negative integer"),
    ],
)
def test_bad_input(kwargs, match):
    args = {
        "x": [0.0, 1.0, 2.0],
        "y": [0.0, 0.0, 0.0],
        "demand": [1.0, 1.0, 1.0],
        "capacity": 2.0,
        "n_medians": 2,
    }
    args.update(kwargs)
    pos = [args.pop(k) for k in ("x", "y", "demand", "capacity", "n_medians")]
    with pytest.raises(InputError, match=match):
        capacitated_pmedian(*pos, **args)


def test_empty_points():
    with pytest.raises(InputError, match="x: is empty"):
        capacitated_pmedian([], [], [], 1.0, 1)


def _read_cpmp(path):
    toks = path.read_text().split()
    n = int(toks[0])
    a = np.array(toks[2 : 2 + 4 * n], dtype=float).reshape(n, 4)
    return int(toks[1]), a[:, 0], a[:, 1], a[:, 2], a[:, 3]


@pytest.mark.slow
def test_osman_christofides_cpmp01_optimal(shared):
    path = shared("benchmarks", "cpmp", "cpmp01.txt")
    p, x, y, cap, d = _read_cpmp(path)
    cost = np.floor(np.hypot(x[:, None] - x[None, :], y[:, None] - y[None, :]))
    r = capacitated_pmedian(x, y, d, cap, p, cost=cost, time_limit=20, seed=0)
    _check(r, x, y, d, cap, p, cost=cost)
    assert r.cost == pytest.approx(713.0)  # published optimum (values.csv)
