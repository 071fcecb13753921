"""Replications, KPIs with 95 % confidence intervals, and comparisons under common random numbers.

Every replication gets its own generator per purpose (arrivals, service, travel, sales,
outages, campaign, revisits, door visits, desk), spawned from one
:class:`numpy.random.SeedSequence`: the same ``seed`` gives identical results whatever the
number of threads, and two configurations run with the same seed see the same demand, so
:func:`compare` measures their difference with a paired interval.

Examples
--------
>>> from gridopt.sim import SimConfig, simulate
>>> cfg = SimConfig.mmc(arrival_rate=0.5, service_rate=1.0, c=1, horizon=2000.0, warmup=100.0)
>>> res = simulate(cfg, replications=4, seed=1)
>>> res.status, res.engine
('feasible', 'mmc')
>>> 0.5 < res.kpis["wait_mean"].mean < 1.5   # Erlang C: 1.0
True
"""

from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gridopt.errors import InputError
from gridopt.sim import _engine as E
from gridopt.sim.config import DAY, DISTRIBUTIONS, POLICIES, SimConfig

__all__ = ["Estimate", "SimResult", "simulate", "compare", "erlang_c", "erlang_c_within"]

log = logging.getLogger("gridopt.sim")


@dataclass(frozen=True)
class Estimate:
    """A KPI over replications: mean and 95 % t-interval.

    Examples
    --------
    >>> e = Estimate.of([1.0, 2.0, 3.0])
    >>> e.mean, round(e.low, 3), round(e.high, 3), e.n
    (2.0, -0.484, 4.484, 3)
    """

    mean: float
    low: float
    high: float
    sd: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float] | NDArray[np.float64]) -> Estimate:
        """Mean and 95 % interval of the finite ``values``."""
        v = np.asarray(values, dtype=np.float64)
        v = v[np.isfinite(v)]
        n = int(v.size)
        if n == 0:
            return cls(math.nan, math.nan, math.nan, math.nan, 0)
        m = float(v.mean())
        if n == 1:
            return cls(m, math.nan, math.nan, math.nan, 1)
        sd = float(v.std(ddof=1))
        half = _t975(n - 1) * sd / math.sqrt(n)
        return cls(m, m - half, m + half, sd, n)

    def contains(self, value: float, rtol: float = 1e-9) -> bool:
        """True if ``value`` lies in the interval (a zero-width interval needs equality)."""
        tol = rtol * max(1.0, abs(value))
        return bool(self.low - tol <= value <= self.high + tol)

    def to_dict(self) -> dict[str, float]:
        """Plain fields."""
        return {"mean": self.mean, "low": self.low, "high": self.high, "sd": self.sd, "n": self.n}


@functools.lru_cache(maxsize=256)
def _t975(df: int) -> float:
    # scipy.special's inverse of Student's t (what scipy.stats.t.ppf calls) without the
    # second it takes to import scipy.stats on a first call
    from scipy.special import stdtrit

    return float(stdtrit(df, 0.975))


def erlang_c(arrival_rate: float, service_rate: float, c: int) -> dict[str, float]:
    """Analytical M/M/c figures (Erlang C).

    Returns
    -------
    dict
        ``p_wait`` (probability of waiting), ``wait_mean``, ``wait_p90`` (0 when fewer
        than 10 % wait), ``L`` (mean number in system), ``utilisation``, and the function
        ``within(t)`` is given by :func:`erlang_c_within`.

    Examples
    --------
    >>> r = erlang_c(0.5, 1.0, 1)
    >>> round(r["p_wait"], 3), round(r["wait_mean"], 3)
    (0.5, 1.0)
    """
    lam, mu = float(arrival_rate), float(service_rate)
    a = lam / mu
    rho = a / c
    if rho >= 1:
        raise InputError("arrival_rate", f"utilisation {rho:.3f} >= 1: no steady state")
    # stable recursion for Erlang B, then C
    b = 1.0
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    pw = b / (1 - rho + rho * b)
    gap = c * mu - lam
    wq = pw / gap
    p90 = math.log(pw / 0.1) / gap if pw > 0.1 else 0.0
    return {
        "p_wait": pw,
        "wait_mean": wq,
        "wait_p90": p90,
        "L": lam * (wq + 1 / mu),
        "utilisation": rho,
    }


def erlang_c_within(arrival_rate: float, service_rate: float, c: int, target: float) -> float:
    """P(wait <= target) in an M/M/c queue.

    Examples
    --------
    >>> round(erlang_c_within(0.5, 1.0, 1, 0.0), 3)
    0.5
    """
    r = erlang_c(arrival_rate, service_rate, c)
    return 1.0 - r["p_wait"] * math.exp(-(c * service_rate - arrival_rate) * target)


@dataclass(frozen=True, eq=False)
class SimResult:
    """The outcome of :func:`simulate`.

    Attributes
    ----------
    status : str
        ``"feasible"`` or ``"infeasible"`` (unstable: utilisation >= 1 or a replication
        whose open jobs overflowed; see ``stats["unstable"]``).
    kpis : dict of str to Estimate
        Mean and 95 % interval of every KPI over the replications.
    replications : dict of str to ndarray of float64, shape (R,)
        The KPI of each replication (paired across configurations by :func:`compare`).
    funnel : ndarray of float64, shape (3, 5)
        Campaign funnel per wave (SMS, call, door) x (targeted, reached, responded,
        visited, converted), mean over replications (zeros without a campaign).
    events : pandas.DataFrame or None
        Per-event records of replication 0 when requested.
    stats : dict
        Run statistics: runtime_s, events, events_per_s, customers_per_s, threads, seed,
        offered_load, unstable and the reasons.
    engine : str
        ``"mmc"`` or ``"field"``.
    """

    status: str
    kpis: dict[str, Estimate]
    replications: dict[str, NDArray[np.float64]]
    funnel: NDArray[np.float64]
    events: Any
    stats: dict[str, Any]
    engine: str
    seed: int
    n_replications: int
    warnings: tuple[str, ...] = field(default=())

    def is_stable(self) -> bool:
        """False when the backlog grew without bound."""
        return self.status != "infeasible"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready KPIs, funnel and run statistics."""
        return {
            "status": self.status,
            "engine": self.engine,
            "seed": self.seed,
            "replications": self.n_replications,
            "kpis": {k: v.to_dict() for k, v in self.kpis.items()},
            "funnel": self.funnel.tolist(),
            "stats": {
                k: (float(v) if isinstance(v, np.floating) else v) for k, v in self.stats.items()
            },
            "warnings": list(self.warnings),
        }

    def summary(self) -> str:
        """A plain-text KPI table."""
        lines = [
            f"{self.engine} simulation, {self.n_replications} replications, status {self.status}"
        ]
        for k, e in self.kpis.items():
            lines.append(f"  {k:<24s} {e.mean:12.4g}  [{e.low:.4g}, {e.high:.4g}]")
        lines.extend(f"  warning: {w}" for w in self.warnings)
        return "\n".join(lines)


def _states(seed: int | np.random.SeedSequence, n_rep: int) -> NDArray[np.uint64]:
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    out = np.empty((n_rep, E.N_STREAMS, 4), dtype=np.uint64)
    for r, child in enumerate(ss.spawn(n_rep)):
        for s, stream in enumerate(child.spawn(E.N_STREAMS)):
            out[r, s] = stream.generate_state(4, np.uint64)
    return out


def _ratio(a: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.divide(a, b, out=np.full(np.shape(a), np.nan), where=b > 0)


_QBLOCK = 64  # histogram bins summed per block when looking for a quantile


def _hist_quantiles(
    hist: NDArray[np.float64], n: NDArray[np.float64], qs: Sequence[float], width: float
) -> list[NDArray[np.float64]]:
    """Per-row quantiles ``qs`` of values whose positive part is histogrammed (zeros counted
    by n).

    The bin holding a quantile is found from sums of blocks of bins, then within its block,
    instead of a cumulative sum over all bins; the counts are whole numbers, so every order
    of summation gives the same sums.

    Examples
    --------
    >>> h = np.array([[2.0, 2.0, 0.0], [0.0, 0.0, 0.0]])
    >>> [q.tolist() for q in _hist_quantiles(h, np.array([8.0, 0.0]), (0.5, 0.75), 10.0)]
    [[0.0, nan], [10.0, nan]]
    """
    n_rep, n_bins = hist.shape
    n_blk = -(-n_bins // _QBLOCK)
    padded = np.zeros((n_rep, n_blk * _QBLOCK))
    padded[:, :n_bins] = hist
    blocks = padded.reshape(n_rep, n_blk, _QBLOCK)
    n_zero = n - hist.sum(axis=1)
    blk_cum = np.cumsum(blocks.sum(axis=2), axis=1) + n_zero[:, None]
    out = []
    for q in qs:
        target = q * n
        val = np.full(n_rep, np.nan)
        for r in range(n_rep):
            if not n[r] > 0:
                continue
            if target[r] <= n_zero[r]:
                val[r] = 0.0
                continue
            # first bin whose cumulative count reaches the target
            b = int(np.searchsorted(blk_cum[r], target[r]))
            if b >= n_blk:
                i, cum_i = n_bins - 1, blk_cum[r, -1]
            else:
                before = blk_cum[r, b - 1] if b > 0 else n_zero[r]
                c_in = before + np.cumsum(blocks[r, b])
                j = int(np.searchsorted(c_in, target[r]))
                i = min(b * _QBLOCK + j, n_bins - 1)
                cum_i = c_in[i - b * _QBLOCK]
            h_i = hist[r, i]
            frac = (target[r] - (cum_i - h_i)) / h_i if h_i > 0 else 0.0
            val[r] = (i + frac) * width
        out.append(val)
    return out


def _mmc_kpis(
    cfg: SimConfig, kpi: NDArray[np.float64], hist: NDArray[np.float64]
) -> dict[str, NDArray[np.float64]]:
    n = kpi[:, E.M_N]
    w50, w90 = _hist_quantiles(hist, n, (0.5, 0.9), cfg.hist_bin)
    span = cfg.horizon - cfg.warmup
    c = cfg.n_staff
    return {
        "arrivals": n,
        "wait_mean": _ratio(kpi[:, E.M_WAIT_SUM], n),
        "p_wait": _ratio(kpi[:, E.M_WAIT_POS], n),
        "wait_p50": w50,
        "wait_p90": w90,
        "within_target": _ratio(kpi[:, E.M_WITHIN], n),
        "sojourn_mean": _ratio(kpi[:, E.M_SOJOURN_SUM], n),
        "in_system_mean": kpi[:, E.M_L_INT] / span,
        "little_lambda_w": n / span * _ratio(kpi[:, E.M_SOJOURN_SUM], n),
        "utilisation": kpi[:, E.M_BUSY_INT] / span / c,
    }


def _field_kpis(
    cfg: SimConfig, k: NDArray[np.float64], hw: Any, ho: Any, hf: Any
) -> dict[str, NDArray[np.float64]]:
    span = cfg.horizon - cfg.warmup
    onshift = k[:, E.K_T_ONSHIFT]
    busy = k[:, E.K_T_TRAVEL] + k[:, E.K_T_REPAIR] + k[:, E.K_T_DOOR]
    sales_visits = k[:, E.K_SALES_REPAIR] + k[:, E.K_SALES_INSTALL]
    o50, o90 = _hist_quantiles(ho, k[:, E.K_ONSITE_N], (0.5, 0.9), cfg.hist_bin)
    f50, f90 = _hist_quantiles(hf, k[:, E.K_FIX_N], (0.5, 0.9), cfg.fix_bin)
    out = {
        "arrivals": k[:, E.K_ARRIVALS],
        "response_onsite_mean": _ratio(k[:, E.K_ONSITE_SUM], k[:, E.K_ONSITE_N]),
        "response_onsite_p50": o50,
        "response_onsite_p90": o90,
        "response_fix_mean": _ratio(k[:, E.K_FIX_SUM], k[:, E.K_FIX_N]),
        "response_fix_p50": f50,
        "response_fix_p90": f90,
        "sla_share": _ratio(k[:, E.K_SLA_HIT], k[:, E.K_ONSITE_N]),
        "outage_onsite_mean": _ratio(k[:, E.K_OUTAGE_SUM], k[:, E.K_OUTAGE_N]),
        "wait_mean": _ratio(k[:, E.K_WAIT_SUM], k[:, E.K_WAIT_N]),
        "wait_p90": _hist_quantiles(hw, k[:, E.K_WAIT_N], (0.9,), cfg.hist_bin)[0],
        "p_wait": _ratio(k[:, E.K_WAIT_POS], k[:, E.K_WAIT_N]),
        "within_target": _ratio(k[:, E.K_WITHIN], k[:, E.K_WAIT_N]),
        "backlog_mean": k[:, E.K_BACKLOG_INT] / span,
        "backlog_mid": k[:, E.K_BACKLOG_MID],
        "backlog_end": k[:, E.K_BACKLOG_END],
        "unfinished": k[:, E.K_UNFINISHED],
        "utilisation": _ratio(busy, onshift),
        "share_travel": _ratio(k[:, E.K_T_TRAVEL], onshift),
        "share_repair": _ratio(k[:, E.K_T_REPAIR], onshift),
        "share_door": _ratio(k[:, E.K_T_DOOR], onshift),
        "share_break": _ratio(k[:, E.K_T_BREAK], onshift),
        "share_idle": _ratio(onshift - busy - k[:, E.K_T_BREAK], onshift),
        "overtime_hours": k[:, E.K_T_OVERTIME] / 60.0,
        "busy_staff_mean": k[:, E.K_BUSY_INT] / span,
        "visits": k[:, E.K_VISITS],
        "revisit_share": _ratio(k[:, E.K_REVISITS], k[:, E.K_FIX_N]),
        "helped_share": _ratio(k[:, E.K_HELPED], k[:, E.K_WAIT_N]),
        "sales_repair": k[:, E.K_SALES_REPAIR],
        "sales_install": k[:, E.K_SALES_INSTALL],
        "sales_per_visit": _ratio(sales_visits, k[:, E.K_VISITS]),
    }
    if cfg.campaign is not None:
        treated = _ratio(k[:, E.K_TREATED_CONV], k[:, E.K_TREATED_N])
        hold = _ratio(k[:, E.K_HOLD_CONV], k[:, E.K_HOLD_N])
        out.update(
            {
                "sales_sms": k[:, E.K_SALES_W1],
                "sales_call": k[:, E.K_SALES_W2],
                "sales_door": k[:, E.K_SALES_DOOR],
                "door_visits": k[:, E.K_DOOR_VISITS],
                "conversion_treated": treated,
                "conversion_holdout": hold,
                "lift": treated - hold,
            }
        )
    return out


def _alias_table(weights: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Walker's alias table (Vose's construction) of non-negative ``weights``.

    Index ``i`` keeps ``prob[i]`` of its column and gives the rest to ``alias[i]``.

    Examples
    --------
    >>> p, a = _alias_table(np.array([1.0, 3.0]))
    >>> p.tolist(), a.tolist()
    ([0.5, 1.0], [1, 1])
    """
    n = weights.shape[0]
    scaled = weights * (n / weights.sum())
    prob = np.ones(n)
    alias = np.arange(n, dtype=np.int64)
    small = [i for i in range(n) if scaled[i] < 1.0]
    large = [i for i in range(n) if scaled[i] >= 1.0]
    while small and large:
        s_idx = small.pop()
        l_idx = large.pop()
        prob[s_idx] = scaled[s_idx]
        alias[s_idx] = l_idx
        scaled[l_idx] -= 1.0 - scaled[s_idx]
        (small if scaled[l_idx] < 1.0 else large).append(l_idx)
    return prob, alias


def _prepare_field(cfg: SimConfig) -> dict[str, Any]:
    """Kernel inputs of the field model (staff sorted by grid)."""
    g = cfg.n_grids
    P = np.zeros(E.N_PARAM)
    P[E.P_HORIZON] = cfg.horizon
    P[E.P_WARMUP] = cfg.warmup
    P[E.P_DRAIN] = cfg.drain
    P[E.P_DIST] = DISTRIBUTIONS.index(cfg.duration)
    P[E.P_REP_MEAN] = cfg.repair_minutes
    P[E.P_REP_CV] = cfg.repair_cv
    P[E.P_INS_MEAN] = cfg.install_minutes
    P[E.P_INS_CV] = cfg.install_cv
    P[E.P_REP_SIG] = math.sqrt(math.log1p(cfg.repair_cv**2))
    P[E.P_INS_SIG] = math.sqrt(math.log1p(cfg.install_cv**2))
    P[E.P_INSTALL_SHARE] = cfg.install_share
    P[E.P_FIX] = cfg.fix_probability
    P[E.P_REVISIT_DELAY] = cfg.revisit_delay
    P[E.P_DESK] = cfg.desk_delay
    P[E.P_POLICY] = POLICIES.index(cfg.policy)
    P[E.P_HELP_THR] = cfg.help_threshold
    P[E.P_TRAVEL_CV] = cfg.travel_cv
    P[E.P_TRAVEL_OTHER] = cfg.travel_other_factor
    P[E.P_SLA] = cfg.sla_minutes
    P[E.P_TARGET] = cfg.wait_target
    P[E.P_OUT_RATE] = cfg.outage_rate / DAY
    P[E.P_OUT_SIZE] = cfg.outage_size
    P[E.P_OUT_SPREAD] = cfg.outage_spread
    P[E.P_SALE_INSTALL] = cfg.sale_install_factor
    P[E.P_SALE_REPAIR] = cfg.sale_repair_factor
    P[E.P_SALE_DECAY] = cfg.sale_wait_hours * 60.0
    P[E.P_HBIN] = cfg.hist_bin
    P[E.P_FBIN] = cfg.fix_bin
    camp = cfg.campaign
    resp = np.ones(5)
    n_door = 0.0
    if camp is not None:
        P[E.P_C_START] = camp.start_day
        P[E.P_C_ORGANIC] = camp.organic_rate
        P[E.P_C_HOLDOUT] = camp.holdout_share
        P[E.P_W1_REACH] = camp.sms_reach
        P[E.P_W1_RESP] = camp.sms_response
        P[E.P_W1_CONV] = camp.sms_convert
        P[E.P_W2_DAY] = camp.call_day
        P[E.P_W2_DAYS] = camp.call_days
        P[E.P_W2_CAP] = camp.agents * camp.calls_per_agent
        P[E.P_W2_ATTEMPTS] = camp.attempts
        P[E.P_W2_RPC] = camp.right_party
        P[E.P_W2_RESP] = camp.call_accept
        P[E.P_W2_CONV] = camp.call_convert
        P[E.P_W2_HESITANT] = camp.hesitant
        P[E.P_W2_SECOND] = camp.second_call_accept
        P[E.P_W2_ABANDON] = camp.abandon_cap
        P[E.P_W3_DAY] = camp.door_day
        P[E.P_W3_DAYS] = camp.door_days
        P[E.P_W3_CAP] = camp.door_capacity
        P[E.P_W3_DUR] = camp.door_minutes
        P[E.P_W3_REACH] = camp.door_home
        P[E.P_W3_RESP] = camp.door_accept
        P[E.P_W3_CONV] = camp.door_convert
        P[E.P_FATIGUE] = camp.fatigue
        P[E.P_N_TARGETS] = camp.targets
        resp = np.asarray(camp.response_by_segment, np.float64)
        n_door = camp.door_capacity * g * max(camp.door_days, 1)
    per_day = cfg.ticket_rate.sum() + cfg.outage_rate * cfg.outage_size
    cap = cfg.job_capacity or int(max(4096, per_day * 30 + n_door + 1024))
    if cap >= E.MAX_IDENT or cfg.n_staff >= E.MAX_IDENT:
        raise InputError(
            "job_capacity",
            f"open jobs ({cap}) and staff ({cfg.n_staff}) must each stay below {E.MAX_IDENT}",
        )
    P[E.P_JOB_CAP] = cap
    week = np.array([cfg.hour_profile[h % 24] * cfg.day_profile[h // 24] for h in range(168)])
    week = week / week.mean()
    order = np.argsort(cfg.staff_grid, kind="stable")
    sg = cfg.staff_grid[order].astype(np.int64)
    s0 = cfg.shift_start[order]
    s1 = cfg.shift_end[order]
    wd = cfg.workdays[order].astype(np.int64)
    b0 = cfg.break_start[order]
    b1 = cfg.break_minutes[order]
    always = (s1 - s0 >= DAY) & (wd == 127)
    gptr = np.zeros(g + 1, np.int64)
    gptr[1:] = np.cumsum(np.bincount(sg, minlength=g))
    # the weekly timetable: per staff member and workday a shift start, a break start (if
    # any) and a shift end; shift ends before starts before breaks at equal times
    week_min = 7 * DAY
    ks = np.flatnonzero(~always)
    on = ((wd[ks][:, None] >> np.arange(7)[None, :]) & 1).astype(bool)
    kk, dd = np.nonzero(on)
    k = ks[kk]
    start = dd * DAY + s0[k]
    rows = np.empty((k.size, 3, 5))
    rows[:, :, 3] = k[:, None]
    rows[:, :, 4] = 0.0
    # columns: minute of the week, rank at equal times, kind (0 start, 1 break, 2 end)
    rows[:, 0, 0] = start % week_min
    rows[:, 0, 1:3] = (1.0, 0.0)
    rows[:, 0, 4] = start + (s1[k] - s0[k])
    rows[:, 1, 0] = (start + b0[k]) % week_min
    rows[:, 1, 1:3] = (2.0, 1.0)
    rows[:, 2, 0] = (start + s1[k] - s0[k]) % week_min
    rows[:, 2, 1:3] = (0.0, 2.0)
    keep = np.ones((k.size, 3), bool)
    keep[:, 1] = b1[k] > 0
    tt = rows[keep]
    o = np.lexsort((tt[:, 3], tt[:, 1], tt[:, 0]))
    tt = tt[o]
    reg = cfg.region.astype(np.int64)
    ro = np.argsort(reg, kind="stable").astype(np.int64)
    reg_ptr = np.zeros(cfg.n_regions + 1, np.int64)
    reg_ptr[1:] = np.cumsum(np.bincount(reg, minlength=cfg.n_regions))
    tm = np.zeros((0, 0)) if cfg.travel_matrix is None else np.ascontiguousarray(cfg.travel_matrix)
    hh = cfg.households if cfg.households.sum() > 0 else cfg.ticket_rate
    alias_p, alias_i = _alias_table(cfg.ticket_rate)
    if cfg.arrival_times is None:
        tr_t, tr_g = np.zeros(0), np.zeros(0, np.int64)
    else:
        tr_t, tr_g = cfg.arrival_times, cfg.arrival_grids
    return {
        "args": (
            P,
            np.cumsum(cfg.ticket_rate / DAY),
            alias_p,
            alias_i,
            tr_t,
            tr_g,
            week,
            reg,
            cfg.nb_indptr,
            cfg.nb_indices,
            reg_ptr,
            ro,
            np.ascontiguousarray(cfg.travel_minutes),
            tm,
            np.cumsum(hh),
            np.cumsum(cfg.segment_share),
            np.ascontiguousarray(cfg.sale_probability),
            resp,
            sg,
            always,
            gptr,
            np.ascontiguousarray(tt[:, 0]),
            np.ascontiguousarray(tt[:, 2].astype(np.int64)),
            np.ascontiguousarray(tt[:, 3].astype(np.int64)),
            np.ascontiguousarray(tt[:, 4]),
            np.ascontiguousarray(b1),
        ),
        "order": order,
    }


def _run_blocks(
    run: Callable[[int, int], None],
    n_rep: int,
    n_threads: int,
    progress: Callable[[dict[str, Any]], None] | None,
) -> None:
    """Call ``run(lo, hi)`` on contiguous blocks of replications, on ``n_threads`` threads.

    The kernels release the GIL, so the threads run in parallel; each replication writes
    only its own rows, so the blocks and their order do not change the results.
    """
    size = n_rep if n_threads == 1 else max(1, -(-n_rep // (4 * n_threads)))
    if progress is not None:
        size = min(size, max(1, n_rep // 10))
    blocks = [(lo, min(n_rep, lo + size)) for lo in range(0, n_rep, size)]
    if n_threads == 1 or len(blocks) == 1:
        for lo, hi in blocks:
            run(lo, hi)
            if progress is not None:
                progress({"done": hi, "total": n_rep})
        return
    from concurrent.futures import ThreadPoolExecutor, as_completed

    with ThreadPoolExecutor(max_workers=n_threads) as pool:
        futures = {pool.submit(run, lo, hi): hi - lo for lo, hi in blocks}
        done = 0
        for fut in as_completed(futures):
            fut.result()
            done += futures[fut]
            if progress is not None:
                progress({"done": done, "total": n_rep})


def simulate(
    config: SimConfig,
    replications: int = 30,
    seed: int = 0,
    *,
    threads: int | None = None,
    record_events: bool = False,
    max_records: int = 1_000_000,
    engine: str = "auto",
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> SimResult:
    """Run ``replications`` independent replications of ``config``.

    Parameters
    ----------
    config : SimConfig
    replications : int
        Number of replications (>= 2 for intervals).
    seed : int
        Root of the :class:`numpy.random.SeedSequence`; replication ``r`` and purpose ``s``
        always get the same stream, so configurations run with the same seed share random
        numbers (common random numbers).
    threads : int, optional
        Threads running replications (default: Numba's thread count, one per core).
        Results do not depend on it.
    record_events : bool
        Return the per-event records of replication 0 as ``result.events`` (field engine).
    max_records : int
        Record at most this many events (a warning says when more were produced).
    engine : {"auto", "mmc", "field"}
        ``auto`` uses the fast M/M/c kernel when ``config.mmc_params()`` says the
        configuration is a plain M/M/c queue and no records are asked for.
    progress : callable, optional
        Called with ``{"done": r, "total": R}`` as batches of replications finish.

    Returns
    -------
    SimResult

    Raises
    ------
    InputError
        On a bad replication count, seed or engine.

    Examples
    --------
    >>> from gridopt.sim import SimConfig, simulate
    >>> cfg = SimConfig(ticket_rate=[6.0, 6.0], staff_grid=[0, 1], neighbours=[[1], [0]],
    ...                 horizon=14 * 1440.0, warmup=1440.0)
    >>> res = simulate(cfg, replications=3, seed=7)
    >>> res.engine, res.kpis["arrivals"].n
    ('field', 3)
    >>> res.kpis["response_onsite_mean"].mean > 0
    True
    """
    if not isinstance(config, SimConfig):
        raise InputError("config", f"must be a SimConfig, got {type(config).__name__}")
    n_rep = int(replications)
    if n_rep < 1:
        raise InputError("replications", f"must be >= 1, got {replications}")
    if engine not in ("auto", "mmc", "field"):
        raise InputError("engine", f"must be auto, mmc or field, got {engine!r}")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError("seed", f"must be a non-negative integer, got {seed!r}")
    mmc = config.mmc_params()
    if engine == "mmc" and mmc is None:
        raise InputError("engine", "mmc needs a plain M/M/c configuration (SimConfig.mmc)")
    use_mmc = mmc is not None and engine != "field" and not record_events
    warnings: list[str] = []
    load = mmc[0] / (mmc[1] * mmc[2]) if mmc is not None else config.offered_load()
    if load >= 1.0:
        msg = f"offered load {load:.3f} >= 1: the backlog grows without bound; runs are capped"
        log.warning(msg)
        warnings.append(msg)
    n_threads = E.thread_count(threads)
    states = _states(int(seed), n_rep)
    t0 = time.perf_counter()
    events_df = None
    funnel = np.zeros((n_rep, 3, 5))
    if use_mmc:
        lam, mu, c = mmc
        kpi = np.zeros((n_rep, E.N_MKPI))
        hist = np.zeros((n_rep, config.n_bins))
        qcap = config.job_capacity or int(min(max(65536, lam * (config.horizon) * 0.05), 1 << 24))

        def run_mmc(lo: int, hi: int) -> None:
            E.mmc_run(
                lam,
                mu,
                c,
                config.horizon,
                config.warmup,
                config.wait_target,
                config.hist_bin,
                states[lo:hi],
                qcap,
                kpi[lo:hi],
                hist[lo:hi],
            )

        _run_blocks(run_mmc, n_rep, n_threads, progress)
        reps = _mmc_kpis(config, kpi, hist)
        overflow = kpi[:, E.M_OVERFLOW] >= 0
        n_events = float(kpi[:, E.M_EVENTS].sum())
        customers = float(kpi[:, E.M_N].sum())
    else:
        prep = _prepare_field(config)
        kpi = np.zeros((n_rep, E.N_KPI))
        nb = config.n_bins
        hw, ho, hf = (np.zeros((n_rep, nb)) for _ in range(3))
        ev = np.zeros((int(max_records) if record_events else 0, E.N_EVCOLS))
        ev_n = np.zeros(2, np.int64)

        def run_field(lo: int, hi: int) -> None:
            E.field_run(
                *prep["args"],
                states[lo:hi],
                kpi[lo:hi],
                hw[lo:hi],
                ho[lo:hi],
                hf[lo:hi],
                funnel[lo:hi],
                ev if lo == 0 else ev[:0],  # records of replication 0 only
                ev_n,
            )

        _run_blocks(run_field, n_rep, n_threads, progress)
        reps = _field_kpis(config, kpi, hw, ho, hf)
        overflow = kpi[:, E.K_OVERFLOW] >= 0
        n_events = float(kpi[:, E.K_EVENTS].sum())
        customers = float(kpi[:, E.K_ARRIVALS].sum())
        if record_events:
            events_df = _events_frame(ev[: ev_n[0]], prep["order"])
            if ev_n[1] > ev_n[0]:
                msg = f"recorded {ev_n[0]} of {ev_n[1]} events (max_records)"
                log.warning(msg)
                warnings.append(msg)
    runtime = time.perf_counter() - t0
    unstable = bool(overflow.any()) or load >= 1.0
    if overflow.any():
        msg = f"{int(overflow.sum())} replications overflowed their job buffer (growing backlog)"
        log.warning(msg)
        warnings.append(msg)
    for arr in reps.values():
        arr.setflags(write=False)
    stats = {
        "runtime_s": runtime,
        "events": n_events,
        "events_per_s": n_events / runtime if runtime > 0 else math.nan,
        "customers_per_s": customers / runtime if runtime > 0 else math.nan,
        "threads": n_threads,
        "seed": int(seed),
        "offered_load": load,
        "unstable": unstable,
        "overflowed_replications": int(overflow.sum()),
    }
    log.info(
        "simulated %d replications in %.2f s (%.3g events/s)", n_rep, runtime, stats["events_per_s"]
    )
    return SimResult(
        status="infeasible" if unstable else "feasible",
        kpis={k: Estimate.of(v) for k, v in reps.items()},
        replications=reps,
        funnel=funnel.mean(axis=0),
        events=events_df,
        stats=stats,
        engine="mmc" if use_mmc else "field",
        seed=int(seed),
        n_replications=n_rep,
        warnings=tuple(warnings),
    )


def _events_frame(ev: NDArray[np.float64], order: NDArray[np.int64]) -> Any:
    import pandas as pd

    staff = ev[:, 3].astype(np.int64)
    staff = np.where(staff >= 0, order[np.maximum(staff, 0)], -1)
    return pd.DataFrame(
        {
            "time": ev[:, 0],
            "event": pd.Categorical.from_codes(
                ev[:, 1].astype(np.int64), categories=list(E.EV_NAMES)
            ),
            "ticket": ev[:, 2].astype(np.int64),
            "staff": staff,
            "grid": ev[:, 4].astype(np.int64),
            "priority": ev[:, 5].astype(np.int64),
            "value": ev[:, 6],
        }
    )


def compare(a: SimResult, b: SimResult, names: Sequence[str] | None = None) -> dict[str, Estimate]:
    """Differences ``b - a`` per KPI, paired by replication (common random numbers).

    Both results must come from the same seed and replication count, so replication ``r``
    of each saw the same demand; the interval of the paired differences is then much
    narrower than the two separate intervals.

    Raises
    ------
    InputError
        When the seeds or replication counts differ, or a KPI is missing.

    Examples
    --------
    >>> from gridopt.sim import SimConfig, simulate, compare
    >>> base = SimConfig(ticket_rate=[6.0, 6.0], staff_grid=[0, 1], neighbours=[[1], [0]],
    ...                  horizon=14 * 1440.0, warmup=1440.0)
    >>> a = simulate(base.replace(policy="central"), replications=3, seed=2)
    >>> b = simulate(base, replications=3, seed=2)
    >>> d = compare(a, b, ["arrivals"])
    >>> d["arrivals"].mean   # same demand in both
    0.0
    """
    if a.seed != b.seed or a.n_replications != b.n_replications:
        raise InputError(
            "compare",
            f"needs the same seed and replications (got {a.seed}/{a.n_replications} and "
            f"{b.seed}/{b.n_replications}): common random numbers pair the replications",
        )
    keys = list(names) if names is not None else [k for k in a.replications if k in b.replications]
    out: dict[str, Estimate] = {}
    for k in keys:
        if k not in a.replications or k not in b.replications:
            raise InputError("names", f"unknown KPI {k!r}")
        out[k] = Estimate.of(b.replications[k] - a.replications[k])
    return out
