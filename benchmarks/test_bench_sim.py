"""Microbenchmarks of the simulator (M/M/c kernel and field model), speed as a ratio.

Kernels are compiled in a session fixture, so compile time is never timed. The M/M/c run
is reported against a reference measured in the same run: a plain Python loop of the same
queue (Lindley recursion on the same number of customers).
"""

from __future__ import annotations

import heapq
import time

import numpy as np
import pytest

from benchmarks.conftest import sizes
from gridopt.sim import SimConfig, simulate


@pytest.fixture(scope="session")
def compiled() -> bool:
    simulate(SimConfig.mmc(0.5, 1.0, 1, horizon=50.0), replications=2, seed=0)
    simulate(
        SimConfig(ticket_rate=[2.0], staff_grid=[0], horizon=2 * 1440.0), replications=2, seed=0
    )
    return True


def _python_mmc(lam: float, mu: float, c: int, n: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    inter = rng.exponential(1 / lam, n)
    serv = rng.exponential(1 / mu, n)
    free = [0.0] * c
    t = 0.0
    total = 0.0
    for i in range(n):
        t += inter[i]
        f = heapq.heappop(free)
        start = f if f > t else t
        total += start - t
        heapq.heappush(free, start + serv[i])
    return total / n


@pytest.mark.parametrize("customers", sizes([20_000], [2_000_000]))
def test_bench_mmc(benchmark, compiled, customers):
    lam, c = 9.0, 10
    cfg = SimConfig.mmc(lam, 1.0, c, horizon=customers / lam)
    res = benchmark(simulate, cfg, replications=1, seed=1, threads=1)
    n_ref = min(customers, 200_000)
    t0 = time.perf_counter()
    _python_mmc(lam, 1.0, c, n_ref, 1)
    ref_rate = n_ref / (time.perf_counter() - t0)
    benchmark.extra_info["customers_per_s"] = res.stats["customers_per_s"]
    benchmark.extra_info["ratio_vs_python_lindley"] = res.stats["customers_per_s"] / ref_rate
    assert res.kpis["arrivals"].mean > 0.9 * customers


@pytest.mark.parametrize("n_grids", sizes([20], [2000]))
def test_bench_field(benchmark, compiled, n_grids):
    g = n_grids
    side = int(np.ceil(np.sqrt(g)))
    nb = [
        [
            j
            for j in (i - 1, i + 1, i - side, i + side)
            if 0 <= j < g and (abs(j - i) != 1 or j // side == i // side)
        ]
        for i in range(g)
    ]
    cfg = SimConfig(
        ticket_rate=np.full(g, 6.0),
        staff_grid=np.repeat(np.arange(g), 2),
        neighbours=nb,
        region=np.arange(g) // 25,
        horizon=30 * 1440.0,
    )
    res = benchmark(simulate, cfg, replications=2, seed=1)
    benchmark.extra_info["events_per_s"] = res.stats["events_per_s"]
    assert res.status == "feasible"


@pytest.mark.parametrize("days", sizes([20], [120]))
def test_bench_field_vs_simpy(benchmark, compiled, days):
    """Field model with shifts and travel; reference: the plain SimPy model, same run."""
    from benchmarks.sim_vs_simpy import field_config, simpy_field

    cfg = field_config(30, float(days), 2.0)
    res = benchmark(simulate, cfg, replications=2, seed=1, threads=1)
    c0 = time.process_time()
    ref = simpy_field(cfg.replace(horizon=min(days, 20) * 1440.0), seed=3)
    ref_rate = ref["customers"] / (time.process_time() - c0)
    c0 = time.process_time()
    ours = simulate(cfg, replications=2, seed=1, threads=1)
    rate = ours.kpis["arrivals"].mean * 2 / (time.process_time() - c0)
    benchmark.extra_info["tickets_per_cpu_s"] = rate
    benchmark.extra_info["ratio_vs_simpy"] = rate / ref_rate
    assert res.kpis["arrivals"].mean > 0 and ref["customers"] > 0
