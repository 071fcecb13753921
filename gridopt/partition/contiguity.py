"""Connectivity of grids: checks, repair, and islands of the unit graph.

Examples
--------
>>> import numpy as np
>>> from gridopt.model import Units
>>> from gridopt.partition.contiguity import grid_components, repair_contiguity
>>> units = Units.from_edges(ids=range(4), x=[0.0, 1, 2, 3], y=[0.0] * 4,
...                          attributes={"households": [1, 1, 1, 1]},
...                          edges=[(0, 1), (1, 2), (2, 3)])
>>> grid_components(units, [0, 1, 0, 1], 2).tolist()
[2, 2]
>>> repair_contiguity(units, [0, 1, 0, 0], 2).tolist()  # unit 0 is cut off from grid 0
[1, 1, 0, 0]
"""

from __future__ import annotations

import logging

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import sparse
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from gridopt.errors import InputError, first_rows
from gridopt.model import Units
from gridopt.score import _kernels as K

__all__ = [
    "attach_islands",
    "grid_components",
    "is_contiguous",
    "repair_contiguity",
    "unit_components",
]

log = logging.getLogger("gridopt.partition")


def _rows(units: Units) -> NDArray[np.int64]:
    return np.repeat(np.arange(units.n_units, dtype=np.int64), np.diff(units.indptr))


def _piece_ids(units: Units, labels: NDArray[np.int32]) -> tuple[int, NDArray[np.int32]]:
    """Connected pieces of the graph restricted to edges inside one grid."""
    n = units.n_units
    rows = _rows(units)
    same = labels[rows] == labels[units.indices]
    g = sparse.csr_matrix(
        (np.ones(int(same.sum()), dtype=np.int8), (rows[same], units.indices[same])), shape=(n, n)
    )
    n_pieces, piece = connected_components(g, directed=False)
    return int(n_pieces), piece.astype(np.int32)


def _labels(units: Units, labels: ArrayLike, n_grids: int) -> NDArray[np.int32]:
    lab = np.asarray(labels)
    if lab.shape != (units.n_units,):
        raise InputError("labels", f"must have {units.n_units} entries, got shape {lab.shape}")
    bad = (lab < 0) | (lab >= n_grids)
    if bad.any():
        raise InputError("labels", f"must be in 0..{n_grids - 1}", first_rows(bad), int(bad.sum()))
    return np.ascontiguousarray(lab, dtype=np.int32)


def grid_components(units: Units, labels: ArrayLike, n_grids: int) -> NDArray[np.int64]:
    """Number of connected pieces of each grid.

    Parameters
    ----------
    units : Units
    labels : array_like of int, shape (n_units,)
    n_grids : int

    Returns
    -------
    ndarray of int64, shape (n_grids,)
        1 for a connected grid, 0 for an empty one, more for a split one.

    Raises
    ------
    InputError
        Labels of the wrong length or out of range.
    """
    lab = _labels(units, labels, n_grids)
    _, piece = _piece_ids(units, lab)
    pairs = np.unique(np.column_stack([lab, piece]), axis=0)
    return np.bincount(pairs[:, 0], minlength=n_grids).astype(np.int64)


def is_contiguous(units: Units, labels: ArrayLike, n_grids: int) -> bool:
    """True when every non-empty grid is one connected piece.

    Examples
    --------
    >>> from gridopt.model import Units
    >>> u = Units.from_edges(ids=[0, 1, 2], x=[0.0, 1, 2], y=[0.0] * 3,
    ...                      attributes={"households": [1, 1, 1]}, edges=[(0, 1), (1, 2)])
    >>> is_contiguous(u, [0, 0, 1], 2), is_contiguous(u, [0, 1, 0], 2)
    (True, False)
    """
    return bool(np.all(grid_components(units, labels, n_grids) <= 1))


def repair_contiguity(
    units: Units,
    labels: ArrayLike,
    n_grids: int,
    *,
    frozen: ArrayLike | None = None,
    mass: ArrayLike | None = None,
) -> NDArray[np.int32]:
    """Make every grid connected: keep its main piece, hand the others to neighbours.

    Each grid keeps the piece holding a frozen unit of that grid (a fixed base or locked
    unit) or else its heaviest piece (by ``mass``, default unit count). The units of the
    other pieces are given, by breadth-first growth from the kept pieces, to the grid of
    the first kept unit that reaches them, so every grid stays connected. Frozen units
    are never relabelled (a frozen unit cut off from its grid stays a separate piece).

    Parameters
    ----------
    units : Units
    labels : array_like of int, shape (n_units,)
    n_grids : int
    frozen : array_like of bool, shape (n_units,), optional
    mass : array_like of float, shape (n_units,), optional

    Returns
    -------
    ndarray of int32, shape (n_units,)

    Raises
    ------
    InputError
        Labels of the wrong length or out of range.
    """
    lab = _labels(units, labels, n_grids).copy()
    n = units.n_units
    fz = np.zeros(n, dtype=bool) if frozen is None else np.asarray(frozen, dtype=bool)
    w = np.ones(n) if mass is None else np.asarray(mass, dtype=np.float64) + 1e-9
    n_pieces, piece = _piece_ids(units, lab)
    if n_pieces == len(np.unique(lab)):
        return lab
    weight = np.bincount(piece, weights=w, minlength=n_pieces)
    weight += np.bincount(piece, weights=fz.astype(np.float64), minlength=n_pieces) * (
        w.sum() + 1.0
    )
    piece_grid = np.zeros(n_pieces, dtype=np.int64)
    piece_grid[piece] = lab
    # best piece per grid: sort by (grid, -weight)
    order = np.lexsort((-weight, piece_grid))
    first = np.ones(n_pieces, dtype=bool)
    first[1:] = piece_grid[order][1:] != piece_grid[order][:-1]
    keep = np.zeros(n_pieces, dtype=bool)
    keep[order[first]] = True
    orphan = ~keep[piece] & ~fz
    lab[orphan] = -1
    queue = np.empty(n, dtype=np.int64)
    left = K.fill_unassigned(lab, units.indptr, units.indices, queue)
    if left:  # only in a disconnected unit graph: restore
        rest = lab < 0
        lab[rest] = np.asarray(labels, dtype=np.int32)[rest]
    log.debug("contiguity repair relabelled %d units", int(orphan.sum()))
    return lab


def unit_components(units: Units) -> tuple[int, NDArray[np.int32]]:
    """Connected components of the unit graph.

    Returns
    -------
    n_components : int
    component : ndarray of int32, shape (n_units,)
        Component of each unit; component 0 is the largest.
    """
    n = units.n_units
    g = sparse.csr_matrix(
        (np.ones(units.indices.shape[0], dtype=np.int8), units.indices, units.indptr), shape=(n, n)
    )
    n_comp, comp = connected_components(g, directed=False)
    sizes = np.bincount(comp, minlength=n_comp)
    rank = np.empty(n_comp, dtype=np.int32)
    rank[np.argsort(-sizes, kind="stable")] = np.arange(n_comp, dtype=np.int32)
    return int(n_comp), rank[comp]


def attach_islands(units: Units, *, refuse: bool = False) -> tuple[Units, NDArray[np.int64]]:
    """Connect islands (components of the unit graph other than the largest) to the mainland.

    Rule: each island gets one extra edge of zero border length between its unit and
    the unit of the rest of the graph that are closest (centroid distance); islands are
    joined in order of size, largest first, each to everything joined before it. A grid
    may then hold an island and still count as connected through that edge.

    Parameters
    ----------
    units : Units
    refuse : bool
        Raise instead of attaching.

    Returns
    -------
    units : Units
        The same units, with the extra edges (unchanged when the graph is connected).
    island_units : ndarray of int64
        Positions of the units that were on islands.

    Raises
    ------
    InputError
        With ``refuse=True`` and a disconnected graph: names the first island units.
    """
    n_comp, comp = unit_components(units)
    if n_comp == 1:
        return units, np.zeros(0, dtype=np.int64)
    island = np.flatnonzero(comp > 0)
    if refuse:
        raise InputError(
            "units",
            f"the unit graph is disconnected: {n_comp - 1} island(s) apart from the mainland",
            first_rows(island),
            island.size,
        )
    xy = np.column_stack([units.x, units.y])
    edges = []
    joined = comp == 0
    for c in range(1, n_comp):
        members = np.flatnonzero(comp == c)
        tree = cKDTree(xy[joined])
        dist, idx = tree.query(xy[members])
        best = int(np.argmin(dist))
        edges.append((int(members[best]), int(np.flatnonzero(joined)[idx[best]])))
        joined[members] = True
    log.info("attached %d island(s) (%d units) to the mainland", n_comp - 1, island.size)
    rows = _rows(units)
    old = np.column_stack([rows, units.indices])
    keep = old[:, 0] < old[:, 1]
    new = np.asarray(edges, dtype=np.int64)
    all_edges = np.concatenate([old[keep], new])
    lengths = np.concatenate([units.edge_length[keep], np.zeros(len(new))])
    out = Units.from_edges(
        ids=units.ids,
        x=units.x,
        y=units.y,
        attributes=dict(zip(units.attribute_names, units.attributes.T, strict=True)),
        edges=all_edges,
        edge_length=lengths,
        area=units.area,
        crs=units.crs,
    )
    return out, island
