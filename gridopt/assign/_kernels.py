"""Numba kernels of the generic GAP (private; the only Numba code in ``gridopt.assign``).

:func:`gap_search` runs a tabu search with strategic oscillation over three
neighbourhoods of a job -> agent assignment:

* *shift*: one job to another agent;
* *swap*: two jobs of different agents trade agents;
* *ejection chain* (depth two): a job moves to an agent, which ejects one of its own
  jobs to a third agent (a swap when the third agent is the first one).

Capacity overload is allowed and priced by one adaptive penalty per agent: it grows
while the agent is overloaded and shrinks while it is not, so the search oscillates
around the border of feasibility (Yagiura, Ibaraki and Glover's adaptive weights). After
``stall`` iterations without a better feasible solution the search restarts from the
best one with a random kick.

:func:`gap_columns` and :func:`spp_search` are the exact stage: the first lists every
job set of one agent within a slack budget of its Lagrangian knapsack optimum, the
second covers jobs and agents exactly by such sets (branch and bound with a Lagrangian
bound per node, resumable). Kernels never validate: the caller passes C-contiguous
arrays of the documented dtypes and allocates every ``out``/state array.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# slots of the float64 ``info`` state array of gap_search
INFO_ITER = 0  # iterations done so far
INFO_BEST = 1  # best feasible objective (inf while none)
INFO_LAST = 2  # iteration of the last improvement (or restart)
INFO_CUR = 3  # objective of the current assignment (costs only)
INFO_RESTARTS = 4  # restarts done
INFO_TARGET = 5  # stop as soon as the best feasible objective is <= this
INFO_SIZE = 6

# slots of the float64 ``params`` array of gap_search
PAR_TENURE_MIN = 0
PAR_TENURE_MAX = 1
PAR_PEN_UP = 2
PAR_PEN_DOWN = 3
PAR_PEN_MIN = 4
PAR_PEN_MAX = 5
PAR_STALL = 6
PAR_KICK = 7  # jobs reassigned at random on a restart
PAR_CHAIN = 8  # shift moves extended into ejection chains per iteration (0: none)
PAR_SWAP_BLOCK = 9  # first jobs of swaps per iteration (rotating block; >= n: all)
PAR_PEN_INIT = 10  # penalty of every agent after a restart
PAR_SIZE = 11

_EPS = 1e-9


@njit(cache=True, nogil=True)
def _rand(rng):
    """xorshift64*: a uniform float in [0, 1) from the uint64 state ``rng[0]``."""
    x = rng[0]
    x ^= x >> np.uint64(12)
    x ^= x << np.uint64(25)
    x ^= x >> np.uint64(27)
    rng[0] = x
    y = x * np.uint64(2685821657736338717)
    return float(y >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(cache=True, nogil=True)
def _randint(rng, k):
    """Uniform int in [0, k)."""
    r = int(_rand(rng) * k)
    return r if r < k else k - 1


@njit(cache=True, nogil=True)
def _over(load, cap, i):
    d = load - cap[i]
    return d if d > 0 else 0


@njit(cache=True, nogil=True)
def _worst(d, k):
    w = d[0]
    for t in range(1, k):
        if d[t] > w:
            w = d[t]
    return w


@njit(cache=True, nogil=True)
def gap_state(cost, weight, assign, load):
    """Recompute ``load`` (int64, shape (m,)) in place; return the total cost.

    Examples
    --------
    >>> import numpy as np
    >>> c = np.array([[1.0, 4.0, 2.0], [3.0, 1.0, 2.0]])
    >>> w = np.array([[2, 1, 2], [1, 2, 2]], dtype=np.int64)
    >>> load = np.zeros(2, dtype=np.int64)
    >>> gap_state(c, w, np.array([0, 0, 1], dtype=np.int32), load), load.tolist()
    (7.0, [3, 2])
    """
    m = load.shape[0]
    for i in range(m):
        load[i] = 0
    total = 0.0
    for j in range(assign.shape[0]):
        i = assign[j]
        load[i] += weight[i, j]
        total += cost[i, j]
    return total


@njit(cache=True, nogil=True)
def gap_search(cost, weight, cap, elig, assign, load, pen, tabu, best, info, rng, params, n_iter):
    """Run ``n_iter`` iterations of the tabu search, resuming from the given state.

    Parameters
    ----------
    cost : ndarray of float64, shape (m, n)
    weight : ndarray of int64, shape (m, n)
    cap : ndarray of int64, shape (m,)
    elig : ndarray of bool, shape (m, n)
        Allowed pairs; ``assign`` must use allowed pairs only.
    assign : ndarray of int32, shape (n,)
        Current agent of each job (state, updated).
    load : ndarray of int64, shape (m,)
        Current load of each agent (state, updated; consistent with ``assign``).
    pen : ndarray of float64, shape (m,)
        Penalty per unit of overload of each agent (state, updated).
    tabu : ndarray of int64, shape (m, n)
        Iteration until which moving job ``j`` back to agent ``i`` is tabu (state).
    best : ndarray of int32, shape (n,)
        Best feasible assignment (out; meaningful once ``info[INFO_BEST]`` is finite).
    info : ndarray of float64, shape (INFO_SIZE,)
        Counters (state, see the ``INFO_*`` slots).
    rng : ndarray of uint64, shape (1,)
        Random state (nonzero; updated).
    params : ndarray of float64, shape (PAR_SIZE,)
        Search parameters (see the ``PAR_*`` slots).
    n_iter : int
        Iterations to run now.

    Returns
    -------
    int
        1 when the target objective was reached, else 0.

    Examples
    --------
    Two agents of capacity 3, three jobs; the optimum (cost 6) puts jobs 0 and 1 on
    agent 1 and job 2 on agent 0:

    >>> import numpy as np
    >>> c = np.array([[1.0, 4.0, 2.0], [3.0, 1.0, 2.0]])
    >>> w = np.array([[2, 1, 2], [1, 2, 2]], dtype=np.int64)
    >>> cap = np.array([3, 3], dtype=np.int64)
    >>> el = np.ones((2, 3), dtype=np.bool_)
    >>> a = np.zeros(3, dtype=np.int32)
    >>> load = np.zeros(2, dtype=np.int64)
    >>> info = np.zeros(INFO_SIZE)
    >>> info[INFO_BEST], info[INFO_TARGET] = np.inf, -np.inf
    >>> info[INFO_CUR] = gap_state(c, w, a, load)
    >>> params = np.array([1, 3, 1.1, 0.9, 0.01, 100, 50, 1, 2, 3, 1.0])
    >>> best = np.full(3, -1, dtype=np.int32)
    >>> tabu = np.zeros((2, 3), dtype=np.int64)
    >>> rng = np.array([1], dtype=np.uint64)
    >>> gap_search(c, w, cap, el, a, load, np.ones(2), tabu, best, info, rng, params, 200)
    0
    >>> best.tolist(), float(info[INFO_BEST])
    ([1, 1, 0], 6.0)
    """
    m, n = cost.shape
    over = np.zeros(m, dtype=np.int64)
    # eligible agents of each job (CSR) and the jobs of each agent (rebuilt per move)
    e_start = np.zeros(n + 1, dtype=np.int64)
    for j in range(n):
        e_start[j + 1] = e_start[j]
        for i in range(m):
            if elig[i, j]:
                e_start[j + 1] += 1
    e_agent = np.empty(e_start[n], dtype=np.int64)
    for j in range(n):
        t = e_start[j]
        for i in range(m):
            if elig[i, j]:
                e_agent[t] = i
                t += 1
    m_start = np.zeros(m + 1, dtype=np.int64)
    m_fill = np.zeros(m, dtype=np.int64)
    members = np.empty(n, dtype=np.int64)
    n_chain = int(params[PAR_CHAIN])
    # the n_chain best shift moves (by cost delta) that start a chain
    ch_d = np.empty(max(n_chain, 1))
    ch_i = np.empty(max(n_chain, 1), dtype=np.int64)
    ch_j = np.empty(max(n_chain, 1), dtype=np.int64)
    t_min = int(params[PAR_TENURE_MIN])
    t_span = max(1, int(params[PAR_TENURE_MAX]) - t_min + 1)
    stall = int(params[PAR_STALL])
    block = min(n, int(params[PAR_SWAP_BLOCK]))
    it = int(info[INFO_ITER])
    it_end = it + n_iter
    best_obj = info[INFO_BEST]
    cur_obj = info[INFO_CUR]
    last = int(info[INFO_LAST])
    swap_start = 0
    while it < it_end:
        if best_obj <= info[INFO_TARGET] + _EPS:
            break
        tot_over = 0
        for i in range(m):
            over[i] = _over(load[i], cap, i)
            tot_over += over[i]
        bd = np.inf
        kind = -1
        mi = -1
        mj = -1
        mj2 = -1
        mi2 = -1
        n_tie = 0
        n_ch = 0
        ch_worst = np.inf if n_chain > 0 else -np.inf
        for i in range(m + 1):
            m_start[i] = 0
        for j in range(n):
            m_start[assign[j] + 1] += 1
        for i in range(m):
            m_start[i + 1] += m_start[i]
            m_fill[i] = m_start[i]
        for j in range(n):
            a0 = assign[j]
            members[m_fill[a0]] = j
            m_fill[a0] += 1
        # ---- shift
        for j in range(n):
            a0 = assign[j]
            c0 = cost[a0, j]
            r_over = _over(load[a0] - weight[a0, j], cap, a0) - over[a0]
            r_pen = pen[a0] * r_over
            for t in range(e_start[j], e_start[j + 1]):
                i = e_agent[t]
                if i == a0:
                    continue
                o_new = _over(load[i] + weight[i, j], cap, i)
                dc = cost[i, j] - c0
                d = dc + r_pen + pen[i] * (o_new - over[i])
                if o_new > 0 and dc < ch_worst:
                    # keep the n_chain cheapest overloading shifts as chain starts
                    if n_ch < n_chain:
                        ch_d[n_ch] = dc
                        ch_i[n_ch] = i
                        ch_j[n_ch] = j
                        n_ch += 1
                        if n_ch == n_chain:
                            ch_worst = _worst(ch_d, n_ch)
                    else:
                        for k in range(n_chain):
                            if ch_d[k] == ch_worst:
                                ch_d[k] = dc
                                ch_i[k] = i
                                ch_j[k] = j
                                break
                        ch_worst = _worst(ch_d, n_ch)
                if d > bd + _EPS:
                    continue
                if tabu[i, j] > it:
                    dover = o_new - over[i] + r_over
                    if not (tot_over + dover == 0 and cur_obj + dc < best_obj - _EPS):
                        continue
                if d < bd - _EPS:
                    bd = d
                    n_tie = 1
                else:
                    n_tie += 1
                    if _rand(rng) * n_tie >= 1.0:
                        continue
                kind = 0
                mi = i
                mj = j
        # ---- swap (first job in a rotating block, second job after it)
        for b in range(block):
            j1 = swap_start + b
            if j1 >= n:
                j1 -= n
            a1 = assign[j1]
            w11 = weight[a1, j1]
            c11 = cost[a1, j1]
            for t in range(e_start[j1], e_start[j1 + 1]):
                a2 = e_agent[t]
                if a2 == a1:
                    continue
                c21 = cost[a2, j1]
                for q in range(m_start[a2], m_start[a2 + 1]):
                    j2 = members[q]
                    if (j2 < j1 and block == n) or not elig[a1, j2]:
                        continue
                    dc = c21 + cost[a1, j2] - c11 - cost[a2, j2]
                    if dc > bd + _EPS and over[a1] == 0 and over[a2] == 0:
                        continue  # penalties can only rise: no better than the best so far
                    o1 = _over(load[a1] - w11 + weight[a1, j2], cap, a1)
                    o2 = _over(load[a2] - weight[a2, j2] + weight[a2, j1], cap, a2)
                    d = dc + pen[a1] * (o1 - over[a1]) + pen[a2] * (o2 - over[a2])
                    if d > bd + _EPS:
                        continue
                    if tabu[a2, j1] > it or tabu[a1, j2] > it:
                        dover = o1 - over[a1] + o2 - over[a2]
                        if not (tot_over + dover == 0 and cur_obj + dc < best_obj - _EPS):
                            continue
                    if d < bd - _EPS:
                        bd = d
                        n_tie = 1
                    else:
                        n_tie += 1
                        if _rand(rng) * n_tie >= 1.0:
                            continue
                    kind = 1
                    mj = j1
                    mj2 = j2
        if block < n:
            swap_start += block
            if swap_start >= n:
                swap_start -= n
        # ---- ejection chains: j -> i, then a job j2 of i -> i2 (i2 != i, i2 may be a0)
        for k in range(n_ch):
            i = ch_i[k]
            j = ch_j[k]
            a0 = assign[j]
            l_i = load[i] + weight[i, j]
            base_c = cost[i, j] - cost[a0, j]
            if tabu[i, j] > it:
                continue
            for q in range(m_start[i], m_start[i + 1]):
                j2 = members[q]
                c2 = cost[i, j2]
                o_i = _over(l_i - weight[i, j2], cap, i)
                for t in range(e_start[j2], e_start[j2 + 1]):
                    i2 = e_agent[t]
                    if i2 == i or tabu[i2, j2] > it:
                        continue
                    if i2 == a0:
                        o_a = _over(load[a0] - weight[a0, j] + weight[a0, j2], cap, a0)
                        d_pen = pen[i] * (o_i - over[i]) + pen[a0] * (o_a - over[a0])
                    else:
                        o_a = _over(load[a0] - weight[a0, j], cap, a0)
                        o_2 = _over(load[i2] + weight[i2, j2], cap, i2)
                        d_pen = (
                            pen[i] * (o_i - over[i])
                            + pen[a0] * (o_a - over[a0])
                            + pen[i2] * (o_2 - over[i2])
                        )
                    d = base_c + cost[i2, j2] - c2 + d_pen
                    if d < bd - _EPS:
                        bd = d
                        kind = 2
                        mi = i
                        mj = j
                        mj2 = j2
                        mi2 = i2
        if kind < 0:
            break
        tenure = t_min + _randint(rng, t_span)
        if kind == 0:
            a0 = assign[mj]
            tabu[a0, mj] = it + tenure
            load[a0] -= weight[a0, mj]
            load[mi] += weight[mi, mj]
            cur_obj += cost[mi, mj] - cost[a0, mj]
            assign[mj] = mi
        elif kind == 1:
            a1 = assign[mj]
            a2 = assign[mj2]
            tabu[a1, mj] = it + tenure
            tabu[a2, mj2] = it + tenure
            load[a1] += weight[a1, mj2] - weight[a1, mj]
            load[a2] += weight[a2, mj] - weight[a2, mj2]
            cur_obj += cost[a2, mj] + cost[a1, mj2] - cost[a1, mj] - cost[a2, mj2]
            assign[mj] = a2
            assign[mj2] = a1
        else:
            a0 = assign[mj]
            tabu[a0, mj] = it + tenure
            tabu[mi, mj2] = it + tenure
            load[a0] -= weight[a0, mj]
            load[mi] += weight[mi, mj] - weight[mi, mj2]
            load[mi2] += weight[mi2, mj2]
            cur_obj += cost[mi, mj] - cost[a0, mj] + cost[mi2, mj2] - cost[mi, mj2]
            assign[mj] = mi
            assign[mj2] = mi2
        it += 1
        # overloaded agents get dearer; all get cheaper while the solution is feasible,
        # so the search oscillates around the border of feasibility
        feasible = True
        for i in range(m):
            if load[i] > cap[i]:
                feasible = False
                p = pen[i] * params[PAR_PEN_UP]
                pen[i] = p if p < params[PAR_PEN_MAX] else params[PAR_PEN_MAX]
        if feasible:
            for i in range(m):
                p = pen[i] * params[PAR_PEN_DOWN]
                pen[i] = p if p > params[PAR_PEN_MIN] else params[PAR_PEN_MIN]
        if feasible and cur_obj < best_obj - _EPS:
            # recompute to keep rounding drift out of the record
            cur_obj = 0.0
            for j in range(n):
                cur_obj += cost[assign[j], j]
            if cur_obj < best_obj - _EPS:
                best_obj = cur_obj
                last = it
                for j in range(n):
                    best[j] = assign[j]
        if it - last > stall and best_obj < np.inf:
            # restart from the best solution with a random kick
            for j in range(n):
                assign[j] = best[j]
            n_kick = int(params[PAR_KICK])
            for _ in range(n_kick):
                j = _randint(rng, n)
                k = _randint(rng, m)
                for t in range(m):
                    i = k + t
                    if i >= m:
                        i -= m
                    if i != assign[j] and elig[i, j]:
                        assign[j] = i
                        break
            cur_obj = gap_state(cost, weight, assign, load)
            for i in range(m):
                pen[i] = params[PAR_PEN_INIT]
            last = it
            info[INFO_RESTARTS] += 1.0
    info[INFO_ITER] = it
    info[INFO_BEST] = best_obj
    info[INFO_CUR] = cur_obj
    info[INFO_LAST] = last
    return 1 if best_obj <= info[INFO_TARGET] + _EPS else 0


# ------------------------------------------------------------------- Lagrangian bound


@njit(cache=True, nogil=True)
def _knap_forward(cost, weight, elig, u, i, cap_i, tab):
    """tab[k, c]: best profit ``sum(u[j] - cost[i, j])`` of jobs < k within capacity c."""
    n = cost.shape[1]
    for c in range(cap_i + 1):
        tab[0, c] = 0.0
    for k in range(n):
        wk = weight[i, k]
        pk = u[k] - cost[i, k]
        if pk <= 0.0 or wk > cap_i or not elig[i, k]:
            for c in range(cap_i + 1):
                tab[k + 1, c] = tab[k, c]
        else:
            for c in range(wk):
                tab[k + 1, c] = tab[k, c]
            for c in range(wk, cap_i + 1):
                v = tab[k, c - wk] + pk
                t = tab[k, c]
                tab[k + 1, c] = v if v > t else t


@njit(cache=True, nogil=True)
def _knap_backward(cost, weight, elig, u, i, cap_i, tab):
    """tab[k, c]: best profit of jobs >= k within capacity c."""
    n = cost.shape[1]
    for c in range(cap_i + 1):
        tab[n, c] = 0.0
    for k in range(n - 1, -1, -1):
        wk = weight[i, k]
        pk = u[k] - cost[i, k]
        if pk <= 0.0 or wk > cap_i or not elig[i, k]:
            for c in range(cap_i + 1):
                tab[k, c] = tab[k + 1, c]
        else:
            for c in range(wk):
                tab[k, c] = tab[k + 1, c]
            for c in range(wk, cap_i + 1):
                v = tab[k + 1, c - wk] + pk
                t = tab[k + 1, c]
                tab[k, c] = v if v > t else t


@njit(cache=True, nogil=True)
def gap_lagrangian(cost, weight, cap, elig, u, ub, n_iter, tab, count):
    """Subgradient optimisation of the Lagrangian bound of "every job exactly once".

    ``L(u) = sum(u) - sum_i z_i(u)``, where ``z_i`` is agent ``i``'s 0-1 knapsack of
    profits ``u[j] - cost[i, j]`` within its capacity: a lower bound of the GAP at every
    ``u``, at least the LP bound at the LP duals. Polyak steps towards ``ub``, halved
    after 15 iterations without a better bound.

    Parameters
    ----------
    cost : ndarray of float64, shape (m, n)
    weight : ndarray of int64, shape (m, n)
    cap : ndarray of int64, shape (m,)
    elig : ndarray of bool, shape (m, n)
    u : ndarray of float64, shape (n,)
        Start multipliers in, best multipliers out.
    ub : float
        Objective of a feasible solution (step target).
    n_iter : int
        Most subgradient iterations.
    tab : ndarray of float64, shape (n + 1, max(cap) + 1)
        Scratch.
    count : ndarray of int64, shape (n,)
        Out: times each job is taken by the knapsacks at the best multipliers.

    Returns
    -------
    float
        The best bound found.

    Examples
    --------
    >>> import numpy as np
    >>> c = np.array([[1.0, 4.0, 2.0], [3.0, 1.0, 2.0]])
    >>> w = np.array([[2, 1, 2], [1, 2, 2]], dtype=np.int64)
    >>> cap = np.array([3, 3], dtype=np.int64)
    >>> el = np.ones((2, 3), dtype=np.bool_)
    >>> u, count = np.zeros(3), np.zeros(3, dtype=np.int64)
    >>> tab = np.empty((4, 4))
    >>> round(gap_lagrangian(c, w, cap, el, u, 6.0, 200, tab, count), 6)  # the optimum is 6
    6.0
    """
    m, n = cost.shape
    cur = u.copy()
    cnt = np.zeros(n, dtype=np.int64)
    best = -np.inf
    theta = 0.5
    stale = 0
    for _ in range(n_iter):
        for j in range(n):
            cnt[j] = 0
        lag = 0.0
        for j in range(n):
            lag += cur[j]
        for i in range(m):
            c_i = cap[i]
            _knap_forward(cost, weight, elig, cur, i, c_i, tab)
            lag -= tab[n, c_i]
            c = c_i
            for k in range(n - 1, -1, -1):
                if tab[k + 1, c] != tab[k, c]:
                    cnt[k] += 1
                    c -= weight[i, k]
        norm = 0.0
        for j in range(n):
            g = 1 - cnt[j]
            norm += g * g
        if lag > best + 1e-9:
            best = lag
            stale = 0
            for j in range(n):
                u[j] = cur[j]
                count[j] = cnt[j]
        else:
            stale += 1
            if stale >= 15:
                theta *= 0.5
                stale = 0
        if norm == 0.0 or theta < 1e-4 or best >= ub - 1e-9:
            break
        step = theta * max(ub - lag, 1e-3 * (abs(ub) + 1.0)) / norm
        for j in range(n):
            cur[j] += step * (1 - cnt[j])
    return best


@njit(cache=True, nogil=True)
def gap_lagrangian_fix(cost, weight, cap, elig, u, fwd, bwd, lb_in, lb_out):
    """Lagrangian bound at ``u`` with each pair forced in or out (reduced-cost fixing).

    Parameters
    ----------
    cost, weight, cap, elig, u
        As in :func:`gap_lagrangian` (``u`` is only read).
    fwd, bwd : ndarray of float64, shape (n + 1, max(cap) + 1)
        Scratch.
    lb_in : ndarray of float64, shape (m, n)
        Out: the bound when job ``j`` must go to agent ``i`` (inf when not allowed).
    lb_out : ndarray of float64, shape (m, n)
        Out: the bound when job ``j`` must not go to agent ``i``.

    Returns
    -------
    float
        ``L(u)``.

    Examples
    --------
    With the multipliers of :func:`gap_lagrangian`'s example, forcing job 1 onto agent 0
    lifts the bound to 7 > 6: that pair is in no optimal solution.

    >>> import numpy as np
    >>> c = np.array([[1.0, 4.0, 2.0], [3.0, 1.0, 2.0]])
    >>> w = np.array([[2, 1, 2], [1, 2, 2]], dtype=np.int64)
    >>> cap = np.array([3, 3], dtype=np.int64)
    >>> el = np.ones((2, 3), dtype=np.bool_)
    >>> u, count = np.zeros(3), np.zeros(3, dtype=np.int64)
    >>> fwd, bwd = np.empty((4, 4)), np.empty((4, 4))
    >>> _ = gap_lagrangian(c, w, cap, el, u, 6.0, 200, fwd, count)
    >>> lb_in, lb_out = np.empty((2, 3)), np.empty((2, 3))
    >>> _ = gap_lagrangian_fix(c, w, cap, el, u, fwd, bwd, lb_in, lb_out)
    >>> lb_in.round(2).tolist()
    [[6.0, 7.0, 6.0], [6.0, 6.0, 6.0]]
    """
    m, n = cost.shape
    lag = 0.0
    for j in range(n):
        lag += u[j]
    for i in range(m):
        c_i = cap[i]
        _knap_forward(cost, weight, elig, u, i, c_i, fwd)
        _knap_backward(cost, weight, elig, u, i, c_i, bwd)
        z = fwd[n, c_i]
        lag -= z
        for j in range(n):
            w = weight[i, j]
            z_out = -np.inf
            for c in range(c_i + 1):
                v = fwd[j, c] + bwd[j + 1, c_i - c]
                if v > z_out:
                    z_out = v
            lb_out[i, j] = z - z_out
            if not elig[i, j] or w > c_i:
                lb_in[i, j] = np.inf
                continue
            z_in = -np.inf
            rest = c_i - w
            for c in range(rest + 1):
                v = fwd[j, c] + bwd[j + 1, rest - c]
                if v > z_in:
                    z_in = v
            lb_in[i, j] = z - (z_in + u[j] - cost[i, j])
    for i in range(m):
        for j in range(n):
            lb_in[i, j] += lag
            lb_out[i, j] += lag
    return lag


# ----------------------------------------------- exact search over near-optimal columns

# slots of the float64 ``info`` state array of spp_search
SPP_DEPTH = 0  # current depth (-1: the search is complete)
SPP_NODES = 1  # nodes expanded so far
SPP_CAP = 2  # largest total slack still of interest (lowered by each solution found)
SPP_BEST = 3  # total slack of the best solution found (inf while none)
SPP_SIZE = 4

_TOL = 1e-6


@njit(cache=True, nogil=True)
def gap_columns(cost, weight, elig, u, i, cap_i, bwd, floor, col_jobs, col_start, col_val, n_cols):
    """Append every job set of agent ``i`` whose Lagrangian profit is at least ``floor``.

    A column is a set ``S`` of jobs that fits agent ``i``'s capacity; its profit is
    ``sum(u[j] - cost[i, j] for j in S)``. The sets are enumerated depth first over the
    jobs in order; ``bwd`` (from :func:`_knap_backward` for agent ``i``) bounds the
    best profit a partial set can still reach, so only branches that can end at or
    above ``floor`` are entered (the empty set included when it qualifies).

    Parameters
    ----------
    cost, weight, elig, u
        As in :func:`gap_lagrangian`.
    i, cap_i : int
        The agent and its capacity.
    bwd : ndarray of float64, shape (n + 1, >= cap_i + 1)
        ``_knap_backward`` table of agent ``i`` at ``u``.
    floor : float
        Least profit of a column.
    col_jobs : ndarray of int32
        Out: the jobs of all columns, one after the other.
    col_start : ndarray of int64
        Out: column ``c`` holds ``col_jobs[col_start[c]:col_start[c + 1]]``;
        ``col_start[n_cols]`` must hold the number of jobs written so far.
    col_val : ndarray of float64
        Out: the profit of each column.
    n_cols : int
        Columns already stored.

    Returns
    -------
    int
        The new number of columns, or -1 when the output arrays are full.

    Examples
    --------
    Agent 0 of capacity 3, jobs of weight 2, 1, 2 and profits 3, 1, 2 (u - cost):
    the sets within 1 of the best profit 4 are {0, 1} (4), {0} (3) and {1, 2} (3).

    >>> import numpy as np
    >>> c = np.zeros((1, 3)); w = np.array([[2, 1, 2]], dtype=np.int64)
    >>> u = np.array([3.0, 1.0, 2.0]); el = np.ones((1, 3), dtype=np.bool_)
    >>> bwd = np.empty((4, 4)); _knap_backward(c, w, el, u, 0, 3, bwd)
    >>> jobs = np.empty(16, np.int32); start = np.zeros(8, np.int64); val = np.empty(7)
    >>> n = gap_columns(c, w, el, u, 0, 3, bwd, 3.0, jobs, start, val, 0)
    >>> [jobs[start[k]:start[k + 1]].tolist() for k in range(n)], val[:n].tolist()
    ([[0, 1], [0], [1, 2]], [4.0, 3.0, 3.0])
    """
    n = cost.shape[1]
    st_k = np.empty(n + 1, np.int64)
    st_r = np.empty(n + 1, np.int64)
    st_p = np.empty(n + 1)
    phase = np.zeros(n + 1, np.int64)
    inc = np.zeros(n + 1, np.int64)
    nz = col_start[n_cols]
    d = 0
    st_k[0] = 0
    st_r[0] = cap_i
    st_p[0] = 0.0
    while d >= 0:
        k = st_k[d]
        r = st_r[d]
        p = st_p[d]
        if k == n:
            if n_cols + 1 >= col_start.size or nz + d > col_jobs.size:
                return -1
            for t in range(d):
                if inc[t] == 1:
                    col_jobs[nz] = st_k[t]
                    nz += 1
            col_val[n_cols] = p
            n_cols += 1
            col_start[n_cols] = nz
            d -= 1
            continue
        if phase[d] == 0:  # first branch: take job k
            phase[d] = 1
            wk = weight[i, k]
            if elig[i, k] and wk <= r:
                p2 = p + u[k] - cost[i, k]
                if p2 + bwd[k + 1, r - wk] >= floor - _TOL:
                    inc[d] = 1
                    d += 1
                    st_k[d] = k + 1
                    st_r[d] = r - wk
                    st_p[d] = p2
                    phase[d] = 0
            continue
        if phase[d] == 1:  # second branch: leave job k out
            phase[d] = 2
            if p + bwd[k + 1, r] >= floor - _TOL:
                inc[d] = 0
                d += 1
                st_k[d] = k + 1
                st_r[d] = r
                st_p[d] = p
                phase[d] = 0
            continue
        d -= 1
    return n_cols


@njit(cache=True, nogil=True, inline="always")
def _reduced(c, col_slack, col_jobs, col_start, v):
    """Slack of column ``c`` less the multipliers ``v`` of its jobs."""
    r = col_slack[c]
    for q in range(col_start[c], col_start[c + 1]):
        r -= v[col_jobs[q]]
    return r


@njit(cache=True, nogil=True)
def spp_search(
    mask, col_agent, col_slack, col_jobs, col_start, n_jobs, n_agents,
    buf, bbuf, lvl, br, used, cov, aused, chosen, best_sel, v, info, params, node_limit,
):  # fmt: skip
    """Branch and bound: exact cover of jobs and agents by columns within a slack budget.

    Every job and every agent must be covered by exactly one chosen column (a column
    is one agent's job set; the empty set covers its agent only). The total slack of
    the chosen columns must stay at or below ``info[SPP_CAP]``; each solution found
    lowers the cap to its own slack minus one (integral costs), so a complete search
    ends with the cheapest solution within the first cap, or proves there is none.

    Each node relaxes "every job once" with multipliers ``v`` (a few subgradient
    steps, warm-started from the parent): the bound is ``sum(v[j])`` over the jobs
    left plus, per agent left, its cheapest candidate at reduced slack
    ``slack - sum(v[j] for j in column)``. Columns whose reduced slack exceeds their
    agent's cheapest by more than the budget left are dropped below the node. When the
    cheapest columns happen to cover every job once they are a solution. The search
    branches on the row (job or agent) with the fewest candidates, trying its columns
    in order of reduced slack (columns must be sorted by slack). Resumable: all state
    lives in the arrays.

    Parameters
    ----------
    mask : ndarray of uint64, shape (n_cols, ceil(n_jobs / 64))
        Job bits of each column.
    col_agent : ndarray of int64, shape (n_cols,)
    col_slack : ndarray of float64, shape (n_cols,)
        Non-decreasing.
    col_jobs, col_start
        Jobs of each column (as written by :func:`gap_columns`).
    n_jobs, n_agents : int
    buf, bbuf : ndarray of int64
        Scratch for the candidate and branch lists of all depths
        (``n_cols * (n_agents + 1)`` each).
    lvl, br : ndarray of int64, shapes (n_agents + 2, 2) and (n_agents + 2, 3)
        Per depth: candidate list (start, end) and branch list (start, end, next;
        next < 0 marks a node not yet expanded).
    used : ndarray of float64, shape (n_agents + 2,)
        Slack used above each depth.
    cov : ndarray of uint64, shape (n_agents + 2, words)
        Jobs covered above each depth.
    aused : ndarray of bool, shape (n_agents,)
    chosen, best_sel : ndarray of int64, shape (n_agents + 1,)
        The column chosen at each depth; the best solution's columns (out).
    v : ndarray of float64, shape (n_agents + 2, n_jobs)
        Multipliers of each depth.
    info : ndarray of float64, shape (SPP_SIZE,)
        State (see the ``SPP_*`` slots).
    params : ndarray of float64, shape (2,)
        Subgradient steps at the root and at every other node.
    node_limit : int
        Nodes to expand in this call.

    Returns
    -------
    int
        1 when the search is complete, else 0.

    Examples
    --------
    See :func:`gridopt.assign.gap._exact_columns`, which sets the arrays up.
    """
    words = mask.shape[1]
    n_rows = n_jobs + n_agents
    cnt = np.zeros(n_rows, np.int64)
    amin = np.empty(n_agents)
    arg = np.empty(n_agents, np.int64)
    g = np.empty(n_jobs)
    vb = np.empty(n_jobs)
    rs = np.empty(mask.shape[0])  # reduced slack of each column at the current node
    left = np.empty(n_jobs, np.bool_)
    d = int(info[SPP_DEPTH])
    nodes = 0
    while d >= 0 and nodes < node_limit:
        if br[d, 2] < 0:  # expand the node at depth d
            nodes += 1
            cap = info[SPP_CAP] - used[d]
            br[d, 0] = 0 if d == 0 else br[d - 1, 1]
            br[d, 1] = br[d, 0]
            br[d, 2] = br[d, 0]
            n_left = 0
            for j in range(n_jobs):
                left[j] = (cov[d, j >> 6] >> np.uint64(j & 63)) & np.uint64(1) == 0
                if left[j]:
                    n_left += 1
            if d == n_agents:
                if n_left == 0 and used[d] <= info[SPP_CAP] + _TOL:
                    info[SPP_BEST] = used[d]
                    info[SPP_CAP] = used[d] - 1.0 + _TOL
                    for t in range(n_agents):
                        best_sel[t] = chosen[t]
                continue
            steps = int(params[0]) if d == 0 else int(params[1])
            best_b = -np.inf
            theta = 1.0
            pruned = False
            for it in range(steps + 1):
                for a in range(n_agents):
                    amin[a] = np.inf
                    arg[a] = -1
                for t in range(lvl[d, 0], lvl[d, 1]):
                    c = buf[t]
                    a = col_agent[c]
                    r = _reduced(c, col_slack, col_jobs, col_start, v[d])
                    if r < amin[a]:
                        amin[a] = r
                        arg[a] = c
                b = 0.0
                for j in range(n_jobs):
                    if left[j]:
                        b += v[d, j]
                for a in range(n_agents):
                    if not aused[a]:
                        b += amin[a]
                if b > best_b:
                    best_b = b
                    for j in range(n_jobs):
                        vb[j] = v[d, j]
                if best_b > cap + _TOL:
                    pruned = True
                    break
                if it == steps:
                    break
                for j in range(n_jobs):
                    g[j] = 1.0 if left[j] else 0.0
                for a in range(n_agents):
                    if not aused[a]:
                        c = arg[a]
                        for q in range(col_start[c], col_start[c + 1]):
                            g[col_jobs[q]] -= 1.0
                norm = 0.0
                for j in range(n_jobs):
                    norm += g[j] * g[j]
                if norm == 0.0:
                    # the cheapest columns cover every job once: a solution
                    tot = used[d]
                    for a in range(n_agents):
                        if not aused[a]:
                            tot += col_slack[arg[a]]
                    if tot <= info[SPP_CAP] + _TOL:
                        info[SPP_BEST] = tot
                        info[SPP_CAP] = tot - 1.0 + _TOL
                        for t in range(d):
                            best_sel[t] = chosen[t]
                        k = d
                        for a in range(n_agents):
                            if not aused[a]:
                                best_sel[k] = arg[a]
                                k += 1
                        cap = info[SPP_CAP] - used[d]
                        if best_b > cap + _TOL:
                            pruned = True
                    break
                step = theta * (cap - b + 1e-3) / norm
                for j in range(n_jobs):
                    v[d, j] += step * g[j]
                theta *= 0.9
            if pruned:
                continue
            for j in range(n_jobs):
                v[d, j] = vb[j]
            # reduced slack of each candidate at the best multipliers (kept in ``rs``)
            for a in range(n_agents):
                amin[a] = np.inf
            for t in range(lvl[d, 0], lvl[d, 1]):
                c = buf[t]
                rs[c] = _reduced(c, col_slack, col_jobs, col_start, vb)
                if rs[c] < amin[col_agent[c]]:
                    amin[col_agent[c]] = rs[c]
            for r in range(n_rows):
                cnt[r] = 0
            # keep (in place, in order) only the candidates that fit the budget at the
            # reduced slacks: no solution below this node uses the others
            e = lvl[d, 0]
            for t in range(lvl[d, 0], lvl[d, 1]):
                c = buf[t]
                a = col_agent[c]
                if rs[c] - amin[a] + best_b > cap + _TOL:
                    continue
                buf[e] = c
                e += 1
                cnt[n_jobs + a] += 1
                for q in range(col_start[c], col_start[c + 1]):
                    cnt[col_jobs[q]] += 1
            row = -1
            least = 1 << 62
            for j in range(n_jobs):
                if left[j] and cnt[j] < least:
                    least = cnt[j]
                    row = j
            for a in range(n_agents):
                if not aused[a] and cnt[n_jobs + a] < least:
                    least = cnt[n_jobs + a]
                    row = n_jobs + a
            lvl[d, 1] = e
            if least == 0 or row < 0:
                continue
            e = br[d, 0]
            for t in range(lvl[d, 0], lvl[d, 1]):
                c = buf[t]
                if row >= n_jobs:
                    if col_agent[c] != row - n_jobs:
                        continue
                elif (mask[c, row >> 6] >> np.uint64(row & 63)) & np.uint64(1) == 0:
                    continue
                bbuf[e] = c
                e += 1
            br[d, 1] = e
            # try the branches in order of reduced slack (the best guide to good covers)
            e0 = br[d, 0]
            if e - e0 > 1:
                key = np.empty(e - e0)
                for t in range(e0, e):
                    c = bbuf[t]
                    key[t - e0] = rs[c] - amin[col_agent[c]]
                order = np.argsort(key, kind="mergesort")
                tmp = bbuf[e0:e].copy()
                for t in range(e - e0):
                    bbuf[e0 + t] = tmp[order[t]]
            continue
        if br[d, 2] >= br[d, 1]:  # node exhausted: back up
            d -= 1
            if d >= 0:
                aused[col_agent[chosen[d]]] = False
            continue
        c = bbuf[br[d, 2]]
        br[d, 2] += 1
        s1 = used[d] + col_slack[c]
        if s1 > info[SPP_CAP] + _TOL:
            continue
        chosen[d] = c
        aused[col_agent[c]] = True
        for w in range(words):
            cov[d + 1, w] = cov[d, w] | mask[c, w]
        used[d + 1] = s1
        for j in range(n_jobs):
            v[d + 1, j] = v[d, j]
        e = lvl[d, 1]
        lvl[d + 1, 0] = e
        for t in range(lvl[d, 0], lvl[d, 1]):
            c2 = buf[t]
            if s1 + col_slack[c2] > info[SPP_CAP] + _TOL:
                break
            if aused[col_agent[c2]]:
                continue
            clash = False
            for w in range(words):
                if mask[c2, w] & cov[d + 1, w] != 0:
                    clash = True
                    break
            if not clash:
                buf[e] = c2
                e += 1
        lvl[d + 1, 1] = e
        br[d + 1, 2] = -1
        d += 1
    info[SPP_DEPTH] = d
    info[SPP_NODES] += nodes
    return 1 if d < 0 else 0
