"""The grid partitioner: region-growing seeds, contiguity repair, simulated annealing.

:func:`partition` cuts the units into ``n_grids`` connected grids that balance several
attributes within their tolerances and score well on the :class:`~gridopt.score.Objective`.
The search moves border units to a neighbouring grid and swaps pairs of border units
(delta-evaluated in O(degree + attributes), contiguity kept by a bounded articulation
check), plus a larger move that merges two adjacent grids and re-splits them along a
random spanning tree (GerryChain's ReCom), all inside simulated annealing with a
time-based cooling schedule, over one or more restarts.

Examples
--------
>>> import numpy as np
>>> from gridopt.model import Units
>>> from gridopt.partition import partition
>>> from gridopt.score import Objective
>>> xx, yy = np.meshgrid(np.arange(4.0), np.arange(4.0))
>>> idx = np.arange(16).reshape(4, 4)
>>> edges = [(a, b) for a, b in zip(idx[:, :-1].ravel(), idx[:, 1:].ravel())]
>>> edges += [(a, b) for a, b in zip(idx[:-1].ravel(), idx[1:].ravel())]
>>> units = Units.from_edges(ids=range(16), x=xx.ravel(), y=yy.ravel(),
...                          attributes={"households": np.ones(16)}, edges=edges)
>>> res = partition(units, 4, Objective(balance={"households": 0.01}), seed=1,
...                 max_iterations=20_000)
>>> res.status, res.kpis["households"].tolist()
('feasible', [4.0, 4.0, 4.0, 4.0])
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import sparse
from scipy.sparse.csgraph import breadth_first_order, minimum_spanning_tree
from scipy.spatial import ConvexHull, cKDTree

from gridopt.errors import InputError, first_rows
from gridopt.model import Layout, Units
from gridopt.partition import _kernels as PK
from gridopt.partition.contiguity import attach_islands, grid_components, repair_contiguity
from gridopt.partition.seed import grow_layout
from gridopt.score import _kernels as K
from gridopt.score.objective import Objective, Score, Scorer

__all__ = ["PartitionResult", "choose_n_grids", "partition"]

log = logging.getLogger("gridopt.partition")

# balance phase cost: s^2 + _W_EX * max(0, |s| - _MARGIN), s = deviation / tolerance
_MARGIN = 0.8
_W_EX = 10.0
# balance rounds without a 1 % lower excess before the balance phase hands over
_STALL_ROUNDS = 8

Progress = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class PartitionResult:
    """A grid layout with its score, KPIs, status and run statistics.

    Attributes
    ----------
    labels : ndarray of int32, shape (n_units,)
        Grid of each unit.
    n_grids : int
    bases : ndarray of int32, shape (n_grids,)
        Base unit of each grid: the station's unit for anchored grids, otherwise the unit
        nearest the grid's mass centre (an approximate 1-median).
    status : str
        ``"feasible"`` (connected and within every tolerance), ``"infeasible"`` (a
        tolerance no layout can meet, or none found), ``"time_limit"`` (no feasible
        layout found before the time limit).
    feasible, contiguous : bool
    score : Score
        The objective's evaluation of ``labels``.
    kpis : dict of str to ndarray, each shape (n_grids,)
        Per grid: ``units``, every unit attribute's total, ``<attr>_deviation`` (relative,
        for balanced attributes), ``area`` (m2), ``diameter`` (network diameter when a
        distance matrix was given, else the centroid diameter in metres),
        ``border_length`` (m), ``base``.
    violations : tuple of str
        What makes the layout infeasible, with figures (empty when feasible). Checked
        before the search, and proving that no layout can meet a tolerance: a unit that
        alone outweighs a grid, units locked to one grid that do, and (connected grids)
        units hanging on one unit in pieces too light for a grid of their own, which
        therefore share that unit's grid and outweigh it.
    stats : dict
        ``iterations``, ``accepted``, ``rejected_contiguity``, ``recom_accepted`` (summed
        over all runs), ``restarts`` (runs, the polish runs included), ``workers``,
        ``seed_time``, ``time_to_feasible``, ``trace`` (list of (seconds, best score of the
        run then), all runs merged in time order), and more.
    runtime : float
        Seconds.
    """

    labels: NDArray[np.int32]
    n_grids: int
    bases: NDArray[np.int32]
    status: str
    feasible: bool
    contiguous: bool
    score: Score
    kpis: dict[str, NDArray[Any]]
    violations: tuple[str, ...]
    stats: dict[str, Any] = field(default_factory=dict)
    runtime: float = 0.0

    def layout(self) -> Layout:
        """The labels and bases as a :class:`~gridopt.model.Layout`."""
        return Layout(labels=self.labels, n_grids=self.n_grids, bases=self.bases)

    def kpi_table(self) -> Any:
        """The per-grid KPIs as a pandas DataFrame indexed by grid."""
        import pandas as pd

        df = pd.DataFrame(self.kpis)
        df.index.name = "grid"
        return df

    def summary(self) -> str:
        """A few lines for logs and the CLI."""
        dev = ", ".join(f"{a} {v:.1%}" for a, v in self.score.max_deviation.items())
        lines = [
            f"{self.n_grids} grids, status {self.status}, score {self.score.total:.4g}",
            f"worst deviation: {dev}; contiguous: {self.contiguous}",
            f"{self.stats.get('iterations', 0)} moves tried in {self.runtime:.1f} s",
        ]
        lines += [f"violation: {v}" for v in self.violations[:5]]
        return "\n".join(lines)


def choose_n_grids(units: Units, attribute: str, target: float) -> int:
    """Number of grids so that each carries about ``target`` of ``attribute``.

    Returns ``ceil(total / target)``, at least 1 and at most the number of units.

    Raises
    ------
    InputError
        Unknown attribute, or a target that is not a positive number.

    Examples
    --------
    >>> from gridopt.model import Units
    >>> u = Units.from_edges(ids=[0, 1, 2], x=[0.0, 1, 2], y=[0.0] * 3,
    ...                      attributes={"households": [400, 500, 300]}, edges=[(0, 1), (1, 2)])
    >>> choose_n_grids(u, "households", 500)
    3
    """
    if attribute not in units.attribute_names:
        raise InputError(
            "attribute", f"unknown attribute {attribute!r}; units have {units.attribute_names}"
        )
    try:
        t = float(target)
    except (TypeError, ValueError):
        raise InputError("target", f"must be a number, got {target!r}") from None
    if not math.isfinite(t) or t <= 0:
        raise InputError("target", f"must be > 0, got {target!r}")
    total = float(units.attribute(attribute).sum())
    return int(min(units.n_units, max(1, math.ceil(total / t - 1e-9))))


# ------------------------------------------------------------------------ validation


def _check_stations(units: Units, stations: ArrayLike | None, k: int) -> NDArray[np.int64]:
    """Unit of each anchored grid's station (grids 0..n_stations-1), -1 for the rest."""
    fixed = np.full(k, -1, dtype=np.int64)
    if stations is None:
        return fixed
    st = np.asarray(stations, dtype=np.float64)
    if st.ndim != 2 or st.shape[1] != 2:
        raise InputError("stations", f"must have shape (n_stations, 2), got {st.shape}")
    bad = ~np.isfinite(st).all(axis=1)
    if bad.any():
        raise InputError("stations", "must be finite", first_rows(bad), int(bad.sum()))
    if st.shape[0] > k:
        raise InputError("stations", f"{st.shape[0]} stations for {k} grids: at most one per grid")
    rows = np.repeat(np.arange(units.n_units), np.diff(units.indptr))
    elen = np.hypot(units.x[rows] - units.x[units.indices], units.y[rows] - units.y[units.indices])
    margin = float(np.median(elen)) if elen.size else 0.0
    outside = (
        (st[:, 0] < units.x.min() - margin)
        | (st[:, 0] > units.x.max() + margin)
        | (st[:, 1] < units.y.min() - margin)
        | (st[:, 1] > units.y.max() + margin)
    )
    if outside.any():
        raise InputError(
            "stations",
            "outside the service area (bounding box of the units)",
            first_rows(outside),
            int(outside.sum()),
        )
    _, near = cKDTree(np.column_stack([units.x, units.y])).query(st)
    near = np.asarray(near, dtype=np.int64)
    uniq, counts = np.unique(near, return_counts=True)
    if (counts > 1).any():
        dup = np.flatnonzero(np.isin(near, uniq[counts > 1]))
        raise InputError("stations", "two stations share the same nearest unit", first_rows(dup))
    fixed[: st.shape[0]] = near
    return fixed


def _check_locked(
    locked: ArrayLike | None, n: int, k: int, fixed: NDArray[np.int64]
) -> NDArray[np.int64]:
    if locked is None:
        lk = np.full(n, -1, dtype=np.int64)
    else:
        lk = np.asarray(locked)
        if lk.shape != (n,):
            raise InputError(
                "locked", f"must have {n} entries (-1 for free units), got shape {lk.shape}"
            )
        if not np.issubdtype(lk.dtype, np.integer):
            raise InputError("locked", "must be integers (grid index, -1 for free)")
        bad = (lk < -1) | (lk >= k)
        if bad.any():
            raise InputError(
                "locked", f"must be -1 or a grid in 0..{k - 1}", first_rows(bad), int(bad.sum())
            )
        lk = lk.astype(np.int64)
    g = np.flatnonzero(fixed >= 0)
    conflict = (lk[fixed[g]] >= 0) & (lk[fixed[g]] != g)
    if conflict.any():
        rows = fixed[g][conflict]
        raise InputError(
            "locked",
            "a unit holding a fixed base is locked to another grid",
            first_rows(rows),
            rows.size,
        )
    out = lk.copy()
    out[fixed[g]] = g
    return out


def _precheck(scorer: Scorer, locked: NDArray[np.int64], connected: bool) -> list[str]:
    """Tolerances no layout can meet, with figures.

    With ``connected`` grids, also the pieces that hang on one unit of the scorer's
    units: see :func:`_hanging_excess`.
    """
    msgs = _hanging_excess(scorer) if connected else []
    hi = scorer.target * (1.0 + scorer.tau[None, :])
    for t, name in enumerate(scorer.objective.attributes):
        col = scorer.attrs[:, t]
        u = int(np.argmax(col))
        cap = float(hi[:, t].max())
        if col[u] > cap:
            msgs.append(
                f"{name}: unit {scorer.units.ids[u]} alone holds {col[u]:.6g}, above the largest "
                f"allowed grid total {cap:.6g} (target +{scorer.tau[t]:.0%}) by "
                f"{col[u] / cap - 1:.1%}"
            )
        fixed = locked >= 0
        if fixed.any():
            lt = np.bincount(locked[fixed], weights=col[fixed], minlength=scorer.n_grids)
            over = lt > hi[:, t]
            if over.any():
                g = int(np.argmax(lt / hi[:, t]))
                msgs.append(
                    f"{name}: units locked to grid {g} hold {lt[g]:.6g}, above its allowed "
                    f"{hi[g, t]:.6g} by {lt[g] / hi[g, t] - 1:.1%}"
                )
    return msgs


def _hanging_excess(scorer: Scorer) -> list[str]:
    """Cut vertices whose light pieces make one grid too heavy (connected grids only).

    Take a unit ``v`` whose removal splits the unit graph. A piece of the graph without
    ``v`` that is below every grid's lower limit in some attribute cannot hold a grid of
    its own, so each of its units belongs to a grid that also holds units outside the
    piece; being connected, that grid passes through ``v``. All such pieces therefore
    share ``v``'s grid. When they weigh, with ``v``, more than the largest allowed grid
    total in some attribute, no layout meets the tolerances. One message per attribute,
    for the unit where the excess is largest.
    """
    attrs, graph = scorer.attrs, scorer.units
    n, m = attrs.shape
    if m == 0 or n < 3:
        return []
    lo = (scorer.target * (1.0 - scorer.tau[None, :])).min(axis=0)
    hi = (scorer.target * (1.0 + scorer.tau[None, :])).max(axis=0)
    vals = np.ascontiguousarray(attrs, dtype=np.float64)
    unit = np.empty(n, dtype=np.int64)
    sums = np.empty((n, m))
    size = np.empty(n, dtype=np.int64)
    rows = PK.hanging_pieces(
        graph.indptr.astype(np.int64), graph.indices.astype(np.int64), vals, unit, sums, size
    )
    unit, sums, size = unit[:rows], sums[:rows], size[:rows]
    # the rest of the graph without v (the side of v's search parent) is one more piece
    listed = np.zeros((n, m))
    np.add.at(listed, unit, sums)
    n_listed = np.bincount(unit, weights=size, minlength=n)
    cut = np.unique(unit)
    rest = vals.sum(axis=0)[None, :] - vals[cut] - listed[cut]
    n_rest = (n - 1 - n_listed[cut]).astype(np.int64)
    unit = np.concatenate([unit, cut[n_rest > 0]])
    sums = np.concatenate([sums, rest[n_rest > 0]])
    size = np.concatenate([size, n_rest[n_rest > 0]])
    light = np.any(sums < lo[None, :] * (1.0 - 1e-9), axis=1)
    joined = vals.copy()
    np.add.at(joined, unit[light], sums[light])
    joined_n = np.bincount(unit[light], weights=size[light], minlength=n).astype(np.int64)
    msgs = []
    for t, name in enumerate(scorer.objective.attributes):
        ratio = np.where(joined_n > 0, joined[:, t] / max(hi[t], 1e-300), 0.0)
        v = int(np.argmax(ratio))
        if ratio[v] > 1.0 + 1e-9:
            msgs.append(
                f"{name}: the {joined_n[v]} units that hang on unit {graph.ids[v]} in pieces "
                f"too light for a grid of their own must share its grid, which then holds "
                f"{joined[v, t]:.6g}, above the largest allowed grid total {hi[t]:.6g} "
                f"(target +{scorer.tau[t]:.0%}) by {ratio[v] - 1:.1%}"
            )
    return msgs


# --------------------------------------------------------------------------- helpers


def _centre_units(x, y, w, labels, k) -> NDArray[np.int64]:
    """Per grid, the unit nearest its mass centre."""
    wp = w + 1e-12
    wsum = np.bincount(labels, weights=wp, minlength=k)
    cx = np.bincount(labels, weights=wp * x, minlength=k) / np.maximum(wsum, 1e-300)
    cy = np.bincount(labels, weights=wp * y, minlength=k) / np.maximum(wsum, 1e-300)
    d2 = (x - cx[labels]) ** 2 + (y - cy[labels]) ** 2
    order = np.lexsort((d2, labels))
    first = np.ones(labels.shape[0], dtype=bool)
    first[1:] = labels[order][1:] != labels[order][:-1]
    out = np.full(k, -1, dtype=np.int64)
    out[labels[order[first]]] = order[first]
    return out


def _euclid_diameters(x, y, labels, k) -> NDArray[np.float64]:
    out = np.zeros(k)
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(k + 1))
    for g in range(k):
        idx = order[bounds[g] : bounds[g + 1]]
        pts = np.column_stack([x[idx], y[idx]])
        if idx.size > 3:
            try:
                pts = pts[ConvexHull(pts).vertices]
            except Exception:  # collinear or duplicate points: use them all
                pts = pts[:: max(1, idx.size // 200)]
        if pts.shape[0] > 1:
            d = np.hypot(pts[:, None, 0] - pts[None, :, 0], pts[:, None, 1] - pts[None, :, 1])
            out[g] = float(d.max())
    return out


def _network_diameters(D, labels, k) -> NDArray[np.float64]:
    out = np.zeros(k)
    for g in range(k):
        idx = np.flatnonzero(labels == g)
        if idx.size > 1:
            out[g] = float(D[np.ix_(idx, idx)].max())
    return out


class _Search:
    """One annealing run's mutable state (labels, aggregates, counters)."""

    def __init__(self, scorer: Scorer, labels: NDArray[np.int32], frozen: NDArray[np.uint8], contiguity: bool,
                 rng: np.random.Generator, free_bases: bool) -> None:  # fmt: skip
        self.sc = scorer
        self.lab = labels
        self.frozen = frozen
        self.contiguity = contiguity
        self.rng = rng
        self.free_bases = free_bases
        n, k = scorer.units.n_units, scorer.n_grids
        self.state = scorer.new_state()
        self.sizes = np.bincount(labels, minlength=k).astype(np.int64)
        self.stamp = np.zeros(1, dtype=np.int64)
        self.mark = np.zeros(n, dtype=np.int64)
        self.queue = np.zeros(n + 1, dtype=np.int64)
        # the annealing's border list (scratch, rebuilt at each call)
        self.nfor = np.zeros(n, dtype=np.int64)
        self.bpos = np.zeros(n, dtype=np.int64)
        self.blist = np.zeros(n, dtype=np.int64)
        self.krng = np.array([rng.integers(1, 2**63 - 1)], dtype=np.uint64)
        self.stats = np.zeros(4, dtype=np.int64)
        self.recom_tried = 0
        self.n_trees = 8
        self.recom_accepted = 0
        # with a diameter objective, merge-and-split looks at the largest grid half of the
        # time and keeps, of its trees' splits within tolerance, the one with the
        # smallest diameters (a random split of a min-max objective is almost never taken)
        self.diam_recom = scorer.coef[4] != 0 and scorer.D.size > 0
        # set by another search thread that failed: stop at the next check
        self.cancel: threading.Event | None = None
        u = scorer.units
        self.adj = sparse.csr_matrix(
            (np.ones(u.indices.shape[0]), u.indices, u.indptr), shape=(n, n)
        )
        self.rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(u.indptr))
        self.cur = self.resync()

    def resync(self) -> float:
        if self.free_bases:
            self.update_bases()
        self.cur = self.sc.full(self.lab, self.state)
        return self.cur

    def feasible(self) -> bool:
        """Every grid within every tolerance (from the kept totals)."""
        dev = np.abs(self.state["tot"] / self.sc.target - 1.0)
        return bool(np.all(dev <= self.sc.tau[None, :] + 1e-12))

    def update_bases(self) -> None:
        sc = self.sc
        k = sc.n_grids
        c = _centre_units(sc.x, sc.y, sc.w, self.lab, k)
        bx = np.where(np.isnan(sc.fixed_bx), sc.x[c], sc.fixed_bx)
        by = np.where(np.isnan(sc.fixed_by), sc.y[c], sc.fixed_by)
        sc.bx[:] = bx
        sc.by[:] = by

    def temperature0(self) -> float:
        """Median positive delta of random border moves: the start temperature."""
        sc, lab = self.sc, self.lab
        e = self.rng.integers(0, self.rows.shape[0], size=min(4000, max(self.rows.shape[0], 1)))
        i, j = self.rows[e], sc.indices[e]
        keep = lab[i] != lab[j]
        i, j = i[keep][:1000], j[keep][:1000]
        if i.size == 0:
            return max(abs(self.cur), 1.0) * 1e-3
        # the temperature follows the soft terms (compactness, soft balance...): the hard
        # penalty for leaving a tolerance band should stay (nearly) prohibitive
        ch = sc.ch.copy()
        sc.ch[:] = 0.0
        try:
            out = sc.delta_moves(lab, self.state, i, lab[j])
        finally:
            sc.ch[:] = ch
        pos = out[out > 0]
        return float(np.median(pos)) if pos.size else max(abs(self.cur), 1.0) * 1e-3

    def anneal(
        self,
        n_iter: int,
        t_start: float,
        t_end: float,
        p_swap: float,
        bfs_limit: int,
        group_limit: int,
    ) -> None:
        sc = self.sc
        st = self.state
        K.anneal(
            self.lab, *sc.data(), *sc.params(), st["tot"], st["mom"], st["acc"], st["diam"],
            st["members"], self.frozen, self.sizes, self.contiguity, bfs_limit, group_limit, n_iter,
            t_start, t_end, p_swap, self.krng, self.stamp, self.mark, self.queue, self.stats,
            self.nfor, self.bpos, self.blist,
        )  # fmt: skip

    def balance(
        self, deadline: float, bfs_limit: int, group_limit: int, chunk: int, max_chunks: int | None
    ) -> int:
        """Balance-first phase: late-acceptance descent until every grid is in tolerance.

        Runs chunks of ``chunk`` proposals until the layout is feasible, ``deadline``
        (perf_counter seconds) passes, ``max_chunks`` chunks are done or ``_STALL_ROUNDS``
        rounds in a row fail to lower the excess over the tolerances by 1 %; returns the
        proposals evaluated. The state is resynchronised afterwards.
        """
        sc = self.sc
        m = sc.attrs.shape[1]
        if m == 0 or self.feasible():
            return 0
        itau = np.ascontiguousarray(1.0 / sc.tau)
        tot = np.ascontiguousarray(self.state["tot"].copy())
        n, k = self.lab.shape[0], sc.n_grids
        lab0 = self.lab.copy()
        w_ex = np.full((k, m), _W_EX)
        hist = np.zeros(1000)
        hist_r = np.zeros(50)
        out = np.zeros(4)
        vec = np.zeros(m)
        pos = np.full(n, -1, dtype=np.int64)
        scratch = [np.zeros(n, dtype=np.int64) for _ in range(6)]
        lv = np.zeros((n, m))
        group = np.zeros(4, dtype=np.int64)
        tg = np.zeros((4, m))
        cum = np.zeros(m)
        in_tree = np.zeros(n, dtype=np.uint8)
        sums = np.zeros((n, m + 2))
        grid_nb = np.zeros(k, dtype=np.int64)
        ghead = np.zeros(k, dtype=np.int64)
        gnext = np.zeros(n, dtype=np.int64)
        done = 0
        n_chunks = 0
        best_exc, stall = np.inf, 0
        while True:
            # breakout: violations that persist weigh more, which reshapes the landscape
            # around a local minimum; the late-acceptance lists restart at the new cost
            bad = np.abs(tot / sc.target - 1.0) > sc.tau[None, :]
            w_ex[bad] = np.minimum(w_ex[bad] * 1.5, 1e4)
            # near feasibility, each merge-and-split looks at more trees
            n_trees = 4 if int(bad.sum()) > 3 else 16
            c0 = PK.balance_cost(tot, sc.itarget, itau, _MARGIN, w_ex)
            hist[:] = c0
            hist_r[:] = c0
            if self.contiguity and k > 1:
                # merge-and-split moves re-cut two to four grids anywhere along a tree:
                # they fix chains of units where single moves would split a grid
                PK.recom_balance(
                    self.lab, sc.attrs, sc.itarget, itau, sc.indptr, sc.indices, self.frozen,
                    self.sizes, tot, _MARGIN, w_ex, 4 * k, n_trees, hist_r, self.krng, pos,
                    *scratch[:4], in_tree, sums, scratch[4], grid_nb, 4, sc.target, sc.tau, lv,
                    scratch[5], group, tg, cum, ghead, gnext, out,
                )  # fmt: skip
                done += int(out[1])
                if out[3] == 0:
                    break
                # the late-acceptance list of the single moves starts from where the
                # merge-and-split moves left the cost, not from before them
                hist[:] = out[0]
            # border pairs of the grids out of tolerance now: half of the proposals
            bad_g = (np.abs(tot / sc.target - 1.0) > sc.tau[None, :]).any(axis=1)
            la, lb = self.lab[self.rows], self.lab[sc.indices]
            sel = (la != lb) & (bad_g[la] | bad_g[lb])
            focus_i = np.ascontiguousarray(self.rows[sel])
            focus_j = np.ascontiguousarray(sc.indices[sel].astype(np.int64))
            PK.balance_search(
                self.lab, sc.attrs, sc.itarget, itau, sc.indptr, sc.indices, self.frozen,
                self.sizes, tot, _MARGIN, w_ex, chunk, 0.3, bfs_limit, group_limit,
                self.contiguity, hist, self.krng, self.stamp, self.mark, self.queue, vec,
                focus_i, focus_j, out,
            )  # fmt: skip
            done += int(out[1])
            n_chunks += 1
            if out[3] == 0 or time.perf_counter() >= deadline:
                break
            if self.cancel is not None and self.cancel.is_set():
                break
            if max_chunks is not None and n_chunks >= max_chunks:
                break
            dev = np.abs(sc.deviations(tot))
            exc = float(((dev - sc.tau[None, :]).clip(0) / sc.tau[None, :]).sum())
            log.debug("balance round: excess %.4g, %d pairs out", exc, int(out[3]))
            if exc < 0.99 * best_exc:
                best_exc, stall = exc, 0
            else:
                stall += 1
            if stall >= _STALL_ROUNDS:
                break  # stalled: the annealing closes the last gaps
        counts = np.bincount(self.lab, minlength=k)
        if (counts == 0).any():  # never hand back a layout with an empty grid
            log.warning("balance phase emptied a grid; keeping the layout it started from")
            self.lab[:] = lab0
            counts = np.bincount(self.lab, minlength=k)
        self.sizes[:] = counts
        self.resync()
        return done

    def worst_excess(self) -> float:
        """:func:`_worst_excess` of the kept totals."""
        dev = np.abs(self.sc.deviations(self.state["tot"]))
        return _worst_excess(dev.max(axis=0, initial=0.0), self.sc.tau)

    def _pick_pair(self) -> tuple[int, int] | None:
        """A grid (out of tolerance ones preferred) and a random neighbouring grid."""
        sc, lab, rng = self.sc, self.lab, self.rng
        excess = (np.abs(self.state["tot"] / sc.target - 1.0) - sc.tau[None, :]).clip(0).sum(axis=1)
        total = excess.sum()
        a0 = -1
        if self.diam_recom and total == 0 and rng.random() < 0.5:
            # a min-max diameter: the largest grid
            diam = self.state["diam"]
            top = np.flatnonzero(diam >= diam.max() - 1e-12)
            a0 = int(top[rng.integers(0, top.size)])
        elif total > 0 and rng.random() < 0.7:
            a0 = int(rng.choice(excess.shape[0], p=excess / total))
        if a0 >= 0:
            cand = np.flatnonzero((lab[self.rows] == a0) & (lab[sc.indices] != a0))
            if cand.size == 0:
                return None
            e = int(cand[rng.integers(0, cand.size)])
        else:
            for _ in range(20):
                e = int(rng.integers(0, self.rows.shape[0]))
                if lab[self.rows[e]] != lab[sc.indices[e]]:
                    break
            else:
                return None
        return int(lab[self.rows[e]]), int(lab[sc.indices[e]])

    def _split_dterm(
        self, U: NDArray[np.int64], new: NDArray[np.int64], G: NDArray[np.int64]
    ) -> float:
        """The diameter term of the layout with the units U relabelled to ``new``."""
        D = self.sc.D
        diam = self.state["diam"].copy()
        for g in G:
            P = U[new == g]
            diam[g] = D[np.ix_(P, P)].max() if P.size else 0.0
        return float(K._diam_term(diam, -1, 0.0, -1, 0.0))

    def recom(self, temp: float) -> None:
        """Merge two or three adjacent grids and re-split them along a random spanning tree.

        Parts are carved off the tree one at a time (a subtree whose totals fit a grid's
        targets); with two grids the best-balanced cut of a few trees is taken, with three
        only a split with every part within tolerance. With a diameter objective every
        tree is cut, and of the splits within tolerance the one with the smallest
        diameter term wins (the first balanced split of a random tree has ragged parts,
        which a min-max objective almost never accepts); half of the pairs then start
        from the grid with the largest diameter.
        """
        sc, lab, rng = self.sc, self.lab, self.rng
        self.recom_tried += 1
        pair = self._pick_pair()
        if pair is None:
            return
        grids = [pair[0], pair[1]]
        if rng.random() < 0.5:
            mask = (lab[self.rows] == grids[0]) | (lab[self.rows] == grids[1])
            other = lab[sc.indices[mask]]
            other = other[(other != grids[0]) & (other != grids[1])]
            if other.size:
                grids.append(int(other[rng.integers(0, other.size)]))
        G = np.array(grids)
        inU = np.isin(lab, G)
        U = np.flatnonzero(inU)
        sub = sparse.triu(self.adj[U][:, U], k=1).tocsr()
        m = sc.attrs.shape[1]
        vals = sc.attrs[U] if m else np.ones((U.shape[0], 1))
        tgt = sc.target[G] if m else np.full((len(G), 1), vals.sum() / len(G))
        tau = sc.tau[None, :] if m else np.full((1, 1), 0.05)
        fz_units = np.flatnonzero(self.frozen[U] != 0)
        best = None
        for _t in range(self.n_trees):
            sub.data = rng.random(sub.data.shape[0]) + 1e-9
            tree = minimum_spanning_tree(sub)
            tree = tree + tree.T
            order, pred = breadth_first_order(tree, 0, directed=False, return_predecessors=True)
            if order.shape[0] != U.shape[0]:
                return
            sums = vals.copy()
            PK.subtree_sums(order, pred, sums)
            part = np.full(U.shape[0], -1, dtype=np.int64)
            alive = np.ones(U.shape[0], dtype=bool)
            in_sub = np.zeros(U.shape[0], dtype=bool)
            left = list(range(len(G)))
            worst = 0.0
            nonroot = order[1:]
            for _p in range(len(G) - 1):
                cand = nonroot[alive[nonroot]]
                if cand.size == 0:
                    break
                S = sums[cand]
                # cost of each cut for each remaining grid: worst relative deviation / tau
                cost = np.stack([(np.abs(S / tgt[g] - 1.0) / tau).max(axis=1) for g in left])
                g_i, c_i = np.unravel_index(int(np.argmin(cost)), cost.shape)
                c = float(cost[g_i, c_i])
                good = np.flatnonzero(cost[g_i] <= c * 1.05 + 1e-12)
                c_i = int(good[rng.integers(0, good.size)])
                v = int(cand[c_i])
                worst = max(worst, float(cost[g_i, c_i]))
                # the subtree of v becomes a part
                PK.cut_subtree(order, pred, alive, v, sums, in_sub)
                part[in_sub] = left[g_i]
                left.pop(g_i)
            if len(left) != 1 or not alive.any():
                continue
            part[alive] = left[0]
            rest = vals[alive].sum(axis=0)
            worst = max(worst, float((np.abs(rest / tgt[left[0]] - 1.0) / tau).max()))
            new = G[part]
            if fz_units.size and np.any(new[fz_units] != lab[U][fz_units]):
                continue
            # the best-balanced split; with a diameter objective, of the splits within
            # tolerance the one with the smallest diameters (every tree is cut)
            key = (worst, 0.0)
            if self.diam_recom and worst <= 1.0:
                key = (0.0, self._split_dterm(U, new, G))
            if best is None or key < best[2]:
                best = (worst, new, key)
            if worst <= 1.0 and not self.diam_recom:
                break
        if best is None or (len(G) > 2 and best[0] > 1.0):
            return
        new = best[1].astype(np.int64)
        changed = new != lab[U]
        if not changed.any():
            return
        moved = U[changed].astype(np.int64)
        to = new[changed]
        old = lab[moved].astype(np.int64)
        st = self.state
        args = (
            *sc.data(),
            *sc.params(),
            st["tot"],
            st["mom"],
            st["acc"],
            st["diam"],
            st["members"],
            self.sizes,
        )
        d = K.relabel(moved, to, lab, *args)
        if d <= 0 or rng.random() < math.exp(-d / max(temp, 1e-300)):
            self.cur += d
            self.recom_accepted += 1
        else:
            K.relabel(moved[::-1].copy(), old[::-1].copy(), lab, *args)


# ------------------------------------------------------------------------ partition

_COUNTERS = ("iterations", "accepted", "rejected_contiguity", "improving", "recom_tried",
             "recom_accepted")  # fmt: skip


@dataclass
class _Run:
    """What one restart or polish run hands back to :func:`partition`."""

    r: int
    key: tuple = ()
    labels: Any = None
    done: int = 0
    counters: list[int] = field(default_factory=lambda: [0] * len(_COUNTERS))
    seed_time: float = 0.0
    balance_iterations: int = 0
    balance_time: float = 0.0
    feasible_at: float | None = None
    stopped_by_time: bool = False
    trace: list[tuple[float, float]] = field(default_factory=list)


class _Reporter:
    """Progress of all search threads through one callback, one call at a time.

    Search reports are thinned to ten a second; the best score and feasibility shown are
    the best over the runs so far.
    """

    def __init__(self, progress: Progress | None, t0: float) -> None:
        self.progress = progress
        self.t0 = t0
        self.lock = threading.Lock()
        self.last = 0.0
        self.iterations = 0
        self.best: tuple[bool, float] | None = None

    def raw(self, info: dict[str, Any]) -> None:
        if self.progress is not None:
            with self.lock:
                self.progress(info)

    def search(self, r: int, best: float, feasible: bool, n_iter: int) -> None:
        if self.progress is None:
            return
        with self.lock:
            self.iterations += n_iter
            key = (not feasible, best)
            if self.best is None or key < self.best:
                self.best = key
            now = time.perf_counter()
            if now - self.last <= 0.1:
                return
            self.last = now
            self.progress({"phase": "search", "restart": r, "elapsed": now - self.t0,
                           "best": self.best[1], "feasible": not self.best[0],
                           "iterations": self.iterations})  # fmt: skip


def _in_threads(fn: Callable[[int], list[_Run]], n: int, cancel: threading.Event) -> list[_Run]:
    """``fn(0) + ... + fn(n - 1)``, on ``n`` threads when ``n > 1`` (the kernels release the
    GIL). An error in one thread, or an interrupt, sets ``cancel`` (the searches check it
    after every chunk) and is raised again here once the other threads have stopped."""
    if n == 1:
        return fn(0)
    with ThreadPoolExecutor(max_workers=n, thread_name_prefix="gridopt-search") as ex:
        futures = [ex.submit(fn, w) for w in range(n)]
        try:
            return [run for f in futures for run in f.result()]
        except BaseException:
            cancel.set()
            raise


def partition(
    units: Units,
    n_grids: int,
    objective: Objective | None = None,
    *,
    seed: int = 0,
    time_limit: float = 60.0,
    max_iterations: int | None = None,
    max_no_improve: int | None = None,
    n_restarts: int = 1,
    contiguity: bool = True,
    locked: ArrayLike | None = None,
    stations: ArrayLike | None = None,
    initial: ArrayLike | None = None,
    previous: Layout | ArrayLike | None = None,
    distance: ArrayLike | None = None,
    islands: str = "attach",
    recom: bool = True,
    recom_share: float = 0.3,
    p_swap: float = 0.2,
    bfs_limit: int = 400,
    group_limit: int = 12,
    progress: Progress | None = None,
    balance_share: float = 0.5,
    patience: float | None = None,
    polish: float = 0.0,
    workers: int = 1,
) -> PartitionResult:
    """Cut units into ``n_grids`` connected, balanced, compact grids.

    Parameters
    ----------
    units : Units
        The units; their adjacency defines contiguity.
    n_grids : int
        Number of grids (see :func:`choose_n_grids`).
    objective : Objective, optional
        Default: balance the first attribute within +/-5 %, inertia compactness.
    seed : int
        Seed of every random choice; same input and seed give the same layout (with
        ``max_iterations`` and ``time_limit=inf``; a time limit makes the amount of
        search depend on machine speed).
    time_limit : float
        Seconds for the whole run (seeding included).
    max_iterations : int, optional
        Stop after this many proposals in total. A proposal is a draw of a random unit
        and a neighbour's grid; the annealing skips the draws of units with no
        neighbour in another grid (which cannot move) without spending time on them,
        but counts them, so the figure keeps its meaning as the layout's border grows
        or shrinks.
    max_no_improve : int, optional
        Stop a restart after this many proposals without a better layout.
    n_restarts : int
        Independent runs from different seeds; the best layout wins.
    contiguity : bool
        Keep every grid connected. ``False`` gives a pure capacitated assignment
        (moves still go to neighbouring grids).
    locked : array_like of int, shape (n_units,), optional
        Grid each unit is locked to, -1 for free units.
    stations : array_like of float, shape (n_stations, 2), optional
        Fixed bases (metric x/y): grid ``s`` is anchored to station ``s``; the unit
        nearest a station is its base, locked to it, and travel is measured to the
        station.
    initial : array_like of int, shape (n_units,), optional
        Start layout instead of region growing (first restart).
    previous : Layout or array_like of int, optional
        The current layout, for the stability term.
    distance : array_like of float, shape (n_units, n_units), optional
        Pairwise distances for ``compactness="diameter"`` and the KPI ``diameter``.
    islands : {"attach", "refuse"}
        Disconnected unit graphs: attach each island to the mainland by an extra edge
        between the closest pair of units (see :func:`~gridopt.partition.contiguity.attach_islands`)
        or raise.
    recom : bool
        Use the merge-and-split move. With ``compactness="diameter"`` it targets the
        grid with the largest diameter half of the time and keeps the split of smallest
        diameters among those within tolerance.
    recom_share : float
        Share of the search time given to merge-and-split moves.
    p_swap : float
        Share of proposals that are swaps.
    bfs_limit : int
        Units visited at most by one articulation check (a longer check rejects the move).
    group_limit : int
        A unit whose leaving would split its grid may move together with the pieces
        (each at most this many units) that hang on it; 0 disables these group moves.
    progress : callable, optional
        Called with a dict (``phase``, ``restart``, ``elapsed``, ``best``, ``feasible``,
        ``iterations``) about ten times a second at most.
    balance_share : float
        Share of each restart's time that the balance-first phase may use before the
        annealing starts: moves, swaps, group moves and merge-and-split of two to four
        grids on the sum of squared deviations in units of the tolerance, with breakout
        weights on persistent violations. It stops as soon as every grid is within
        tolerance, or once 8 rounds in a row lower the excess over the tolerances by
        less than 1 % (the annealing then closes the last gaps).
    patience : float, optional
        Stop a restart once its best layout is feasible and has not improved for this
        many seconds (``stats["time_to_feasible"]`` says when the first feasible layout
        was found).
    polish : float
        Share of ``time_limit`` (and of ``max_iterations``) kept for one more run that
        continues the best layout of the restarts, its annealing starting half-way down
        the cooling schedule. With several short restarts this races start layouts and
        spends the rest on the winner: where a poor start fixes the grids' shapes early
        (a min-max objective such as the largest diameter), many short restarts plus a
        polish beat one long run. ``0`` (default) runs the restarts alone.
    workers : int
        Search threads. The restarts are dealt out to them in turn (restart ``r`` to
        thread ``r % workers``; each thread splits its share of the time among its
        restarts), and with ``polish`` every thread polishes the best layout of the
        restarts with its own random stream. With ``max_iterations`` the result depends
        on ``seed`` and ``workers`` only, not on how the threads are scheduled. The
        kernels release the GIL: on a two-core machine two threads ran 2.0 times the
        annealing proposals of one in the same time, and 1.5 times the merge-and-split
        moves (which run partly in Python).

    Returns
    -------
    PartitionResult

    Raises
    ------
    InputError
        Fewer units than grids, bad tolerances or weights, NaN weights, zero total in a
        balanced attribute, islands with ``islands="refuse"``, a station outside the
        area, a locked unit conflicting with a fixed base, bad labels.
    """
    t0 = time.perf_counter()
    n = units.n_units
    try:
        k = int(n_grids)
    except (TypeError, ValueError):
        raise InputError("n_grids", f"must be an integer, got {n_grids!r}") from None
    if k < 1:
        raise InputError("n_grids", f"must be >= 1, got {n_grids}")
    if k > n:
        raise InputError(
            "n_grids", f"{k} grids but only {n} units: every grid needs at least one unit"
        )
    if not (isinstance(time_limit, (int, float)) and time_limit > 0):
        raise InputError("time_limit", f"must be > 0 seconds, got {time_limit!r}")
    if islands not in ("attach", "refuse"):
        raise InputError("islands", f'must be "attach" or "refuse", got {islands!r}')
    if not 0.0 <= float(p_swap) <= 1.0:
        raise InputError("p_swap", f"must be in [0, 1], got {p_swap!r}")
    if patience is not None and not (isinstance(patience, (int, float)) and patience >= 0):
        raise InputError("patience", f"must be >= 0 seconds, got {patience!r}")
    if not 0.0 <= float(balance_share) <= 1.0:
        raise InputError("balance_share", f"must be in [0, 1], got {balance_share!r}")
    if int(n_restarts) < 1:
        raise InputError("n_restarts", f"must be >= 1, got {n_restarts!r}")
    if not 0.0 <= float(polish) < 1.0:
        raise InputError("polish", f"must be in [0, 1), got {polish!r}")
    if not isinstance(workers, (int, np.integer)) or isinstance(workers, bool) or workers < 1:
        raise InputError("workers", f"must be an integer >= 1, got {workers!r}")
    n_restarts, polish, workers = int(n_restarts), float(polish), int(workers)
    if objective is None:
        if not units.attribute_names:
            raise InputError("objective", "units have no attributes to balance")
        objective = Objective(balance={units.attribute_names[0]: 0.05})
    work = units
    island_units = np.zeros(0, dtype=np.int64)
    if contiguity:
        work, island_units = attach_islands(units, refuse=islands == "refuse")
    fixed = _check_stations(units, stations, k)
    lk = _check_locked(locked, n, k, fixed)
    base_xy = np.full((k, 2), np.nan)
    if stations is not None:
        st = np.asarray(stations, dtype=np.float64)
        base_xy[: st.shape[0]] = st
    scorer = Scorer(work, k, objective, base_xy=base_xy, previous=previous, distance=distance)
    # bases follow the grids when travel or the radius is measured to them
    free_bases = objective.travel_weight > 0 or objective.compactness == "radius"
    frozen = (lk >= 0).astype(np.uint8)
    init = None if initial is None else scorer.check_labels(initial)
    violations_pre = _precheck(scorer, lk, contiguity)
    for msg in violations_pre:
        log.warning("infeasible tolerance: %s", msg)

    ss = np.random.SeedSequence(int(seed))
    # one search thread per worker, never more than there are runs to share
    n_workers = min(workers, n_restarts)
    n_polish = workers if polish > 0 else 0
    children = ss.spawn(n_restarts + n_polish)
    stats: dict[str, Any] = {
        "iterations": 0, "accepted": 0, "rejected_contiguity": 0, "improving": 0,
        "recom_tried": 0, "recom_accepted": 0, "restarts": 0, "seed_time": 0.0, "trace": [],
        "islands": island_units.tolist()[:100], "n_islands_units": int(island_units.size),
        "balance_iterations": 0, "balance_time": 0.0, "workers": workers,
    }  # fmt: skip
    deadline = t0 + float(time_limit)
    # the restarts share what the polish run leaves them (written so that an infinite
    # time limit stays infinite)
    restart_deadline = t0 + (1.0 - polish) * float(time_limit)
    restart_iters = None if max_iterations is None else int(int(max_iterations) * (1.0 - polish))
    m_load = scorer.attrs if scorer.attrs.shape[1] else np.ones((n, 1))
    report = _Reporter(progress, t0)
    cancel = threading.Event()

    def one_run(
        r: int, child: np.random.SeedSequence, start: NDArray[np.int32] | None,
        budget_end: float, it_budget: int | None,
    ) -> _Run:  # fmt: skip
        """One restart (``start`` None: grown from seeds) or one polish run (``start``)."""
        sc = scorer.clone() if workers > 1 else scorer
        run = _Run(r)
        seed_ss, search_ss = child.spawn(2)
        ts = time.perf_counter()
        polishing = start is not None
        if polishing:
            lab = start.copy()
        elif r == 0 and init is not None:
            lab = init.copy()
        else:
            n_rounds = 25 if n <= 200_000 else 12
            lab = grow_layout(
                work, k, m_load, seed=seed_ss, fixed=fixed, locked=lk,
                target=sc.target if sc.attrs.shape[1] else None, n_rounds=n_rounds,
                mass=sc.w, progress=report.raw,
            )  # fmt: skip
        lab[lk >= 0] = lk[lk >= 0].astype(np.int32)
        if contiguity:
            lab = repair_contiguity(work, lab, k, frozen=frozen.astype(bool), mass=sc.w)
        empty = np.flatnonzero(np.bincount(lab, minlength=k) == 0)
        if empty.size:
            raise InputError(
                "initial", "every grid needs at least one unit; empty grids", first_rows(empty)
            )
        lab = np.ascontiguousarray(lab, dtype=np.int32)
        run.seed_time = time.perf_counter() - ts
        rng = np.random.default_rng(search_ss)
        srch = _Search(sc, lab, frozen, contiguity, rng, free_bases)
        srch.cancel = cancel
        t_begin = time.perf_counter()
        # the polish run starts half-way down the cooling schedule
        f0 = 0.5 if polishing else 0.0
        # balance first: reach every tolerance before the annealing weighs compactness;
        # a stalled phase hands over early (the annealing's penalty on the tolerances
        # closes small gaps faster than the balance moves)
        tb = time.perf_counter()
        run.balance_iterations = srch.balance(
            t_begin + balance_share * (budget_end - t_begin),
            bfs_limit,
            max(group_limit, n // (2 * k)),
            int(min(max(2 * n, 2_000), 100_000)),
            None if max_iterations is None else 20,
        )
        run.balance_time = time.perf_counter() - tb
        if srch.feasible():
            run.feasible_at = time.perf_counter() - t0
        T0 = srch.temperature0()
        # fixed chunk sizes (not timed) so that a run with an iteration limit is reproducible
        chunk = int(min(max(20 * n, 5000), 500_000))
        since_improve = 0
        t_improve = time.perf_counter()
        done_r = 0
        # penalty manager: while the layout is out of tolerance the soft balance term is
        # scaled up (smooth pressure towards balance through chains of grids), and back
        # down once it is feasible, so compactness can take over again
        base_cs = sc.cs.copy()
        mu = 1.0
        true_state = sc.new_state()
        # out of tolerance, the layout whose worst deviation is closest to it is best
        # (then the score)
        best_key_r = (not srch.feasible(), srch.worst_excess(), srch.cur)
        ref_key = best_key_r
        best_lab_r = srch.lab.copy()
        t_anneal = t_recom = 0.0
        while True:
            now = time.perf_counter()
            span = max(budget_end - t_begin, 1e-9)
            frac_t = (now - t_begin) / span
            frac_i = done_r / it_budget if it_budget else 0.0
            frac = min(1.0, max(frac_t, frac_i))
            if frac >= 1.0 or (it_budget is not None and done_r >= it_budget):
                run.stopped_by_time = frac_t >= 1.0
                break
            depth = f0 + (1.0 - f0) * frac  # how far down the cooling schedule
            t_s = T0 * 1e-4**depth
            n_iter = chunk if it_budget is None else min(chunk, it_budget - done_r)
            c0 = time.perf_counter()
            srch.anneal(n_iter, t_s, t_s * 1e-4**0.02, p_swap, bfs_limit, group_limit)
            c1 = time.perf_counter()
            t_anneal += c1 - c0
            if recom and contiguity and k > 1 and max_iterations is not None:
                # iteration-limited runs stay reproducible: a fixed number per chunk
                for _ in range(max(1, int(n_iter * recom_share / 5000))):
                    srch.recom(t_s)
            elif recom and contiguity and k > 1:
                # merge-and-split moves get about recom_share of the search time
                while t_recom < recom_share * (t_anneal + t_recom):
                    srch.recom(t_s)
                    c2 = time.perf_counter()
                    t_recom += c2 - c1
                    c1 = c2
            done_r += n_iter
            srch.resync()
            feas = srch.feasible()
            if mu != 1.0:
                sc.cs[:] = base_cs
                cur = sc.full(srch.lab, true_state)
            else:
                cur = srch.cur
            log.debug("frac %.3f mu %g feasible %s score %.6g T %.3g", frac, mu, feas, cur, t_s)
            new_mu = min(mu * 2.0, 1e4) if not feas else max(1.0, mu / 2.0)
            if new_mu != mu:
                mu = new_mu
                sc.cs[:] = base_cs * mu
                srch.resync()
                T0 = srch.temperature0() / 1e-4**depth
            else:
                sc.cs[:] = base_cs * mu
            key_now = (not feas, 0.0 if feas else srch.worst_excess(), cur)
            if feas and run.feasible_at is None:
                run.feasible_at = time.perf_counter() - t0
            if _improves(key_now, best_key_r, 1e-12 * max(1.0, abs(best_key_r[2]))):
                best_key_r = key_now
                best_lab_r = srch.lab.copy()
                since_improve = 0
            else:
                since_improve += n_iter
            best_r = best_key_r[2]
            run.trace.append((round(time.perf_counter() - t0, 3), float(best_r)))
            report.search(r, best_r, not best_key_r[0], n_iter)
            # patience counts from the last improvement of at least 0.01 %
            if _improves(best_key_r, ref_key, 1e-4 * abs(ref_key[2])):
                ref_key = best_key_r
                t_improve = time.perf_counter()
            if (
                patience is not None
                and not best_key_r[0]
                and time.perf_counter() - t_improve >= float(patience)
            ):
                break
            if max_no_improve is not None and since_improve >= max_no_improve:
                break
            if cancel.is_set():  # another thread failed
                break
        sc.cs[:] = base_cs
        run.done = done_r
        run.counters = [int(v) for v in srch.stats[:4]] + [srch.recom_tried, srch.recom_accepted]
        ev = _evaluate(sc, best_lab_r, free_bases)
        maxdev = np.array(list(ev.max_deviation.values()))
        run.key = (not ev.feasible, 0.0 if ev.feasible else _worst_excess(maxdev, sc.tau), ev.total)
        run.labels = best_lab_r
        log.info("%s %d: score %.6g, feasible %s%s", "polish" if polishing else "restart", r,
                 ev.total, ev.feasible, "" if math.isnan(ev.max_diameter)
                 else f", largest diameter {ev.max_diameter:.6g}")  # fmt: skip
        return run

    def worker(w: int) -> list[_Run]:
        """Restarts w, w + n_workers, ... in turn, each with an equal share of what is left."""
        mine = list(range(w, n_restarts, n_workers))
        iters_w = None if restart_iters is None else restart_iters * len(mine) // n_restarts
        done_w = 0
        out = []
        for q, r in enumerate(mine):
            runs_left = len(mine) - q
            now = time.perf_counter()
            budget_end = now + max(0.0, (restart_deadline - now) / runs_left)
            it_budget = None if iters_w is None else max(0, iters_w - done_w) // runs_left
            try:
                run = one_run(r, children[r], None, budget_end, it_budget)
            except BaseException:
                cancel.set()
                raise
            done_w += run.done
            out.append(run)
        return out

    runs = _in_threads(worker, n_workers, cancel)
    if n_polish:
        # each worker polishes the best layout of the restarts with its own random stream
        best0 = min(runs, key=lambda x: (x.key, x.r))
        done = sum(x.done for x in runs)
        it_budget = None if max_iterations is None else max(0, int(max_iterations) - done)
        runs += _in_threads(
            lambda w: [one_run(n_restarts + w, children[n_restarts + w], best0.labels, deadline,
                               it_budget)],
            n_polish, cancel,
        )  # fmt: skip
    runs.sort(key=lambda x: x.r)
    for x in runs:
        for name, v in zip(_COUNTERS, x.counters, strict=True):
            stats[name] += v
        stats["seed_time"] += x.seed_time
        stats["balance_iterations"] += x.balance_iterations
        stats["balance_time"] += x.balance_time
        if x.feasible_at is not None:
            ttf = stats.get("time_to_feasible")
            stats["time_to_feasible"] = x.feasible_at if ttf is None else min(ttf, x.feasible_at)
    stats["restarts"] = len(runs)  # the polish runs included
    stats["trace"] = sorted(t for x in runs for t in x.trace)
    stopped_by_time = any(x.stopped_by_time for x in runs)
    # the best key wins; between equal keys the earlier run (restarts, then polish runs)
    best = min(runs, key=lambda x: (x.key, x.r))
    best_lab = best.labels
    assert best_lab is not None
    return _result(units, work, scorer, best_lab, fixed, contiguity, free_bases, violations_pre,
                   stopped_by_time, stats, time.perf_counter() - t0, distance)  # fmt: skip


def _worst_excess(max_dev: NDArray[np.float64], tau: NDArray[np.float64]) -> float:
    """Largest deviation beyond its tolerance, in tolerances (0 when all are within).

    ``max_dev`` holds each balanced attribute's largest ``|total / target - 1|`` over
    the grids, ``tau`` its tolerance.

    >>> _worst_excess(np.array([0.06, 0.12]), np.array([0.05, 0.10]))
    0.2
    """
    if max_dev.size == 0:
        return 0.0
    return float(((max_dev - tau).clip(0) / tau).max())


def _improves(new: tuple, old: tuple, tol: float) -> bool:
    """Key ``(infeasible, worst excess, score)`` ``new`` beats ``old``: the first two
    decide, then the score must be lower by more than ``tol``."""
    if new[:2] != old[:2]:
        return new[:2] < old[:2]
    return new[2] < old[2] - tol


def _evaluate(scorer: Scorer, lab: NDArray[np.int32], free_bases: bool) -> Score:
    if free_bases:
        k = scorer.n_grids
        c = _centre_units(scorer.x, scorer.y, scorer.w, lab, k)
        scorer.bx[:] = np.where(np.isnan(scorer.fixed_bx), scorer.x[c], scorer.fixed_bx)
        scorer.by[:] = np.where(np.isnan(scorer.fixed_by), scorer.y[c], scorer.fixed_by)
    return scorer.evaluate(lab)


def _result(units, work, scorer, lab, fixed, contiguity, free_bases, violations_pre, stopped_by_time,
            stats, runtime, distance) -> PartitionResult:  # fmt: skip
    k = scorer.n_grids
    score = _evaluate(scorer, lab, free_bases)
    comps = grid_components(work, lab, k)
    contiguous = bool(np.all(comps == 1))
    bases = _centre_units(units.x, units.y, scorer.w, lab, k)
    bases = np.where(fixed >= 0, fixed, bases).astype(np.int32)
    kpis: dict[str, NDArray[Any]] = {"units": np.bincount(lab, minlength=k).astype(np.int64)}
    tot = np.zeros((k, units.n_attributes))
    np.add.at(tot, lab, units.attributes)
    for t, name in enumerate(units.attribute_names):
        kpis[name] = tot[:, t]
    dev = (
        scorer.deviations(np.column_stack([kpis[a] for a in scorer.objective.attributes]))
        if scorer.objective.attributes
        else np.zeros((k, 0))
    )
    for t, name in enumerate(scorer.objective.attributes):
        kpis[f"{name}_deviation"] = dev[:, t]
    kpis["area"] = np.bincount(lab, weights=units.area, minlength=k)
    if distance is not None:
        kpis["diameter"] = _network_diameters(np.asarray(distance, dtype=np.float64), lab, k)
    else:
        kpis["diameter"] = _euclid_diameters(units.x, units.y, lab, k)
    rows = np.repeat(np.arange(units.n_units), np.diff(units.indptr))
    cut = lab[rows] != lab[units.indices]
    kpis["border_length"] = np.bincount(lab[rows[cut]], weights=units.edge_length[cut], minlength=k)
    kpis["base"] = bases.astype(np.int64)
    violations = list(violations_pre)
    for t, name in enumerate(scorer.objective.attributes):
        tau = scorer.tau[t]
        bad = np.flatnonzero(np.abs(dev[:, t]) > tau + 1e-12)
        if bad.size:
            g = int(bad[np.argmax(np.abs(dev[bad, t]))])
            violations.append(
                f"{name}: {bad.size} grid(s) outside +/-{tau:.0%}; worst grid {g} at {dev[g, t]:+.1%}"
            )
    if contiguity and not contiguous:
        split = np.flatnonzero(comps > 1)
        violations.append(
            f"{split.size} grid(s) not connected, e.g. grid {int(split[0])} in {int(comps[split[0]])} pieces"
        )
    feasible = not violations
    if feasible:
        status = "feasible"
    elif violations_pre or not stopped_by_time:
        status = "infeasible"
    else:
        status = "time_limit"
    stats = dict(stats)
    stats["n_components_max"] = int(comps.max())
    return PartitionResult(
        labels=np.ascontiguousarray(lab, dtype=np.int32),
        n_grids=k,
        bases=bases,
        status=status,
        feasible=feasible,
        contiguous=contiguous,
        score=score,
        kpis=kpis,
        violations=tuple(violations),
        stats=stats,
        runtime=float(runtime),
    )
