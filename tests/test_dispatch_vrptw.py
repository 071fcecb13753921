"""solve_vrptw's own engine ("sisr") and its Numba kernels (gridopt.dispatch._kernels)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridopt.dispatch import _kernels as K
from gridopt.dispatch import read_solomon, solve_vrptw
from gridopt.errors import InputError


def truncated(x, y):
    x, y = np.asarray(x, float), np.asarray(y, float)
    return np.floor(np.hypot(x[:, None] - x[None, :], y[:, None] - y[None, :]) * 10) / 10


def route_ok(inst, d, r, capacity):
    """(feasible, distance) of one route under Solomon conventions."""
    if sum(inst["demand"][c] for c in r) > capacity:
        return False, 0.0
    t, prev, total = inst["ready"][0], 0, 0.0
    for c in (*r, 0):
        t = max(t + inst["service"][prev] + d[prev, c], inst["ready"][c])
        if t > inst["due"][c] + 1e-9:
            return False, 0.0
        total += d[prev, c]
        prev = c
    return True, total


def brute_force(inst, capacity, n_vehicles):
    """Optimal distance: best order of every customer subset, then the best partition."""
    d = truncated(inst["x"], inst["y"])
    n = len(inst["x"])
    full = (1 << (n - 1)) - 1
    single = {}
    for mask in range(1, full + 1):
        members = [c for c in range(1, n) if mask >> (c - 1) & 1]
        best = np.inf
        for perm in itertools.permutations(members):
            ok, cost = route_ok(inst, d, perm, capacity)
            if ok and cost < best:
                best = cost
        single[mask] = best
    # best[k][mask]: cover mask with k routes
    best = [{0: 0.0}]
    for _ in range(n_vehicles):
        nxt = {}
        for mask, cost in best[-1].items():
            rest = full & ~mask
            sub = rest
            while sub:
                c = cost + single[sub]
                m = mask | sub
                if c < nxt.get(m, np.inf):
                    nxt[m] = c
                sub = (sub - 1) & rest
        best.append(nxt)
    return min(b.get(full, np.inf) for b in best)


def verify(inst, res, capacity):
    d = truncated(inst["x"], inst["y"])
    assert sorted(c for r in res.routes for c in r) == list(range(1, len(inst["x"])))
    total = 0.0
    for r in res.routes:
        ok, cost = route_ok(inst, d, r, capacity)
        assert ok, f"route {r} infeasible"
        total += cost
    assert res.cost == pytest.approx(total, abs=1e-6)


def random_instance(seed, n_customers=7):
    rng = np.random.default_rng(seed)
    x = np.r_[50.0, rng.integers(0, 100, n_customers)]
    y = np.r_[50.0, rng.integers(0, 100, n_customers)]
    # ready >= 80 > the farthest customer (71 away): everybody can be served alone
    ready = np.r_[0.0, rng.integers(80, 150, n_customers)]
    width = rng.integers(20, 120, n_customers)
    due = np.r_[400.0, ready[1:] + width]
    return {
        "x": x,
        "y": y,
        "demand": np.r_[0.0, rng.integers(1, 5, n_customers)],
        "ready": ready,
        "due": due,
        "service": np.r_[0.0, np.full(n_customers, 10.0)],
    }


def test_window_forces_the_longer_order():
    # customer 1 at (10, 0) opens at 100, customer 2 at (20, 0) closes at 30, so 2 comes
    # before 1; customer 3 at (0, 5) fits in front: 0-3-2-1-0 = 5 + 20.6 + 10 + 10 = 45.6
    # (reaches 2 at 25.6); 0-2-1-3-0 = 46.1; two routes 0-2-1-0 + 0-3-0 = 50
    inst = {
        "x": [0, 10, 20, 0],
        "y": [0, 0, 0, 5],
        "demand": [0, 1, 1, 1],
        "ready": [0, 100, 0, 0],
        "due": [1000, 200, 30, 1000],
        "service": [0, 0, 0, 0],
    }
    res = solve_vrptw(**inst, capacity=10, n_vehicles=3, iterations=2000, time_limit=None)
    verify({k: np.asarray(v, float) for k, v in inst.items()}, res, 10)
    assert res.cost == pytest.approx(45.6)
    assert res.routes == ((3, 2, 1),)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_matches_brute_force_on_seven_customers(seed):
    inst = random_instance(seed)
    capacity = 8.0
    opt = brute_force(inst, capacity, n_vehicles=7)
    res = solve_vrptw(**inst, capacity=capacity, n_vehicles=7, iterations=3000, time_limit=None)
    verify(inst, res, capacity)
    assert res.cost == pytest.approx(opt, abs=1e-6)
    assert res.status == "feasible" and res.stats["iterations"] == 3000


def test_tight_fleet_brute_force():
    # capacity 3 and two vehicles: demands 1, 1, 2, 2 pack only as {1,2-demand} pairs
    inst = {
        "x": np.array([0.0, 10, 12, -10, -12]),
        "y": np.array([0.0, 1, -1, 2, -2]),
        "demand": np.array([0.0, 1, 1, 2, 2]),
        "ready": np.zeros(5),
        "due": np.full(5, 500.0),
        "service": np.zeros(5),
    }
    opt = brute_force(inst, 3.0, n_vehicles=2)
    for seed in range(3):
        res = solve_vrptw(
            **inst, capacity=3, n_vehicles=2, iterations=500, time_limit=5.0, seed=seed
        )
        verify(inst, res, 3.0)
        assert res.n_vehicles == 2 and res.cost == pytest.approx(opt, abs=1e-6)


def test_same_seed_same_routes():
    inst = random_instance(7, n_customers=30)
    kw = dict(capacity=15, n_vehicles=10, time_limit=None)
    a = solve_vrptw(**inst, **kw, iterations=25_000, seed=3)
    b = solve_vrptw(**inst, **kw, iterations=25_000, seed=3)
    assert a.routes == b.routes and a.cost == b.cost
    assert a.stats["accepted"] == b.stats["accepted"]
    verify(inst, a, 15)


def test_progress_and_stats():
    events = []
    inst = random_instance(1)
    res = solve_vrptw(
        **inst, capacity=8, n_vehicles=7, iterations=100, time_limit=None, progress=events.append
    )
    stages = [e["stage"] for e in events]
    assert stages[0] == "construct" and stages[-1] == "done" and "search" in stages
    assert events[-1]["iteration"] == 100 and events[-1]["cost"] == res.cost
    assert res.stats["start_cost"] >= res.cost
    assert res.stats["engine"] == "sisr"


def test_cpu_time_limit_is_respected():
    inst = random_instance(2, n_customers=40)
    res = solve_vrptw(**inst, capacity=20, n_vehicles=20, time_limit=0.3, clock="cpu")
    assert res.status == "time_limit"
    assert res.stats["cpu_time"] < 0.3 + 0.25
    verify(inst, res, 20)


def test_ortools_engine_still_available():
    inst = random_instance(0)
    res = solve_vrptw(
        **inst, capacity=8, n_vehicles=7, solution_limit=50, time_limit=2.0, engine="ortools"
    )
    verify(inst, res, 8)
    assert res.stats["engine"] == "ortools"


def test_unreachable_customer_gives_infeasible_result():
    inst = random_instance(0, n_customers=5)
    inst["ready"][3], inst["due"][3] = 0.0, 5.0  # due 5 minutes after the start, farther away
    res = solve_vrptw(**inst, capacity=8, n_vehicles=5, iterations=100, time_limit=None)
    assert res.status == "infeasible" and res.routes == ()
    assert res.stats["unreachable"] == (3,)


def test_no_customers():
    res = solve_vrptw([0], [0], [0], [0], [10], [0], capacity=1, n_vehicles=1, iterations=5)
    assert res.routes == () and res.cost == 0.0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"engine": "ants"}, "engine: must be 'sisr' or 'ortools'"),
        ({"iterations": 0}, "iterations: must be >= 1"),
        ({"iterations": None, "time_limit": None}, "time_limit: give a time_limit"),
    ],
)
def test_bad_arguments(kwargs, match):
    inst = random_instance(0)
    args = {"capacity": 8, "n_vehicles": 7, "iterations": 10, **kwargs}
    with pytest.raises(InputError, match=match):
        solve_vrptw(**inst, **args)


# ----------------------------------------------------------------------------- kernels


def test_kernel_check_routes_and_costs():
    d = np.array([[0, 3, 4], [3, 0, 5], [4, 5, 0]], np.int64)
    z = np.zeros(3, np.int64)
    due = np.array([100, 100, 6], np.int64)
    demand = np.array([0.0, 2.0, 2.0])
    route = np.array([[1, 2, 0], [2, 0, 0]], np.int32)
    rlen = np.array([2, 1], np.int32)
    out = np.zeros(2, np.int64)
    assert K.route_costs(route, rlen, d, out) == 12 + 8 and out.tolist() == [12, 8]
    # route 0 reaches customer 2 at 8 > 6; route 1 at 4
    assert K.check_routes(route, rlen, d, z, z, due, demand, 5.0, out) == 1
    assert out.tolist() == [2, 0]
    assert K.check_routes(route, rlen, d, z, z, due, demand, 1.0, out) == 2
    assert out.tolist() == [2, 1]


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_iter=st.integers(1, 400))
def test_kernel_incremental_cost_equals_full_cost(seed, n_iter):
    # the search keeps its cost by deltas of the touched routes: it must equal a full
    # recount, for the current and the best solution, and both must stay feasible
    inst = random_instance(seed % 1000, n_customers=25)
    x, y = inst["x"], inst["y"]
    d = np.floor(np.hypot(x[:, None] - x[None, :], y[:, None] - y[None, :]) * 10).astype(np.int64)
    service, ready, due = (
        np.round(inst[k] * 10).astype(np.int64) for k in ("service", "ready", "due")
    )
    n, n_routes, cap = len(x), 25, 12.0  # a vehicle per customer: the start never fails
    route, rlen = np.zeros((n_routes, n), np.int32), np.zeros(n_routes, np.int32)
    order = np.random.default_rng(seed).permutation(np.arange(1, n)).astype(np.int32)
    assert K.greedy_build(d, service, ready, due, inst["demand"], cap, order, route, rlen) == 0
    out = np.zeros(n_routes, np.int64)
    start = K.route_costs(route, rlen, d, out)
    best_route, best_rlen = route.copy(), rlen.copy()
    cost = np.array([start, start], np.int64)
    neigh = (np.argsort(d[:, 1:], axis=1, kind="stable") + 1).astype(np.int32)
    stats = np.zeros(K.N_STATS, np.int64)
    state = np.array([seed], np.uint64)
    params = np.array([10.0, 10.0, 0.5, 0.01])
    K.sisr_search(
        d, service, ready, due, inst["demand"], cap, neigh, route, rlen, best_route, best_rlen,
        cost, state, n_iter, 50.0, 1.0, params, stats,
    )  # fmt: skip
    assert cost[0] == K.route_costs(route, rlen, d, out)
    assert cost[1] == K.route_costs(best_route, best_rlen, d, out) <= start
    for r, ln in ((route, rlen), (best_route, best_rlen)):
        assert K.check_routes(r, ln, d, service, ready, due, inst["demand"], cap, out) == 0
        assert sorted(r[k, j] for k in range(n_routes) for j in range(ln[k])) == list(range(1, n))
    assert stats[K.STAT_ACCEPTED] + stats[K.STAT_FAILED] <= n_iter


@pytest.mark.parametrize("name", ["C101", "R101", "RC105"])
def test_solomon_routes_are_feasible(shared, name):
    path = shared("benchmarks", "solomon", f"{name}.txt")
    inst = read_solomon(path)
    res = solve_vrptw(
        inst["x"], inst["y"], inst["demand"], inst["ready"], inst["due"], inst["service"],
        capacity=inst["capacity"], n_vehicles=inst["n_vehicles"], iterations=40_000,
        time_limit=None, seed=1,
    )  # fmt: skip
    verify(inst, res, inst["capacity"])
    assert res.n_vehicles <= inst["n_vehicles"]
    opt = float(path.with_suffix(".sol").read_text().split("Cost")[-1])
    assert opt - 1e-6 <= res.cost <= opt * 1.05
