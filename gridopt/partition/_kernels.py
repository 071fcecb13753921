"""Numba kernels of the capacitated p-median (:mod:`gridopt.partition.pmedian`).

Private: the Python wrapper validates, converts dtypes and draws the random numbers;
these kernels take fixed-dtype arrays, never validate, and write into caller-allocated
arrays.

Assignment kernels work on *candidate lists*: row ``i`` of ``cand_slot`` (int32, shape
(n, k)) names the median slots point ``i`` may join and ``cand_cost`` (float64, shape
(n, k)) the matching costs. In *dense* mode ``k`` equals the number of slots and column
``s`` is slot ``s`` (``cand_slot[i, s] == s``), so a cost look-up is one read.
``fixed_slot[i]`` is the slot point ``i`` is pinned to (a median serves itself), or -1.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_EPS = 1e-9


@njit(cache=True, nogil=True)
def _cost_of(cand_slot, cand_cost, dense, i, s):
    """Cost of point ``i`` joining slot ``s`` (inf when ``s`` is not in its list)."""
    if dense:
        return cand_cost[i, s]
    for c in range(cand_slot.shape[1]):
        if cand_slot[i, c] == s:
            return cand_cost[i, c]
    return np.inf


@njit(cache=True, nogil=True)
def assign_regret(cand_slot, cand_cost, demand, cap_slot, fixed_slot, regret, out_label, out_load):
    """Regret-ordered greedy assignment of points to slots under capacities.

    Points with the largest gap between their best and second-best slot choose first,
    each taking its cheapest slot with room; a point that fits nowhere takes the slot it
    overloads least. Returns the total overload (0.0 when capacity-feasible).
    """
    n, k = cand_slot.shape
    p = cap_slot.shape[0]
    for s in range(p):
        out_load[s] = 0.0
    for i in range(n):
        s = fixed_slot[i]
        if s >= 0:
            out_label[i] = s
            out_load[s] += demand[i]
            regret[i] = -np.inf
            continue
        out_label[i] = -1
        b1 = np.inf
        b2 = np.inf
        for c in range(k):
            v = cand_cost[i, c]
            if v < b1:
                b2 = b1
                b1 = v
            elif v < b2:
                b2 = v
        regret[i] = b2 - b1 if b2 < np.inf else 1e300
    order = np.argsort(-regret, kind="mergesort")
    for r in range(n):
        i = order[r]
        if out_label[i] >= 0:
            continue
        best = -1
        best_cost = np.inf
        least = -1
        least_over = np.inf
        q = demand[i]
        for c in range(k):
            s = cand_slot[i, c]
            v = cand_cost[i, c]
            room = cap_slot[s] - out_load[s]
            if room + _EPS >= q:
                if v < best_cost:
                    best_cost = v
                    best = s
            else:
                over = q - room
                if over < least_over or (over == least_over and v < best_cost):
                    least_over = over
                    least = s
        if best < 0:
            best = least
        out_label[i] = best
        out_load[best] += q
    total = 0.0
    for s in range(p):
        if out_load[s] > cap_slot[s] + _EPS:
            total += out_load[s] - cap_slot[s]
    return total


@njit(cache=True, nogil=True)
def _members(label, p, start, members):
    """Counting sort of points by slot into CSR arrays ``start`` (p+1) and ``members``."""
    n = label.shape[0]
    for s in range(p + 1):
        start[s] = 0
    for i in range(n):
        start[label[i] + 1] += 1
    for s in range(p):
        start[s + 1] += start[s]
    fill = start[:p].copy()
    for i in range(n):
        s = label[i]
        members[fill[s]] = i
        fill[s] += 1


@njit(cache=True, nogil=True)
def improve_assignment(
    cand_slot, cand_cost, dense, demand, cap_slot, fixed_slot, label, load, max_pass, start, members
):
    """Improve an assignment in place with shift and swap moves; return its total cost.

    Repair moves first take points out of overloaded slots at the least extra cost; then
    shift moves (one point to a cheaper slot with room) and swap moves (two points of two
    slots trade places) are applied until no move improves or ``max_pass`` passes ran.
    ``start`` (int64, p+1) and ``members`` (int64, n) are work arrays.
    """
    n, k = cand_slot.shape
    p = cap_slot.shape[0]
    # repair overload
    for _ in range(n):
        moved = False
        for i in range(n):
            a = label[i]
            if fixed_slot[i] >= 0 or load[a] <= cap_slot[a] + _EPS:
                continue
            q = demand[i]
            ca = _cost_of(cand_slot, cand_cost, dense, i, a)
            best = -1
            best_d = np.inf
            for c in range(k):
                t = cand_slot[i, c]
                if t == a or load[t] + q > cap_slot[t] + _EPS:
                    continue
                d = cand_cost[i, c] - ca
                if d < best_d:
                    best_d = d
                    best = t
            if best >= 0:
                label[i] = best
                load[a] -= q
                load[best] += q
                moved = True
        if not moved:
            break
    for _ in range(max_pass):
        improved = False
        # shift moves
        for i in range(n):
            if fixed_slot[i] >= 0:
                continue
            a = label[i]
            q = demand[i]
            ca = _cost_of(cand_slot, cand_cost, dense, i, a)
            best = -1
            best_c = ca - _EPS
            for c in range(k):
                t = cand_slot[i, c]
                v = cand_cost[i, c]
                if v < best_c and t != a and load[t] + q <= cap_slot[t] + _EPS:
                    best_c = v
                    best = t
            if best >= 0:
                label[i] = best
                load[a] -= q
                load[best] += q
                improved = True
        # swap moves
        _members(label, p, start, members)
        for i in range(n):
            if fixed_slot[i] >= 0:
                continue
            a = label[i]
            qi = demand[i]
            ca = _cost_of(cand_slot, cand_cost, dense, i, a)
            best_j = -1
            best_t = -1
            best_d = -_EPS
            for c in range(k):
                t = cand_slot[i, c]
                cit = cand_cost[i, c]
                if t == a or cit >= ca:
                    continue
                for r in range(start[t], start[t + 1]):
                    j = members[r]
                    if label[j] != t or fixed_slot[j] >= 0:
                        continue
                    qj = demand[j]
                    if load[t] - qj + qi > cap_slot[t] + _EPS:
                        continue
                    if load[a] - qi + qj > cap_slot[a] + _EPS:
                        continue
                    cja = _cost_of(cand_slot, cand_cost, dense, j, a)
                    d = cit + cja - ca - _cost_of(cand_slot, cand_cost, dense, j, t)
                    if d < best_d:
                        best_d = d
                        best_j = j
                        best_t = t
            if best_j >= 0:
                j = best_j
                t = best_t
                label[i] = t
                label[j] = a
                load[a] += demand[j] - qi
                load[t] += qi - demand[j]
                improved = True
        if not improved:
            break
    total = 0.0
    for i in range(n):
        total += _cost_of(cand_slot, cand_cost, dense, i, label[i])
    return total


@njit(cache=True, nogil=True)
def overload_of(load, cap_slot):
    """Total load above capacity over all slots."""
    total = 0.0
    for s in range(load.shape[0]):
        if load[s] > cap_slot[s] + _EPS:
            total += load[s] - cap_slot[s]
    return total


@njit(cache=True, nogil=True)
def _better(o1, c1, o2, c2):
    """Lexicographic (overload, cost) comparison with tolerances."""
    if o1 < o2 - _EPS:
        return True
    if o1 > o2 + _EPS:
        return False
    return c1 < c2 - _EPS * (1.0 + abs(c2))


@njit(cache=True, nogil=True)
def _evaluate_dense(
    Cm, slot_ids, demand, cap_slot, fixed_slot, regret, label, load, start, members, max_pass=20
):
    over = assign_regret(slot_ids, Cm, demand, cap_slot, fixed_slot, regret, label, load)
    cost = improve_assignment(
        slot_ids, Cm, True, demand, cap_slot, fixed_slot, label, load, max_pass, start, members
    )
    over = overload_of(load, cap_slot)
    return over, cost


@njit(cache=True, nogil=True)
def evaluate_medians(
    C,
    med,
    demand,
    cap_point,
    Cm,
    slot_ids,
    cap_slot,
    fixed_slot,
    regret,
    label,
    load,
    start,
    members,
):
    """Assign every point to the medians ``med`` (dense cost ``C``); return (overload, cost).

    Fills the work arrays ``Cm`` (n, p), ``cap_slot`` (p), ``fixed_slot`` (n) and the
    outputs ``label`` (n, slot index) and ``load`` (p).
    """
    n = C.shape[0]
    p = med.shape[0]
    for i in range(n):
        fixed_slot[i] = -1
    for s in range(p):
        m = med[s]
        for i in range(n):
            Cm[i, s] = C[i, m]
        cap_slot[s] = cap_point[m]
        fixed_slot[m] = s
    return _evaluate_dense(
        Cm, slot_ids, demand, cap_slot, fixed_slot, regret, label, load, start, members
    )


@njit(cache=True, nogil=True)
def swap_round(
    C,
    demand,
    cap_point,
    allowed,
    nbr,
    slot_order,
    med,
    is_med,
    Cm,
    slot_ids,
    cap_slot,
    fixed_slot,
    regret,
    label,
    load,
    start,
    members,
    cur_over,
    cur_cost,
    screen_pass,
    n_full,
):
    """One round of median-swap local search (best swap per slot, applied at once).

    For each slot in ``slot_order`` the median is replaced in turn by each allowed
    non-median among its ``nbr`` row (nearest points), the points are re-assigned (with
    at most ``screen_pass`` improvement passes: more passes only lower the cost, so a
    screened win is a real win), and the best replacement is kept when it beats the
    incumbent. Only the ``n_full`` candidates with the best uncapacitated estimate (close
    ``m``, open ``c``, every point to its nearest open median) are evaluated. ``med``, ``is_med``,
    ``label`` and ``load`` are updated in place; returns (overload, cost, n_evaluations).
    """
    n = C.shape[0]
    L = nbr.shape[1]
    p = med.shape[0]
    n_eval = 0
    best_over = cur_over
    best_cost = cur_cost
    b1 = np.empty(n)
    b2 = np.empty(n)
    b1slot = np.empty(n, dtype=np.int64)
    top_c = np.empty(n_full, dtype=np.int64)
    top_v = np.empty(n_full)
    stale = True
    for r in range(slot_order.shape[0]):
        s = slot_order[r]
        m = med[s]
        pick = -1
        if stale:
            # nearest and second-nearest open median of each point, capacities ignored
            for i in range(n):
                v1 = np.inf
                v2 = np.inf
                k1 = -1
                for t in range(p):
                    v = Cm[i, t]
                    if v < v1:
                        v2 = v1
                        v1 = v
                        k1 = t
                    elif v < v2:
                        v2 = v
                b1[i] = v1
                b2[i] = v2
                b1slot[i] = k1
            stale = False
        # rank candidates by the uncapacitated change of closing m and opening c
        n_top = 0
        for c_idx in range(L):
            c = nbr[m, c_idx]
            if is_med[c] or not allowed[c] or cap_point[c] + _EPS < demand[c]:
                continue
            est = 0.0
            for i in range(n):
                alt = b2[i] if b1slot[i] == s else b1[i]
                v = C[i, c]
                est += v if v < alt else alt
            if n_top < n_full:
                top_c[n_top] = c
                top_v[n_top] = est
                n_top += 1
            else:
                worst = 0
                for q in range(1, n_full):
                    if top_v[q] > top_v[worst]:
                        worst = q
                if est < top_v[worst]:
                    top_c[worst] = c
                    top_v[worst] = est
        for q in range(n_top):
            c = top_c[q]
            # try c in place of m
            for i in range(n):
                Cm[i, s] = C[i, c]
            cap_slot[s] = cap_point[c]
            fixed_slot[m] = -1
            fixed_slot[c] = s
            over, cost = _evaluate_dense(
                Cm,
                slot_ids,
                demand,
                cap_slot,
                fixed_slot,
                regret,
                label,
                load,
                start,
                members,
                screen_pass,
            )
            n_eval += 1
            fixed_slot[c] = -1
            if _better(over, cost, best_over, best_cost):
                best_over = over
                best_cost = cost
                pick = c
        if pick >= 0:
            stale = True
        if pick >= 0:
            is_med[m] = False
            is_med[pick] = True
            med[s] = pick
            m = pick
        for i in range(n):
            Cm[i, s] = C[i, m]
        cap_slot[s] = cap_point[m]
        fixed_slot[m] = s
    over, cost = _evaluate_dense(
        Cm, slot_ids, demand, cap_slot, fixed_slot, regret, label, load, start, members
    )
    return over, cost, n_eval


@njit(cache=True, nogil=True)
def relocate_medians(C, label, med, allowed, cap_point, load, start, members):
    """Move each median to the member of its cluster with the least total cost to all
    members (capacity permitting). Updates ``med`` in place; returns the number moved.
    """
    p = med.shape[0]
    _members(label, p, start, members)
    n_moved = 0
    for s in range(p):
        best = med[s]
        best_sum = 0.0
        for r in range(start[s], start[s + 1]):
            best_sum += C[members[r], best]
        for r2 in range(start[s], start[s + 1]):
            c = members[r2]
            if c == med[s] or not allowed[c] or cap_point[c] + _EPS < load[s]:
                continue
            tot = 0.0
            for r in range(start[s], start[s + 1]):
                tot += C[members[r], c]
                if tot >= best_sum:
                    break
            if tot < best_sum - _EPS * (1.0 + best_sum):
                best_sum = tot
                best = c
        if best != med[s]:
            med[s] = best
            n_moved += 1
    return n_moved


@njit(cache=True, nogil=True)
def kmeanspp_dense(C, allowed, u, out_med):
    """k-means++ style seeding on a dense cost: each new median is drawn with
    probability proportional to the cost to the nearest median so far (``u`` holds one
    uniform draw per median). Writes ``out_med``.
    """
    n = C.shape[0]
    p = out_med.shape[0]
    dmin = np.empty(n)
    # first: allowed point drawn uniformly
    n_allowed = 0
    for i in range(n):
        if allowed[i]:
            n_allowed += 1
    target = int(u[0] * n_allowed)
    cnt = 0
    first = 0
    for i in range(n):
        if allowed[i]:
            if cnt == target:
                first = i
                break
            cnt += 1
    out_med[0] = first
    for i in range(n):
        dmin[i] = C[i, first]
    for s in range(1, p):
        total = 0.0
        for i in range(n):
            if allowed[i]:
                total += dmin[i]
        pick = -1
        if total > 0.0:
            thr = u[s] * total
            acc = 0.0
            for i in range(n):
                if allowed[i] and dmin[i] > 0.0:
                    acc += dmin[i]
                    if acc >= thr:
                        pick = i
                        break
        if pick < 0:
            # all remaining allowed points coincide with medians: take the first unused
            for i in range(n):
                if allowed[i]:
                    used = False
                    for t in range(s):
                        if out_med[t] == i:
                            used = True
                            break
                    if not used:
                        pick = i
                        break
        out_med[s] = pick
        dmin[pick] = 0.0
        for i in range(n):
            v = C[i, pick]
            if v < dmin[i]:
                dmin[i] = v
