"""Initial layouts: seed selection and balanced region growing.

Region growing is a multi-source Dijkstra on the unit graph (edge weight = centroid
distance): each unit joins the grid whose seed is closest plus the grid's offset. Every
grid is connected by construction. Offsets are then raised for overloaded grids and
lowered for light ones (a graph analogue of a power diagram), and free seeds move to the
centre of their grid (Lloyd steps), for a few rounds.

Examples
--------
>>> import numpy as np
>>> from gridopt.model import Units
>>> from gridopt.partition.seed import grow_layout
>>> units = Units.from_edges(ids=range(6), x=np.arange(6.0), y=np.zeros(6),
...                          attributes={"households": np.ones(6)},
...                          edges=[(i, i + 1) for i in range(5)])
>>> labels = grow_layout(units, 2, np.ones((6, 1)), seed=0)
>>> np.bincount(labels).tolist(), bool(labels[0] == labels[2] != labels[3] == labels[5])
([3, 3], True)
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.cluster.vq import kmeans2
from scipy.spatial import cKDTree

from gridopt.model import Units
from gridopt.score import _kernels as K

__all__ = ["choose_seeds", "grow_layout"]

log = logging.getLogger("gridopt.partition")


def choose_seeds(
    units: Units,
    n_grids: int,
    mass: ArrayLike,
    rng: np.random.Generator,
    *,
    fixed: ArrayLike | None = None,
) -> NDArray[np.int64]:
    """Pick one seed unit per grid, spread by mass (weighted k-means on a sample).

    Parameters
    ----------
    units : Units
    n_grids : int
    mass : array_like of float, shape (n_units,)
    rng : numpy.random.Generator
    fixed : array_like of int, shape (n_grids,), optional
        Seed unit of grids anchored to a station, -1 for free grids.

    Returns
    -------
    ndarray of int64, shape (n_grids,)
        Distinct unit positions.
    """
    n = units.n_units
    k = int(n_grids)
    fx = np.full(k, -1, dtype=np.int64) if fixed is None else np.asarray(fixed, dtype=np.int64)
    free = np.flatnonzero(fx < 0)
    seeds = fx.copy()
    if free.size == 0:
        return seeds
    w = np.asarray(mass, dtype=np.float64)
    p = w / w.sum() if w.sum() > 0 else np.full(n, 1.0 / n)
    xy = np.column_stack([units.x, units.y])
    n_sample = min(n, max(20 * k, 5000))
    if n_sample < n:
        sample = rng.choice(
            n, size=n_sample, replace=False, p=p if np.count_nonzero(p) >= n_sample else None
        )
    else:
        sample = np.arange(n)
    if k >= sample.size:
        centres = xy[rng.permutation(sample)[:k]]
    else:
        pts = xy[sample]
        # k-means++ start in O(k * n_sample) (scipy's recomputes all distances per centre)
        init = np.empty((k, 2))
        d2 = np.full(pts.shape[0], np.inf)
        init[0] = pts[rng.integers(pts.shape[0])]
        for c in range(1, k):
            d2 = np.minimum(d2, ((pts - init[c - 1]) ** 2).sum(axis=1))
            tot = d2.sum()
            q = rng.random() * tot if tot > 0 else 0.0
            init[c] = pts[min(int(np.searchsorted(np.cumsum(d2), q)), pts.shape[0] - 1)]
        centres, _ = kmeans2(pts, init, iter=8, minit="matrix")
    # snap free centres to distinct units, skipping the fixed seeds
    taken = np.zeros(n, dtype=bool)
    taken[fx[fx >= 0]] = True
    tree = cKDTree(xy)
    n_near = min(n, 8)
    _, near = tree.query(centres[: free.size], k=n_near)
    near = near.reshape(free.size, n_near)
    for q, g in enumerate(free):
        choice = -1
        for u in near[q]:
            if not taken[u]:
                choice = int(u)
                break
        if choice < 0:
            choice = int(rng.choice(np.flatnonzero(~taken)))
        taken[choice] = True
        seeds[g] = choice
    return seeds


def _edge_weights(units: Units) -> NDArray[np.float64]:
    rows = np.repeat(np.arange(units.n_units), np.diff(units.indptr))
    d = np.hypot(units.x[rows] - units.x[units.indices], units.y[rows] - units.y[units.indices])
    pos = d[d > 0]
    eps = float(pos.min()) * 1e-3 if pos.size else 1.0
    return np.ascontiguousarray(np.maximum(d, eps))


def grow_layout(
    units: Units,
    n_grids: int,
    load: ArrayLike,
    *,
    seed: int | np.random.SeedSequence = 0,
    seeds: ArrayLike | None = None,
    fixed: ArrayLike | None = None,
    locked: ArrayLike | None = None,
    target: ArrayLike | None = None,
    n_rounds: int = 25,
    mass: ArrayLike | None = None,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> NDArray[np.int32]:
    """A connected, roughly balanced initial layout by region growing.

    Parameters
    ----------
    units : Units
    n_grids : int
    load : array_like of float, shape (n_units, n_attributes)
        The measures to balance (any scale; each column is compared with ``target``).
    seed : int or SeedSequence
    seeds : array_like of int, shape (n_grids,), optional
        Start units; chosen by :func:`choose_seeds` when absent.
    fixed : array_like of int, shape (n_grids,), optional
        Units that must stay the seeds of their grids (fixed bases), -1 for free grids.
    locked : array_like of int, shape (n_units,), optional
        Grid a unit is locked to, -1 for free units; locked units start in their grid.
    target : array_like of float, shape (n_grids, n_attributes), optional
        Target totals per grid (default: column means over grids).
    n_rounds : int
        Offset-adjustment rounds.
    mass : array_like of float, shape (n_units,), optional
        Mass for the seed centring (default: first load column).
    progress : callable, optional
        Called with ``{"phase": "seed", "round": r, "imbalance": x}`` after each round.

    Returns
    -------
    ndarray of int32, shape (n_units,)
        Labels of the most balanced round; every grid non-empty and connected when the
        unit graph is connected (locked units far from their grid may form extra pieces).
    """
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    rng = np.random.default_rng(ss)
    n = units.n_units
    k = int(n_grids)
    L = np.asarray(load, dtype=np.float64).reshape(n, -1)
    tgt = (
        np.broadcast_to(L.sum(axis=0) / k, (k, L.shape[1]))
        if target is None
        else np.asarray(target, dtype=np.float64).reshape(k, -1)
    )
    tgt = np.where(tgt > 0, tgt, 1.0)
    w = L[:, 0] if mass is None else np.asarray(mass, dtype=np.float64)
    fx = np.full(k, -1, dtype=np.int64) if fixed is None else np.asarray(fixed, dtype=np.int64)
    sd = (
        choose_seeds(units, k, w, rng, fixed=fx)
        if seeds is None
        else np.asarray(seeds, dtype=np.int64).copy()
    )
    lk = np.full(n, -1, dtype=np.int64) if locked is None else np.asarray(locked, dtype=np.int64)
    lk_units = np.flatnonzero(lk >= 0)
    ew = _edge_weights(units)
    r_typ = float(np.sqrt((np.ptp(units.x) + 1.0) * (np.ptp(units.y) + 1.0) / k))
    labels = np.empty(n, dtype=np.int32)
    dist = np.empty(n)
    size = units.indices.shape[0] + k + lk_units.size + 1
    hk = np.empty(size)
    hv = np.empty(size, dtype=np.int64)
    queue = np.empty(n, dtype=np.int64)
    offset = np.zeros(k)
    best, best_imb = None, np.inf
    wpos = w + 1e-12
    for r in range(max(1, int(n_rounds))):
        sources = np.concatenate([sd, lk_units])
        src_grid = np.concatenate([np.arange(k), lk[lk_units]]).astype(np.int64)
        K.grow_regions(
            units.indptr, units.indices, ew, sources, src_grid, offset, labels, dist, hk, hv
        )
        if (labels < 0).any():
            K.fill_unassigned(labels, units.indptr, units.indices, queue)
            labels[labels < 0] = 0
        tot = np.zeros((k, L.shape[1]))
        np.add.at(tot, labels, L)
        ratio = (tot / tgt).mean(axis=1)
        counts = np.bincount(labels, minlength=k)
        imb = float(np.abs(tot / tgt - 1.0).max()) + 1e9 * int((counts == 0).sum())
        if imb < best_imb:
            best, best_imb = labels.copy(), imb
        if progress is not None:
            progress({"phase": "seed", "round": r, "imbalance": imb})
        step = 0.5 * (1.0 - r / max(1, n_rounds)) + 0.1
        offset += step * r_typ * (ratio - 1.0)
        offset -= offset.min()
        if r < n_rounds // 2:
            # Lloyd step: free seeds move to the unit nearest their grid's mass centre
            wsum = np.bincount(labels, weights=wpos, minlength=k)
            cx = np.bincount(labels, weights=wpos * units.x, minlength=k) / np.maximum(wsum, 1e-300)
            cy = np.bincount(labels, weights=wpos * units.y, minlength=k) / np.maximum(wsum, 1e-300)
            d2 = (units.x - cx[labels]) ** 2 + (units.y - cy[labels]) ** 2
            order = np.lexsort((d2, labels))
            first = np.ones(n, dtype=bool)
            first[1:] = labels[order][1:] != labels[order][:-1]
            lead = order[first]
            g_of = labels[lead]
            move = fx[g_of] < 0
            sd[g_of[move]] = lead[move]
    assert best is not None
    empty = np.flatnonzero(np.bincount(best, minlength=k) == 0)
    for g in empty:  # a seed captured by a neighbour: give it back its seed unit
        best[sd[g]] = g
    log.debug("region growing: imbalance %.3f after %d rounds", best_imb, n_rounds)
    return best
