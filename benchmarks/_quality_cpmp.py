"""Quality runner ``cpmp``: capacitated p-median instances with known optima.

Reached through ``python benchmarks/quality.py cpmp --data DIR --time-limit S --out OUT``.
For every instance in DIR (Osman & Christofides ``cpmpNN.txt`` and Lorena & Senne
``SJC*.dat``; both are ``n p`` then one ``x y capacity demand`` line per point) it solves
with :func:`gridopt.partition.pmedian.capacitated_pmedian` and writes
``OUT/<instance>.csv`` (``point,median``: 0-based point indices in file order) and
``OUT/summary.csv`` (instance, n, p, optimum, ours, gap %, seconds, feasible).

Distances follow ``values.csv``'s ``distance`` column: ``floor_euclid`` (Osman &
Christofides optima use truncated distances) or ``euclid`` (SJC). Every instance gets the
same settings.
"""

from __future__ import annotations

import csv
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from quality import select_instances

from gridopt.partition.pmedian import capacitated_pmedian


def read_instance(path: Path) -> tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(p, x, y, capacity, demand)`` of a cpmpNN.txt or SJC*.dat file."""
    toks = path.read_text().split()
    n, p = int(toks[0]), int(toks[1])
    rows = np.array(toks[2 : 2 + 4 * n], dtype=np.float64).reshape(n, 4)
    return p, rows[:, 0].copy(), rows[:, 1].copy(), rows[:, 2].copy(), rows[:, 3].copy()


def _write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    """Write a CSV atomically (temp file in the same folder, then rename)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(header)
            w.writerows(rows)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def warm_up() -> float:
    """Compile (or load from cache) the Numba kernels so no instance pays for it."""
    t0 = time.perf_counter()
    rng = np.random.default_rng(0)
    x, y = rng.random(80), rng.random(80)
    capacitated_pmedian(x, y, np.ones(80), 12.0, 8, time_limit=1.0, seed=0)
    return time.perf_counter() - t0


def run_cpmp(args: Any) -> int:
    data = Path(args.data)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    values: dict[str, dict[str, str]] = {}
    vfile = data / "values.csv"
    if vfile.exists():
        with vfile.open() as fh:
            values = {r["instance"]: r for r in csv.DictReader(fh)}
    files = sorted(list(data.glob("cpmp*.txt")) + list(data.glob("SJC*.dat")))
    only = getattr(args, "only", None)
    files = select_instances(files, only)
    summary: list[list[Any]] = []
    print(f"warm-up (Numba compile or cache load): {warm_up():.1f} s")
    print(
        f"{'instance':10s} {'n':>4s} {'p':>3s} {'optimum':>10s} {'ours':>10s} {'gap %':>7s} {'s':>6s}"
    )
    for path in files:
        name = path.stem
        p, x, y, cap, demand = read_instance(path)
        ref = values.get(name, {})
        dist = np.hypot(x[:, None] - x[None, :], y[:, None] - y[None, :])
        if ref.get("distance", "euclid") == "floor_euclid":
            dist = np.floor(dist)
        t0 = time.perf_counter()
        res = capacitated_pmedian(
            x, y, demand, cap, p, cost=dist, time_limit=args.time_limit, seed=args.seed
        )
        seconds = time.perf_counter() - t0
        _write_csv(
            out / f"{name}.csv",
            ["point", "median"],
            [[i, int(m)] for i, m in enumerate(res.assignment)],
        )
        optimum = float(ref["value"]) if ref.get("value") else float("nan")
        gap = 100.0 * (res.cost - optimum) / optimum if optimum == optimum else float("nan")
        summary.append(
            [
                name,
                len(x),
                p,
                f"{optimum:.2f}",
                f"{res.cost:.2f}",
                f"{gap:.3f}",
                f"{seconds:.2f}",
                res.feasible,
            ]
        )
        print(
            f"{name:10s} {len(x):4d} {p:3d} {optimum:10.2f} {res.cost:10.2f} {gap:7.3f} {seconds:6.2f}",
            flush=True,
        )
        _write_csv(
            out / "summary.csv",
            ["instance", "n", "p", "optimum", "ours", "gap_pct", "seconds", "feasible"],
            summary,
        )
    if not files:
        print(f"no cpmp*.txt or SJC*.dat in {data}", file=sys.stderr)
        return 2
    gaps = [float(r[5]) for r in summary if r[5] != "nan"]
    if gaps:
        print(
            f"worst gap {max(gaps):.3f} %, mean {np.mean(gaps):.3f} %, within 1 %: "
            f"{sum(g <= 1.0 for g in gaps)}/{len(gaps)}"
        )
    return 0
