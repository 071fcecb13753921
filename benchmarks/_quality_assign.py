"""Quality runners of the assign/dispatch engines, reached through ``quality.py``.

``gap``: every GAP file under ``--data`` (OR-Library one-instance layout: ``m n``, the
m x n costs, the m x n weights, m capacities; minimisation) is solved by
:func:`gridopt.assign.solve_gap` with ``--time-limit`` seconds, writing
``OUT/<instance>.csv`` (``job,agent``, 0-based) and ``OUT/summary.csv`` with the status,
objective, bound and the distance to the best known value of ``values.csv`` (looked up
in ``--data`` or its parent), the seconds and the 1-minute load average after each
instance (the figures depend on a shared machine's load). Every instance gets the same
settings; ``--only`` takes a glob of instance names (``'d*'``). ``--time-limit`` is
wall-clock seconds; ``GRIDOPT_GAP_CLOCK=cpu`` counts this process's CPU seconds instead
(fairer on a shared machine; ``seconds`` in the summary stays wall clock).

``solomon`` lives in ``_quality_solomon.py`` (the dispatch engineer's module).
"""

from __future__ import annotations

import csv
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from quality import select_instances

from gridopt.assign import solve_gap

log = logging.getLogger("gridopt.bench.gap")

SUMMARY_FIELDS = (
    "instance", "dataset", "n_jobs", "n_agents", "status", "objective", "bound", "gap_pct",
    "best_known", "optimum", "above_best_pct", "hit_best", "seconds", "load_avg",
)  # fmt: skip


def read_gap(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Costs (m, n), weights (m, n) and capacities (m,) of one OR-Library GAP file."""
    v = np.array(path.read_text().split(), dtype=np.int64)
    m, n = int(v[0]), int(v[1])
    if v.size < 2 + 2 * m * n + m:
        raise ValueError(f"{path}: expected {2 + 2 * m * n + m} numbers, got {v.size}")
    costs = v[2 : 2 + m * n].reshape(m, n)
    weights = v[2 + m * n : 2 + 2 * m * n].reshape(m, n)
    return costs, weights, v[2 + 2 * m * n : 2 + 2 * m * n + m]


def _values(data: Path) -> dict[str, dict[str, str]]:
    for folder in (data, data.parent):
        f = folder / "values.csv"
        if f.exists():
            with f.open(newline="") as fh:
                return {Path(r["Path"]).name: r for r in csv.DictReader(fh)}
    return {}


def _instances(data: Path, only: str | None) -> list[Path]:
    out = []
    for p in sorted(data.rglob("*")):
        if (
            not p.is_file()
            or p.suffix in (".csv", ".md", ".txt", ".json")
            or p.name.startswith(".")
        ):
            continue
        out.append(p)
    return select_instances(out, only)


def _write_atomic(path: Path, rows: list[list[Any]], header: list[str]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    os.replace(tmp, path)


def _quality_gap_run(args: Any) -> int:
    values = _values(args.data)
    files = _instances(args.data, args.only)
    if not files:
        print(f"error: no GAP files in {args.data}", file=sys.stderr)
        return 2
    workers = int(getattr(args, "workers", 0) or 8)
    clock = os.environ.get("GRIDOPT_GAP_CLOCK", "wall")
    rows: list[dict[str, Any]] = []
    for path in files:
        costs, weights, caps = read_gap(path)
        t0 = time.perf_counter()
        res = solve_gap(
            costs,
            weights,
            caps,
            time_limit=args.time_limit,
            seed=args.seed,
            num_workers=workers,
            clock=clock,
        )
        secs = time.perf_counter() - t0
        ref = values.get(path.name, {})
        best = (
            float(ref["Best known solution value"])
            if ref.get("Best known solution value")
            else None
        )
        above = 100.0 * (res.objective - best) / best if best and res.is_feasible() else None
        row = {
            "instance": path.name,
            "dataset": path.parent.name,
            "n_jobs": costs.shape[1],
            "n_agents": costs.shape[0],
            "status": res.status,
            "objective": res.objective,
            "bound": res.bound,
            "gap_pct": round(100 * res.gap, 4),
            "best_known": best,
            "optimum": ref.get("Optimum", ""),
            "above_best_pct": None if above is None else round(above, 4),
            "hit_best": bool(above is not None and above <= 1e-9),
            "seconds": round(secs, 2),
            "load_avg": round(os.getloadavg()[0], 2),
        }
        rows.append(row)
        if res.is_feasible():
            _write_atomic(
                args.out / f"{path.name}.csv",
                [[j, int(a)] for j, a in enumerate(res.agent)],
                ["job", "agent"],
            )
        print(
            f"{path.name:>10} {res.status:>10} obj {res.objective:>8g} best {best} "
            f"bound {res.bound:g} ({secs:.1f} s, load {row['load_avg']})",
            flush=True,
        )
    _write_atomic(
        args.out / "summary.csv",
        [[r[k] for k in SUMMARY_FIELDS] for r in rows],
        list(SUMMARY_FIELDS),
    )
    hit = sum(r["hit_best"] for r in rows)
    print(
        f"{hit}/{len(rows)} instances at the best known value; summary in {args.out / 'summary.csv'}"
    )
    return 0


def run(command: str, args: Any) -> int:
    """Dispatch a ``quality.py`` sub-command to its runner."""
    if command == "solomon":
        from _quality_solomon import run_solomon

        return run_solomon(args)
    if command == "gap":
        return _quality_gap_run(args)
    raise ValueError(f"unknown command {command!r}")
