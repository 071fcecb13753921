"""Seeded synthetic city: the embedded default data.

A city is a lattice of streets (local streets every ~200 m, arterials every fifth line),
a meandering river that only bridges cross, a railway with underpasses at the arterials,
residential compounds of 50-3,000 households in buildings of varied height (denser and
taller towards the centre), villages of low houses at the edge, and a few service
stations. Households hold TV / broadband / mobile subscriptions with ARPU, contract end,
churn risk and a sale-propensity segment. A staff roster and a ticket model (rates by
plant age and segment, hour-of-day and day-of-week profiles, outage bursts) come with it,
and a year of tickets sampled from that model.

Everything is vectorised NumPy: one million households take a few seconds. The same
``seed`` gives the same city, bit for bit.

Examples
--------
>>> from gridopt.synth import generate_city
>>> city = generate_city(n_households=2_000, seed=1)
>>> city.households.n_households
2000
>>> int(city.households.compound.min()) >= 0
True
>>> city.staff.n_staff > 0 and city.stations.shape[1] == 2
True
>>> generate_city(n_households=2_000, seed=1).households.x.tobytes() == city.households.x.tobytes()
True
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from gridopt.errors import InputError
from gridopt.model import (
    ROLE_ACCOUNT_MANAGER,
    ROLE_INSTALLER,
    ROLE_TECHNICIAN,
    SKILL_FIBER,
    SKILL_INSTALL,
    SKILL_REPAIR,
    SKILL_SENIOR,
    TICKET_INSTALL,
    TICKET_OUTAGE,
    TICKET_REPAIR,
    Households,
    Staff,
    Tickets,
)

__all__ = [
    "City",
    "StreetGraph",
    "Barrier",
    "TicketModel",
    "generate_city",
    "DEFAULT_CRS",
    "DEFAULT_ORIGIN",
]

log = logging.getLogger("gridopt.synth")

#: UTM zone 51N: the sample city sits where Changchun is.
DEFAULT_CRS = "EPSG:32651"
DEFAULT_ORIGIN = (676_000.0, 4_855_000.0)

_BLOCK = 200.0  # local street spacing (m)
_ARTERIAL_EVERY = 5  # every fifth street line is an arterial
_STREET_HALF_WIDTH = 12.0
_RIVER_WIDTH = 90.0
_GROSS_DENSITY = 3_000.0  # households per km2 over the whole city

# Segment codes follow gridopt.model.SEGMENTS.
_PREMIUM, _FAMILY, _PREPAID, _SENIOR_TV, _BUSINESS = range(5)


@dataclass(frozen=True, eq=False)
class StreetGraph:
    """A street network: nodes with metric coordinates and undirected edges.

    Parameters
    ----------
    node_x, node_y : ndarray of float64, shape (n_nodes,)
    edge_u, edge_v : ndarray of int32, shape (n_edges,)
    edge_length : ndarray of float64, shape (n_edges,)
        Metres.
    edge_speed : ndarray of float64, shape (n_edges,)
        Km per hour.
    edge_arterial : ndarray of bool, shape (n_edges,)
    """

    node_x: NDArray[np.float64]
    node_y: NDArray[np.float64]
    edge_u: NDArray[np.int32]
    edge_v: NDArray[np.int32]
    edge_length: NDArray[np.float64]
    edge_speed: NDArray[np.float64]
    edge_arterial: NDArray[np.bool_]

    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return int(self.node_x.shape[0])

    @property
    def edge_minutes(self) -> NDArray[np.float64]:
        """Travel time of each edge in minutes."""
        return self.edge_length / (self.edge_speed * 1000.0 / 60.0)


@dataclass(frozen=True, eq=False)
class Barrier:
    """A line that cuts unit adjacency (river, railway), as a polyline.

    Gaps (bridges, underpasses) are expressed by splitting the line into several parts.

    Parameters
    ----------
    kind : str
        ``"river"``, ``"railway"`` or ``"arterial"``.
    parts : list of ndarray of float64, shape (k, 2)
        Polyline parts in metric x/y.
    """

    kind: str
    parts: tuple[NDArray[np.float64], ...]


@dataclass(frozen=True, eq=False)
class TicketModel:
    """How repair and installation tickets arise.

    Parameters
    ----------
    repair_rate, install_rate : ndarray of float64, shape (n_households,)
        Expected tickets per household per day (before hour/day profiles).
    hour_profile : ndarray of float64, shape (24,)
        Relative arrival intensity by hour of day for repairs (mean 1).
    install_hour_profile : ndarray of float64, shape (24,)
        Relative intensity by hour of day for installation requests (mean 1).
    dow_profile : ndarray of float64, shape (7,)
        Relative intensity by day of week, Monday first (mean 1).
    outage_rate : float
        Expected outages per day over the whole city.
    outage_share : float
        Mean share of a hit compound's subscribers who call during an outage.
    outage_spread : float
        Minutes over which outage calls arrive (exponential mean).
    duration_median : ndarray of float64, shape (3,)
        Median on-site minutes per ticket type (repair, install, outage).
    duration_sigma : float
        Log-normal shape of durations.
    fiber_share : float
        Share of ordinary repairs that need the fiber skill.
    """

    repair_rate: NDArray[np.float64]
    install_rate: NDArray[np.float64]
    hour_profile: NDArray[np.float64]
    install_hour_profile: NDArray[np.float64]
    dow_profile: NDArray[np.float64]
    outage_rate: float
    outage_share: float
    outage_spread: float
    duration_median: NDArray[np.float64]
    duration_sigma: float
    fiber_share: float

    def tickets_per_day(self) -> NDArray[np.float64]:
        """Expected repair plus install tickets per household per day (outages excluded)."""
        return self.repair_rate + self.install_rate

    def sample(
        self, households: Households, days: int, seed: int | np.random.SeedSequence = 0
    ) -> Tickets:
        """Sample ``days`` days of tickets, day 0 a Monday, sorted by time.

        Parameters
        ----------
        households : Households
            The households the rates refer to.
        days : int
            Horizon in days, >= 1.
        seed : int or SeedSequence

        Returns
        -------
        Tickets
            Times in minutes from the start of day 0; ``unit`` is -1 (not yet known).
        """
        if days < 1:
            raise InputError("days", f"must be >= 1, got {days}")
        if self.repair_rate.shape[0] != households.n_households:
            raise InputError(
                "households",
                f"has {households.n_households} rows, model has {self.repair_rate.shape[0]}",
            )
        ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
        r_rep, r_ins, r_out = (np.random.default_rng(s) for s in ss.spawn(3))
        day_w = np.resize(self.dow_profile, days)
        parts = [
            self._regular(
                households, r_rep, self.repair_rate, self.hour_profile, day_w, TICKET_REPAIR
            ),
            self._regular(
                households,
                r_ins,
                self.install_rate,
                self.install_hour_profile,
                day_w,
                TICKET_INSTALL,
            ),
            self._outages(households, r_out, days),
        ]
        cols = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        order = np.lexsort((cols["household"], cols["time"]))
        cols = {k: v[order] for k, v in cols.items()}
        n = order.shape[0]
        return Tickets(
            ids=np.arange(n, dtype=np.int64),
            time=cols["time"],
            x=households.x[cols["hh_pos"]],
            y=households.y[cols["hh_pos"]],
            unit=np.full(n, -1, dtype=np.int32),
            type=cols["type"],
            priority=cols["priority"],
            skill=cols["skill"],
            duration=cols["duration"],
            household=cols["household"],
        )

    def _durations(self, rng: np.random.Generator, kind: int, n: int) -> NDArray[np.float64]:
        d = self.duration_median[kind] * np.exp(self.duration_sigma * rng.standard_normal(n))
        return np.clip(np.round(d, 1), 5.0, 480.0)

    def _regular(
        self,
        households: Households,
        rng: np.random.Generator,
        rate: NDArray[np.float64],
        hour_profile: NDArray[np.float64],
        day_w: NDArray[np.float64],
        kind: int,
    ) -> dict[str, NDArray]:
        total = float(rate.sum()) * float(day_w.sum())
        n = int(rng.poisson(total))
        cdf = np.cumsum(rate)
        hh = np.searchsorted(cdf, rng.random(n) * cdf[-1], side="right").astype(np.int64)
        hh = np.minimum(hh, rate.shape[0] - 1)
        dcdf = np.cumsum(day_w)
        day = np.searchsorted(dcdf, rng.random(n) * dcdf[-1], side="right")
        hcdf = np.cumsum(hour_profile)
        hour = np.searchsorted(hcdf, rng.random(n) * hcdf[-1], side="right")
        time = day * 1440.0 + hour * 60.0 + np.floor(rng.random(n) * 600.0) / 10.0
        if kind == TICKET_REPAIR:
            skill = np.where(rng.random(n) < self.fiber_share, SKILL_FIBER, SKILL_REPAIR)
            priority = np.where(households.vip[hh], 1, 2)
        else:
            skill = np.full(n, SKILL_INSTALL)
            priority = np.full(n, 3)
        return {
            "time": time,
            "hh_pos": hh,
            "household": households.ids[hh],
            "type": np.full(n, kind, dtype=np.int8),
            "priority": priority.astype(np.int8),
            "skill": skill.astype(np.int64),
            "duration": self._durations(rng, kind, n),
        }

    def _outages(
        self, households: Households, rng: np.random.Generator, days: int
    ) -> dict[str, NDArray]:
        n_out = int(rng.poisson(self.outage_rate * days))
        comp = households.compound
        order = np.argsort(comp, kind="stable")
        uniq, start, counts = np.unique(comp[order], return_index=True, return_counts=True)
        hit = rng.integers(0, uniq.shape[0], n_out)
        t0 = rng.random(n_out) * days * 1440.0
        hh_parts, t_parts = [], []
        for k in range(n_out):
            members = order[start[hit[k]] : start[hit[k]] + counts[hit[k]]]
            subs = members[households.subscribers[members]]
            m = min(int(rng.binomial(subs.shape[0], self.outage_share)), subs.shape[0])
            if m == 0:
                continue
            callers = np.sort(rng.choice(subs, size=m, replace=False))
            hh_parts.append(callers)
            t_parts.append(t0[k] + rng.exponential(self.outage_spread, m))
        hh = np.concatenate(hh_parts) if hh_parts else np.zeros(0, dtype=np.int64)
        time = np.floor(np.concatenate(t_parts) * 10.0) / 10.0 if t_parts else np.zeros(0)
        keep = time < days * 1440.0
        hh, time = hh[keep].astype(np.int64), time[keep]
        n = hh.shape[0]
        return {
            "time": time,
            "hh_pos": hh,
            "household": households.ids[hh],
            "type": np.full(n, TICKET_OUTAGE, dtype=np.int8),
            "priority": np.zeros(n, dtype=np.int8),
            "skill": np.full(n, SKILL_FIBER, dtype=np.int64),
            "duration": np.full(n, 15.0),  # each caller's visit is short once the node is fixed
        }


@dataclass(frozen=True, eq=False)
class City:
    """A generated city: households, buildings, compounds, streets, barriers, staff, tickets.

    Attributes
    ----------
    households : Households
    staff : Staff
    stations : ndarray of float64, shape (n_stations, 2)
        Service halls / depots, metric x/y.
    streets : StreetGraph
    barriers : tuple of Barrier
    ticket_model : TicketModel
    tickets : Tickets
        ``days`` days of sampled tickets (a year by default); ``unit`` is -1.
    buildings : dict of str to ndarray
        ``id, x, y, width, depth, floors, households, compound``.
    compounds : dict of str to ndarray
        ``id, xmin, ymin, xmax, ymax, kind, plant_age, households`` (kind 0 compound,
        1 village).
    bounds : tuple of float
        ``(xmin, ymin, xmax, ymax)`` of the city.
    crs : str
    seed : int
    """

    households: Households
    staff: Staff
    stations: NDArray[np.float64]
    streets: StreetGraph
    barriers: tuple[Barrier, ...]
    ticket_model: TicketModel
    tickets: Tickets
    buildings: dict[str, NDArray]
    compounds: dict[str, NDArray]
    bounds: tuple[float, float, float, float]
    crs: str
    seed: int


# --------------------------------------------------------------------------- generator


def _river_y(x: NDArray[np.float64], side: float, phase: float, y0: float) -> NDArray[np.float64]:
    """Centre line of the river as a function of x (meanders across the city)."""
    return (
        y0
        + 0.42 * side
        + 0.07 * side * np.sin(2 * np.pi * (x - y0 * 0) / (0.55 * side) + phase)
        + (0.03 * side * np.sin(2 * np.pi * x / (0.21 * side) + 2 * phase))
    )


def generate_city(
    n_households: int = 20_000,
    seed: int = 0,
    *,
    days: int = 365,
    crs: str = DEFAULT_CRS,
    origin: tuple[float, float] = DEFAULT_ORIGIN,
    households_per_staff: float = 200.0,
) -> City:
    """Generate a synthetic city.

    Parameters
    ----------
    n_households : int
        Number of households, >= 100.
    seed : int
        Random seed; the same seed gives the same city.
    days : int
        Days of tickets to sample (365 by default; 0 for none).
    crs : str
        Metric CRS the coordinates are in.
    origin : tuple of float
        South-west corner of the city in ``crs``.
    households_per_staff : float
        Size of the roster: one person per this many households (5,000 staff per million).

    Returns
    -------
    City

    Raises
    ------
    InputError
        If ``n_households < 100``, ``days < 0`` or ``households_per_staff <= 0``.

    Examples
    --------
    >>> city = generate_city(500, seed=3, days=7)
    >>> city.tickets.n_tickets > 0
    True
    """
    if int(n_households) < 100:
        raise InputError("n_households", f"must be >= 100, got {n_households}")
    if days < 0:
        raise InputError("days", f"must be >= 0, got {days}")
    if households_per_staff <= 0:
        raise InputError("households_per_staff", f"must be > 0, got {households_per_staff}")
    n_households = int(n_households)
    ss = np.random.SeedSequence(seed)
    s_layout, s_comp, s_bld, s_hh, s_staff, s_tick = ss.spawn(6)
    rng_layout = np.random.default_rng(s_layout)
    x0, y0 = origin
    side = max(1_200.0, math.sqrt(n_households / _GROSS_DENSITY) * 1000.0)
    n_lines = int(math.ceil(side / _BLOCK)) + 1
    side = (n_lines - 1) * _BLOCK
    phase = float(rng_layout.uniform(0, 2 * np.pi))

    # Street lines with a little jitter (arterials stay straight).
    base = np.arange(n_lines) * _BLOCK
    arterial_line = (np.arange(n_lines) % _ARTERIAL_EVERY) == 0
    arterial_line[-1] = True
    jit_x = np.where(arterial_line, 0.0, rng_layout.uniform(-25, 25, n_lines))
    jit_y = np.where(arterial_line, 0.0, rng_layout.uniform(-25, 25, n_lines))
    xs = x0 + base + jit_x
    ys = y0 + base + jit_y

    streets, bridge_x = _streets(xs, ys, arterial_line, side, phase, x0, y0)
    barriers = _barriers(xs, ys, arterial_line, side, phase, x0, y0, bridge_x)

    # Blocks between street lines.
    bi, bj = np.meshgrid(np.arange(n_lines - 1), np.arange(n_lines - 1), indexing="ij")
    bi, bj = bi.ravel(), bj.ravel()
    bx0 = xs[bi] + _STREET_HALF_WIDTH
    bx1 = xs[bi + 1] - _STREET_HALF_WIDTH
    by0 = ys[bj] + _STREET_HALF_WIDTH
    by1 = ys[bj + 1] - _STREET_HALF_WIDTH
    cx, cy = (bx0 + bx1) / 2, (by0 + by1) / 2
    river_c = _river_y(cx - x0, side, phase, 0.0) + y0
    in_river = np.abs(cy - river_c) < (_RIVER_WIDTH / 2 + (by1 - by0) / 2)
    rail_y = y0 + 0.8 * side
    on_rail = (by0 < rail_y + 15) & (by1 > rail_y - 15)
    r = np.hypot(cx - (x0 + 0.5 * side), cy - (y0 + 0.5 * side)) / (0.5 * side)
    centrality = np.exp(-1.6 * r)  # 1 at the centre, ~0.2 at the edge
    compounds = _compounds(
        np.random.default_rng(s_comp),
        n_households,
        centrality,
        in_river | on_rail,
        bx0,
        by0,
        bx1,
        by1,
    )
    buildings = _buildings(np.random.default_rng(s_bld), compounds)
    households, plant_age_hh = _households(np.random.default_rng(s_hh), buildings, compounds, crs)
    stations = _stations(xs, ys, arterial_line, n_households, side, x0, y0)
    staff = _staff(np.random.default_rng(s_staff), households, stations, households_per_staff)
    model = _ticket_model(households, plant_age_hh)
    tickets = model.sample(households, days, s_tick) if days > 0 else _no_tickets()
    log.info(
        "generated city: %d households, %d buildings, %d compounds, %d staff, %d tickets",
        households.n_households,
        buildings["id"].shape[0],
        compounds["id"].shape[0],
        staff.n_staff,
        tickets.n_tickets,
    )
    return City(
        households=households,
        staff=staff,
        stations=stations,
        streets=streets,
        barriers=barriers,
        ticket_model=model,
        tickets=tickets,
        buildings=buildings,
        compounds=compounds,
        bounds=(x0, y0, x0 + side, y0 + side),
        crs=crs,
        seed=int(seed),
    )


def _no_tickets() -> Tickets:
    z = np.zeros(0)
    return Tickets(ids=z, time=z, x=z, y=z, unit=z, type=z, priority=z, skill=z, duration=z)


def _streets(
    xs: NDArray,
    ys: NDArray,
    arterial_line: NDArray,
    side: float,
    phase: float,
    x0: float,
    y0: float,
) -> tuple[StreetGraph, NDArray]:
    n = xs.shape[0]
    ii, jj = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    node = ii * n + jj
    nx_, ny_ = xs[ii].ravel(), ys[jj].ravel()
    # horizontal edges (along x) and vertical edges (along y)
    hu, hv = node[:-1, :].ravel(), node[1:, :].ravel()
    h_art = np.broadcast_to(arterial_line[None, :], (n - 1, n)).ravel()
    vu, vv = node[:, :-1].ravel(), node[:, 1:].ravel()
    v_art = np.broadcast_to(arterial_line[:, None], (n, n - 1)).ravel()
    u = np.concatenate([hu, vu])
    v = np.concatenate([hv, vv])
    art = np.concatenate([h_art, v_art])
    # River crossings: only bridges, on every other vertical arterial.
    ry_u = _river_y(nx_[u] - x0, side, phase, 0.0) + y0
    ry_v = _river_y(nx_[v] - x0, side, phase, 0.0) + y0
    crosses = np.sign(ny_[u] - ry_u) != np.sign(ny_[v] - ry_v)
    art_idx = np.flatnonzero(arterial_line)
    inner = art_idx[1:-1]
    bridge_lines = inner[::2] if inner.shape[0] >= 4 else (inner if inner.shape[0] else art_idx)
    bridge_x = xs[bridge_lines]
    is_vertical = np.concatenate([np.zeros(hu.shape[0], bool), np.ones(vu.shape[0], bool)])
    on_bridge_line = np.isin(np.round(nx_[u], 3), np.round(bridge_x, 3)) & is_vertical
    keep = ~crosses | on_bridge_line
    u, v, art = u[keep], v[keep], art[keep]
    length = np.hypot(nx_[u] - nx_[v], ny_[u] - ny_[v])
    speed = np.where(art, 35.0, 20.0)
    g = StreetGraph(
        node_x=nx_.astype(np.float64),
        node_y=ny_.astype(np.float64),
        edge_u=u.astype(np.int32),
        edge_v=v.astype(np.int32),
        edge_length=length,
        edge_speed=speed,
        edge_arterial=art,
    )
    return g, bridge_x


def _barriers(
    xs: NDArray,
    ys: NDArray,
    arterial_line: NDArray,
    side: float,
    phase: float,
    x0: float,
    y0: float,
    bridge_x: NDArray,
) -> tuple[Barrier, ...]:
    gap = 160.0  # bridge plus approaches
    px = np.linspace(x0, x0 + side, max(50, int(side / 40)))
    river_parts = _split_at(px, _river_y(px - x0, side, phase, 0.0) + y0, bridge_x, gap)
    rail_y = y0 + 0.8 * side
    rx = np.linspace(x0, x0 + side, max(20, int(side / 100)))
    rail_parts = _split_at(rx, np.full_like(rx, rail_y), xs[arterial_line], gap)
    return (Barrier("river", river_parts), Barrier("railway", rail_parts))


def _split_at(px: NDArray, py: NDArray, cut_x: NDArray, gap: float) -> tuple[NDArray, ...]:
    """Split a polyline (x increasing) into parts, leaving gaps of ``gap`` around ``cut_x``."""
    blocked = np.zeros(px.shape[0], dtype=bool)
    for cx in cut_x:
        blocked |= np.abs(px - cx) < gap / 2
    parts = []
    start = None
    for k in range(px.shape[0]):
        if not blocked[k] and start is None:
            start = k
        if (blocked[k] or k == px.shape[0] - 1) and start is not None:
            end = k if blocked[k] else k + 1
            if end - start >= 2:
                parts.append(np.column_stack([px[start:end], py[start:end]]))
            start = None
    return tuple(parts)


def _compounds(
    rng: np.random.Generator,
    n_households: int,
    centrality: NDArray,
    blocked: NDArray,
    bx0: NDArray,
    by0: NDArray,
    bx1: NDArray,
    by1: NDArray,
) -> dict[str, NDArray]:
    n_blocks = centrality.shape[0]
    u = rng.random(n_blocks)
    # Land use: parks, schools, commerce and industry leave blocks empty.
    p_res = 0.35 + 0.45 * centrality
    residential = (u < p_res) & ~blocked
    village = residential & (centrality < 0.3) & (rng.random(n_blocks) < 0.55)
    idx = np.flatnonzero(residential)
    is_village = village[idx]
    median = np.where(is_village, 90.0, 250.0 + 1_100.0 * centrality[idx] ** 1.5)
    raw = median * np.exp(0.55 * rng.standard_normal(idx.shape[0]))
    lo = np.where(is_village, 20.0, 50.0)
    hi = np.where(is_village, 400.0, 3_000.0)
    sizes = _fit_total(rng, raw, lo, hi, n_households)
    keep = sizes > 0
    idx, is_village, sizes = idx[keep], is_village[keep], sizes[keep]
    n = idx.shape[0]
    # Plant age: older networks in the centre, new estates at the edge, villages oldest.
    age = np.clip(6 + 14 * centrality[idx] + 5 * rng.standard_normal(n), 0, 28)
    age = np.where(is_village, np.clip(age + 8, 0, 30), age)
    return {
        "id": np.arange(n, dtype=np.int64),
        "xmin": bx0[idx],
        "ymin": by0[idx],
        "xmax": bx1[idx],
        "ymax": by1[idx],
        "kind": is_village.astype(np.int8),
        "plant_age": np.round(age, 1),
        "households": sizes.astype(np.int64),
    }


def _fit_total(
    rng: np.random.Generator, raw: NDArray, lo: NDArray, hi: NDArray, total: int
) -> NDArray[np.int64]:
    """Integer sizes in [lo, hi] (or 0 for dropped compounds) that add up to ``total``."""
    if raw.shape[0] == 0:
        raise InputError("n_households", "city too small to hold any compound")
    cap = int(hi.sum())
    if cap < total:
        raise InputError(
            "n_households", f"{total} households do not fit the generated blocks ({cap})"
        )
    scale = total / raw.sum()
    for _ in range(30):
        sizes = np.clip(np.round(raw * scale), lo, hi)
        s = sizes.sum()
        if abs(s - total) < 0.002 * total:
            break
        scale *= total / s
    sizes = sizes.astype(np.int64)
    lo_i, hi_i = lo.astype(np.int64), hi.astype(np.int64)
    order = rng.permutation(sizes.shape[0])
    diff = int(sizes.sum()) - total
    if diff > 0:  # shrink compounds towards their minimum, then drop whole ones
        for k in order:
            take = min(int(sizes[k] - lo_i[k]), diff)
            sizes[k] -= take
            diff -= take
            if diff == 0:
                break
        for k in order:
            if diff <= 0:
                break
            diff -= int(sizes[k])
            sizes[k] = 0
    if diff < 0:  # grow compounds towards their maximum
        need = -diff
        for k in order:
            if need == 0:
                break
            if sizes[k] == 0:
                continue
            add = int(min(hi_i[k] - sizes[k], need))
            sizes[k] += add
            need -= add
        if need:
            raise InputError("n_households", f"{total} households do not fit the generated blocks")
    return sizes


def _buildings(rng: np.random.Generator, compounds: dict[str, NDArray]) -> dict[str, NDArray]:
    """Place buildings inside each compound's block, filling it row by row."""
    sizes = compounds["households"]
    village = compounds["kind"] == 1
    n_c = sizes.shape[0]
    # Building type: walk-up (6 floors), mid-rise (11), tower (18-33); village houses 1-3.
    tall = rng.random(n_c)
    floors = np.where(
        village,
        1,
        np.where(sizes > 1200, np.where(tall < 0.7, 26, 18), np.where(sizes > 400, 11, 6)),
    )
    per_floor = np.where(village, 1, np.where(floors >= 18, 4, 6))
    cap = np.where(village, rng.integers(1, 4, n_c), floors * per_floor)
    n_b = np.maximum(1, np.ceil(sizes / cap)).astype(np.int64)
    comp_of = np.repeat(np.arange(n_c), n_b)
    rank = np.arange(comp_of.shape[0]) - np.repeat(np.cumsum(n_b) - n_b, n_b)
    nb_c = n_b[comp_of]
    # households per building: equal split, remainder to the first buildings
    base = sizes[comp_of] // nb_c
    rem = sizes[comp_of] % nb_c
    hh = base + (rank < rem)
    # position on a sub-lattice of the block
    cols = np.ceil(np.sqrt(nb_c)).astype(np.int64)
    rows = np.ceil(nb_c / cols).astype(np.int64)
    ci, ri = rank % cols, rank // cols
    xmin, xmax = compounds["xmin"][comp_of], compounds["xmax"][comp_of]
    ymin, ymax = compounds["ymin"][comp_of], compounds["ymax"][comp_of]
    fx = (ci + 0.5 + rng.uniform(-0.15, 0.15, ci.shape[0])) / cols
    fy = (ri + 0.5 + rng.uniform(-0.15, 0.15, ri.shape[0])) / rows
    bx = xmin + fx * (xmax - xmin)
    by = ymin + fy * (ymax - ymin)
    width = np.minimum(0.7 * (xmax - xmin) / cols, np.where(village[comp_of], 12.0, 60.0))
    depth = np.minimum(0.6 * (ymax - ymin) / rows, np.where(village[comp_of], 10.0, 16.0))
    keep = hh > 0
    n = int(keep.sum())
    return {
        "id": np.arange(n, dtype=np.int64),
        "x": np.round(bx[keep], 2),
        "y": np.round(by[keep], 2),
        "width": np.round(width[keep], 1),
        "depth": np.round(depth[keep], 1),
        "floors": floors[comp_of][keep].astype(np.int32),
        "households": hh[keep].astype(np.int64),
        "compound": comp_of[keep].astype(np.int64),
    }


def _households(
    rng: np.random.Generator, buildings: dict[str, NDArray], compounds: dict[str, NDArray], crs: str
) -> tuple[Households, NDArray]:
    b_of = np.repeat(np.arange(buildings["id"].shape[0]), buildings["households"])
    n = b_of.shape[0]
    comp = buildings["compound"][b_of]
    age = compounds["plant_age"][comp]
    village = compounds["kind"][comp] == 1
    floors = buildings["floors"][b_of]
    # Segment mix: new towers -> premium/family; old walk-ups -> family/senior; villages ->
    # senior TV and low-value prepaid; a few small businesses everywhere.
    u = rng.random(n)
    new = age < 8
    p_prem = np.where(village, 0.03, np.where(new, 0.25, 0.12)) * np.where(floors >= 18, 1.3, 1.0)
    p_fam = np.where(village, 0.27, 0.40)
    p_prep = np.where(village, 0.30, 0.20)
    p_sen = np.where(village, 0.38, np.where(new, 0.10, 0.22))
    c1 = p_prem
    c2 = c1 + p_fam
    c3 = c2 + p_prep
    c4 = c3 + p_sen
    segment = np.select(
        [u < c1, u < c2, u < c3, u < c4], [_PREMIUM, _FAMILY, _PREPAID, _SENIOR_TV], _BUSINESS
    )
    seg = segment.astype(np.int8)
    p_tv = np.array([0.85, 0.80, 0.35, 0.92, 0.60])[seg]
    p_bb = np.array([0.95, 0.75, 0.30, 0.20, 0.90])[seg]
    p_mob = np.array([0.85, 0.60, 0.90, 0.25, 0.70])[seg]
    tv = rng.random(n) < p_tv
    bb = rng.random(n) < p_bb
    mob = rng.random(n) < p_mob
    arpu = (
        tv * 28.0
        + bb * np.where(seg == _PREMIUM, 99.0, 59.0)
        + mob * np.where(seg == _PREPAID, 19.0, 48.0)
    )
    arpu = np.round(arpu * np.exp(0.15 * rng.standard_normal(n)), 2)
    arpu = np.where(seg == _BUSINESS, np.round(arpu * 2.5, 2), arpu)
    contract_end = rng.integers(-30, 366, n).astype(np.int32)
    logit = (
        -2.2
        + np.array([-0.6, -0.2, 0.9, -0.3, -0.4])[seg]
        + 0.03 * age
        - 0.008 * arpu
        + np.where(contract_end < 60, 0.6, 0.0)
        + 0.4 * rng.standard_normal(n)
    )
    churn = np.round(1.0 / (1.0 + np.exp(-logit)), 4)
    vip = (seg == _BUSINESS) | (arpu > np.quantile(arpu, 0.99))
    jitter = 0.5
    hh = Households(
        ids=np.arange(1, n + 1, dtype=np.int64),
        x=np.round(buildings["x"][b_of] + rng.uniform(-jitter, jitter, n), 2),
        y=np.round(buildings["y"][b_of] + rng.uniform(-jitter, jitter, n), 2),
        building=buildings["id"][b_of],
        compound=comp.astype(np.int64),
        tv=tv,
        broadband=bb,
        mobile=mob,
        arpu=arpu,
        contract_end=contract_end,
        churn_risk=churn,
        segment=seg,
        vip=vip,
        crs=crs,
    )
    return hh, age


def _stations(
    xs: NDArray,
    ys: NDArray,
    arterial_line: NDArray,
    n_households: int,
    side: float,
    x0: float,
    y0: float,
) -> NDArray[np.float64]:
    """Stations at arterial crossings, spread out by farthest-point selection."""
    ax, ay = xs[arterial_line], ys[arterial_line]
    if ax.shape[0] > 3:  # keep stations off the city's edge
        ax, ay = ax[1:-1], ay[1:-1]
    cand = np.column_stack([np.repeat(ax, ay.shape[0]), np.tile(ay, ax.shape[0])])
    n_st = int(min(cand.shape[0], max(3, round(n_households / 60_000))))
    centre = np.array([x0 + side / 2, y0 + side / 2])
    chosen = [int(np.argmin(np.hypot(*(cand - centre).T)))]
    dmin = np.hypot(*(cand - cand[chosen[0]]).T)
    for _ in range(n_st - 1):
        k = int(np.argmax(dmin))
        chosen.append(k)
        dmin = np.minimum(dmin, np.hypot(*(cand - cand[k]).T))
    return np.ascontiguousarray(cand[chosen], dtype=np.float64)


def _staff(
    rng: np.random.Generator, households: Households, stations: NDArray, households_per_staff: float
) -> Staff:
    n_total = max(3, int(round(households.n_households / households_per_staff)))
    n_tech = max(1, int(round(0.34 * n_total)))
    n_am = max(1, int(round(0.26 * n_total)))
    n_inst = max(1, n_total - n_tech - n_am)
    role = np.concatenate(
        [
            np.full(n_inst, ROLE_INSTALLER),
            np.full(n_tech, ROLE_TECHNICIAN),
            np.full(n_am, ROLE_ACCOUNT_MANAGER),
        ]
    ).astype(np.int8)
    n = role.shape[0]
    # Technicians start at a station; installers and account managers from home.
    home = rng.integers(0, households.n_households, n)
    x = households.x[home].copy()
    y = households.y[home].copy()
    tech = role == ROLE_TECHNICIAN
    st = rng.integers(0, stations.shape[0], n)
    x[tech], y[tech] = stations[st[tech], 0], stations[st[tech], 1]
    evening = tech & (rng.random(n) < 0.2)
    shift_start = np.where(role == ROLE_ACCOUNT_MANAGER, 540.0, np.where(evening, 720.0, 480.0))
    shift_end = np.where(role == ROLE_ACCOUNT_MANAGER, 1050.0, shift_start + 540.0)
    u = rng.random(n)
    skills = np.where(
        tech,
        SKILL_REPAIR | np.where(u < 0.5, SKILL_FIBER, 0) | np.where(u > 0.7, SKILL_INSTALL, 0),
        np.where(
            role == ROLE_INSTALLER,
            SKILL_INSTALL | np.where(u < 0.4, SKILL_REPAIR, 0),
            np.where(u < 0.25, SKILL_SENIOR, 0),
        ),
    )
    capacity = np.where(role == ROLE_ACCOUNT_MANAGER, 900.0, 480.0)
    return Staff(
        ids=np.arange(1, n + 1, dtype=np.int64),
        role=role,
        x=x,
        y=y,
        shift_start=shift_start,
        shift_end=shift_end,
        skills=skills.astype(np.int64),
        capacity=capacity,
    )


def _ticket_model(households: Households, plant_age: NDArray) -> TicketModel:
    subs = households.subscribers
    # Repairs per subscriber per year rise with plant age; TV-heavy segments call more.
    per_year = (0.35 + 0.045 * plant_age) * np.array([1.0, 1.0, 0.7, 1.3, 1.2])[households.segment]
    repair = np.where(subs, per_year / 365.0, 0.0)
    install = np.where(subs, 0.06, 0.12) / 365.0 * np.ones(households.n_households)
    hour = np.array(
        [
            0.1,
            0.05,
            0.05,
            0.05,
            0.05,
            0.1,
            0.3,
            0.8,
            1.4,
            1.7,
            1.7,
            1.5,
            1.2,
            1.3,
            1.4,
            1.4,
            1.4,
            1.5,
            1.8,
            2.1,
            2.0,
            1.4,
            0.8,
            0.3,
        ]
    )
    inst_hour = np.array(
        [
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0.2,
            1.5,
            2.2,
            2.4,
            2.0,
            1.2,
            1.8,
            2.2,
            2.2,
            2.0,
            1.6,
            1.2,
            1.0,
            0.5,
            0,
            0,
            0,
        ]
    )
    dow = np.array([1.05, 0.95, 0.95, 0.95, 1.0, 1.05, 1.05])
    return TicketModel(
        repair_rate=repair,
        install_rate=install,
        hour_profile=hour / hour.mean(),
        install_hour_profile=inst_hour / inst_hour.mean(),
        dow_profile=dow / dow.mean(),
        outage_rate=households.n_households / 150_000.0,
        outage_share=0.08,
        outage_spread=40.0,
        duration_median=np.array([45.0, 80.0, 15.0]),
        duration_sigma=0.45,
        fiber_share=0.2,
    )
