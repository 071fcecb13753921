"""Partition benchmarks: the sample city, and the scale target (lattice of units).

``extra_info`` reports the status, worst deviation per attribute, proposals per second,
and ``proposals_per_numpy_full``: how many delta-evaluated proposals the search makes in
the time one plain-NumPy full re-evaluation of the layout takes (measured in the same run).
Under ``make bench`` the scale case is 1,000,000 units in 2,000 grids, 3 attributes at
+/-5 %, 300 s limit (the issue's target).
"""

from __future__ import annotations

import time

import pytest
from conftest import sizes
from test_bench_score import lattice_units, numpy_full

from gridopt import Objective, partition
from gridopt.score import Scorer

SCALE = sizes([(40_000, 80, 8.0)], [(1_000_000, 2_000, 300.0)])
CITY_TIME = sizes([5.0], [30.0])[0]
OBJ = Objective(balance={"households": 0.05, "subscribers": 0.05, "tickets_per_day": 0.05})


@pytest.fixture(scope="session")
def compiled():
    u = lattice_units(400)
    partition(u, 4, OBJ, seed=0, max_iterations=2000, time_limit=1e6)
    return True


def _report(benchmark, units, res, k):
    sc = Scorer(units, k, OBJ)
    t = time.perf_counter()
    numpy_full(units, res.labels, k, sc)
    t_numpy = time.perf_counter() - t
    search_time = max(res.runtime - res.stats["seed_time"], 1e-9)
    rate = res.stats["iterations"] / search_time
    benchmark.extra_info.update(
        n_units=units.n_units, n_grids=k, status=res.status, runtime_s=res.runtime,
        seed_time_s=res.stats["seed_time"], proposals_per_s=rate,
        time_to_feasible_s=res.stats.get("time_to_feasible"),
        proposals_per_numpy_full=rate * t_numpy,
        **{f"max_dev_{a}": v for a, v in res.score.max_deviation.items()},
    )  # fmt: skip


def test_partition_sample_city(benchmark, compiled):
    from gridopt.io.units import build_units
    from gridopt.synth import generate_city

    city = generate_city(sizes([20_000], [100_000])[0], seed=0, days=0)
    units = build_units(city.households, by="building", barriers=city.barriers)
    obj = Objective(balance={"households": 0.05, "subscribers": 0.08, "tickets_per_day": 0.10})
    k = max(2, int(units.attribute("households").sum() // 2000))
    res = benchmark.pedantic(
        partition,
        args=(units, k, obj),
        kwargs={"seed": 0, "time_limit": 10.0},
        rounds=1,
        iterations=1,
    )
    _report(benchmark, units, res, k)
    assert res.contiguous


@pytest.mark.slow
@pytest.mark.parametrize(("n_units", "n_grids", "time_limit"), SCALE)
def test_partition_scale(benchmark, compiled, n_units, n_grids, time_limit):
    units = lattice_units(n_units)
    res = benchmark.pedantic(
        partition, args=(units, n_grids, OBJ), kwargs={"seed": 0, "time_limit": time_limit},
        rounds=1, iterations=1,
    )  # fmt: skip
    _report(benchmark, units, res, n_grids)
    assert res.contiguous
