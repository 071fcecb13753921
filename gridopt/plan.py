"""The planning pipeline: partition -> staff -> assign -> dispatch -> simulate -> report.

:func:`plan` runs a whole scenario (see :mod:`gridopt.config`) and returns a
:class:`PlanResult`; :func:`write_plan` writes its files. With ``resume=True`` a stage
whose inputs did not change since the last run into the same folder is read back from
``<out>/.gridopt/`` instead of recomputed.

Examples
--------
>>> from gridopt.config import parse_scenario
>>> cfg = parse_scenario('''
... seed = 3
... [grids]
... count = 3
... time_limit = 1.0
... restarts = 1
... [dispatch]
... time_limit = 1.0
... [simulation]
... days = 7
... warmup_days = 1
... replications = 2
... ''')
>>> result = plan(cfg, households=1_500)
>>> result.layout.n_grids
3
>>> int(result.households_table["grid"].min()) >= 0
True
"""

from __future__ import annotations

import hashlib
import json
import logging
import pickle
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from gridopt.config import ScenarioConfig
from gridopt.errors import InputError
from gridopt.model import (
    ROLE_ACCOUNT_MANAGER,
    ROLE_INSTALLER,
    ROLE_TECHNICIAN,
    ROLES,
    SEGMENTS,
    SKILL_SENIOR,
    Households,
    Layout,
    Staff,
    Tickets,
    Units,
)

__all__ = [
    "plan",
    "write_plan",
    "PlanResult",
    "STAGES",
    "PLAN_MARKER",
    "scenario_hash",
    "assign_households",
]

log = logging.getLogger("gridopt.plan")

STAGES = ("units", "partition", "staffing", "ownership", "dispatch", "simulation", "report")
#: File that marks a folder as written by ``gridopt plan``.
PLAN_MARKER = "kpis.json"
_CACHE_DIR = ".gridopt"

Progress = Callable[[str, dict[str, Any]], None]


@dataclass(frozen=True, eq=False)
class PlanResult:
    """Everything a planning run produced.

    Attributes
    ----------
    config : ScenarioConfig
    city : object
        The loaded city (households, staff, stations, streets, barriers, tickets).
    units : Units
    household_unit : ndarray of int32, shape (n_households,)
    layout : Layout
    partition : PartitionResult
    staffing : StaffingResult
    staff : Staff
        The roster with each person's grid.
    assignment : Assignment
        One owner per household.
    routes : dict of str to Routes
        Sample-day routes per policy ("grid_first", "central") for the first sample day.
    sim : dict of str to SimResult
        The chosen policy and the baseline, on common random numbers.
    comparison : DataFrame
        Baseline versus chosen policy with 95 % intervals.
    grid_table : DataFrame
        One row per grid: workload, staff, renewal rate, response, sales target.
    households_table : DataFrame
        Grid and owner per household.
    kpis : dict
        Headline figures (JSON-ready).
    warnings : tuple of str
    timings : dict of str to float
        Seconds per stage (0 for a stage read back by ``resume``).
    reused : tuple of str
        The stages read back from the cache by ``resume`` (their inputs were unchanged).
    """

    config: ScenarioConfig
    city: Any
    units: Units
    household_unit: NDArray[np.int32]
    layout: Layout
    partition: Any
    staffing: Any
    staff: Staff
    assignment: Any
    routes: dict[str, Any]
    sim: dict[str, Any]
    comparison: pd.DataFrame
    grid_table: pd.DataFrame
    households_table: pd.DataFrame
    kpis: dict[str, Any]
    warnings: tuple[str, ...]
    timings: dict[str, float] = field(default_factory=dict)
    reused: tuple[str, ...] = ()


# --------------------------------------------------------------------------- caching


class _Stages:
    """Runs stages, caching each under a key of its inputs when a folder is given."""

    def __init__(self, out: Path | None, resume: bool, progress: Progress | None) -> None:
        self.dir = out / _CACHE_DIR if out is not None else None
        self.resume = resume
        self.progress = progress
        self.timings: dict[str, float] = {}
        self.reused: list[str] = []

    def run(self, name: str, key: str, fn: Callable[[], Any]) -> Any:
        path = self.dir / f"{name}.pkl" if self.dir is not None else None
        if self.progress:
            self.progress(name, {"stage": name, "state": "start"})
        if self.resume and path is not None and path.exists():
            try:
                with path.open("rb") as f:
                    cached_key, value = pickle.load(f)
            except Exception:  # a cache from another version: recompute
                cached_key, value = None, None
            if cached_key == key:
                log.info("stage %s: inputs unchanged, reusing %s", name, path.name)
                self.timings[name] = 0.0
                self.reused.append(name)
                if self.progress:
                    self.progress(name, {"stage": name, "state": "reused"})
                return value
        t0 = time.perf_counter()
        value = fn()
        self.timings[name] = round(time.perf_counter() - t0, 4)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            with tmp.open("wb") as f:
                pickle.dump((key, value), f, protocol=pickle.HIGHEST_PROTOCOL)
            tmp.replace(path)
        if self.progress:
            self.progress(name, {"stage": name, "state": "done", "seconds": self.timings[name]})
        return value


def _key(*parts: Any) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(json.dumps(p, sort_keys=True, default=str).encode())
    return h.hexdigest()[:20]


def _file_sig(path: Path | None) -> Any:
    if path is None:
        return None
    st = path.stat()
    return [str(path), st.st_size, st.st_mtime_ns]


# ----------------------------------------------------------------------------- inputs


def _load_city(cfg: ScenarioConfig, households: int | None) -> Any:
    """The scenario's city: a generated-city GeoPackage, a household file, or generated."""
    from gridopt.synth import generate_city

    if households is not None:
        return generate_city(households, seed=cfg.seed)
    city_path = cfg.path("city")
    if city_path is not None:
        from gridopt.io.city import read_city

        return read_city(city_path)
    hh_path = cfg.path("households")
    if hh_path is None:
        raise InputError(
            "inputs", "name a city (inputs.city) or a household file (inputs.households)"
        )
    from gridopt.io.units import read_households

    hh = read_households(hh_path, crs=cfg.inputs.crs or None)
    return _ExternalCity.build(cfg, hh)


@dataclass(frozen=True, eq=False)
class _ExternalCity:
    """A city assembled from separate input files (no generated extras)."""

    households: Households
    staff: Staff | None
    stations: NDArray[np.float64]
    barriers: tuple[Any, ...]
    tickets: Tickets | None
    ticket_model: Any
    crs: str
    bounds: tuple[float, float, float, float]
    streets: Any = None

    @classmethod
    def build(cls, cfg: ScenarioConfig, hh: Households) -> _ExternalCity:
        from gridopt.io.units import read_barriers, read_points

        crs = hh.crs or ""
        bpath = cfg.path("barriers")
        barriers: tuple[Any, ...] = (read_barriers(bpath, crs),) if bpath is not None else ()
        spath = cfg.path("stations")
        stations = (
            read_points(spath, crs, csv_crs=cfg.inputs.crs or None)
            if spath is not None
            else np.zeros((0, 2))
        )
        b = (float(hh.x.min()), float(hh.y.min()), float(hh.x.max()), float(hh.y.max()))
        return cls(
            households=hh,
            staff=None,
            stations=stations,
            barriers=barriers,
            tickets=None,
            ticket_model=None,
            crs=hh.crs or "",
            bounds=b,
        )


def _units(cfg: ScenarioConfig, city: Any) -> tuple[Units, NDArray[np.int32]]:
    from gridopt.io.units import build_units

    u = cfg.units
    by = None if u.by == "lattice" else u.by
    hh = city.households
    if by is not None and (getattr(hh, by) < 0).any():
        log.warning(
            "households lack %s ids: using a %s lattice of %.0f m", by, u.lattice, u.cell_size
        )
        by = None
    units, inv = build_units(
        hh,
        by=by,  # type: ignore[arg-type]
        lattice=u.lattice,  # type: ignore[arg-type]
        cell_size=u.cell_size,
        barriers=city.barriers or None,
        ticket_model=city.ticket_model,
        return_mapping=True,
    )
    return units, inv


# ---------------------------------------------------------------------------- stages


def _partition(cfg: ScenarioConfig, city: Any, units: Units, progress: Progress | None) -> Any:
    from gridopt.partition import choose_n_grids, partition
    from gridopt.score import Objective

    g = cfg.grids
    n_grids = g.count or choose_n_grids(units, g.target_attribute, g.target_value)
    if n_grids > units.n_units:
        raise InputError("grids.count", f"{n_grids} grids but only {units.n_units} units")
    balance = {k: v for k, v in g.balance.items()}
    for k in balance:
        units.attribute_index(k)
    objective = Objective(
        balance=balance,
        compactness=g.compactness,
        compactness_weight=g.weight_compactness,
        travel_weight=g.weight_travel,
        border_weight=g.weight_border,
        stability_weight=g.weight_stability,
    )
    stations = city.stations if g.anchor_to_stations and len(city.stations) >= n_grids else None

    def cb(info: dict[str, Any]) -> None:
        if progress:
            progress("partition", info)

    return partition(
        units,
        n_grids,
        objective,
        seed=cfg.seed,
        time_limit=g.time_limit if not g.max_iterations else float("inf"),
        max_iterations=g.max_iterations or None,
        n_restarts=g.restarts,
        polish=g.polish,
        workers=g.workers,
        contiguity=g.contiguity,
        stations=stations,
        progress=cb,
    )


def _grid_centres(
    units: Units, layout: Layout, weights: NDArray[np.float64] | None = None
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Centre (x, y) of each grid: the mean of its units' centroids, optionally weighted."""
    g = layout.n_grids
    w = np.ones(units.n_units) if weights is None else np.maximum(weights, 1e-9)
    total = np.bincount(layout.labels, weights=w, minlength=g)
    cx = np.bincount(layout.labels, weights=units.x * w, minlength=g) / total
    cy = np.bincount(layout.labels, weights=units.y * w, minlength=g) / total
    return cx, cy


def _place_staff(
    staff: Staff, layout: Layout, units: Units, needed: NDArray[np.int64]
) -> tuple[Staff, list[str]]:
    """Give every person a grid: each role's people go to the grids that need them, nearest first.

    ``needed`` is (n_grids, 3) staff needed per role. Each role's roster is split over the
    grids in proportion to need (at least one per grid while people last) and people are
    matched to grid slots minimising the distance from their base to the grid centre
    (an exact assignment, scipy's linear_sum_assignment).
    """
    from scipy.optimize import linear_sum_assignment

    g = layout.n_grids
    hh = units.attribute("households") if "households" in units.attribute_names else None
    cx, cy = _grid_centres(units, layout, hh)
    grid = np.full(staff.n_staff, -1, dtype=np.int32)
    notes: list[str] = []
    covered = np.zeros(g, dtype=bool)
    # Technicians first; installers then go first to grids no technician covers, so that
    # every grid has someone in the field while people last.
    for role in (ROLE_TECHNICIAN, ROLE_INSTALLER, ROLE_ACCOUNT_MANAGER):
        people = np.flatnonzero(staff.role == role)
        n = people.shape[0]
        if n == 0:
            continue
        need = needed[:, role].astype(float)
        if role == ROLE_INSTALLER and n < g:
            need = need + 1000.0 * ~covered
        slots = _split(n, need)
        short = int(np.sum(needed[:, role]) - n)
        if short > 0:
            notes.append(
                f"{ROLES[role]}: {n} on the roster, {int(np.sum(needed[:, role]))} needed ({short} short)"
            )
        slot_grid = np.repeat(np.arange(g), slots)
        cost = np.hypot(
            staff.x[people, None] - cx[None, slot_grid], staff.y[people, None] - cy[None, slot_grid]
        )
        r, c = linear_sum_assignment(cost)
        grid[people[r]] = slot_grid[c]
        if role in (ROLE_TECHNICIAN, ROLE_INSTALLER):
            covered[slot_grid[c]] = True
    return staff.replace(grid=grid), notes


def _split(n: int, need: NDArray[np.float64]) -> NDArray[np.int64]:
    """Split ``n`` people over grids in proportion to ``need``, one per grid first."""
    g = need.shape[0]
    if n >= g:
        base = np.ones(g, dtype=np.int64)
        rest = n - g
        share = np.maximum(need - 1, 0)
        if share.sum() <= 0:
            share = np.ones(g)
        ideal = rest * share / share.sum()
        extra = np.floor(ideal).astype(np.int64)
        left = rest - int(extra.sum())
        order = np.argsort(-(ideal - extra), kind="stable")
        extra[order[:left]] += 1
        return base + extra
    order = np.argsort(-need, kind="stable")
    out = np.zeros(g, dtype=np.int64)
    out[order[:n]] = 1
    return out


def _hire(needed: NDArray[np.int64], layout: Layout, units: Units, shift: float) -> Staff:
    """A roster of exactly the staff needed, based at grid centres (when none is given)."""
    from gridopt.model import SKILL_FIBER, SKILL_INSTALL, SKILL_REPAIR, SKILL_SENIOR

    g = layout.n_grids
    cx, cy = _grid_centres(units, layout)
    rows = []
    for role in range(len(ROLES)):
        for grid_idx in range(g):
            rows.extend(
                [(role, grid_idx)]
                * max(int(needed[grid_idx, role]), 1 if role == ROLE_TECHNICIAN else 0)
            )
    role = np.array([r for r, _ in rows], dtype=np.int8)
    gi = np.array([k for _, k in rows], dtype=np.int64)
    skills = np.select(
        [role == ROLE_TECHNICIAN, role == ROLE_INSTALLER],
        [SKILL_REPAIR | SKILL_FIBER | SKILL_INSTALL, SKILL_INSTALL | SKILL_REPAIR],
        SKILL_SENIOR,
    )
    return Staff(
        ids=np.arange(1, role.shape[0] + 1),
        role=role,
        x=cx[gi],
        y=cy[gi],
        shift_start=np.full(role.shape[0], 480.0),
        shift_end=np.full(role.shape[0], 480.0 + shift + 60.0),
        skills=skills,
        capacity=np.where(role == ROLE_ACCOUNT_MANAGER, 900.0, shift),
        grid=gi.astype(np.int32),
    )


def _fixed_technicians(
    staff: Staff, layout: Layout, units: Units, per_grid: int, shift: float
) -> Staff:
    """Replace the technicians by a team of ``per_grid`` in every grid, at the grid centre.

    Every third technician of a team works the evening shift (from noon), the others the
    day shift (from 08:00), so that each team covers the evening peak of TV faults.
    """
    from gridopt.model import SKILL_FIBER, SKILL_INSTALL, SKILL_REPAIR

    g = layout.n_grids
    cx, cy = _grid_centres(units, layout)
    keep = staff.role != ROLE_TECHNICIAN
    gi = np.repeat(np.arange(g), per_grid)
    k = np.tile(np.arange(per_grid), g)
    start = np.where(k % 3 == 2, 720.0, 480.0)
    n = gi.shape[0]
    first_id = int(staff.ids.max()) + 1 if staff.n_staff else 1
    return Staff(
        ids=np.concatenate([staff.ids[keep], first_id + np.arange(n)]),
        role=np.concatenate([staff.role[keep], np.full(n, ROLE_TECHNICIAN)]),
        x=np.concatenate([staff.x[keep], cx[gi]]),
        y=np.concatenate([staff.y[keep], cy[gi]]),
        shift_start=np.concatenate([staff.shift_start[keep], start]),
        shift_end=np.concatenate([staff.shift_end[keep], start + shift + 60.0]),
        skills=np.concatenate(
            [staff.skills[keep], np.full(n, SKILL_REPAIR | SKILL_FIBER | SKILL_INSTALL)]
        ),
        capacity=np.concatenate([staff.capacity[keep], np.full(n, shift)]),
        grid=np.concatenate([staff.grid[keep], gi]),
    )


def _staffing(cfg: ScenarioConfig, units: Units, layout: Layout) -> Any:
    from gridopt.assign import staffing

    return staffing(units, layout)


def _needed(staffing_result: Any, n_grids: int) -> NDArray[np.int64]:
    counts = np.asarray(staffing_result.counts, dtype=np.int64)
    roles = [r.role for r in staffing_result.roles]
    out = np.zeros((n_grids, len(ROLES)), dtype=np.int64)
    for k, name in enumerate(roles):
        out[:, ROLES.index(name)] = counts[:, k] if counts.ndim == 2 else counts
    return out


def _ownership(
    cfg: ScenarioConfig, city: Any, units: Units, layout: Layout, hh_unit: NDArray, staff: Staff
) -> tuple[Any, list[str]]:
    o = cfg.ownership
    return assign_households(
        city.households,
        layout.labels[hh_unit],
        staff,
        min_share=o.min_share,
        max_share=o.max_share,
        allow_adjacent=o.allow_adjacent,
        units=units,
        layout=layout,
        max_changes=None if o.max_changes < 0 else o.max_changes,
        time_limit=o.time_limit,
        seed=cfg.seed,
    )


def assign_households(
    households: Households,
    household_grid: NDArray,
    staff: Staff,
    *,
    min_share: float = 0.7,
    max_share: float = 1.3,
    allow_adjacent: bool = False,
    units: Units | None = None,
    layout: Layout | None = None,
    max_changes: int | None = None,
    current_owner: NDArray | None = None,
    time_limit: float = 30.0,
    seed: int = 0,
) -> tuple[Any, list[str]]:
    """One owner per household under the house rules, and notes on what was relaxed.

    Each account manager carries ``min_share`` .. ``max_share`` times the mean load of
    their grid; VIP and business households go to the senior account managers (each to
    the grid of its nearest senior); grids without an account manager borrow those of
    adjacent grids (when ``units`` and ``layout`` are given). When the roster cannot meet
    the limits, the limits are relaxed and the notes say so, so that a plan still comes out.

    Returns
    -------
    (Assignment, list of str)

    Raises
    ------
    InputError
        No account manager on the roster.
    """
    from gridopt.assign import OwnerLimits, assign_owners

    owners = staff.of_role("account_manager")
    if owners.shape[0] == 0:
        raise InputError("staff", "no account managers to own households")
    n_grids = int(max(np.max(household_grid), np.max(staff.grid))) + 1
    hh_grid = _ownership_grid(households, np.asarray(household_grid), staff, owners)
    per_grid = np.bincount(hh_grid, minlength=n_grids)
    own_grid = staff.grid[owners]
    owners_in = np.bincount(own_grid[own_grid >= 0], minlength=n_grids)
    mean_load = per_grid[np.maximum(own_grid, 0)] / np.maximum(
        owners_in[np.maximum(own_grid, 0)], 1
    )
    limits = OwnerLimits(
        min_households=np.floor(min_share * mean_load),
        max_households=np.ceil(max_share * mean_load),
    )

    def solve(hh: Households, lim: Any) -> Any:
        return assign_owners(
            hh,
            staff,
            household_grid=hh_grid,
            units=units,
            layout=layout,
            limits=lim,
            allow_adjacent=allow_adjacent,
            current_owner=current_owner,
            max_changes=max_changes,
            time_limit=time_limit,
            seed=seed,
        )

    result = solve(households, limits)
    if result.status != "infeasible":
        return result, []
    # A plan is still needed when the roster cannot meet the limits: relax them, say so.
    notes = [f"ownership infeasible under the limits: {r}" for r in result.reasons]
    if not (staff.skills[owners] & SKILL_SENIOR).any() and households.vip.any():
        households = households.replace(vip=np.zeros(households.n_households, dtype=bool))
        notes.append(
            "no senior account manager on the roster: VIP households go to ordinary account managers"
        )
    relaxed = OwnerLimits(max_households=np.full(owners.shape[0], float(households.n_households)))
    notes.append(
        "ownership re-solved without load limits; see the staffing table for the account managers needed"
    )
    return solve(households, relaxed), notes


def _ownership_grid(
    households: Households, hh_grid: NDArray, staff: Staff, owners: NDArray
) -> NDArray:
    """The grid whose owners may own each household.

    Two documented rules move a household to another grid's owners: VIP and business
    households are owned by the senior account managers, a team that spans grids (each
    goes to the grid of its nearest senior); and households of a grid that has no account
    manager at all go to the grid of their nearest account manager. Everyone else stays
    with the owners of their own grid.
    """
    from scipy.spatial import cKDTree

    out = np.array(hh_grid, copy=True)
    placed = owners[staff.grid[owners] >= 0]
    if placed.size == 0:
        return out
    has_owner = np.zeros(int(max(out.max(), staff.grid.max())) + 1, dtype=bool)
    has_owner[staff.grid[placed]] = True
    orphan = np.flatnonzero(~has_owner[out])
    if orphan.size:
        _, k = cKDTree(np.column_stack([staff.x[placed], staff.y[placed]])).query(
            np.column_stack([households.x[orphan], households.y[orphan]])
        )
        out[orphan] = staff.grid[placed[k]]
    seniors = placed[(staff.skills[placed] & SKILL_SENIOR) != 0]
    vip = np.flatnonzero(households.vip)
    if vip.size and seniors.size:
        _, k = cKDTree(np.column_stack([staff.x[seniors], staff.y[seniors]])).query(
            np.column_stack([households.x[vip], households.y[vip]])
        )
        out[vip] = staff.grid[seniors[k]]
    return out


def _day_tickets(city: Any, hh_unit: NDArray, day: int) -> Tickets | None:
    t = city.tickets
    if t is None or t.n_tickets == 0:
        return None
    sel = (t.time >= day * 1440.0) & (t.time < (day + 1) * 1440.0)
    if not sel.any():
        return None
    day_t = t.select(sel)
    pos = np.searchsorted(city.households.ids, day_t.household)
    pos = np.clip(pos, 0, city.households.n_households - 1)
    ok = city.households.ids[pos] == day_t.household
    unit = np.where(ok, hh_unit[pos], -1).astype(np.int32)
    return day_t.replace(unit=unit, time=day_t.time - day * 1440.0)


#: Above this many tickets a day, routing is split (grid-first by clusters of grids, the
#: central pool by dispatch regions): one routing model of thousands of stops and
#: technicians needs tens of GB and finds no good solution in minutes.
_DISPATCH_SPLIT = 300
_REGION_GRIDS = 25


def _dispatch(
    cfg: ScenarioConfig, city: Any, units: Units, layout: Layout, hh_unit: NDArray, staff: Staff
) -> dict[str, Any]:
    from gridopt.dispatch import dispatch_day, grid_neighbours

    d = cfg.dispatch
    out: dict[str, Any] = {}
    travel = None
    if getattr(city, "streets", None) is not None:
        from gridopt.io.network import StreetTravel

        # routes follow the streets: the river is crossed on bridges only
        travel = StreetTravel.from_street_graph(city.streets)
    for day in d.days:
        tickets = _day_tickets(city, hh_unit, int(day))
        if tickets is None:
            continue
        large = tickets.n_tickets > _DISPATCH_SPLIT
        for policy in dict.fromkeys(
            [d.policy, "central" if d.policy == "grid_first" else "grid_first"]
        ):
            kw: dict[str, Any] = {"time_limit": d.time_limit, "seed": cfg.seed, "travel": travel}
            if not large:
                out[f"day{day}_{policy}"] = dispatch_day(
                    tickets, staff, layout=layout, policy=policy, **kw
                )
            elif policy == "grid_first":
                out[f"day{day}_{policy}"] = dispatch_day(
                    tickets,
                    staff,
                    layout=layout,
                    policy=policy,
                    decompose="cluster",
                    neighbours=grid_neighbours(units, layout),
                    **kw,
                )
            else:
                out[f"day{day}_{policy}"] = _central_by_region(
                    tickets, staff, units, layout, d.time_limit, cfg.seed, travel
                )
    return out


def _regions(units: Units, layout: Layout) -> NDArray[np.int64]:
    """Dispatch region of each grid: bands of about 25 grids by centroid (y, then x)."""
    g = layout.n_grids
    cx, cy = _grid_centres(units, layout)
    n_reg = max(1, int(round(g / _REGION_GRIDS)))
    rows = int(np.ceil(np.sqrt(n_reg)))
    band = np.minimum((np.argsort(np.argsort(cy)) * rows) // g, rows - 1)
    region = np.zeros(g, dtype=np.int64)
    per_row = int(np.ceil(n_reg / rows))
    for b in range(rows):
        members = np.flatnonzero(band == b)
        order = members[np.argsort(cx[members], kind="stable")]
        region[order] = b * per_row + np.minimum(
            (np.arange(order.size) * per_row) // max(order.size, 1), per_row - 1
        )
    return region


def _central_by_region(
    tickets: Tickets,
    staff: Staff,
    units: Units,
    layout: Layout,
    time_limit: float,
    seed: int,
    travel: Any,
) -> Any:
    """The central pool of each dispatch region routed on its own, merged into one Routes."""
    from gridopt.dispatch import Routes, dispatch_day

    region = _regions(units, layout)
    t_region = region[layout.labels[np.maximum(tickets.unit, 0)]]
    s_region = np.where(staff.grid >= 0, region[np.maximum(staff.grid, 0)], -1)
    regions = np.unique(t_region)
    per_limit = max(1.0, time_limit / max(regions.size, 1))
    parts = []
    orphan: list[NDArray[np.int64]] = []
    for reg in regions:
        t_idx = np.flatnonzero(t_region == reg)
        s_idx = np.flatnonzero(s_region == reg)
        if s_idx.size == 0:  # a region without staff: its tickets are not served
            orphan.append(t_idx)
            continue
        sub = dispatch_day(
            tickets.select(t_idx),
            staff.select(s_idx),
            policy="central",
            time_limit=per_limit,
            seed=seed,
            travel=travel,
        )
        parts.append((sub, t_idx, s_idx))

    def cat(xs: list[NDArray[Any]], dtype: Any = np.float64) -> NDArray[Any]:
        return np.concatenate(xs).astype(dtype, copy=False) if xs else np.zeros(0, dtype)

    offsets = np.cumsum([0] + [p[0].tech.size for p in parts])
    dropped = cat([t[p.dropped] for p, t, _ in parts] + orphan, np.int64)
    reasons = [r for p, _, _ in parts for r in p.dropped_reason]
    reasons += ["no_technician_in_reach"] * int(sum(o.size for o in orphan))
    order = np.argsort(dropped, kind="stable")
    rank = ("optimal", "feasible", "time_limit", "infeasible")
    return Routes(
        policy="central",
        status=max((p.status for p, _, _ in parts), key=rank.index, default="infeasible"),
        tech=cat([s[p.tech] for p, _, s in parts], np.int64),
        tech_depart=cat([p.tech_depart for p, _, _ in parts]),
        tech_return=cat([p.tech_return for p, _, _ in parts]),
        tech_distance=cat([p.tech_distance for p, _, _ in parts]),
        tech_travel=cat([p.tech_travel for p, _, _ in parts]),
        tech_break_start=cat([p.tech_break_start for p, _, _ in parts]),
        tech_n_stops=cat([p.tech_n_stops for p, _, _ in parts], np.int64),
        stop_tech=cat(
            [off + p.stop_tech for (p, _, _), off in zip(parts, offsets, strict=False)], np.int64
        ),
        stop_ticket=cat([t[p.stop_ticket] for p, t, _ in parts], np.int64),
        stop_arrival=cat([p.stop_arrival for p, _, _ in parts]),
        stop_start=cat([p.stop_start for p, _, _ in parts]),
        stop_end=cat([p.stop_end for p, _, _ in parts]),
        stop_lateness=cat([p.stop_lateness for p, _, _ in parts]),
        stop_overflow=cat([p.stop_overflow for p, _, _ in parts], np.bool_),
        dropped=dropped[order],
        dropped_reason=tuple(reasons[k] for k in order),
        objective=float(sum(p.objective for p, _, _ in parts)),
        stats={"regions": int(regions.size), "time_limit_per_region": per_limit},
    )


def _campaign(cfg: ScenarioConfig, city: Any) -> Any:
    from gridopt.sim import Campaign

    c = cfg.campaign
    if not c.enabled:
        return None
    seg = SEGMENTS.index(c.target_segment) if c.target_segment in SEGMENTS else None
    if seg is None:
        raise InputError(
            "campaign.target_segment",
            f"unknown segment {c.target_segment!r}; known: {', '.join(SEGMENTS)}",
        )
    pool = int(np.sum(city.households.segment == seg))
    targets = max(1, int(pool * c.share_targeted))
    days = cfg.simulation.days
    if days < 6:
        log.warning("a %d-day horizon is too short for the campaign waves: no campaign", days)
        return None
    # Fit the waves into the horizon: calls from day 2, door visits in the last third.
    call_day = min(2, days // 4)
    call_days = max(1, min(5, days // 3 - call_day))
    door_day = max(call_day + call_days, min(8, days // 2))
    door_days = max(1, min(10, days - door_day - 1))
    return Campaign(
        call_day=call_day,
        call_days=call_days,
        door_day=door_day,
        door_days=door_days,
        targets=targets,
        holdout_share=c.holdout_share,
        sms_response=c.sms_response,
        agents=c.call_agents,
        right_party=c.call_contact,
        call_accept=c.call_accept,
        hesitant=0.25 if c.second_call else 0.0,
        door_accept=c.door_accept,
    )


def _simulate(
    cfg: ScenarioConfig,
    city: Any,
    units: Units,
    layout: Layout,
    staff: Staff,
    hh_unit: NDArray,
    progress: Progress | None,
) -> dict[str, Any]:
    from gridopt.sim import SimConfig, simulate

    s = cfg.simulation
    tickets = None
    if city.tickets is not None and city.tickets.n_tickets:
        t = city.tickets
        horizon_end = s.days * 1440.0
        sel = t.time < max(horizon_end, 28 * 1440.0)
        tt = t.select(sel)
        pos = np.clip(
            np.searchsorted(city.households.ids, tt.household), 0, city.households.n_households - 1
        )
        tickets = tt.replace(
            unit=np.where(city.households.ids[pos] == tt.household, hh_unit[pos], -1).astype(
                np.int32
            )
        )
    campaign = _campaign(cfg, city)
    outage = float(getattr(city.ticket_model, "outage_rate", 0.0) or 0.0)
    results: dict[str, Any] = {}
    for policy in dict.fromkeys([s.baseline, s.policy]):
        sim_cfg = SimConfig.from_city(
            units,
            layout,
            staff,
            tickets,
            policy=policy,
            desk_delay=s.desk_delay_minutes,
            help_threshold=s.help_threshold,
            sla_minutes=s.sla_minutes,
            horizon=s.days * 1440.0,
            warmup=s.warmup_days * 1440.0,
            campaign=campaign,
            outage_rate=outage,
        )

        def cb(info: dict[str, Any], _p: str = policy) -> None:
            if progress:
                progress("simulation", {**info, "policy": _p})

        results[policy] = simulate(sim_cfg, replications=s.replications, seed=cfg.seed, progress=cb)
    return results


# ----------------------------------------------------------------------------- tables


def _comparison(sim: dict[str, Any], cfg: ScenarioConfig) -> pd.DataFrame:
    from gridopt.sim import compare

    s = cfg.simulation
    if s.baseline not in sim or s.policy not in sim or s.baseline == s.policy:
        return pd.DataFrame()
    base, new = sim[s.baseline], sim[s.policy]
    diff = compare(base, new)  # new - base, paired
    rows = []
    for k, est in diff.items():
        if k not in base.kpis or k not in new.kpis:
            continue
        b, n = base.kpis[k], new.kpis[k]
        rows.append(
            {
                "kpi": k,
                s.baseline: b.mean,
                s.policy: n.mean,
                "difference": est.mean,
                "95% low": est.low,
                "95% high": est.high,
            }
        )
    return pd.DataFrame(rows)


def _grid_table(
    cfg: ScenarioConfig,
    city: Any,
    units: Units,
    layout: Layout,
    hh_unit: NDArray,
    staff: Staff,
    sim: dict[str, Any],
) -> pd.DataFrame:
    g = layout.n_grids
    totals = layout.totals(units)
    t = pd.DataFrame(totals, columns=list(units.attribute_names))
    t.insert(0, "grid", np.arange(g))
    t.insert(1, "units", layout.sizes())
    hh = city.households
    hg = layout.labels[hh_unit]
    subs = hh.subscribers
    n_sub = np.bincount(hg, weights=subs, minlength=g)
    churn = np.bincount(hg, weights=hh.churn_risk * subs, minlength=g)
    t["renewal_rate"] = np.round(1.0 - churn / np.maximum(n_sub, 1), 4)
    for role in range(len(ROLES)):
        t[f"{ROLES[role]}s"] = np.bincount(
            staff.grid[(staff.role == role) & (staff.grid >= 0)], minlength=g
        )
    policy = cfg.simulation.policy
    res = sim.get(policy)
    total_sales = 0.0
    if res is not None:
        for key in ("sales_repair", "sales_install", "sales_sms", "sales_call", "sales_door"):
            if key in res.kpis:
                total_sales += float(res.kpis[key].mean)
    pot = t["potential"].to_numpy() if "potential" in t.columns else np.ones(g)
    share = pot / max(pot.sum(), 1e-9)
    t["sales_target_share"] = np.round(share, 4)
    if total_sales:
        t["expected_sales"] = np.round(total_sales * share, 2)
    return t


def _warnings(
    cfg: ScenarioConfig, table: pd.DataFrame, part: Any, notes: list[str], sim: dict[str, Any]
) -> list[str]:
    out = list(notes)
    low = table[table["renewal_rate"] < 0.85]
    for _, r in low.iterrows():
        out.append(
            f"grid {int(r['grid'])}: renewal rate {r['renewal_rate']:.1%} is below the 85 % red line"
        )
    for attr, tau in cfg.grids.balance.items():
        if attr in table.columns:
            v = table[attr].to_numpy()
            dev = v / max(v.mean(), 1e-9) - 1
            bad = np.flatnonzero(np.abs(dev) > tau + 1e-9)
            for k in bad[:10]:
                out.append(
                    f"grid {k}: {attr} {dev[k]:+.1%} from the mean, beyond the +/-{tau:.0%} tolerance"
                )
    if "technicians" in table.columns:
        for k in np.flatnonzero(table["technicians"].to_numpy() == 0):
            out.append(f"grid {k}: no technician")
    for name, res in sim.items():
        out.extend(f"simulation ({name}): {w}" for w in getattr(res, "warnings", ()))
    return out


# ------------------------------------------------------------------------------- plan


def plan(
    config: ScenarioConfig,
    *,
    out: str | Path | None = None,
    resume: bool = False,
    households: int | None = None,
    skip: tuple[str, ...] = (),
    progress: Progress | None = None,
) -> PlanResult:
    """Run the whole pipeline on a scenario.

    Parameters
    ----------
    config : ScenarioConfig
        See :func:`gridopt.config.load_scenario`.
    out : path, optional
        Folder for the stage cache (``resume``); :func:`write_plan` writes the outputs.
    resume : bool
        Reuse stages whose inputs did not change since the last run into ``out``.
    households : int, optional
        Ignore the scenario's inputs and generate a city of this many households (tests,
        sweeps and quick looks).
    skip : tuple of str
        Stages not to run: any of ``"ownership"``, ``"dispatch"``, ``"simulation"`` (their
        fields are then None / empty). Sweeps skip the first two.
    progress : callable, optional
        Called as ``progress(stage, info)``.

    Returns
    -------
    PlanResult

    Raises
    ------
    InputError
        Bad or missing inputs, with the key or field named.
    """
    stages = _Stages(Path(out) if out is not None else None, resume, progress)
    cfg = config
    sig_inputs = {
        k: _file_sig(cfg.path(k))
        for k in ("city", "households", "staff", "stations", "barriers", "tickets")
    }
    k_units = _key(
        "units", sig_inputs, asdict(cfg.units), households, cfg.seed if households else None
    )
    city, units, hh_unit = stages.run(
        "units", k_units, lambda: (lambda c: (c, *_units(cfg, c)))(_load_city(cfg, households))
    )
    k_part = _key(k_units, asdict(cfg.grids), cfg.seed)
    part = stages.run("partition", k_part, lambda: _partition(cfg, city, units, progress))
    layout = part.layout()
    k_staff = _key(k_part, asdict(cfg.staffing))

    def staffing_stage() -> tuple[Any, Staff, list[str]]:
        st = _staffing(cfg, units, layout)
        needed = _needed(st, layout.n_grids)
        tpg = cfg.staffing.technicians_per_grid
        if tpg:
            needed[:, ROLE_TECHNICIAN] = tpg
        if getattr(city, "staff", None) is None:
            roster = _hire(needed, layout, units, cfg.staffing.shift_minutes)
            return (
                st,
                roster,
                ["no staff file given: the roster is the staff needed, based at grid centres"],
            )
        roster, notes = _place_staff(city.staff, layout, units, needed)
        if tpg:
            roster = _fixed_technicians(roster, layout, units, tpg, cfg.staffing.shift_minutes)
            notes.append(f"technician roster set to {tpg} per grid ({tpg * layout.n_grids} in all)")
        return st, roster, notes

    staffing_result, staff, notes = stages.run("staffing", k_staff, staffing_stage)
    k_own = _key(k_staff, asdict(cfg.ownership))
    bad_skip = set(skip) - {"ownership", "dispatch", "simulation"}
    if bad_skip:
        raise InputError(
            "skip", f"unknown stages {sorted(bad_skip)}; only ownership, dispatch, simulation"
        )
    assignment, own_notes = (
        stages.run("ownership", k_own, lambda: _ownership(cfg, city, units, layout, hh_unit, staff))
        if "ownership" not in skip
        else (None, [])
    )
    notes = [*notes, *own_notes]
    k_disp = _key(k_staff, asdict(cfg.dispatch))
    routes = (
        stages.run("dispatch", k_disp, lambda: _dispatch(cfg, city, units, layout, hh_unit, staff))
        if "dispatch" not in skip
        else {}
    )
    k_sim = _key(k_staff, asdict(cfg.simulation), asdict(cfg.campaign))
    sim = (
        stages.run(
            "simulation",
            k_sim,
            lambda: _simulate(cfg, city, units, layout, staff, hh_unit, progress),
        )
        if "simulation" not in skip
        else {}
    )

    t0 = time.perf_counter()
    comparison = _comparison(sim, cfg)
    table = _grid_table(cfg, city, units, layout, hh_unit, staff, sim)
    warns = _warnings(cfg, table, part, notes, sim)
    hh = city.households
    owner_ids = (
        np.asarray(assignment.owner) if assignment is not None else np.full(hh.n_households, -1)
    )
    hh_table = pd.DataFrame(
        {
            "id": hh.ids,
            "x": hh.x,
            "y": hh.y,
            "unit": units.ids[hh_unit],
            "grid": layout.labels[hh_unit],
            "owner": owner_ids,
        }
    )
    kpis = _kpis(cfg, units, layout, part, staff, assignment, routes, sim, stages.timings)
    stages.timings["report"] = round(time.perf_counter() - t0, 2)
    return PlanResult(
        config=cfg,
        city=city,
        units=units,
        household_unit=hh_unit,
        layout=layout,
        partition=part,
        staffing=staffing_result,
        staff=staff,
        assignment=assignment,
        routes=routes,
        sim=sim,
        comparison=comparison,
        grid_table=table,
        households_table=hh_table,
        kpis=kpis,
        warnings=tuple(warns),
        timings=dict(stages.timings),
        reused=tuple(stages.reused),
    )


def scenario_hash(cfg: ScenarioConfig) -> str:
    """A short hash of a scenario's settings (not of its folder)."""
    from gridopt.config import scenario_to_toml

    return _key(scenario_to_toml(cfg))


def _kpis(
    cfg: ScenarioConfig,
    units: Units,
    layout: Layout,
    part: Any,
    staff: Staff,
    assignment: Any,
    routes: dict[str, Any],
    sim: dict[str, Any],
    timings: dict[str, float],
) -> dict[str, Any]:
    k: dict[str, Any] = {
        "scenario": cfg.name,
        "seed": cfg.seed,
        "scenario_hash": scenario_hash(cfg),
        "households": int(units.attribute("households").sum())
        if "households" in units.attribute_names
        else None,
        "units": units.n_units,
        "grids": layout.n_grids,
        "partition_status": getattr(part, "status", None),
        "partition_feasible": bool(getattr(part, "feasible", False)),
        "staff": staff.n_staff,
        "staff_by_role": {r: int(np.sum(staff.role == i)) for i, r in enumerate(ROLES)},
        "ownership_status": getattr(assignment, "status", None),
        "ownership_gap": float(getattr(assignment, "gap", float("nan"))),
    }
    for name, r in routes.items():
        k[f"routes_{name}"] = {
            "status": r.status,
            "tickets_routed": int(r.stop_ticket.shape[0]),
            "dropped": int(r.dropped.shape[0]),
            "distance_km": round(float(np.sum(r.tech_distance)) / 1000.0, 2),
            "lateness_min": round(float(np.sum(r.stop_lateness)), 1),
        }
    for name, res in sim.items():
        k[f"simulation_{name}"] = res.to_dict()["kpis"]
    k["seconds"] = dict(timings)
    return k


# ------------------------------------------------------------------------------ write


def write_plan(result: PlanResult, out: str | Path) -> list[Path]:
    """Write a plan's files into ``out`` (each atomically); returns the paths written.

    ``grids.gpkg`` (grid polygons with KPIs), ``households.parquet`` (grid and owner per
    household), ``staff.csv``, ``routes.geojson``, ``kpis.json``, ``report.html`` and
    map PNGs.
    """
    from gridopt.io.units import unit_polygons
    from gridopt.io.write import grid_frame, write_json, write_table
    from gridopt.report.html import render_report, svg_grid_map
    from gridopt.report.maps import grid_map

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = result.config
    written: list[Path] = []
    u = cfg.units
    lattice = u.lattice if u.by == "lattice" else None
    polys = unit_polygons(
        result.units,
        lattice=lattice,
        cell_size=u.cell_size if lattice else None,
        bounds=result.city.bounds,
        clip=None if lattice else _compound_blocks(result),
    )
    grids, grid_polys = grid_frame(result.grid_table, polys, result.layout.labels)
    written.append(write_table(grids, out / "grids.gpkg", layer="grids"))
    from gridopt.io.city import households_frame

    hh_extra = {k: result.households_table[k].to_numpy() for k in ("unit", "grid", "owner")}
    written.append(
        write_table(households_frame(result.city.households, hh_extra), out / "households.parquet")
    )
    st = result.staff
    staff_df = pd.DataFrame(
        {
            "id": st.ids,
            "role": np.asarray(ROLES, dtype=object)[st.role],
            "grid": st.grid,
            "x": st.x,
            "y": st.y,
            "shift_start": st.shift_start,
            "shift_end": st.shift_end,
            "skills": st.skills,
            "capacity": st.capacity,
        }
    )
    written.append(write_table(staff_df, out / "staff.csv"))
    route_lines, route_xy = _route_lines(result)
    if route_lines is not None:
        written.append(write_table(route_lines, out / "routes.geojson"))
    written.append(write_json(result.kpis, out / "kpis.json"))
    from gridopt.report.maps import colour_graph

    ui, uj, _ = result.units.edges()
    gi, gj = result.layout.labels[ui], result.layout.labels[uj]
    colours = colour_graph(result.layout.n_grids, np.column_stack([gi, gj])[gi != gj], 10)
    images: dict[str, Path] = {}
    if cfg.outputs.maps:
        base_xy = None
        bases = np.asarray(getattr(result.partition, "bases", []))
        if bases.size and (bases >= 0).all():
            base_xy = np.column_stack([result.units.x[bases], result.units.y[bases]])
        if hasattr(result.city, "streets") and result.city.streets is not None:
            p = grid_map(
                result.city,
                polys,
                result.layout.labels,
                out / "grids.png",
                title=f"{result.layout.n_grids} grids",
                bases_xy=base_xy,
                routes=route_xy,
                colours=colours,
            )
            images["Grids, bases and the first sample day's grid-first routes"] = p
            written.append(p)
        chart = _response_chart(result, out / "response.png")
        if chart is not None:
            images["Response time, central versus grid"] = chart
            written.append(chart)
    if cfg.outputs.report:
        funnel = _funnel_table(result)
        staffing_table = getattr(result.staffing, "table", None)
        headline = {
            "households": result.kpis.get("households"),
            "grids": result.layout.n_grids,
            "staff": result.staff.n_staff,
        }
        for _, row in result.comparison.iterrows():
            if row["kpi"] in ("response_onsite_p90", "response_onsite_mean", "sla_share"):
                headline[f"{row['kpi']} ({cfg.simulation.policy})"] = row[cfg.simulation.policy]
        written.append(
            render_report(
                out / "report.html",
                title=f"gridopt plan: {cfg.name}",
                kpis=headline,
                grid_table=result.grid_table.round(3),
                comparison=result.comparison,
                funnel=funnel,
                staffing_table=staffing_table,
                warnings=result.warnings,
                images=images,
                svg_map=svg_grid_map(
                    grid_polys,
                    result.grid_table[["grid", "households", "renewal_rate"]],
                    colours=colours,
                ),
                notes=[f"Stage seconds: {result.timings}"],
            )
        )
    return written


def _compound_blocks(result: PlanResult) -> Any:
    """Each unit's compound block (a generated city's compounds), or None."""
    from gridopt.io.units import compound_blocks

    hh_comp = result.city.households.compound
    first = np.full(result.units.n_units, -1, dtype=np.int64)
    first[result.household_unit[::-1]] = np.arange(hh_comp.shape[0])[::-1]
    return compound_blocks(getattr(result.city, "compounds", None), hh_comp[first])


def _route_lines(result: PlanResult) -> tuple[Any, list[np.ndarray]]:
    """Routes as lines (base -> stops -> base) and the first grid-first day's coordinates."""
    from gridopt.io.write import concat_frames, routes_frame

    frames, xy = [], []
    first_grid = next((n for n in result.routes if n.endswith("grid_first")), None)
    for name, r in result.routes.items():
        tickets = _route_tickets(result, name)
        if tickets is None:
            continue
        df = routes_frame(r, tickets, result.staff, result.units.crs, name=name)
        if df is None:
            continue
        frames.append(df)
        if name == first_grid:
            xy.extend(np.asarray(g.coords) for g in df.geometry)
    return concat_frames(frames, result.units.crs), xy


def _route_tickets(result: PlanResult, name: str) -> Tickets | None:
    day = int(name.split("_")[0].removeprefix("day"))
    return _day_tickets(result.city, result.household_unit, day)


def _funnel_table(result: PlanResult) -> pd.DataFrame | None:
    res = result.sim.get(result.config.simulation.policy)
    if res is None or not np.any(res.funnel):
        return None
    f = np.asarray(res.funnel)
    return (
        pd.DataFrame(
            f,
            columns=["targeted", "reached", "responded", "visited", "converted"],
            index=["1 SMS/push", "2 outbound call", "3 door visit"][: f.shape[0]],
        )
        .reset_index(names="wave")
        .round(1)
    )


def _response_chart(result: PlanResult, path: Path) -> Path | None:
    import matplotlib.pyplot as plt

    from gridopt.report.maps import save_figure

    if result.comparison.empty:
        return None
    rows = result.comparison[
        result.comparison["kpi"].isin(
            [
                "response_onsite_mean",
                "response_onsite_p50",
                "response_onsite_p90",
                "response_fix_mean",
                "response_fix_p90",
            ]
        )
    ]
    if rows.empty:
        return None
    cfg = result.config.simulation
    fig, ax = plt.subplots(figsize=(7, 3.5))
    xk = np.arange(len(rows))
    for off, col, color in ((-0.2, cfg.baseline, "#999999"), (0.2, cfg.policy, "#2b7bba")):
        ax.bar(xk + off, rows[col].to_numpy(dtype=float), width=0.4, label=col, color=color)
    ax.set_xticks(xk, rows["kpi"].tolist(), rotation=20, fontsize=8)
    ax.set_ylabel("minutes")
    ax.legend()
    ax.set_title("Repair response: central dispatch versus grid model")
    return save_figure(fig, path)
