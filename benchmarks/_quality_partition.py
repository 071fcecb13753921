"""Quality runners of the partition engines: ``dtdp`` (territory design) and ``cpmp``.

``dtdp``: for every ``*.graphml`` in ``--data`` (Aly et al. delivery territory design:
10 territories, each connected, each of n_customers/demand/workload within +/-5 % of
the mean; minimise the largest territory diameter, shortest paths on the whole graph),
writes ``OUT/<instance>.csv`` (``unit,grid``; unit = GraphML node id) and
``OUT/summary.csv`` with our largest diameter and its ratio to the published LNS 60 s
best (``reference.csv`` in the data folder). Only gridopt's public API is used; every
instance gets the same settings.

``cpmp`` is dispatched to ``_quality_cpmp.run_cpmp(args)`` (another module).
"""

from __future__ import annotations

import csv
import logging
import os
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
from quality import select_instances
from scipy import sparse
from scipy.sparse.csgraph import connected_components, dijkstra

from gridopt import Objective, Units, partition
from gridopt.io.write import atomic_path

N_TERRITORIES = 10
TOLERANCE = 0.05
ATTRIBUTES = ("n_customers", "demand", "workload")
# the start layout decides the grids' shapes early (the largest diameter is a min-max
# objective): eight short restarts race start layouts, and 40 % of the time polishes the
# best (G4 and G7 at 60 s: median ratio 1.02 and 0.98 over the feasible, against 1.065 and
# 1.048 with one long run)
RESTARTS = 8
POLISH = 0.4

log = logging.getLogger("gridopt.bench.dtdp")


def read_graphml(path: Path) -> tuple[Units, np.ndarray]:
    """Units (x/y from classical MDS of the shortest paths) and the distance matrix."""
    ns = {"g": "http://graphml.graphdrawing.org/xmlns"}
    root = ET.parse(path).getroot()
    keys = {k.get("id"): k.get("attr.name") for k in root.findall("g:key", ns)}
    graph = root.find("g:graph", ns)
    assert graph is not None
    node_ids: list[str] = []
    values: dict[str, list[float]] = {a: [] for a in ATTRIBUTES}
    for node in graph.findall("g:node", ns):
        node_ids.append(node.get("id", ""))
        data = {keys[d.get("key")]: float(d.text or 0) for d in node.findall("g:data", ns)}
        for a in ATTRIBUTES:
            values[a].append(data.get(a, 0.0))
    pos = {nid: i for i, nid in enumerate(node_ids)}
    src, dst, dist = [], [], []
    for edge in graph.findall("g:edge", ns):
        data = {keys[d.get("key")]: float(d.text or 0) for d in edge.findall("g:data", ns)}
        src.append(pos[edge.get("source", "")])
        dst.append(pos[edge.get("target", "")])
        dist.append(data.get("distance", 1.0))
    n = len(node_ids)
    s, t, w = np.array(src), np.array(dst), np.array(dist)
    # keep the shortest of parallel edges
    lil: dict[tuple[int, int], float] = {}
    for a, b, d in zip(s, t, w, strict=True):
        key = (min(a, b), max(a, b))
        lil[key] = min(d, lil.get(key, np.inf))
    e = np.array(list(lil.keys()), dtype=np.int64).reshape(-1, 2)
    el = np.array(list(lil.values()))
    g = sparse.csr_matrix(
        (
            np.concatenate([el, el]),
            (np.concatenate([e[:, 0], e[:, 1]]), np.concatenate([e[:, 1], e[:, 0]])),
        ),
        shape=(n, n),
    )
    D = dijkstra(g, directed=False)
    # classical MDS: 2-D coordinates whose distances approximate the shortest paths
    J = np.eye(n) - 1.0 / n
    B = -0.5 * J @ (D**2) @ J
    vals, vecs = np.linalg.eigh(B)
    top = np.argsort(vals)[::-1][:2]
    xy = vecs[:, top] * np.sqrt(np.maximum(vals[top], 0.0))
    ids = np.array([int(v) if v.lstrip("-").isdigit() else i for i, v in enumerate(node_ids)])
    units = Units.from_edges(
        ids=ids, x=xy[:, 0], y=xy[:, 1],
        attributes={a: values[a] for a in ATTRIBUTES},
        edges=e, edge_length=el,
    )  # fmt: skip
    return units, D


def check(units: Units, D: np.ndarray, labels: np.ndarray) -> tuple[bool, float, float]:
    """Independent check: (feasible, largest diameter, worst relative deviation)."""
    k = int(labels.max()) + 1
    ok = k == N_TERRITORIES
    worst = 0.0
    for t in range(units.n_attributes):
        tot = np.bincount(labels, weights=units.attributes[:, t], minlength=k)
        dev = np.abs(tot / tot.mean() - 1.0)
        worst = max(worst, float(dev.max()))
    ok = ok and worst <= TOLERANCE + 1e-9
    n = units.n_units
    adj = sparse.csr_matrix(
        (np.ones(units.indices.shape[0]), units.indices, units.indptr), shape=(n, n)
    )
    diam = 0.0
    for g in range(k):
        idx = np.flatnonzero(labels == g)
        nc, _ = connected_components(adj[idx][:, idx], directed=False)
        ok = ok and nc == 1
        diam = max(diam, float(D[np.ix_(idx, idx)].max()))
    return bool(ok), diam, worst


def _round(v: Any) -> float | str:
    return "" if v is None else round(float(v), 2)


def _load() -> float:
    """One-minute load average (the machine is shared: note it next to every figure)."""
    try:
        return float(os.getloadavg()[0])
    except OSError:
        return float("nan")


def read_reference(data: Path) -> dict[str, float]:
    ref = {}
    path = data / "reference.csv"
    if path.exists():
        with path.open() as fh:
            for row in csv.DictReader(fh):
                try:
                    ref[row["instance"]] = float(row["lns_t60_best"])
                except (KeyError, ValueError):
                    pass
    return ref


def _write_summary(path: Path, rows: list[dict[str, Any]]) -> None:
    with atomic_path(path) as tmp, tmp.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def run_dtdp(args: Any) -> int:
    data: Path = args.data
    out: Path = args.out
    ref = read_reference(data)
    files = sorted(data.glob("*.graphml"))
    files = select_instances(files, args.only)
    if not files:
        print(f"error: no *.graphml in {data}", file=sys.stderr)
        return 2
    rows = []
    obj = Objective(
        balance={a: TOLERANCE for a in ATTRIBUTES}, compactness="diameter", hard_penalty=100.0
    )
    # eight short restarts per search thread, raced, then each thread polishes the best
    workers = getattr(args, "workers", 1)
    for f in files:
        units, D = read_graphml(f)
        t = time.perf_counter()
        res = partition(
            units, N_TERRITORIES, obj, seed=args.seed, time_limit=args.time_limit, distance=D,
            n_restarts=RESTARTS * workers, polish=POLISH, workers=workers,
        )  # fmt: skip
        runtime = time.perf_counter() - t
        labels = res.labels
        ok, diam, worst = check(units, D, labels)
        with (out / f"{f.stem}.csv").open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["unit", "grid"])
            w.writerows(zip(units.ids.tolist(), labels.tolist(), strict=True))
        r = ref.get(f.stem, float("nan"))
        rows.append({
            "instance": f.stem, "n_units": units.n_units, "feasible": ok, "status": res.status,
            "max_diameter": diam, "lns_t60_best": r, "ratio": diam / r if r == r else float("nan"),
            "worst_deviation": round(worst, 5), "runtime_s": round(runtime, 2),
            "time_to_feasible_s": _round(res.stats.get("time_to_feasible")),
            "load_average": round(_load(), 2), "workers": workers,
        })  # fmt: skip
        print(
            f"{f.stem}: feasible={ok} diameter={diam:.4g} lns={r:.4g} ratio={diam / r:.3f} ({runtime:.1f} s)",
            flush=True,
        )
        # after every instance, so that a long run stopped half-way keeps what it did
        _write_summary(out / "summary.csv", rows)
    if rows:
        ratios = np.array([r["ratio"] for r in rows], dtype=float)
        n_ok = sum(r["feasible"] for r in rows)
        feas = np.array([r["ratio"] for r in rows if r["feasible"]], dtype=float)
        print(f"feasible {n_ok}/{len(rows)}; median ratio {np.nanmedian(ratios):.3f}; "
              f"mean {np.nanmean(ratios):.3f}; worst {np.nanmax(ratios):.3f}; "
              f"median ratio over feasible {np.nanmedian(feas) if feas.size else float('nan'):.3f}; "
              f"load average {_load():.2f}")  # fmt: skip
    return 0


def run(command: str, args: Any) -> int:
    """Entry point used by ``benchmarks/quality.py``."""
    if command == "dtdp":
        return run_dtdp(args)
    if command == "cpmp":
        from _quality_cpmp import run_cpmp  # written by the p-median engineer

        return int(run_cpmp(args) or 0)
    print(f"unknown command {command!r}", file=sys.stderr)
    return 2
