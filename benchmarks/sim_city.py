"""Speed of the field simulator on a 1,000,000-household city, one year, 100 replications.

Builds the synthetic city (:func:`gridopt.synth.generate_city`), its building units
(:func:`gridopt.io.units.build_units`), a 2,000-grid layout (by default a quick
strip labelling of the unit centroids, balanced on tickets; ``--partition`` grows a
contiguous layout with :func:`gridopt.partition.grow_layout` instead), places the field
staff in the grid nearest their home, builds :meth:`gridopt.sim.SimConfig.from_city` and
times :func:`gridopt.sim.simulate`. The configuration is cached (``--cache FILE``) so that
repeated timings skip the city build. Compile time is paid before the timing; the timing
is the whole :func:`~gridopt.sim.simulate` call (wall and CPU time: on a shared machine the
CPU time over the threads is what the run takes on idle cores).

Run: ``.venv/bin/python benchmarks/sim_city.py [--households 1000000] [--reps 100]``
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from gridopt.sim import SimConfig, simulate


def strip_labels(x: np.ndarray, y: np.ndarray, w: np.ndarray, n_grids: int) -> np.ndarray:
    """Grid labels from ``n_cols`` vertical strips cut into equal-weight pieces."""
    n_cols = max(1, int(round(np.sqrt(n_grids))))
    per = [n_grids // n_cols + (1 if i < n_grids % n_cols else 0) for i in range(n_cols)]
    order = np.argsort(x, kind="stable")
    cw = np.cumsum(w[order])
    labels = np.empty(x.shape[0], np.int32)
    bounds = np.searchsorted(cw, cw[-1] * np.cumsum(per)[:-1] / n_grids)
    base = 0
    for c, chunk in enumerate(np.split(order, bounds)):
        o = chunk[np.argsort(y[chunk], kind="stable")]
        cwc = np.cumsum(w[o])
        piece = np.minimum((cwc / max(cwc[-1], 1e-12) * per[c]).astype(np.int64), per[c] - 1)
        labels[o] = base + piece
        base += per[c]
    # renumber so that every grid is non-empty
    return np.unique(labels, return_inverse=True)[1].astype(np.int32)


def build_config(n_households: int, n_grids: int, seed: int, grow: bool) -> SimConfig:
    from gridopt.io.units import build_units
    from gridopt.model import Layout
    from gridopt.synth import generate_city

    t0 = time.perf_counter()
    city = generate_city(n_households, seed=seed, days=0)
    units = build_units(city.households, by="building", ticket_model=city.ticket_model)
    tpd = units.attribute("tickets_per_day")
    if grow:
        from gridopt.partition import grow_layout

        labels = grow_layout(units, n_grids, tpd[:, None], seed=seed)
    else:
        labels = strip_labels(units.x, units.y, tpd + 1e-3, n_grids)
    g = int(labels.max()) + 1
    layout = Layout(labels=labels, n_grids=g)
    cnt = np.bincount(labels, minlength=g).astype(float)
    cx = np.bincount(labels, weights=units.x, minlength=g) / cnt
    cy = np.bincount(labels, weights=units.y, minlength=g) / cnt
    staff = city.staff
    field = np.isin(staff.role, (0, 1))
    # each grid gets field staff in proportion to its tickets, nearest homes first
    from scipy.spatial import cKDTree

    _, near = cKDTree(np.c_[cx, cy]).query(np.c_[staff.x, staff.y])
    grid = np.where(field, near, -1).astype(np.int32)
    rate = np.bincount(labels, weights=tpd, minlength=g)
    # one each, the rest by largest remainder of the ticket share
    extra = int(field.sum()) - g
    if extra < 0:
        raise SystemExit(f"{int(field.sum())} field staff cannot cover {g} grids")
    share = rate / rate.sum() * extra
    quota = 1 + np.floor(share).astype(np.int64)
    left = int(field.sum() - quota.sum())
    quota[np.argsort(-(share - np.floor(share)), kind="stable")[:left]] += 1
    # rebalance: fill grids by quota, in staff order (deterministic)
    grid[:] = -1
    idx = np.flatnonzero(field)
    slots = np.repeat(np.arange(g), quota)[: idx.size]
    grid[idx[: slots.size]] = slots
    staff = staff.replace(grid=grid)
    cfg = SimConfig.from_city(units, layout, staff, tickets_per_day=tpd, warmup=7 * 1440.0)
    print(
        f"city: {n_households:,} households, {units.n_units:,} units, {g} grids, "
        f"{cfg.n_staff:,} field staff, {cfg.ticket_rate.sum():,.0f} tickets/day, "
        f"load {cfg.offered_load():.2f}; built in {time.perf_counter() - t0:.1f} s",
        flush=True,
    )
    return cfg


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--households", type=int, default=1_000_000)
    ap.add_argument("--grids", type=int, default=2000)
    ap.add_argument("--reps", type=int, default=100)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--partition", action="store_true", help="grow a contiguous layout")
    ap.add_argument("--cache", type=Path, default=None, help="JSON cache of the SimConfig")
    ap.add_argument("--policy", default="grid")
    ap.add_argument("--target", type=float, default=60.0, help="seconds allowed")
    args = ap.parse_args(argv)
    if args.cache is not None and args.cache.exists():
        cfg = SimConfig.from_dict(json.loads(args.cache.read_text()))
        print(f"config from {args.cache}: {cfg.n_grids} grids, {cfg.n_staff} staff", flush=True)
    else:
        cfg = build_config(args.households, args.grids, args.seed, args.partition)
        if args.cache is not None:
            tmp = args.cache.with_suffix(".tmp")
            tmp.write_text(json.dumps(cfg.to_dict()))
            os.replace(tmp, args.cache)
    cfg = cfg.replace(policy=args.policy)
    t0 = time.perf_counter()
    simulate(cfg.replace(horizon=2 * 1440.0, warmup=0.0, drain=0.0), replications=1, seed=0)
    print(f"compile/warm-up: {time.perf_counter() - t0:.1f} s", flush=True)
    load0 = os.getloadavg()
    cpu0 = time.process_time()
    w0 = time.perf_counter()
    res = simulate(cfg, replications=args.reps, seed=args.seed, threads=args.threads)
    wall = time.perf_counter() - w0
    cpu = time.process_time() - cpu0
    s = res.stats
    load = os.getloadavg()
    # Timed: the whole simulate() call (random streams, kernel inputs, replications,
    # statistics); not timed: the city build (or cache read) and the compile above. CPU time
    # over the threads is the wall time the run takes on that many otherwise idle cores.
    print(
        f"{args.reps} replications x 1 year: {wall:.1f} s wall for simulate() on "
        f"{s['threads']} threads (replications {s['runtime_s']:.1f} s), "
        f"{s['events'] / args.reps / 1e6:.2f} M events/replication, "
        f"{s['events'] / wall / 1e6:.2f} M events/s; "
        f"CPU {cpu:.1f} s ({cpu / args.reps:.3f} s/replication, {cpu / s['threads']:.1f} s "
        f"over {s['threads']} idle cores); load average before {load0[0]:.2f}, after "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    for k in ("response_onsite_mean", "response_fix_mean", "sla_share", "utilisation"):
        e = res.kpis[k]
        print(f"  {k:<22s} {e.mean:10.4g} [{e.low:.4g}, {e.high:.4g}]")
    return 0 if wall <= args.target else 1


if __name__ == "__main__":
    sys.exit(main())
