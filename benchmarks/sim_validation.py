"""Validate the simulator against Erlang C (M/M/1 and M/M/c), Little's law and pooling.

For every (c, load) the simulation's 95 % interval over R replications must contain the
analytical mean wait, P(wait > 0), p90 of the wait and the share within a target. Each
check misses with probability about 5 % by chance, so the script fails when the misses
exceed the 99.9 % binomial quantile of that chance (and prints every check).

Run: ``.venv/bin/python benchmarks/sim_validation.py [--replications 200] [--engine mmc]``
"""

from __future__ import annotations

import argparse
import sys
import time

from scipy.stats import binom

from gridopt.sim import Estimate, SimConfig, erlang_c, erlang_c_within, simulate


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--replications", type=int, default=200)
    ap.add_argument("--customers", type=float, default=20000, help="per replication")
    ap.add_argument("--engine", default="mmc", choices=["mmc", "field"])
    ap.add_argument("--seed", type=int, default=2024)
    args = ap.parse_args(argv)
    R = args.replications
    rows = []
    misses = 0
    checks = 0
    t0 = time.perf_counter()
    print(f"{'c':>3} {'load':>5} {'kpi':<14} {'erlang':>10} {'sim':>10} {'95% interval':>24}  ok")
    for c in (1, 3, 10, 50):
        for load in (0.5, 0.7, 0.85, 0.95):
            mu = 1.0
            lam = load * c * mu
            horizon = args.customers / lam
            warm = min(0.1 * horizon, 50.0 / (c * mu - lam) + 20.0)
            target = 0.5 / mu
            cfg = SimConfig.mmc(lam, mu, c, horizon=horizon + warm, warmup=warm, wait_target=target)
            res = simulate(
                cfg, replications=R, seed=args.seed + c * 100 + int(load * 100), engine=args.engine
            )
            ref = erlang_c(lam, mu, c)
            analytic = {
                "wait_mean": ref["wait_mean"],
                "p_wait": ref["p_wait"],
                "wait_p90": ref["wait_p90"],
                "within_target": erlang_c_within(lam, mu, c, target),
            }
            for k, v in analytic.items():
                est = res.kpis[k]
                ok = est.contains(v)
                checks += 1
                misses += not ok
                rows.append((c, load, k, v, est, ok))
                print(
                    f"{c:>3} {load:>5.2f} {k:<14} {v:>10.4f} {est.mean:>10.4f} "
                    f"[{est.low:>10.4f}, {est.high:>10.4f}]  {'yes' if ok else 'NO'}"
                )
            # Little's law: L = lambda W (sampled), within 1 %
            if "in_system_mean" in res.kpis:
                L, lw = res.kpis["in_system_mean"], res.kpis["little_lambda_w"]
            else:
                # field engine: waiting tickets plus busy staff; no travel and one visit,
                # so arrival to fixed is the sojourn
                reps = res.replications
                span = cfg.horizon - cfg.warmup
                L = Estimate.of(reps["backlog_mean"] + reps["busy_staff_mean"])
                lw = Estimate.of(reps["arrivals"] / span * reps["response_fix_mean"])
            little_ok = abs(L.mean - lw.mean) <= 0.01 * lw.mean
            print(
                f"{c:>3} {load:>5.2f} {'little L=lW':<14} {ref['L']:>10.4f} {L.mean:>10.4f} "
                f"lambda*W={lw.mean:.4f}  {'yes' if little_ok else 'NO'}"
            )
            misses += not little_ok
    # pooled M/M/(kc) vs k dedicated M/M/c: pooling must wait less
    k, c, load = 4, 3, 0.85
    lam = load * c
    h = args.customers / lam
    pooled = simulate(SimConfig.mmc(k * lam, 1.0, k * c, horizon=h / k + 50, warmup=50), R, seed=7)
    dedicated = simulate(SimConfig.mmc(lam, 1.0, c, horizon=h + 50, warmup=50), R, seed=7)
    pool_ok = pooled.kpis["wait_mean"].high < dedicated.kpis["wait_mean"].low
    print(
        f"pooled M/M/{k * c} wait {pooled.kpis['wait_mean'].mean:.4f} "
        f"(Erlang {erlang_c(k * lam, 1.0, k * c)['wait_mean']:.4f}) < dedicated M/M/{c} "
        f"{dedicated.kpis['wait_mean'].mean:.4f} (Erlang {erlang_c(lam, 1.0, c)['wait_mean']:.4f}): "
        f"{'yes' if pool_ok else 'NO'}"
    )
    allowed = int(binom.ppf(0.999, checks, 0.05))
    print(
        f"\n{checks} Erlang C checks at {R} replications: {misses} outside the 95 % interval "
        f"(chance allows up to {allowed}); {time.perf_counter() - t0:.1f} s"
    )
    ok = misses <= allowed and pool_ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
