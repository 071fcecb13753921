"""Solomon VRPTW quality runner: ``quality.py solomon --data DIR --time-limit S --out OUT``.

Every Solomon ``.txt`` in DIR is solved with :func:`gridopt.dispatch.solve_vrptw` (total
distance, each arc truncated to one decimal, vehicle count free), same settings for every
instance: the default engine (``GRIDOPT_SOLOMON_ENGINE=ortools`` for OR-Tools guided local
search), ``--seed``. Writes
``OUT/<instance>.sol`` in the CVRPLIB layout and ``OUT/summary.csv`` with the gap to the
``Cost`` line of the reference ``DIR/<instance>.sol`` when present.

``--time-limit`` is wall-clock seconds; set ``GRIDOPT_SOLOMON_CLOCK=cpu`` to count this
process's CPU seconds instead (fair figures on a shared, busy machine).
"""

from __future__ import annotations

import csv
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from quality import select_instances

from gridopt.dispatch import read_solomon, solve_vrptw

FIELDS = [
    "instance",
    "family",
    "customers",
    "vehicles",
    "cost",
    "optimal",
    "gap_pct",
    "status",
    "strategy",
    "iterations",
    "seconds",
    "cpu_seconds",
]


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


def reference_cost(sol_path: Path) -> float | None:
    """The ``Cost`` line of a CVRPLIB ``.sol`` file, or None when absent."""
    if not sol_path.exists():
        return None
    for line in sol_path.read_text().splitlines():
        if line.strip().lower().startswith("cost"):
            return float(line.split()[1])
    return None


def family(name: str) -> str:
    """Solomon family of an instance name: ``C1``, ``R1``, ``RC1``, ..."""
    letters = name.rstrip("0123456789")
    return letters + name[len(letters) : len(letters) + 1]


def run_solomon(args: Any) -> int:
    """Solve every instance of ``args.data`` (glob ``args.only``); return an exit code."""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    files = sorted(Path(args.data).glob("*.txt"))
    files = select_instances(files, getattr(args, "only", None))
    rows = []
    for path in files:
        inst = read_solomon(path)
        t0 = time.perf_counter()
        res = solve_vrptw(
            inst["x"],
            inst["y"],
            inst["demand"],
            inst["ready"],
            inst["due"],
            inst["service"],
            capacity=inst["capacity"],
            n_vehicles=inst["n_vehicles"],
            time_limit=float(args.time_limit),
            seed=int(getattr(args, "seed", 0)),
            clock=os.environ.get("GRIDOPT_SOLOMON_CLOCK", "wall"),
            engine=os.environ.get("GRIDOPT_SOLOMON_ENGINE", "sisr"),
        )
        seconds = time.perf_counter() - t0
        _write_atomic(out / f"{path.stem}.sol", res.to_cvrplib())
        opt = reference_cost(path.with_suffix(".sol"))
        gap = None if opt is None else 100.0 * (res.cost - opt) / opt
        row = {
            "instance": path.stem,
            "family": family(path.stem),
            "customers": len(inst["x"]) - 1,
            "vehicles": res.n_vehicles,
            "cost": f"{res.cost:.1f}",
            "optimal": "" if opt is None else f"{opt:.1f}",
            "gap_pct": "" if gap is None else f"{gap:.3f}",
            "status": res.status,
            "strategy": res.stats.get("strategy", ""),
            "iterations": res.stats.get("iterations", ""),
            "seconds": f"{seconds:.1f}",
            "cpu_seconds": f"{res.stats['cpu_time']:.1f}",
        }
        rows.append(row)
        print(",".join(str(row[k]) for k in FIELDS), flush=True)
    fd, tmp = tempfile.mkstemp(dir=out, prefix=".summary.csv.")
    with os.fdopen(fd, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, out / "summary.csv")
    return 0
