"""Generalized assignment with OR-Tools CP-SAT: jobs to agents, households to owners.

Two entry points share one engine:

* :func:`solve_gap` is the generic generalized assignment problem (GAP, minimisation):
  every job to exactly one eligible agent, each agent's summed weight within its
  capacity.
* :func:`assign_owners` gives every household exactly one owner (an account manager by
  default) inside its grid, or an adjacent grid when allowed, under per-owner minimum
  and maximum loads (households, visit minutes, revenue), skills (VIP and business
  households only to senior account managers) and continuity (keep the current owner
  unless a limit forces a change; a cap on reassignments). It decomposes by grid
  (or by cluster of adjacent grids) into independent CP-SAT models, so millions of
  households stay tractable.

How the engine solves one model
-------------------------------
1. The LP relaxation (HiGHS through :func:`scipy.optimize.linprog`) gives a lower bound
   ``lb``, an LP solution and the reduced cost ``rc`` of every eligible pair.
2. A *core* model keeps, per job, the LP support and the ``core_size`` pairs of smallest
   reduced cost; jobs with one candidate become constants. CP-SAT solves it with the LP
   rounding as hint and yields an upper bound ``ub``.
3. Reduced-cost fixing: a pair with ``rc >= ub - ceil(lb)`` cannot be in a solution
   better than ``ub``, so the *exact* model keeps only pairs with smaller reduced cost
   (plus the core). CP-SAT solves it with the core solution as hint; optimality there is
   global optimality. The reported bound is the better of ``ceil(lb)`` and CP-SAT's bound
   on the exact model.

How :func:`solve_gap` solves the generic GAP
--------------------------------------------
1. The LP relaxation as above (bound ``ceil(lb)``, duals of the "one agent per job" rows).
2. ``local_search`` of the time goes to a Numba tabu search (shift, swap and depth-two
   ejection-chain moves, one adaptive overload penalty per agent, restarts from the best
   solution with a random kick; :mod:`gridopt.assign._kernels`). Reaching ``ceil(lb)``
   proves optimality at once.
3. Lagrangian relaxation of "one agent per job" (a 0-1 knapsack per agent, subgradient
   from the LP duals) gives a bound at least the LP's and, for every pair, the bound with
   that pair forced in or out: pairs that cannot appear in a solution cheaper than the
   incumbent are dropped, pairs that must appear fix their job (reduced-cost fixing).
4. Exact search over near-optimal knapsack *columns* (``columns`` of the time left): at
   the Lagrangian multipliers a feasible assignment costs the bound plus, per agent,
   the slack of its job set against that agent's knapsack optimum, so a solution
   better than ``L + delta`` uses only sets of slack below ``delta``. These sets are
   enumerated (depth first, bounded by the knapsack tables) and covered exactly by a
   branch and bound with a Lagrangian bound at every node. The budget ``delta`` grows
   level by level: a finished level either finds the optimum or proves that it costs
   more than ``L + delta``; a level too slow to finish turns into a dive for any better
   solution among its columns, provided ``delta`` is at least half the incumbent's
   mean slack per agent (shallower columns hardly ever hold an improvement, so such a
   level gets a tenth of the time left, not a third); a dive that finds nothing gets
   one more try over a wider budget (the next integer cost, or a quarter more). Where
   the Lagrangian bound is within a few units of the optimum (Chu and Beasley's types
   C and D) this finds and proves optima that the local search and the MIP miss.
5. The reduced model (plus the incumbent) is solved by ``exact``. With the default
   ``"auto"``, a small one (at most three pairs per job) is solved whole in one round by
   SCIP, and a larger one in rounds by HiGHS branch and cut (HiGHS, SCIP or CP-SAT
   alone on request). Short rounds re-optimise the jobs where the incumbent disagrees
   with the LP plus a random share (the rest fixed); a better incumbent shrinks the
   next reduced model; then the whole reduced model gets the time left, where
   optimality is global. Meanwhile (wall-clock runs) the tabu
   search goes on in a second thread, and the two trade better solutions. There, after
   the short rounds and one plain round of about 2 s on the whole reduced model (where
   an easy model is proven optimal), it gets *kicks* instead of long rounds:
   HiGHS for about 2 s on costs perturbed by up to 1 %, whose solution (better or not)
   the tabu search goes on from, keeping its penalties and tabu list. The search alone
   settles in one region (d20200: 12378 after 20 s and after 30 s); from a kick it
   reaches a better one within milliseconds (12283-12286 at 30 s, seeds 0-3, against
   12292-12314 with one long HiGHS round); a long round on d20200 never proves
   anything (its bound stays below the Lagrangian one).
Capacities too large for knapsack tables skip steps 3-5 for the LP core / exact CP-SAT
models above.

Ownership models where only household counts are limited are transportation problems:
:func:`assign_owners` solves them as a min-cost flow (OR-Tools ``SimpleMinCostFlow``),
exact for travel and changes; the imbalance term is then only evaluated (the flow cost is
the reported bound). A cap on changes is met there by Lagrangian relaxation: keeping the
current owner earns a reward found by bisection, and ``flow_cost + reward * keep_min``
is the bound. ``fast_flow=False`` sends every model through the LP + CP-SAT engine.

Integer scaling
---------------
CP-SAT needs integers. :func:`solve_gap` uses integral costs and weights as they are;
otherwise costs are multiplied by ``cost_scale`` (default: the power of ten that brings
the largest absolute cost to at least 10**6) and rounded; fractional weights are scaled
by the same rule and capacities rounded down, which is conservative. The objective is
reported back in the caller's units. :func:`assign_owners` counts objective terms in
hundredths (:data:`COST_SCALE`): travel costs ``travel_per_km * km * 100`` per household,
a change ``change * 100``, imbalance ``imbalance * 100`` per household of spread; visit
minutes and revenue per household are rounded to whole minutes and currency units, and
limits compare in those units (minimums rounded up, maximums rounded down).

Determinism
-----------
``deterministic=True`` (the default of :func:`assign_owners`) runs CP-SAT with
interleaved search and a *deterministic* time limit (CP-SAT's work units, roughly
seconds), so the same input and seed give the same output on any machine load.
``deterministic=False`` uses wall-clock limits and the parallel portfolio, which finds
better solutions in a given time but may differ between runs when a limit is hit.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from ortools.graph.python import min_cost_flow
from ortools.sat.python import cp_model
from scipy import sparse
from scipy.optimize import linprog

from gridopt.errors import InputError, first_rows
from gridopt.model import ROLES, SKILL_SENIOR, Households, Layout, Staff, Units

__all__ = [
    "COST_SCALE",
    "GapResult",
    "OwnerLimits",
    "OwnerWeights",
    "Assignment",
    "solve_gap",
    "assign_owners",
    "household_units",
    "grid_edges",
]

log = logging.getLogger("gridopt.assign.gap")

COST_SCALE = 100
"""Objective units per currency unit in :func:`assign_owners` (hundredths)."""

STATUSES = ("optimal", "feasible", "infeasible", "time_limit")

_BIG = 2**40  # "no limit"; sums over thousands of owners stay far from overflow
_COLUMNS_JOBS_PER_AGENT = 12  # the column search runs up to this many jobs per agent
# restarts of the tabu search from short HiGHS rounds on perturbed costs ("kicks"):
# relative cost noise, share of the time per round, and its limits in seconds. On d20200
# (30 s, seeds 0-1) noise 0.01 beat 0 and 0.03, and 2 s rounds beat 1 s and 4 s.
_KICK_NOISE = 0.01
_KICK_SHARE = 0.07
_KICK_MIN_TIME = 0.5
_KICK_MAX_TIME = 2.0
_ONE_ROUND_PAIRS_PER_JOB = 3.0  # reduced models up to this size are solved in one round
_EPS = 1e-7


# ----------------------------------------------------------------------------- engine


@dataclass
class _Model:
    """One sparse assignment model (internal).

    Pairs are sorted by job. ``res`` holds integer resource use per pair; ``lo``/``hi``
    hold the per-agent limits (``lo = 0`` and ``hi = _BIG`` mean none). ``keep`` marks
    the pairs that keep a current owner; at least ``keep_min`` of them must be chosen.
    """

    n_jobs: int
    n_agents: int
    job: NDArray[np.int64]
    agent: NDArray[np.int64]
    cost: NDArray[np.int64]
    res: NDArray[np.int64]  # (P, R)
    lo: NDArray[np.int64]  # (A, R)
    hi: NDArray[np.int64]  # (A, R)
    imbalance_weight: int = 0
    imbalance_res: int = 0
    keep: NDArray[np.bool_] | None = None
    keep_min: int = 0
    res_names: tuple[str, ...] = ("weight",)

    @property
    def n_pairs(self) -> int:
        return int(self.job.shape[0])


@dataclass
class _Solved:
    status: str
    choice: NDArray[np.int64] | None  # chosen pair per job
    objective: float
    bound: float
    stats: dict[str, Any] = field(default_factory=dict)
    conflicts: tuple[tuple[int, int, str], ...] = ()


def _gap_model(
    c: NDArray[np.int64], w: NDArray[np.int64], cap: NDArray[np.int64], elig: NDArray[np.bool_]
) -> _Model:
    """The generic GAP (one resource, upper limits) over the ``elig`` pairs of (m, n) arrays.

    Pairs are sorted by job, then agent, as every :class:`_Model` is.
    """
    job_idx, agent_idx = np.nonzero(elig.T)  # row-major order: by job, then agent
    m = c.shape[0]
    return _Model(
        n_jobs=c.shape[1],
        n_agents=m,
        job=job_idx.astype(np.int64),
        agent=agent_idx.astype(np.int64),
        cost=c[agent_idx, job_idx],
        res=w[agent_idx, job_idx][:, None],
        lo=np.zeros((m, 1), dtype=np.int64),
        hi=np.array(cap, dtype=np.int64)[:, None],
    )


def _job_starts(model: _Model) -> NDArray[np.int64]:
    starts = np.zeros(model.n_jobs + 1, dtype=np.int64)
    np.cumsum(np.bincount(model.job, minlength=model.n_jobs), out=starts[1:])
    return starts


def _active_limits(model: _Model) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Which (agent, resource) upper and lower limits can bind at all."""
    total = np.zeros((model.n_agents, model.res.shape[1]), dtype=np.int64)
    np.add.at(total, model.agent, model.res)
    return model.hi < total, model.lo > 0


def _lp(
    model: _Model, duals_out: list[NDArray[np.float64]] | None = None
) -> tuple[str, float, NDArray[np.float64], NDArray[np.float64]]:
    """LP relaxation: status, bound, LP values and reduced costs of the pairs.

    ``duals_out``, when given, receives the duals of the "one pair per job" rows.
    """
    p = model.n_pairs
    imb = model.imbalance_weight > 0
    n_var = p + (2 if imb else 0)
    cols = np.arange(p)
    a_eq = sparse.csr_matrix((np.ones(p), (model.job, cols)), shape=(model.n_jobs, n_var))
    hi_on, lo_on = _active_limits(model)
    rows_r, rows_c, rows_v, rhs = [], [], [], []
    n_row = 0
    for r in range(model.res.shape[1]):
        w = model.res[:, r].astype(np.float64)
        for on, sign, bound in (
            (hi_on[:, r], 1.0, model.hi[:, r]),
            (lo_on[:, r], -1.0, model.lo[:, r]),
        ):
            agents = np.flatnonzero(on)
            if agents.size == 0:
                continue
            row_of = np.full(model.n_agents, -1)
            row_of[agents] = n_row + np.arange(agents.size)
            sel = row_of[model.agent] >= 0
            rows_r.append(row_of[model.agent[sel]])
            rows_c.append(cols[sel])
            rows_v.append(sign * w[sel])
            rhs.append(sign * bound[agents].astype(np.float64))
            n_row += agents.size
    if imb:
        used = np.flatnonzero(np.bincount(model.agent, minlength=model.n_agents) > 0)
        w = model.res[:, model.imbalance_res].astype(np.float64)
        for sign, var in ((1.0, p), (-1.0, p + 1)):  # load - Lmax <= 0 ; Lmin - load <= 0
            row_of = np.full(model.n_agents, -1)
            row_of[used] = n_row + np.arange(used.size)
            rows_r += [row_of[model.agent], row_of[used]]
            rows_c += [cols, np.full(used.size, var)]
            rows_v += [sign * w, np.full(used.size, -sign)]
            rhs.append(np.zeros(used.size))
            n_row += used.size
    if model.keep is not None and model.keep_min > 0:
        k = np.flatnonzero(model.keep)
        rows_r.append(np.full(k.size, n_row))
        rows_c.append(k)
        rows_v.append(-np.ones(k.size))
        rhs.append(np.array([-float(model.keep_min)]))
        n_row += 1
    c = np.zeros(n_var)
    c[:p] = model.cost
    if imb:
        c[p], c[p + 1] = model.imbalance_weight, -model.imbalance_weight
    bounds = [(0, None)] * p + ([(None, None), (None, None)] if imb else [])
    kwargs: dict[str, Any] = {}
    if n_row:
        a_ub = sparse.csr_matrix(
            (np.concatenate(rows_v), (np.concatenate(rows_r), np.concatenate(rows_c))),
            shape=(n_row, n_var),
        )
        kwargs = {"A_ub": a_ub, "b_ub": np.concatenate(rhs)}
    res = linprog(c, A_eq=a_eq, b_eq=np.ones(model.n_jobs), bounds=bounds, method="highs", **kwargs)
    if res.status == 2:
        return "infeasible", math.inf, np.zeros(p), np.zeros(p)
    if res.status != 0:
        return "unknown", -math.inf, np.zeros(p), np.zeros(p)
    rc = c - a_eq.T @ res.eqlin.marginals
    if duals_out is not None:
        duals_out.append(np.asarray(res.eqlin.marginals, dtype=np.float64))
    if n_row:
        rc = rc - kwargs["A_ub"].T @ res.ineqlin.marginals
    return "optimal", float(res.fun), res.x[:p], np.maximum(rc[:p], 0.0)


def _params(
    solver: cp_model.CpSolver, time_limit: float, seed: int, num_workers: int, deterministic: bool
) -> None:
    prm = solver.parameters
    prm.random_seed = int(seed) % (2**31 - 1)
    prm.num_workers = max(1, int(num_workers))
    if deterministic:
        prm.max_deterministic_time = max(0.01, float(time_limit))
        prm.max_time_in_seconds = max(1.0, 20.0 * float(time_limit))  # safety net only
        if prm.num_workers > 1:
            prm.interleave_search = True
    else:
        prm.max_time_in_seconds = max(0.01, float(time_limit))


def _cp_solve(
    model: _Model,
    mask: NDArray[np.bool_],
    hint: NDArray[np.int64] | None,
    time_limit: float,
    seed: int,
    num_workers: int,
    deterministic: bool,
    assumptions: bool = False,
) -> _Solved:
    """CP-SAT on the pairs in ``mask``; jobs with one candidate are constants."""
    idx = np.flatnonzero(mask)
    job = model.job[idx]
    counts = np.bincount(job, minlength=model.n_jobs)
    if np.any(counts == 0):
        return _Solved("infeasible", None, math.inf, math.inf, {"reason": "job without pair"})
    single = counts[job] == 1
    fixed = idx[single]
    free = idx[~single]
    n_res = model.res.shape[1]
    const = np.zeros((model.n_agents, n_res), dtype=np.int64)
    np.add.at(const, model.agent[fixed], model.res[fixed])
    cp = cp_model.CpModel()
    xs = [cp.new_bool_var("") for _ in range(free.size)]
    # exactly one per free job: pairs are sorted by job, so runs are contiguous
    fj = model.job[free]
    cut = np.flatnonzero(np.diff(fj)) + 1
    bounds = np.concatenate([[0], cut, [free.size]]).tolist()
    for s, e in zip(bounds[:-1], bounds[1:], strict=False):
        if e > s:
            cp.add_exactly_one(xs[s:e])
    fa = model.agent[free]
    order = np.argsort(fa, kind="stable")
    astarts = np.searchsorted(fa[order], np.arange(model.n_agents + 1))
    hi_on, lo_on = _active_limits(model)
    lits: list[tuple[Any, int, int, str]] = []
    loads: list[Any] = [None] * model.n_agents
    for a in range(model.n_agents):
        sel = order[astarts[a] : astarts[a + 1]]
        vars_a = [xs[k] for k in sel.tolist()]
        for r in range(n_res):
            w = model.res[free[sel], r]
            expr = cp_model.LinearExpr.weighted_sum(vars_a, w.tolist()) + int(const[a, r])
            if r == model.imbalance_res:
                loads[a] = expr
            for on, kind in ((hi_on[a, r], "max"), (lo_on[a, r], "min")):
                if not on:
                    continue
                ct = (
                    cp.add(expr <= int(model.hi[a, r]))
                    if kind == "max"
                    else cp.add(expr >= int(model.lo[a, r]))
                )
                if assumptions:
                    lit = cp.new_bool_var(f"{kind}{a}_{r}")
                    ct.only_enforce_if(lit)
                    lits.append((lit, a, r, kind))
    obj = cp_model.LinearExpr.weighted_sum(xs, model.cost[free].tolist()) + int(
        model.cost[fixed].sum()
    )
    if model.imbalance_weight > 0:
        used = np.flatnonzero(np.bincount(model.agent[idx], minlength=model.n_agents) > 0)
        top = int(np.bincount(model.agent, weights=model.res[:, model.imbalance_res]).max())
        lmax, lmin = cp.new_int_var(0, top, "lmax"), cp.new_int_var(0, top, "lmin")
        for a in used.tolist():
            cp.add(loads[a] <= lmax)
            cp.add(loads[a] >= lmin)
        obj = obj + model.imbalance_weight * (lmax - lmin)
    if model.keep is not None and model.keep_min > 0:
        kf = model.keep[free]
        n_kept_fixed = int(model.keep[fixed].sum())
        cp.add(sum(xs[k] for k in np.flatnonzero(kf).tolist()) + n_kept_fixed >= model.keep_min)
    cp.minimize(obj)
    if hint is not None and np.all(mask[hint]):
        chosen = np.zeros(model.n_pairs, dtype=bool)
        chosen[hint] = True
        for v, val in zip(xs, chosen[free].tolist(), strict=True):
            cp.add_hint(v, val)
        if model.imbalance_weight > 0:
            load = np.bincount(
                model.agent[hint],
                weights=model.res[hint, model.imbalance_res],
                minlength=model.n_agents,
            )[used]
            cp.add_hint(lmax, int(load.max()))
            cp.add_hint(lmin, int(load.min()))
    if assumptions:
        cp.add_assumptions([lit for lit, *_ in lits])
    solver = cp_model.CpSolver()
    _params(solver, time_limit, seed, num_workers, deterministic)
    code = solver.solve(cp)
    stats = {
        "wall_time": solver.wall_time,
        "deterministic_time": solver.deterministic_time,
        "n_vars": len(xs),
        "n_fixed_jobs": int(fixed.size),
        "branches": solver.num_branches,
        "conflicts": solver.num_conflicts,
    }
    if code == cp_model.INFEASIBLE:
        conflicts: tuple[tuple[int, int, str], ...] = ()
        if assumptions:
            core = set(solver.sufficient_assumptions_for_infeasibility())
            conflicts = tuple((a, r, k) for lit, a, r, k in lits if lit.index in core)
        return _Solved("infeasible", None, math.inf, math.inf, stats, conflicts)
    if code not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return _Solved("time_limit", None, math.inf, solver.best_objective_bound, stats)
    sol = np.asarray(solver.response_proto.solution, dtype=np.int64)[: len(xs)]
    choice = np.empty(model.n_jobs, dtype=np.int64)
    choice[model.job[fixed]] = fixed
    on = free[sol == 1]
    choice[model.job[on]] = on
    status = "optimal" if code == cp_model.OPTIMAL else "feasible"
    return _Solved(status, choice, solver.objective_value, solver.best_objective_bound, stats)


def _objective(model: _Model, choice: NDArray[np.int64]) -> int:
    obj = int(model.cost[choice].sum())
    if model.imbalance_weight > 0:
        load = np.bincount(
            model.agent[choice],
            weights=model.res[choice, model.imbalance_res],
            minlength=model.n_agents,
        )
        used = np.bincount(model.agent, minlength=model.n_agents) > 0
        obj += model.imbalance_weight * int(load[used].max() - load[used].min())
    return obj


def _flow_applies(model: _Model) -> bool:
    """Only household counts limit the owners (unit weights); a change cap is allowed."""
    if not np.all(model.res[:, 0] == 1):
        return False
    hi_on, lo_on = _active_limits(model)
    return not (hi_on[:, 1:].any() or lo_on[:, 1:].any())


def _flow_once(model: _Model, reward: int) -> tuple[NDArray[np.int64] | None, int]:
    """Min-cost flow with ``reward`` taken off every keep pair; choice and its flow cost.

    Jobs supply one unit each; agent ``a`` passes at most ``hi[a, 0]`` units to the sink,
    the first ``lo[a, 0]`` of them on an arc of cost ``-big`` so that minimum loads are
    met whenever they can be.
    """
    n, a_n = model.n_jobs, model.n_agents
    cost = model.cost if reward == 0 or model.keep is None else model.cost - reward * model.keep
    sink = n + a_n
    big = int(np.abs(cost).sum()) + 1
    lo = model.lo[:, 0]
    hi = np.minimum(model.hi[:, 0], n)
    smcf = min_cost_flow.SimpleMinCostFlow()
    arcs = smcf.add_arcs_with_capacity_and_unit_cost(
        model.job, n + model.agent, np.ones(model.n_pairs, dtype=np.int64), cost
    )
    agents = np.arange(a_n)
    smcf.add_arcs_with_capacity_and_unit_cost(
        n + agents, np.full(a_n, sink), lo, np.full(a_n, -big)
    )
    smcf.add_arcs_with_capacity_and_unit_cost(
        n + agents, np.full(a_n, sink), np.maximum(hi - lo, 0), np.zeros(a_n, dtype=np.int64)
    )
    supplies = np.zeros(sink + 1, dtype=np.int64)
    supplies[:n] = 1
    supplies[sink] = -n
    smcf.set_nodes_supplies(np.arange(sink + 1), supplies)
    if smcf.solve() != smcf.OPTIMAL:
        return None, 0
    used = np.flatnonzero(smcf.flows(arcs) > 0)
    choice = np.empty(n, dtype=np.int64)
    choice[model.job[used]] = used
    loads = np.bincount(model.agent[choice], minlength=a_n)
    if (loads < lo).any() or (loads > model.hi[:, 0]).any():  # a minimum load cannot be met
        return None, 0
    return choice, int(cost[choice].sum())


def _flow(model: _Model, max_rounds: int = 8) -> tuple[str, NDArray[np.int64] | None, int]:
    """Min-cost flow for a transportation model (see :func:`_flow_applies`).

    Returns status, the chosen pair per job and a lower bound of the model's objective
    without the imbalance term (which is >= 0). A change cap (``keep_min``) is met by
    Lagrangian relaxation: keeping the current owner earns a reward ``lam``, found by
    bisection as the smallest that keeps enough; ``flow_cost(lam) + lam * keep_min``
    bounds the optimum from below for every ``lam >= 0``.
    """
    choice, base = _flow_once(model, 0)
    if choice is None:
        return "infeasible", None, 0
    k_min = model.keep_min if model.keep is not None else 0
    if k_min <= 0 or int(model.keep[choice].sum()) >= k_min:
        return "optimal", choice, base
    assert model.keep is not None
    # first guess: the reward that makes the missing households, cheapest first, keep
    # their owner (ignoring loads); then bracket and bisect
    starts = _job_starts(model)
    cheapest = np.minimum.reduceat(model.cost, starts[:-1])
    kp = np.flatnonzero(model.keep)
    kept0 = np.zeros(model.n_jobs, dtype=bool)
    kept0[model.job[choice[model.keep[choice]]]] = True
    delta = np.sort((model.cost[kp] - cheapest[model.job[kp]])[~kept0[model.job[kp]]])
    need = k_min - int(kept0.sum())
    top = int(np.abs(model.cost).sum()) + 1  # above any chain of reassignments
    guess = int(min(top, delta[min(need, delta.size) - 1] + 1)) if delta.size else top
    bound = float(base)
    lam_lo, lam_hi, best = 0, -1, None
    lam = guess
    for _ in range(6):  # bracket: grow the reward until enough households keep their owner
        got, cost_l = _flow_once(model, lam)
        if got is None:
            return "infeasible", None, 0
        bound = max(bound, cost_l + lam * k_min)
        if int(model.keep[got].sum()) >= k_min:
            lam_hi, best = lam, got
            break
        lam_lo, lam = lam, min(top, 4 * lam)
    if best is None:
        got, cost_l = _flow_once(model, top)
        if got is None or int(model.keep[got].sum()) < k_min:
            return "infeasible", None, 0
        lam_hi, best = top, got
        bound = max(bound, cost_l + top * k_min)
    for _ in range(max_rounds):
        if lam_hi - lam_lo <= 1 or _objective(model, best) - bound <= 1e-3 * abs(bound):
            break
        mid = (lam_lo + lam_hi) // 2
        got, cost_mid = _flow_once(model, mid)
        if got is None:
            break
        bound = max(bound, cost_mid + mid * k_min)
        if int(model.keep[got].sum()) >= k_min:
            lam_hi, best = mid, got
        else:
            lam_lo = mid
    return "feasible", best, bound


def _feasible(model: _Model, choice: NDArray[np.int64]) -> bool:
    """Whether one pair per job (``choice``) meets every limit and the keep constraint."""
    loads = np.zeros((model.n_agents, model.res.shape[1]), dtype=np.int64)
    np.add.at(loads, model.agent[choice], model.res[choice])
    if (loads > model.hi).any() or (loads < model.lo).any():
        return False
    return model.keep is None or int(model.keep[choice].sum()) >= model.keep_min


def _lp_hint(model: _Model, x_lp: NDArray[np.float64]) -> NDArray[np.int64]:
    """The pair with the largest LP value per job (a rounding, maybe infeasible)."""
    order = np.lexsort((-x_lp, model.job))
    first = np.ones(order.size, dtype=bool)
    first[1:] = model.job[order][1:] != model.job[order][:-1]
    out = np.empty(model.n_jobs, dtype=np.int64)
    out[model.job[order[first]]] = order[first]
    return out


def _solve_model(
    model: _Model,
    *,
    time_limit: float,
    seed: int,
    num_workers: int,
    deterministic: bool,
    core_size: int = 3,
    hint: NDArray[np.int64] | None = None,
    fast_flow: bool = False,
    lp: tuple[str, float, NDArray[np.float64], NDArray[np.float64]] | None = None,
) -> _Solved:
    """LP bound, core model, reduced-cost fixing, exact model (see the module doc).

    ``lp`` is a result of :func:`_lp` on this model when the caller has one already.

    Transportation models (only household counts limited, no change cap) go to a
    min-cost flow first; with ``fast_flow`` its solution is kept even when an
    imbalance term makes it merely feasible (the flow cost is then the bound).
    """
    t0 = time.perf_counter()
    if model.imbalance_weight == 0 or fast_flow:
        if _flow_applies(model):
            status, choice, base = _flow(model)
            if choice is not None and (fast_flow or status == "optimal"):
                ub = _objective(model, choice)
                st = "optimal" if ub == base else "feasible"
                return _Solved(
                    st,
                    choice,
                    ub,
                    base,
                    {
                        "method": "min_cost_flow",
                        "flow_bound": base,
                        "total_time": time.perf_counter() - t0,
                    },
                )
    lp_status, lb, x_lp, rc = _lp(model) if lp is None else lp
    t_lp = time.perf_counter() - t0
    if lp_status == "infeasible":
        return _Solved("infeasible", None, math.inf, math.inf, {"lp_time": t_lp})
    have_lp = lp_status == "optimal"
    lb_int = math.ceil(lb - 1e-6) if have_lp else -math.inf
    budget = max(0.02, time_limit - (0.0 if deterministic else t_lp))
    best: _Solved | None = None
    stats: dict[str, Any] = {"lp_time": t_lp, "lp_bound": lb}
    starts = _job_starts(model)
    if have_lp:
        rounded = _lp_hint(model, x_lp)
        if _feasible(model, rounded):
            ub0 = _objective(model, rounded)
            stats["lp_rounding"] = ub0
            if ub0 - lb_int < 0.5:  # the LP optimum is integral: nothing left to search
                return _Solved(
                    "optimal",
                    rounded,
                    ub0,
                    ub0,
                    {**stats, "method": "lp", "total_time": time.perf_counter() - t0},
                )
            if hint is None or not _feasible(model, hint) or _objective(model, hint) > ub0:
                hint = rounded
    if have_lp and core_size > 0:
        # core: LP support plus the core_size smallest reduced costs of each job
        order = np.lexsort((rc, model.job))
        rank = np.arange(model.n_pairs) - starts[model.job[order]]
        core = np.zeros(model.n_pairs, dtype=bool)
        core[order[rank < core_size]] = True
        core |= x_lp > 1e-6
        if hint is not None:
            core[hint] = True
        first_hint = hint if hint is not None else _lp_hint(model, x_lp)
        core_time = budget * (0.35 if core.sum() < model.n_pairs else 1.0)
        got = _cp_solve(model, core, first_hint, core_time, seed, num_workers, deterministic)
        stats["core_pairs"] = int(core.sum())
        stats["core_status"] = got.status
        inc = got if got.choice is not None else None
        if hint is not None and _feasible(model, hint):
            ub = _objective(model, hint)
            if inc is None or ub < inc.objective:
                inc = _Solved("feasible", hint, ub, lb_int, {})
        if inc is not None:
            assert inc.choice is not None
            exact = core | (rc < inc.objective - lb_int - 1e-6)
            stats["exact_pairs"] = int(exact.sum())
            rest = budget - core_time if deterministic else time_limit - (time.perf_counter() - t0)
            if np.array_equal(exact, core) and inc.status == "optimal":
                best = _Solved("optimal", inc.choice, inc.objective, inc.objective, inc.stats)
            elif rest > 0.02:
                ex = _cp_solve(model, exact, inc.choice, rest, seed + 1, num_workers, deterministic)
                stats["exact_status"] = ex.status
                if ex.choice is not None and ex.objective <= inc.objective:
                    status = "optimal" if ex.status == "optimal" else "feasible"
                    best = _Solved(status, ex.choice, ex.objective, max(ex.bound, lb_int), ex.stats)
                else:
                    # the exact model holds every pair that could beat the incumbent
                    bound = max(lb_int, min(ex.bound, inc.objective))
                    best = _Solved("feasible", inc.choice, inc.objective, bound, inc.stats)
            else:
                best = _Solved("feasible", inc.choice, inc.objective, lb_int, inc.stats)
    if best is None and hint is not None and _feasible(model, hint):
        ub = _objective(model, hint)
        best = _Solved("feasible", hint, ub, lb_int, {})
    if best is None:
        rest = budget if deterministic else time_limit - (time.perf_counter() - t0)
        full = np.ones(model.n_pairs, dtype=bool)
        got = _cp_solve(model, full, hint, max(rest, 0.05), seed + 2, num_workers, deterministic)
        if got.choice is not None:
            best = _Solved(got.status, got.choice, got.objective, max(got.bound, lb_int), got.stats)
        else:
            best = got
    best.stats = {
        **best.stats,
        **stats,
        "method": "lp_cpsat",
        "total_time": time.perf_counter() - t0,
    }
    if best.choice is not None and best.objective - best.bound < 0.5:
        best.status = "optimal"
    return best


def _explain(model: _Model, seed: int) -> tuple[tuple[int, int, str], ...]:
    """Limits in an infeasible model that conflict (a CP-SAT assumption core)."""
    full = np.ones(model.n_pairs, dtype=bool)
    got = _cp_solve(model, full, None, 5.0, seed, 1, True, assumptions=True)
    return got.conflicts


# ------------------------------------------------------------------------ generic GAP


def _greedy_gap(
    cb: NDArray[np.float64],
    w: NDArray[np.int64],
    cap: NDArray[np.int64],
    elig: NDArray[np.bool_],
) -> NDArray[np.int32]:
    """Regret greedy: jobs with the largest gap between their two cheapest agents first."""
    m, n = cb.shape
    srt = np.sort(cb, axis=0)
    regret = srt[1] - srt[0] if m > 1 else np.zeros(n)
    a = np.empty(n, dtype=np.int32)
    load = np.zeros(m, dtype=np.int64)
    for j in np.argsort(-regret, kind="stable").tolist():
        fits = (load + w[:, j] <= cap) & elig[:, j]
        cand = np.where(fits, cb[:, j], np.inf)
        if np.isfinite(cand).any():
            i = int(np.argmin(cand))
        else:  # overloads someone; the search repairs it
            i = int(np.argmin(np.where(elig[:, j], w[:, j] - cap + load, _BIG)))
        a[j] = i
        load[i] += w[i, j]
    return a


class _Search:
    """Resumable tabu search state (Numba kernel ``_kernels.gap_search``).

    ``run`` advances it, from one thread at a time. Another thread never waits for a
    chunk to end: ``best_agent`` reads a copy of the best solution that ``run``
    refreshes after each chunk, and ``inject`` leaves a better solution that ``run``
    takes up before the next one (both under ``lock``, held only for a copy). A lock
    held for whole chunks starved such callers, since the running thread took it again
    at once after each chunk (seconds lost on d20200).
    """

    def __init__(
        self,
        c: NDArray[np.int64],
        w: NDArray[np.int64],
        cap: NDArray[np.int64],
        elig: NDArray[np.bool_],
        seed: np.random.SeedSequence,
        target: float = -math.inf,
    ) -> None:
        from gridopt.assign import _kernels as k

        self.k = k
        m, n = c.shape
        self.cb = np.ascontiguousarray(np.where(elig, c, 0), dtype=np.float64)
        self.w = np.ascontiguousarray(w, dtype=np.int64)
        self.cap = np.ascontiguousarray(cap, dtype=np.int64)
        self.el = np.ascontiguousarray(elig, dtype=np.bool_)
        self.assign = _greedy_gap(np.where(elig, self.cb, np.inf), self.w, self.cap, self.el)
        self.load = np.zeros(m, dtype=np.int64)
        self.info = np.zeros(k.INFO_SIZE)
        self.info[k.INFO_BEST] = math.inf
        self.info[k.INFO_TARGET] = target
        self.info[k.INFO_CUR] = k.gap_state(self.cb, self.w, self.assign, self.load)
        # one unit of overload costs about what a unit of weight is worth in cost
        el = self.el
        base = max(1e-6, float(np.mean(np.abs(self.cb[el])))) / max(1.0, float(np.mean(w[el])))
        block = n if n <= 2000 else max(1, int(4_000_000 // n))
        prm = np.zeros(k.PAR_SIZE)
        prm[k.PAR_TENURE_MIN] = 2 + n // 100
        prm[k.PAR_TENURE_MAX] = 6 + n // 40
        prm[k.PAR_PEN_UP] = 1.06
        prm[k.PAR_PEN_DOWN] = 0.97
        prm[k.PAR_PEN_MIN] = 0.02 * base
        prm[k.PAR_PEN_MAX] = 1e4 * base
        prm[k.PAR_PEN_INIT] = base
        prm[k.PAR_STALL] = 10 * n + 200
        prm[k.PAR_KICK] = max(2, n // 25)
        prm[k.PAR_CHAIN] = 8 if m > 2 else 0
        prm[k.PAR_SWAP_BLOCK] = block
        self.params = prm
        self.pen = np.full(m, base)
        self.tabu = np.zeros((m, n), dtype=np.int64)
        self.best = np.full(n, -1, dtype=np.int32)
        state = int(seed.generate_state(1, dtype=np.uint64)[0]) | 1
        self.rng = np.array([state], dtype=np.uint64)
        # work of one iteration in elementary moves, to size chunks and budgets
        self.work = n * m + block * n + 8 * n + 64
        self.lock = threading.Lock()  # guards the two hand-over slots below
        self._shown: tuple[float, NDArray[np.int64] | None] = (math.inf, None)
        self._pending: tuple[float, NDArray[np.int64]] | None = None
        self._restart: NDArray[np.int64] | None = None
        self.time = 0.0

    def run(self, n_iter: int) -> bool:
        """Advance ``n_iter`` iterations; True once the target is reached."""
        k = self.k
        t = time.perf_counter()
        with self.lock:
            pending, self._pending = self._pending, None
            restart, self._restart = self._restart, None
        if pending is not None and pending[0] < self.info[k.INFO_BEST]:
            self.best[:] = pending[1]
            self.assign[:] = pending[1]
            self.info[k.INFO_CUR] = k.gap_state(self.cb, self.w, self.assign, self.load)
            self.info[k.INFO_BEST] = self.info[k.INFO_CUR]
            self.info[k.INFO_LAST] = self.info[k.INFO_ITER]
        elif restart is not None:
            # go on from another solution; the penalties and the tabu list stay, which
            # keeps the search from sliding back into the region it came from
            self.assign[:] = restart
            self.info[k.INFO_CUR] = k.gap_state(self.cb, self.w, self.assign, self.load)
            self.info[k.INFO_LAST] = self.info[k.INFO_ITER]
        done = k.gap_search(
            self.cb, self.w, self.cap, self.el, self.assign, self.load, self.pen,
            self.tabu, self.best, self.info, self.rng, self.params, int(n_iter),
        )  # fmt: skip
        best = float(self.info[k.INFO_BEST])
        if best < self._shown[0]:
            copy = self.best.astype(np.int64)
            with self.lock:
                self._shown = (best, copy)
        self.time += time.perf_counter() - t
        return bool(done)

    def run_for(
        self,
        seconds: float,
        stop: threading.Event | None = None,
        progress: Callable[[dict[str, Any]], None] | None = None,
        now: Callable[[], float] = time.perf_counter,
    ) -> None:
        """Advance for ``seconds`` of the clock ``now`` (or until ``stop`` is set)."""
        t0 = now()
        chunk = max(10, int(1e6 / self.work))
        while now() - t0 < seconds and not (stop is not None and stop.is_set()):
            if self.run(chunk):
                break
            if progress is not None:
                progress(
                    {
                        "stage": "local search",
                        "iterations": int(self.info[self.k.INFO_ITER]),
                        "best": self.objective,
                        "elapsed": now() - t0,
                    }
                )

    def run_work(self, seconds: float) -> None:
        """Advance a number of iterations set by ``seconds`` and the instance size only."""
        self.run(max(50, int(seconds * 3e8 / self.work)))

    @property
    def objective(self) -> float:
        """Cost of the best feasible solution so far (inf before the first)."""
        with self.lock:
            return self._shown[0]

    def best_agent(self) -> NDArray[np.int64] | None:
        """A copy of the best feasible agent per job, or None."""
        with self.lock:
            best = self._shown[1]
        return None if best is None else best.copy()

    def inject(self, agent: NDArray[np.int64], objective: float) -> None:
        """Continue from a better feasible solution found elsewhere (before the next chunk)."""
        agent = np.asarray(agent, dtype=np.int64).copy()
        with self.lock:
            if objective >= self._shown[0] or (
                self._pending is not None and objective >= self._pending[0]
            ):
                return
            self._pending = (float(objective), agent)
            self._shown = (float(objective), agent.copy())

    def restart_from(self, agent: NDArray[np.int64]) -> None:
        """Continue from ``agent`` (before the next chunk), better or not; the best stays.

        A better solution is handed over with :meth:`inject` instead.
        """
        agent = np.asarray(agent, dtype=np.int64).copy()
        with self.lock:
            self._restart = agent

    def stats(self) -> dict[str, Any]:
        return {
            "ls_iterations": int(self.info[self.k.INFO_ITER]),
            "ls_restarts": int(self.info[self.k.INFO_RESTARTS]),
            "ls_time": self.time,
        }


def _local_search(
    c: NDArray[np.int64],
    w: NDArray[np.int64],
    cap: NDArray[np.int64],
    elig: NDArray[np.bool_],
    *,
    seed: np.random.SeedSequence,
    budget: float,
    deterministic: bool,
    target: float = -math.inf,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> tuple[NDArray[np.int64] | None, dict[str, Any]]:
    """Tabu search with ejection chains and adaptive penalties (see :class:`_Search`).

    Runs ``budget`` seconds (wall clock), or, when ``deterministic``, a number of
    iterations fixed by ``budget`` and the instance size alone. Stops early once a
    feasible solution costs ``target`` or less (a lower bound). Returns the best
    feasible agent per job (None if none was found) and search statistics.
    """
    search = _Search(c, w, cap, elig, seed, target)
    if deterministic:
        search.run_work(budget)
    else:
        search.run_for(budget, progress=progress)
    return search.best_agent(), search.stats()


def _lagrangian_fixing(
    c: NDArray[np.int64],
    w: NDArray[np.int64],
    cap: NDArray[np.int64],
    elig: NDArray[np.bool_],
    u0: NDArray[np.float64],
    ub: float,
    n_iter: int = 300,
) -> tuple[float, NDArray[np.bool_], NDArray[np.float64]] | None:
    """Lagrangian bound (knapsack subproblems) and the pairs that can beat ``ub``.

    Starts the subgradient at ``u0`` (e.g. the LP duals). Returns the bound, a mask of
    shape (m, n) of the pairs that may appear in a solution cheaper than ``ub``
    (integral costs) and the multipliers; None when the knapsack tables would be too
    large (capacities in the many thousands).
    """
    from gridopt.assign import _kernels as k

    m, n = c.shape
    top = int(cap.max())
    if (n + 1) * (top + 1) > 4_000_000:
        return None
    cf = np.ascontiguousarray(c, dtype=np.float64)
    wk = np.ascontiguousarray(w, dtype=np.int64)
    capk = np.ascontiguousarray(cap, dtype=np.int64)
    el = np.ascontiguousarray(elig, dtype=np.bool_)
    u = np.array(u0, dtype=np.float64)
    fwd = np.empty((n + 1, top + 1))
    bwd = np.empty((n + 1, top + 1))
    count = np.zeros(n, dtype=np.int64)
    bound = k.gap_lagrangian(cf, wk, capk, el, u, float(ub), n_iter, fwd, count)
    lb_in = np.empty((m, n))
    lb_out = np.empty((m, n))
    k.gap_lagrangian_fix(cf, wk, capk, el, u, fwd, bwd, lb_in, lb_out)
    tol = 1e-6 * max(1.0, abs(ub))
    keep = el & (lb_in <= ub - 1 + tol)
    # a pair whose exclusion lifts the bound above ub - 1 is in every better solution
    must = el & (lb_out > ub - 1 + tol)
    forced = must.any(axis=0)
    keep[:, forced] = must[:, forced]
    return float(bound), keep, u


class _Columns:
    """The job sets of every agent within ``delta`` of its Lagrangian knapsack optimum.

    At multipliers ``u`` a feasible assignment costs ``L(u)`` plus, per agent, the
    *slack* of its job set (its knapsack optimum minus the set's profit). A solution
    cheaper than ``L(u) + delta`` therefore uses only sets of slack below ``delta``:
    these columns, sorted by slack, are what :func:`_exact_columns` searches.
    """

    def __init__(
        self,
        c: NDArray[np.float64],
        w: NDArray[np.int64],
        cap: NDArray[np.int64],
        el: NDArray[np.bool_],
        u: NDArray[np.float64],
        delta: float,
        max_cols: int,
    ) -> None:
        from gridopt.assign import _kernels as k

        m, n = c.shape
        bwd = np.empty((n + 1, int(cap.max()) + 1))
        jobs = np.empty(max_cols * max(4, 2 * n // m + 2) + n, np.int32)
        start = np.zeros(max_cols + 2, np.int64)
        val = np.empty(max_cols + 1)
        agent = np.empty(max_cols + 1, np.int64)
        z = np.empty(m)
        nc = 0
        self.full = False
        for i in range(m):
            k._knap_backward(c, w, el, u, i, int(cap[i]), bwd)
            z[i] = bwd[0, int(cap[i])]
            got = k.gap_columns(
                c, w, el, u, i, int(cap[i]), bwd, z[i] - delta, jobs, start, val, nc
            )
            if got < 0:
                self.full = True
                return
            agent[nc:got] = i
            nc = got
        slack = z[agent[:nc]] - val[:nc]
        order = np.argsort(slack, kind="stable")
        lens = np.diff(start[: nc + 1])[order]
        first = start[:nc][order]
        self.start = np.zeros(nc + 1, np.int64)
        np.cumsum(lens, out=self.start[1:])
        take = np.repeat(first - self.start[:-1], lens) + np.arange(int(self.start[-1]))
        self.jobs = np.ascontiguousarray(jobs[take], dtype=np.int32)
        self.agent = np.ascontiguousarray(agent[:nc][order])
        self.slack = np.ascontiguousarray(slack[order])
        self.mask = np.zeros((nc, (n + 63) // 64), np.uint64)
        col = np.repeat(np.arange(nc), lens)
        bits = np.left_shift(np.uint64(1), (self.jobs % 64).astype(np.uint64))
        np.bitwise_or.at(self.mask, (col, self.jobs // 64), bits)
        self.n_cols = nc


def _exact_columns(
    c: NDArray[np.int64],
    w: NDArray[np.int64],
    cap: NDArray[np.int64],
    elig: NDArray[np.bool_],
    u0: NDArray[np.float64],
    ub: int,
    seconds: float,
    *,
    now: Callable[[], float] = time.perf_counter,
    max_cols: int = 1_000_000,
    steps: tuple[int, int] = (300, 20),
    max_nodes: int | None = None,
) -> tuple[NDArray[np.int64] | None, int, int, dict[str, Any]]:
    """Exact search over near-optimal knapsack columns, slack budget deepening.

    The Lagrangian multipliers ``u0`` are first refined. Then, for a growing budget
    ``delta`` (at most ``ub - 1 - L(u)``, the slack of anything better than ``ub``), the
    columns of slack within ``delta`` (:class:`_Columns`, at most ``max_cols``) are
    searched by branch and bound (:func:`_kernels.spp_search`, ``steps`` subgradient
    steps at the root and at other nodes). Costs are integral, so each level's budget
    is cut down to the last integer cost it admits (and raised, if need be, to the
    smallest cost not yet excluded): fewer columns, the same answer. A complete search
    at budget ``delta`` either finds the cheapest solution of slack within ``delta``,
    which is then optimal, or proves that every solution costs more than
    ``L(u) + delta``. ``max_nodes`` (for
    deterministic runs) stops after that many search nodes instead of the clock.

    Returns the best agent per job found (None if none beat ``ub``), its objective
    (``ub`` when none), a lower bound on the optimum and statistics. Integral costs.
    """
    from gridopt.assign import _kernels as k

    t0 = now()
    m, n = c.shape
    cf = np.ascontiguousarray(c, dtype=np.float64)
    wk = np.ascontiguousarray(w, dtype=np.int64)
    capk = np.ascontiguousarray(cap, dtype=np.int64)
    el = np.ascontiguousarray(elig, dtype=np.bool_)
    u = np.array(u0, dtype=np.float64)
    top = int(capk.max())
    lag = k.gap_lagrangian(cf, wk, capk, el, u, float(ub), 3000, np.empty((n + 1, top + 1)),
                           np.zeros(n, dtype=np.int64))  # fmt: skip
    lower = math.ceil(lag - 1e-6)
    best: NDArray[np.int64] | None = None
    stats: dict[str, Any] = {"columns_bound": lag, "columns_levels": []}
    # the candidate lists of all depths need n_cols * (m + 1) slots each
    # (and the column store about 2 n / m jobs per column): a few hundred MB at most
    max_cols = int(min(max_cols, 8_000_000 // (m + 1), 40_000_000 // (2 * n // m + 2)))
    gap = ub - 1 - lag
    if lower >= ub:
        stats["columns_time"] = now() - t0
        return best, ub, lower, stats
    # deepen from a small budget: each finished level raises the bound cheaply; a
    # level whose columns overflow max_cols caps the budget (delta_max)
    delta_max = gap
    delta = min(gap, 0.5)
    prev = 0.0
    nodes = 0

    def more() -> bool:
        if max_nodes is not None:
            return nodes < max_nodes
        return now() - t0 < seconds

    dive = False
    n_dives = 0
    while lower < ub and more():
        t_level = now()
        # costs are integral: the budget admits the costs up to floor(L + delta), and at
        # least the smallest one not yet excluded; columns of more slack are useless
        d_eff = max(math.floor(lag + delta + 1e-9), lower) - lag + 1e-6
        cols = _Columns(cf, wk, capk, el, u, d_eff, max_cols)
        if cols.full:
            delta_max = delta * 0.8
            # (budgets are cut to integer costs: a smaller one may admit nothing new)
            if math.floor(lag + delta_max + 1e-9) <= math.floor(lag + prev + 1e-9):
                break
            delta = delta_max
            continue
        nc = cols.n_cols
        level: dict[str, Any] = {"delta": d_eff, "columns": nc}
        stats["columns_levels"].append(level)
        words = cols.mask.shape[1]
        buf = np.empty(max(1, nc * (m + 1)), np.int64)
        bbuf = np.empty(max(1, nc * (m + 1)), np.int64)
        buf[:nc] = np.arange(nc)
        lvl = np.zeros((m + 2, 2), np.int64)
        lvl[0, 1] = nc
        br = np.zeros((m + 2, 3), np.int64)
        br[0, 2] = -1
        info = np.zeros(k.SPP_SIZE)
        # a dive looks for anything better than ub among the columns at hand
        cap_slack = ub - 1 - lag if dive else min(d_eff, ub - 1 - lag)
        info[k.SPP_CAP] = cap_slack + 1e-6
        info[k.SPP_BEST] = math.inf
        sel = np.full(m + 1, -1, np.int64)
        state = (
            lvl, br, np.zeros(m + 2), np.zeros((m + 2, words), np.uint64),
            np.zeros(m, np.bool_), np.zeros(m + 1, np.int64), sel, np.zeros((m + 2, n)),
        )  # fmt: skip
        prm = np.array(steps, dtype=np.float64)
        done = 0
        # a level gets a third of the time left, a dive that finds nothing a fifth; a
        # level too shallow to be followed by a dive (see below) only raises the bound,
        # and gets a tenth
        divable = d_eff >= 0.5 * (ub - lag) / m
        share = 0.2 if dive else (0.35 if divable else 0.1)
        give_up = t_level + share * (seconds - (t_level - t0))
        while not done and more():
            idle = not math.isfinite(info[k.SPP_BEST])
            if not idle and "first_found" not in level:
                level["first_found"] = now() - t_level
            if max_nodes is None and idle and now() > give_up:
                break
            done = k.spp_search(
                cols.mask, cols.agent, cols.slack, cols.jobs, cols.start, n, m, buf, bbuf,
                *state, info, prm, 200,
            )  # fmt: skip
            nodes += 200
        level["nodes"] = int(info[k.SPP_NODES])
        level["complete"] = bool(done)
        level["seconds"] = now() - t_level
        if math.isfinite(info[k.SPP_BEST]):
            agent = np.empty(n, np.int64)
            for col in sel[:m]:
                agent[cols.jobs[cols.start[col] : cols.start[col + 1]]] = cols.agent[col]
            obj = int(c[agent, np.arange(n)].sum())
            if obj < ub:
                best, ub = agent, obj
                level["found"] = obj
        if not done:
            # too slow to finish: look for better solutions among these columns, if
            # their slack can hold an improvement (at least half the incumbent's mean
            # slack per agent: with far less, the dives of the D instances found none)
            if not more() or not divable:
                break
            if dive:
                # a dive that found nothing: one more over a wider budget
                wider = min(delta_max, max(delta * 1.25, d_eff + 1.0))
                if "found" in level or n_dives >= 2 or wider <= delta + 1e-9:
                    break
                # (an overflow of max_cols at the wider budget stops the stage)
                prev, delta = d_eff, wider
            dive = True
            n_dives += 1
            continue
        # complete: nothing of slack within cap_slack beats what was found (a dive
        # searched a subset of the columns: it proves nothing)
        if dive:
            break
        lower = max(lower, min(ub, math.floor(lag + cap_slack + 1e-6) + 1))
        if delta >= delta_max - 1e-9 or cap_slack >= ub - 1 - lag - 1e-9:
            break
        # cheap levels double the budget, costly ones grow it by a quarter
        fast = level["seconds"] < 0.03 * seconds
        prev, delta = delta, min(delta_max, delta * (2.0 if fast else 1.25))
    stats["columns_time"] = now() - t0
    return best, ub, lower, stats


def _pairs_of(model: _Model, agent: NDArray[np.int64]) -> NDArray[np.int64]:
    """Pair index of each job's agent (pairs are sorted by job, then agent)."""
    key = model.job * model.n_agents + model.agent
    return np.searchsorted(key, np.arange(model.n_jobs) * model.n_agents + agent)


def _mip_solve(
    model: _Model,
    mask: NDArray[np.bool_],
    time_limit: float,
    deterministic: bool,
    cost: NDArray[np.float64] | None = None,
) -> _Solved:
    """HiGHS branch and cut (:func:`scipy.optimize.milp`) on the pairs in ``mask``.

    Single resource, upper limits only (the generic GAP). With ``deterministic`` the
    search stops after a node count set by ``time_limit`` (the clock is a safety net).
    ``cost`` (one per pair) replaces the model's costs in the objective; the result's
    objective is still counted in the model's costs (and its bound is then meaningless).
    """
    from scipy.optimize import Bounds, LinearConstraint, milp

    idx = np.flatnonzero(mask)
    p = idx.size
    cols = np.arange(p)
    a_eq = sparse.csr_matrix((np.ones(p), (model.job[idx], cols)), shape=(model.n_jobs, p))
    a_ub = sparse.csr_matrix(
        (model.res[idx, 0].astype(np.float64), (model.agent[idx], cols)),
        shape=(model.n_agents, p),
    )
    options: dict[str, Any] = {"time_limit": max(0.05, float(time_limit))}
    if deterministic:
        options = {"node_limit": max(10, int(200 * time_limit)), "time_limit": 20 * time_limit}
    res = milp(
        (model.cost if cost is None else cost)[idx].astype(np.float64),
        constraints=[
            LinearConstraint(a_eq, 1.0, 1.0),
            LinearConstraint(a_ub, -np.inf, model.hi[:, 0].astype(np.float64)),
        ],
        integrality=np.ones(p),
        bounds=Bounds(0.0, 1.0),
        options=options,
    )
    bound = getattr(res, "mip_dual_bound", None)
    bound = -math.inf if bound is None or not math.isfinite(bound) else float(bound)
    stats = {"n_vars": p, "mip_status": int(res.status), "mip_bound": bound}
    if res.x is None:
        status = "infeasible" if res.status == 2 else "time_limit"
        return _Solved(status, None, math.inf, math.inf if res.status == 2 else bound, stats)
    return _mip_result(model, idx[res.x > 0.5], res.status == 0, bound, stats)


def _mip_result(
    model: _Model, on: NDArray[np.int64], optimal: bool, bound: float, stats: dict[str, Any]
) -> _Solved:
    """A branch and cut's solution (the pairs ``on``, one per job) as a :class:`_Solved`."""
    choice = np.empty(model.n_jobs, dtype=np.int64)
    choice[model.job[on]] = on
    obj = float(model.cost[choice].sum())
    if optimal:
        return _Solved("optimal", choice, obj, obj, stats)
    # the dual bound is infinite when the limit hits before the root LP is solved
    lower = math.ceil(bound - 1e-6) if math.isfinite(bound) else -math.inf
    return _Solved("feasible", choice, obj, lower, stats)


def _scip_solve(
    model: _Model,
    mask: NDArray[np.bool_],
    time_limit: float,
    deterministic: bool,
    hint: NDArray[np.int64] | None = None,
) -> _Solved:
    """SCIP (bundled with OR-Tools) branch and cut on the pairs in ``mask``.

    Single resource, upper limits only (the generic GAP). ``hint`` (pair indices, one per
    job, all in ``mask``) is handed over as a start solution. With ``deterministic`` the
    search stops after a node count set by ``time_limit`` (the clock is a safety net).
    """
    from ortools.linear_solver import pywraplp

    idx = np.flatnonzero(mask)
    solver = pywraplp.Solver.CreateSolver("SCIP")
    if solver is None:  # pragma: no cover - every OR-Tools wheel bundles SCIP
        raise RuntimeError("this OR-Tools build has no SCIP")
    xs = [solver.BoolVar(f"x{k}") for k in range(idx.size)]
    rows = [solver.Constraint(1.0, 1.0) for _ in range(model.n_jobs)]
    caps = [solver.Constraint(-solver.infinity(), float(h)) for h in model.hi[:, 0].tolist()]
    objective = solver.Objective()
    for x, j, a, r, cost in zip(
        xs,
        model.job[idx].tolist(),
        model.agent[idx].tolist(),
        model.res[idx, 0].tolist(),
        model.cost[idx].tolist(),
        strict=True,
    ):
        rows[j].SetCoefficient(x, 1.0)
        caps[a].SetCoefficient(x, float(r))
        objective.SetCoefficient(x, float(cost))
    objective.SetMinimization()
    if hint is not None:
        solver.SetHint(xs, np.isin(idx, hint).astype(np.float64).tolist())
    limit = max(0.05, float(time_limit))
    if deterministic:
        solver.SetSolverSpecificParametersAsString(f"limits/nodes = {max(10, int(200 * limit))}\n")
        limit *= 20
    solver.SetTimeLimit(int(1000 * limit))
    status = solver.Solve()
    found = status in (pywraplp.Solver.OPTIMAL, pywraplp.Solver.FEASIBLE)
    bound = objective.BestBound() if found else -math.inf
    stats = {"n_vars": int(idx.size), "scip_status": int(status), "mip_bound": bound}
    if not found:
        infeasible = status == pywraplp.Solver.INFEASIBLE
        return _Solved(
            "infeasible" if infeasible else "time_limit",
            None,
            math.inf,
            math.inf if infeasible else -math.inf,
            stats,
        )
    on = idx[np.array([x.solution_value() for x in xs]) > 0.5]
    return _mip_result(model, on, status == pywraplp.Solver.OPTIMAL, bound, stats)


def _solve_fixed(
    model: _Model,
    c: NDArray[np.int64],
    w: NDArray[np.int64],
    cap: NDArray[np.int64],
    elig: NDArray[np.bool_],
    duals: NDArray[np.float64],
    hint: NDArray[np.int64],
    lb_int: float,
    *,
    time_limit: float,
    seed: int,
    num_workers: int,
    deterministic: bool,
    exact: str = "auto",
    x_lp: NDArray[np.float64] | None = None,
    sub_share: float = 0.5,
    sub_time: float = 0.5,
    search: _Search | None = None,
    now: Callable[[], float] = time.perf_counter,
    columns: float = 0.6,
) -> _Solved | None:
    """Lagrangian fixing around the incumbent, ``exact`` on what is left, repeated.

    First ``columns`` of the time goes to :func:`_exact_columns` (exact search over
    near-optimal knapsack columns; only with at most ``_COLUMNS_JOBS_PER_AGENT`` jobs
    per agent on average). Then each round solves the model reduced to the
    pairs that can beat the incumbent (plus the incumbent) for a while; a better
    solution shrinks the next reduced model.
    ``exact`` is ``"mip"`` (HiGHS branch and cut, :func:`_mip_solve`), ``"scip"``
    (:func:`_scip_solve`), ``"cpsat"``, or ``"auto"``: a reduced model of at most
    ``_ONE_ROUND_PAIRS_PER_JOB`` pairs per job is solved whole in one round by SCIP,
    larger ones in rounds by HiGHS.
    With a ``search`` beside it and ``exact="mip"``, the whole reduced model gets one
    short plain round (an easy model is proven there) and then short rounds on perturbed
    costs (kicks): a better solution becomes the incumbent, any other restarts the
    search (:meth:`_Search.restart_from`); kicks prove nothing.
    Returns None when the Lagrangian tables would be too large (the caller falls back).
    """
    t0 = now()
    inc = hint
    ub = _objective(model, inc)
    got = _lagrangian_fixing(c, w, cap, elig, duals, ub)
    if got is None:
        return None
    lag, keep, u = got
    bound = max(lb_int, math.ceil(lag - 1e-6))
    stats: dict[str, Any] = {
        "lagrangian_bound": lag,
        "lagrangian_time": now() - t0,
        "method": f"lagrangian_{exact}",
        "rounds": 0,
        "trace": [(0.0, ub, "start")],
    }
    left = time_limit - (0.0 if deterministic else now() - t0)

    def refix() -> None:
        # a better incumbent: a few more subgradient steps and a smaller reduced model
        nonlocal keep, u, bound
        got = _lagrangian_fixing(c, w, cap, elig, u, ub, n_iter=30)
        assert got is not None
        lag2, keep, u = got
        bound = max(bound, math.ceil(lag2 - 1e-6))

    # long job sets give too many columns; the MIP rounds do better there
    if columns > 0 and bound < ub and model.n_jobs <= _COLUMNS_JOBS_PER_AGENT * model.n_agents:
        # exact search over near-optimal knapsack columns (:func:`_exact_columns`)
        share = columns * left
        found, ub_c, lower, cstats = _exact_columns(
            c, w, cap, elig, u, ub, share, now=now,
            max_nodes=int(5000 * share) if deterministic else None,
        )  # fmt: skip
        stats.update(cstats)
        bound = max(bound, lower)
        if found is not None:
            inc, ub = _pairs_of(model, found), ub_c
            stats["from_columns"] = ub_c
            stats["trace"].append((now() - t0, ub, "columns"))
            if search is not None:
                search.inject(found, float(ub))
            if bound < ub:
                refix()
        left = time_limit - (share if deterministic else now() - t0)
    n_kept = int(keep[model.agent, model.job].sum())
    stats["reduced_pairs"] = n_kept
    # a small reduced model is solved whole at once: restarting it in rounds throws away
    # the branch and bound's work (c10200: 423 pairs, about 5 s to optimality)
    one_round = n_kept <= _ONE_ROUND_PAIRS_PER_JOB * model.n_jobs
    round_t = left if one_round else max(0.5, 0.5 * left)
    if exact == "auto":
        exact = "scip" if one_round else "mip"
    stats["method"] = f"lagrangian_{exact}"
    # neighbourhood rounds (RINS-like): jobs where the incumbent disagrees with the LP,
    # plus a random share, are re-optimised exactly with the others fixed; then the
    # whole reduced model for the time that is left
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(2)[1])
    n_sub = (
        0
        if x_lp is None or one_round
        else max(0, int(sub_share * time_limit / max(sub_time, 1e-3)))
    )
    stale = 0
    stats["sub_rounds"] = 0
    # with a search beside it, the whole large reduced model gets short rounds on
    # perturbed costs whose solutions restart the search (see the module doc)
    kicks = search is not None and exact == "mip" and not deterministic
    kick_time = min(_KICK_MAX_TIME, max(_KICK_MIN_TIME, _KICK_SHARE * time_limit))
    stats["kicks"] = 0
    plain_done = False  # the first round on the whole reduced model is a plain one
    while bound < ub:
        rest = left if deterministic else time_limit - (now() - t0)
        if rest < 0.05:
            break
        if search is not None and search.objective < ub - 0.5:
            found = search.best_agent()
            if found is not None:
                inc = _pairs_of(model, found)
                ub = _objective(model, inc)
                stats["from_search"] = stats.get("from_search", 0) + 1
                stats["trace"].append((now() - t0, ub, "search"))
                refix()
                continue
        mask = keep[model.agent, model.job]
        sub = x_lp is not None and stats["sub_rounds"] < n_sub and stale < 4
        # after the plain round (where an easy model is proven optimal) come the kicks
        kick = kicks and not sub and plain_done
        plain_done = plain_done or not sub
        if sub:
            assert x_lp is not None
            free = np.zeros(model.n_jobs, dtype=bool)
            free[model.job[inc[x_lp[inc] < 0.5]]] = True
            free |= rng.random(model.n_jobs) < 0.15 + 0.1 * stale
            mask &= free[model.job]
            limit = min(rest, sub_time)
            stats["sub_rounds"] += 1
        else:
            limit = min(rest, kick_time if kicks else round_t)
        mask[inc] = True  # the incumbent stays a solution of the reduced model
        stats["fixed_pairs"] = int(mask.sum())
        left -= limit
        if kick:
            # a short branch and cut on slightly perturbed costs: a good solution from
            # elsewhere, for the tabu search to go on from
            noisy = model.cost * (1.0 + _KICK_NOISE * rng.random(model.n_pairs))
            ex = _mip_solve(model, mask, limit, deterministic, cost=noisy)
            stats["kicks"] += 1
        elif exact == "mip":
            ex = _mip_solve(model, mask, limit, deterministic)
        elif exact == "scip":
            ex = _scip_solve(model, mask, limit, deterministic, inc)
        else:
            ex = _cp_solve(model, mask, inc, limit, seed, num_workers, deterministic)
        stats["rounds"] += 1
        stats["exact"] = ex.stats
        better = ex.choice is not None and ex.objective < ub
        if better:
            assert ex.choice is not None
            inc, ub = ex.choice, int(round(ex.objective))
            stale = 0
            stats["trace"].append((now() - t0, ub, "kick" if kick else "sub" if sub else "mip"))
            if search is not None:
                search.inject(model.agent[inc], float(ub))
        else:
            stale += 1
        if kick and not better and ex.choice is not None:
            assert search is not None
            search.restart_from(model.agent[ex.choice])
        if sub or kick:  # neither proves anything about the whole reduced model
            if better:
                refix()
            continue
        if ex.status == "optimal":
            # every solution cheaper than the old incumbent lies in the reduced model
            bound = ub
            break
        if math.isfinite(min(ex.bound, ub)):
            bound = max(bound, math.ceil(min(ex.bound, ub) - 1e-6))
        if better:
            refix()
        else:
            round_t *= 2
    if bound >= ub:
        return _Solved("optimal", inc, ub, ub, stats)
    return _Solved("feasible", inc, ub, bound, stats)


_WARM = threading.Event()


def _warm_kernels() -> None:
    """Load (on a fresh install: compile) the Numba kernels once per process.

    :func:`solve_gap` calls it before starting its clock, so that compilation never eats
    the time limit; benchmarks call it in a session fixture.
    """
    if _WARM.is_set():
        return
    from gridopt.assign import _kernels as k

    c = np.array([[1, 2, 3], [2, 1, 3]], dtype=np.int64)
    w = np.ones((2, 3), dtype=np.int64)
    cap = np.array([2, 2], dtype=np.int64)
    elig = np.ones((2, 3), dtype=np.bool_)
    s = _Search(c, w, cap, elig, np.random.SeedSequence(0))
    s.run(5)
    got = _lagrangian_fixing(c, w, cap, elig, np.zeros(3), 10.0, n_iter=2)
    assert got is not None and k.INFO_SIZE > 0
    _exact_columns(c, w, cap, elig, got[2], 10, 1.0, max_nodes=50)
    _WARM.set()


@dataclass(frozen=True)
class GapResult:
    """Result of :func:`solve_gap`.

    Attributes
    ----------
    status : str
        ``optimal``, ``feasible``, ``infeasible`` or ``time_limit`` (no solution found).
    agent : ndarray of int64, shape (n_jobs,)
        Agent of each job (0-based); all -1 when there is no solution.
    objective : float
        Total cost (caller's units); ``inf`` without a solution.
    bound : float
        Proven lower bound on the optimum (caller's units).
    gap : float
        ``(objective - bound) / max(1, |objective|)``; 0 when optimal, ``inf`` without
        a solution.
    loads : ndarray of float64, shape (n_agents,)
        Summed weight per agent.
    stats : dict
        Run statistics: wall time, LP bound, core and exact model sizes, CP-SAT counts.
    reasons : tuple of str
        Why the instance is infeasible (empty otherwise).
    """

    status: str
    agent: NDArray[np.int64]
    objective: float
    bound: float
    gap: float
    loads: NDArray[np.float64]
    stats: dict[str, Any]
    reasons: tuple[str, ...] = ()

    def is_feasible(self) -> bool:
        """True when a solution was found."""
        return self.status in ("optimal", "feasible")

    def summary(self) -> str:
        """One line: status, objective, bound, gap and time."""
        return (
            f"{self.status}: objective {self.objective:g}, bound {self.bound:g}, "
            f"gap {100 * self.gap:.2f} %, {self.stats.get('wall_time', 0.0):.2f} s"
        )


def _scale(
    name: str, arr: NDArray[np.float64], scale: float | None
) -> tuple[NDArray[np.int64], float]:
    finite = arr[np.isfinite(arr)]
    if scale is None:
        if finite.size == 0 or np.all(finite == np.round(finite)):
            scale = 1.0
        else:
            top = float(np.abs(finite).max()) or 1.0
            scale = 10.0 ** max(0, math.ceil(6 - math.log10(top)))
    scaled = np.round(np.where(np.isfinite(arr), arr, 0.0) * scale)
    if scaled.size and np.abs(scaled).max() > 2**50:
        raise InputError(name, "values too large for integer scaling; pass a smaller cost_scale")
    return scaled.astype(np.int64), float(scale)


def solve_gap(
    costs: ArrayLike,
    weights: ArrayLike,
    capacities: ArrayLike,
    *,
    eligible: ArrayLike | None = None,
    time_limit: float = 10.0,
    seed: int = 0,
    num_workers: int = 8,
    deterministic: bool = False,
    cost_scale: float | None = None,
    core_size: int = 3,
    local_search: float = 0.1,
    lagrangian: bool = True,
    exact: str = "auto",
    columns: float = 0.6,
    parallel_search: bool = True,
    clock: str = "wall",
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> GapResult:
    """Solve a generalized assignment problem (minimisation) with CP-SAT.

    Every job goes to exactly one eligible agent; the summed weight of each agent's jobs
    stays within its capacity; the total cost is minimised. Variables exist only for
    eligible pairs.

    Parameters
    ----------
    costs : array_like of float, shape (n_agents, n_jobs)
        Cost of giving job ``j`` to agent ``i`` (the OR-Library layout).
    weights : array_like of float, shape (n_agents, n_jobs)
        Capacity used by job ``j`` at agent ``i``, >= 0.
    capacities : array_like of float, shape (n_agents,)
        Capacity of each agent, >= 0.
    eligible : array_like of bool, shape (n_agents, n_jobs), optional
        Allowed pairs; default every pair with a finite cost.
    time_limit : float
        Seconds (CP-SAT work units when ``deterministic``).
    seed : int
        CP-SAT random seed.
    num_workers : int
        CP-SAT search workers (a portfolio; more than the cores can still help).
    deterministic : bool
        Reproducible runs (see the module doc).
    cost_scale : float, optional
        Multiplier turning costs into integers (see the module doc).
    core_size : int
        Pairs per job in the core model (0 solves the full model directly).
    local_search : float
        Share of ``time_limit`` for a tabu search (shift, swap and ejection-chain moves,
        adaptive overload penalties per agent; Numba) whose best solution hints CP-SAT;
        0 turns it off. A tenth is enough: with ``parallel_search`` the search keeps
        running beside the exact stage, which gains from the earlier start (on the
        Chu-Beasley sets 0.1 beat 0.3 on types C and D and tied on A and B). When it
        reaches the LP bound the result is optimal at once.
        With ``deterministic`` its length is a number of iterations set by the share
        and the instance size, not by the clock.
    lagrangian : bool
        After the local search, bound the optimum by Lagrangian relaxation of "one
        agent per job" (one knapsack per agent, subgradient from the LP duals) and keep
        only the pairs that can appear in a cheaper solution (reduced-cost fixing);
        CP-SAT then searches that reduced model, where optimality is global. Skipped
        when capacities are too large for knapsack tables (then the LP core and exact
        models of the module doc are used).
    exact : {"auto", "mip", "scip", "cpsat"}
        Solver of the reduced model after Lagrangian fixing: HiGHS branch and cut
        (``"mip"``, :func:`scipy.optimize.milp`; its knapsack cuts suit tight
        capacities), SCIP branch and cut (bundled with OR-Tools) or CP-SAT, each with
        the incumbent as start where the solver takes one (HiGHS through SciPy does
        not). ``"auto"`` solves a small reduced model (at most 3 pairs per job) whole
        in one round with SCIP and larger ones in rounds with HiGHS: SCIP proves c10200
        optimal from its reduced model (423-471 pairs) in 4.5-8.4 s, where HiGHS took
        10.5 s on the 423 pairs, while HiGHS finds better solutions on the large type D
        models (d20200, seed 1, 30 s: 12305 and 12310 with HiGHS rounds, 12364 with
        SCIP rounds).
    columns : float
        Share of the time after the Lagrangian step for an exact branch and bound over
        each agent's near-optimal knapsack sets ("columns" of slack within a budget
        ``delta`` over the Lagrangian bound; the budget grows while levels finish, each
        finished level proves the optimum exceeds ``L + delta`` or finds it). A level
        too slow to finish turns into a dive for better solutions among its columns
        when its budget is at least half the incumbent's mean slack per agent.
        It runs where agents hold at most 12 jobs on average (longer job sets give
        too many columns, and the MIP rounds do better there). On Chu and Beasley's
        types C and D, where the Lagrangian bound is within a few units of the
        optimum, it finds and proves optima the other stages miss; 0 turns it off.
    parallel_search : bool
        Keep the local search running in a second thread while the exact solver works
        on the reduced model, trading better solutions between rounds (wall-clock runs
        only; ``deterministic`` runs are sequential). With HiGHS rounds, the search is
        also restarted from the solutions of short rounds on perturbed costs (kicks,
        see the module doc).
    clock : {"wall", "cpu"}
        What ``time_limit`` counts when not ``deterministic``: wall-clock seconds, or
        CPU seconds of this process (all its threads; fairer on a shared machine).
        CP-SAT and HiGHS get wall-clock limits per round; the rounds stop once the
        budget is spent.
    progress : callable, optional
        Called during the local search with ``{"stage", "iterations", "best",
        "elapsed"}`` (not with ``deterministic``).

    Notes
    -----
    The first call in a process loads the Numba kernels (on a fresh install it compiles
    them, which takes a while); that time is not counted in ``time_limit``.

    Returns
    -------
    GapResult

    Raises
    ------
    InputError
        On wrong shapes, NaN, negative weights or capacities, or a job without an
        eligible agent.

    Examples
    --------
    >>> res = solve_gap([[1, 5, 3], [4, 2, 1]], [[2, 2, 2], [2, 2, 2]], [4, 4], seed=0)
    >>> res.status, res.objective, res.agent.tolist()
    ('optimal', 4.0, [0, 1, 1])
    """
    t0 = time.perf_counter()
    c = np.asarray(costs, dtype=np.float64)
    if c.ndim != 2 or c.size == 0:
        raise InputError(
            "costs", f"must be a non-empty 2-d (n_agents, n_jobs) array, got shape {c.shape}"
        )
    n_agents, n_jobs = c.shape
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != c.shape:
        raise InputError("weights", f"must have shape {c.shape}, got {w.shape}")
    cap = np.asarray(capacities, dtype=np.float64)
    if cap.shape != (n_agents,):
        raise InputError("capacities", f"must have shape ({n_agents},), got {cap.shape}")
    if np.isnan(c).any():
        raise InputError("costs", "must not be NaN", first_rows(np.isnan(c).any(axis=1)))
    bad = ~np.isfinite(w) | (w < 0)
    if bad.any():
        raise InputError(
            "weights",
            "must be finite and >= 0",
            first_rows(bad.any(axis=1)),
            int(bad.any(axis=1).sum()),
        )
    bad = ~np.isfinite(cap) | (cap < 0)
    if bad.any():
        raise InputError("capacities", "must be finite and >= 0", first_rows(bad), int(bad.sum()))
    elig = np.isfinite(c) if eligible is None else np.asarray(eligible, dtype=bool) & np.isfinite(c)
    if elig.shape != c.shape:
        raise InputError("eligible", f"must have shape {c.shape}, got {elig.shape}")
    orphan = ~elig.any(axis=0)
    if orphan.any():
        raise InputError(
            "eligible", "jobs without an eligible agent", first_rows(orphan), int(orphan.sum())
        )
    if exact not in ("auto", "mip", "scip", "cpsat"):
        raise InputError("exact", f"must be 'auto', 'mip', 'scip' or 'cpsat', got {exact!r}")
    if clock not in ("wall", "cpu"):
        raise InputError("clock", f"must be 'wall' or 'cpu', got {clock!r}")
    now = time.process_time if clock == "cpu" else time.perf_counter
    if local_search > 0 or lagrangian:
        _warm_kernels()
    c0 = now()
    ci, cs = _scale("costs", c, cost_scale)
    wi, ws = _scale("weights", w, None)
    capi = np.floor(cap * ws + 1e-9).astype(np.int64)
    # a pair whose weight alone exceeds the capacity can never be used
    elig &= wi <= capi[:, None]
    reasons: list[str] = []
    orphan = ~elig.any(axis=0)
    if orphan.any():
        rows = np.flatnonzero(orphan)
        reasons.append(
            f"{rows.size} jobs fit no eligible agent's capacity (jobs {', '.join(map(str, rows[:5]))})"
        )
    need = np.where(elig, wi, _BIG).min(axis=0)
    if not reasons and need.sum() > capi.sum():
        reasons.append(
            f"total weight at least {need.sum() / ws:g} exceeds total capacity {capi.sum() / ws:g} "
            f"by {(need.sum() - capi.sum()) / ws:g}"
        )
    empty = np.full(n_jobs, -1, dtype=np.int64)
    if reasons:
        return GapResult(
            "infeasible",
            empty,
            math.inf,
            math.inf,
            math.inf,
            np.zeros(n_agents),
            {"wall_time": time.perf_counter() - t0},
            tuple(reasons),
        )
    model = _gap_model(ci, wi, capi, elig)
    hint = None
    ls_agent = None
    ls_stats: dict[str, Any] = {}
    duals: list[NDArray[np.float64]] = []
    lp = _lp(model, duals)
    lb_int = math.ceil(lp[1] - 1e-6) if lp[0] == "optimal" else -math.inf
    search: _Search | None = None
    if local_search > 0 and lp[0] != "infeasible":
        budget = local_search * time_limit
        search = _Search(ci, wi, capi, elig, np.random.SeedSequence(seed).spawn(1)[0], lb_int)
        if deterministic:
            search.run_work(budget)
        else:  # the LP is part of the heuristic's share
            search.run_for(max(0.0, budget - (now() - c0)), progress=progress, now=now)
        ls_agent = search.best_agent()
        ls_stats = search.stats()
        if ls_agent is not None:
            hint = _pairs_of(model, ls_agent)
    got: _Solved | None = None
    if hint is not None and _objective(model, hint) <= lb_int:
        # the heuristic reached the LP bound: proven optimal without CP-SAT
        ub = _objective(model, hint)
        got = _Solved("optimal", hint, ub, ub, {"method": "local_search", "lp_bound": lp[1]})
    elif hint is not None and lagrangian and duals:
        # the search goes on in a second thread while the exact solver runs (HiGHS and
        # the Numba kernel release the GIL); they trade better solutions between rounds
        side = search if (parallel_search and not deterministic) else None
        stop = threading.Event()
        thread = None
        if side is not None:
            thread = threading.Thread(target=side.run_for, args=(math.inf, stop), daemon=True)
            thread.start()
        try:
            got = _solve_fixed(
                model,
                ci,
                wi,
                capi,
                elig,
                duals[0],
                hint,
                lb_int,
                time_limit=(
                    time_limit * (1.0 - local_search)
                    if deterministic
                    else time_limit - (now() - c0)
                ),
                seed=seed,
                num_workers=num_workers,
                deterministic=deterministic,
                exact=exact,
                x_lp=lp[2] if lp[0] == "optimal" else None,
                search=side,
                now=now,
                columns=columns,
            )
        finally:
            stop.set()
            if thread is not None:
                thread.join()
        if got is not None and side is not None:
            last = side.best_agent()
            if last is not None and got.choice is not None:
                pairs = _pairs_of(model, last)
                if _objective(model, pairs) < got.objective:
                    got = _Solved("feasible", pairs, _objective(model, pairs), got.bound, got.stats)
            got.stats.update(side.stats())
            ls_stats = {}
        if got is not None:
            got.stats["lp_bound"] = lp[1]
    if got is None:
        rest = time_limit * (1.0 - local_search) if deterministic else time_limit - (now() - c0)
        got = _solve_model(
            model,
            time_limit=max(0.05, rest),
            seed=seed,
            num_workers=num_workers,
            deterministic=deterministic,
            core_size=core_size,
            hint=hint,
            lp=lp,
        )
    stats = {**got.stats, **ls_stats, "wall_time": time.perf_counter() - t0, "cost_scale": cs}
    if ls_agent is not None:
        stats["local_search"] = float(ci[ls_agent, np.arange(n_jobs)].sum()) / cs
    if got.choice is None:
        if got.status == "infeasible":
            conflicts = _explain(model, seed)
            agents = sorted({a for a, _, _ in conflicts})
            reasons.append(
                "capacities cannot hold every job"
                + (f"; conflicting agents {agents[:10]}" if agents else "")
            )
        return GapResult(
            got.status,
            empty,
            math.inf,
            got.bound / cs,
            math.inf,
            np.zeros(n_agents),
            stats,
            tuple(reasons),
        )
    agent = model.agent[got.choice]
    obj = float(c[agent, np.arange(n_jobs)].sum())
    bound = min(got.bound / cs, obj)
    loads = np.bincount(agent, weights=w[agent, np.arange(n_jobs)], minlength=n_agents)
    gap = 0.0 if got.status == "optimal" else (obj - bound) / max(1.0, abs(obj))
    return GapResult(
        got.status, agent, obj, obj if got.status == "optimal" else bound, gap, loads, stats
    )


# ------------------------------------------------------------------ household owners


def _per_owner(name: str, value: ArrayLike | None, n: int, default: float) -> NDArray[np.float64]:
    if value is None:
        return np.full(n, default)
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        arr = np.full(n, float(arr))
    if arr.shape != (n,):
        raise InputError(
            name, f"must be a scalar or have one entry per owner ({n}), got shape {arr.shape}"
        )
    bad = np.isnan(arr) | (arr < 0)
    if bad.any():
        raise InputError(name, "must be >= 0 (inf for no limit)", first_rows(bad), int(bad.sum()))
    return arr


@dataclass(frozen=True)
class OwnerLimits:
    """Per-owner minimum and maximum loads; scalars or arrays, one entry per owner.

    Owners are the staff of the owner role in staff order. ``None`` means no limit,
    except ``max_households``, which defaults to ``Staff.capacity``.

    Examples
    --------
    >>> OwnerLimits(min_households=10, max_households=[50, 60]).max_households
    [50, 60]
    """

    min_households: ArrayLike | None = None
    max_households: ArrayLike | None = None
    min_minutes: ArrayLike | None = None
    max_minutes: ArrayLike | None = None
    min_revenue: ArrayLike | None = None
    max_revenue: ArrayLike | None = None

    def resolve(
        self, capacity: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """(lo, hi) arrays of shape (n_owners, 3): households, minutes, revenue.

        Raises
        ------
        InputError
            When a limit is negative or NaN, or an owner's minimum exceeds its maximum.
        """
        n = capacity.shape[0]
        lo = np.column_stack(
            [
                _per_owner("limits.min_households", self.min_households, n, 0.0),
                _per_owner("limits.min_minutes", self.min_minutes, n, 0.0),
                _per_owner("limits.min_revenue", self.min_revenue, n, 0.0),
            ]
        )
        hi = np.column_stack(
            [
                capacity
                if self.max_households is None
                else _per_owner("limits.max_households", self.max_households, n, math.inf),
                _per_owner("limits.max_minutes", self.max_minutes, n, math.inf),
                _per_owner("limits.max_revenue", self.max_revenue, n, math.inf),
            ]
        )
        for r, word in enumerate(("households", "minutes", "revenue")):
            bad = lo[:, r] > hi[:, r]
            if bad.any():
                raise InputError(
                    f"limits.min_{word}",
                    f"exceeds max_{word} for some owners",
                    first_rows(bad),
                    int(bad.sum()),
                )
        return lo, hi


@dataclass(frozen=True)
class OwnerWeights:
    """Objective weights of :func:`assign_owners` (currency units).

    Attributes
    ----------
    travel_per_km : float
        Cost per km between a household and its owner's base.
    change : float
        Cost of giving a household a new owner (continuity).
    imbalance : float
        Cost per household of spread between the fullest and emptiest owner of a model.
    """

    travel_per_km: float = 1.0
    change: float = 50.0
    imbalance: float = 0.1

    def __post_init__(self) -> None:
        for name in ("travel_per_km", "change", "imbalance"):
            v = getattr(self, name)
            if not (np.isfinite(v) and v >= 0):
                raise InputError(f"weights.{name}", f"must be finite and >= 0, got {v}")


@dataclass(frozen=True)
class Assignment:
    """Result of :func:`assign_owners`.

    Attributes
    ----------
    status : str
        ``optimal`` (every model proven), ``feasible``, ``infeasible`` or ``time_limit``
        (some model found no solution in time).
    owner : ndarray of int64, shape (n_households,)
        Staff id of each household's owner; all -1 without a solution.
    owner_idx : ndarray of int64, shape (n_households,)
        Staff position of each household's owner; all -1 without a solution.
    owners : ndarray of int64, shape (n_owners,)
        Staff positions of the owner role, the rows of ``loads``.
    loads : ndarray of float64, shape (n_owners, 3)
        Households, visit minutes and revenue per owner.
    objective, bound : float
        Total objective (currency units, see :class:`OwnerWeights`) and the solvers'
        lower bound, summed over the models.
    gap : float
        ``(objective - bound) / max(1, objective)``.
    n_changes : int
        Households whose owner differs from ``current_owner``.
    models : tuple of dict
        Per model: grids, households, owners, status, objective, bound, times.
    reasons : tuple of str
        Why it is infeasible or incomplete: which grids, owners and limits, by how much.
    stats : dict
        Wall time and totals.
    """

    status: str
    owner: NDArray[np.int64]
    owner_idx: NDArray[np.int64]
    owners: NDArray[np.int64]
    loads: NDArray[np.float64]
    objective: float
    bound: float
    gap: float
    n_changes: int
    models: tuple[dict[str, Any], ...]
    reasons: tuple[str, ...]
    stats: dict[str, Any]

    LOAD_NAMES = ("households", "minutes", "revenue")

    def is_feasible(self) -> bool:
        """True when every household has an owner."""
        return self.status in ("optimal", "feasible")

    @property
    def table(self) -> Any:
        """Per-owner loads as a pandas DataFrame (owner position, households, minutes, revenue)."""
        import pandas as pd

        df = pd.DataFrame(self.loads, columns=list(self.LOAD_NAMES))
        df.insert(0, "owner_idx", self.owners)
        return df

    def summary(self) -> str:
        """One line: status, objective, gap, changes, time."""
        return (
            f"{self.status}: {len(self.models)} models, objective {self.objective:.2f}, "
            f"gap {100 * self.gap:.2f} %, {self.n_changes} changes, "
            f"{self.stats.get('wall_time', 0.0):.1f} s"
        )


def household_units(households: Households, units: Units, *, by: str = "auto") -> NDArray[np.int64]:
    """Unit position of each household.

    Parameters
    ----------
    households : Households
    units : Units
    by : {"auto", "building", "compound", "nearest"}
        ``building``/``compound`` match the household's id column against ``units.ids``;
        ``nearest`` takes the unit with the nearest centroid; ``auto`` tries building,
        then compound (each only when every household matches), then nearest.

    Returns
    -------
    ndarray of int64, shape (n_households,)

    Raises
    ------
    InputError
        When ``by`` names a column that does not match every household.

    Examples
    --------
    >>> from gridopt.model import Units
    >>> import numpy as np
    >>> u = Units.from_edges(ids=[7, 9], x=[0.0, 100.0], y=[0.0, 0.0],
    ...                      attributes={}, edges=[(0, 1)])
    >>> hh = _toy_households(x=[90.0, 5.0], building=[-1, -1])
    >>> household_units(hh, u).tolist()
    [1, 0]
    """
    if by not in ("auto", "building", "compound", "nearest"):
        raise InputError("by", f"must be auto, building, compound or nearest, got {by!r}")
    order = np.argsort(units.ids, kind="stable")
    sorted_ids = units.ids[order]
    for col in ("building", "compound"):
        if by not in ("auto", col):
            continue
        key = getattr(households, col)
        pos = np.clip(np.searchsorted(sorted_ids, key), 0, sorted_ids.size - 1)
        ok = sorted_ids[pos] == key
        if ok.all():
            return order[pos].astype(np.int64)
        if by == col:
            raise InputError(
                f"households.{col}",
                "ids not found among units.ids",
                first_rows(~ok),
                int((~ok).sum()),
            )
    from scipy.spatial import cKDTree

    tree = cKDTree(np.column_stack([units.x, units.y]))
    _, idx = tree.query(np.column_stack([households.x, households.y]))
    return np.asarray(idx, dtype=np.int64)


def grid_edges(units: Units, layout: Layout) -> NDArray[np.int64]:
    """Pairs of adjacent grids ``(g, h)``, ``g < h``, shape (n_pairs, 2), int64.

    Examples
    --------
    >>> from gridopt.model import Units, Layout
    >>> u = Units.from_edges(ids=[0, 1, 2], x=[0.0, 1.0, 2.0], y=[0.0, 0.0, 0.0],
    ...                      attributes={}, edges=[(0, 1), (1, 2)])
    >>> grid_edges(u, Layout(labels=[0, 1, 1], n_grids=2)).tolist()
    [[0, 1]]
    """
    if layout.n_units != units.n_units:
        raise InputError("layout.labels", f"has {layout.n_units} entries for {units.n_units} units")
    i, j, _ = units.edges()
    g, h = layout.labels[i].astype(np.int64), layout.labels[j].astype(np.int64)
    cross = g != h
    pairs = np.column_stack([np.minimum(g, h)[cross], np.maximum(g, h)[cross]])
    if pairs.size == 0:
        return np.zeros((0, 2), dtype=np.int64)
    return np.unique(pairs, axis=0)


def _toy_households(x: ArrayLike, building: ArrayLike, vip: ArrayLike | None = None) -> Households:
    """Tiny Households for examples and tests: only x, building and vip vary."""
    xs = np.asarray(x, dtype=np.float64)
    n = xs.shape[0]
    return Households(
        ids=np.arange(n),
        x=xs,
        y=np.zeros(n),
        building=building,
        compound=np.full(n, -1),
        tv=np.ones(n, bool),
        broadband=np.zeros(n, bool),
        mobile=np.zeros(n, bool),
        arpu=np.full(n, 30.0),
        contract_end=np.zeros(n, np.int32),
        churn_risk=np.zeros(n),
        segment=np.zeros(n, np.int8),
        vip=np.zeros(n, bool) if vip is None else vip,
    )


def _clusters(n_grids: int, edges: NDArray[np.int64], size: int) -> NDArray[np.int64]:
    """Cluster label per grid: breadth-first groups of up to ``size`` adjacent grids."""
    nbr: list[list[int]] = [[] for _ in range(n_grids)]
    for g, h in edges.tolist():
        nbr[g].append(h)
        nbr[h].append(g)
    label = np.full(n_grids, -1, dtype=np.int64)
    n_cl = 0
    for start in range(n_grids):
        if label[start] >= 0:
            continue
        queue, taken = [start], 0
        label[start] = n_cl
        while queue and taken < size:
            g = queue.pop(0)
            taken += 1
            for h in sorted(nbr[g]):
                if label[h] < 0 and taken + len(queue) < size:
                    label[h] = n_cl
                    queue.append(h)
        n_cl += 1
    return label


def assign_owners(
    households: Households,
    staff: Staff,
    *,
    household_grid: ArrayLike | None = None,
    units: Units | None = None,
    layout: Layout | None = None,
    limits: OwnerLimits | None = None,
    weights: OwnerWeights | None = None,
    visit_minutes: ArrayLike | float | None = None,
    current_owner: ArrayLike | None = None,
    max_changes: int | None = None,
    allow_adjacent: bool = False,
    adjacent_grids: ArrayLike | None = None,
    cluster_size: int = 6,
    owner_role: str = "account_manager",
    time_limit: float = 60.0,
    seed: int = 0,
    num_workers: int = 1,
    n_parallel: int = 1,
    deterministic: bool = True,
    fast_flow: bool = True,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> Assignment:
    """Give every household exactly one owner with CP-SAT, decomposed by grid.

    Owners are the staff of ``owner_role`` with a grid (``Staff.grid``). A household may
    go to an owner of its own grid, or of an adjacent grid when ``allow_adjacent``;
    VIP households only to owners with the senior skill. Each grid (or cluster of up to
    ``cluster_size`` adjacent grids when ``allow_adjacent``) is an independent model;
    models run in grid order, ``n_parallel`` at a time, each with its own seed from one
    :class:`numpy.random.SeedSequence`, so results do not depend on ``n_parallel``.

    Parameters
    ----------
    households : Households
    staff : Staff
    household_grid : array_like of int, shape (n_households,), optional
        Grid of each household. Otherwise ``units`` and ``layout`` give it (households
        are matched to units by :func:`household_units`).
    units : Units, optional
    layout : Layout, optional
    limits : OwnerLimits, optional
        Default: at most ``Staff.capacity`` households per owner.
    weights : OwnerWeights, optional
        Objective weights (travel, changes, imbalance).
    visit_minutes : float or array_like of float, shape (n_households,), optional
        Visit minutes per household (per planning period) for the minute limits;
        default 0.
    current_owner : array_like of int, shape (n_households,), optional
        Staff id of each household's current owner, -1 for none.
    max_changes : int, optional
        Cap on households that change owner. Models are first solved without it; if
        they change more, each model gets the changes its limits force plus a share of
        the rest in proportion to the changes it wanted, and models over their share
        are solved again with that share as a hard cap.
    allow_adjacent : bool
        Allow owners of adjacent grids (needs ``units`` + ``layout`` or
        ``adjacent_grids``).
    adjacent_grids : array_like of int, shape (n_pairs, 2), optional
        Adjacent grid pairs (default :func:`grid_edges`).
    cluster_size : int
        Grids per model when ``allow_adjacent``.
    owner_role : str
        Role of the owners (one of :data:`gridopt.model.ROLES`).
    time_limit : float
        Total seconds (CP-SAT work units when ``deterministic``), shared among the
        models in proportion to their size.
    seed : int
        Root seed.
    num_workers : int
        CP-SAT workers per model.
    n_parallel : int
        Models solved at once (threads; CP-SAT releases the GIL while it solves).
    deterministic : bool
        Bit-identical results for the same input and seed (see the module doc).
    fast_flow : bool
        Models where only household counts are limited and no change cap binds are
        transportation problems: solve them as a min-cost flow (fast, exact for travel
        and changes) and keep that solution; the imbalance term is then only reported,
        through the gap (the flow cost is the bound). False optimises it as well with
        the LP + CP-SAT engine.
    progress : callable, optional
        Called with ``{"stage", "done", "total", "grids", "status"}`` after each model
        (stage ``"assign"``, then ``"change cap"`` for models solved again).

    Returns
    -------
    Assignment

    Raises
    ------
    InputError
        On inconsistent lengths, unknown grids or owners, bad limits or weights.

    Examples
    --------
    >>> from gridopt.model import Staff
    >>> hh = _toy_households(x=[0.0, 10.0, 1000.0, 1010.0], building=[-1] * 4)
    >>> st = Staff(ids=[100, 101], role=[2, 2], x=[0.0, 1000.0], y=[0.0, 0.0],
    ...            shift_start=[480, 480], shift_end=[960, 960], skills=[0, 0],
    ...            capacity=[2, 2], grid=[0, 0])
    >>> res = assign_owners(hh, st, household_grid=[0, 0, 0, 0], time_limit=5)
    >>> res.status, res.owner.tolist()
    ('optimal', [100, 100, 101, 101])
    """
    t0 = time.perf_counter()
    n_h = households.n_households
    if owner_role not in ROLES:
        raise InputError("owner_role", f"must be one of {', '.join(ROLES)}, got {owner_role!r}")
    weights = weights or OwnerWeights()
    limits = limits or OwnerLimits()
    # ---- grid of each household
    if household_grid is not None:
        hg = np.asarray(household_grid)
        if hg.shape != (n_h,):
            raise InputError("household_grid", f"must have {n_h} entries, got shape {hg.shape}")
        if not np.issubdtype(hg.dtype, np.integer):
            raise InputError("household_grid", f"must be integers, got {hg.dtype}")
        hg = hg.astype(np.int64)
    elif units is not None and layout is not None:
        if layout.n_units != units.n_units:
            raise InputError(
                "layout.labels", f"has {layout.n_units} entries for {units.n_units} units"
            )
        hg = layout.labels[household_units(households, units)].astype(np.int64)
    else:
        raise InputError("household_grid", "give household_grid, or units and layout")
    if (hg < 0).any():
        raise InputError("household_grid", "must be >= 0", first_rows(hg < 0), int((hg < 0).sum()))
    # ---- owners
    owners = staff.of_role(owner_role).astype(np.int64)
    if owners.size == 0:
        raise InputError("staff.role", f"no staff with role {owner_role!r}")
    o_grid = staff.grid[owners].astype(np.int64)
    if (o_grid < 0).any():
        bad = owners[o_grid < 0]
        raise InputError(
            "staff.grid", f"every {owner_role} needs a grid (-1 found)", first_rows(bad), bad.size
        )
    n_grids = max(int(hg.max()), int(o_grid.max())) + 1
    if layout is not None:
        n_grids = max(n_grids, layout.n_grids)
    lo_f, hi_f = limits.resolve(staff.capacity[owners])
    n_o = owners.size
    lo = np.ceil(lo_f - 1e-9).astype(np.int64)
    hi = np.where(np.isfinite(hi_f), np.floor(np.minimum(hi_f, 2**40) + 1e-9), _BIG).astype(
        np.int64
    )
    senior = (staff.skills[owners] & SKILL_SENIOR) != 0
    # ---- household workloads
    if visit_minutes is None:
        minutes = np.zeros(n_h)
    else:
        minutes = np.asarray(visit_minutes, dtype=np.float64)
        if minutes.ndim == 0:
            minutes = np.full(n_h, float(minutes))
        if minutes.shape != (n_h,):
            raise InputError("visit_minutes", f"must have {n_h} entries, got shape {minutes.shape}")
        bad = ~np.isfinite(minutes) | (minutes < 0)
        if bad.any():
            raise InputError(
                "visit_minutes", "must be finite and >= 0", first_rows(bad), int(bad.sum())
            )
    res_h = np.column_stack([np.ones(n_h), np.rint(minutes), np.rint(households.arpu)]).astype(
        np.int64
    )
    # ---- current owners
    id_to_pos = {int(s): k for k, s in enumerate(staff.ids[owners].tolist())}
    cur = np.full(n_h, -1, dtype=np.int64)  # owner position (0..n_o-1) or -1
    had_owner = np.zeros(n_h, dtype=bool)
    if current_owner is not None:
        co = np.asarray(current_owner)
        if co.shape != (n_h,) or not np.issubdtype(co.dtype, np.integer):
            raise InputError("current_owner", f"must be {n_h} integer staff ids (-1 for none)")
        had_owner = co >= 0
        known = np.array([id_to_pos.get(int(v), -2) for v in co.tolist()], dtype=np.int64)
        unknown = had_owner & (known == -2)
        staff_ids = set(staff.ids.tolist())
        really_unknown = unknown & ~np.isin(co, list(staff_ids))
        if really_unknown.any():
            raise InputError(
                "current_owner",
                "unknown staff ids",
                first_rows(really_unknown),
                int(really_unknown.sum()),
            )
        cur = np.where(known >= 0, known, -1)
    if max_changes is not None and int(max_changes) < 0:
        raise InputError("max_changes", f"must be >= 0, got {max_changes}")
    if cluster_size < 1:
        raise InputError("cluster_size", f"must be >= 1, got {cluster_size}")
    # ---- grid adjacency and models
    if allow_adjacent:
        if adjacent_grids is not None:
            ge = np.asarray(adjacent_grids, dtype=np.int64).reshape(-1, 2)
            if ge.size and (ge.min() < 0 or ge.max() >= n_grids):
                raise InputError("adjacent_grids", f"refer to grids outside 0..{n_grids - 1}")
        elif units is not None and layout is not None:
            ge = grid_edges(units, layout)
        else:
            raise InputError("allow_adjacent", "needs units and layout, or adjacent_grids")
        cluster = _clusters(n_grids, ge, cluster_size)
    else:
        ge = np.zeros((0, 2), dtype=np.int64)
        cluster = np.arange(n_grids, dtype=np.int64)
    adj = set(map(tuple, ge.tolist())) if allow_adjacent else set()
    h_cl = cluster[hg]
    o_cl = cluster[o_grid]
    n_models = int(cluster.max()) + 1
    h_order = np.argsort(h_cl, kind="stable")
    h_starts = np.searchsorted(h_cl[h_order], np.arange(n_models + 1))
    o_order = np.argsort(o_cl, kind="stable")
    o_starts = np.searchsorted(o_cl[o_order], np.arange(n_models + 1))
    scale = COST_SCALE
    reasons: list[str] = []
    specs: list[dict[str, Any]] = []
    for m in range(n_models):
        hs = h_order[h_starts[m] : h_starts[m + 1]]
        os_ = o_order[o_starts[m] : o_starts[m + 1]]
        grids = (
            np.unique(np.concatenate([hg[hs], o_grid[os_]]))
            if hs.size + os_.size
            else np.zeros(0, np.int64)
        )
        if hs.size == 0:
            idle = os_[lo[os_].max(axis=1) > 0]
            if idle.size:
                ids = ", ".join(str(int(staff.ids[owners[k]])) for k in idle[:5])
                reasons.append(
                    f"grids {grids[:6].tolist()}: no households for owners with a minimum load ({ids})"
                )
            continue
        specs.append(
            _model_spec(
                m,
                hs,
                os_,
                grids,
                hg,
                o_grid,
                senior,
                households,
                staff,
                owners,
                res_h,
                lo,
                hi,
                cur,
                had_owner,
                adj,
                weights,
                scale,
                reasons,
            )
        )
    if max_changes is not None and not reasons:
        forced_total = sum(s["forced"] for s in specs)
        if forced_total > int(max_changes):
            worst = sorted(range(len(specs)), key=lambda k: -specs[k]["forced"])[:3]
            reasons.append(
                f"max_changes={int(max_changes)} but the limits force at least {forced_total} "
                f"changes (most in grids {', '.join(str(specs[k]['grids'][:3].tolist()) for k in worst)})"
            )
    n_models = len(specs)
    empty = np.full(n_h, -1, dtype=np.int64)
    loads0 = np.zeros((n_o, 3))
    if reasons:
        log.info("assign_owners: infeasible before solving: %s", "; ".join(reasons[:3]))
        return Assignment(
            "infeasible",
            empty,
            empty,
            owners,
            loads0,
            math.inf,
            math.inf,
            math.inf,
            0,
            tuple(),
            tuple(reasons),
            {"wall_time": time.perf_counter() - t0},
        )
    seeds = np.random.SeedSequence(seed).generate_state(max(1, n_models), dtype=np.uint32)
    total_pairs = sum(s["model"].n_pairs for s in specs) or 1

    def work(k: int) -> _Solved:
        s = specs[k]
        mdl: _Model = s["model"]
        if s.get("budget") is not None:
            mdl.keep_min = max(0, s["n_had"] - int(s["budget"]))
        share = time_limit * mdl.n_pairs / total_pairs * max(1, min(n_parallel, n_models))
        return _solve_model(
            mdl,
            time_limit=max(0.05, share),
            seed=int(seeds[k]),
            num_workers=num_workers,
            deterministic=deterministic,
            core_size=1,
            hint=s["hint"],
            fast_flow=fast_flow,
        )

    results: list[_Solved] = [_Solved("time_limit", None, math.inf, 0.0)] * n_models

    def run(todo: list[int], stage: str) -> None:
        done = 0
        if n_parallel > 1 and len(todo) > 1:
            with ThreadPoolExecutor(max_workers=n_parallel) as pool:
                for k, got in zip(todo, pool.map(work, todo), strict=True):
                    results[k] = got
                    done += 1
                    _report(progress, stage, done, len(todo), specs[k], got)
        else:
            for k in todo:
                results[k] = got = work(k)
                done += 1
                _report(progress, stage, done, len(todo), specs[k], got)

    run(list(range(n_models)), "assign")
    cap_failed = False
    if max_changes is not None:
        # share the cap out in proportion to the changes each model wanted, never below
        # the changes its limits force, and solve again the models over their share
        wanted = np.array(
            [_n_changes(s, r) for s, r in zip(specs, results, strict=True)], dtype=np.int64
        )
        if wanted.sum() > int(max_changes):
            # the fewest changes each model can make: exact (a max-keep flow) where only
            # household counts are limited, the estimate of _model_spec elsewhere
            forced = np.array([_min_changes(s) for s in specs], dtype=np.int64)
            if forced.sum() > int(max_changes):
                cap_failed = True
                worst = np.argsort(-forced, kind="stable")[:3]
                reasons.append(
                    f"max_changes={int(max_changes)} but the limits force at least "
                    f"{int(forced.sum())} changes (most in grids "
                    f"{', '.join(str(specs[k]['grids'][:3].tolist()) for k in worst)})"
                )
            want = np.maximum(wanted - forced, 0)
            rest = int(max_changes) - int(forced.sum())
            share = rest * want / max(1, want.sum())
            extra = np.floor(share).astype(np.int64)
            left = rest - int(extra.sum())
            if left > 0:
                extra[np.argsort(-(share - extra), kind="stable")[:left]] += 1
            budget = forced + extra
            again = [] if cap_failed else [k for k in range(n_models) if wanted[k] > budget[k]]
            first = {k: results[k] for k in again}
            for k in again:
                specs[k]["budget"] = int(budget[k])
            run(again, "change cap")
            # a model that cannot meet its share keeps its first solution; the cap is
            # then checked on the total below
            for k in again:
                if results[k].choice is None:
                    log.info(
                        "grids %s: no solution within %d changes", specs[k]["grids"][:6], budget[k]
                    )
                    results[k] = first[k]
            total = sum(_n_changes(s, r) for s, r in zip(specs, results, strict=True))
            if total > int(max_changes) and not cap_failed:
                cap_failed = True
                failed = [k for k in again if results[k] is first[k]]
                grids = [specs[k]["grids"][:3].tolist() for k in failed[:5]]
                reasons.append(
                    f"max_changes={int(max_changes)} cannot be met: the limits need {total} changes "
                    f"with the cap shared out by grid (grids short of their share: {grids})"
                )
    owner_pos = np.full(n_h, -1, dtype=np.int64)
    infos: list[dict[str, Any]] = []
    obj = bound = 0.0
    statuses = set()
    for s, got in zip(specs, results, strict=True):
        mdl = s["model"]
        info = {
            "grids": s["grids"].tolist(),
            "n_households": mdl.n_jobs,
            "n_owners": int(s["owners"].size),
            "status": got.status,
            **{
                k: got.stats.get(k)
                for k in ("method", "lp_bound", "core_pairs", "exact_pairs", "total_time")
            },
        }
        statuses.add(got.status)
        if got.choice is None:
            if got.status == "infeasible":
                conflicts = _explain(mdl, seed)
                reasons.append(_describe_conflicts(s, conflicts, staff, owners))
            else:
                reasons.append(
                    f"grids {s['grids'].tolist()[:5]}: no solution within the time limit"
                )
            info.update(objective=math.inf, bound=got.bound / scale)
        else:
            owner_pos[s["households"]] = s["owners"][mdl.agent[got.choice]]
            info.update(objective=got.objective / scale, bound=got.bound / scale)
            obj += got.objective / scale
            bound += max(got.bound, 0) / scale
        infos.append(info)
    wall = time.perf_counter() - t0
    if reasons:
        status = "infeasible" if "infeasible" in statuses or cap_failed else "time_limit"
        return Assignment(
            status,
            empty,
            empty,
            owners,
            loads0,
            math.inf,
            math.inf,
            math.inf,
            0,
            tuple(infos),
            tuple(reasons),
            {"wall_time": wall},
        )
    loads = np.zeros((n_o, 3))
    np.add.at(loads, owner_pos, np.column_stack([np.ones(n_h), minutes, households.arpu]))
    status = "optimal" if statuses == {"optimal"} else "feasible"
    n_changes = int((had_owner & (owner_pos != cur)).sum())
    gap = 0.0 if status == "optimal" else max(0.0, obj - bound) / max(1.0, abs(obj))
    log.info("assign_owners: %s, %d models, gap %.3f %%, %.1f s", status, n_models, 100 * gap, wall)
    return Assignment(
        status,
        staff.ids[owners][owner_pos],
        owners[owner_pos],
        owners,
        loads,
        obj,
        min(bound, obj),
        gap,
        n_changes,
        tuple(infos),
        (),
        {"wall_time": wall, "n_models": n_models},
    )


def _report(
    progress: Callable[[dict[str, Any]], None] | None,
    stage: str,
    done: int,
    n: int,
    spec: dict[str, Any],
    got: _Solved,
) -> None:
    if progress is not None:
        progress(
            {
                "stage": stage,
                "done": done,
                "total": n,
                "grids": spec["grids"].tolist(),
                "status": got.status,
            }
        )


def _min_changes(spec: dict[str, Any]) -> int:
    """Fewest changes a model can make under its limits (exact for flow models)."""
    mdl: _Model = spec["model"]
    if mdl.keep is None or not _flow_applies(mdl) or not mdl.keep.any():
        return int(spec["forced"])
    top = int(np.abs(mdl.cost).sum()) + 1  # keeping beats any chain of reassignments
    got, _ = _flow_once(mdl, top)
    if got is None:
        return int(spec["forced"])
    return max(int(spec["forced"]), spec["n_had"] - int(mdl.keep[got].sum()))


def _n_changes(spec: dict[str, Any], got: _Solved) -> int:
    """Households of one model that would change owner."""
    if got.choice is None:
        return 0
    mdl: _Model = spec["model"]
    assert mdl.keep is not None
    return spec["n_had"] - int(mdl.keep[got.choice].sum())


def _model_spec(
    m: int,
    hs: NDArray[np.int64],
    os_: NDArray[np.int64],
    grids: NDArray[np.int64],
    hg: NDArray[np.int64],
    o_grid: NDArray[np.int64],
    senior: NDArray[np.bool_],
    households: Households,
    staff: Staff,
    owners: NDArray[np.int64],
    res_h: NDArray[np.int64],
    lo: NDArray[np.int64],
    hi: NDArray[np.int64],
    cur: NDArray[np.int64],
    had_owner: NDArray[np.bool_],
    adj: set[tuple[int, int]],
    weights: OwnerWeights,
    scale: int,
    reasons: list[str],
) -> dict[str, Any]:
    """Eligible pairs, costs, pre-checks of one model (households ``hs``, owners ``os_``)."""
    n_h, n_o = hs.size, os_.size
    where = f"grid {int(grids[0])}" if grids.size == 1 else f"grids {grids[:6].tolist()}"
    spec: dict[str, Any] = {
        "grids": grids,
        "households": hs,
        "owners": os_,
        "hint": None,
        "forced": 0,
        "n_had": int(had_owner[hs].sum()),
        "budget": None,
    }
    if n_o == 0:
        reasons.append(f"{where}: {n_h} households but no owner")
        spec["model"] = None
        return spec
    hgl, ogl = hg[hs], o_grid[os_]
    same = hgl[:, None] == ogl[None, :]
    if adj:
        near = np.array(
            [[(min(a, b), max(a, b)) in adj for b in ogl.tolist()] for a in np.unique(hgl).tolist()]
        )
        rowmap = np.searchsorted(np.unique(hgl), hgl)
        same = same | near[rowmap]
    vip = households.vip[hs]
    elig = same & (~vip[:, None] | senior[os_][None, :])
    orphan = ~elig.any(axis=1)
    if orphan.any():
        n_vip = int((orphan & vip).sum())
        reasons.append(
            f"{where}: {int(orphan.sum())} households have no eligible owner"
            + (f" ({n_vip} VIP need a senior account manager)" if n_vip else "")
            + f" (households {', '.join(map(str, hs[orphan][:5].tolist()))})"
        )
    lo_m, hi_m = lo[os_], hi[os_]
    tot = res_h[hs].sum(axis=0)
    for r, word in enumerate(("households", "visit minutes", "revenue")):
        cap = hi_m[:, r].sum()
        if tot[r] > cap:
            full = os_[np.argsort(hi_m[:, r])][:5]
            reasons.append(
                f"{where}: {word} {int(tot[r])} exceed the owners' maximum {int(cap)} by {int(tot[r] - cap)} "
                f"(owners {', '.join(str(int(staff.ids[owners[k]])) for k in full)})"
            )
        need = lo_m[:, r].sum()
        if need > tot[r]:
            reasons.append(
                f"{where}: owners' minimum {word} {int(need)} exceed the {int(tot[r])} available by {int(need - tot[r])}"
            )
    if vip.any() and not orphan.any():
        cap_sen = hi_m[senior[os_], 0].sum()
        if vip.sum() > cap_sen:
            reasons.append(
                f"{where}: {int(vip.sum())} VIP households but senior owners can take {int(cap_sen)} "
                f"(short by {int(vip.sum() - cap_sen)})"
            )
    hh_i, ow_i = np.nonzero(elig)
    d_km = (
        np.hypot(
            households.x[hs[hh_i]] - staff.x[owners[os_[ow_i]]],
            households.y[hs[hh_i]] - staff.y[owners[os_[ow_i]]],
        )
        / 1000.0
    )
    cost = np.rint(weights.travel_per_km * d_km * scale).astype(np.int64)
    cur_local = np.full(n_h, -1, dtype=np.int64)
    pos_of = {int(o): k for k, o in enumerate(os_.tolist())}
    for k in np.flatnonzero(cur[hs] >= 0).tolist():
        cur_local[k] = pos_of.get(int(cur[hs[k]]), -1)
    keep = cur_local[hh_i] == ow_i
    change = had_owner[hs][hh_i] & ~keep
    cost += np.rint(weights.change * scale * change).astype(np.int64)
    # changes forced by the limits: current owner not eligible here, or over its maximum
    keepable = np.zeros(n_h, dtype=bool)
    keepable[hh_i[keep]] = True
    kept_now = np.bincount(cur_local[keepable], minlength=n_o)
    n_moved = int((had_owner[hs] & ~keepable).sum())  # current owner not eligible here
    n_free = int((~had_owner[hs]).sum()) + n_moved  # can fill minimum loads without a change
    over = int(np.maximum(kept_now - hi_m[:, 0], 0).sum())
    under = int(np.maximum(lo_m[:, 0] - kept_now, 0).sum())
    # each further change relieves at most one owner above its maximum and one below its minimum
    spec["forced"] = n_moved + max(over, under - n_free)
    spec["model"] = _Model(
        n_jobs=n_h,
        n_agents=n_o,
        job=hh_i.astype(np.int64),
        agent=ow_i.astype(np.int64),
        cost=cost,
        res=res_h[hs][hh_i],
        lo=lo_m,
        hi=hi_m,
        imbalance_weight=int(round(weights.imbalance * scale)),
        imbalance_res=0,
        keep=keep,
        keep_min=0,
        res_names=("households", "minutes", "revenue"),
    )
    return spec


def _describe_conflicts(
    spec: dict[str, Any],
    conflicts: tuple[tuple[int, int, str], ...],
    staff: Staff,
    owners: NDArray[np.int64],
) -> str:
    grids = spec["grids"].tolist()
    if not conflicts:
        return f"grids {grids[:6]}: no assignment meets every limit (and the change budget)"
    words = ("households", "minutes", "revenue")
    parts = [
        f"owner {int(staff.ids[owners[spec['owners'][a]]])} {kind} {words[r]}"
        for a, r, kind in conflicts[:8]
    ]
    return f"grids {grids[:6]}: these limits cannot all hold: {', '.join(parts)}"
