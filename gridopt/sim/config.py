"""Simulation configuration: :class:`SimConfig` and :class:`Campaign`, validated once.

Times are in minutes from the start of the horizon (day 0 is a Monday, 00:00). A
configuration is built from plain arrays, from gridopt objects (:meth:`SimConfig.from_city`)
or as a plain M/M/c queue for validation (:meth:`SimConfig.mmc`), and round-trips through
plain dicts (:meth:`SimConfig.to_dict` / :meth:`SimConfig.from_dict`), which is the TOML /
JSON file format of ``gridopt simulate``: one table with the field names below, arrays as
lists, and an optional ``[campaign]`` table with the fields of :class:`Campaign`.

Examples
--------
>>> from gridopt.sim.config import SimConfig
>>> cfg = SimConfig(ticket_rate=[4.0, 6.0], staff_grid=[0, 0, 1], neighbours=[[1], [0]],
...                 horizon=7 * 1440.0)
>>> cfg.n_grids, cfg.n_staff, cfg.policy
(2, 3, 'grid')
>>> SimConfig.from_dict(cfg.to_dict()).ticket_rate.tolist()
[4.0, 6.0]
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from gridopt.errors import InputError, first_rows
from gridopt.model import SEGMENTS

__all__ = ["POLICIES", "DISTRIBUTIONS", "Campaign", "SimConfig"]

log = logging.getLogger("gridopt.sim")

POLICIES: tuple[str, ...] = ("central", "grid", "hybrid")
DISTRIBUTIONS: tuple[str, ...] = ("lognormal", "gamma", "exponential")
_N_SEG = len(SEGMENTS)
DAY = 1440.0


def _arr(name: str, value: Any, dtype: Any, n: int | None = None, ndim: int = 1) -> NDArray[Any]:
    try:
        a = np.array(value, dtype=dtype, copy=True)
    except (TypeError, ValueError) as exc:
        raise InputError(
            name, f"cannot be read as a {np.dtype(dtype).name} array ({exc})"
        ) from None
    if a.ndim != ndim:
        raise InputError(name, f"must be {ndim}-dimensional, got shape {a.shape}")
    if n is not None and a.shape[0] != n:
        raise InputError(name, f"must have {n} entries, got {a.shape[0]}")
    if np.issubdtype(a.dtype, np.floating) and a.size:
        bad = ~np.isfinite(a.reshape(a.shape[0], -1)).all(axis=1)
        if bad.any():
            raise InputError(name, "must be finite", first_rows(bad), int(bad.sum()))
    a = np.ascontiguousarray(a)
    a.setflags(write=False)
    return a


def _check(
    name: str,
    a: NDArray[Any],
    lo: float | None = None,
    hi: float | None = None,
    strict_lo: bool = False,
) -> None:
    if a.size == 0:
        return
    flat = a.reshape(a.shape[0], -1)
    bad = np.zeros(a.shape[0], bool)
    if lo is not None:
        bad |= ((flat <= lo) if strict_lo else (flat < lo)).any(axis=1)
    if hi is not None:
        bad |= (flat > hi).any(axis=1)
    if bad.any():
        op = ">" if strict_lo else ">="
        rng = f"{op} {lo:g}" if hi is None else f"in [{lo:g}, {hi:g}]"
        raise InputError(name, f"must be {rng}", first_rows(bad), int(bad.sum()))


def _prob(name: str, v: float) -> float:
    v = float(v)
    if not 0.0 <= v <= 1.0:
        raise InputError(name, f"is a probability and must lie in [0, 1], got {v:g}")
    return v


def _pos(name: str, v: float, allow_zero: bool = False) -> float:
    v = float(v)
    if not np.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        raise InputError(name, f"must be {'>= 0' if allow_zero else '> 0'}, got {v:g}")
    return v


def _set(obj: object, name: str, value: object) -> None:
    object.__setattr__(obj, name, value)


@dataclass(frozen=True)
class Campaign:
    """A three-wave marketing campaign over randomly drawn target households.

    Wave 1 (SMS / push / e-mail) on ``start_day`` reaches, gets responses and converts;
    wave 2 (outbound calls) from ``call_day`` for ``call_days`` days calls those not yet
    converted with ``agents * calls_per_agent`` calls a day, up to ``attempts`` each, with a
    right-party contact rate, an abandonment share (the dialer's cap), acceptance and a
    same-day second call to hesitant customers; wave 3 sends field staff to the door of those
    wave 2 never reached, ``door_capacity`` a grid a day from ``door_day`` for ``door_days``
    days, as low-priority jobs that compete with repairs for field hours. Every contact
    multiplies later response chances by ``fatigue``. A random ``holdout_share`` of the
    targets is never contacted; lift is the conversion of treated minus hold-out targets
    (both convert on their own with ``organic_rate``).

    Parameters
    ----------
    targets : int
        Households targeted (drawn in proportion to households per grid), <= households.
    response_by_segment : tuple of 5 float
        Response multiplier per segment of :data:`gridopt.model.SEGMENTS`, >= 0.

    Examples
    --------
    >>> Campaign(targets=1000, sms_reach=0.9).holdout_share
    0.1
    """

    targets: int
    holdout_share: float = 0.1
    organic_rate: float = 0.01
    start_day: int = 0
    fatigue: float = 0.85
    response_by_segment: Any = (1.0, 1.0, 1.5, 0.6, 0.8)
    sms_reach: float = 0.85
    sms_response: float = 0.04
    sms_convert: float = 0.5
    call_day: int = 2
    call_days: int = 5
    agents: int = 10
    calls_per_agent: float = 80.0
    attempts: int = 3
    right_party: float = 0.45
    call_accept: float = 0.12
    call_convert: float = 0.7
    hesitant: float = 0.25
    second_call_accept: float = 0.2
    abandon_cap: float = 0.03
    door_day: int = 8
    door_days: int = 10
    door_capacity: int = 4
    door_minutes: float = 20.0
    door_home: float = 0.55
    door_accept: float = 0.2
    door_convert: float = 0.8

    def __post_init__(self) -> None:
        t = int(self.targets)
        if t < 1:
            raise InputError("campaign.targets", f"must be >= 1, got {self.targets}")
        _set(self, "targets", t)
        for name in (
            "holdout_share",
            "organic_rate",
            "fatigue",
            "sms_reach",
            "sms_response",
            "sms_convert",
            "right_party",
            "call_accept",
            "call_convert",
            "hesitant",
            "second_call_accept",
            "abandon_cap",
            "door_home",
            "door_accept",
            "door_convert",
        ):
            _set(self, name, _prob(f"campaign.{name}", getattr(self, name)))
        for name in (
            "start_day",
            "call_day",
            "call_days",
            "agents",
            "attempts",
            "door_day",
            "door_days",
            "door_capacity",
        ):
            v = int(getattr(self, name))
            if v < 0:
                raise InputError(f"campaign.{name}", f"must be >= 0, got {v}")
            _set(self, name, v)
        _set(self, "calls_per_agent", _pos("campaign.calls_per_agent", self.calls_per_agent, True))
        _set(self, "door_minutes", _pos("campaign.door_minutes", self.door_minutes))
        seg = _arr("campaign.response_by_segment", self.response_by_segment, np.float64, _N_SEG)
        _check("campaign.response_by_segment", seg, 0.0)
        _set(self, "response_by_segment", tuple(float(v) for v in seg))
        if self.call_day < self.start_day:
            raise InputError("campaign.call_day", "wave 2 cannot start before wave 1 (start_day)")
        if self.door_day < self.call_day + self.call_days:
            raise InputError(
                "campaign.door_day",
                f"wave 3 must start after wave 2 ends (day {self.call_day + self.call_days})",
            )

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-ready fields."""
        d = dataclasses.asdict(self)
        d["response_by_segment"] = [float(v) for v in self.response_by_segment]
        return d


@dataclass(frozen=True, eq=False)
class SimConfig:
    """Everything one simulation needs, validated.

    Parameters
    ----------
    ticket_rate : ndarray of float64, shape (n_grids,)
        Mean tickets (repairs and installs) per day arriving in each grid, >= 0, not all 0.
    staff_grid : ndarray of int32, shape (n_staff,)
        Home grid of each field staff member; every grid needs at least one.
    shift_start, shift_end : ndarray of float64, shape (n_staff,)
        Shift in minutes after midnight (``shift_end`` up to 2880 for night shifts). A shift
        of 1440 minutes on all seven days means on duty around the clock.
    workdays : ndarray of int8, shape (n_staff,)
        Bitmask of the days a shift starts (bit 0 Monday ... bit 6 Sunday).
    break_start, break_minutes : ndarray of float64, shape (n_staff,)
        Break offset after the shift start and its length (0: no break).
    neighbours : sequence of sequences of int, optional
        Neighbouring grids of each grid (symmetric), for grid-direct help.
    region : ndarray of int32, shape (n_grids,)
        Dispatch region of each grid (central and hybrid pooling); default one region.
    hour_profile : ndarray of float64, shape (24,)
        Relative arrival rate per hour of the day (normalised with ``day_profile`` so that
        the weekly mean rate is ``ticket_rate``).
    day_profile : ndarray of float64, shape (7,)
        Relative arrival rate per day of the week (Monday first).
    travel_minutes : ndarray of float64, shape (n_grids,)
        Mean travel to a job inside the grid from inside it, >= 0.
    travel_matrix : ndarray of float64, shape (n_grids, n_grids), optional
        Mean travel minutes from one grid to another; without it, travel to another grid
        is ``travel_minutes[to] * travel_other_factor``.
    travel_cv : float
        Coefficient of variation of travel (lognormal noise).
    duration : {"lognormal", "gamma", "exponential"}
        Family of repair and install durations.
    repair_minutes, repair_cv, install_minutes, install_cv : float
        Mean and coefficient of variation of on-site minutes.
    install_share : float
        Share of tickets that are installs (priority 2; repairs are 1, outages 0).
    fix_probability : float
        Chance a repair visit fixes the fault; otherwise a revisit after ``revisit_delay``.
    policy : {"central", "grid", "hybrid"}
        ``central``: a dispatch desk (mean ``desk_delay``, exponential) sends the job to
        the region's pooled staff; ``grid``: straight to the grid's own staff, neighbours
        help when the grid's queue reaches ``help_threshold``; ``hybrid``: own staff
        first, after ``desk_delay`` still waiting the job goes to the region's pool.
    sla_minutes : float
        Arrival-to-on-site target; ``wait_target`` is the queue-wait target.
    outage_rate, outage_size, outage_spread : float
        Outage bursts per day (city-wide), mean tickets per burst (>= 1), minutes over
        which a burst's tickets arrive.
    segment_share, sale_probability : ndarray of float64, shape (5,)
        Household segment mix of tickets and the base sale chance per in-home visit.
    sale_install_factor, sale_repair_factor, sale_wait_hours : float
        Visit situation: installs multiply the sale chance, repairs multiply it and decay
        with ``exp(-wait / sale_wait_hours)`` (a long wait sells less).
    households : ndarray of float64, shape (n_grids,), optional
        Households per grid (campaign targets); default proportional to ``ticket_rate``.
    campaign : Campaign, optional
    arrival_times : ndarray of float64, shape (n_arrivals,), optional
        A ticket stream to replay (minutes, sorted) instead of drawing Poisson arrivals
        from ``ticket_rate`` and the profiles; every replication sees the same stream
        (types, durations and travel stay random). ``ticket_rate`` still sets the
        offered load and buffer sizes.
    arrival_grids : ndarray of int64, shape (n_arrivals,), optional
        Grid of each replayed ticket (default grid 0).
    horizon, warmup, drain : float
        Minutes simulated, deleted at the start, and allowed after the horizon for open
        tickets to finish.
    hist_bin, fix_bin, n_bins : float, float, int
        Histogram resolution (minutes) of waits / on-site responses and of fix times.
    job_capacity : int, optional
        Open jobs one replication may hold; overflowing marks it unstable.

    Raises
    ------
    InputError
        On wrong shapes, zero or negative rates and durations, probabilities outside
        [0, 1], a grid without staff, a horizon not longer than the warm-up, a campaign
        contacting more households than exist.
    """

    ticket_rate: Any
    staff_grid: Any
    shift_start: Any = None
    shift_end: Any = None
    workdays: Any = None
    break_start: Any = None
    break_minutes: Any = None
    neighbours: Any = None
    region: Any = None
    hour_profile: Any = None
    day_profile: Any = None
    travel_minutes: Any = None
    travel_matrix: Any = None
    travel_cv: float = 0.4
    travel_other_factor: float = 2.0
    duration: str = "lognormal"
    repair_minutes: float = 45.0
    repair_cv: float = 0.6
    install_minutes: float = 90.0
    install_cv: float = 0.3
    install_share: float = 0.2
    fix_probability: float = 0.85
    revisit_delay: float = 1440.0
    policy: str = "grid"
    desk_delay: float = 30.0
    help_threshold: int = 3
    sla_minutes: float = 240.0
    wait_target: float = 60.0
    outage_rate: float = 0.0
    outage_size: float = 8.0
    outage_spread: float = 60.0
    segment_share: Any = (0.15, 0.35, 0.25, 0.2, 0.05)
    sale_probability: Any = (0.04, 0.06, 0.1, 0.02, 0.05)
    sale_install_factor: float = 1.5
    sale_repair_factor: float = 1.0
    sale_wait_hours: float = 48.0
    households: Any = None
    campaign: Campaign | None = None
    horizon: float = 365 * DAY
    warmup: float = 0.0
    drain: float = 30 * DAY
    hist_bin: float = 1.0
    fix_bin: float = 10.0
    n_bins: int = 20160
    job_capacity: int | None = None
    arrival_times: Any = None
    arrival_grids: Any = None
    # derived (not init)
    nb_indptr: NDArray[np.int64] = field(init=False, repr=False)
    nb_indices: NDArray[np.int64] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        rate = _arr("ticket_rate", self.ticket_rate, np.float64)
        if rate.size == 0:
            raise InputError("ticket_rate", "is empty: no grids")
        _check("ticket_rate", rate, 0.0)
        if rate.sum() <= 0:
            raise InputError("ticket_rate", "must be > 0 somewhere: no tickets would arrive")
        g = rate.shape[0]
        _set(self, "ticket_rate", rate)
        sg = _arr("staff_grid", self.staff_grid, np.int64)
        if sg.size == 0:
            raise InputError("staff_grid", "is empty: no field staff")
        _check("staff_grid", sg, 0, g - 1)
        _set(self, "staff_grid", sg.astype(np.int32))
        n = sg.shape[0]
        missing = np.flatnonzero(np.bincount(sg, minlength=g) == 0)
        if missing.size:
            raise InputError("staff_grid", "grids without staff", first_rows(missing), missing.size)

        def per_staff(name: str, default: float, dtype: Any = np.float64) -> NDArray[Any]:
            v = getattr(self, name)
            if v is None or np.ndim(v) == 0:
                v = np.full(n, default if v is None else v)
            return _arr(name, v, dtype, n)

        s0 = per_staff("shift_start", 480.0)
        s1 = per_staff("shift_end", 1020.0)
        _check("shift_start", s0, 0.0, DAY)
        _check("shift_end", s1, 0.0, 2 * DAY)
        bad = (s1 <= s0) | (s1 - s0 > DAY)
        if bad.any():
            raise InputError(
                "shift_end",
                "must be after shift_start, at most 24 h later",
                first_rows(bad),
                int(bad.sum()),
            )
        wd = per_staff("workdays", 127, np.int64)
        _check("workdays", wd, 1, 127)
        b0 = per_staff("break_start", 240.0)
        b1 = per_staff("break_minutes", 30.0)
        _check("break_start", b0, 0.0)
        _check("break_minutes", b1, 0.0)
        bad = (b1 > 0) & (b0 + b1 > s1 - s0)
        if bad.any():
            raise InputError("break_start", "break must lie inside the shift", first_rows(bad))
        _set(self, "shift_start", s0)
        _set(self, "shift_end", s1)
        _set(self, "workdays", wd.astype(np.int8))
        _set(self, "break_start", b0)
        _set(self, "break_minutes", b1)

        # neighbours -> CSR
        if self.neighbours is None:
            nb = [[] for _ in range(g)]
        else:
            nb = [list(map(int, x)) for x in self.neighbours]
        if len(nb) != g:
            raise InputError("neighbours", f"must have one list per grid ({g}), got {len(nb)}")
        indptr = np.zeros(g + 1, np.int64)
        indptr[1:] = np.cumsum([len(x) for x in nb])
        idx = np.array([v for x in nb for v in x], dtype=np.int64)
        if idx.size:
            rows = np.repeat(np.arange(g), np.diff(indptr))
            bad = (idx < 0) | (idx >= g) | (idx == rows)
            if bad.any():
                raise InputError(
                    "neighbours",
                    f"must be other grids in 0..{g - 1}",
                    first_rows(np.unique(rows[bad])),
                )
            fwd = set(zip(rows.tolist(), idx.tolist(), strict=True))
            asym = [a for a, b in fwd if (b, a) not in fwd]
            if asym:
                raise InputError("neighbours", "must be symmetric", sorted(set(asym))[:5])
        _set(self, "neighbours", tuple(tuple(x) for x in nb))
        _set(self, "nb_indptr", indptr)
        _set(self, "nb_indices", idx)
        reg = (
            np.zeros(g, np.int64)
            if self.region is None
            else _arr("region", self.region, np.int64, g)
        )
        _check("region", reg, 0)
        _, reg = np.unique(reg, return_inverse=True)
        _set(self, "region", _arr("region", reg, np.int32, g))

        hp = _arr(
            "hour_profile",
            np.ones(24) if self.hour_profile is None else self.hour_profile,
            np.float64,
            24,
        )
        dp = _arr(
            "day_profile",
            np.ones(7) if self.day_profile is None else self.day_profile,
            np.float64,
            7,
        )
        _check("hour_profile", hp, 0.0)
        _check("day_profile", dp, 0.0)
        if hp.sum() <= 0 or dp.sum() <= 0:
            raise InputError("hour_profile", "profiles must be > 0 somewhere")
        _set(self, "hour_profile", hp)
        _set(self, "day_profile", dp)
        tm = np.full(g, 15.0) if self.travel_minutes is None else self.travel_minutes
        tm = _arr(
            "travel_minutes", np.broadcast_to(tm, (g,)) if np.ndim(tm) == 0 else tm, np.float64, g
        )
        _check("travel_minutes", tm, 0.0)
        _set(self, "travel_minutes", tm)
        if self.travel_matrix is not None:
            mat = _arr("travel_matrix", self.travel_matrix, np.float64, g, ndim=2)
            if mat.shape != (g, g):
                raise InputError("travel_matrix", f"must be {g} x {g}, got {mat.shape}")
            _check("travel_matrix", mat, 0.0)
            _set(self, "travel_matrix", mat)
        _set(self, "travel_cv", _pos("travel_cv", self.travel_cv, True))
        _set(self, "travel_other_factor", _pos("travel_other_factor", self.travel_other_factor))
        if self.duration not in DISTRIBUTIONS:
            raise InputError(
                "duration", f"must be one of {', '.join(DISTRIBUTIONS)}, got {self.duration!r}"
            )
        for name in (
            "repair_minutes",
            "install_minutes",
            "revisit_delay",
            "sale_wait_hours",
            "hist_bin",
            "fix_bin",
            "outage_spread",
        ):
            _set(self, name, _pos(name, getattr(self, name)))
        for name in (
            "repair_cv",
            "install_cv",
            "desk_delay",
            "sla_minutes",
            "wait_target",
            "outage_rate",
            "sale_install_factor",
            "sale_repair_factor",
            "warmup",
            "drain",
        ):
            _set(self, name, _pos(name, getattr(self, name), allow_zero=True))
        for name in ("install_share", "fix_probability"):
            _set(self, name, _prob(name, getattr(self, name)))
        if self.fix_probability == 0:
            raise InputError("fix_probability", "must be > 0: repairs would never end")
        if float(self.outage_size) < 1:
            raise InputError(
                "outage_size", f"must be >= 1 ticket per burst, got {self.outage_size}"
            )
        _set(self, "outage_size", float(self.outage_size))
        if self.policy not in POLICIES:
            raise InputError("policy", f"must be one of {', '.join(POLICIES)}, got {self.policy!r}")
        if int(self.help_threshold) < 1:
            raise InputError("help_threshold", f"must be >= 1, got {self.help_threshold}")
        _set(self, "help_threshold", int(self.help_threshold))
        seg = _arr("segment_share", self.segment_share, np.float64, _N_SEG)
        _check("segment_share", seg, 0.0)
        if seg.sum() <= 0:
            raise InputError("segment_share", "must be > 0 somewhere")
        _set(self, "segment_share", seg)
        sp = _arr("sale_probability", self.sale_probability, np.float64, _N_SEG)
        _check("sale_probability", sp, 0.0, 1.0)
        _set(self, "sale_probability", sp)
        hh = rate if self.households is None else _arr("households", self.households, np.float64, g)
        _check("households", hh, 0.0)
        _set(self, "households", hh)
        horizon = _pos("horizon", self.horizon)
        if horizon <= self.warmup:
            raise InputError(
                "horizon", f"must be longer than the warm-up ({self.warmup:g}), got {horizon:g}"
            )
        _set(self, "horizon", horizon)
        if int(self.n_bins) < 10:
            raise InputError("n_bins", f"must be >= 10, got {self.n_bins}")
        _set(self, "n_bins", int(self.n_bins))
        if self.campaign is not None:
            camp = self.campaign
            if isinstance(camp, Mapping):
                camp = Campaign(**camp)
            if camp.targets > hh.sum():
                raise InputError(
                    "campaign.targets",
                    f"contacts {camp.targets} households but only {hh.sum():.0f} exist",
                )
            if (camp.door_day + camp.door_days) * DAY > horizon:
                raise InputError("campaign.door_days", "the campaign must end inside the horizon")
            _set(self, "campaign", camp)
        if self.job_capacity is not None and int(self.job_capacity) < 16:
            raise InputError("job_capacity", f"must be >= 16, got {self.job_capacity}")
        if self.arrival_times is not None:
            at = _arr("arrival_times", self.arrival_times, np.float64)
            _check("arrival_times", at, 0.0)
            bad = np.r_[False, np.diff(at) < 0]
            if bad.any():
                raise InputError(
                    "arrival_times", "must be sorted (non-decreasing)", first_rows(bad)
                )
            ag = np.zeros(at.shape[0], np.int64)
            if self.arrival_grids is not None:
                ag = _arr("arrival_grids", self.arrival_grids, np.int64, at.shape[0])
                _check("arrival_grids", ag, 0.0, g - 1.0)
            _set(self, "arrival_times", at)
            _set(self, "arrival_grids", ag)
        elif self.arrival_grids is not None:
            raise InputError("arrival_grids", "given without arrival_times")

    # ------------------------------------------------------------------ properties
    @property
    def n_grids(self) -> int:
        """Number of grids."""
        return int(self.ticket_rate.shape[0])

    @property
    def n_staff(self) -> int:
        """Number of field staff."""
        return int(self.staff_grid.shape[0])

    @property
    def n_regions(self) -> int:
        """Number of dispatch regions."""
        return int(self.region.max()) + 1

    def offered_load(self) -> float:
        """Offered work over staffed time (city-wide), the steady-state utilisation.

        Work per ticket is travel inside the grid plus the mean on-site time times the mean
        number of visits; staffed time counts shift minutes per week less breaks.

        Examples
        --------
        >>> cfg = SimConfig.mmc(arrival_rate=0.5, service_rate=1.0, c=1, horizon=100.0)
        >>> round(cfg.offered_load(), 3)
        0.5
        """
        w = self.ticket_rate / self.ticket_rate.sum()
        travel = float(np.dot(w, self.travel_minutes))
        visits = 1.0 / self.fix_probability
        work = (1 - self.install_share) * (
            self.repair_minutes + travel
        ) * visits + self.install_share * (self.install_minutes + travel)
        out_per_day = self.outage_rate * self.outage_size * (self.repair_minutes + travel) * visits
        demand = self.ticket_rate.sum() * work + out_per_day
        days = np.array([bin(int(d)).count("1") for d in self.workdays]) / 7.0
        shift = (self.shift_end - self.shift_start - self.break_minutes) * days
        return float(demand / shift.sum())

    def mmc_params(self) -> tuple[float, float, int] | None:
        """``(arrival_rate, service_rate, c)`` when this is a plain M/M/c queue, else None."""
        plain = (
            self.arrival_times is None
            and self.n_grids == 1
            and self.duration == "exponential"
            and self.install_share == 0
            and self.fix_probability == 1
            and self.outage_rate == 0
            and self.campaign is None
            and float(self.travel_minutes[0]) == 0
            and np.all(self.shift_end - self.shift_start >= DAY)
            and np.all(self.workdays == 127)
            and np.all(self.break_minutes == 0)
            and np.all(self.hour_profile == self.hour_profile[0])
            and np.all(self.day_profile == self.day_profile[0])
        )
        if not plain:
            return None
        return float(self.ticket_rate[0] / DAY), 1.0 / self.repair_minutes, self.n_staff

    # ------------------------------------------------------------------ constructors
    @classmethod
    def mmc(
        cls,
        arrival_rate: float,
        service_rate: float,
        c: int,
        horizon: float,
        warmup: float = 0.0,
        wait_target: float | None = None,
    ) -> SimConfig:
        """A plain M/M/c queue (one grid, ``c`` staff on duty around the clock, no travel).

        Time is in minutes: rates are per minute.

        Parameters
        ----------
        arrival_rate, service_rate : float
            Customers per minute arriving and served by one server, > 0.
        c : int
            Servers, >= 1.
        horizon, warmup : float
            Customers arriving in ``[warmup, horizon)`` are measured.
        wait_target : float, optional
            Wait target for the within-target share (default: the mean service time).

        Examples
        --------
        >>> cfg = SimConfig.mmc(arrival_rate=0.9, service_rate=1.0, c=1, horizon=1e4, warmup=1e3)
        >>> cfg.mmc_params()
        (0.9, 1.0, 1)
        """
        lam = _pos("arrival_rate", arrival_rate)
        mu = _pos("service_rate", service_rate)
        c = int(c)
        if c < 1:
            raise InputError("c", f"must be >= 1 server, got {c}")
        gap = c * mu - lam
        # waits beyond 12 / (c mu - lam) are rarer than 1e-5: the histogram covers them
        span = 12.0 / gap if gap > 0 else 100.0 / mu
        return cls(
            ticket_rate=[lam * DAY],
            staff_grid=np.zeros(c, np.int32),
            shift_start=0.0,
            shift_end=DAY,
            workdays=127,
            break_start=0.0,
            break_minutes=0.0,
            travel_minutes=0.0,
            duration="exponential",
            repair_minutes=1.0 / mu,
            repair_cv=1.0,
            install_share=0.0,
            fix_probability=1.0,
            policy="grid",
            sla_minutes=1.0 / mu if wait_target is None else wait_target,
            wait_target=1.0 / mu if wait_target is None else float(wait_target),
            horizon=horizon,
            warmup=warmup,
            drain=0.0,
            hist_bin=span / 4000.0,
            fix_bin=span / 4000.0,
            n_bins=4000,
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SimConfig:
        """Build from a plain dict (the ``gridopt simulate`` file format).

        Unknown keys raise :class:`~gridopt.errors.InputError` naming them.
        """
        names = {f.name for f in dataclasses.fields(cls) if f.init}
        unknown = sorted(set(data) - names)
        if unknown:
            raise InputError("config", f"unknown keys: {', '.join(unknown)}")
        kw = dict(data)
        if kw.get("campaign") is not None:
            camp = dict(kw["campaign"])
            cnames = {f.name for f in dataclasses.fields(Campaign)}
            bad = sorted(set(camp) - cnames)
            if bad:
                raise InputError("campaign", f"unknown keys: {', '.join(bad)}")
            kw["campaign"] = Campaign(**camp)
        return cls(**kw)

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-ready fields (arrays as lists)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if not f.init:
                continue
            v = getattr(self, f.name)
            if isinstance(v, np.ndarray):
                v = v.tolist()
            elif isinstance(v, Campaign):
                v = v.to_dict()
            elif f.name == "neighbours":
                v = [list(x) for x in v]
            out[f.name] = v
        return out

    def replace(self, **changes: Any) -> SimConfig:
        """A validated copy with ``changes`` (e.g. ``policy="central"``)."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_city(
        cls,
        units: Any,
        layout: Any,
        staff: Any,
        tickets: Any = None,
        *,
        tickets_per_day: ArrayLike | None = None,
        roles: Sequence[str] = ("technician", "installer"),
        speed_kmh: float = 25.0,
        region_size: int = 25,
        **options: Any,
    ) -> SimConfig:
        """Build from gridopt objects: a Layout, Staff placed in grids and a ticket stream.

        Parameters
        ----------
        units : Units
            Units (their ``households`` and ``tickets_per_day`` attributes are used when
            present).
        layout : Layout
            Grid of each unit.
        staff : Staff
            Staff with ``grid`` set; those with a role in ``roles`` are the field staff.
        tickets : Tickets, optional
            Observed tickets; their count per grid over their time span gives the rates,
            and their hour-of-day / day-of-week mix the profiles.
        tickets_per_day : array_like of float, shape (n_units,), optional
            Mean tickets per day per unit, used when ``tickets`` is None (default: the
            units' ``tickets_per_day`` attribute).
        speed_kmh : float
            Travel speed for the travel times (straight-line distance x 1.3).
        region_size : int
            Grids per central dispatch region (regions are bands of grid centroids).
        **options
            Any other :class:`SimConfig` field (policy, campaign, horizon, ...).
        """
        from gridopt.model import ROLES

        g = layout.n_grids
        labels = np.asarray(layout.labels)
        if labels.shape[0] != units.n_units:
            raise InputError(
                "layout.labels", f"has {labels.shape[0]} entries for {units.n_units} units"
            )
        codes = [ROLES.index(r) for r in roles]
        field_mask = np.isin(staff.role, codes) & (staff.grid >= 0)
        if not field_mask.any():
            raise InputError(
                "staff.grid", f"no staff with a role in {tuple(roles)} placed in a grid"
            )
        sgrid = np.asarray(staff.grid)[field_mask]
        if sgrid.max() >= g:
            raise InputError("staff.grid", f"refers to grids beyond {g - 1}")
        order = np.argsort(sgrid, kind="stable")
        if tickets is not None:
            unit = np.asarray(tickets.unit)
            ok = unit >= 0
            span_days = max((tickets.time.max() - tickets.time.min()) / DAY, 1.0)
            rate = np.bincount(labels[unit[ok]], minlength=g) / span_days
            hours = (np.asarray(tickets.time) // 60).astype(np.int64)
            hp = np.bincount(hours % 24, minlength=24).astype(float) + 1e-9
            dp = np.bincount((hours // 24) % 7, minlength=7).astype(float) + 1e-9
            options.setdefault("hour_profile", hp / hp.mean())
            options.setdefault("day_profile", dp / dp.mean())
            inst = float(np.mean(np.asarray(tickets.type) == 1)) if tickets.n_tickets else 0.0
            options.setdefault("install_share", inst)
        else:
            tpd = tickets_per_day
            if tpd is None:
                tpd = units.attribute("tickets_per_day")
            rate = np.bincount(labels, weights=np.asarray(tpd, float), minlength=g)
        hh = None
        if "households" in units.attribute_names:
            hh = np.bincount(labels, weights=units.attribute("households"), minlength=g)
        # grid geometry: centroids, spread, neighbours
        cnt = np.bincount(labels, minlength=g).astype(float)
        cx = np.bincount(labels, weights=units.x, minlength=g) / cnt
        cy = np.bincount(labels, weights=units.y, minlength=g) / cnt
        spread = (
            np.bincount(
                labels, weights=np.hypot(units.x - cx[labels], units.y - cy[labels]), minlength=g
            )
            / cnt
        )
        metres_per_min = speed_kmh * 1000.0 / 60.0
        travel = np.maximum(1.3 * 1.3 * spread / metres_per_min, 1.0)
        i, j, _ = units.edges()
        gi, gj = labels[i], labels[j]
        cross = gi != gj
        pairs = np.unique(
            np.stack([np.r_[gi[cross], gj[cross]], np.r_[gj[cross], gi[cross]]], 1), axis=0
        )
        nb: list[list[int]] = [[] for _ in range(g)]
        for a, b in pairs.tolist():
            nb[a].append(b)
        # regions: bands of about region_size grids, sorted by (y band, x)
        n_reg = max(1, int(round(g / max(region_size, 1))))
        band = np.minimum((np.argsort(np.argsort(cy)) * n_reg) // g, n_reg - 1)
        options.setdefault("travel_matrix", None)
        if g <= 600 and options["travel_matrix"] is None:
            d = (
                np.hypot(cx[:, None] - cx[None, :], cy[:, None] - cy[None, :])
                * 1.3
                / metres_per_min
            )
            options["travel_matrix"] = np.maximum(d, travel[None, :])
        kw: dict[str, Any] = dict(
            ticket_rate=rate,
            staff_grid=sgrid[order],
            shift_start=np.asarray(staff.shift_start)[field_mask][order],
            shift_end=np.asarray(staff.shift_end)[field_mask][order],
            neighbours=nb,
            region=band,
            travel_minutes=travel,
            households=hh,
        )
        kw.update(options)
        log.info("from_city: %d grids, %d field staff, %.1f tickets/day", g, sgrid.size, rate.sum())
        return cls(**kw)
