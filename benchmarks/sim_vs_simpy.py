"""gridopt's simulator against plain SimPy models of the same systems, same run.

Two models, each written once more in plain SimPy and run side by side in one process:

* ``mmc``: an M/M/c queue (one arrival and one departure event per customer).
* ``field``: grid field service: tickets arrive in each grid (Poisson, installs at
  priority 2 behind repairs), wait in the grid's queue for one of its technicians, who
  works a daily shift (staff of the same grid on staggered shifts), travels (lognormal
  around the grid's mean travel), repairs (lognormal), finishes the job in overtime after
  the shift end, and comes back after ``revisit_delay`` when the first visit did not fix
  the fault. No breaks, no help between grids, no campaign: the parts SimPy can state
  plainly.

Both sides draw from their own random streams with the same parameters, so their KPIs are
independent estimates of the same quantities: every KPI of one must lie in the other's 95 %
interval (or the intervals overlap). Speed is CPU time (``time.process_time``, one thread),
so other processes on a shared machine slow both sides alike; for the field model the two
sides run in interleaved rounds (one SimPy replication, then a few gridopt replications, each
a whole :func:`~gridopt.sim.simulate` call) so that a burst of outside load cannot fall on one
side only. It is printed as tickets (customers) per second of each side, which is the ratio
the target is stated in, and as events per second: gridopt's processed events, SimPy's
scheduled events (its event-id counter: every timeout, request and condition) and, for the
field model, SimPy's count of the same model events gridopt counts (ticket and revisit
arrivals, job ends, shift starts and ends; gridopt settles an on-site arrival when it assigns
the job, as nothing can interrupt a job), the fair events ratio.

Run: ``.venv/bin/python benchmarks/sim_vs_simpy.py [--model both] [--reps 10]``
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import sys
import time
from typing import Any

import numpy as np

from gridopt.sim import Estimate, SimConfig, erlang_c, simulate

DAY = 1440.0


def _n_events(env: Any) -> int:
    """Events SimPy scheduled in ``env`` (its event-id counter; read once, at the end)."""
    return next(env._eid)


# ------------------------------------------------------------------ M/M/c


def simpy_mmc(
    lam: float, mu: float, c: int, horizon: float, warmup: float, seed: int
) -> dict[str, float]:
    """Plain SimPy M/M/c: mean wait, P(wait > 0), customers measured, events."""
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
    return {
        "wait_mean": float(w.mean()),
        "p_wait": float((w > 0).mean()),
        "customers": float(w.size),
        "events": float(_n_events(env)),
    }


# ------------------------------------------------------------------ field model


def field_config(n_grids: int, days: float, warmup_days: float) -> SimConfig:
    """Grids with two technicians each, on 07:00-15:00 and 11:00-19:00 every day."""
    g = n_grids
    rate = 4.0 + 2.0 * (np.arange(g) % 3)  # 4, 6, 8 tickets a day
    return SimConfig(
        ticket_rate=rate,
        staff_grid=np.repeat(np.arange(g), 2),
        shift_start=np.tile([420.0, 660.0], g),
        shift_end=np.tile([900.0, 1140.0], g),
        workdays=127,
        break_minutes=0.0,
        travel_minutes=10.0 + 5.0 * (np.arange(g) % 4),
        travel_cv=0.4,
        repair_minutes=40.0,
        repair_cv=0.6,
        install_minutes=70.0,
        install_cv=0.3,
        install_share=0.2,
        fix_probability=0.85,
        revisit_delay=DAY,
        help_threshold=10**9,
        horizon=days * DAY,
        warmup=warmup_days * DAY,
        drain=10 * DAY,
    )


def simpy_field(cfg: SimConfig, seed: int) -> dict[str, float]:
    """The field model of :func:`field_config` in plain SimPy.

    Returns the mean arrival-to-on-site and arrival-to-fixed minutes, the share on site
    within the SLA, the revisit share (per fixed ticket), tickets measured and events.
    """
    import simpy

    rng = np.random.default_rng(seed)
    env = simpy.Environment()
    g = cfg.n_grids
    horizon, warmup = cfg.horizon, cfg.warmup
    stores = [simpy.PriorityStore(env) for _ in range(g)]
    order = itertools.count()
    onsite: list[float] = []
    fixed: list[float] = []
    revisits = [0]
    # the model's own events, counted as gridopt counts them: ticket and revisit arrivals,
    # job ends, shift starts and shift ends
    model_events = [0]
    tsig = math.sqrt(math.log1p(cfg.travel_cv**2))

    def lognormal(mean: float, cv: float) -> float:
        s = math.sqrt(math.log1p(cv * cv))
        return mean * math.exp(s * rng.standard_normal() - 0.5 * s * s)

    def source(env, grid: int):
        rate = cfg.ticket_rate[grid] / DAY
        while True:
            yield env.timeout(rng.exponential(1 / rate))
            if env.now >= horizon:
                return
            install = rng.random() < cfg.install_share
            visits = 1
            if not install:
                while rng.random() >= cfg.fix_probability:
                    visits += 1
            model_events[0] += 1
            job = {"arrive": env.now, "install": install, "visits": visits, "first": True}
            stores[grid].put(simpy.PriorityItem((2 if install else 1, next(order)), job))

    def revisit(env, grid: int, job: dict):
        yield env.timeout(cfg.revisit_delay)
        model_events[0] += 1
        stores[grid].put(simpy.PriorityItem((1, next(order)), job))

    def technician(env, grid: int, start: float, end: float):
        day = 0
        travel_mean = float(cfg.travel_minutes[grid])
        while True:
            s, e = day * DAY + start, day * DAY + end
            day += 1
            if env.now > e:
                continue
            if env.now < s:
                yield env.timeout(s - env.now)
            model_events[0] += 2  # this shift's start and end
            while env.now < e:
                get = stores[grid].get()
                got = yield get | env.timeout(e - env.now)
                if get not in got:
                    get.cancel()
                    break
                job = got[get].item
                yield env.timeout(
                    travel_mean * math.exp(tsig * rng.standard_normal() - 0.5 * tsig**2)
                )
                model_events[0] += 1  # the job end below (gridopt settles the on-site
                # arrival when it assigns the job: no event of its own)
                counted = warmup <= job["arrive"] < horizon
                if job["first"]:
                    job["first"] = False
                    if counted:
                        onsite.append(env.now - job["arrive"])
                if job["install"]:
                    yield env.timeout(lognormal(cfg.install_minutes, cfg.install_cv))
                else:
                    yield env.timeout(lognormal(cfg.repair_minutes, cfg.repair_cv))
                job["visits"] -= 1
                if job["visits"] <= 0:
                    if counted:
                        fixed.append(env.now - job["arrive"])
                else:
                    if counted:
                        revisits[0] += 1
                    env.process(revisit(env, grid, job))

    for grid in range(g):
        env.process(source(env, grid))
    for k in range(cfg.n_staff):
        grid = int(cfg.staff_grid[k])
        env.process(technician(env, grid, cfg.shift_start[k], cfg.shift_end[k]))
    env.run(until=horizon + cfg.drain)
    on = np.asarray(onsite)
    return {
        "response_onsite_mean": float(on.mean()),
        "response_fix_mean": float(np.mean(fixed)),
        "sla_share": float((on <= cfg.sla_minutes).mean()),
        "revisit_share": revisits[0] / max(len(fixed), 1),
        "customers": float(on.size),
        "events": float(_n_events(env)),
        "model_events": float(model_events[0]),
    }


# ------------------------------------------------------------------ runner


def _agree(a: Estimate, b: Estimate) -> bool:
    return a.contains(b.mean) or b.contains(a.mean) or (a.low <= b.high and b.low <= a.high)


def _compare(
    title: str,
    ours: dict[str, Any],
    ours_cpu: float,
    sp: list[dict[str, float]],
    sp_cpu: float,
    kpis: list[str],
    ref: dict[str, float] | None = None,
) -> tuple[bool, float]:
    """Print speeds and KPIs of both sides; ``ours`` holds per-replication KPI arrays,
    ``events`` and ``customers``. Returns (all KPIs agree, customers-per-second ratio)."""
    ours_cps = ours["customers"] / ours_cpu
    ours_eps = ours["events"] / ours_cpu
    sp_cps = sum(x["customers"] for x in sp) / sp_cpu
    sp_eps = sum(x["events"] for x in sp) / sp_cpu
    ratio = ours_cps / sp_cps
    print(title)
    print(f"  gridopt: {ours_cps:14,.0f} customers/s  {ours_eps:14,.0f} events/s (CPU, 1 thread)")
    print(f"  SimPy:   {sp_cps:14,.0f} customers/s  {sp_eps:14,.0f} events/s scheduled (CPU)")
    if all("model_events" in x for x in sp):
        # the same events on both sides: the model's own (see simpy_field)
        sp_meps = sum(x["model_events"] for x in sp) / sp_cpu
        print(
            f"  SimPy:   {'':14s}              {sp_meps:14,.0f} model events/s, as gridopt "
            f"counts them: ratio {ours_eps / sp_meps:,.0f}x"
        )
    print(f"  ratio:   {ratio:14,.0f}x (customers per CPU second)")
    ok = True
    for k in kpis:
        o = Estimate.of(ours["reps"][k])
        s = Estimate.of([x[k] for x in sp])
        agree = _agree(o, s)
        ok &= agree
        extra = f"  analytical {ref[k]:.4f}" if ref and k in ref else ""
        print(
            f"  {k:<22s} gridopt {o.mean:9.4f} [{o.low:.4f}, {o.high:.4f}]  SimPy {s.mean:9.4f} "
            f"[{s.low:.4f}, {s.high:.4f}]{extra}  {'agree' if agree else 'DIFFER'}"
        )
    return ok, ratio


def _ours(res: Any) -> dict[str, Any]:
    return {
        "reps": res.replications,
        "events": float(res.stats["events"]),
        "customers": float(res.kpis["arrivals"].mean * res.n_replications),
    }


def run_mmc(args: argparse.Namespace) -> tuple[bool, float]:
    mu, c = 1.0, args.c
    lam = args.load * c * mu
    warm = 100.0
    horizon = args.customers / lam + warm
    cfg = SimConfig.mmc(lam, mu, c, horizon=horizon, warmup=warm)
    simulate(cfg.replace(horizon=200.0 + warm), replications=2, seed=0, threads=1)  # compile
    c0 = time.process_time()
    ours = simulate(cfg, replications=args.reps, seed=1, threads=1)
    ours_cpu = time.process_time() - c0
    sp_reps = max(2, args.simpy_reps or args.reps)
    c0 = time.process_time()
    sp = [simpy_mmc(lam, mu, c, horizon, warm, seed=100 + r) for r in range(sp_reps)]
    sp_cpu = time.process_time() - c0
    ref = erlang_c(lam, mu, c)
    title = (
        f"M/M/{c} at load {args.load}: {args.reps} replications x {args.customers:,.0f} "
        f"customers (SimPy {sp_reps})"
    )
    return _compare(title, _ours(ours), ours_cpu, sp, sp_cpu, ["wait_mean", "p_wait"], ref)


def run_field(args: argparse.Namespace) -> tuple[bool, float]:
    cfg = field_config(args.grids, args.days, 7.0)
    # compile, and import what the statistics need, outside the timing
    simulate(cfg.replace(horizon=14 * DAY, drain=0.0), replications=2, seed=0, threads=1)
    # Interleaved rounds: one SimPy replication, then gridopt's --ours-per-round (a whole
    # simulate() call each, statistics included), so that load from other processes on a
    # shared machine falls on both sides alike rather than on one short gridopt burst.
    sp_reps = max(2, args.simpy_reps or args.reps)
    parts = []
    ours_cpu = sp_cpu = 0.0
    sp = []
    for r in range(sp_reps):
        c0 = time.process_time()
        sp.append(simpy_field(cfg, seed=200 + r))
        sp_cpu += time.process_time() - c0
        c0 = time.process_time()
        parts.append(simulate(cfg, replications=args.ours_per_round, seed=1 + r, threads=1))
        ours_cpu += time.process_time() - c0
    ours = {
        "reps": {
            k: np.concatenate([p.replications[k] for p in parts]) for k in parts[0].replications
        },
        "events": float(sum(p.stats["events"] for p in parts)),
        "customers": float(sum(p.replications["arrivals"].sum() for p in parts)),
    }
    title = (
        f"field model: {cfg.n_grids} grids, {cfg.n_staff} technicians on shifts, "
        f"{cfg.ticket_rate.sum():.0f} tickets/day, {args.days:.0f} days, load "
        f"{cfg.offered_load():.2f}: {sp_reps} rounds of {args.ours_per_round} gridopt "
        f"replications and 1 SimPy replication"
    )
    kpis = ["response_onsite_mean", "response_fix_mean", "sla_share", "revisit_share"]
    return _compare(title, ours, ours_cpu, sp, sp_cpu, kpis)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", choices=["mmc", "field", "both"], default="both")
    ap.add_argument("--customers", type=float, default=200_000, help="M/M/c, per replication")
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--simpy-reps", type=int, default=None, help="default: --reps")
    ap.add_argument(
        "--ours-per-round", type=int, default=4, help="field: gridopt replications per round"
    )
    ap.add_argument("--c", type=int, default=10)
    ap.add_argument("--load", type=float, default=0.9)
    ap.add_argument("--grids", type=int, default=30, help="field model")
    ap.add_argument("--days", type=float, default=120.0, help="field model")
    ap.add_argument("--target", type=float, default=100.0, help="speed ratio required")
    args = ap.parse_args(argv)
    ok = True
    if args.model in ("mmc", "both"):
        agree, ratio = run_mmc(args)
        ok &= agree and ratio >= args.target
    if args.model in ("field", "both"):
        agree, ratio = run_field(args)
        ok &= agree and ratio >= args.target
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
