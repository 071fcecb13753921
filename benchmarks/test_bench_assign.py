"""Assign benchmarks: the generic GAP and household ownership.

Ratios against references measured in the same run:

* ``solve_gap`` (LP core + reduced-cost fixing + CP-SAT) against the textbook CP-SAT
  model of the OR-Tools samples (all pairs, no hint), both to proven optimality;
* ``assign_owners`` against a nearest-owner greedy in numpy (what a planner would write
  first, ignoring limits): the price of optimising with limits and continuity.

Households come from the synthetic city; grids are square tiles with about five
account managers each (a stand-in for a partition layout).
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import sizes
from ortools.sat.python import cp_model

from gridopt.assign import OwnerLimits, assign_owners, solve_gap
from gridopt.assign.gap import _warm_kernels
from gridopt.model import SKILL_SENIOR, Staff
from gridopt.synth import generate_city

GAP_JOBS = sizes([40], [100, 200])
N_HOUSEHOLDS = sizes([20_000], [100_000, 1_000_000])


def _gap_instance(n_jobs: int, n_agents: int = 5, seed: int = 0):
    """Chu-Beasley type-C-like instance: capacities 80 % of the average weight load."""
    rng = np.random.default_rng(seed)
    c = rng.integers(10, 50, (n_agents, n_jobs))
    w = rng.integers(5, 25, (n_agents, n_jobs))
    return c, w, np.floor(0.8 * w.sum(axis=1) / n_agents)


def _textbook_gap(c, w, cap) -> float:
    m, n = c.shape
    mdl = cp_model.CpModel()
    x = [[mdl.new_bool_var("") for _ in range(n)] for _ in range(m)]
    for j in range(n):
        mdl.add_exactly_one(x[i][j] for i in range(m))
    for i in range(m):
        mdl.add(sum(int(w[i, j]) * x[i][j] for j in range(n)) <= int(cap[i]))
    mdl.minimize(sum(int(c[i, j]) * x[i][j] for i in range(m) for j in range(n)))
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 2
    solver.parameters.max_time_in_seconds = 60
    solver.solve(mdl)
    return solver.objective_value


@pytest.fixture(scope="module", autouse=True)
def _compiled():
    """Load (or compile) solve_gap's Numba kernels once, outside every timed call."""
    _warm_kernels()


@pytest.mark.parametrize("n_jobs", GAP_JOBS)
def test_solve_gap(benchmark, n_jobs):
    c, w, cap = _gap_instance(n_jobs)
    res = benchmark.pedantic(
        solve_gap, args=(c, w, cap), kwargs={"time_limit": 20, "num_workers": 2}, rounds=1
    )
    assert res.status == "optimal"


@pytest.mark.parametrize("n_jobs", GAP_JOBS)
def test_reference_textbook_cpsat(benchmark, n_jobs):
    c, w, cap = _gap_instance(n_jobs)
    obj = benchmark.pedantic(_textbook_gap, args=(c, w, cap), rounds=1)
    assert obj == solve_gap(c, w, cap, time_limit=20, num_workers=2).objective


def _ownership_case(n: int, per_owner: int = 500, seed: int = 0):
    """Households of the synthetic city, tiles of ~5 owners, current owners, limits."""
    hh = generate_city(n, seed=seed, days=0).households
    rng = np.random.default_rng(seed)
    n_owners = max(5, n // per_owner)
    k = max(1, int(round(np.sqrt(n_owners / 5))))
    gx = np.searchsorted(np.quantile(hh.x, np.linspace(0, 1, k + 1)[1:-1]), hh.x)
    hg = np.zeros(n, np.int64)
    for i in range(k):
        sel = gx == i
        qy = np.quantile(hh.y[sel], np.linspace(0, 1, k + 1)[1:-1])
        hg[sel] = i * k + np.searchsorted(qy, hh.y[sel])
    cnt = np.bincount(hg, minlength=k * k)
    per = np.maximum(1, np.round(cnt / per_owner)).astype(np.int64)
    og = np.repeat(np.arange(k * k), per)
    order = np.argsort(hg, kind="stable")
    starts = np.searchsorted(hg[order], np.arange(k * k + 1))
    pick = np.array([order[starts[g] + rng.integers(starts[g + 1] - starts[g])] for g in og])
    mean = cnt[og] / per[og]
    no = og.size
    skills = np.where(np.r_[True, og[1:] != og[:-1]], SKILL_SENIOR, 0)
    staff = Staff(
        ids=np.arange(1, no + 1), role=np.full(no, 2), x=hh.x[pick], y=hh.y[pick],
        shift_start=np.full(no, 480.0), shift_end=np.full(no, 960.0), skills=skills,
        capacity=np.ceil(mean * 1.1), grid=og,
    )  # fmt: skip
    first = np.r_[0, np.cumsum(per)][hg]
    current = staff.ids[first + rng.integers(0, 1 << 30, n) % per[hg]]
    current[rng.random(n) < 0.05] = -1
    limits = OwnerLimits(min_households=np.floor(mean * 0.9), max_households=np.ceil(mean * 1.1))
    return hh, staff, hg, current, limits


@pytest.fixture(scope="module", params=N_HOUSEHOLDS)
def ownership(request):
    return _ownership_case(request.param)


def test_assign_owners(benchmark, ownership):
    hh, staff, hg, current, limits = ownership
    res = benchmark.pedantic(
        assign_owners,
        args=(hh, staff),
        kwargs={
            "household_grid": hg, "limits": limits, "current_owner": current,
            "max_changes": hh.n_households // 10, "time_limit": 240, "n_parallel": 2,
            "deterministic": False,
        },
        rounds=1,
    )  # fmt: skip
    assert res.is_feasible(), res.reasons[:3]
    benchmark.extra_info.update(gap=res.gap, n_changes=res.n_changes, status=res.status)


def test_reference_nearest_owner_greedy(benchmark, ownership):
    hh, staff, hg, _, _ = ownership

    def greedy():
        out = np.empty(hh.n_households, np.int64)
        for g in np.unique(hg):
            h = np.flatnonzero(hg == g)
            o = np.flatnonzero(staff.grid == g)
            d = np.hypot(hh.x[h, None] - staff.x[o], hh.y[h, None] - staff.y[o])
            out[h] = o[np.argmin(d, axis=1)]
        return out

    out = benchmark.pedantic(greedy, rounds=1)
    assert (out >= 0).all()
