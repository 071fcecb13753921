"""Prove DTDP instances infeasible: pendant pieces that no territory can balance.

Usage::

    python benchmarks/dtdp_bounds.py --data ../shared/benchmarks/dtdp --out out/dtdp-bounds
    python benchmarks/dtdp_bounds.py --data ../shared/benchmarks/dtdp --only 'Corners*_G0*' --out OUT

A DTDP layout (see ``../shared/benchmarks/README.md``) needs ``p`` connected territories
whose three activity totals each lie within ``+/- tau`` of the mean. Take a bridge
``(u, v)`` of the unit graph and the piece ``P`` that hangs on it on ``u``'s side. If some
activity of ``P`` is below ``(1 - tau)`` of the mean, no territory fits inside ``P``, so
the territory that holds any unit of ``P`` holds all of it (the rest of ``P`` could only
reach another territory through ``v``) and, because ``P`` alone is too light, also a
connected set ``S`` of outside units that contains ``v``. This script asks CP-SAT whether
such an ``S`` exists (connectivity by a single-commodity flow rooted at ``v``, the three
activity bounds on ``P + S``). "infeasible" for one bridge proves that the whole instance
has no feasible layout; the relaxation ignores the other territories, so "feasible"
proves nothing.

The same holds at a cut vertex ``v``: the components of ``G - v`` that are too light for a
territory of their own all belong, with ``v``, to the one territory that holds ``v``; it
is infeasible if that union is already too heavy, or if no connected set of another
component of ``G - v`` that touches ``v`` brings every activity into the window.

Writes ``OUT/bounds.csv`` (instance, proven_infeasible, bridge, piece size, the piece's
activity shares of a mean territory, seconds) and prints one line per instance.
"""

from __future__ import annotations

import argparse
import csv
import fnmatch
import sys
import time
from pathlib import Path

import networkx as nx
from ortools.sat.python import cp_model

ACTIVITIES = ("n_customers", "demand", "workload")


def _extension_exists(
    g: nx.Graph, piece: set, root: str, totals: dict[str, int], p: int, tau: float, limit: float
) -> str:
    """CP-SAT status of "a connected outside set S with root in it balances piece + S"."""
    outside = [n for n in g if n not in piece]
    model = cp_model.CpModel()
    x = {n: model.new_bool_var(f"x{n}") for n in outside}
    model.add(x[root] == 1)
    big = len(outside)
    inflow: dict[str, list] = {n: [] for n in outside}
    outflow: dict[str, list] = {n: [] for n in outside}
    for a, b in g.subgraph(outside).edges():
        for s, t in ((a, b), (b, a)):
            f = model.new_int_var(0, big, f"f{s}_{t}")
            model.add(f <= big * x[s])
            model.add(f <= big * x[t])
            outflow[s].append(f)
            inflow[t].append(f)
    for n in outside:
        if n != root:
            model.add(sum(inflow[n]) - sum(outflow[n]) == x[n])
    # p * total within [(1 - tau), (1 + tau)] * grand total, scaled to integers by 1000
    lo, hi = round(1000 * (1 - tau)), round(1000 * (1 + tau))
    for act in ACTIVITIES:
        inside = sum(int(g.nodes[n][act]) for n in piece)
        total = sum(int(g.nodes[n][act]) * x[n] for n in outside) + inside
        model.add(1000 * p * total >= lo * totals[act])
        model.add(1000 * p * total <= hi * totals[act])
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = limit
    solver.parameters.num_workers = 1
    return solver.status_name(solver.solve(model))


def prove(
    path: Path, p: int = 10, tau: float = 0.05, limit: float = 20.0
) -> tuple[bool, dict[str, object]]:
    """Look for a pendant piece that proves ``path`` infeasible; return (proven, details)."""
    g = nx.read_graphml(path)
    totals = {a: sum(int(d[a]) for _, d in g.nodes(data=True)) for a in ACTIVITIES}
    mean = {a: totals[a] / p for a in ACTIVITIES}

    def shares_of(nodes: set) -> dict[str, float]:
        return {k: sum(int(g.nodes[n][k]) for n in nodes) / mean[k] for k in ACTIVITIES}

    best: dict[str, object] = {}
    for u, v in nx.bridges(g):
        cut = nx.restricted_view(g, [], [(u, v)])
        for a, b in ((u, v), (v, u)):
            piece = nx.node_connected_component(cut, a)
            if len(piece) > len(g) // 2:
                continue
            shares = shares_of(piece)
            if min(shares.values()) >= 1 - tau or max(shares.values()) < 0.5:
                continue  # a territory may fit inside, or the piece is too small to matter
            status = _extension_exists(g, piece, b, totals, p, tau, limit)
            details = {
                "bridge": f"{a}-{b}",
                "piece_units": len(piece),
                **{f"share_{k}": round(s, 3) for k, s in shares.items()},
                "cpsat": status,
            }
            if status == "INFEASIBLE":
                return True, details
            best = best or details
    # cut vertices: every component of G - v too light for a territory of its own (and v)
    # lies in the one territory that holds v; that territory must balance with a connected
    # set S of one other component of G - v that touches v
    for v in nx.articulation_points(g):
        comps = list(nx.connected_components(nx.restricted_view(g, [v], [])))
        light = [c for c in comps if len(c) <= len(g) // 2 and min(shares_of(c).values()) < 1 - tau]
        if not light:
            continue
        piece = set().union(*light) | {v}
        shares = shares_of(piece)
        if max(shares.values()) < 0.5:
            continue
        details = {
            "bridge": f"cut vertex {v}",
            "piece_units": len(piece),
            **{f"share_{k}": round(s_, 3) for k, s_ in shares.items()},
        }
        if max(shares.values()) > 1 + tau:
            return True, {**details, "cpsat": "piece alone too heavy"}
        if min(shares.values()) >= 1 - tau:
            continue  # the piece may be a territory by itself
        statuses = []
        for comp in comps:
            if comp in light or not any(u in comp for u in g[v]):
                continue
            sub = g.subgraph(comp | piece)
            statuses.append(_extension_exists(sub, piece - {v}, v, totals, p, tau, limit))
        status = "INFEASIBLE" if all(st == "INFEASIBLE" for st in statuses) else ",".join(statuses)
        details["cpsat"] = status
        if status == "INFEASIBLE":
            return True, details
        best = best or details
    return False, best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="folder of *.graphml")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--only", default=None, help="glob on the file name")
    parser.add_argument("--territories", type=int, default=10)
    parser.add_argument("--tolerance", type=float, default=0.05)
    args = parser.parse_args(argv)
    files = sorted(args.data.glob("*.graphml"))
    if args.only:
        files = [f for f in files if fnmatch.fnmatch(f.name, args.only)]
    if not files:
        print(f"error: no *.graphml under {args.data}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for f in files:
        t0 = time.perf_counter()
        proven, details = prove(f, args.territories, args.tolerance)
        row = {"instance": f.stem, "proven_infeasible": proven, **details}
        row["seconds"] = round(time.perf_counter() - t0, 1)
        rows.append(row)
        print(f"{f.stem:20s} {'PROVEN INFEASIBLE' if proven else 'no proof':17s} {details}")
    fields = ["instance", "proven_infeasible", "bridge", "piece_units"]
    fields += [f"share_{k}" for k in ACTIVITIES] + ["cpsat", "seconds"]
    with (args.out / "bounds.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
    n = sum(r["proven_infeasible"] for r in rows)
    print(f"{n} of {len(rows)} instances proven infeasible at +/-{100 * args.tolerance:g} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
