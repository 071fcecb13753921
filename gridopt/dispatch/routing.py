"""Daily repair dispatch: OR-Tools vehicle routing with time windows (VRPTW).

One day's tickets become technician routes: appointment windows (late service is allowed
at a cost per minute), service durations, required skills, priorities (a ticket may be
dropped at a penalty that grows with its urgency; every dropped ticket comes back with
its reason), technicians with shifts, skills, a service-minute capacity and a lunch
break, starting and ending at their home or base.

Two policies can be compared on the same day:

``"grid_first"``
    A ticket goes to the technicians of its own grid; technicians of a neighbouring grid
    (and unplaced technicians, ``Staff.grid == -1``) may take it at ``overflow_penalty``,
    so overflow only happens when it is better for the customer.
``"central"``
    One central pool: any technician with the skill may take any ticket.

OR-Tools' routing API is used only in this module (pinned here, so an OR-Tools upgrade
touches one file). :func:`solve_vrptw` (plain VRPTW, distance objective) runs our own
Numba ruin-and-recreate engine (:mod:`gridopt.dispatch._kernels`) by default;
:func:`dispatch_day` stays on OR-Tools (skills, breaks, allowed technicians, soft windows
and drop penalties are not in that engine). Integer scaling: distances in metres, times in seconds, costs in
metre-equivalents (``lateness_cost`` and ``drop_penalty`` are expressed in metres of
driving).

Examples
--------
>>> import numpy as np
>>> from gridopt.model import Staff, Tickets
>>> staff = Staff(ids=[1], role=[1], x=[0.0], y=[0.0], shift_start=[480.0],
...               shift_end=[1020.0], skills=[1], capacity=[480.0], grid=[0])
>>> tickets = Tickets(ids=[10, 11], time=[0.0, 0.0], x=[1000.0, 2000.0], y=[0.0, 0.0],
...                   unit=[-1, -1], type=[0, 0], priority=[1, 1], skill=[1, 1],
...                   duration=[30.0, 30.0])
>>> routes = dispatch_day(tickets, staff, policy="central", lunch=None, search="descent")
>>> routes.status, routes.n_served, sorted(routes.route(0).tolist())
('feasible', 2, [0, 1])
>>> round(routes.total_distance)  # 1 km out, 1 km on, 2 km back, x detour 1.3
5200
"""

from __future__ import annotations

import logging
import math
import time as _time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from ortools.constraint_solver import pywrapcp, routing_enums_pb2

from gridopt.dispatch import _kernels as K
from gridopt.errors import InputError, first_rows
from gridopt.model import Layout, Staff, Tickets, Units

__all__ = [
    "DROP_REASONS",
    "FIRST_SOLUTION_STRATEGIES",
    "Routes",
    "TravelModel",
    "VrptwResult",
    "dispatch_day",
    "grid_neighbours",
    "read_solomon",
    "solve_vrptw",
]

log = logging.getLogger("gridopt.dispatch")

#: Why a ticket was not served (``Routes.dropped_reason`` holds these words).
DROP_REASONS: dict[str, str] = {
    "no_skill": "no technician has the ticket's skill",
    "no_technician_in_reach": "no technician with the skill in the ticket's grid or its neighbours",
    "window_outside_shifts": "the appointment window lies outside every eligible shift",
    "capacity": "eligible technicians have no time left (dropped at its penalty)",
    "no_solution": "the solver found no solution within the limits",
}

#: First-solution strategies tried by :func:`solve_vrptw` (OR-Tools names).
FIRST_SOLUTION_STRATEGIES: tuple[str, ...] = (
    "PATH_CHEAPEST_ARC",
    "PARALLEL_CHEAPEST_INSERTION",
    "SAVINGS",
    "LOCAL_CHEAPEST_INSERTION",
    "SEQUENTIAL_CHEAPEST_INSERTION",
)

_STATUS_NAMES = {
    v.number: v.name for v in routing_enums_pb2.RoutingSearchStatus.DESCRIPTOR.enum_types[0].values
}
_SECONDS = 60  # internal time unit: seconds (inputs are minutes)
_HORIZON_MIN = 48 * 60
_BIG = 1 << 40


# ----------------------------------------------------------------------------- travel


@dataclass(frozen=True)
class TravelModel:
    """Straight-line travel: euclidean distance x detour factor, at a constant speed.

    Parameters
    ----------
    detour : float
        Road distance per straight-line metre (>= 1), default 1.3.
    speed_kmh : float
        Mean driving speed in km/h (> 0), default 25.

    Examples
    --------
    >>> dist, minutes = TravelModel(detour=1.0, speed_kmh=60.0)([0.0, 3000.0], [0.0, 4000.0])
    >>> dist.tolist(), minutes.tolist()
    ([[0.0, 5000.0], [5000.0, 0.0]], [[0.0, 5.0], [5.0, 0.0]])
    """

    detour: float = 1.3
    speed_kmh: float = 25.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.detour) and self.detour >= 1.0):
            raise InputError("travel.detour", f"must be >= 1, got {self.detour}")
        if not (math.isfinite(self.speed_kmh) and self.speed_kmh > 0):
            raise InputError("travel.speed_kmh", f"must be > 0, got {self.speed_kmh}")

    def __call__(
        self, x: ArrayLike, y: ArrayLike
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Distance (metres) and travel time (minutes) between all points.

        Parameters
        ----------
        x, y : array_like of float, shape (n,)
            Metric coordinates.

        Returns
        -------
        distance, minutes : ndarray of float64, shape (n, n)
        """
        xa = np.asarray(x, dtype=np.float64)
        ya = np.asarray(y, dtype=np.float64)
        dist = np.hypot(xa[:, None] - xa[None, :], ya[:, None] - ya[None, :]) * self.detour
        return dist, dist / (self.speed_kmh * 1000.0 / 60.0)


# ---------------------------------------------------------------------------- results


def _frozen(a: ArrayLike, dtype: Any) -> NDArray[Any]:
    arr = np.ascontiguousarray(a, dtype=dtype)
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, eq=False)
class Routes:
    """One day's technician routes (structure of arrays, read-only).

    Stops are stored flat, ordered by technician then visit order; ``stop_tech`` indexes
    ``tech`` (itself positions into the ``staff`` that was solved) and ``stop_ticket`` are
    positions into the ``tickets``.
    Times are minutes after midnight.

    Parameters
    ----------
    policy : str
        ``"grid_first"`` or ``"central"``.
    status : str
        ``"optimal"``, ``"feasible"``, ``"time_limit"`` (search stopped by the limit
        before a local optimum) or ``"infeasible"`` (no solution; every ticket dropped).
    tech : ndarray of int64, shape (n_tech,)
        Staff positions of the technicians that were dispatched (used or not).
    tech_depart, tech_return : ndarray of float64, shape (n_tech,)
        Leaving home and coming back (equal when the technician has no stop).
    tech_distance : ndarray of float64, shape (n_tech,)
        Metres driven.
    tech_travel : ndarray of float64, shape (n_tech,)
        Minutes driven.
    tech_break_start : ndarray of float64, shape (n_tech,)
        Start of the lunch break (NaN when none).
    tech_n_stops : ndarray of int64, shape (n_tech,)
        Stops per technician (``stop_*`` rows are grouped in this order).
    stop_tech : ndarray of int64, shape (n_stops,)
        Index into ``tech`` of each stop's technician.
    stop_ticket : ndarray of int64, shape (n_stops,)
        Ticket position of each stop.
    stop_arrival, stop_start, stop_end : ndarray of float64, shape (n_stops,)
        Arrival (after driving, and after lunch if it was taken on the way), service
        start (``>= arrival`` and ``>=`` the window opening) and service end.
    stop_lateness : ndarray of float64, shape (n_stops,)
        Minutes the service started after the window closed (0 when on time).
    stop_overflow : ndarray of bool, shape (n_stops,)
        True when served by a technician of another grid (grid-first policy).
    dropped : ndarray of int64, shape (n_dropped,)
        Ticket positions not served, ascending.
    dropped_reason : tuple of str
        One key of :data:`DROP_REASONS` per dropped ticket.
    objective : float
        Solver objective (metre-equivalents, penalties included).
    stats : dict
        Run statistics: runtime, subproblems, solver statuses, seed, limits.
    """

    policy: str
    status: str
    tech: NDArray[np.int64]
    tech_depart: NDArray[np.float64]
    tech_return: NDArray[np.float64]
    tech_distance: NDArray[np.float64]
    tech_travel: NDArray[np.float64]
    tech_break_start: NDArray[np.float64]
    tech_n_stops: NDArray[np.int64]
    stop_tech: NDArray[np.int64]
    stop_ticket: NDArray[np.int64]
    stop_arrival: NDArray[np.float64]
    stop_start: NDArray[np.float64]
    stop_end: NDArray[np.float64]
    stop_lateness: NDArray[np.float64]
    stop_overflow: NDArray[np.bool_]
    dropped: NDArray[np.int64]
    dropped_reason: tuple[str, ...]
    objective: float
    stats: Mapping[str, Any] = field(default_factory=dict)

    @property
    def n_served(self) -> int:
        """Tickets served."""
        return int(self.stop_ticket.shape[0])

    @property
    def n_dropped(self) -> int:
        """Tickets not served."""
        return int(self.dropped.shape[0])

    @property
    def total_distance(self) -> float:
        """Metres driven by all technicians."""
        return float(self.tech_distance.sum())

    @property
    def total_lateness(self) -> float:
        """Minutes late, summed over stops."""
        return float(self.stop_lateness.sum())

    def route(self, tech_idx: int) -> NDArray[np.int64]:
        """Ticket positions visited by the ``tech_idx``-th dispatched technician, in order."""
        offsets = np.concatenate([[0], np.cumsum(self.tech_n_stops)])
        return self.stop_ticket[offsets[tech_idx] : offsets[tech_idx + 1]]

    def kpis(self) -> dict[str, float]:
        """Headline figures: served, dropped, distance (km), travel, lateness, overflow."""
        used = self.tech_n_stops > 0
        return {
            "served": float(self.n_served),
            "dropped": float(self.n_dropped),
            "distance_km": self.total_distance / 1000.0,
            "travel_min": float(self.tech_travel.sum()),
            "lateness_min": self.total_lateness,
            "late_stops": float(np.count_nonzero(self.stop_lateness > 1e-9)),
            "overflow_stops": float(np.count_nonzero(self.stop_overflow)),
            "technicians_used": float(np.count_nonzero(used)),
        }


@dataclass(frozen=True, eq=False)
class VrptwResult:
    """A VRPTW solution (customers numbered as in the instance; the depot is 0).

    Parameters
    ----------
    routes : tuple of tuple of int
        Customer numbers per used vehicle, in visit order.
    cost : float
        Total distance under the instance's distance convention.
    status : str
        ``"optimal"``, ``"feasible"``, ``"time_limit"`` or ``"infeasible"``.
    stats : dict
        Runtime, first-solution costs per strategy, the chosen strategy, seed.
    """

    routes: tuple[tuple[int, ...], ...]
    cost: float
    status: str
    stats: Mapping[str, Any] = field(default_factory=dict)

    @property
    def n_vehicles(self) -> int:
        """Vehicles used."""
        return len(self.routes)

    def to_cvrplib(self) -> str:
        """The solution in the CVRPLIB ``.sol`` layout (``Route #1: 5 3 7`` ... ``Cost X``)."""
        lines = [
            f"Route #{k + 1}: " + " ".join(str(c) for c in r) for k, r in enumerate(self.routes)
        ]
        lines.append(f"Cost {self.cost:.1f}")
        return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------- small helpers


def grid_neighbours(units: Units, layout: Layout) -> tuple[NDArray[np.int32], ...]:
    """Neighbouring grids of each grid (grids whose units share an edge).

    Parameters
    ----------
    units : Units
    layout : Layout

    Returns
    -------
    tuple of ndarray of int32
        ``n_grids`` sorted arrays of neighbouring grid indices.

    Examples
    --------
    >>> from gridopt.model import Layout, Units
    >>> units = Units.from_edges(ids=[0, 1, 2], x=[0.0, 1.0, 2.0], y=[0.0, 0.0, 0.0],
    ...                          attributes={}, edges=[(0, 1), (1, 2)])
    >>> [a.tolist() for a in grid_neighbours(units, Layout(labels=[0, 1, 2], n_grids=3))]
    [[1], [0, 2], [1]]
    """
    if units.n_units != layout.n_units:
        raise InputError("layout.labels", f"has {layout.n_units} entries for {units.n_units} units")
    rows = np.repeat(np.arange(units.n_units), np.diff(units.indptr))
    a = layout.labels[rows].astype(np.int64)
    b = layout.labels[units.indices].astype(np.int64)
    keep = a != b
    pairs = np.unique(a[keep] * layout.n_grids + b[keep])
    src, dst = pairs // layout.n_grids, pairs % layout.n_grids
    cuts = np.searchsorted(src, np.arange(layout.n_grids + 1))
    return tuple(dst[cuts[g] : cuts[g + 1]].astype(np.int32) for g in range(layout.n_grids))


def _search_parameters(
    strategy: str,
    metaheuristic: str,
    time_limit: float | None,
    solution_limit: int | None,
) -> Any:
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = getattr(routing_enums_pb2.FirstSolutionStrategy, strategy)
    params.local_search_metaheuristic = getattr(
        routing_enums_pb2.LocalSearchMetaheuristic, metaheuristic
    )
    if time_limit is not None:
        params.time_limit.FromMilliseconds(max(1, int(round(time_limit * 1000))))
    if solution_limit is not None:
        params.solution_limit = int(solution_limit)
    return params


def _status(routing: Any, found: bool, elapsed: float, time_limit: float | None) -> str:
    """Map OR-Tools' search status to optimal / feasible / time_limit / infeasible.

    Guided local search always ends on a limit: ``"time_limit"`` says the time limit
    ended it (a better solution may exist), ``"feasible"`` that a solution limit or a
    local optimum did.
    """
    name = _STATUS_NAMES.get(routing.status(), "ROUTING_NOT_SOLVED")
    hit_time = time_limit is not None and elapsed >= 0.98 * time_limit
    if not found:
        return "time_limit" if hit_time or name == "ROUTING_FAIL_TIMEOUT" else "infeasible"
    if name == "ROUTING_OPTIMAL":
        return "optimal"
    return "time_limit" if hit_time else "feasible"


def _check_limits(time_limit: float | None, solution_limit: int | None) -> None:
    if time_limit is not None and not (math.isfinite(time_limit) and time_limit > 0):
        raise InputError("time_limit", f"must be > 0 seconds, got {time_limit}")
    if solution_limit is not None and int(solution_limit) < 1:
        raise InputError("solution_limit", f"must be >= 1, got {solution_limit}")
    if time_limit is None and solution_limit is None:
        raise InputError("time_limit", "give a time_limit or a solution_limit (or both)")


# ------------------------------------------------------------------------- Solomon


def read_solomon(path: Any) -> dict[str, Any]:
    """Read a Solomon VRPTW instance (``.txt``, classic layout).

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    dict
        ``name``, ``n_vehicles``, ``capacity`` and arrays of shape (n_customers + 1,)
        (row 0 is the depot): ``x``, ``y``, ``demand``, ``ready``, ``due``, ``service``.
    """
    from pathlib import Path

    text = Path(path).read_text().splitlines()
    name = text[0].strip()
    rows: list[list[float]] = []
    n_vehicles = capacity = None
    for line in text[1:]:
        parts = line.split()
        if not parts or not all(_is_number(p) for p in parts):
            continue
        if len(parts) == 2 and n_vehicles is None:
            n_vehicles, capacity = int(parts[0]), float(parts[1])
        elif len(parts) == 7:
            rows.append([float(p) for p in parts])
    if n_vehicles is None or not rows:
        raise InputError("path", f"{path} is not a Solomon instance")
    a = np.asarray(rows)
    return {
        "name": name,
        "n_vehicles": n_vehicles,
        "capacity": capacity,
        "x": a[:, 1],
        "y": a[:, 2],
        "demand": a[:, 3],
        "ready": a[:, 4],
        "due": a[:, 5],
        "service": a[:, 6],
    }


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def solve_vrptw(
    x: ArrayLike,
    y: ArrayLike,
    demand: ArrayLike,
    ready: ArrayLike,
    due: ArrayLike,
    service: ArrayLike,
    *,
    capacity: float,
    n_vehicles: int,
    time_limit: float | None = 30.0,
    solution_limit: int | None = None,
    strategies: Sequence[str] = FIRST_SOLUTION_STRATEGIES,
    seed: int = 0,
    clock: str = "wall",
    progress: Callable[[dict[str, Any]], None] | None = None,
    engine: str = "sisr",
    iterations: int | None = None,
) -> VrptwResult:
    """Minimise total distance of a VRPTW (Solomon conventions; vehicle count free).

    Each euclidean arc is truncated to one decimal (``floor(10 d) / 10``) and also used
    as travel time; a vehicle leaves the depot (row 0) at 0 and must be back by the
    depot's due date; service starts within ``[ready, due]``.

    Two engines:

    ``"sisr"`` (default)
        Our own Numba ruin-and-recreate search (:mod:`gridopt.dispatch._kernels`): a
        greedy insertion start (OR-Tools constructions only if that fails), then string
        removals around a random customer, cheapest feasible reinsertion with blinks and
        simulated-annealing acceptance on the total distance, with O(1) window checks
        from each route's earliest and latest service starts. Kernel compilation (first
        call in a process) is not counted against ``time_limit``.
    ``"ortools"``
        Every first-solution strategy in ``strategies`` is built and taken to a local
        optimum (a small share of the budget), then OR-Tools guided local search improves
        the best of them for the rest of the time.

    Parameters
    ----------
    x, y, demand, ready, due, service : array_like of float, shape (n,)
        Row 0 is the depot.
    capacity : float
        Vehicle capacity (> 0).
    n_vehicles : int
        Vehicles available (upper bound; fewer may be used).
    time_limit : float or None
        Seconds in all. ``None`` needs a ``solution_limit``.
    solution_limit : int or None
        Deterministic work limit of the ``"ortools"`` engine: solutions accepted by
        guided local search. For ``"sisr"`` without ``iterations`` it stands for
        ``1000 * solution_limit`` iterations.
    strategies : sequence of str
        OR-Tools first-solution strategy names (see :data:`FIRST_SOLUTION_STRATEGIES`).
    seed : int
        Seeds the random streams of ``"sisr"``; rotates the order in which
        ``strategies`` are tried (``"ortools"``), which decides ties.
    clock : {"wall", "cpu"}
        What ``time_limit`` measures: wall-clock seconds, or this process's CPU seconds
        (fair figures on a shared machine: the search runs in time slices until the
        CPU budget is spent).
    progress : callable, optional
        Called with ``{"stage", "strategy", "cost", "elapsed"}`` dicts (``"sisr"`` adds
        ``"iteration"``).
    engine : {"sisr", "ortools"}
        Improvement engine (see above).
    iterations : int or None
        Deterministic work limit of ``"sisr"``: ruin-and-recreate iterations. With it (and
        no time limit binding) the same input and seed give the same routes; the
        annealing schedule then follows the iteration count, otherwise the clock.

    Returns
    -------
    VrptwResult

    Raises
    ------
    InputError
        On inconsistent lengths, negative service/demand, a window closing before it
        opens, demand above capacity, a non-positive capacity or vehicle count, an
        unknown engine or a non-positive iteration count.

    Examples
    --------
    >>> res = solve_vrptw([0, 3, 0], [0, 0, 4], [0, 1, 1], [0, 0, 0], [100, 100, 100],
    ...                   [0, 1, 1], capacity=2, n_vehicles=2, iterations=200, time_limit=None)
    >>> sorted(res.routes[0]), res.cost, res.status  # one vehicle: 3 + 5 + 4
    ([1, 2], 12.0, 'feasible')
    >>> res.stats["engine"], res.stats["iterations"]
    ('sisr', 200)
    """
    if engine not in ("sisr", "ortools"):
        raise InputError("engine", f"must be 'sisr' or 'ortools', got {engine!r}")
    if iterations is not None:
        if int(iterations) < 1:
            raise InputError("iterations", f"must be >= 1, got {iterations}")
        if engine == "sisr" and solution_limit is None:
            solution_limit = int(iterations)  # satisfies the work-limit check below
    t0 = _time.perf_counter()
    _check_limits(time_limit, solution_limit)
    if clock not in ("wall", "cpu"):
        raise InputError("clock", f"must be 'wall' or 'cpu', got {clock!r}")
    clock_name = clock
    clock = _time.perf_counter if clock_name == "wall" else _time.process_time
    c0 = clock()
    cpu0 = _time.process_time()
    xa = np.asarray(x, dtype=np.float64)
    n = xa.shape[0]
    arrays = {}
    for name, val in (
        ("x", x),
        ("y", y),
        ("demand", demand),
        ("ready", ready),
        ("due", due),
        ("service", service),
    ):
        arr = np.asarray(val, dtype=np.float64)
        if arr.shape != (n,):
            raise InputError(name, f"must have shape ({n},), got {arr.shape}")
        bad = ~np.isfinite(arr)
        if bad.any():
            raise InputError(name, "must be finite", first_rows(bad), int(bad.sum()))
        arrays[name] = arr
    for name in ("demand", "service", "ready"):
        bad = arrays[name] < 0
        if bad.any():
            raise InputError(name, "must be >= 0", first_rows(bad), int(bad.sum()))
    bad = arrays["due"] < arrays["ready"]
    if bad.any():
        raise InputError("due", "window closes before it opens", first_rows(bad), int(bad.sum()))
    if not capacity > 0:
        raise InputError("capacity", f"must be > 0, got {capacity}")
    if int(n_vehicles) < 1:
        raise InputError("n_vehicles", f"must be >= 1, got {n_vehicles}")
    bad = arrays["demand"] > capacity
    if bad.any():
        raise InputError("demand", "exceeds vehicle capacity", first_rows(bad), int(bad.sum()))
    unknown = [s for s in strategies if not hasattr(routing_enums_pb2.FirstSolutionStrategy, s)]
    if unknown or not strategies:
        raise InputError("strategies", f"unknown or empty first-solution strategies {unknown}")

    # Truncated one-decimal distances, held as integer tenths.
    dx = arrays["x"][:, None] - arrays["x"][None, :]
    dy = arrays["y"][:, None] - arrays["y"][None, :]
    dist = np.floor(np.hypot(dx, dy) * 10.0).astype(np.int64)
    service10 = np.round(arrays["service"] * 10).astype(np.int64)
    transit = dist + service10[:, None]
    ready10 = np.ceil(arrays["ready"] * 10 - 1e-9).astype(np.int64)
    due10 = np.floor(arrays["due"] * 10 + 1e-9).astype(np.int64)
    n_veh = int(n_vehicles)
    if engine == "sisr":
        if iterations is None and solution_limit is not None:
            iterations = 1000 * int(solution_limit)
        return _solve_sisr(
            arrays,
            dist,
            service10,
            ready10,
            due10,
            capacity=float(capacity),
            n_vehicles=n_veh,
            time_limit=time_limit,
            iterations=None if iterations is None else int(iterations),
            strategies=strategies,
            seed=seed,
            clock_name=clock_name,
            progress=progress,
        )

    manager = pywrapcp.RoutingIndexManager(n, n_veh, 0)

    def build() -> Any:
        routing = pywrapcp.RoutingModel(manager)
        dist_cb = routing.RegisterTransitMatrix(dist.tolist())
        time_cb = routing.RegisterTransitMatrix(transit.tolist())
        routing.SetArcCostEvaluatorOfAllVehicles(dist_cb)
        demand_cb = routing.RegisterUnaryTransitVector(
            np.round(arrays["demand"]).astype(np.int64).tolist()
        )
        routing.AddDimensionWithVehicleCapacity(
            demand_cb, 0, [int(math.floor(capacity))] * n_veh, True, "load"
        )
        horizon = int(due10.max())
        routing.AddDimension(time_cb, horizon, horizon, False, "time")
        tdim = routing.GetDimensionOrDie("time")
        for node in range(1, n):
            tdim.CumulVar(manager.NodeToIndex(node)).SetRange(int(ready10[node]), int(due10[node]))
        for v in range(n_veh):
            tdim.CumulVar(routing.Start(v)).SetRange(int(ready10[0]), int(due10[0]))
            tdim.CumulVar(routing.End(v)).SetRange(int(ready10[0]), int(due10[0]))
        return routing

    order = list(strategies)
    shift = seed % len(order)
    order = order[shift:] + order[:shift]
    # A tenth of the budget for the constructions, the rest for guided local search.
    # OR-Tools limits are wall-clock: under the CPU clock a start may take up to four
    # times its share of wall time, and no start begins once the tenth is spent.
    per_start = None if time_limit is None else max(0.05, 0.1 * time_limit / len(order))
    if per_start is not None and clock_name == "cpu":
        per_start *= 4.0
    starts: dict[str, float] = {}
    best = None
    best_cost = None
    best_strategy = None
    best_routing = None
    for strategy in order:
        if best is not None and time_limit is not None and clock() - c0 > 0.1 * time_limit:
            starts[strategy] = float("nan")
            continue
        routing = build()
        params = _search_parameters(strategy, "GREEDY_DESCENT", per_start, None)
        sol = routing.SolveWithParameters(params)
        if sol is None:
            starts[strategy] = float("nan")
            continue
        cost = sol.ObjectiveValue()
        starts[strategy] = cost / 10.0
        if progress is not None:
            progress(
                {
                    "stage": "construct",
                    "strategy": strategy,
                    "cost": cost / 10.0,
                    "elapsed": _time.perf_counter() - t0,
                }
            )
        if best_cost is None or cost < best_cost:
            best, best_cost, best_strategy, best_routing = sol, cost, strategy, routing
    if best is None:
        return VrptwResult(
            routes=(),
            cost=float("nan"),
            status="infeasible",
            stats={"runtime": _time.perf_counter() - t0, "starts": starts, "seed": seed},
        )
    final, routing = best, best_routing
    final_cost = best_cost
    status = "feasible"
    while True:
        remaining = None if time_limit is None else time_limit - (clock() - c0)
        if remaining is not None and remaining <= 0.05:
            break
        params = _search_parameters(best_strategy, "GUIDED_LOCAL_SEARCH", remaining, solution_limit)
        initial = routing.ReadAssignmentFromRoutes(_routes_of(routing, manager, final), True)
        t1 = _time.perf_counter()
        sol = routing.SolveFromAssignmentWithParameters(initial, params)
        status = _status(routing, True, _time.perf_counter() - t1, remaining)
        if sol is not None and sol.ObjectiveValue() <= final_cost:
            final, final_cost = sol, sol.ObjectiveValue()
        # Under the CPU clock a wall-clock slice can end early on a shared machine: go on
        # from the best solution (guided local search restarts with fresh penalties).
        if clock_name == "wall" or status != "time_limit" or remaining is None:
            break
    routes = tuple(
        tuple(manager.IndexToNode(i) for i in r) for r in _routes_of(routing, manager, final) if r
    )
    cost = (
        sum(int(dist[a, b]) for r in routes for a, b in zip((0, *r), (*r, 0), strict=True)) / 10.0
    )
    if progress is not None:
        progress(
            {
                "stage": "done",
                "strategy": best_strategy,
                "cost": cost,
                "elapsed": _time.perf_counter() - t0,
            }
        )
    return VrptwResult(
        routes=routes,
        cost=cost,
        status=status,
        stats={
            "runtime": _time.perf_counter() - t0,
            "cpu_time": _time.process_time() - cpu0,
            "clock": clock_name,
            "starts": starts,
            "strategy": best_strategy,
            "seed": seed,
            "engine": "ortools",
        },
    )


def _routes_of(routing: Any, manager: Any, sol: Any) -> list[list[int]]:
    """Routing indices of the visited (non-depot) nodes, per vehicle."""
    out = []
    for v in range(manager.GetNumberOfVehicles()):
        idx = sol.Value(routing.NextVar(routing.Start(v)))
        r = []
        while not routing.IsEnd(idx):
            r.append(idx)
            idx = sol.Value(routing.NextVar(idx))
        out.append(r)
    return out


# ------------------------------------------------------------------ own VRPTW engine

#: SISR settings: mean customers removed, longest string, split-string continue
#: probability, blink probability.
_SISR_PARAMS = np.array([10.0, 10.0, 0.5, 0.01])
#: Annealing from ``_TEMP_START`` to ``_TEMP_END`` times the start's distance per customer.
_TEMP_START = 1.0
_TEMP_END = 0.01
_WARM = False


def _warm_kernels() -> float:
    """Compile (or load from cache) the Numba kernels on a tiny instance; seconds taken."""
    global _WARM
    if _WARM:
        return 0.0
    t = _time.perf_counter()
    d = np.array([[0, 3, 4], [3, 0, 5], [4, 5, 0]], np.int64)
    z = np.zeros(3, np.int64)
    due = np.full(3, 100, np.int64)
    dem = np.ones(3)
    route = np.zeros((2, 3), np.int32)
    rlen = np.zeros(2, np.int32)
    K.greedy_build(d, z, z, due, dem, 5.0, np.array([1, 2], np.int32), route, rlen)
    neigh = np.array([[1, 2], [1, 2], [2, 1]], np.int32)
    K.sisr_search(
        d, z, z, due, dem, 5.0, neigh, route, rlen, route.copy(), rlen.copy(),
        np.zeros(2, np.int64), np.ones(1, np.uint64), 2, 1.0, 0.1, _SISR_PARAMS,
        np.zeros(K.N_STATS, np.int64),
    )  # fmt: skip
    K.route_costs(route, rlen, d, np.zeros(2, np.int64))
    K.check_routes(route, rlen, d, z, z, due, dem, 5.0, np.zeros(2, np.int64))
    _WARM = True
    return _time.perf_counter() - t


def _solve_sisr(
    arrays: dict[str, NDArray[np.float64]],
    dist: NDArray[np.int64],
    service10: NDArray[np.int64],
    ready10: NDArray[np.int64],
    due10: NDArray[np.int64],
    *,
    capacity: float,
    n_vehicles: int,
    time_limit: float | None,
    iterations: int | None,
    strategies: Sequence[str],
    seed: int,
    clock_name: str,
    progress: Callable[[dict[str, Any]], None] | None,
) -> VrptwResult:
    """The ``"sisr"`` engine of :func:`solve_vrptw` (inputs validated, times in tenths)."""
    compile_s = _warm_kernels()
    clock = _time.perf_counter if clock_name == "wall" else _time.process_time
    t0 = _time.perf_counter()
    c0 = clock()
    cpu0 = _time.process_time()
    n = dist.shape[0]
    demand = np.ascontiguousarray(arrays["demand"], dtype=np.float64)
    n_routes = max(1, min(n_vehicles, n - 1))
    ss = np.random.SeedSequence(seed)
    build_ss, search_ss = ss.spawn(2)

    def base_stats(**extra: Any) -> dict[str, Any]:
        return {
            "runtime": _time.perf_counter() - t0,
            "cpu_time": _time.process_time() - cpu0,
            "compile_time": compile_s,
            "clock": clock_name,
            "seed": seed,
            "engine": "sisr",
            "strategy": "sisr",
            **extra,
        }

    if n == 1:
        return VrptwResult(routes=(), cost=0.0, status="optimal", stats=base_stats(iterations=0))
    # A customer that a vehicle of its own cannot serve in time makes the instance infeasible.
    arrive = np.maximum(ready10[0] + service10[0] + dist[0, 1:], ready10[1:])
    alone = (arrive <= due10[1:]) & (arrive + service10[1:] + dist[1:, 0] <= due10[0])
    if not alone.all():
        rows = (np.flatnonzero(~alone) + 1).tolist()
        log.warning("solve_vrptw: customers %s cannot be reached within their windows", rows[:5])
        return VrptwResult(
            routes=(),
            cost=float("nan"),
            status="infeasible",
            stats=base_stats(iterations=0, unreachable=tuple(rows)),
        )

    # Start: greedy insertion in a few orders; keep the shortest complete one.
    rng = np.random.default_rng(build_ss)
    cust = np.arange(1, n, dtype=np.int32)
    orders = {
        "ready": cust[np.argsort(ready10[1:], kind="stable")],
        "due": cust[np.argsort(due10[1:], kind="stable")],
        "far": cust[np.argsort(-dist[0, 1:], kind="stable")],
    }
    for k in range(8):
        orders[f"random{k}"] = rng.permutation(cust).astype(np.int32)
    route = np.zeros((n_routes, n), np.int32)
    rlen = np.zeros(n_routes, np.int32)
    costs = np.zeros(n_routes, np.int64)
    starts: dict[str, float] = {}
    best_start: tuple[int, str, NDArray[np.int32], NDArray[np.int32]] | None = None
    for name, order in orders.items():
        r_try = np.zeros((n_routes, n), np.int32)
        l_try = np.zeros(n_routes, np.int32)
        missing = K.greedy_build(
            dist, service10, ready10, due10, demand, capacity, order, r_try, l_try
        )
        if missing:
            starts[name] = float("nan")
            continue
        c = int(K.route_costs(r_try, l_try, dist, costs))
        starts[name] = c / 10.0
        if best_start is None or c < best_start[0]:
            best_start = (c, name, r_try, l_try)
    if best_start is None:
        # Tight fleets: let OR-Tools find a complete start (a tenth of the budget, at
        # most 10 s when only an iteration count is given).
        budget = 10.0 if time_limit is None else max(0.05, 0.1 * time_limit)
        res = solve_vrptw(
            arrays["x"], arrays["y"], demand, arrays["ready"], arrays["due"],
            arrays["service"], capacity=capacity, n_vehicles=n_vehicles, time_limit=budget,
            solution_limit=1, strategies=strategies, seed=seed, clock=clock_name,
            engine="ortools",
        )  # fmt: skip
        starts["ortools"] = res.cost
        if not res.routes:
            return VrptwResult(
                routes=(),
                cost=float("nan"),
                status="infeasible",
                stats=base_stats(iterations=0, starts=starts),
            )
        for k, r in enumerate(res.routes):
            rlen[k] = len(r)
            route[k, : len(r)] = r
        start_name = "ortools"
    else:
        _, start_name, route, rlen = best_start
    start_cost = int(K.route_costs(route, rlen, dist, costs))
    if progress is not None:
        progress(
            {
                "stage": "construct",
                "strategy": start_name,
                "cost": start_cost / 10.0,
                "elapsed": _time.perf_counter() - t0,
                "iteration": 0,
            }
        )

    per_customer = max(start_cost / (n - 1), 1.0)
    t_hot, t_cold = _TEMP_START * per_customer, _TEMP_END * per_customer

    def temperature(frac: float) -> float:
        return t_hot * (t_cold / t_hot) ** min(max(frac, 0.0), 1.0)

    best_route, best_rlen = route.copy(), rlen.copy()
    cost = np.array([start_cost, start_cost], np.int64)
    state = search_ss.generate_state(1, dtype=np.uint64)
    neigh = (np.argsort(dist[:, 1:], axis=1, kind="stable") + 1).astype(np.int32)
    stats = np.zeros(K.N_STATS, np.int64)
    done = 0
    chunk = 200 if iterations is None else min(iterations, 20_000)
    status = "feasible"
    while True:
        elapsed = clock() - c0
        if time_limit is not None and elapsed >= time_limit:
            status = "time_limit"
            break
        if iterations is not None:
            if done >= iterations:
                break
            k = min(chunk, iterations - done)
            ta, tb = temperature(done / iterations), temperature((done + k) / iterations)
        else:
            assert time_limit is not None
            k = chunk
            ta = temperature(elapsed / time_limit)
            tb = ta  # piecewise constant: the next chunk reads the clock again
        s0 = clock()
        K.sisr_search(
            dist, service10, ready10, due10, demand, capacity, neigh, route, rlen,
            best_route, best_rlen, cost, state, k, ta, tb, _SISR_PARAMS, stats,
        )  # fmt: skip
        done += k
        if iterations is None:
            # about 50 chunks per budget, so the schedule follows the clock closely
            spent = max(clock() - s0, 1e-6)
            assert time_limit is not None
            chunk = int(min(max(k * (0.02 * time_limit) / spent, 50), 200_000))
        if progress is not None:
            progress(
                {
                    "stage": "search",
                    "strategy": "sisr",
                    "cost": int(cost[1]) / 10.0,
                    "elapsed": _time.perf_counter() - t0,
                    "iteration": done,
                }
            )
    routes = tuple(
        tuple(int(c) for c in best_route[r, : best_rlen[r]])
        for r in range(n_routes)
        if best_rlen[r] > 0
    )
    total = int(K.route_costs(best_route, best_rlen, dist, costs))
    if progress is not None:
        progress(
            {
                "stage": "done",
                "strategy": "sisr",
                "cost": total / 10.0,
                "elapsed": _time.perf_counter() - t0,
                "iteration": done,
            }
        )
    return VrptwResult(
        routes=routes,
        cost=total / 10.0,
        status=status,
        stats=base_stats(
            iterations=done,
            accepted=int(stats[K.STAT_ACCEPTED]),
            improved=int(stats[K.STAT_IMPROVED]),
            failed=int(stats[K.STAT_FAILED]),
            start=start_name,
            start_cost=start_cost / 10.0,
            starts=starts,
        ),
    )


# --------------------------------------------------------------------- daily dispatch

_POLICIES = ("grid_first", "central")
_DECOMPOSE = (None, "grid", "cluster")
_REASON_RANK = {"no_skill": 0, "no_technician_in_reach": 1, "window_outside_shifts": 2}


@dataclass
class _Sub:
    """One routing subproblem: ticket and technician positions (into the day's arrays)."""

    tickets: NDArray[np.int64]
    techs: NDArray[np.int64]


def dispatch_day(
    tickets: Tickets,
    staff: Staff,
    *,
    travel: Callable[[ArrayLike, ArrayLike], tuple[ArrayLike, ArrayLike]] | None = None,
    policy: str = "grid_first",
    ticket_grid: ArrayLike | None = None,
    layout: Layout | None = None,
    neighbours: Sequence[ArrayLike] | None = None,
    windows: ArrayLike | None = None,
    lunch: tuple[float, float, float] | None = (690.0, 810.0, 30.0),
    roles: Sequence[str] = ("technician",),
    priority_weights: Sequence[float] = (8.0, 4.0, 2.0, 1.0),
    drop_penalty: float = 50_000.0,
    overflow_penalty: float = 3_000.0,
    lateness_cost: float = 300.0,
    max_lateness: float | None = None,
    time_limit: float | None = 10.0,
    solution_limit: int | None = None,
    search: str = "guided",
    seed: int = 0,
    decompose: str | None = None,
    cluster_size: int = 150,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> Routes:
    """Route one day's tickets to technicians (VRPTW with skills, breaks, priorities).

    Parameters
    ----------
    tickets : Tickets
        The day's tickets (``n_tickets`` rows); ``duration`` is on-site minutes.
    staff : Staff
        Staff; those whose role is in ``roles`` are dispatched. Each starts and ends at
        its ``x, y`` (home or base), works ``[shift_start, shift_end]`` (minutes after
        midnight), does at most ``capacity`` service minutes, and takes tickets whose
        skill bit it holds.
    travel : callable, optional
        ``travel(x, y) -> (metres, minutes)`` for all pairs of points, shapes (n, n).
        Default :class:`TravelModel` (straight line x 1.3 at 25 km/h).
    policy : {"grid_first", "central"}
        See the module notes.
    ticket_grid : array_like of int, shape (n_tickets,), optional
        Grid of each ticket (-1 unknown: anyone may take it without penalty). Default:
        ``layout.labels[tickets.unit]`` when ``layout`` is given. Needed for
        ``"grid_first"``; technicians' grids come from ``Staff.grid``.
    layout : Layout, optional
        Used to find ticket grids from ``tickets.unit``.
    neighbours : sequence of array_like of int, optional
        Neighbouring grids of each grid (see :func:`grid_neighbours`): overflow targets
        under ``"grid_first"``. None: no overflow.
    windows : array_like of float, shape (n_tickets, 2), optional
        Appointment window (minutes after midnight) in which service should start.
        Service never starts before the opening; after the closing it is late, costing
        ``lateness_cost`` per minute (at most ``max_lateness`` minutes when given).
        Default: no window.
    lunch : (earliest, latest, duration) or None
        Lunch break (minutes after midnight) starting in ``[earliest, latest]``,
        clipped to each shift; a shift that cannot hold it has none.
    roles : sequence of str
        Roles dispatched (``"technician"``, ``"installer"``).
    priority_weights : sequence of float
        Drop penalty multiplier per priority (0 = most urgent); the last weight applies
        to all higher priorities.
    drop_penalty : float
        Cost (metres of driving) of dropping a ticket of weight 1.
    overflow_penalty : float
        Cost (metres) of serving a ticket with a technician of another grid.
    lateness_cost : float
        Cost (metres) per minute late.
    max_lateness : float or None
        Hard cap on lateness (minutes); None: only the shift limits it.
    time_limit : float or None
        Seconds for the whole day (split over subproblems by ticket count).
    solution_limit : int or None
        Deterministic work limit per subproblem (solutions accepted by guided local
        search). Same input + seed gives the same routes whenever the time limit does
        not bind; with only a time limit the result can depend on machine speed.
        Guided local search may stall before reaching it (breaks especially): for
        reproducible runs prefer ``search="descent"``.
    search : {"guided", "descent"}
        ``"guided"``: guided local search until a limit. ``"descent"``: stop at the
        first local optimum (fast, and deterministic when no limit binds).
    seed : int
        Recorded in ``stats``; the routing search itself is deterministic.
    decompose : {None, "grid", "cluster"}
        None: one model. ``"grid"``: one model per grid (no overflow). ``"cluster"``:
        one model per cluster of neighbouring grids holding about ``cluster_size``
        tickets (overflow inside a cluster). Only for ``"grid_first"``.
    cluster_size : int
        Target tickets per cluster.
    progress : callable, optional
        Called with ``{"stage": "dispatch", "done", "total", "tickets", "served"}``
        after each subproblem.

    Returns
    -------
    Routes

    Raises
    ------
    InputError
        No staff with a dispatched role; a window that closes before it opens or has
        the wrong shape; unknown policy/decompose; grid-first without ticket grids;
        neighbours out of range; a bad lunch, penalty or limit.

    Notes
    -----
    Tickets nobody can serve never reach the solver (OR-Tools reads an empty
    allowed-vehicle list as "any vehicle"): they come back dropped with reason
    ``"no_skill"``, ``"no_technician_in_reach"`` or ``"window_outside_shifts"``.

    Examples
    --------
    >>> from gridopt.model import Staff, Tickets
    >>> staff = Staff(ids=[1, 2], role=[1, 1], x=[0.0, 5000.0], y=[0.0, 0.0],
    ...               shift_start=[480.0, 480.0], shift_end=[1020.0, 1020.0],
    ...               skills=[1, 3], capacity=[480.0, 480.0], grid=[0, 1])
    >>> tickets = Tickets(ids=[7, 8, 9], time=[0.0] * 3, x=[500.0, 4500.0, 800.0],
    ...                   y=[0.0, 0.0, 0.0], unit=[-1] * 3, type=[0] * 3, priority=[0, 1, 2],
    ...                   skill=[1, 1, 4], duration=[30.0] * 3)
    >>> r = dispatch_day(tickets, staff, ticket_grid=[0, 1, 0], search="descent")
    >>> [r.route(k).tolist() for k in range(2)], r.dropped.tolist(), r.dropped_reason
    ([[0], [1]], [2], ('no_skill',))
    """
    t0 = _time.perf_counter()
    if not isinstance(tickets, Tickets):
        raise InputError("tickets", f"must be Tickets, got {type(tickets).__name__}")
    if not isinstance(staff, Staff):
        raise InputError("staff", f"must be Staff, got {type(staff).__name__}")
    if policy not in _POLICIES:
        raise InputError("policy", f"must be one of {_POLICIES}, got {policy!r}")
    if decompose not in _DECOMPOSE:
        raise InputError("decompose", f"must be one of {_DECOMPOSE}, got {decompose!r}")
    if decompose is not None and policy == "central":
        raise InputError("decompose", "the central pool is one model; use decompose=None")
    _check_limits(time_limit, solution_limit)
    if search not in ("guided", "descent"):
        raise InputError("search", f"must be 'guided' or 'descent', got {search!r}")
    for name, val in (
        ("drop_penalty", drop_penalty),
        ("overflow_penalty", overflow_penalty),
        ("lateness_cost", lateness_cost),
    ):
        if not (math.isfinite(val) and val >= 0):
            raise InputError(name, f"must be a finite number >= 0, got {val}")
    weights = np.asarray(priority_weights, dtype=np.float64)
    if weights.ndim != 1 or weights.size == 0 or not np.all(np.isfinite(weights) & (weights > 0)):
        raise InputError("priority_weights", "must be a non-empty list of numbers > 0")
    if max_lateness is not None and not (math.isfinite(max_lateness) and max_lateness >= 0):
        raise InputError("max_lateness", f"must be >= 0 minutes, got {max_lateness}")
    if int(cluster_size) < 1:
        raise InputError("cluster_size", f"must be >= 1, got {cluster_size}")

    codes = []
    for role in roles:
        if role not in ("installer", "technician", "account_manager"):
            raise InputError("roles", f"unknown role {role!r}")
        codes.append(("installer", "technician", "account_manager").index(role))
    tech = np.flatnonzero(np.isin(staff.role, codes)).astype(np.int64)
    if tech.size == 0:
        raise InputError("staff", f"no staff with role {tuple(roles)} to dispatch")
    n_t = tickets.n_tickets

    # --- windows
    if windows is None:
        win = np.column_stack([np.zeros(n_t), np.full(n_t, float(_HORIZON_MIN))])
    else:
        win = np.asarray(windows, dtype=np.float64)
        if win.shape != (n_t, 2):
            raise InputError("windows", f"must have shape ({n_t}, 2), got {win.shape}")
        bad = ~np.isfinite(win).all(axis=1)
        if bad.any():
            raise InputError("windows", "must be finite", first_rows(bad), int(bad.sum()))
        bad = win[:, 1] < win[:, 0]
        if bad.any():
            raise InputError("windows", "closes before it opens", first_rows(bad), int(bad.sum()))
        bad = (win[:, 0] < 0) | (win[:, 1] > _HORIZON_MIN)
        if bad.any():
            raise InputError(
                "windows",
                f"must lie in [0, {_HORIZON_MIN}] minutes",
                first_rows(bad),
                int(bad.sum()),
            )

    # --- lunch
    if lunch is not None:
        try:
            l_lo, l_hi, l_dur = (float(v) for v in lunch)
        except (TypeError, ValueError):
            raise InputError("lunch", "must be (earliest, latest, duration) minutes") from None
        if not (math.isfinite(l_lo) and math.isfinite(l_hi) and math.isfinite(l_dur)):
            raise InputError("lunch", "must be finite")
        if l_hi < l_lo or l_dur <= 0 or l_lo < 0:
            raise InputError(
                "lunch", f"needs 0 <= earliest <= latest and duration > 0, got {lunch}"
            )

    # --- grids
    tgrid = _ticket_grids(tickets, ticket_grid, layout, policy)
    vgrid = staff.grid[tech].astype(np.int64)
    n_grids = int(max(tgrid.max(initial=-1), vgrid.max(initial=-1))) + 1
    nbrs = _neighbour_lists(neighbours, n_grids)
    if decompose == "cluster" and neighbours is None:
        raise InputError("neighbours", "decompose='cluster' needs the grids' neighbours")

    # --- eligibility (n_tickets x n_tech)
    sk = tickets.skill[:, None]
    skill_ok = (staff.skills[tech][None, :] & sk) == sk
    if policy == "central":
        reach = np.ones_like(skill_ok)
    else:
        reach = (tgrid[:, None] < 0) | (vgrid[None, :] < 0) | (tgrid[:, None] == vgrid[None, :])
        for g in range(n_grids):
            if nbrs[g].size:
                rows = tgrid == g
                reach[np.ix_(rows, np.isin(vgrid, nbrs[g]))] = True
    late_cap = _HORIZON_MIN if max_lateness is None else float(max_lateness)
    sh_lo = staff.shift_start[tech][None, :]
    sh_hi = staff.shift_end[tech][None, :]
    dur = tickets.duration[:, None]
    in_shift = (win[:, :1] + dur <= sh_hi) & (win[:, 1:] + late_cap >= sh_lo)
    in_shift &= np.maximum(win[:, :1], sh_lo) <= np.minimum(win[:, 1:] + late_cap, sh_hi - dur)

    allowed = skill_ok & reach & in_shift
    reason: dict[int, str] = {}
    for t in np.flatnonzero(~allowed.any(axis=1)):
        if not skill_ok[t].any():
            reason[int(t)] = "no_skill"
        elif not (skill_ok[t] & reach[t]).any():
            reason[int(t)] = "no_technician_in_reach"
        else:
            reason[int(t)] = "window_outside_shifts"
    no_tech_grids = sorted(set(tgrid[tgrid >= 0].tolist()) - set(vgrid[vgrid >= 0].tolist()))
    if no_tech_grids and policy == "grid_first":
        log.warning(
            "%d grid(s) with tickets have no technician (first %s)",
            len(no_tech_grids),
            no_tech_grids[:5],
        )

    # --- subproblems
    subs = _subproblems(decompose, tgrid, vgrid, nbrs, int(cluster_size), n_t, tech.size)
    if travel is None:
        travel = TravelModel()
    lunch_t = None if lunch is None else (l_lo, l_hi, l_dur)
    results = []
    n_active = max(1, sum(int(np.count_nonzero(allowed[s.tickets].any(axis=1))) for s in subs))
    for k, sub in enumerate(subs):
        a = allowed[np.ix_(sub.tickets, sub.techs)]
        active = a.any(axis=1)
        for t in sub.tickets[~active]:
            if int(t) not in reason:
                reason[int(t)] = "no_technician_in_reach"
        sub_t = sub.tickets[active]
        sub_limit = None
        if time_limit is not None:
            sub_limit = max(0.2, time_limit * sub_t.size / n_active) if sub_t.size else 0.2
        res = _solve_day(
            tickets,
            staff,
            tech,
            sub_t,
            sub.techs,
            a[active],
            tgrid,
            vgrid,
            win,
            lunch_t,
            weights,
            policy,
            travel,
            drop_penalty,
            overflow_penalty,
            lateness_cost,
            max_lateness,
            sub_limit,
            solution_limit,
            search,
        )
        results.append(res)
        for t in res["dropped"]:
            reason[int(t)] = res["drop_reason"]
        if progress is not None:
            progress(
                {
                    "stage": "dispatch",
                    "done": k + 1,
                    "total": len(subs),
                    "tickets": int(sub_t.size),
                    "served": int(res["n_served"]),
                }
            )
    return _assemble(
        policy,
        tech,
        subs,
        results,
        reason,
        tickets,
        tgrid,
        vgrid,
        seed,
        t0,
        time_limit,
        solution_limit,
        no_tech_grids,
    )


def _ticket_grids(
    tickets: Tickets, ticket_grid: ArrayLike | None, layout: Layout | None, policy: str
) -> NDArray[np.int64]:
    n_t = tickets.n_tickets
    if ticket_grid is not None:
        g = np.asarray(ticket_grid)
        if g.shape != (n_t,):
            raise InputError("ticket_grid", f"must have shape ({n_t},), got {g.shape}")
        if g.size and not np.issubdtype(g.dtype, np.integer):
            raise InputError("ticket_grid", f"must be integers, got {g.dtype}")
        bad = g < -1
        if bad.any():
            raise InputError("ticket_grid", "must be >= -1", first_rows(bad), int(bad.sum()))
        return g.astype(np.int64)
    if layout is not None:
        tickets.check_units(layout.n_units)
        return np.where(tickets.unit >= 0, layout.labels[np.maximum(tickets.unit, 0)], -1).astype(
            np.int64
        )
    if policy == "grid_first":
        raise InputError("ticket_grid", "grid_first needs ticket_grid or a layout")
    return np.full(n_t, -1, dtype=np.int64)


def _neighbour_lists(
    neighbours: Sequence[ArrayLike] | None, n_grids: int
) -> list[NDArray[np.int64]]:
    if neighbours is None:
        return [np.zeros(0, dtype=np.int64) for _ in range(n_grids)]
    out = []
    for g, nb in enumerate(neighbours):
        arr = np.asarray(nb, dtype=np.int64).ravel()
        if arr.size and (arr.min() < 0):
            raise InputError("neighbours", f"grid {g} lists a negative grid", [g])
        out.append(arr)
    if len(out) < n_grids:
        raise InputError("neighbours", f"has {len(out)} entries but grids go up to {n_grids - 1}")
    return out


def _subproblems(
    decompose: str | None,
    tgrid: NDArray[np.int64],
    vgrid: NDArray[np.int64],
    nbrs: list[NDArray[np.int64]],
    cluster_size: int,
    n_t: int,
    n_v: int,
) -> list[_Sub]:
    if decompose is None:
        return [_Sub(np.arange(n_t, dtype=np.int64), np.arange(n_v, dtype=np.int64))]
    n_grids = len(nbrs)
    if decompose == "grid":
        group = np.arange(n_grids)
    else:
        # Greedy breadth-first clusters over the grid adjacency, lowest grid first.
        load = np.bincount(tgrid[tgrid >= 0], minlength=n_grids)
        group = np.full(n_grids, -1)
        n_groups = 0
        for g0 in range(n_grids):
            if group[g0] >= 0:
                continue
            queue, total = [g0], 0
            group[g0] = n_groups
            while queue and total < cluster_size:
                g = queue.pop(0)
                total += int(load[g])
                for h in nbrs[g]:
                    if h < n_grids and group[h] < 0 and total < cluster_size:
                        group[h] = n_groups
                        queue.append(int(h))
            # grids queued but not expanded stay in this cluster
            n_groups += 1
    subs = []
    tg = np.where(tgrid >= 0, group[np.maximum(tgrid, 0)], -1)
    vg = np.where(vgrid >= 0, group[np.maximum(vgrid, 0)], -1)
    for c in np.unique(np.concatenate([tg, vg])):
        t_idx = np.flatnonzero(tg == c).astype(np.int64)
        v_idx = np.flatnonzero(vg == c).astype(np.int64)
        if t_idx.size or v_idx.size:
            subs.append(_Sub(t_idx, v_idx))
    return subs


def _restrict_vehicles(routing: Any, idx: int, vehicles: NDArray[np.int64], n_v: int) -> None:
    """Only ``vehicles`` may visit ``idx`` (which may still be dropped).

    Two OR-Tools pitfalls: ``SetAllowedVehiclesForIndex`` reads an empty list as "every
    vehicle" (callers pre-drop such tickets), and in the 9.15 Python wrapper it rejects
    every Python sequence (absl::Span typemap), so the vehicle variable's domain is
    restricted instead; -1 keeps the "unperformed" value.
    """
    if vehicles.size == 0:
        raise AssertionError("empty allowed-vehicle list reached the solver")
    if vehicles.size < n_v:
        routing.VehicleVar(idx).SetValues([-1, *(int(v) for v in vehicles)])


def _solve_day(
    tickets: Tickets,
    staff: Staff,
    tech: NDArray[np.int64],
    t_idx: NDArray[np.int64],
    v_idx: NDArray[np.int64],
    allowed: NDArray[np.bool_],
    tgrid: NDArray[np.int64],
    vgrid: NDArray[np.int64],
    win: NDArray[np.float64],
    lunch: tuple[float, float, float] | None,
    weights: NDArray[np.float64],
    policy: str,
    travel: Callable[[ArrayLike, ArrayLike], tuple[ArrayLike, ArrayLike]],
    drop_penalty: float,
    overflow_penalty: float,
    lateness_cost: float,
    max_lateness: float | None,
    time_limit: float | None,
    solution_limit: int | None,
    search: str,
) -> dict[str, Any]:
    """Build and solve one routing model; return routes as plain arrays."""
    n_v, n_t = int(v_idx.size), int(t_idx.size)
    empty = {
        "dropped": [],
        "drop_reason": "capacity",
        "n_served": 0,
        "routes": {},
        "objective": 0.0,
        "status": "optimal",
        "v_idx": v_idx,
    }
    if n_t == 0 or n_v == 0:
        return empty
    s_pos = tech[v_idx]
    xs = np.concatenate([staff.x[s_pos], tickets.x[t_idx]])
    ys = np.concatenate([staff.y[s_pos], tickets.y[t_idx]])
    dist_f, min_f = (np.asarray(a, dtype=np.float64) for a in travel(xs, ys))
    n = n_v + n_t
    if dist_f.shape != (n, n) or min_f.shape != (n, n):
        raise InputError("travel", f"must return two ({n}, {n}) matrices")
    if (
        not (np.isfinite(dist_f).all() and np.isfinite(min_f).all())
        or (dist_f < 0).any()
        or (min_f < 0).any()
    ):
        raise InputError("travel", "returned negative or non-finite distances or times")
    dist = np.round(dist_f).astype(np.int64)
    ttime = np.round(min_f * _SECONDS).astype(np.int64)
    service = np.zeros(n, dtype=np.int64)
    service[n_v:] = np.round(tickets.duration[t_idx] * _SECONDS).astype(np.int64)
    horizon = _HORIZON_MIN * _SECONDS

    manager = pywrapcp.RoutingIndexManager(n, n_v, list(range(n_v)), list(range(n_v)))
    node_grid = np.full(n, -1, dtype=np.int64)
    node_grid[n_v:] = tgrid[t_idx]
    cap = np.minimum(np.round(staff.capacity[s_pos] * _SECONDS), horizon).astype(np.int64)
    late_coef = max(1, int(round(lateness_cost / _SECONDS))) if lateness_cost > 0 else 0
    w_open = np.round(win[t_idx, 0] * _SECONDS).astype(np.int64)
    w_close = np.round(win[t_idx, 1] * _SECONDS).astype(np.int64)
    late_s = horizon if max_lateness is None else int(round(max_lateness * _SECONDS))
    prio = np.minimum(tickets.priority[t_idx].astype(np.int64), weights.size - 1)
    penalty = np.round(drop_penalty * weights[prio]).astype(np.int64)
    sh_lo = np.round(staff.shift_start[s_pos] * _SECONDS).astype(np.int64)
    sh_hi = np.round(staff.shift_end[s_pos] * _SECONDS).astype(np.int64)
    lunch_win: dict[int, tuple[int, int, int]] = {}
    if lunch is not None:
        b_dur = int(round(lunch[2] * _SECONDS))
        for v in range(n_v):
            lo = max(int(round(lunch[0] * _SECONDS)), int(sh_lo[v]))
            hi = min(int(round(lunch[1] * _SECONDS)), int(sh_hi[v]) - b_dur)
            if hi >= lo:
                lunch_win[v] = (lo, hi, b_dur)

    def build(with_breaks: bool) -> tuple[Any, Any, dict[int, Any]]:
        routing = pywrapcp.RoutingModel(manager)
        # Arc costs: metres, plus the overflow penalty on entering another grid's ticket.
        classes: dict[int, int] = {}
        for v in range(n_v):
            g = int(vgrid[v_idx[v]]) if policy == "grid_first" else -2
            if g not in classes:
                cost = dist.copy()
                if g != -2:
                    foreign = (node_grid >= 0) & (node_grid != g)
                    cost[:, foreign] += int(round(overflow_penalty))
                classes[g] = routing.RegisterTransitMatrix(cost.tolist())
            routing.SetArcCostEvaluatorOfVehicle(classes[g], v)
        time_cb = routing.RegisterTransitMatrix((ttime + service[:, None]).tolist())
        routing.AddDimension(time_cb, horizon, horizon, False, "time")
        tdim = routing.GetDimensionOrDie("time")
        work_cb = routing.RegisterUnaryTransitVector(service.tolist())
        routing.AddDimensionWithVehicleCapacity(work_cb, 0, cap.tolist(), True, "work")
        for k in range(n_t):
            idx = manager.NodeToIndex(n_v + k)
            tdim.CumulVar(idx).SetRange(int(w_open[k]), int(min(horizon, w_close[k] + late_s)))
            if late_coef and w_close[k] < horizon:
                tdim.SetCumulVarSoftUpperBound(idx, int(w_close[k]), late_coef)
            routing.AddDisjunction([idx], int(penalty[k]))
            _restrict_vehicles(routing, idx, np.flatnonzero(allowed[k]), n_v)
            routing.AddVariableMinimizedByFinalizer(tdim.CumulVar(idx))
        solver = routing.solver()
        breaks: dict[int, Any] = {}
        visit = [int(service[manager.IndexToNode(i)]) for i in range(routing.Size())]
        for v in range(n_v):
            hi = int(sh_hi[v])
            if not with_breaks and v in lunch_win:
                hi -= lunch_win[v][2]  # keep room to insert the lunch afterwards
            tdim.CumulVar(routing.Start(v)).SetRange(int(sh_lo[v]), hi)
            tdim.CumulVar(routing.End(v)).SetRange(int(sh_lo[v]), hi)
            routing.AddVariableMaximizedByFinalizer(tdim.CumulVar(routing.Start(v)))
            routing.AddVariableMinimizedByFinalizer(tdim.CumulVar(routing.End(v)))
            if with_breaks and v in lunch_win:
                lo, b_hi, b_dur = lunch_win[v]
                iv = solver.FixedDurationIntervalVar(lo, b_hi, b_dur, False, f"lunch{v}")
                tdim.SetBreakIntervalsOfVehicle([iv], v, visit)
                routing.AddIntervalToAssignment(iv)
                breaks[v] = iv
        return routing, tdim, breaks

    # Break constraints slow OR-Tools' search by an order of magnitude (and its
    # insertion heuristics handle them poorly), so with lunches the day is first routed
    # without them on shifts shortened by the lunch, then re-optimised with the breaks
    # from those routes (which always leave room for the lunch).
    t1 = _time.perf_counter()
    first_limit = None if time_limit is None else (time_limit / 2 if lunch_win else time_limit)
    routing, tdim, breaks = build(with_breaks=False)
    meta = "GUIDED_LOCAL_SEARCH" if search == "guided" else "GREEDY_DESCENT"
    params = _search_parameters("PARALLEL_CHEAPEST_INSERTION", meta, first_limit, solution_limit)
    sol = routing.SolveWithParameters(params)
    if lunch_win:
        first_routes = None if sol is None else _routes_of(routing, manager, sol)
        routing, tdim, breaks = build(with_breaks=True)
        remaining = None if time_limit is None else time_limit - (_time.perf_counter() - t1)
        params = _search_parameters(
            "PARALLEL_CHEAPEST_INSERTION",
            meta,
            None if remaining is None else max(0.1, remaining),
            solution_limit,
        )
        initial = None
        if first_routes is not None:
            # Not ReadAssignmentFromRoutes: it restores the cumuls with an unlimited
            # search, which can hang with breaks. The hint below is completed inside
            # the time-limited solve instead.
            routing.CloseModelWithParameters(params)
            initial = routing.solver().Assignment()
            if not routing.RoutesToAssignment(first_routes, True, True, initial):
                initial = None
        if initial is not None:
            sol = routing.SolveFromAssignmentWithParameters(initial, params)
            if sol is None:
                log.info("routes without breaks could not take the lunch; solving from scratch")
                remaining = None if time_limit is None else time_limit - (_time.perf_counter() - t1)
                params = _search_parameters(
                    "PARALLEL_CHEAPEST_INSERTION",
                    meta,
                    None if remaining is None else max(0.1, remaining),
                    solution_limit,
                )
                sol = routing.SolveWithParameters(params)
        else:  # no routes without breaks in time, or they could not take the lunch
            log.info("solving with lunch breaks from scratch")
            sol = routing.SolveWithParameters(params)
    status = _status(routing, sol is not None, _time.perf_counter() - t1, time_limit)
    if sol is None:
        log.warning("no routing solution for %d tickets / %d technicians (%s)", n_t, n_v, status)
        return {**empty, "dropped": t_idx.tolist(), "drop_reason": "no_solution", "status": status}
    routes: dict[int, dict[str, Any]] = {}
    served = np.zeros(n_t, dtype=bool)
    for v in range(n_v):
        idx = routing.Start(v)
        nodes, starts = [], []
        depart = sol.Min(tdim.CumulVar(idx)) / _SECONDS
        idx = sol.Value(routing.NextVar(idx))
        while not routing.IsEnd(idx):
            nodes.append(manager.IndexToNode(idx))
            starts.append(sol.Min(tdim.CumulVar(idx)) / _SECONDS)
            idx = sol.Value(routing.NextVar(idx))
        ret = sol.Min(tdim.CumulVar(idx)) / _SECONDS
        b_start = float("nan")
        if v in breaks and sol.PerformedValue(breaks[v]):
            b_start = sol.StartValue(breaks[v]) / _SECONDS
        path = [v, *nodes, v]
        legs_d = dist_f[path[:-1], path[1:]]
        legs_t = min_f[path[:-1], path[1:]]
        if not nodes:
            depart = ret = float(staff.shift_start[s_pos[v]])
        k_local = np.asarray(nodes, dtype=np.int64) - n_v
        served[k_local] = True
        st = np.asarray(starts, dtype=np.float64)
        ends = st + tickets.duration[t_idx[k_local]]
        prev_end = np.concatenate([[depart], ends[:-1]])
        arrival = prev_end + legs_t[: k_local.size]
        if not math.isnan(b_start) and lunch is not None:
            # lunch taken on the way to a stop delays the arrival there
            on_way = (b_start >= prev_end - 1e-9) & (b_start < arrival) & (b_start < st)
            arrival = np.where(on_way, arrival + lunch[2], arrival)
        routes[v] = {
            "tickets": t_idx[k_local],
            "arrival": np.minimum(arrival, st),
            "start": st,
            "end": ends,
            "late": np.maximum(0.0, st - win[t_idx[k_local], 1]),
            "depart": depart,
            "return": ret,
            "distance": float(legs_d.sum()) if nodes else 0.0,
            "travel": float(legs_t.sum()) if nodes else 0.0,
            "break": b_start,
        }
    return {
        "dropped": t_idx[~served].tolist(),
        "drop_reason": "capacity",
        "n_served": int(served.sum()),
        "routes": routes,
        "objective": float(sol.ObjectiveValue()),
        "status": status,
        "v_idx": v_idx,
    }


def _assemble(
    policy: str,
    tech: NDArray[np.int64],
    subs: list[_Sub],
    results: list[dict[str, Any]],
    reason: dict[int, str],
    tickets: Tickets,
    tgrid: NDArray[np.int64],
    vgrid: NDArray[np.int64],
    seed: int,
    t0: float,
    time_limit: float | None,
    solution_limit: int | None,
    no_tech_grids: list[int],
) -> Routes:
    """Gather subproblem routes into one frozen :class:`Routes` (technician order)."""
    n_v = tech.size
    per_tech: dict[int, dict[str, Any]] = {}
    for res in results:
        for v_local, r in res["routes"].items():
            per_tech[int(res["v_idx"][v_local])] = r
    dep = np.zeros(n_v)
    ret = np.zeros(n_v)
    dist = np.zeros(n_v)
    trav = np.zeros(n_v)
    brk = np.full(n_v, np.nan)
    n_stops = np.zeros(n_v, dtype=np.int64)
    cols: dict[str, list[Any]] = {
        k: [] for k in ("tech", "ticket", "arr", "start", "end", "late", "over")
    }
    for v in range(n_v):
        r = per_tech.get(v)
        if r is None:
            continue
        dep[v], ret[v], dist[v], trav[v], brk[v] = (
            r["depart"],
            r["return"],
            r["distance"],
            r["travel"],
            r["break"],
        )
        tk = r["tickets"]
        n_stops[v] = tk.size
        cols["tech"].append(np.full(tk.size, v))
        cols["ticket"].append(tk)
        cols["arr"].append(r["arrival"])
        cols["start"].append(r["start"])
        cols["end"].append(r["end"])
        cols["late"].append(r["late"])
        cols["over"].append((policy == "grid_first") & (tgrid[tk] >= 0) & (tgrid[tk] != vgrid[v]))

    def cat(key: str, dtype: Any) -> NDArray[Any]:
        return np.concatenate(cols[key]).astype(dtype) if cols[key] else np.zeros(0, dtype)

    dropped = np.asarray(sorted(reason), dtype=np.int64)
    order = ("optimal", "feasible", "time_limit", "infeasible")
    status = max((res["status"] for res in results), key=order.index, default="optimal")
    if status == "infeasible" and len(results) > 1 and any(r["n_served"] for r in results):
        status = "feasible"
    return Routes(
        policy=policy,
        status=status,
        tech=_frozen(tech, np.int64),
        tech_depart=_frozen(dep, np.float64),
        tech_return=_frozen(ret, np.float64),
        tech_distance=_frozen(dist, np.float64),
        tech_travel=_frozen(trav, np.float64),
        tech_break_start=_frozen(brk, np.float64),
        tech_n_stops=_frozen(n_stops, np.int64),
        stop_tech=_frozen(cat("tech", np.int64), np.int64),
        stop_ticket=_frozen(cat("ticket", np.int64), np.int64),
        stop_arrival=_frozen(cat("arr", np.float64), np.float64),
        stop_start=_frozen(cat("start", np.float64), np.float64),
        stop_end=_frozen(cat("end", np.float64), np.float64),
        stop_lateness=_frozen(cat("late", np.float64), np.float64),
        stop_overflow=_frozen(cat("over", bool), np.bool_),
        dropped=_frozen(dropped, np.int64),
        dropped_reason=tuple(reason[int(t)] for t in dropped),
        objective=float(sum(res["objective"] for res in results)),
        stats={
            "runtime": _time.perf_counter() - t0,
            "subproblems": len(subs),
            "statuses": [res["status"] for res in results],
            "seed": seed,
            "time_limit": time_limit,
            "solution_limit": solution_limit,
            "grids_without_technicians": no_tech_grids,
        },
    )
