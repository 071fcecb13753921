"""Fit check on real data: Boston 311 repair tickets of 2015, replayed through the simulator.

For each request type (default: Traffic Signal Repair, its main crew queue) the script

1. reads the file with :func:`gridopt.io.tickets.read_tickets` (tickets on the City Hall
   default point dropped) and keeps the crew queue's tickets;
2. estimates the arrival profile (tickets per day, share per hour of the day and day of
   the week) and the crew's working schedule from the close times (the hours holding the
   central 90 % of closes on the days with at least half the mean weekday closes);
3. replays the real arrival stream (:attr:`SimConfig.arrival_times`) into one grid
   served by ``c`` crews on that schedule, with lognormal work times (travel included);
4. fits the capacity: for each ``c`` the mean work minutes are set by bisection so that
   the simulated median time-to-close matches the real one (common random numbers make
   the median monotone in the work time), and the ``c`` with the smallest
   Kolmogorov-Smirnov distance is kept;
5. prints the real and simulated time-to-close quantiles (simulated: mean and 95 %
   interval over replications) and the KS distance, and exits non-zero when the distance
   exceeds ``--max-ks``.

The data lie in ``../shared/realdata/boston311_2015`` (relative to the project root); the
script skips (exit 0) when they are absent. Close minus open time of the real tickets
includes waiting, so only the total (not the on-site time) is compared.

Run: ``.venv/bin/python benchmarks/sim_fit_boston.py [--type "Traffic Signal Repair"]``
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np

from gridopt.sim import Estimate, SimConfig, simulate

DAY = 1440.0
DATA = Path(__file__).resolve().parents[1].parent / "shared" / "realdata" / "boston311_2015"
QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)


def load(request_type: str, queue: str | None) -> dict:
    """Arrivals (minutes), time-to-close of closed tickets and the close times."""
    from gridopt.io.tickets import read_tickets

    imp = read_tickets(DATA / f"{request_type}.csv")
    fr = imp.frame
    if queue is None:
        queue = str(fr["queue"].value_counts().index[0])
    fr = fr[fr["queue"] == queue]
    closed = fr[np.isfinite(fr["time_to_close"].to_numpy(float))]
    close_min = closed["time"].to_numpy(float) + closed["time_to_close"].to_numpy(float)
    return {
        "queue": queue,
        "arrivals": np.sort(fr["time"].to_numpy(float)),
        "ttc": closed["time_to_close"].to_numpy(float),
        "close": close_min,
        "start": imp.start,
        "n_dropped": imp.n_rows - imp.counts["kept"],
    }


def schedule(close: np.ndarray, start_weekday: int) -> tuple[int, float, float]:
    """Workday bitmask and shift (minutes after midnight) from the close times."""
    day = (np.floor(close / DAY).astype(np.int64) + start_weekday) % 7
    per_day = np.bincount(day, minlength=7).astype(float)
    workdays = per_day >= 0.5 * per_day[:5].mean()
    mask = int(sum(1 << d for d in range(7) if workdays[d]))
    minute = np.mod(close, DAY)[workdays[day]]
    lo, hi = np.quantile(minute, [0.05, 0.95])
    s0 = float(np.floor(lo / 60.0) * 60.0)
    s1 = float(max(np.ceil(hi / 60.0) * 60.0, s0 + 60.0))
    return mask, s0, s1


def sim_ttc(cfg: SimConfig, seed: int) -> np.ndarray:
    """Arrival-to-fixed minutes of every replayed ticket of one replication."""
    ev = simulate(cfg, replications=1, seed=seed, record_events=True, max_records=10**7).events
    arr = ev[ev.event == "arrival"].set_index("ticket")["time"]
    done = ev[(ev.event == "job_end") & (ev.value == 0.0)].set_index("ticket")["time"]
    both = done.index.intersection(arr.index)
    return (done.loc[both] - arr.loc[both]).to_numpy()


def ks(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov distance."""
    grid = np.sort(np.r_[a, b])
    fa = np.searchsorted(np.sort(a), grid, side="right") / a.size
    fb = np.searchsorted(np.sort(b), grid, side="right") / b.size
    return float(np.abs(fa - fb).max())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--type", default="Traffic Signal Repair", help="file name without .csv")
    ap.add_argument("--queue", default=None, help="crew queue (default: the largest)")
    ap.add_argument("--crews", default="1,2,3,4", help="crew counts to try")
    ap.add_argument("--cv", type=float, default=1.0, help="work-time coefficient of variation")
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--max-ks", type=float, default=0.15)
    args = ap.parse_args(argv)
    if not (DATA / f"{args.type}.csv").exists():
        print(f"skipped: {DATA / (args.type + '.csv')} not found")
        return 0
    t0 = time.perf_counter()
    logging.getLogger("gridopt.sim").setLevel(logging.ERROR)  # bisection visits overloads
    d = load(args.type, args.queue)
    arr = d["arrivals"]
    days = float(np.ceil((arr.max() + 1.0) / DAY))
    weekday = int(d["start"].weekday())
    mask, s0, s1 = schedule(d["close"], weekday)
    hours = np.bincount((np.mod(arr, DAY) // 60).astype(np.int64), minlength=24)
    dows = np.bincount(((arr // DAY).astype(np.int64) + weekday) % 7, minlength=7)
    real = d["ttc"]
    real_q = np.quantile(real, QUANTILES)
    print(f"{args.type}, queue {d['queue']!r}: {arr.size} tickets over {days:.0f} days")
    print(f"  arrivals/day {arr.size / days:.2f}; share by hour of day (%):")
    print("   ", " ".join(f"{100 * h / hours.sum():.0f}" for h in hours))
    print(
        "  share by day of week Mon..Sun (%):",
        " ".join(f"{100 * x / dows.sum():.0f}" for x in dows),
    )
    wd = "".join("MTWTFSS"[i] if mask >> i & 1 else "-" for i in range(7))
    print(f"  crew schedule from close times: {wd} {s0 / 60:02.0f}:00-{s1 / 60:02.0f}:00")
    # the simulated day 0 is a Monday: shift the stream so weekdays line up
    offset = weekday * DAY
    base = dict(
        ticket_rate=[arr.size / days],
        shift_start=s0,
        shift_end=s1,
        workdays=mask,
        break_minutes=0.0,
        travel_minutes=0.0,
        duration="lognormal",
        install_share=0.0,
        fix_probability=1.0,
        horizon=days * DAY + offset,
        drain=120 * DAY,
        fix_bin=30.0,
        arrival_times=arr + offset,
    )
    best = None
    for c in (int(x) for x in args.crews.split(",")):
        lo, hi = 1.0, 8.0 * 60.0 * c * (s1 - s0) / 60.0 / max(arr.size / days, 1e-9)
        for _ in range(14):
            mid = np.sqrt(lo * hi)
            cfg = SimConfig(staff_grid=[0] * c, repair_minutes=mid, repair_cv=args.cv, **base)
            med = np.median(sim_ttc(cfg, seed=0))
            lo, hi = (mid, hi) if med < real_q[2] else (lo, mid)
        cfg = SimConfig(
            staff_grid=[0] * c, repair_minutes=np.sqrt(lo * hi), repair_cv=args.cv, **base
        )
        dist = ks(real, sim_ttc(cfg, seed=0))
        print(
            f"  c = {c}: work {cfg.repair_minutes:7.1f} min/ticket, load "
            f"{cfg.offered_load():.2f}, KS distance {dist:.3f}"
        )
        if best is None or dist < best[0]:
            best = (dist, cfg)
    assert best is not None
    cfg = best[1]
    sims = [sim_ttc(cfg, seed=1 + r) for r in range(args.reps)]
    sim_q = np.array([np.quantile(s, QUANTILES) for s in sims])
    dists = [ks(real, s) for s in sims]
    print(
        f"fit: {cfg.n_staff} crews x {cfg.repair_minutes:.1f} min per ticket; "
        f"{args.reps} replications of the replayed stream"
    )
    print(f"  {'quantile':>8} {'real (h)':>10} {'simulated (h)':>14} {'95% interval':>20}")
    for i, q in enumerate(QUANTILES):
        e = Estimate.of(sim_q[:, i] / 60.0)
        print(f"  {q:8.2f} {real_q[i] / 60.0:10.1f} {e.mean:14.1f}   [{e.low:7.1f}, {e.high:7.1f}]")
    e = Estimate.of(dists)
    print(
        f"  mean time-to-close: real {real.mean() / 60:.1f} h, simulated "
        f"{np.mean([s.mean() for s in sims]) / 60:.1f} h; KS distance {e.mean:.3f} "
        f"[{e.low:.3f}, {e.high:.3f}] (limit {args.max_ks}); {time.perf_counter() - t0:.1f} s"
    )
    return 0 if e.mean <= args.max_ks else 1


if __name__ == "__main__":
    sys.exit(main())
