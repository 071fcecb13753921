"""Exact repair of a few grids: CP-SAT re-cuts a group of adjacent grids within tolerance.

The partitioner's moves (single units, swaps, spanning-tree splits) change a layout a
little at a time. Some tolerance violations cannot be fixed that way: a grid walled in by
a river whose only neighbour is full, or a grid whose mix of households and tickets
differs from every neighbour's, so that every single step towards balance makes some
other attribute worse. :func:`repair_group` takes such a grid together with its
neighbouring grids and solves their re-cut exactly, as a constraint program: every unit of
the group goes to one grid of the group, every grid stays connected (each of its units
has a neighbour in the grid that is closer to the grid's root unit) and within every
tolerance, and as few units as possible
change grid. Grids outside the group keep their units, so their totals do not move.

Attribute values are scaled to integers (``_SCALE`` per grid target) and the tolerance
windows narrowed by the largest possible rounding error, so a layout the model accepts is
within tolerance in floating point too.

Examples
--------
>>> import numpy as np
>>> from gridopt.model import Units
>>> ids = range(6)
>>> units = Units.from_edges(ids=ids, x=np.arange(6.0), y=np.zeros(6),
...     attributes={"households": np.array([1.0, 1, 1, 1, 1, 1])},
...     edges=[(i, i + 1) for i in range(5)])
>>> labels = np.array([0, 0, 0, 0, 1, 1])
>>> new = repair_group(units, labels, [0, 1], units.attribute("households")[:, None],
...                    np.full((2, 1), 3.0), np.array([0.01]), time_limit=5.0)
>>> new.tolist()
[0, 0, 0, 1, 1, 1]
"""

from __future__ import annotations

import logging
from collections import deque

import numpy as np
from numpy.typing import NDArray
from scipy import sparse
from scipy.sparse.csgraph import dijkstra

from gridopt.model import Units

__all__ = ["grow_group", "repair_group"]

log = logging.getLogger("gridopt.partition")

#: integer scale: a grid's target is this many integer steps
_SCALE = 1_000_000


def grow_group(
    units: Units,
    labels: NDArray[np.integer],
    start: int,
    attrs: NDArray[np.float64],
    target: NDArray[np.float64],
    tau: NDArray[np.float64],
    max_grids: int = 4,
    min_grids: int = 2,
) -> list[int]:
    """Grids to re-cut together with ``start``: it and its neighbours, most shared border first.

    Grids are added (neighbours of the group, the one sharing most border edges first)
    until the group's totals fit the sum of its grids' tolerance windows on every
    attribute, or ``max_grids`` is reached. Returns the grid ids, ``start`` first.
    """
    k = target.shape[0]
    rows = np.repeat(np.arange(units.n_units), np.diff(units.indptr))
    la = np.asarray(labels)[rows]
    lb = np.asarray(labels)[units.indices]
    cross = la != lb
    lab = np.asarray(labels)
    tot = np.stack(
        [np.bincount(lab, weights=attrs[:, t], minlength=k) for t in range(attrs.shape[1])], 1
    )
    group = [int(start)]
    while True:
        gs = np.array(group)
        s = tot[gs].sum(axis=0)
        lo = (target[gs] * (1.0 - tau)).sum(axis=0)
        hi = (target[gs] * (1.0 + tau)).sum(axis=0)
        if np.all((s >= lo) & (s <= hi)) and len(group) >= min_grids:
            return group
        if len(group) >= max_grids:
            return group
        # border edges from the group to each other grid
        out = cross & np.isin(la, gs)
        shared = np.bincount(lb[out], minlength=k)
        shared[gs] = 0
        if shared.max() <= 0:
            return group
        group.append(int(np.argmax(shared)))


def _roots(local_adj: list[list[int]], lab_local: NDArray[np.int64], group: list[int]) -> list[int]:
    """Per grid, its unit farthest (in edges) from the grid's border: the flow's root."""
    roots = []
    n = lab_local.shape[0]
    for g in group:
        dist = np.full(n, -1, dtype=np.int64)
        q: deque[int] = deque()
        for i in range(n):
            if lab_local[i] == g and any(lab_local[j] != g for j in local_adj[i]):
                dist[i] = 0
                q.append(i)
        mem = np.flatnonzero(lab_local == g)
        if not q:
            roots.append(int(mem[0]))
            continue
        while q:
            i = q.popleft()
            for j in local_adj[i]:
                if lab_local[j] == g and dist[j] < 0:
                    dist[j] = dist[i] + 1
                    q.append(j)
        roots.append(int(mem[np.argmax(dist[mem])]))
    return roots


def repair_group(
    units: Units,
    labels: NDArray[np.integer],
    group: list[int],
    attrs: NDArray[np.float64],
    target: NDArray[np.float64],
    tau: NDArray[np.float64],
    frozen: NDArray[np.integer] | None = None,
    time_limit: float = 5.0,
    seed: int = 0,
    num_workers: int = 2,
    deterministic: bool = False,
) -> NDArray[np.int64] | None:
    """Re-cut the grids ``group`` so that each is connected and within every tolerance.

    Parameters
    ----------
    units : Units
        The unit graph.
    labels : array of int, shape (n_units,)
        Current grid of every unit (each grid connected).
    group : list of int
        Grids to re-cut; units of other grids stay put.
    attrs : array, shape (n_units, m)
        Balanced attributes.
    target, tau : arrays, shapes (n_grids, m) and (m,)
        Grid targets and relative tolerances.
    frozen : array of bool/uint8, optional
        Units that must keep their grid.
    time_limit : float
        CP-SAT's limit in seconds (deterministic time when ``deterministic``).
    seed, num_workers, deterministic
        CP-SAT's random seed, workers and reproducible mode.

    Returns
    -------
    New labels (a copy) with the fewest units changed, or None when the solver finds no
    layout in time (or proves that none exists with the chosen roots).
    """
    from ortools.sat.python import cp_model

    labels = np.asarray(labels, dtype=np.int64)
    gs = [int(g) for g in group]
    G = len(gs)
    if G < 2:
        return None
    U = np.flatnonzero(np.isin(labels, gs))
    nU = U.shape[0]
    pos = np.full(units.n_units, -1, dtype=np.int64)
    pos[U] = np.arange(nU)
    local_adj: list[list[int]] = []
    for i in U:
        nb = units.indices[units.indptr[i] : units.indptr[i + 1]]
        local_adj.append([int(pos[j]) for j in nb if pos[j] >= 0])
    lab_local = labels[U]
    roots = _roots(local_adj, lab_local, gs)
    fz = np.zeros(nU, dtype=bool) if frozen is None else np.asarray(frozen)[U] != 0
    gi = {g: q for q, g in enumerate(gs)}

    model = cp_model.CpModel()
    # x[i][q]: unit i in grid gs[q]; a root and a frozen unit are constants
    x: list[list[object]] = []
    for i in range(nU):
        row: list[object] = []
        fixed_q = -1
        for q in range(G):
            if roots[q] == i:
                fixed_q = q
        if fz[i]:
            fixed_q = gi[int(lab_local[i])]
        for q in range(G):
            if fixed_q >= 0:
                row.append(1 if q == fixed_q else 0)
            else:
                row.append(model.NewBoolVar(""))
        if fixed_q < 0:
            model.AddExactlyOne(row)  # type: ignore[arg-type]
        x.append(row)
    # connectivity: a unit of grid q needs a neighbour in grid q that is closer to q's
    # root, distances taken along q's current units (steps of 1) and across other units
    # (steps of nU), so that every current grid satisfies it; following closer
    # neighbours always ends at the root, hence every grid stays connected
    rr = np.repeat(np.arange(nU), [len(a) for a in local_adj])
    cc = np.fromiter((j for a in local_adj for j in a), dtype=np.int64, count=rr.shape[0])
    for q, g in enumerate(gs):
        inside = (lab_local[rr] == g) & (lab_local[cc] == g)
        w = np.where(inside, 1.0, float(nU))
        graph = sparse.csr_matrix((w, (rr, cc)), shape=(nU, nU))
        dist = dijkstra(graph, directed=True, indices=roots[q])
        for i in range(nU):
            v = x[i][q]
            if i == roots[q] or (isinstance(v, int) and v == 0):
                continue
            closer = [x[j][q] for j in local_adj[i] if dist[j] < dist[i]]
            if any(isinstance(c, int) and c == 1 for c in closer):
                continue
            closer = [c for c in closer if not isinstance(c, int)]
            if isinstance(v, int):  # fixed in q: some closer neighbour must be too
                if not closer:
                    return None
                model.AddBoolOr(closer)  # type: ignore[arg-type]
            elif not closer:
                model.Add(v == 0)  # type: ignore[operator]
            else:
                model.AddBoolOr(closer).OnlyEnforceIf(v)  # type: ignore[arg-type]
    # balance: integer-scaled totals inside windows narrowed by the rounding error
    m = attrs.shape[1]
    A = attrs[U]
    for t in range(m):
        for q, g in enumerate(gs):
            tg = float(target[g, t])
            if tg <= 0:
                continue
            scale = _SCALE / tg
            w = np.rint(A[:, t] * scale).astype(np.int64)
            err = 0.5 * nU + 1.0  # worst rounding error of a sum, in integer steps
            lo = int(np.ceil((1.0 - tau[t]) * _SCALE + err))
            hi = int(np.floor((1.0 + tau[t]) * _SCALE - err))
            if lo > hi:
                return None
            terms = []
            const = 0
            for i in range(nU):
                v = x[i][q]
                if isinstance(v, int):
                    const += int(w[i]) * v
                elif w[i] != 0:
                    terms.append((v, int(w[i])))
            expr = cp_model.LinearExpr.weighted_sum([v for v, _ in terms], [c for _, c in terms])
            model.AddLinearConstraint(expr, lo - const, hi - const)
    # fewest units changing grid
    keep = []
    for i in range(nU):
        v = x[i][gi[int(lab_local[i])]]
        if not isinstance(v, int):
            keep.append(v)
    model.Maximize(sum(keep))  # type: ignore[arg-type]
    for i in range(nU):
        for q in range(G):
            v = x[i][q]
            if not isinstance(v, int):
                model.AddHint(v, int(gs[q] == lab_local[i]))
    solver = cp_model.CpSolver()
    prm = solver.parameters
    prm.random_seed = int(seed) % (2**31 - 1)
    prm.num_workers = max(1, int(num_workers))
    if deterministic:
        prm.max_deterministic_time = max(0.01, float(time_limit))
        prm.max_time_in_seconds = max(1.0, 20.0 * float(time_limit))
        if prm.num_workers > 1:
            prm.interleave_search = True
    else:
        prm.max_time_in_seconds = max(0.01, float(time_limit))
    code = solver.Solve(model)
    if code not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        log.debug("repair of grids %s: %s", gs, solver.StatusName(code))
        return None
    out = labels.copy()
    for i in range(nU):
        for q in range(G):
            v = x[i][q]
            val = v if isinstance(v, int) else solver.Value(v)
            if val:
                out[U[i]] = gs[q]
    log.debug("repair of grids %s: %d of %d units moved", gs, int((out != labels).sum()), nU)
    return out
