"""gridopt's simulator against a plain SimPy model of the same M/M/c queue, same run.

Both models see the same parameters; events are counted the same way (one arrival and one
departure per customer). Prints customers/s and events/s of each, the ratio, and checks
that the mean wait and P(wait > 0) of each lie in the other's 95 % interval
(and both against Erlang C).

Run: ``.venv/bin/python benchmarks/sim_vs_simpy.py [--customers 200000] [--reps 10]``
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from gridopt.sim import Estimate, SimConfig, erlang_c, simulate


def simpy_mmc(
    lam: float, mu: float, c: int, horizon: float, warmup: float, seed: int
) -> tuple[float, float, int]:
    """Plain SimPy M/M/c; returns (mean wait, P(wait > 0), customers measured)."""
    import simpy

    rng = np.random.default_rng(seed)
    env = simpy.Environment()
    servers = simpy.Resource(env, capacity=c)
    waits: list[float] = []

    def customer(env, arrive, service):
        with servers.request() as req:
            yield req
            if arrive >= warmup:
                waits.append(env.now - arrive)
            yield env.timeout(service)

    def source(env):
        while True:
            yield env.timeout(rng.exponential(1 / lam))
            if env.now >= horizon:
                return
            env.process(customer(env, env.now, rng.exponential(1 / mu)))

    env.process(source(env))
    env.run()
    w = np.asarray(waits)
    return float(w.mean()), float((w > 0).mean()), int(w.size)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--customers", type=float, default=200_000, help="per replication")
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--c", type=int, default=10)
    ap.add_argument("--load", type=float, default=0.9)
    args = ap.parse_args(argv)
    mu, c = 1.0, args.c
    lam = args.load * c * mu
    warm = 100.0
    horizon = args.customers / lam + warm
    cfg = SimConfig.mmc(lam, mu, c, horizon=horizon, warmup=warm)
    simulate(
        cfg.replace(horizon=200.0 + warm), replications=2, seed=0
    )  # compile outside the timing
    ours = simulate(cfg, replications=args.reps, seed=1, threads=1)
    t0 = time.perf_counter()
    sp = [simpy_mmc(lam, mu, c, horizon, warm, seed=100 + r) for r in range(args.reps)]
    t_simpy = time.perf_counter() - t0
    n_simpy = sum(x[2] for x in sp)
    sp_wait = Estimate.of([x[0] for x in sp])
    sp_pw = Estimate.of([x[1] for x in sp])
    ours_cps = ours.stats["customers_per_s"]
    simpy_cps = n_simpy / t_simpy
    ref = erlang_c(lam, mu, c)
    print(
        f"M/M/{c} at load {args.load}, {args.reps} replications x {args.customers:.0f} customers, one thread"
    )
    print(f"  gridopt: {ours_cps:,.0f} customers/s, {ours.stats['events_per_s']:,.0f} events/s")
    print(f"  SimPy:   {simpy_cps:,.0f} customers/s, {2 * simpy_cps:,.0f} events/s")
    print(f"  ratio:   {ours_cps / simpy_cps:,.0f}x")
    ow, op = ours.kpis["wait_mean"], ours.kpis["p_wait"]
    print(
        f"  wait_mean gridopt {ow.mean:.4f} [{ow.low:.4f}, {ow.high:.4f}]  SimPy {sp_wait.mean:.4f} "
        f"[{sp_wait.low:.4f}, {sp_wait.high:.4f}]  Erlang C {ref['wait_mean']:.4f}"
    )
    print(
        f"  p_wait    gridopt {op.mean:.4f} [{op.low:.4f}, {op.high:.4f}]  SimPy {sp_pw.mean:.4f} "
        f"[{sp_pw.low:.4f}, {sp_pw.high:.4f}]  Erlang C {ref['p_wait']:.4f}"
    )
    agree = (ow.contains(sp_wait.mean) or sp_wait.contains(ow.mean)) and (
        op.contains(sp_pw.mean) or sp_pw.contains(op.mean)
    )
    print(f"  statistics agree: {'yes' if agree else 'NO'}")
    return 0 if agree and ours_cps / simpy_cps >= 100 else 1


if __name__ == "__main__":
    sys.exit(main())
