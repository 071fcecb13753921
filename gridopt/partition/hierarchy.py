"""Hierarchy: group grids into districts with the same engine.

Operators group grids (townships) into districts (regional centres). The grids of a
layout become the units of a second partition: attributes are summed, centroids are
mass-weighted, and two grids are neighbours when they share a border.

Examples
--------
>>> import numpy as np
>>> from gridopt.model import Units
>>> from gridopt.partition import group_districts
>>> from gridopt.score import Objective
>>> units = Units.from_edges(ids=range(8), x=np.arange(8.0), y=np.zeros(8),
...                          attributes={"households": np.ones(8)},
...                          edges=[(i, i + 1) for i in range(7)])
>>> labels = np.repeat(np.arange(4), 2)
>>> h = group_districts(units, labels, 2, Objective(balance={"households": 0.01}),
...                     seed=0, max_iterations=5_000)
>>> h.grid_district.tolist(), h.districts.status
([0, 0, 1, 1], 'feasible')
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from gridopt.errors import InputError, first_rows
from gridopt.model import Units
from gridopt.partition.search import PartitionResult, Progress, partition
from gridopt.score.objective import Objective

__all__ = ["HierarchyResult", "grid_units", "group_districts"]


@dataclass(frozen=True)
class HierarchyResult:
    """Grids grouped into districts.

    Attributes
    ----------
    grid_district : ndarray of int32, shape (n_grids,)
        District of each grid.
    unit_district : ndarray of int32, shape (n_units,)
        District of each unit.
    districts : PartitionResult
        The district-level partition (its units are the grids).
    """

    grid_district: NDArray[np.int32]
    unit_district: NDArray[np.int32]
    districts: PartitionResult


def grid_units(units: Units, labels: ArrayLike) -> Units:
    """The grids of a layout as units (summed attributes, shared-border adjacency).

    Parameters
    ----------
    units : Units
    labels : array_like of int, shape (n_units,)
        Grid of each unit, 0..n_grids-1, every grid non-empty.

    Returns
    -------
    Units
        One unit per grid; ids are the grid indices; ``edge_length`` is the shared
        border length; ``area`` is summed.

    Raises
    ------
    InputError
        Labels of the wrong length, negative, or with empty grids.
    """
    lab = np.asarray(labels)
    if lab.shape != (units.n_units,) or not np.issubdtype(lab.dtype, np.integer):
        raise InputError("labels", f"must be {units.n_units} integer grid indices")
    if lab.size and lab.min() < 0:
        raise InputError("labels", "must be >= 0", first_rows(lab < 0))
    k = int(lab.max()) + 1
    counts = np.bincount(lab, minlength=k)
    if (counts == 0).any():
        raise InputError("labels", "empty grids", first_rows(counts == 0))
    w = units.attributes[:, 0] + 1e-12 if units.n_attributes else np.ones(units.n_units)
    ws = np.bincount(lab, weights=w, minlength=k)
    x = np.bincount(lab, weights=w * units.x, minlength=k) / ws
    y = np.bincount(lab, weights=w * units.y, minlength=k) / ws
    tot = np.zeros((k, units.n_attributes))
    np.add.at(tot, lab, units.attributes)
    rows = np.repeat(np.arange(units.n_units), np.diff(units.indptr))
    ga, gb = lab[rows], lab[units.indices]
    cut = ga < gb
    pair = ga[cut].astype(np.int64) * k + gb[cut]
    uniq, inv = np.unique(pair, return_inverse=True)
    length = np.bincount(inv, weights=units.edge_length[cut])
    edges = np.column_stack([uniq // k, uniq % k])
    return Units.from_edges(
        ids=np.arange(k),
        x=x,
        y=y,
        attributes=dict(zip(units.attribute_names, tot.T, strict=True)),
        edges=edges,
        edge_length=length,
        area=np.bincount(lab, weights=units.area, minlength=k),
        crs=units.crs,
    )


def group_districts(
    units: Units,
    labels: ArrayLike,
    n_districts: int,
    objective: Objective | None = None,
    *,
    seed: int = 0,
    time_limit: float = 10.0,
    progress: Progress | None = None,
    **options: object,
) -> HierarchyResult:
    """Group the grids of a layout into ``n_districts`` connected, balanced districts.

    Parameters
    ----------
    units : Units
    labels : array_like of int, shape (n_units,)
        The grid layout.
    n_districts : int
    objective : Objective, optional
        Balance and compactness of the districts (default: as :func:`partition`).
    seed, time_limit, progress, **options
        Passed to :func:`~gridopt.partition.partition`.

    Returns
    -------
    HierarchyResult

    Raises
    ------
    InputError
        Bad labels, or more districts than grids.
    """
    gu = grid_units(units, labels)
    res = partition(
        gu, n_districts, objective, seed=seed, time_limit=time_limit, progress=progress, **options
    )  # type: ignore[arg-type]
    lab = np.asarray(labels)
    return HierarchyResult(
        grid_district=res.labels,
        unit_district=res.labels[lab].astype(np.int32),
        districts=res,
    )
