"""Numba kernels: ruin-and-recreate search for the VRPTW (string removals, blinks, annealing).

Private module. :func:`gridopt.dispatch.routing.solve_vrptw` validates and converts every
array first; kernels never validate and keep their state in caller-allocated arrays.

Conventions (all integers, so every comparison is exact):

- nodes ``0 .. n-1``, node 0 is the depot; ``dist`` (n, n) int64 travel distance = travel
  time; ``service``, ``ready``, ``due`` (n,) int64 in the same unit; ``demand`` (n,)
  float64 against the float ``capacity``.
- a solution is ``route`` (n_routes, n) int32 (customers in visit order, depot left
  out) and ``rlen`` (n_routes,) int32; a route with ``rlen == 0`` is an unused vehicle.
  Every vehicle leaves the depot at ``ready[0]`` and must be back by ``due[0]``.
- derived per-route state, rebuilt by :func:`_rebuild` in O(route length):
  ``early[r, i]`` the earliest service start at position ``i``, ``late[r, i]`` the latest
  service start that keeps the rest of the route within its windows (so inserting a
  customer between two positions is checked in O(1)), ``rload`` and ``rdist``.

The search follows the idea of "slack induction by string removals" (Christiaens and
Vanden Berghe, 2020): remove a few strings of consecutive customers from routes close to
a random seed customer, reinsert the removed customers one by one at their cheapest
feasible position while skipping each candidate position with a small probability (a
"blink"), and accept the result by simulated annealing on the total distance. The code
here is our own.

Random numbers come from a splitmix64 stream whose state (one uint64) the caller owns,
so a run split into chunks gives the same result as one long run.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_BIG = np.int64(1) << np.int64(60)

# stats slots written by sisr_search
STAT_ACCEPTED = 0
STAT_IMPROVED = 1
STAT_FAILED = 2
N_STATS = 3


# ----------------------------------------------------------------------------- random


@njit(cache=True, nogil=True, inline="always")
def _next_u64(state):
    z = state[0] + _GOLDEN
    state[0] = z
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


@njit(cache=True, nogil=True, inline="always")
def _uniform(state):
    return np.float64(_next_u64(state) >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(cache=True, nogil=True, inline="always")
def _randint(state, k):
    """Uniform integer in ``[0, k)`` (k >= 1)."""
    v = np.int64(_uniform(state) * k)
    if v >= k:
        v = k - 1
    return v


# ------------------------------------------------------------------------ route state


@njit(cache=True, nogil=True)
def _rebuild(r, route, rlen, dist, service, ready, due, demand, early, late, rload, rdist, where):
    """Recompute early/late/load/distance of route ``r`` and the position of its customers.

    ``where[c]`` is ``r * n + position`` (``-1`` for a customer not in any route).
    Returns the route's distance.
    """
    n = dist.shape[0]
    length = rlen[r]
    t = ready[0]
    prev = 0
    load = 0.0
    d = np.int64(0)
    for i in range(length):
        c = route[r, i]
        a = t + service[prev] + dist[prev, c]
        t = a if a > ready[c] else ready[c]
        early[r, i] = t
        load += demand[c]
        d += dist[prev, c]
        where[c] = r * n + i
        prev = c
    d += dist[prev, 0]
    lt = due[0]
    nxt = 0
    for i in range(length - 1, -1, -1):
        c = route[r, i]
        v = lt - dist[c, nxt] - service[c]
        lt = v if v < due[c] else due[c]
        late[r, i] = lt
        nxt = c
    rload[r] = load
    rdist[r] = d
    return d


@njit(cache=True, nogil=True)
def route_costs(route, rlen, dist, out):
    """Distance of every route into ``out`` (n_routes,) int64; returns the total."""
    total = np.int64(0)
    for r in range(route.shape[0]):
        prev = 0
        d = np.int64(0)
        for i in range(rlen[r]):
            c = route[r, i]
            d += dist[prev, c]
            prev = c
        if rlen[r] > 0:
            d += dist[prev, 0]
        out[r] = d
        total += d
    return total


@njit(cache=True, nogil=True)
def check_routes(route, rlen, dist, service, ready, due, demand, capacity, out):
    """Feasibility of every route: ``out[r]`` 0 ok, 1 over capacity, 2 a window missed.

    Returns the number of infeasible routes.
    """
    bad = 0
    for r in range(route.shape[0]):
        out[r] = 0
        t = ready[0]
        prev = 0
        load = 0.0
        for i in range(rlen[r]):
            c = route[r, i]
            a = t + service[prev] + dist[prev, c]
            t = a if a > ready[c] else ready[c]
            if t > due[c]:
                out[r] = 2
            load += demand[c]
            prev = c
        if rlen[r] > 0 and t + service[prev] + dist[prev, 0] > due[0]:
            out[r] = 2
        if load > capacity + 1e-9 and out[r] == 0:
            out[r] = 1
        if out[r] != 0:
            bad += 1
    return bad


# ---------------------------------------------------------------------------- recreate


@njit(cache=True, nogil=True)
def _insert_all(
    removed,
    n_removed,
    blink,
    state,
    route,
    rlen,
    dist,
    service,
    ready,
    due,
    demand,
    capacity,
    early,
    late,
    rload,
    rdist,
    where,
    touched,
    touched_list,
    n_touched,
    backup,
    backup_len,
):
    """Insert ``removed[:n_removed]`` in order at their cheapest feasible positions.

    Returns ``(ok, n_touched, delta)``: ``ok`` is False when a customer fits nowhere (the
    caller then restores the touched routes); ``delta`` is the change of total distance.
    """
    n_routes = route.shape[0]
    delta_total = np.int64(0)
    for k in range(n_removed):
        c = removed[k]
        best = _BIG
        best_r = -1
        best_i = -1
        for r in range(n_routes):
            length = rlen[r]
            if length == 0:
                continue
            if rload[r] + demand[c] > capacity + 1e-9:
                continue
            for i in range(length + 1):
                if blink > 0.0 and _uniform(state) < blink:
                    continue
                if i > 0:
                    p = route[r, i - 1]
                    ep = early[r, i - 1]
                else:
                    p = 0
                    ep = ready[0]
                if i < length:
                    q = route[r, i]
                    lq = late[r, i]
                else:
                    q = 0
                    lq = due[0]
                dlt = dist[p, c] + dist[c, q] - dist[p, q]
                if dlt >= best:
                    continue
                a = ep + service[p] + dist[p, c]
                if a > due[c]:
                    continue
                st = a if a > ready[c] else ready[c]
                if st + service[c] + dist[c, q] > lq:
                    continue
                best = dlt
                best_r = r
                best_i = i
        if best_r < 0:
            # open an unused vehicle if the customer fits alone
            for r in range(n_routes):
                if rlen[r] == 0:
                    a = ready[0] + service[0] + dist[0, c]
                    st = a if a > ready[c] else ready[c]
                    if st <= due[c] and st + service[c] + dist[c, 0] <= due[0]:
                        best_r = r
                        best_i = 0
                        best = dist[0, c] + dist[c, 0]
                    break
        if best_r < 0:
            return False, n_touched, delta_total
        r = best_r
        if not touched[r]:
            touched[r] = True
            touched_list[n_touched] = r
            n_touched += 1
            backup_len[r] = rlen[r]
            for j in range(rlen[r]):
                backup[r, j] = route[r, j]
        for j in range(rlen[r], best_i, -1):
            route[r, j] = route[r, j - 1]
        route[r, best_i] = c
        rlen[r] += 1
        old = rdist[r]
        new = _rebuild(
            r, route, rlen, dist, service, ready, due, demand, early, late, rload, rdist, where
        )
        delta_total += new - old
    return True, n_touched, delta_total


@njit(cache=True, nogil=True)
def _sort_removed(removed, n_removed, keys):
    """Stable insertion sort of ``removed[:n_removed]`` by ascending ``keys[k]``."""
    for a in range(1, n_removed):
        c = removed[a]
        kc = keys[a]
        b = a - 1
        while b >= 0 and keys[b] > kc:
            removed[b + 1] = removed[b]
            keys[b + 1] = keys[b]
            b -= 1
        removed[b + 1] = c
        keys[b + 1] = kc


@njit(cache=True, nogil=True)
def _order_removed(removed, n_removed, keys, state, demand, dist, ready, due):
    """Put the removed customers in one of several orders, drawn at random.

    Weights: random 4, largest demand first 4, farthest from the depot first 2, tightest
    window first 2, nearest to the depot first 1.
    """
    u = _uniform(state) * 13.0
    if u < 4.0:
        for a in range(n_removed - 1, 0, -1):
            b = _randint(state, a + 1)
            t = removed[a]
            removed[a] = removed[b]
            removed[b] = t
        return
    for a in range(n_removed):
        c = removed[a]
        if u < 8.0:
            keys[a] = -demand[c]
        elif u < 10.0:
            keys[a] = -np.float64(dist[0, c])
        elif u < 12.0:
            keys[a] = np.float64(due[c] - ready[c])
        else:
            keys[a] = np.float64(dist[0, c])
    _sort_removed(removed, n_removed, keys)


# ------------------------------------------------------------------------------- ruin


@njit(cache=True, nogil=True)
def _take_out(r, a, length, keep_from, keep_len, route, rlen, removed, n_removed, where):
    """Remove positions ``a .. a+length-1`` of route ``r`` except the ``keep_len`` ones
    from ``keep_from``; append them to ``removed``; returns the new ``n_removed``."""
    w = a
    for i in range(a, a + length):
        c = route[r, i]
        if keep_from <= i < keep_from + keep_len:
            route[r, w] = c
            w += 1
        else:
            removed[n_removed] = c
            n_removed += 1
            where[c] = -1
    for i in range(a + length, rlen[r]):
        route[r, w] = route[r, i]
        w += 1
    rlen[r] = w
    return n_removed


@njit(cache=True, nogil=True)
def sisr_search(
    dist,
    service,
    ready,
    due,
    demand,
    capacity,
    neigh,
    route,
    rlen,
    best_route,
    best_rlen,
    cost,
    state,
    n_iter,
    temp_start,
    temp_end,
    params,
    stats,
):
    """Run ``n_iter`` ruin-and-recreate iterations from the current solution.

    Parameters
    ----------
    dist : ndarray of int64, shape (n, n)
    service, ready, due : ndarray of int64, shape (n,)
    demand : ndarray of float64, shape (n,)
    capacity : float
    neigh : ndarray of int32, shape (n, n - 1)
        Customers by increasing distance from each node (a customer first lists itself).
    route, rlen : ndarray of int32, shapes (n_routes, n) and (n_routes,)
        The current (feasible) solution, updated in place.
    best_route, best_rlen : same shapes
        The best solution seen, updated in place.
    cost : ndarray of int64, shape (2,)
        ``[current, best]`` total distance, updated in place.
    state : ndarray of uint64, shape (1,)
        Random stream state, advanced in place.
    n_iter : int
    temp_start, temp_end : float
        Annealing temperature at the first and after the last iteration (geometric).
    params : ndarray of float64, shape (4,)
        Mean customers removed, longest string, split-string continue probability, blink
        probability.
    stats : ndarray of int64, shape (3,)
        Accepted, improving-the-best and failed (a customer fit nowhere) iterations, added.
    """
    n = dist.shape[0]
    n_routes = route.shape[0]
    mean_removed = params[0]
    max_string = params[1]
    split_more = params[2]
    blink = params[3]
    early = np.zeros((n_routes, n), np.int64)
    late = np.zeros((n_routes, n), np.int64)
    rload = np.zeros(n_routes, np.float64)
    rdist = np.zeros(n_routes, np.int64)
    where = np.full(n, -1, np.int64)
    backup = np.zeros((n_routes, n), np.int32)
    backup_len = np.zeros(n_routes, np.int32)
    touched = np.zeros(n_routes, np.bool_)
    touched_list = np.zeros(n_routes, np.int64)
    ruined = np.zeros(n_routes, np.bool_)
    removed = np.zeros(n, np.int32)
    keys = np.zeros(n, np.float64)
    current = np.int64(0)
    for r in range(n_routes):
        current += _rebuild(
            r, route, rlen, dist, service, ready, due, demand, early, late, rload, rdist, where
        )
    cost[0] = current
    if n_iter <= 0 or n <= 1:
        return
    ratio = temp_end / temp_start if temp_start > 0.0 else 1.0
    for it in range(n_iter):
        temp = temp_start * ratio ** (it / n_iter)
        # ---- ruin
        n_used = 0
        for r in range(n_routes):
            if rlen[r] > 0:
                n_used += 1
            touched[r] = False
            ruined[r] = False
        n_touched = 0
        avg_len = (n - 1) / max(n_used, 1)
        ls_max = min(max_string, avg_len)
        ks_max = 4.0 * mean_removed / (1.0 + ls_max) - 1.0
        if ks_max < 1.0:
            ks_max = 1.0
        n_strings = np.int64(_uniform(state) * ks_max) + 1
        seed = 1 + _randint(state, n - 1)
        n_removed = 0
        n_ruined = 0
        for k in range(neigh.shape[1]):
            if n_ruined >= n_strings:
                break
            c = neigh[seed, k]
            wc = where[c]
            if wc < 0:
                continue
            r = wc // n
            if ruined[r]:
                continue
            pos = wc - r * n
            length = rlen[r]
            touched[r] = True
            touched_list[n_touched] = r
            n_touched += 1
            backup_len[r] = length
            for j in range(length):
                backup[r, j] = route[r, j]
            ruined[r] = True
            n_ruined += 1
            lmax = min(np.float64(length), ls_max)
            size = np.int64(_uniform(state) * lmax) + 1
            if size > length:
                size = length
            if size == length or _uniform(state) < 0.5:
                lo = max(0, pos - size + 1)
                hi = min(pos, length - size)
                a = lo + _randint(state, hi - lo + 1)
                n_removed = _take_out(r, a, size, 0, 0, route, rlen, removed, n_removed, where)
            else:
                m = 1
                while size + m < length and _uniform(state) < split_more:
                    m += 1
                span = size + m
                lo = max(0, pos - span + 1)
                hi = min(pos, length - span)
                a = lo + _randint(state, hi - lo + 1)
                b = a + _randint(state, size + 1)
                n_removed = _take_out(r, a, span, b, m, route, rlen, removed, n_removed, where)
        delta = np.int64(0)
        for j in range(n_touched):
            r = touched_list[j]
            old = rdist[r]
            delta += (
                _rebuild(
                    r,
                    route,
                    rlen,
                    dist,
                    service,
                    ready,
                    due,
                    demand,
                    early,
                    late,
                    rload,
                    rdist,
                    where,
                )
                - old
            )
        # ---- recreate
        _order_removed(removed, n_removed, keys, state, demand, dist, ready, due)
        ok, n_touched, d2 = _insert_all(
            removed,
            n_removed,
            blink,
            state,
            route,
            rlen,
            dist,
            service,
            ready,
            due,
            demand,
            capacity,
            early,
            late,
            rload,
            rdist,
            where,
            touched,
            touched_list,
            n_touched,
            backup,
            backup_len,
        )
        delta += d2
        # ---- accept
        accept = False
        if ok:
            if delta <= 0:
                accept = True
            elif temp > 0.0:
                u = _uniform(state)
                accept = delta < -temp * np.log(u + 1e-300)
        else:
            stats[2] += 1
        if accept:
            current += delta
            stats[0] += 1
            if current < cost[1]:
                cost[1] = current
                stats[1] += 1
                for r in range(n_routes):
                    best_rlen[r] = rlen[r]
                    for j in range(rlen[r]):
                        best_route[r, j] = route[r, j]
        else:
            for j in range(n_touched):
                r = touched_list[j]
                rlen[r] = backup_len[r]
                for i in range(backup_len[r]):
                    route[r, i] = backup[r, i]
            for j in range(n_touched):
                r = touched_list[j]
                _rebuild(
                    r,
                    route,
                    rlen,
                    dist,
                    service,
                    ready,
                    due,
                    demand,
                    early,
                    late,
                    rload,
                    rdist,
                    where,
                )
    cost[0] = current


@njit(cache=True, nogil=True)
def greedy_build(dist, service, ready, due, demand, capacity, order, route, rlen):
    """Insert customers ``order`` one by one at their cheapest feasible position.

    ``route``/``rlen`` start empty and are filled in place. Returns the number of
    customers that fit nowhere (0 on success).
    """
    n = dist.shape[0]
    n_routes = route.shape[0]
    early = np.zeros((n_routes, n), np.int64)
    late = np.zeros((n_routes, n), np.int64)
    rload = np.zeros(n_routes, np.float64)
    rdist = np.zeros(n_routes, np.int64)
    where = np.full(n, -1, np.int64)
    backup = np.zeros((n_routes, n), np.int32)
    backup_len = np.zeros(n_routes, np.int32)
    touched = np.zeros(n_routes, np.bool_)
    touched_list = np.zeros(n_routes, np.int64)
    state = np.zeros(1, np.uint64)
    one = np.zeros(1, np.int32)
    missing = 0
    for k in range(order.shape[0]):
        one[0] = order[k]
        for r in range(n_routes):
            touched[r] = False
        ok, _, _ = _insert_all(
            one,
            1,
            0.0,
            state,
            route,
            rlen,
            dist,
            service,
            ready,
            due,
            demand,
            capacity,
            early,
            late,
            rload,
            rdist,
            where,
            touched,
            touched_list,
            0,
            backup,
            backup_len,
        )
        if not ok:
            missing += 1
    return missing
