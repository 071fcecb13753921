"""Prove partition instances infeasible: pieces of the unit graph that no layout can balance.

Usage::

    python benchmarks/dtdp_bounds.py --data ../shared/benchmarks/dtdp --out out/dtdp-bounds
    python benchmarks/dtdp_bounds.py --data ../shared/benchmarks/dtdp --only 'Corners*_G0,*_G1' --out OUT

A layout needs ``p`` connected grids (territories) whose attribute totals each lie within
``+/- tau`` of the mean grid. Write every unit's attributes as shares of the mean grid.
Two arguments look at a piece ``X`` of the graph that hangs on a single unit ``w`` (a cut
vertex; the end of a bridge is one): the rest of the graph reaches ``X`` only through ``w``.

*Light pieces.* Take a bridge ``(u, v)`` and the piece ``P`` on ``u``'s side. If some
attribute of ``P`` is below ``1 - tau``, no grid fits inside ``P``, so the grid that holds
any unit of ``P`` holds all of it (the rest of ``P`` could only reach another grid through
``v``) and, because ``P`` alone is too light, also a connected set ``S`` of outside units
that contains ``v``. CP-SAT is asked whether such an ``S`` exists (connectivity by a
single-commodity flow rooted at ``v``, the attribute bounds on ``P + S``). The same holds at
a cut vertex ``v``: the components of ``G - v`` too light for a grid of their own belong,
with ``v``, to the one grid that holds ``v``.

*Heavy pieces.* If ``X`` (a component of ``G - w`` plus ``w``) is heavier than one grid,
it splits into ``q`` grids that lie wholly inside it and the part of ``w``'s grid inside it
(at most ``1 + tau``). Any grid, being connected, that holds units of two components of
``X - w'`` (``w'`` a cut vertex inside ``X``) also holds ``w'``; a grid that holds two such
cut vertices (or ``w``) weighs at least the lightest path between them (a whole grid's path
avoids ``w``). CP-SAT is asked, for every ``q``, whether some labelling of ``X`` meets these
conditions and the attribute bounds. Connectivity is added lazily: a solution whose label
falls apart gets cuts ("two units of one label on either side of a border need a unit of
that label on the border") and CP-SAT runs again, until a solution is connected, none is
left (a proof) or the time is spent. This catches pieces made of blocks strung on single
crossings, where the grid that must span the chain leaves too little for the grid of the
entry unit, and lattice pieces where the grids that balance cannot all be connected.

"infeasible" for one piece proves that the whole instance has no feasible layout; the
relaxations ignore the rest of the graph, so "feasible" proves nothing. Scaling every
tolerance by ``s`` and bisecting gives a lower bound: no layout has every attribute within
``s * tau`` (``min_scale``).

Writes ``OUT/bounds.csv`` (instance, proven_infeasible, the piece and its attribute shares
of a mean grid, the CP-SAT status, seconds) and prints one line per instance.

``--quality SUMMARY`` joins the ``summary.csv`` of ``quality.py dtdp`` (which instances
gridopt solved): ``bounds.csv`` gets a ``gridopt_feasible`` column, every instance is
counted as feasible (gridopt found a layout), proven infeasible or open, and an instance
both solved and proven infeasible (a false proof) is reported with exit code 1.
``--skip-solved`` then leaves out the instances gridopt solved (their proof is hopeless
and slow; without it they serve as a soundness check)::

    python benchmarks/quality.py dtdp --data ../shared/benchmarks/dtdp --time-limit 60 --out out/dtdp
    python benchmarks/dtdp_bounds.py --data ../shared/benchmarks/dtdp --quality out/dtdp/summary.csv --skip-solved --out out/bounds
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections.abc import Callable, Hashable, Mapping
from pathlib import Path

import networkx as nx
import numpy as np
from ortools.sat.python import cp_model
from quality import select_instances

from gridopt.io.write import atomic_path

ACTIVITIES = ("n_customers", "demand", "workload")

#: attribute shares are scaled to integers by this factor; the bounds are widened by half
#: a step per unit, so rounding never turns a feasible set into an infeasible one
_SCALE = 1_000_000
#: heavy pieces up to this many grids (in their heaviest attribute) are examined
_MAX_PIECE_GRIDS = 4.0
#: components lighter than this share of a grid (in every attribute) are left out of the
#: cut-vertex conditions (a weaker but still valid relaxation, and a smaller model)
_MIN_COMPONENT = 0.01

Shares = Mapping[Hashable, np.ndarray]


def _total(nodes, shares: Shares) -> np.ndarray:
    """Attribute totals of ``nodes``, as shares of the mean grid."""
    return np.array([shares[n] for n in nodes]).sum(axis=0)


def _int_weights(nodes: list, shares: Shares) -> np.ndarray:
    return np.rint(np.array([shares[n] for n in nodes]) * _SCALE).astype(np.int64)


def _add_bounds(model, expr, n_terms: int, lo: float | None, hi: float | None) -> None:
    slack = (n_terms + 1) // 2 + 1  # half a rounding step per unit, and one more
    if hi is not None:
        model.add(expr <= int(np.floor(hi * _SCALE)) + slack)
    if lo is not None:
        model.add(expr >= int(np.ceil(lo * _SCALE)) - slack)


def _solve(model: cp_model.CpModel, limit: float) -> str:
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = limit
    solver.parameters.num_workers = 1
    return solver.status_name(solver.solve(model))


def _extension_exists(
    g: nx.Graph, piece: set, root: Hashable, shares: Shares, tau: np.ndarray, limit: float
) -> str:
    """CP-SAT status of "a connected outside set S with root in it balances piece + S"."""
    outside = [n for n in g if n not in piece]
    model = cp_model.CpModel()
    x = {n: model.new_bool_var(f"x{n}") for n in outside}
    model.add(x[root] == 1)
    big = len(outside)
    inflow: dict[Hashable, list] = {n: [] for n in outside}
    outflow: dict[Hashable, list] = {n: [] for n in outside}
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
    w_out = _int_weights(outside, shares)
    inside = _int_weights(sorted(piece, key=str), shares).sum(axis=0)
    for t in range(tau.shape[0]):
        total = sum(int(w_out[i, t]) * x[n] for i, n in enumerate(outside)) + int(inside[t])
        _add_bounds(model, total, len(g), 1.0 - tau[t], 1.0 + tau[t])
    return _solve(model, limit)


def _path_conditions(h: nx.Graph, nodes: list, idx: dict, ports: list[int], anchor: int, w):
    """(a, b, units on any a-b path, lightest path avoiding the anchor, lightest path).

    Path weights are per attribute, in the integer units of ``w``; 0 where no path.
    """
    blocks = [set(b) for b in nx.biconnected_components(h)]
    tree = nx.Graph()  # block-cut tree: block i is ("b", i), units are themselves
    for i, b in enumerate(blocks):
        for n in b:
            tree.add_edge(("b", i), n)
    m = w.shape[1]

    def lightest(graph: nx.Graph, a, b) -> list[int]:
        if a not in graph or b not in graph:
            return [0] * m
        out = []
        for t in range(m):
            try:
                d = nx.dijkstra_path_length(
                    graph, a, b, weight=lambda _u, v, _d, t=t: int(w[idx[v], t])
                )
            except nx.NetworkXNoPath:
                return [0] * m
            out.append(int(d) + int(w[idx[a], t]))
        return out

    out = []
    for j, a in enumerate(ports):
        for b in ports[j + 1 :]:
            route = nx.shortest_path(tree, nodes[a], nodes[b])
            inside = set().union(*(blocks[v[1]] for v in route if isinstance(v, tuple)))
            sub = h.subgraph(inside)
            any_ = lightest(sub, nodes[a], nodes[b])
            whole = lightest(sub.subgraph(inside - {nodes[anchor]}), nodes[a], nodes[b])
            out.append((a, b, sorted(idx[n] for n in inside), whole, any_))
    return out


def _split_check(
    g: nx.Graph, piece: set, anchor: Hashable, shares: Shares, limit: float
) -> Callable[[np.ndarray], str]:
    """``check(tau)``: CP-SAT status of "the piece splits into whole grids plus the
    anchor's part".

    ``piece`` (which holds ``anchor``) is reached from the rest of the graph only through
    ``anchor``. The cut-vertex and path conditions do not depend on the tolerances and
    are worked out once; each call tries every count ``q`` of whole grids and answers
    "INFEASIBLE" when none works.
    """
    nodes = sorted(piece, key=str)
    idx = {n: i for i, n in enumerate(nodes)}
    w = _int_weights(nodes, shares)
    tot = _total(nodes, shares)
    h = g.subgraph(nodes)
    # cut-vertex conditions: the components of h - c that weigh anything
    conditions = []
    for c in nx.articulation_points(h):
        comps = [
            [idx[n] for n in comp]
            for comp in nx.connected_components(nx.restricted_view(h, [c], []))
            if _total(comp, shares).max() >= _MIN_COMPONENT
        ]
        if len(comps) >= 2:
            conditions.append((idx[c], comps))
    # path conditions: a grid that holds two of these units holds a simple path between
    # them, which runs inside the blocks (biconnected components) on the way from one to
    # the other; so the grid weighs at least the lightest such path inside those blocks
    # (per attribute; a whole grid's path avoids the anchor)
    ports = sorted({c for c, _ in conditions} | {idx[anchor]})
    paths = _path_conditions(h, nodes, idx, ports, idx[anchor], w)
    links = nx.relabel_nodes(h, idx)
    cuts: dict[int, list] = {}  # connectivity cuts found so far, per count of whole grids

    def check(tau: np.ndarray) -> str:
        q_max = int(np.floor(np.min(tot / (1.0 - tau)) + 1e-9))
        statuses = []
        for q in range(q_max + 1):
            # the anchor's part holds what the whole grids leave: at most 1 + tau of a grid
            if np.any(tot - q * (1.0 + tau) > 1.0 + tau + 1e-9):
                continue
            model, x = _split_model(q, w, idx[anchor], conditions, paths, tau)
            status = _solve_connected(model, x, links, idx[anchor], limit, cuts.setdefault(q, []))
            statuses.append(status)
            if status == "FEASIBLE":  # a connected split
                return status
        if all(st == "INFEASIBLE" for st in statuses):
            return "INFEASIBLE"
        return ",".join(statuses)

    return check


def _split_model(q: int, w, anchor: int, conditions, paths, tau) -> tuple[cp_model.CpModel, list]:
    """Unit labels 0..q: 0 is the anchor's part (at most 1 + tau), the rest whole grids.

    Returns the model and its variables ``x[unit][label]``.
    """
    n = w.shape[0]
    model = cp_model.CpModel()
    x = [[model.new_bool_var(f"x{i}_{k}") for k in range(q + 1)] for i in range(n)]
    for row in x:
        model.add_exactly_one(row)
    model.add(x[anchor][0] == 1)
    for k in range(q + 1):
        for t in range(tau.shape[0]):
            expr = sum(int(w[i, t]) * x[i][k] for i in range(n))
            _add_bounds(model, expr, n, None if k == 0 else 1.0 - tau[t], 1.0 + tau[t])
        for c, comps in conditions:
            touch = []
            for comp in comps:
                z = model.new_bool_var("")
                for i in comp:
                    model.add_implication(x[i][k], z)
                touch.append(z)
            model.add(sum(touch) <= 1 + (len(comps) - 1) * x[c][k])
        for a, b, inside, whole, any_ in paths:
            for t, length in enumerate(any_ if k == 0 else whole):
                if length > 0:
                    expr = sum(int(w[i, t]) * x[i][k] for i in inside)
                    model.add(expr >= length).only_enforce_if([x[a][k], x[b][k]])
    return model, x


def _add_cut(model: cp_model.CpModel, x: list, cut: tuple) -> None:
    """Add one connectivity cut ``(label0, part, border, other)`` to a split model."""
    label0, part, border, other = cut
    if label0:  # a unit of part in the anchor's label needs that label on the border
        for u in part:
            model.add(sum(x[s][0] for s in border) >= 1).only_enforce_if(x[u][0])
        return
    for k in range(1, len(x[0])):  # whole grids: part and other in one grid
        for u in part:
            model.add(sum(x[s][k] for s in border) >= 1).only_enforce_if([x[u][k], x[other][k]])


def _solve_connected(
    model: cp_model.CpModel, x: list, links: nx.Graph, anchor: int, limit: float, cuts: list
) -> str:
    """CP-SAT status of the split model with every label connected (lazy cuts).

    The model leaves connectivity out. Each solution is checked; a label whose units fall
    apart gets, for every piece ``C`` of it that is cut off (the pieces without the
    anchor for label 0; all but the largest for a whole grid), the cut "a unit of ``C``
    and a unit outside ``C`` in one label need a unit of that label on ``C``'s border"
    (for label 0 the second unit is the anchor). Whole grids are interchangeable, so
    their cuts go to every whole-grid label. The cuts hold at any tolerance: ``cuts``
    (the ones found before, for the same piece and count of grids) is added first and
    receives the new ones. The loop ends when a solution is connected ("FEASIBLE"), the
    model becomes infeasible ("INFEASIBLE": a proof, the cuts being valid for every
    connected split) or ``limit`` seconds are spent ("UNKNOWN").
    """
    for cut in cuts:
        _add_cut(model, x, cut)
    q = len(x[0]) - 1
    t0 = time.perf_counter()
    while True:
        left = limit - (time.perf_counter() - t0)
        if left <= 0:
            return "UNKNOWN"
        solver = cp_model.CpSolver()
        solver.parameters.max_time_in_seconds = left
        solver.parameters.num_workers = 1
        status = solver.status_name(solver.solve(model))
        if status not in ("OPTIMAL", "FEASIBLE"):
            return status
        label = np.array([[solver.value(v) for v in row] for row in x]).argmax(axis=1)
        found = []
        for k in range(q + 1):
            members = np.flatnonzero(label == k).tolist()
            parts = sorted(nx.connected_components(links.subgraph(members)), key=len)
            if len(parts) < 2:
                continue
            for part in [c for c in parts if anchor not in c] if k == 0 else parts[:-1]:
                border = tuple(sorted(set().union(*(links[u] for u in part)) - part))
                other = anchor if k == 0 else min(u for u in members if u not in part)
                found.append((k == 0, tuple(sorted(part)), border, other))
        if not found:
            return "FEASIBLE"
        for cut in found:
            _add_cut(model, x, cut)
        cuts.extend(found)


def _details(kind: str, where: str, piece: set, shares: Shares, names: list[str], status: str):
    tot = _total(piece, shares)
    return {
        "argument": kind,
        "bridge": where,
        "piece_units": len(piece),
        **{f"share_{a}": round(float(s), 3) for a, s in zip(names, tot, strict=True)},
        "cpsat": status,
    }


def _pieces(g: nx.Graph, shares: Shares, tau: np.ndarray, limit: float):
    """Candidate arguments: (kind, where, piece, check); ``check(tau)`` gives a status.

    Single units come first, then the heavy pieces: their models are small and answer in
    well under a second.
    """
    half = len(g) // 2

    def total(nodes) -> np.ndarray:
        return _total(nodes, shares)

    # a single unit heavier than any grid allows
    for n in g:
        if np.any(shares[n] > 1.0 + tau):
            yield (
                "unit",
                f"unit {n}",
                {n},
                (lambda t, n=n: "INFEASIBLE" if np.any(shares[n] > 1.0 + t) else "FEASIBLE"),
            )
    cut_vertices = list(nx.articulation_points(g))
    comps_at = {
        v: sorted(nx.connected_components(nx.restricted_view(g, [v], [])), key=len)
        for v in cut_vertices
    }
    # heavy pieces: one component of G - v, or all but the largest, with v
    for v in cut_vertices:
        comps = comps_at[v]
        candidates = [c | {v} for c in comps[:-1]]
        if len(comps) > 2:
            candidates.append(set().union(*comps[:-1]) | {v})
        for piece in candidates:
            s = total(piece)
            if len(piece) > half or np.all(s <= 1.0 + tau) or s.max() > _MAX_PIECE_GRIDS:
                continue
            yield (
                "heavy piece",
                f"cut vertex {v}",
                piece,
                _split_check(g, piece, v, shares, limit),
            )
    for u, v in nx.bridges(g):
        cut = nx.restricted_view(g, [], [(u, v)])
        for a, b in ((u, v), (v, u)):
            piece = nx.node_connected_component(cut, a)
            s = total(piece)
            if len(piece) > half or np.all(s >= 1.0 - tau) or s.max() < 0.5:
                continue  # a grid may fit inside, or the piece is too small to matter
            yield (
                "light piece",
                f"{a}-{b}",
                piece,
                (lambda t, piece=piece, b=b: _extension_exists(g, piece, b, shares, t, limit)),
            )
    for v in cut_vertices:
        comps = comps_at[v]
        light = [c for c in comps if len(c) <= half and np.any(total(c) < 1.0 - tau)]
        if not light:
            continue
        piece = set().union(*light) | {v}
        if total(piece).max() < 0.5:
            continue

        def check(t, v=v, comps=comps, piece=piece):
            light = [c for c in comps if len(c) <= half and np.any(total(c) < 1.0 - t)]
            piece = set().union(*light) | {v} if light else {v}
            s = total(piece)
            if np.any(s > 1.0 + t):
                return "INFEASIBLE"  # the piece alone is too heavy
            if np.all(s >= 1.0 - t):
                return "FEASIBLE"  # the piece may be a grid by itself
            statuses = [
                _extension_exists(g.subgraph(comp | piece), piece - {v}, v, shares, t, limit)
                for comp in comps
                if comp not in light and any(u in comp for u in g[v])
            ]
            if statuses and all(st == "INFEASIBLE" for st in statuses):
                return "INFEASIBLE"
            return ",".join(statuses)

        yield "light pieces", f"cut vertex {v}", piece, check


def prove_graph(
    g: nx.Graph,
    shares: Shares,
    tau: np.ndarray,
    names: list[str] | None = None,
    limit: float = 20.0,
) -> tuple[bool, dict[str, object]]:
    """Look for a piece of ``g`` that no layout can balance; return (proven, details).

    ``shares[n]`` holds node ``n``'s attributes as shares of the mean grid (so the grids'
    totals must lie in ``[1 - tau, 1 + tau]``); ``tau`` has one tolerance per attribute.

    >>> g = nx.path_graph(5)      # two grids: 0-1 | 2-3-4 balances
    >>> sh = {0: [0.6], 1: [0.4], 2: [0.3], 3: [0.4], 4: [0.3]}
    >>> prove_graph(g, {n: np.array(v) for n, v in sh.items()}, np.array([0.05]))[0]
    False
    >>> g.add_edge(1, 3)          # 0 hangs on 1; 0's grid: 0.8 with 1, then 1.1 or more
    >>> sh = {0: [0.6], 1: [0.2], 2: [0.6], 3: [0.3], 4: [0.3]}
    >>> proven, d = prove_graph(g, {n: np.array(v) for n, v in sh.items()}, np.array([0.05]))
    >>> proven, d["argument"]
    (True, 'light piece')
    """
    tau = np.asarray(tau, dtype=np.float64)
    names = names or [f"a{t}" for t in range(tau.shape[0])]
    best: dict[str, object] = {}
    for kind, where, piece, check in _pieces(g, shares, tau, limit):
        status = check(tau)
        d = _details(kind, where, piece, shares, names, status)
        if status == "INFEASIBLE":
            return True, d
        best = best or d
    return False, best


def min_scale(
    g: nx.Graph,
    shares: Shares,
    tau: np.ndarray,
    names: list[str] | None = None,
    hi: float = 4.0,
    tol: float = 0.01,
    limit: float = 20.0,
) -> tuple[float, dict[str, object]]:
    """A lower bound on the tolerance scale any layout needs, and the piece that proves it.

    Returns ``(s, details)``: no layout has every attribute ``a`` within ``s * tau[a]``.
    The piece that proves infeasibility at ``tau`` is re-examined at growing scales
    (bisection to ``tol``, at most ``hi``); ``(0.0, {})`` when nothing is proven at ``tau``.

    >>> g = nx.path_graph(4)      # two grids: 0.9 | 1.1 or 1.1 | 0.9, nothing better
    >>> sh = {0: [0.9], 1: [0.2], 2: [0.6], 3: [0.3]}
    >>> s, d = min_scale(g, {n: np.array(v) for n, v in sh.items()}, np.array([0.05]))
    >>> round(s * 0.05, 3), d["argument"]
    (0.1, 'heavy piece')
    """
    tau = np.asarray(tau, dtype=np.float64)
    names = names or [f"a{t}" for t in range(tau.shape[0])]
    for kind, where, piece, check in _pieces(g, shares, tau, limit):
        if check(tau) != "INFEASIBLE":
            continue
        lo, top = 1.0, hi
        if check(tau * top) == "INFEASIBLE":
            lo = top
        while top - lo > tol:
            mid = 0.5 * (lo + top)
            if check(tau * mid) == "INFEASIBLE":
                lo = mid
            else:
                top = mid
        return lo, _details(kind, where, piece, shares, names, "INFEASIBLE")
    return 0.0, {}


def prove(
    path: Path, p: int = 10, tau: float = 0.05, limit: float = 20.0
) -> tuple[bool, dict[str, object]]:
    """Look for a piece that proves the DTDP instance ``path`` infeasible."""
    g = nx.read_graphml(path)
    totals = {a: sum(int(d[a]) for _, d in g.nodes(data=True)) for a in ACTIVITIES}
    shares = {
        n: np.array([p * int(d[a]) / totals[a] for a in ACTIVITIES]) for n, d in g.nodes(data=True)
    }
    return prove_graph(g, shares, np.full(len(ACTIVITIES), tau), list(ACTIVITIES), limit)


def _solved(summary: Path) -> dict[str, bool]:
    """Instance -> whether gridopt's layout was feasible, from a ``quality.py dtdp`` summary."""
    with summary.open(newline="") as fh:
        return {r["instance"]: r["feasible"] == "True" for r in csv.DictReader(fh)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="folder of *.graphml")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument(
        "--only",
        default=None,
        help="comma-separated globs on the instance name (as quality.py's --only)",
    )
    parser.add_argument("--territories", type=int, default=10)
    parser.add_argument("--tolerance", type=float, default=0.05)
    parser.add_argument(
        "--quality", type=Path, default=None, help="summary.csv of quality.py dtdp to join"
    )
    parser.add_argument(
        "--skip-solved", action="store_true", help="leave out what --quality says gridopt solved"
    )
    args = parser.parse_args(argv)
    files = sorted(args.data.glob("*.graphml"))
    files = select_instances(files, args.only)
    if not files:
        which = f" matches --only {args.only!r}" if args.only else ""
        print(f"error: no *.graphml under {args.data}{which}", file=sys.stderr)
        return 2
    solved: dict[str, bool] = {}
    if args.quality is not None:
        if not args.quality.is_file():
            print(f"error: --quality: no file {args.quality}", file=sys.stderr)
            return 2
        try:
            solved = _solved(args.quality)
        except (KeyError, csv.Error) as exc:
            print(f"error: --quality: not a quality.py dtdp summary ({exc})", file=sys.stderr)
            return 2
    elif args.skip_solved:
        print("error: --skip-solved needs --quality", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for f in files:
        row: dict[str, object] = {"instance": f.stem}
        if f.stem in solved:
            row["gridopt_feasible"] = solved[f.stem]
        if args.skip_solved and solved.get(f.stem):
            row["proven_infeasible"] = False
            rows.append(row)
            print(f"{f.stem:20s} {'skipped':17s} gridopt found a feasible layout")
            continue
        t0 = time.perf_counter()
        proven, details = prove(f, args.territories, args.tolerance)
        row.update({"proven_infeasible": proven, **details})
        row["seconds"] = round(time.perf_counter() - t0, 1)
        rows.append(row)
        print(f"{f.stem:20s} {'PROVEN INFEASIBLE' if proven else 'no proof':17s} {details}")
    fields = ["instance", "proven_infeasible", "argument", "bridge", "piece_units"]
    fields += [f"share_{k}" for k in ACTIVITIES] + ["cpsat", "seconds"]
    if solved:
        fields.append("gridopt_feasible")
    with atomic_path(args.out / "bounds.csv") as tmp, tmp.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
    n = sum(bool(r["proven_infeasible"]) for r in rows)
    print(f"{n} of {len(rows)} instances proven infeasible at +/-{100 * args.tolerance:g} %")
    if not solved:
        return 0
    false_proofs = [
        r["instance"] for r in rows if r["proven_infeasible"] and r.get("gridopt_feasible")
    ]
    feasible = sum(bool(r.get("gridopt_feasible")) for r in rows)
    open_ = [
        r["instance"] for r in rows if not r["proven_infeasible"] and not r.get("gridopt_feasible")
    ]
    print(f"feasible (gridopt): {feasible}, proven infeasible: {n}, open: {len(open_)}")
    if open_:
        print("open: " + " ".join(map(str, open_)))
    if false_proofs:
        print(
            "error: proven infeasible, yet gridopt found a feasible layout: "
            + " ".join(map(str, false_proofs)),
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
