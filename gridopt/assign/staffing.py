"""How many staff each grid needs, per role: workload and an Erlang C response target.

For every grid and role the head count is the largest of

* **workload**: ``ceil(daily minutes / (shift_minutes * utilisation))``, where daily
  minutes are the grid's service minutes (or jobs times ``job_minutes``) plus travel
  inside the grid for every job;
* **response** (roles with ``sla_minutes``): the smallest number of servers ``c`` of an
  M/M/c queue (Erlang C) whose share of jobs answered within the SLA reaches
  ``sla_share``; jobs arrive over ``coverage_minutes`` a day and each takes
  ``job_minutes`` plus the travel; ``c`` people on duty over the coverage window need
  ``ceil(c * coverage_minutes / shift_minutes)`` heads;
* **portfolio** (account managers): ``ceil(households / households_per_staff)``;
* ``min_staff``.

Travel inside a grid is estimated from its geometry: the expected distance between two
random points of a grid is about ``travel_factor`` (1.36, exact for a uniform disc)
times the workload-weighted mean distance of its units to the grid's centroid, driven at
``speed_kmh``. Pass ``travel_minutes`` to use a measured figure instead.

Hand-off to the simulator
-------------------------
Erlang C assumes Poisson arrivals, exponential service and no travel between jobs
beyond the average: a first sizing. :meth:`StaffingResult.to_staff` turns the table
into a :class:`~gridopt.model.Staff` (one row per person, based at the grid's base or
workload centroid, with the role's shift and capacity); hand that and the same layout to
the simulator (``gridopt.sim``) and check the response-time distribution it reports
before committing to the numbers; raise a grid's count where the simulated SLA share
falls short.

Examples
--------
>>> round(erlang_c(2.0, 3), 4)
0.4444
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from gridopt.errors import InputError
from gridopt.model import (
    ROLES,
    SKILL_FIBER,
    SKILL_INSTALL,
    SKILL_REPAIR,
    SKILL_SENIOR,
    Layout,
    Staff,
    Units,
)

__all__ = [
    "RoleWorkload",
    "DEFAULT_ROLES",
    "StaffingResult",
    "erlang_b",
    "erlang_c",
    "queue_metrics",
    "servers_needed",
    "staffing",
]

log = logging.getLogger("gridopt.assign.staffing")

_MAX_SERVERS = 5000


def erlang_b(load: float, servers: int) -> float:
    """Erlang B blocking probability, by the stable recursion ``B(k) = aB/(k + aB)``.

    Parameters
    ----------
    load : float
        Offered load ``a`` in Erlangs (arrival rate times mean service time), >= 0.
    servers : int
        Number of servers ``c``, >= 0.

    Returns
    -------
    float

    Examples
    --------
    >>> round(erlang_b(2.0, 3), 4)
    0.2105
    """
    if load < 0 or servers < 0:
        raise InputError("load", f"load and servers must be >= 0, got {load}, {servers}")
    b = 1.0
    for k in range(1, int(servers) + 1):
        b = load * b / (k + load * b)
    return b


def erlang_c(load: float, servers: int) -> float:
    """Erlang C: probability that a job waits (M/M/c), 1 when ``load >= servers``.

    Computed from Erlang B (``C = cB / (c - a(1 - B))``), which stays accurate for
    hundreds of servers where the textbook factorial form overflows.

    Examples
    --------
    >>> erlang_c(5.0, 5)
    1.0
    >>> erlang_c(300.0, 330) < 0.1
    True
    """
    c = int(servers)
    if load >= c:
        return 1.0
    b = erlang_b(load, c)
    return c * b / (c - load * (1.0 - b))


def queue_metrics(
    arrival_rate: float, service_minutes: float, servers: int, sla_minutes: float
) -> dict[str, float]:
    """M/M/c figures: P(wait), mean wait (minutes), share within the SLA, utilisation.

    Parameters
    ----------
    arrival_rate : float
        Jobs per minute.
    service_minutes : float
        Mean time a server is busy per job (minutes), > 0.
    servers : int
    sla_minutes : float
        Response target: a job is within the SLA when its wait is at most this.

    Examples
    --------
    >>> m = queue_metrics(arrival_rate=0.1, service_minutes=20.0, servers=3, sla_minutes=10.0)
    >>> round(m["p_wait"], 4), round(m["mean_wait"], 2), round(m["within_sla"], 4)
    (0.4444, 8.89, 0.7304)
    """
    if service_minutes <= 0:
        raise InputError("service_minutes", f"must be > 0, got {service_minutes}")
    a = arrival_rate * service_minutes
    c = int(servers)
    if c <= 0 or a >= c:
        return {
            "p_wait": 1.0,
            "mean_wait": math.inf,
            "within_sla": 0.0,
            "utilisation": math.inf if c <= 0 else a / c,
        }
    p = erlang_c(a, c)
    drain = (c - a) / service_minutes  # c*mu - lambda, per minute
    return {
        "p_wait": p,
        "mean_wait": p / drain,
        "within_sla": 1.0 - p * math.exp(-drain * sla_minutes),
        "utilisation": a / c,
    }


def servers_needed(
    arrival_rate: float,
    service_minutes: float,
    sla_minutes: float,
    sla_share: float,
    max_servers: int = _MAX_SERVERS,
) -> int:
    """Smallest ``c`` whose share of jobs waiting at most ``sla_minutes`` is ``>= sla_share``.

    Returns 0 when there are no jobs and ``max_servers + 1`` when even ``max_servers``
    are not enough.

    Examples
    --------
    >>> servers_needed(arrival_rate=0.1, service_minutes=20.0, sla_minutes=10.0, sla_share=0.8)
    4
    """
    if arrival_rate <= 0:
        return 0
    a = arrival_rate * service_minutes
    b = 1.0
    for c in range(1, max_servers + 1):
        b = a * b / (c + a * b)  # Erlang B for c servers
        if a >= c:
            continue
        p = c * b / (c - a * (1.0 - b))
        if 1.0 - p * math.exp(-(c - a) / service_minutes * sla_minutes) >= sla_share:
            return c
    return max_servers + 1


@dataclass(frozen=True)
class RoleWorkload:
    """What drives one role's head count (see the module doc).

    Attributes
    ----------
    role : str
        One of :data:`gridopt.model.ROLES`.
    jobs_per_day : str, optional
        Unit attribute with jobs (tickets, installations) per day.
    minutes_per_day : str, optional
        Unit attribute with on-site service minutes per day; default jobs times
        ``job_minutes``.
    job_minutes : float
        Mean on-site minutes per job.
    households : str, optional
        Unit attribute counted for portfolio roles (with ``households_per_staff``).
    households_per_staff : float, optional
    travel : bool
        Add travel inside the grid to every job.
    sla_minutes : float, optional
        Response target (wait until a person is free) for the Erlang C rule.
    sla_share : float
        Share of jobs that must meet ``sla_minutes``, in (0, 1).
    shift_minutes : float
        Paid minutes per person per day.
    utilisation : float
        Target share of a shift spent on jobs and travel, in (0, 1].
    coverage_minutes : float, optional
        Minutes per day over which jobs arrive (default ``shift_minutes``).
    min_staff : int
        Floor per grid.
    capacity : float, optional
        Capacity written by :meth:`StaffingResult.to_staff` (default: households per
        staff for portfolio roles, ``shift_minutes * utilisation`` otherwise).
    """

    role: str
    jobs_per_day: str | None = None
    minutes_per_day: str | None = None
    job_minutes: float = 60.0
    households: str | None = None
    households_per_staff: float | None = None
    travel: bool = True
    sla_minutes: float | None = None
    sla_share: float = 0.8
    shift_minutes: float = 480.0
    utilisation: float = 0.85
    coverage_minutes: float | None = None
    min_staff: int = 1
    capacity: float | None = None

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise InputError("role", f"must be one of {', '.join(ROLES)}, got {self.role!r}")
        checks = {
            "job_minutes": self.job_minutes > 0,
            "shift_minutes": 0 < self.shift_minutes <= 24 * 60,
            "utilisation": 0 < self.utilisation <= 1,
            "sla_share": 0 < self.sla_share < 1,
            "min_staff": self.min_staff >= 0,
            "sla_minutes": self.sla_minutes is None or self.sla_minutes >= 0,
            "coverage_minutes": self.coverage_minutes is None
            or 0 < self.coverage_minutes <= 24 * 60,
            "households_per_staff": self.households_per_staff is None
            or self.households_per_staff > 0,
        }
        for name, ok in checks.items():
            if not ok:
                raise InputError(f"{self.role}.{name}", f"out of range: {getattr(self, name)!r}")
        if (self.households is None) != (self.households_per_staff is None):
            raise InputError(
                f"{self.role}.households", "give households and households_per_staff together"
            )


DEFAULT_ROLES: tuple[RoleWorkload, ...] = (
    RoleWorkload("installer", jobs_per_day="installs_per_day", job_minutes=90.0),
    RoleWorkload(
        "technician",
        jobs_per_day="tickets_per_day",
        job_minutes=45.0,
        sla_minutes=120.0,
        sla_share=0.8,
        coverage_minutes=600.0,
    ),
    RoleWorkload(
        "account_manager", households="subscribers", households_per_staff=600.0, travel=False
    ),
)
"""Roles sized by default; attribute names follow ``gridopt.io.units.build_units``."""


@dataclass(frozen=True)
class StaffingResult:
    """Per-grid, per-role head counts and queue figures.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per (grid, role): ``grid, role, jobs_per_day, minutes_per_day,
        travel_minutes, by_workload, by_response, by_portfolio, staff, utilisation,
        p_wait, mean_wait, within_sla, meets_sla``.
    counts : ndarray of int64, shape (n_grids, 3)
        Head count per grid and role (columns in :data:`~gridopt.model.ROLES` order).
    roles : tuple of RoleWorkload
    """

    table: Any
    counts: NDArray[np.int64]
    roles: tuple[RoleWorkload, ...]
    anchors: NDArray[np.float64]

    def to_staff(self, *, shift_start: float = 480.0, first_id: int = 1) -> Staff:
        """One :class:`Staff` row per person, placed at the grid's anchor point.

        Technicians get the repair and fiber skills, installers the install skill and the
        first account manager of each grid the senior skill (VIP customers).
        """
        rows: list[tuple[int, int, float, float, float, int, float]] = []
        for spec in self.roles:
            code = ROLES.index(spec.role)
            skills = {0: SKILL_INSTALL, 1: SKILL_REPAIR | SKILL_FIBER, 2: 0}[code]
            cap = spec.capacity or (
                spec.households_per_staff or spec.shift_minutes * spec.utilisation
            )
            for g in range(self.counts.shape[0]):
                for k in range(int(self.counts[g, code])):
                    sk = skills | (SKILL_SENIOR if code == 2 and k == 0 else 0)
                    rows.append(
                        (
                            code,
                            g,
                            self.anchors[g, 0],
                            self.anchors[g, 1],
                            spec.shift_minutes,
                            sk,
                            cap,
                        )
                    )
        if not rows:
            raise InputError("counts", "no staff to create")
        arr = np.array(rows, dtype=np.float64)
        n = arr.shape[0]
        return Staff(
            ids=np.arange(first_id, first_id + n),
            role=arr[:, 0].astype(np.int8),
            x=arr[:, 2],
            y=arr[:, 3],
            shift_start=np.full(n, shift_start),
            shift_end=shift_start + arr[:, 4],
            skills=arr[:, 5].astype(np.int64),
            capacity=arr[:, 6],
            grid=arr[:, 1].astype(np.int32),
        )


def staffing(
    units: Units,
    layout: Layout | ArrayLike,
    *,
    roles: Sequence[RoleWorkload] = DEFAULT_ROLES,
    speed_kmh: float = 20.0,
    travel_factor: float = 1.36,
    travel_minutes: ArrayLike | None = None,
    max_staff: int = _MAX_SERVERS,
) -> StaffingResult:
    """Staff needed per grid and role (see the module doc for the rules).

    Parameters
    ----------
    units : Units
        Units with the attributes the roles name.
    layout : Layout or array_like of int, shape (n_units,)
        Grid of every unit.
    roles : sequence of RoleWorkload
        Roles to size (default :data:`DEFAULT_ROLES`).
    speed_kmh : float
        Travel speed inside grids.
    travel_factor : float
        Mean trip length over mean distance to the centroid.
    travel_minutes : array_like of float, shape (n_grids,), optional
        Measured travel minutes per job, overriding the estimate.
    max_staff : int
        Largest head count tried for the response rule; grids that would need more get
        ``meets_sla = False``.

    Returns
    -------
    StaffingResult

    Raises
    ------
    InputError
        On an unknown attribute, a layout of the wrong length, a non-positive speed,
        negative travel minutes or two specs for one role.

    Examples
    --------
    >>> from gridopt.model import Units, Layout
    >>> u = Units.from_edges(ids=[0, 1], x=[0.0, 1000.0], y=[0.0, 0.0],
    ...     attributes={"tickets_per_day": [12.0, 4.0]}, edges=[(0, 1)])
    >>> spec = RoleWorkload("technician", jobs_per_day="tickets_per_day", job_minutes=45.0,
    ...                     sla_minutes=15.0, travel=False)
    >>> res = staffing(u, Layout(labels=[0, 1], n_grids=2), roles=[spec])
    >>> res.table[["grid", "by_workload", "by_response", "staff"]].values.tolist()
    [[0, 2, 3, 3], [1, 1, 2, 2]]
    """
    import pandas as pd

    labels = np.asarray(layout.labels if isinstance(layout, Layout) else layout)
    if labels.shape != (units.n_units,) or not np.issubdtype(labels.dtype, np.integer):
        raise InputError(
            "layout", f"must give an integer grid for each of the {units.n_units} units"
        )
    if labels.size and labels.min() < 0:
        raise InputError("layout", "grids must be >= 0", [int(np.argmin(labels))])
    n_grids = int(layout.n_grids) if isinstance(layout, Layout) else int(labels.max()) + 1
    if not speed_kmh > 0:
        raise InputError("speed_kmh", f"must be > 0, got {speed_kmh}")
    seen = [r.role for r in roles]
    if len(set(seen)) != len(seen):
        raise InputError("roles", f"one spec per role, got {seen}")
    anchors, spread = _grid_geometry(units, labels, n_grids)
    if travel_minutes is not None:
        trav = np.asarray(travel_minutes, dtype=np.float64)
        if trav.shape != (n_grids,) or not np.all(np.isfinite(trav)) or (trav < 0).any():
            raise InputError("travel_minutes", f"must be {n_grids} finite values >= 0")
    else:
        trav = travel_factor * spread / 1000.0 / speed_kmh * 60.0

    def per_grid(name: str) -> NDArray[np.float64]:
        return np.bincount(labels, weights=units.attribute(name), minlength=n_grids)

    records: list[dict[str, Any]] = []
    counts = np.zeros((n_grids, len(ROLES)), dtype=np.int64)
    for spec in roles:
        jobs = per_grid(spec.jobs_per_day) if spec.jobs_per_day else np.zeros(n_grids)
        minutes = (
            per_grid(spec.minutes_per_day) if spec.minutes_per_day else jobs * spec.job_minutes
        )
        hh = per_grid(spec.households) if spec.households else np.zeros(n_grids)
        travel = trav if spec.travel else np.zeros(n_grids)
        coverage = spec.coverage_minutes or spec.shift_minutes
        for g in range(n_grids):
            day_minutes = minutes[g] + jobs[g] * travel[g]
            by_work = math.ceil(day_minutes / (spec.shift_minutes * spec.utilisation) - 1e-9)
            service = (minutes[g] / jobs[g] if jobs[g] > 0 else spec.job_minutes) + travel[g]
            rate = jobs[g] / coverage
            by_resp = 0
            servers = None
            if spec.sla_minutes is not None and rate > 0:
                servers = servers_needed(rate, service, spec.sla_minutes, spec.sla_share, max_staff)
                by_resp = math.ceil(servers * coverage / spec.shift_minutes - 1e-9)
            by_port = (
                math.ceil(hh[g] / spec.households_per_staff - 1e-9)
                if spec.households_per_staff
                else 0
            )
            staff_n = max(by_work, by_resp, by_port, spec.min_staff)
            on_duty = max(1, int(staff_n * min(1.0, spec.shift_minutes / coverage)))
            sla = spec.sla_minutes if spec.sla_minutes is not None else 0.0
            qm = (
                queue_metrics(rate, service, on_duty, sla)
                if rate > 0
                else {"p_wait": 0.0, "mean_wait": 0.0, "within_sla": 1.0, "utilisation": 0.0}
            )
            counts[g, ROLES.index(spec.role)] = staff_n
            records.append(
                {
                    "grid": g,
                    "role": spec.role,
                    "jobs_per_day": jobs[g],
                    "minutes_per_day": minutes[g],
                    "travel_minutes": travel[g],
                    "by_workload": by_work,
                    "by_response": by_resp,
                    "by_portfolio": by_port,
                    "staff": staff_n,
                    "utilisation": qm["utilisation"],
                    "p_wait": qm["p_wait"],
                    "mean_wait": qm["mean_wait"],
                    "within_sla": qm["within_sla"]
                    if spec.sla_minutes is not None
                    else float("nan"),
                    "meets_sla": bool(servers is None or servers <= max_staff),
                }
            )
    table = pd.DataFrame.from_records(records)
    short = table[~table["meets_sla"]]
    if len(short):
        log.warning(
            "staffing: %d grid/role rows cannot meet the SLA with %d staff", len(short), max_staff
        )
    return StaffingResult(table=table, counts=counts, roles=tuple(roles), anchors=anchors)


def _grid_geometry(
    units: Units, labels: NDArray[Any], n_grids: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Anchor (workload centroid) and mean distance of units to it, per grid."""
    w = np.ones(units.n_units)
    for name in ("tickets_per_day", "households", "subscribers"):
        if name in units.attribute_names:
            col = units.attribute(name)
            if col.sum() > 0:
                w = col + 1e-9
                break
    tot = np.bincount(labels, weights=w, minlength=n_grids)
    tot = np.where(tot > 0, tot, 1.0)
    cx = np.bincount(labels, weights=w * units.x, minlength=n_grids) / tot
    cy = np.bincount(labels, weights=w * units.y, minlength=n_grids) / tot
    d = np.hypot(units.x - cx[labels], units.y - cy[labels])
    spread = np.bincount(labels, weights=w * d, minlength=n_grids) / tot
    return np.column_stack([cx, cy]), spread
