"""Capacitated p-median: choose medians among the points and give every point one median.

The capacitated p-median problem (CPMP) picks ``n_medians`` of the points as medians and
assigns every point to one median so that the demand assigned to a median stays within
its capacity, minimising the sum over points of the cost to their median (the cost is
*not* weighted by demand). Each median serves itself. gridopt uses it to seed grid
layouts (capacitated centre assignment) and as the "bases chosen among the grid's units"
travel model.

Method (a matheuristic):

1. **Dense path** (``n <= DENSE_MAX`` or a cost matrix given): k-means++ seeding, then a
   variable-neighbourhood search over median sets. A median set is evaluated by a
   regret-ordered greedy assignment improved by shift and swap moves (Numba kernels in
   :mod:`gridopt.partition._kernels`); local search alternates moving each median to the
   best member of its cluster and median swaps with nearby points (the swaps are ranked
   by their uncapacitated estimate and only the best few are evaluated in full). Shakes
   move 1-3 medians, with a fresh k-means++ restart after max(30, p) shakes without a
   gain; local optima within 1 % of the best are re-assigned exactly (generalized
   assignment with HiGHS), as the greedy assignment can miss the best one when
   capacities are tight. The search gets 70 % of the time limit (30 % up to 60 points)
   or stops after max(200, 3p) shakes without a gain. Up to 60 points the whole
   problem is then solved exactly with the search's cost as cut-off, which proves
   optimality when it finishes.
2. **Exact sub-problems** (POPMUSIC): around each median, the few nearest clusters form
   a sub-problem (about 60 points, growing by half up to 150 when no sub-problem
   improves any more) solved as a mixed-integer programme with HiGHS
   (:func:`scipy.optimize.milp`, each point limited to its 15 nearest candidates);
   improvements are kept. When an unrestricted sub-problem covers every point the
   result is proven optimal.
3. **Large path** (more points, euclidean): capacitated location-allocation with
   k-d trees: each point considers its ``k`` nearest medians, the regret assignment and
   shift/swap moves run on those lists, and medians move to the member nearest to the
   cluster's geometric median, until nothing changes or the time limit.

Runs are deterministic for a seed unless the time limit cuts the search short
(``stats["stopped_by"]`` says which).
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.spatial import cKDTree

from gridopt.errors import InputError, first_rows
from gridopt.partition import _kernels as K

__all__ = ["PMedianResult", "capacitated_pmedian", "DENSE_MAX"]

log = logging.getLogger("gridopt.partition.pmedian")

#: Above this many points (and with no cost matrix given) the large, k-d tree path runs.
DENSE_MAX = 3000

_SUB_POINTS = 60  # target size of an exact sub-problem
_SUB_NEAR = 15  # candidate medians per point in a sub-problem
_SCREEN_PASS = 2  # improvement passes when screening a median swap
_SWAP_FULL = 4  # median swaps per slot evaluated in full (best uncapacitated estimates)
_VNS_SHARE = 0.7  # share of the time limit for the median-set search before sub-problems
_POLISH = 0.01  # local optima within this share of the best get an exact re-assignment
_VNS_FAIL = 3  # the median-set search stops after this many x p shakes without a gain
_SUB_START = 60  # first size of the exact sub-problems (points); grows by half
_SUB_MAX = 150  # largest sub-problem (points)
_SUB_GAP = 1e-9  # relative optimality gap of a sub-problem
_SUB_NODES = 1000  # branch-and-bound node limit of one sub-problem (keeps runs repeatable)
_EPS = 1e-9


@dataclass(frozen=True)
class PMedianResult:
    """Result of :func:`capacitated_pmedian`.

    Attributes
    ----------
    medians : ndarray of int64, shape (n_medians,)
        Point indices of the medians, sorted.
    assignment : ndarray of int64, shape (n,)
        Point index of each point's median (``assignment[m] == m`` for a median).
    cost : float
        Sum over points of the cost to their median.
    feasible : bool
        True when every median's assigned demand is within its capacity.
    status : str
        ``"optimal"`` (proven by the exact solver), ``"feasible"``, ``"infeasible"``
        (no capacity-feasible assignment exists or was found; see ``stats``).
    stats : dict
        Run statistics: ``seconds``, ``stopped_by``, ``n_evaluations``,
        ``n_subproblems``, ``n_improving_subproblems``, ``overload`` (total demand above
        capacity), ``path`` (``"dense"`` or ``"large"``), ``trace`` (list of
        ``(seconds, cost)`` at each improvement) and, when infeasible, ``reason``.
    """

    medians: NDArray[np.int64]
    assignment: NDArray[np.int64]
    cost: float
    feasible: bool
    status: str
    stats: dict[str, Any] = field(default_factory=dict)

    def loads(self, demand: ArrayLike) -> NDArray[np.float64]:
        """Demand assigned to each median, in the order of ``medians``.

        Examples
        --------
        >>> r = PMedianResult(np.array([0, 2]), np.array([0, 0, 2]), 1.0, True, "feasible")
        >>> r.loads([1.0, 2.0, 3.0]).tolist()
        [3.0, 3.0]
        """
        d = np.asarray(demand, dtype=np.float64)
        slot = np.searchsorted(self.medians, self.assignment)
        return np.bincount(slot, weights=d, minlength=self.medians.shape[0])


# ---------------------------------------------------------------------- validation


def _validate(x, y, demand, capacity, n_medians, cost, candidates, time_limit, seed):
    def vec(name, v, n=None):
        try:
            a = np.asarray(v, dtype=np.float64)
        except (TypeError, ValueError):
            raise InputError(name, "must be numeric") from None
        if a.ndim != 1:
            raise InputError(name, f"must be 1-dimensional, got shape {a.shape}")
        if n is not None and a.shape[0] != n:
            raise InputError(name, f"must have {n} rows, got {a.shape[0]}")
        bad = ~np.isfinite(a)
        if bad.any():
            raise InputError(
                name, "must be finite (NaN or infinite values)", first_rows(bad), int(bad.sum())
            )
        return np.ascontiguousarray(a)

    xa = vec("x", x)
    n = xa.shape[0]
    if n == 0:
        raise InputError("x", "is empty: no points")
    ya = vec("y", y, n)
    dem = vec("demand", demand, n)
    if (dem < 0).any():
        raise InputError("demand", "must be >= 0", first_rows(dem < 0), int((dem < 0).sum()))
    cap_raw = np.asarray(capacity, dtype=np.float64) if np.ndim(capacity) else None
    if cap_raw is None:
        try:
            c = float(capacity)
        except (TypeError, ValueError):
            raise InputError("capacity", "must be a number or an array of n numbers") from None
        cap = np.full(n, c)
    else:
        cap = vec("capacity", cap_raw, n)
    bad = ~np.isfinite(cap) | (cap <= 0)
    if bad.any():
        raise InputError("capacity", "must be finite and > 0", first_rows(bad), int(bad.sum()))
    if isinstance(n_medians, bool) or not isinstance(n_medians, int | np.integer):
        raise InputError("n_medians", f"must be an integer, got {n_medians!r}")
    p = int(n_medians)
    if p < 1:
        raise InputError("n_medians", f"must be >= 1, got {p}")
    if p > n:
        raise InputError("n_medians", f"is {p} but there are only {n} points")
    if candidates is None:
        allowed = np.ones(n, dtype=np.bool_)
    else:
        cand = np.asarray(candidates)
        if cand.dtype == bool:
            if cand.shape != (n,):
                raise InputError(
                    "candidates", f"boolean mask must have shape ({n},), got {cand.shape}"
                )
            allowed = cand.copy()
        else:
            if cand.ndim != 1 or (cand.size and not np.issubdtype(cand.dtype, np.integer)):
                raise InputError(
                    "candidates", "must be a 1-d array of point indices or a boolean mask"
                )
            out = (cand < 0) | (cand >= n)
            if out.any():
                raise InputError(
                    "candidates",
                    f"refer to points outside 0..{n - 1}",
                    first_rows(out),
                    int(out.sum()),
                )
            allowed = np.zeros(n, dtype=np.bool_)
            allowed[cand] = True
        if int(allowed.sum()) < p:
            raise InputError(
                "candidates", f"has {int(allowed.sum())} distinct points, fewer than n_medians={p}"
            )
    C = None
    if cost is not None:
        try:
            C = np.ascontiguousarray(cost, dtype=np.float64)
        except (TypeError, ValueError):
            raise InputError("cost", "must be a numeric matrix") from None
        if C.shape != (n, n):
            raise InputError("cost", f"must have shape ({n}, {n}), got {C.shape}")
        bad = ~np.isfinite(C).all(axis=1) | (C < 0).any(axis=1)
        if bad.any():
            raise InputError("cost", "must be finite and >= 0", first_rows(bad), int(bad.sum()))
    try:
        tl = float(time_limit)
    except (TypeError, ValueError):
        raise InputError("time_limit", f"must be a number, got {time_limit!r}") from None
    if not tl > 0:
        raise InputError("time_limit", f"must be > 0, got {time_limit!r}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise InputError("seed", f"must be a non-negative integer, got {seed!r}")
    return xa, ya, dem, cap, p, C, allowed, tl, int(seed)


def _infeasible_reason(dem, cap, allowed, p) -> str | None:
    """A reason no capacity-feasible solution can exist, or None."""
    cap_a = cap[allowed]
    top = np.sort(cap_a)[::-1][:p]
    total = float(dem.sum())
    if float(top.sum()) + _EPS < total:
        return (
            f"total demand {total:g} exceeds the {p} largest candidate capacities "
            f"({float(top.sum()):g}) by {total - float(top.sum()):g}"
        )
    too_big = dem > cap_a.max() + _EPS
    if too_big.any():
        i = int(np.flatnonzero(too_big)[0])
        return (
            f"point {i} has demand {dem[i]:g} above every candidate capacity (max {cap_a.max():g})"
        )
    return None


# ---------------------------------------------------------------------- public API


def capacitated_pmedian(
    x: ArrayLike,
    y: ArrayLike,
    demand: ArrayLike,
    capacity: float | ArrayLike,
    n_medians: int,
    *,
    cost: ArrayLike | None = None,
    candidates: ArrayLike | None = None,
    time_limit: float = 10.0,
    seed: int = 0,
    progress: Callable[[dict], None] | None = None,
) -> PMedianResult:
    """Solve a capacitated p-median problem.

    Parameters
    ----------
    x, y : array_like of float64, shape (n,)
        Point coordinates (metric). The cost is their euclidean distance unless ``cost``
        is given.
    demand : array_like of float64, shape (n,)
        Demand of each point, >= 0; it counts against its median's capacity.
    capacity : float or array_like of float64, shape (n,)
        Capacity of a median placed at each point (one number: the same everywhere), > 0.
    n_medians : int
        Number of medians p, ``1 <= p <= n``.
    cost : array_like of float64, shape (n, n), optional
        Precomputed cost of point ``i`` served by median ``j`` (e.g. truncated or road
        distances), finite and >= 0. Forces the dense path.
    candidates : array_like of int or bool, optional
        Points allowed to be medians (indices, or a boolean mask of shape (n,)).
        Default: every point.
    time_limit : float
        Wall-clock limit in seconds (> 0).
    seed : int
        Seed of the random streams (same input and seed give the same result unless the
        time limit cuts the search short).
    progress : callable, optional
        Called with a dict ``{"phase", "seconds", "cost", "feasible"}`` at each
        improvement.

    Returns
    -------
    PMedianResult
        The medians, each point's median, the cost, feasibility, status and statistics.
        An instance whose demand cannot fit returns an ``"infeasible"`` result whose
        ``stats["reason"]`` gives the figures.

    Raises
    ------
    InputError
        On mismatched lengths, NaN or infinite values, negative demand, non-positive
        capacity, ``n_medians`` outside ``1..n``, bad candidates or cost matrix, a
        non-positive time limit or a negative seed.

    Examples
    --------
    Two tight clusters of three points, capacity for three points per median:

    >>> import numpy as np
    >>> x = np.array([0.0, 1.0, 2.0, 10.0, 11.0, 12.0])
    >>> y = np.zeros(6)
    >>> r = capacitated_pmedian(x, y, np.ones(6), 3.0, 2, time_limit=2.0, seed=0)
    >>> r.medians.tolist(), r.assignment.tolist(), r.cost, r.status
    ([1, 4], [1, 1, 1, 4, 4, 4], 4.0, 'optimal')
    """
    t0 = time.perf_counter()
    xa, ya, dem, cap, p, C, allowed, tl, seed_ = _validate(
        x, y, demand, capacity, n_medians, cost, candidates, time_limit, seed
    )
    n = xa.shape[0]
    # keep a small margin for the final bookkeeping so the call returns within tl
    deadline = t0 + tl - min(0.25, 0.02 * tl)
    ss = np.random.SeedSequence(seed_)
    rng_init, rng_search, rng_sub = (np.random.default_rng(s) for s in ss.spawn(3))
    reason = _infeasible_reason(dem, cap, allowed, p)
    dense = C is not None or n <= DENSE_MAX
    if dense and C is None:
        C = np.hypot(xa[:, None] - xa[None, :], ya[:, None] - ya[None, :])

    def report(phase: str, cost_: float, feasible: bool) -> None:
        if progress is not None:
            progress(
                {
                    "phase": phase,
                    "seconds": time.perf_counter() - t0,
                    "cost": cost_,
                    "feasible": feasible,
                }
            )

    if dense:
        solver = _DenseSolver(
            C, dem, cap, allowed, p, rng_init, rng_search, rng_sub, t0, deadline, report
        )
        med, label_point, total, over, optimal, stats = solver.solve(skip_exact=reason is not None)
    else:
        med, label_point, total, over, optimal, stats = _solve_large(
            xa, ya, dem, cap, allowed, p, rng_init, t0, deadline, report
        )
    feasible = over <= _EPS * (1.0 + float(dem.sum()))
    if reason is not None:
        status = "infeasible"
        stats["reason"] = reason
    elif not feasible:
        status = "infeasible"
        stats["reason"] = f"no capacity-feasible assignment found; total overload {over:g}"
    else:
        status = "optimal" if optimal else "feasible"
    stats["overload"] = float(over)
    stats["seconds"] = time.perf_counter() - t0
    order = np.argsort(med)
    log.info(
        "capacitated p-median n=%d p=%d: cost %.6g, %s in %.2fs (%s)",
        n,
        p,
        total,
        status,
        stats["seconds"],
        stats.get("stopped_by"),
    )
    return PMedianResult(
        medians=np.ascontiguousarray(med[order], dtype=np.int64),
        assignment=np.ascontiguousarray(label_point, dtype=np.int64),
        cost=float(total),
        feasible=bool(feasible),
        status=status,
        stats=stats,
    )


# ---------------------------------------------------------------------- dense path


class _DenseSolver:
    """Variable-neighbourhood search plus exact sub-problems on a dense cost matrix."""

    def __init__(
        self, C, dem, cap, allowed, p, rng_init, rng_search, rng_sub, t0, deadline, report
    ):
        n = C.shape[0]
        self.C, self.dem, self.cap, self.allowed, self.p, self.n = C, dem, cap, allowed, p, n
        self.rng_init, self.rng_search, self.rng_sub = rng_init, rng_search, rng_sub
        self.t0, self.deadline, self.report = t0, deadline, report
        self.sub_time = max(1.0, 0.2 * (deadline - t0))
        self.Cm = np.empty((n, p))
        self.slot_ids = np.empty((n, p), dtype=np.int32)
        self.slot_ids[:] = np.arange(p, dtype=np.int32)
        self.cap_slot = np.empty(p)
        self.fixed = np.empty(n, dtype=np.int32)
        self.regret = np.empty(n)
        self.label = np.empty(n, dtype=np.int32)
        self.load = np.empty(p)
        self.start = np.empty(p + 1, dtype=np.int64)
        self.members = np.empty(n, dtype=np.int64)
        L = min(n, max(10, 2 * int(math.ceil(n / p)) + 5))
        # nearest points of each point (itself first); ties broken by index
        self.nbr = np.ascontiguousarray(np.argsort(C, axis=1, kind="stable")[:, :L], dtype=np.int64)
        self.n_eval = 0
        self.tried: set[tuple[int, ...]] = set()
        self.polished: set[tuple[int, ...]] = set()
        self.trace: list[tuple[float, float]] = []

    def now(self) -> float:
        return time.perf_counter()

    def evaluate(self, med):
        over, cost = K.evaluate_medians(
            self.C,
            med,
            self.dem,
            self.cap,
            self.Cm,
            self.slot_ids,
            self.cap_slot,
            self.fixed,
            self.regret,
            self.label,
            self.load,
            self.start,
            self.members,
        )
        self.n_eval += 1
        return float(over), float(cost)

    def local_search(self, med):
        """Relocation + swap local search from ``med``; returns (med, over, cost, label)."""
        med = med.copy()
        over, cost = self.evaluate(med)
        is_med = np.zeros(self.n, dtype=np.bool_)
        is_med[med] = True
        while self.now() < self.deadline:
            trial = med.copy()
            moved = K.relocate_medians(
                self.C,
                self.label,
                trial,
                self.allowed,
                self.cap,
                self.load,
                self.start,
                self.members,
            )
            if moved:
                o2, c2 = self.evaluate(trial)
                if K._better(o2, c2, over, cost):
                    med, over, cost = trial, o2, c2
                    is_med[:] = False
                    is_med[med] = True
                    continue
                self.evaluate(med)  # restore label/load of the incumbent
            order = self.rng_search.permutation(self.p).astype(np.int64)
            o2, c2, ne = K.swap_round(
                self.C,
                self.dem,
                self.cap,
                self.allowed,
                self.nbr,
                order,
                med,
                is_med,
                self.Cm,
                self.slot_ids,
                self.cap_slot,
                self.fixed,
                self.regret,
                self.label,
                self.load,
                self.start,
                self.members,
                over,
                cost,
                _SCREEN_PASS,
                _SWAP_FULL,
            )
            self.n_eval += int(ne)
            if K._better(o2, c2, over, cost):
                over, cost = float(o2), float(c2)
                continue
            break
        return med, over, cost, self.label.copy()

    def polish(self, sol, best_cost):
        """Re-assign a promising local optimum exactly (generalized assignment, HiGHS):
        the greedy assignment can miss the best one when capacities are tight."""
        med, over, cost, label = sol
        key = tuple(sorted(med.tolist()))
        if over > _EPS or cost > best_cost * (1.0 + _POLISH) or key in self.polished:
            return sol
        self.polished.add(key)
        mask = np.zeros(self.n, dtype=np.bool_)
        mask[med] = True
        gap = _cpmp_milp(
            self.C,
            self.dem,
            self.cap,
            mask,
            self.p,
            max(0.05, min(1.0, self.deadline - self.now())),
            n_near=min(self.p, 10),
            upper=cost - 1e-7 * (1.0 + abs(cost)),
        )
        if gap is None or gap[2] >= cost:
            return sol
        new_med = np.asarray(gap[0], dtype=np.int64)
        return new_med, 0.0, float(gap[2]), np.searchsorted(new_med, gap[1]).astype(np.int32)

    def initial(self):
        u = self.rng_init.random(self.p)
        med = np.empty(self.p, dtype=np.int64)
        K.kmeanspp_dense(self.C, self.allowed, u, med)
        return med

    def shake(self, med, k):
        med = med.copy()
        free = np.flatnonzero(self.allowed & ~np.isin(np.arange(self.n), med))
        if free.size == 0:
            return med
        slots = self.rng_search.choice(self.p, size=min(k, self.p), replace=False)
        for s in slots:
            # a random allowed non-median near the slot's own median or a random one
            own = self.rng_search.random() < 0.5
            anchor = med[s] if own else med[self.rng_search.integers(self.p)]
            cand = [c for c in self.nbr[anchor] if self.allowed[c] and c not in med]
            if not cand:
                cand = [c for c in free if c not in med]
                if not cand:
                    break
            med[s] = cand[self.rng_search.integers(len(cand))]
        return med

    def improve_trace(self, phase, over, cost):
        feasible = over <= _EPS
        self.trace.append((self.now() - self.t0, cost))
        self.report(phase, cost, feasible)

    def solve(self, skip_exact: bool = False):
        p, n = self.p, self.n
        stats: dict[str, Any] = {"path": "dense", "n_subproblems": 0, "n_improving_subproblems": 0}
        optimal = False
        best = None
        small = not skip_exact and n <= _SUB_POINTS
        # VNS over median sets
        share = 0.3 if small else _VNS_SHARE
        budget_vns = self.t0 + share * (self.deadline - self.t0)
        max_fail = max(200, _VNS_FAIL * p)
        # restarts: a fresh k-means++ start after ``restart_after`` shakes without a gain
        # on the current run; the overall best is kept
        restart_after = max(30, p)
        med, over, cost, label = self.local_search(self.initial())
        best = cur = (med, over, cost, label)
        self.improve_trace("vns", over, cost)
        fails, cur_fails, k = 0, 0, 1
        while fails < max_fail and self.now() < budget_vns:
            if cur_fails >= restart_after:
                cur = self.local_search(self.initial())
                cur_fails, k = 0, 1
            else:
                cur2 = self.local_search(self.shake(cur[0], k))
                if K._better(cur2[1], cur2[2], cur[1], cur[2]):
                    cur, cur_fails, k = cur2, 0, 1
                else:
                    cur_fails += 1
                    k = k % 3 + 1
            cur = self.polish(cur, best[2])
            if K._better(cur[1], cur[2], best[1], best[2]):
                best = cur
                self.improve_trace("vns", cur[1], cur[2])
                fails = 0
            else:
                fails += 1
        stopped_by = "converged" if fails >= max_fail else "time_limit"
        med, over, cost, label = best
        if small and over <= _EPS:
            # the whole problem exactly, seeking only solutions better than the search's:
            # "none exists" proves the search's solution optimal
            status: list[int] = []
            sol = _cpmp_milp(
                self.C,
                self.dem,
                self.cap,
                self.allowed,
                p,
                max(0.1, self.deadline - self.now()),
                upper=cost - 1e-7 * (1.0 + abs(cost)),
                status_out=status,
            )
            stats["n_subproblems"] += 1
            if sol is not None and sol[2] < cost:
                med = np.asarray(sol[0], dtype=np.int64)
                label = np.searchsorted(med, sol[1]).astype(np.int32)
                cost = float(sol[2])
                self.improve_trace("exact", 0.0, cost)
            optimal = bool(status) and status[0] in (0, 2)
            stopped_by = "optimal" if optimal else "time_limit"
        elif not skip_exact:
            # exact sub-problems of growing size until the whole problem or the deadline
            size = float(_SUB_START)
            while self.now() < self.deadline:
                med, label, cost, whole_optimal, n_sub, n_imp = self.popmusic(
                    med, label, cost, size
                )
                stats["n_subproblems"] += n_sub
                stats["n_improving_subproblems"] += n_imp
                optimal = whole_optimal
                if whole_optimal or size >= min(n, _SUB_MAX) or round(size / max(1.0, n / p)) >= p:
                    break
                size = min(size * 1.5, float(_SUB_MAX))
            over = float(
                K.overload_of(np.bincount(label, weights=self.dem, minlength=p), self.cap[med])
            )
            if self.now() >= self.deadline:
                stopped_by = "time_limit"
        stats.update(stopped_by=stopped_by, n_evaluations=self.n_eval, trace=self.trace)
        return med, med[label], cost, over, optimal, stats

    def popmusic(self, med, label, cost, size):
        """Re-optimise groups of about ``size`` points in nearby clusters exactly, until
        none improves."""
        C, p = self.C, self.p
        med = med.copy()
        label = label.copy()
        per = max(1.0, self.n / p)
        r = int(min(p, max(2, round(size / per))))
        whole = r >= p
        pending = list(self.rng_sub.permutation(p))
        in_pending = np.ones(p, dtype=bool)
        n_sub = n_imp = 0
        whole_optimal = False
        while pending and self.now() < self.deadline:
            s = pending.pop(0)
            in_pending[s] = False
            dm = C[med[s], med] + C[med, med[s]]
            near = np.argsort(dm, kind="stable")[:r]
            key = tuple(sorted(med[near].tolist()))
            if key in self.tried:
                continue  # the same clusters were already solved: nothing to gain
            self.tried.add(key)
            pts = np.flatnonzero(np.isin(label, near))
            sub_cost = float(C[pts, med[label[pts]]].sum())
            local = np.full(self.n, -1, dtype=np.int64)
            local[pts] = np.arange(pts.shape[0])
            keep = np.column_stack([np.arange(pts.shape[0]), local[med[label[pts]]]])
            unrestricted = whole and self.n <= _SUB_POINTS
            sol = _cpmp_milp(
                C[np.ix_(pts, pts)],
                self.dem[pts],
                self.cap[pts],
                self.allowed[pts],
                len(near),
                max(0.05, min(self.deadline - self.now(), self.sub_time)),
                n_near=None if unrestricted else _SUB_NEAR,
                keep=keep,
                upper=None if unrestricted else sub_cost - 1e-6 * (1.0 + abs(sub_cost)),
            )
            n_sub += 1
            if sol is None:
                continue
            smed, slabel_point, scost, sopt = sol
            if unrestricted and sopt:
                whole_optimal = True
            if scost < sub_cost - 1e-7 * (1.0 + abs(sub_cost)):
                n_imp += 1
                # new medians take over the slots in ``near``
                new_med = pts[smed]
                slot_of = dict(zip(smed.tolist(), near.tolist(), strict=True))
                med[near] = new_med
                label[pts] = [slot_of[int(v)] for v in slabel_point]
                cost = float(C[np.arange(self.n), med[label]].sum())
                self.improve_trace("exact", 0.0, cost)
                for t in near:
                    if not in_pending[t]:
                        pending.append(int(t))
                        in_pending[t] = True
            if whole:
                break
        return med, label, cost, whole_optimal, n_sub, n_imp


def _cpmp_milp(
    C, dem, cap, allowed, p, time_limit, n_near=None, keep=None, upper=None, status_out=None
):
    """Solve a (small) CPMP exactly with HiGHS.

    ``n_near`` restricts each point to its nearest allowed candidates (plus the pairs in
    ``keep``, an array of (point, median) local index pairs that must stay available,
    e.g. the incumbent assignment). Returns ``(medians, assignment_local, cost,
    optimal)`` with local indices, or None when HiGHS found no solution in time or
    none below ``upper`` (a cut-off on the objective: only better solutions are sought).
    HiGHS's status (0 optimal, 1 limit reached, 2 infeasible) is appended to
    ``status_out`` when given.
    """
    n = C.shape[0]
    cand = np.flatnonzero(allowed)
    m_c = cand.shape[0]
    pos = np.full(n, -1, dtype=np.int64)
    pos[cand] = np.arange(m_c)
    if n_near is None or n_near >= m_c:
        mask = np.ones((n, m_c), dtype=bool)
    else:
        order = np.argsort(C[:, cand], axis=1, kind="stable")[:, :n_near]
        mask = np.zeros((n, m_c), dtype=bool)
        np.put_along_axis(mask, order, True, axis=1)
        own = pos[np.arange(n)]
        mask[np.flatnonzero(own >= 0), own[own >= 0]] = True
        if keep is not None and len(keep):
            kp = np.asarray(keep, dtype=np.int64)
            ok = pos[kp[:, 1]] >= 0
            mask[kp[ok, 0], pos[kp[ok, 1]]] = True
    rows_i, cols_j = np.nonzero(mask)
    nx = rows_i.shape[0]
    nv = nx + m_c
    c = np.concatenate([C[rows_i, cand[cols_j]], np.zeros(m_c)])
    ax = np.arange(nx)
    a_assign = sparse.csr_matrix((np.ones(nx), (rows_i, ax)), shape=(n, nv))
    a_cap = sparse.csr_matrix(
        (
            np.concatenate([dem[rows_i], -cap[cand]]),
            (np.concatenate([cols_j, np.arange(m_c)]), np.concatenate([ax, nx + np.arange(m_c)])),
        ),
        shape=(m_c, nv),
    )
    a_p = sparse.csr_matrix(
        (np.ones(m_c), (np.zeros(m_c, dtype=np.int64), nx + np.arange(m_c))), shape=(1, nv)
    )
    # x_ij <= y_j, with equality for a median serving itself (i == cand[j])
    a_link = sparse.csr_matrix(
        (
            np.concatenate([np.ones(nx), -np.ones(nx)]),
            (np.concatenate([ax, ax]), np.concatenate([ax, nx + cols_j])),
        ),
        shape=(nx, nv),
    )
    self_pair = rows_i == cand[cols_j]
    lb = np.full(nx, -np.inf)
    lb[self_pair] = 0.0
    cons = [
        LinearConstraint(a_assign, 1.0, 1.0),
        LinearConstraint(a_cap, -np.inf, 0.0),
        LinearConstraint(a_p, p, p),
        LinearConstraint(a_link, lb, 0.0),
    ]
    options: dict[str, Any] = {
        "time_limit": float(time_limit),
        "disp": False,
        "mip_rel_gap": _SUB_GAP if upper is not None else 1e-9,
        "node_limit": _SUB_NODES,
    }
    if upper is not None:
        # HiGHS option passed through by scipy: prune every node that cannot beat it
        options["objective_bound"] = float(upper)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Unrecognized options", category=RuntimeWarning)
        res = milp(
            c,
            constraints=cons,
            integrality=np.ones(nv),
            bounds=Bounds(0.0, 1.0),
            options=options,
        )
    if status_out is not None:
        status_out.append(int(res.status))
    if res.x is None:
        return None
    yv = res.x[nx:]
    med_local = cand[np.flatnonzero(yv > 0.5)]
    if med_local.shape[0] != p:
        return None
    xv = res.x[:nx]
    on = xv > 0.5
    assign = np.empty(n, dtype=np.int64)
    assign[rows_i[on]] = cand[cols_j[on]]
    total = float(C[np.arange(n), assign].sum())
    return med_local, assign, total, res.status == 0


# ---------------------------------------------------------------------- large path


def _solve_large(x, y, dem, cap, allowed, p, rng, t0, deadline, report):
    """Capacitated location-allocation with k-d trees for many points (euclidean)."""
    n = x.shape[0]
    pts = np.column_stack([x, y])
    cand_idx = np.flatnonzero(allowed)
    cand_tree = cKDTree(pts[cand_idx])
    # start: p distinct allowed points spread by a few Lloyd steps on a random sample
    med = rng.choice(cand_idx, size=p, replace=False)
    centres = pts[med].copy()
    for _ in range(5):
        tree = cKDTree(centres)
        _, near = tree.query(pts, k=1)
        cnt = np.bincount(near, minlength=p)
        sx = np.bincount(near, weights=x, minlength=p)
        sy = np.bincount(near, weights=y, minlength=p)
        ok = cnt > 0
        centres[ok, 0] = sx[ok] / cnt[ok]
        centres[ok, 1] = sy[ok] / cnt[ok]
    med = _snap(centres, cand_tree, cand_idx, p)
    k = int(min(p, 8))
    label = np.empty(n, dtype=np.int32)
    load = np.empty(p)
    regret = np.empty(n)
    fixed = np.empty(n, dtype=np.int32)
    start = np.empty(p + 1, dtype=np.int64)
    members = np.empty(n, dtype=np.int64)
    best = None
    trace: list[tuple[float, float]] = []
    stopped_by = "converged"
    n_eval = 0
    for _ in range(100):
        if time.perf_counter() >= deadline:
            stopped_by = "time_limit"
            break
        tree = cKDTree(pts[med])
        while True:
            dist, slot = tree.query(pts, k=k)
            dist = np.ascontiguousarray(dist.reshape(n, k), dtype=np.float64)
            slot = np.ascontiguousarray(slot.reshape(n, k), dtype=np.int32)
            fixed[:] = -1
            fixed[med] = np.arange(p, dtype=np.int32)
            cap_slot = np.ascontiguousarray(cap[med])
            K.assign_regret(slot, dist, dem, cap_slot, fixed, regret, label, load)
            total = K.improve_assignment(
                slot, dist, False, dem, cap_slot, fixed, label, load, 10, start, members
            )
            over = K.overload_of(load, cap_slot)
            n_eval += 1
            if over <= _EPS or k >= p:
                break
            k = min(p, 2 * k)
        if best is not None and not K._better(over, total, best[2], best[3]):
            break
        best = (med.copy(), label.copy(), float(over), float(total))
        trace.append((time.perf_counter() - t0, float(total)))
        report("large", float(total), over <= _EPS)
        # move each median towards its cluster's geometric median (two Weiszfeld steps)
        cx = np.bincount(label, weights=x, minlength=p) / np.maximum(
            np.bincount(label, minlength=p), 1
        )
        cy = np.bincount(label, weights=y, minlength=p) / np.maximum(
            np.bincount(label, minlength=p), 1
        )
        for _w in range(2):
            d = np.maximum(np.hypot(x - cx[label], y - cy[label]), 1e-9)
            wsum = np.bincount(label, weights=1.0 / d, minlength=p)
            cx = np.bincount(label, weights=x / d, minlength=p) / wsum
            cy = np.bincount(label, weights=y / d, minlength=p) / wsum
        new_med = _snap(np.column_stack([cx, cy]), cand_tree, cand_idx, p)
        if np.array_equal(np.sort(new_med), np.sort(med)):
            break
        med = new_med
    med, label, over, total = best
    stats = {
        "path": "large",
        "stopped_by": stopped_by,
        "n_evaluations": n_eval,
        "trace": trace,
        "n_subproblems": 0,
        "n_improving_subproblems": 0,
    }
    return med, med[label], total, over, False, stats


def _snap(centres, cand_tree, cand_idx, p):
    """Nearest distinct allowed point to each centre (greedy, in centre order)."""
    kq = int(min(cand_idx.shape[0], 8))
    _, near = cand_tree.query(centres, k=kq)
    near = near.reshape(p, kq)
    used: set[int] = set()
    med = np.empty(p, dtype=np.int64)
    for s in range(p):
        pick = -1
        for c in near[s]:
            if int(cand_idx[c]) not in used:
                pick = int(cand_idx[c])
                break
        if pick < 0:
            pick = int(next(c for c in cand_idx if int(c) not in used))
        used.add(pick)
        med[s] = pick
    return med
