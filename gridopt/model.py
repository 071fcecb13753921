"""The data model: frozen dataclasses of validated, C-contiguous arrays.

Everything the engines see is built here. Constructors validate once (shapes, dtypes,
NaN, ranges, ids, references) and raise :class:`~gridopt.errors.InputError` naming the
field and the first offending rows; after that the arrays are read-only and trusted.

Examples
--------
>>> import numpy as np
>>> from gridopt.model import Units
>>> units = Units.from_edges(
...     ids=[10, 11, 12], x=[0.0, 100.0, 200.0], y=[0.0, 0.0, 0.0],
...     attributes={"households": [5, 7, 3]},
...     edges=[(0, 1), (1, 2)])
>>> units.n_units, units.attribute_names
(3, ('households',))
>>> units.neighbours(1).tolist()
[0, 2]
>>> units.attribute("households").tolist()
[5.0, 7.0, 3.0]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from gridopt.errors import InputError, first_rows

__all__ = [
    "ROLES",
    "ROLE_INSTALLER",
    "ROLE_TECHNICIAN",
    "ROLE_ACCOUNT_MANAGER",
    "SKILL_REPAIR",
    "SKILL_FIBER",
    "SKILL_INSTALL",
    "SKILL_SENIOR",
    "SKILL_NAMES",
    "TICKET_TYPES",
    "TICKET_REPAIR",
    "TICKET_INSTALL",
    "TICKET_OUTAGE",
    "SEGMENTS",
    "Households",
    "Units",
    "Staff",
    "Tickets",
    "Layout",
    "Scenario",
]

# Staff roles (codes stored in Staff.role).
ROLE_INSTALLER = 0
ROLE_TECHNICIAN = 1
ROLE_ACCOUNT_MANAGER = 2
ROLES: tuple[str, ...] = ("installer", "technician", "account_manager")

# Skill bits (Staff.skills is a bitmask; Tickets.skill is the bit a ticket needs).
SKILL_REPAIR = 1 << 0
SKILL_FIBER = 1 << 1
SKILL_INSTALL = 1 << 2
SKILL_SENIOR = 1 << 3  # VIP and business customers
SKILL_NAMES: dict[str, int] = {
    "repair": SKILL_REPAIR,
    "fiber": SKILL_FIBER,
    "install": SKILL_INSTALL,
    "senior": SKILL_SENIOR,
}

# Ticket types (codes stored in Tickets.type).
TICKET_REPAIR = 0
TICKET_INSTALL = 1
TICKET_OUTAGE = 2
TICKET_TYPES: tuple[str, ...] = ("repair", "install", "outage")

# Household sale-propensity segments (codes stored in Households.segment).
SEGMENTS: tuple[str, ...] = (
    "premium",  # high ARPU, bundles
    "family",  # mid ARPU, TV + broadband
    "prepaid_low",  # low-value prepaid mobile: the segment campaigns target
    "senior_tv",  # TV only, older customers
    "business",  # small business / VIP, owned by senior account managers
)

_F64 = np.float64
_I32 = np.int32
_I64 = np.int64


# --------------------------------------------------------------------------- helpers


def _array(
    name: str,
    value: ArrayLike,
    dtype: Any,
    *,
    n: int | None = None,
    ndim: int = 1,
    finite: bool = True,
    min_value: float | None = None,
    max_value: float | None = None,
) -> NDArray[Any]:
    """Convert ``value`` to a read-only C-contiguous array of ``dtype`` and check it."""
    try:
        raw = np.asarray(value)
    except (TypeError, ValueError) as exc:  # ragged input and the like
        raise InputError(name, f"cannot be read as an array ({exc})") from None
    if raw.ndim != ndim:
        raise InputError(name, f"must be {ndim}-dimensional, got shape {raw.shape}")
    if n is not None and raw.shape[0] != n:
        raise InputError(name, f"must have {n} rows, got {raw.shape[0]}")
    if raw.dtype == object:
        raise InputError(name, "must be numeric, got objects")
    if np.issubdtype(dtype, np.integer):
        if raw.size and np.issubdtype(raw.dtype, np.floating):
            bad = ~np.isfinite(raw) | (raw != np.round(raw))
            if bad.any():
                rows = np.flatnonzero(bad.reshape(raw.shape[0], -1).any(axis=1))
                raise InputError(name, "must be whole numbers", first_rows(rows), len(rows))
        elif raw.size and not (np.issubdtype(raw.dtype, np.integer) or raw.dtype == bool):
            raise InputError(name, f"must be integers, got {raw.dtype}")
    arr = np.ascontiguousarray(raw, dtype=dtype)
    if finite and np.issubdtype(arr.dtype, np.floating) and arr.size:
        bad = ~np.isfinite(arr)
        if bad.any():
            rows = np.flatnonzero(bad.reshape(arr.shape[0], -1).any(axis=1))
            raise InputError(
                name, "must be finite (NaN or infinite values)", first_rows(rows), len(rows)
            )
    if min_value is not None and arr.size:
        bad = arr < min_value
        if bad.any():
            rows = np.flatnonzero(bad.reshape(arr.shape[0], -1).any(axis=1))
            raise InputError(name, f"must be >= {min_value:g}", first_rows(rows), len(rows))
    if max_value is not None and arr.size:
        bad = arr > max_value
        if bad.any():
            rows = np.flatnonzero(bad.reshape(arr.shape[0], -1).any(axis=1))
            raise InputError(name, f"must be <= {max_value:g}", first_rows(rows), len(rows))
    arr.setflags(write=False)
    return arr


def _unique_ids(name: str, ids: NDArray[np.int64]) -> None:
    if ids.size == 0:
        return
    order = np.argsort(ids, kind="stable")
    dup = ids[order][1:] == ids[order][:-1]
    if dup.any():
        rows = np.sort(order[1:][dup])
        raise InputError(name, "duplicate ids", first_rows(rows), len(rows))


def _set(obj: object, name: str, value: object) -> None:
    object.__setattr__(obj, name, value)


class _Replaceable:
    """Mixin: ``obj.replace(**changes)`` returns a validated copy."""

    def replace(self, **changes: Any) -> Any:
        """Return a copy with ``changes`` applied (validated again)."""
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]


# ---------------------------------------------------------------------------- models


@dataclass(frozen=True, eq=False)
class Households(_Replaceable):
    """Subscriber addresses (points) with their attributes.

    Parameters
    ----------
    ids : ndarray of int64, shape (n,)
        Unique household ids.
    x, y : ndarray of float64, shape (n,)
        Metric coordinates (metres) in ``crs``.
    building, compound : ndarray of int64, shape (n,)
        Building and residential-compound ids (-1 when unknown).
    tv, broadband, mobile : ndarray of bool, shape (n,)
        Subscriptions held.
    arpu : ndarray of float64, shape (n,)
        Average revenue per user per month (currency units), >= 0.
    contract_end : ndarray of int32, shape (n,)
        Day (from the planning start) the current contract ends; negative means lapsed.
    churn_risk : ndarray of float64, shape (n,)
        Probability of leaving at the next renewal, in [0, 1].
    segment : ndarray of int8, shape (n,)
        Sale-propensity segment, an index into :data:`SEGMENTS`.
    vip : ndarray of bool, shape (n,)
        VIP or business customers, owned only by senior account managers.
    crs : str or None
        The coordinate reference system of x/y (e.g. ``"EPSG:32651"``).
    """

    ids: NDArray[np.int64]
    x: NDArray[np.float64]
    y: NDArray[np.float64]
    building: NDArray[np.int64]
    compound: NDArray[np.int64]
    tv: NDArray[np.bool_]
    broadband: NDArray[np.bool_]
    mobile: NDArray[np.bool_]
    arpu: NDArray[np.float64]
    contract_end: NDArray[np.int32]
    churn_risk: NDArray[np.float64]
    segment: NDArray[np.int8]
    vip: NDArray[np.bool_]
    crs: str | None = None

    def __post_init__(self) -> None:
        ids = _array("ids", self.ids, _I64)
        n = ids.shape[0]
        if n == 0:
            raise InputError("households", "is empty: no households to plan for")
        _unique_ids("ids", ids)
        _set(self, "ids", ids)
        for name in ("x", "y"):
            _set(self, name, _array(name, getattr(self, name), _F64, n=n))
        for name in ("building", "compound"):
            _set(self, name, _array(name, getattr(self, name), _I64, n=n))
        for name in ("tv", "broadband", "mobile", "vip"):
            _set(self, name, _array(name, getattr(self, name), np.bool_, n=n))
        _set(self, "arpu", _array("arpu", self.arpu, _F64, n=n, min_value=0.0))
        _set(self, "contract_end", _array("contract_end", self.contract_end, _I32, n=n))
        _set(
            self,
            "churn_risk",
            _array("churn_risk", self.churn_risk, _F64, n=n, min_value=0.0, max_value=1.0),
        )
        _set(
            self,
            "segment",
            _array("segment", self.segment, np.int8, n=n, min_value=0, max_value=len(SEGMENTS) - 1),
        )

    @property
    def n_households(self) -> int:
        """Number of households."""
        return int(self.ids.shape[0])

    @property
    def subscribers(self) -> NDArray[np.bool_]:
        """True where the household holds at least one subscription."""
        return self.tv | self.broadband | self.mobile

    def to_dict(self) -> dict[str, NDArray[Any]]:
        """Columns as a dict of arrays (for DataFrames and files)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "crs"}


@dataclass(frozen=True, eq=False)
class Units(_Replaceable):
    """The indivisible spatial atoms of a layout, with their attributes and adjacency.

    Parameters
    ----------
    ids : ndarray of int64, shape (n_units,)
        Unique unit ids (building, compound or lattice-cell ids).
    x, y : ndarray of float64, shape (n_units,)
        Metric centroid coordinates (metres).
    attributes : ndarray of float64, shape (n_units, n_attributes)
        Non-negative workload and value measures per unit, one column per name in
        ``attribute_names`` (e.g. households, subscribers, tickets_per_day).
    attribute_names : tuple of str
        Column names of ``attributes``, unique.
    indptr : ndarray of int64, shape (n_units + 1,)
        CSR row pointers of the symmetric adjacency.
    indices : ndarray of int32, shape (n_edges_directed,)
        CSR neighbour indices; each undirected edge appears in both rows.
    edge_length : ndarray of float64, shape (n_edges_directed,)
        Length of the shared border (metres) of each directed edge, >= 0.
    area : ndarray of float64, shape (n_units,)
        Area of each unit in square metres (0 when unknown).
    crs : str or None
        The metric CRS of x/y.

    Raises
    ------
    InputError
        On wrong shapes, NaN/inf, negative attributes, duplicate ids, asymmetric or
        out-of-range adjacency, self loops.
    """

    ids: NDArray[np.int64]
    x: NDArray[np.float64]
    y: NDArray[np.float64]
    attributes: NDArray[np.float64]
    attribute_names: tuple[str, ...]
    indptr: NDArray[np.int64]
    indices: NDArray[np.int32]
    edge_length: NDArray[np.float64]
    area: NDArray[np.float64] | None = None
    crs: str | None = None

    def __post_init__(self) -> None:
        ids = _array("ids", self.ids, _I64)
        n = ids.shape[0]
        if n == 0:
            raise InputError("units", "is empty: no units")
        _unique_ids("ids", ids)
        _set(self, "ids", ids)
        for name in ("x", "y"):
            _set(self, name, _array(name, getattr(self, name), _F64, n=n))
        names = tuple(str(s) for s in self.attribute_names)
        if len(set(names)) != len(names):
            raise InputError("attribute_names", f"must be unique, got {names}")
        attrs = _array("attributes", self.attributes, _F64, n=n, ndim=2, min_value=0.0)
        if attrs.shape[1] != len(names):
            raise InputError(
                "attributes",
                f"has {attrs.shape[1]} columns but {len(names)} attribute_names",
            )
        _set(self, "attribute_names", names)
        _set(self, "attributes", attrs)
        indptr = _array("indptr", self.indptr, _I64, n=n + 1)
        if indptr[0] != 0 or np.any(np.diff(indptr) < 0):
            raise InputError("indptr", "must start at 0 and be non-decreasing")
        nnz = int(indptr[-1])
        indices = _array("indices", self.indices, _I32, n=nnz, min_value=0, max_value=n - 1)
        edge_length = _array("edge_length", self.edge_length, _F64, n=nnz, min_value=0.0)
        rows = np.repeat(np.arange(n, dtype=_I64), np.diff(indptr))
        loops = rows == indices
        if loops.any():
            raise InputError("indices", "self loops in adjacency", first_rows(rows[loops]))
        # symmetric: every (i, j) has a (j, i)
        fwd = rows * n + indices
        bwd = indices.astype(_I64) * n + rows
        missing = ~np.isin(bwd, fwd)
        if missing.any():
            raise InputError(
                "indices",
                "adjacency must be symmetric",
                first_rows(rows[missing]),
                int(missing.sum()),
            )
        _set(self, "indptr", indptr)
        _set(self, "indices", indices)
        _set(self, "edge_length", edge_length)
        if self.area is None:
            _set(self, "area", _array("area", np.zeros(n), _F64))
        else:
            _set(self, "area", _array("area", self.area, _F64, n=n, min_value=0.0))

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_edges(
        cls,
        ids: ArrayLike,
        x: ArrayLike,
        y: ArrayLike,
        attributes: Mapping[str, ArrayLike],
        edges: ArrayLike,
        edge_length: ArrayLike | None = None,
        area: ArrayLike | None = None,
        crs: str | None = None,
    ) -> Units:
        """Build units from an undirected edge list.

        Parameters
        ----------
        edges : array_like of int, shape (n_edges, 2)
            Undirected edges between unit positions (0-based); duplicates are merged.
        edge_length : array_like of float, shape (n_edges,), optional
            Shared border length of each edge; defaults to the centroid distance.
        attributes : mapping of str to array_like
            One column per attribute name.
        """
        xa = np.asarray(x, dtype=_F64)
        ya = np.asarray(y, dtype=_F64)
        n = xa.shape[0]
        e = np.asarray(edges, dtype=_I64).reshape(-1, 2)
        if e.size and (e.min() < 0 or e.max() >= n):
            bad = np.flatnonzero((e < 0).any(axis=1) | (e >= n).any(axis=1))
            raise InputError("edges", f"refer to units outside 0..{n - 1}", first_rows(bad))
        if edge_length is None:
            if e.size:
                length = np.hypot(xa[e[:, 0]] - xa[e[:, 1]], ya[e[:, 0]] - ya[e[:, 1]])
            else:
                length = np.zeros(0)
        else:
            length = np.asarray(edge_length, dtype=_F64)
        indptr, indices, lengths = _csr_from_edges(n, e, length)
        names = tuple(attributes)
        cols = [np.asarray(attributes[k], dtype=_F64) for k in names]
        attrs = np.column_stack(cols) if cols else np.zeros((n, 0))
        return cls(
            ids=np.asarray(ids),
            x=xa,
            y=ya,
            attributes=attrs,
            attribute_names=names,
            indptr=indptr,
            indices=indices,
            edge_length=lengths,
            area=None if area is None else np.asarray(area, dtype=_F64),
            crs=crs,
        )

    # ------------------------------------------------------------------ accessors
    @property
    def n_units(self) -> int:
        """Number of units."""
        return int(self.ids.shape[0])

    @property
    def n_attributes(self) -> int:
        """Number of attribute columns."""
        return int(self.attributes.shape[1])

    @property
    def n_edges(self) -> int:
        """Number of undirected adjacency edges."""
        return int(self.indptr[-1] // 2)

    def attribute_index(self, name: str) -> int:
        """Column index of attribute ``name``; raises InputError naming known ones."""
        try:
            return self.attribute_names.index(name)
        except ValueError:
            raise InputError(
                "attribute",
                f"unknown attribute {name!r}; known: {', '.join(self.attribute_names)}",
            ) from None

    def attribute(self, name: str) -> NDArray[np.float64]:
        """Column ``name`` of the attribute matrix (a read-only view)."""
        return self.attributes[:, self.attribute_index(name)]

    def neighbours(self, unit_idx: int) -> NDArray[np.int32]:
        """Neighbour indices of one unit."""
        return self.indices[self.indptr[unit_idx] : self.indptr[unit_idx + 1]]

    def edges(self) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
        """Undirected edges ``(i, j, length)`` with ``i < j``."""
        rows = np.repeat(np.arange(self.n_units, dtype=_I64), np.diff(self.indptr))
        keep = rows < self.indices
        return rows[keep], self.indices[keep].astype(_I64), self.edge_length[keep]

    def n_components(self) -> int:
        """Number of connected components of the adjacency graph."""
        from scipy.sparse import csr_matrix
        from scipy.sparse.csgraph import connected_components

        g = csr_matrix(
            (np.ones(self.indices.shape[0]), self.indices, self.indptr),
            shape=(self.n_units, self.n_units),
        )
        return int(connected_components(g, directed=False)[0])


def _csr_from_edges(
    n: int, edges: NDArray[np.int64], length: NDArray[np.float64]
) -> tuple[NDArray[np.int64], NDArray[np.int32], NDArray[np.float64]]:
    """Symmetric CSR (sorted neighbours, duplicates merged keeping the largest length)."""
    if edges.size == 0:
        return np.zeros(n + 1, dtype=_I64), np.zeros(0, dtype=_I32), np.zeros(0, dtype=_F64)
    keep = edges[:, 0] != edges[:, 1]
    edges, length = edges[keep], length[keep]
    src = np.concatenate([edges[:, 0], edges[:, 1]])
    dst = np.concatenate([edges[:, 1], edges[:, 0]])
    ln = np.concatenate([length, length])
    order = np.lexsort((-ln, dst, src))
    src, dst, ln = src[order], dst[order], ln[order]
    first = np.ones(src.shape[0], dtype=bool)
    first[1:] = (src[1:] != src[:-1]) | (dst[1:] != dst[:-1])
    src, dst, ln = src[first], dst[first], ln[first]
    indptr = np.zeros(n + 1, dtype=_I64)
    np.cumsum(np.bincount(src, minlength=n), out=indptr[1:])
    return indptr, dst.astype(_I32), ln


@dataclass(frozen=True, eq=False)
class Staff(_Replaceable):
    """People who serve the grids.

    Parameters
    ----------
    ids : ndarray of int64, shape (n_staff,)
        Unique staff ids.
    role : ndarray of int8, shape (n_staff,)
        Index into :data:`ROLES` (0 installer, 1 technician, 2 account_manager).
    x, y : ndarray of float64, shape (n_staff,)
        Home or base location (metric).
    shift_start, shift_end : ndarray of float64, shape (n_staff,)
        Shift in minutes after midnight; ``shift_end > shift_start``.
    skills : ndarray of int64, shape (n_staff,)
        Bitmask of :data:`SKILL_NAMES`.
    capacity : ndarray of float64, shape (n_staff,)
        Workload limit in the role's unit (households owned for account managers,
        service minutes per day otherwise), > 0.
    grid : ndarray of int32, shape (n_staff,)
        The grid the person belongs to, or -1 when not yet placed.
    """

    ids: NDArray[np.int64]
    role: NDArray[np.int8]
    x: NDArray[np.float64]
    y: NDArray[np.float64]
    shift_start: NDArray[np.float64]
    shift_end: NDArray[np.float64]
    skills: NDArray[np.int64]
    capacity: NDArray[np.float64]
    grid: NDArray[np.int32] | None = None

    def __post_init__(self) -> None:
        ids = _array("ids", self.ids, _I64)
        n = ids.shape[0]
        _unique_ids("ids", ids)
        _set(self, "ids", ids)
        _set(
            self,
            "role",
            _array("role", self.role, np.int8, n=n, min_value=0, max_value=len(ROLES) - 1),
        )
        for name in ("x", "y"):
            _set(self, name, _array(name, getattr(self, name), _F64, n=n))
        start = _array("shift_start", self.shift_start, _F64, n=n, min_value=0.0, max_value=24 * 60)
        end = _array("shift_end", self.shift_end, _F64, n=n, min_value=0.0, max_value=48 * 60)
        bad = end <= start
        if bad.any():
            raise InputError(
                "shift_end", "must be after shift_start", first_rows(bad), int(bad.sum())
            )
        _set(self, "shift_start", start)
        _set(self, "shift_end", end)
        _set(self, "skills", _array("skills", self.skills, _I64, n=n, min_value=0))
        cap = _array("capacity", self.capacity, _F64, n=n)
        bad = cap <= 0
        if bad.any():
            raise InputError("capacity", "must be > 0", first_rows(bad), int(bad.sum()))
        _set(self, "capacity", cap)
        if self.grid is None:
            _set(self, "grid", _array("grid", np.full(n, -1), _I32))
        else:
            _set(self, "grid", _array("grid", self.grid, _I32, n=n, min_value=-1))

    @property
    def n_staff(self) -> int:
        """Number of staff."""
        return int(self.ids.shape[0])

    def select(self, mask: ArrayLike) -> Staff:
        """The staff where ``mask`` is true (or at the given positions)."""
        m = np.asarray(mask)
        return Staff(
            ids=self.ids[m],
            role=self.role[m],
            x=self.x[m],
            y=self.y[m],
            shift_start=self.shift_start[m],
            shift_end=self.shift_end[m],
            skills=self.skills[m],
            capacity=self.capacity[m],
            grid=None if self.grid is None else self.grid[m],
        )

    def of_role(self, role: str | int) -> NDArray[np.int64]:
        """Positions of the staff with ``role`` (name or code)."""
        code = ROLES.index(role) if isinstance(role, str) else int(role)
        return np.flatnonzero(self.role == code)


@dataclass(frozen=True, eq=False)
class Tickets(_Replaceable):
    """Repair and installation requests.

    Parameters
    ----------
    ids : ndarray of int64, shape (n_tickets,)
        Unique ticket ids.
    time : ndarray of float64, shape (n_tickets,)
        Arrival in minutes from the start of the horizon, >= 0.
    x, y : ndarray of float64, shape (n_tickets,)
        Location (metric).
    unit : ndarray of int32, shape (n_tickets,)
        Position of the unit the ticket lies in (0-based), or -1 when unknown.
    type : ndarray of int8, shape (n_tickets,)
        Index into :data:`TICKET_TYPES`.
    priority : ndarray of int8, shape (n_tickets,)
        0 is most urgent (outages), larger is less urgent.
    skill : ndarray of int64, shape (n_tickets,)
        Skill bit the ticket needs (0 for none).
    duration : ndarray of float64, shape (n_tickets,)
        On-site service minutes, > 0.
    household : ndarray of int64, shape (n_tickets,)
        Household id the ticket belongs to, or -1.
    """

    ids: NDArray[np.int64]
    time: NDArray[np.float64]
    x: NDArray[np.float64]
    y: NDArray[np.float64]
    unit: NDArray[np.int32]
    type: NDArray[np.int8]
    priority: NDArray[np.int8]
    skill: NDArray[np.int64]
    duration: NDArray[np.float64]
    household: NDArray[np.int64] | None = None

    def __post_init__(self) -> None:
        ids = _array("ids", self.ids, _I64)
        n = ids.shape[0]
        _unique_ids("ids", ids)
        _set(self, "ids", ids)
        _set(self, "time", _array("time", self.time, _F64, n=n, min_value=0.0))
        for name in ("x", "y"):
            _set(self, name, _array(name, getattr(self, name), _F64, n=n))
        _set(self, "unit", _array("unit", self.unit, _I32, n=n, min_value=-1))
        _set(
            self,
            "type",
            _array("type", self.type, np.int8, n=n, min_value=0, max_value=len(TICKET_TYPES) - 1),
        )
        _set(self, "priority", _array("priority", self.priority, np.int8, n=n, min_value=0))
        _set(self, "skill", _array("skill", self.skill, _I64, n=n, min_value=0))
        dur = _array("duration", self.duration, _F64, n=n)
        bad = dur <= 0
        if bad.any():
            raise InputError("duration", "must be > 0 minutes", first_rows(bad), int(bad.sum()))
        _set(self, "duration", dur)
        if self.household is None:
            _set(self, "household", _array("household", np.full(n, -1), _I64))
        else:
            _set(self, "household", _array("household", self.household, _I64, n=n))

    @property
    def n_tickets(self) -> int:
        """Number of tickets."""
        return int(self.ids.shape[0])

    def check_units(self, n_units: int) -> None:
        """Raise InputError if a ticket points to a unit outside ``0..n_units-1``."""
        bad = self.unit >= n_units
        if bad.any():
            raise InputError(
                "unit",
                f"points to an unknown unit (there are {n_units})",
                first_rows(bad),
                int(bad.sum()),
            )

    def select(self, mask: ArrayLike) -> Tickets:
        """The tickets where ``mask`` is true (or at the given positions)."""
        m = np.asarray(mask)
        return Tickets(
            ids=self.ids[m],
            time=self.time[m],
            x=self.x[m],
            y=self.y[m],
            unit=self.unit[m],
            type=self.type[m],
            priority=self.priority[m],
            skill=self.skill[m],
            duration=self.duration[m],
            household=None if self.household is None else self.household[m],
        )


@dataclass(frozen=True, eq=False)
class Layout(_Replaceable):
    """One assignment of every unit to a grid.

    Parameters
    ----------
    labels : ndarray of int32, shape (n_units,)
        Grid index of each unit, in ``0..n_grids-1``.
    n_grids : int
        Number of grids; every grid must hold at least one unit.
    bases : ndarray of int32, shape (n_grids,), optional
        Unit position of each grid's base (-1 when none). A base must lie in its grid.

    Examples
    --------
    >>> lay = Layout(labels=[0, 0, 1], n_grids=2)
    >>> lay.sizes().tolist()
    [2, 1]
    """

    labels: NDArray[np.int32]
    n_grids: int
    bases: NDArray[np.int32] | None = None

    def __post_init__(self) -> None:
        n_grids = int(self.n_grids)
        if n_grids < 1:
            raise InputError("n_grids", f"must be >= 1, got {self.n_grids}")
        _set(self, "n_grids", n_grids)
        labels = _array("labels", self.labels, _I32, min_value=0, max_value=n_grids - 1)
        _set(self, "labels", labels)
        empty = np.flatnonzero(np.bincount(labels, minlength=n_grids) == 0)
        if empty.size:
            raise InputError(
                "labels",
                "every grid needs at least one unit; empty grids",
                first_rows(empty),
                empty.size,
            )
        if self.bases is None:
            _set(self, "bases", _array("bases", np.full(n_grids, -1), _I32))
        else:
            bases = _array(
                "bases", self.bases, _I32, n=n_grids, min_value=-1, max_value=labels.shape[0] - 1
            )
            has = bases >= 0
            wrong = has & (labels[np.where(has, bases, 0)] != np.arange(n_grids))
            if wrong.any():
                raise InputError(
                    "bases", "a grid's base must be one of its own units", first_rows(wrong)
                )
            _set(self, "bases", bases)

    @property
    def n_units(self) -> int:
        """Number of units."""
        return int(self.labels.shape[0])

    def sizes(self) -> NDArray[np.int64]:
        """Units per grid."""
        return np.bincount(self.labels, minlength=self.n_grids)

    def totals(self, units: Units) -> NDArray[np.float64]:
        """Attribute totals per grid, shape (n_grids, n_attributes)."""
        if units.n_units != self.n_units:
            raise InputError("labels", f"has {self.n_units} entries for {units.n_units} units")
        out = np.zeros((self.n_grids, units.n_attributes))
        np.add.at(out, self.labels, units.attributes)
        return out


@dataclass(frozen=True, eq=False)
class Scenario(_Replaceable):
    """Everything a planning run needs, checked for consistency.

    Parameters
    ----------
    units : Units
    staff : Staff
    households : Households, optional
    tickets : Tickets, optional
        Each ticket's ``unit`` must refer to a unit.
    layout : Layout, optional
        The current layout (for stability and the central baseline).
    stations : ndarray of float64, shape (n_stations, 2), optional
        Fixed bases (service halls, depots), metric x/y.
    options : dict
        Free-form settings read by the pipeline (weights, policies, ...).
    """

    units: Units
    staff: Staff
    households: Households | None = None
    tickets: Tickets | None = None
    layout: Layout | None = None
    stations: NDArray[np.float64] | None = None
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.tickets is not None:
            self.tickets.check_units(self.units.n_units)
        if self.layout is not None and self.layout.n_units != self.units.n_units:
            raise InputError(
                "layout.labels",
                f"has {self.layout.n_units} entries for {self.units.n_units} units",
            )
        if self.stations is not None:
            st = _array("stations", self.stations, _F64, ndim=2)
            if st.shape[1] != 2:
                raise InputError("stations", f"must have 2 columns (x, y), got {st.shape[1]}")
            _set(self, "stations", st)


def as_attribute_matrix(
    columns: Mapping[str, ArrayLike] | Sequence[ArrayLike],
) -> NDArray[np.float64]:
    """Stack columns into a C-contiguous float64 matrix.

    Examples
    --------
    >>> as_attribute_matrix({"a": [1, 2], "b": [3, 4]}).tolist()
    [[1.0, 3.0], [2.0, 4.0]]
    """
    cols = list(columns.values()) if isinstance(columns, Mapping) else list(columns)
    return np.ascontiguousarray(np.column_stack([np.asarray(c, dtype=_F64) for c in cols]))
