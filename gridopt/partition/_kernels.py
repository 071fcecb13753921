"""Numba kernels of the capacitated p-median (:mod:`gridopt.partition.pmedian`) and of
the partitioner's balance phase and spanning-tree splits (:mod:`gridopt.partition.search`).

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

from gridopt.score._kernels import _next, _randint, can_remove, cut_pieces

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


# --------------------------------------------------------------- balance-first search
#
# The balance phase of :func:`gridopt.partition.partition`: late-acceptance hill
# climbing over border moves and swaps (contiguity kept) on the sum over grids and
# attributes of s^2 + w_ex * max(0, |s| - margin), s = (total / target - 1) / tau, the
# deviation in units of the tolerance; ``w_ex`` (n_grids, m) float64 are per (grid,
# attribute) weights that the caller raises where a violation persists (breakout). It
# stops as soon as every |s| <= 1 (feasible).


@njit(cache=True, nogil=True, inline="always")
def _bal_term(tot, itarget, itau, g, t, margin, w_ex):
    s = (tot * itarget[g, t] - 1.0) * itau[t]
    c = s * s
    ex = abs(s) - margin
    if ex > 0.0:
        c += w_ex[g, t] * ex
    return c


@njit(cache=True, nogil=True, inline="always")
def _n_out(tot, itarget, itau, g):
    c = 0
    for t in range(tot.shape[1]):
        if abs((tot[g, t] * itarget[g, t] - 1.0) * itau[t]) > 1.0:
            c += 1
    return c


@njit(cache=True, nogil=True)
def balance_cost(tot, itarget, itau, margin, w_ex):
    """Balance-phase cost of the grid totals ``tot`` (float64, shape (n_grids, m))."""
    c = 0.0
    for g in range(tot.shape[0]):
        for t in range(tot.shape[1]):
            c += _bal_term(tot[g, t], itarget, itau, g, t, margin, w_ex)
    return c


@njit(cache=True, nogil=True, inline="always")
def _bal_delta(v, a, b, tot, itarget, itau, margin, w_ex):
    """Cost change when totals ``v`` (m,) go from grid a to grid b."""
    d = 0.0
    for t in range(v.shape[0]):
        d += _bal_term(tot[a, t] - v[t], itarget, itau, a, t, margin, w_ex)
        d -= _bal_term(tot[a, t], itarget, itau, a, t, margin, w_ex)
        d += _bal_term(tot[b, t] + v[t], itarget, itau, b, t, margin, w_ex)
        d -= _bal_term(tot[b, t], itarget, itau, b, t, margin, w_ex)
    return d


@njit(cache=True, nogil=True, inline="always")
def _touches(i, skip, g, labels, indptr, indices):
    for e in range(indptr[i], indptr[i + 1]):
        u = indices[e]
        if u != skip and labels[u] == g:
            return True
    return False


@njit(cache=True, nogil=True)
def balance_search(
    labels, attrs, itarget, itau, indptr, indices, frozen, sizes, tot, margin, w_ex,
    n_iter, p_swap, bfs_limit, group_limit, contiguous, history, rng, stamp, mark, queue,
    vec, focus_i, focus_j, out,
):  # fmt: skip
    """Late-acceptance descent towards balance; stops once every grid is in tolerance.

    ``labels`` (n,) int32, ``sizes`` (k,) int64 and ``tot`` (k, m) float64 are updated in
    place; ``history`` (L,) float64 is the late-acceptance list (filled by the caller
    with the start cost); ``rng`` a (1,) uint64 xorshift state; ``stamp``/``mark``/
    ``queue`` the scratch of ``can_remove``; ``vec`` (m,) float64 scratch. A unit whose
    leaving would split its grid moves with the pieces (at most ``group_limit`` units
    each) that hang on it. ``focus_i``/``focus_j`` (int64, same length, may be empty)
    are unit pairs across a border of an out-of-tolerance grid: half of the proposals
    draw from them. ``out`` (4,) float64 receives the final cost, proposals
    evaluated, accepted moves, and the number of out-of-tolerance (grid, attribute)
    pairs left.
    """
    n = labels.shape[0]
    k = tot.shape[0]
    m = tot.shape[1]
    n_hist = history.shape[0]
    cost = balance_cost(tot, itarget, itau, margin, w_ex)
    n_bad = 0
    for g in range(k):
        n_bad += _n_out(tot, itarget, itau, g)
    n_eval = 0
    n_acc = 0
    it = 0
    while it < n_iter and n_bad > 0:
        it += 1
        # half of the proposals cross a border of a grid that was out of tolerance when
        # the chunk started (``focus_i``/``focus_j``: unit pairs), the rest go anywhere
        if focus_i.shape[0] > 0 and _next(rng) < 0.5:
            e = _randint(rng, focus_i.shape[0])
            i = focus_i[e]
            j = focus_j[e]
        else:
            i = _randint(rng, n)
            deg = indptr[i + 1] - indptr[i]
            if deg == 0:
                continue
            j = indices[indptr[i] + _randint(rng, deg)]
        if frozen[i] != 0:
            continue
        a = labels[i]
        b = labels[j]
        if a == b:
            continue
        swap = p_swap > 0.0 and _next(rng) < p_swap
        if swap:
            # partner: a short random walk inside grid b from the neighbour j
            n_steps = _randint(rng, 4)
            for _s in range(n_steps):
                dj = indptr[j + 1] - indptr[j]
                q = indices[indptr[j] + _randint(rng, dj)]
                if labels[q] == b:
                    j = q
            if frozen[j] != 0:
                continue
        elif sizes[a] <= 1:
            continue
        for t in range(m):
            vec[t] = attrs[i, t] - attrs[j, t] if swap else attrs[i, t]
        d = _bal_delta(vec, a, b, tot, itarget, itau, margin, w_ex)
        slot = n_eval % n_hist
        n_eval += 1
        lim = history[slot]
        n_group = 0
        if not (d <= 0.0 or cost + d <= lim):
            history[slot] = cost
            continue
        if contiguous:
            ok = True
            if swap:
                ok = _touches(i, j, b, labels, indptr, indices) and _touches(
                    j, i, a, labels, indptr, indices
                )
                ok = ok and can_remove(i, labels, indptr, indices, stamp, mark, queue, bfs_limit)
                ok = ok and can_remove(j, labels, indptr, indices, stamp, mark, queue, bfs_limit)
            elif not can_remove(i, labels, indptr, indices, stamp, mark, queue, bfs_limit):
                ok = False
                if group_limit > 0:
                    n_group = cut_pieces(
                        i, labels, indptr, indices, stamp, mark, queue, group_limit
                    )
                    if n_group > 0 and n_group + 1 < sizes[a]:
                        ok = True
                        for q in range(n_group):
                            u = queue[q]
                            if frozen[u] != 0:
                                ok = False
                                break
                            for t in range(m):
                                vec[t] += attrs[u, t]
                        if ok:
                            d = _bal_delta(vec, a, b, tot, itarget, itau, margin, w_ex)
                            ok = d <= 0.0 or cost + d <= lim
                    else:
                        n_group = 0
            if not ok:
                history[slot] = cost
                continue
        n_bad -= _n_out(tot, itarget, itau, a) + _n_out(tot, itarget, itau, b)
        for t in range(m):
            tot[a, t] -= vec[t]
            tot[b, t] += vec[t]
        labels[i] = b
        if swap:
            labels[j] = a
        else:
            for q in range(n_group):
                labels[queue[q]] = b
            sizes[a] -= n_group + 1
            sizes[b] += n_group + 1
        n_bad += _n_out(tot, itarget, itau, a) + _n_out(tot, itarget, itau, b)
        cost += d
        n_acc += 1
        history[slot] = cost
    out[0] = cost
    out[1] = n_eval
    out[2] = n_acc
    out[3] = n_bad
    return it


# ------------------------------------------------------------ spanning-tree splitting
#
# Merge-and-split moves and the tree seed cut a set of units along a uniform random
# spanning tree (Wilson's algorithm): every subtree is connected and so is what is left
# of the tree, so carving subtrees whose totals fit the targets gives connected parts.


@njit(cache=True, nogil=True)
def wilson_tree(members, pos, indptr, indices, rng, max_steps, parent, order, nxt, in_tree):
    """Uniform random spanning tree of the units ``members`` (connected, int64 (s,)).

    ``pos`` (n,) int64 maps a unit to its index in ``members`` (-1 outside). Writes, in
    local indices, ``parent`` (s,) (-1 at the root ``0``) and ``order`` (s,), a root-first
    order (every parent before its children). ``nxt`` (s,) int64 and ``in_tree`` (s,)
    uint8 are scratch. Returns False when the random walks exceed ``max_steps`` steps.
    """
    s = members.shape[0]
    for p in range(s):
        in_tree[p] = 0
    in_tree[0] = 1
    parent[0] = -1
    order[0] = 0
    n_order = 1
    steps = 0
    for start in range(1, s):
        if in_tree[start]:
            continue
        u = start
        while not in_tree[u]:
            unit = members[u]
            deg = indptr[unit + 1] - indptr[unit]
            while True:
                v = pos[indices[indptr[unit] + _randint(rng, deg)]]
                if v >= 0:
                    break
            nxt[u] = v
            u = v
            steps += 1
            if steps > max_steps:
                return False
        # the loop-erased path start -> tree: add it from the tree end back to start
        end = u
        length = 0
        u = start
        while u != end:
            length += 1
            u = nxt[u]
        u = start
        base = n_order + length - 1
        q = 0
        while u != end:
            in_tree[u] = 1
            parent[u] = nxt[u]
            order[base - q] = u
            q += 1
            u = nxt[u]
        n_order += length
    return True


@njit(cache=True, nogil=True)
def carve(order, parent, vals, target, tau, slack, rng, sums, alive, part, cum):
    """Cut a spanning tree into ``target.shape[0]`` connected parts, balanced part by part.

    Parts ``0 .. P-2`` are subtrees carved one after another, each within ``slack * tau``
    of its target on every attribute when possible, preferring cuts that keep the running
    sum of deviations near zero (with random tie-breaking); part ``P-1`` is what is left.
    ``order``/``parent`` from :func:`wilson_tree`; ``vals`` (s, m) float64; ``target``
    (P, m); ``tau`` (m,). Writes ``part`` (s,) int64; scratch ``sums`` (s, m), ``alive``
    (s,) uint8, ``cum`` (m,). Returns the largest |total / target - 1| / tau over parts
    (inf when a part could not be cut).
    """
    s = order.shape[0]
    m = vals.shape[1]
    n_parts = target.shape[0]
    for p in range(s):
        alive[p] = 1
        part[p] = n_parts - 1
    for t in range(m):
        cum[t] = 0.0
    worst = 0.0
    for g in range(n_parts - 1):
        for p in range(s):
            for t in range(m):
                sums[p, t] = vals[p, t]
        for q in range(s - 1, 0, -1):
            v = order[q]
            if alive[v]:
                pv = parent[v]
                for t in range(m):
                    sums[pv, t] += sums[v, t]
        best = -1
        best_key = np.inf
        best_dev = 0.0
        for q in range(1, s):
            v = order[q]
            if not alive[v]:
                continue
            dev = 0.0
            key = 0.0
            for t in range(m):
                r = (sums[v, t] / target[g, t] - 1.0) / tau[t]
                if abs(r) > dev:
                    dev = abs(r)
                c = cum[t] + r
                key += c * c
            if dev > slack:
                key += 1e6 * (dev - slack)
            key += 1e-3 * _next(rng)
            if key < best_key:
                best_key = key
                best = v
                best_dev = dev
        if best < 0:
            return np.inf
        if best_dev > worst:
            worst = best_dev
        for t in range(m):
            cum[t] += (sums[best, t] / target[g, t] - 1.0) / tau[t]
        # the subtree of best (root-first order: a child follows its parent)
        part[best] = g
        alive[best] = 0
        for q in range(1, s):
            v = order[q]
            if alive[v] and part[parent[v]] == g and not alive[parent[v]]:
                part[v] = g
                alive[v] = 0
    last = n_parts - 1
    for t in range(m):
        tot = 0.0
        for p in range(s):
            if alive[p]:
                tot += vals[p, t]
        r = abs(tot / target[last, t] - 1.0) / tau[t]
        if r > worst:
            worst = r
    return worst


@njit(cache=True, nogil=True)
def grid_lists(labels, k, ghead, gnext):
    """Per-grid member lists: ``ghead[g]`` the first unit of grid g (-1 if none),
    ``gnext[u]`` the next unit of u's grid (-1 at the end); units in increasing order."""
    for g in range(k):
        ghead[g] = -1
    for u in range(labels.shape[0] - 1, -1, -1):
        g = labels[u]
        gnext[u] = ghead[g]
        ghead[g] = u


@njit(cache=True, nogil=True)
def _pick_pair(labels, indptr, indices, tot, itarget, itau, p_bad, rng, grid_nb, ghead, gnext):
    """A grid (out-of-tolerance ones preferred) and a random neighbouring grid, or (-1, -1).

    Reads only grid a's members (``ghead``/``gnext`` from :func:`grid_lists`).
    """
    k = tot.shape[0]
    n_bad = 0
    for g in range(k):
        if _n_out(tot, itarget, itau, g) > 0:
            n_bad += 1
    a = -1
    if n_bad > 0 and _next(rng) < p_bad:
        pick = _randint(rng, n_bad)
        for g in range(k):
            if _n_out(tot, itarget, itau, g) > 0:
                if pick == 0:
                    a = g
                    break
                pick -= 1
    else:
        a = _randint(rng, k)
    for g in range(k):
        grid_nb[g] = 0
    n_nb = 0
    i = ghead[a]
    while i >= 0:
        for e in range(indptr[i], indptr[i + 1]):
            g = labels[indices[e]]
            if g != a and grid_nb[g] == 0:
                grid_nb[g] = 1
                n_nb += 1
        i = gnext[i]
    if n_nb == 0:
        return -1, -1
    pick = _randint(rng, n_nb)
    for g in range(k):
        if grid_nb[g]:
            if pick == 0:
                return a, g
            pick -= 1
    return -1, -1


@njit(cache=True, nogil=True)
def recom_balance(
    labels, attrs, itarget, itau, indptr, indices, frozen, sizes, tot, margin, w_ex,
    n_moves, n_trees, history, rng, pos, members, parent, order, nxt, in_tree, sums, cut,
    grid_nb, max_group, target, tau, lv, part, group, tg, cum, ghead, gnext, out,
):  # fmt: skip
    """Merge-and-split moves towards balance; stops once every grid is in tolerance.

    Each move merges a grid (out-of-tolerance ones preferred) with a neighbouring grid,
    draws ``n_trees`` uniform spanning trees of the union and re-splits it at the tree
    edge whose two sides score best on the balance-phase cost (see
    :func:`balance_search`); late acceptance against ``history``. ``pos`` (n,) int64
    must be -1 everywhere on entry (restored on exit); ``members``, ``parent``,
    ``order``, ``nxt``, ``cut`` (n,) int64, ``in_tree`` (n,) uint8, ``sums`` (n, m + 2)
    float64 and ``grid_nb`` (k,) int64 are scratch. With ``max_group`` >= 3, half the
    moves merge 3 .. ``max_group`` grids and re-cut them with :func:`carve` (``target``
    (k, m) and ``tau`` (m,) the grid targets and tolerances; scratch ``lv`` (n, m),
    ``part`` (n,) int64, ``group`` (max_group,) int64, ``tg`` (max_group, m), ``cum``
    (m,)). ``ghead`` (k,) and ``gnext`` (n,) int64 hold the grids' member lists
    (:func:`grid_lists`, kept up to date), so that a move costs the size of the grids it
    merges, not the number of units. ``out`` (4,) as in :func:`balance_search` (cost,
    moves, accepted, out-of-tolerance pairs).
    """
    k = tot.shape[0]
    m = tot.shape[1]
    n_hist = history.shape[0]
    cost = balance_cost(tot, itarget, itau, margin, w_ex)
    n_bad = 0
    for g in range(k):
        n_bad += _n_out(tot, itarget, itau, g)
    n_acc = 0
    mv = 0
    grid_lists(labels, k, ghead, gnext)
    while mv < n_moves and n_bad > 0:
        mv += 1
        a, b = _pick_pair(
            labels, indptr, indices, tot, itarget, itau, 0.7, rng, grid_nb, ghead, gnext
        )
        if a < 0:
            continue
        group[0] = a
        group[1] = b
        n_g = 2
        if max_group >= 3 and _next(rng) < 0.5:
            want = 3 + _randint(rng, max_group - 2)
            while n_g < want:
                # a random grid next to the group
                for g in range(k):
                    grid_nb[g] = 0
                for q in range(n_g):
                    grid_nb[group[q]] = -1
                n_nb = 0
                for q in range(n_g):
                    i = ghead[group[q]]
                    while i >= 0:
                        for e in range(indptr[i], indptr[i + 1]):
                            g = labels[indices[e]]
                            if grid_nb[g] == 0:
                                grid_nb[g] = 1
                                n_nb += 1
                        i = gnext[i]
                if n_nb == 0:
                    break
                pick = _randint(rng, n_nb)
                for g in range(k):
                    if grid_nb[g] == 1:
                        if pick == 0:
                            group[n_g] = g
                            n_g += 1
                            break
                        pick -= 1
        s = 0
        for q in range(n_g):
            i = ghead[group[q]]
            while i >= 0:
                members[s] = i
                s += 1
                i = gnext[i]
        # a random root, so that the root's side is not always the same
        r = _randint(rng, s)
        members[0], members[r] = members[r], members[0]
        for p in range(s):
            pos[members[p]] = p
        old = 0.0
        for q in range(n_g):
            for t in range(m):
                old += _bal_term(tot[group[q], t], itarget, itau, group[q], t, margin, w_ex)
        best = np.inf
        n_cut = 0
        if n_g > 2:
            for q in range(n_g):
                for t in range(m):
                    tg[q, t] = target[group[q], t]
            for p in range(s):
                for t in range(m):
                    lv[p, t] = attrs[members[p], t]
        for _tr in range(n_trees):
            if n_g > 2:
                if not wilson_tree(
                    members[:s], pos, indptr, indices, rng, 50 * s * s + 1000,
                    parent[:s], order[:s], nxt[:s], in_tree[:s],
                ):  # fmt: skip
                    continue
                w_cut = carve(
                    order[:s], parent[:s], lv[:s], tg[:n_g], tau, 1.0, rng, sums[:s, :m],
                    in_tree[:s], part[:s], cum,
                )  # fmt: skip
                # a failed carve leaves parts empty: never accept that
                ok = w_cut < np.inf
                for p in range(s):
                    u = members[p]
                    if frozen[u] != 0 and group[part[p]] != labels[u]:
                        ok = False
                        break
                if not ok:
                    continue
                for q in range(n_g):
                    for t in range(m):
                        tg[q, t] = 0.0
                for p in range(s):
                    for t in range(m):
                        tg[part[p], t] += lv[p, t]
                c = 0.0
                for q in range(n_g):
                    for t in range(m):
                        c += _bal_term(tg[q, t], itarget, itau, group[q], t, margin, w_ex)
                        tg[q, t] = target[group[q], t]
                if c < best:
                    best = c
                    for p in range(s):
                        cut[p] = group[part[p]]
                    n_cut = s
                continue
            if not wilson_tree(
                members[:s], pos, indptr, indices, rng, 50 * s * s + 1000,
                parent[:s], order[:s], nxt[:s], in_tree[:s],
            ):  # fmt: skip
                continue
            for p in range(s):
                u = members[p]
                for t in range(m):
                    sums[p, t] = attrs[u, t]
                sums[p, m] = 1.0 if frozen[u] != 0 and labels[u] == a else 0.0
                sums[p, m + 1] = 1.0 if frozen[u] != 0 and labels[u] == b else 0.0
            for q in range(s - 1, 0, -1):
                v = order[q]
                for t in range(m + 2):
                    sums[parent[v], t] += sums[v, t]
            root = order[0]
            for q in range(1, s):
                v = order[q]
                for side in range(2):
                    ga = a if side == 0 else b
                    gb = b if side == 0 else a
                    # subtree of v -> ga, the rest -> gb; frozen units keep their grid
                    if side == 0:
                        if sums[v, m + 1] > 0.0 or sums[root, m] - sums[v, m] > 0.0:
                            continue
                    elif sums[v, m] > 0.0 or sums[root, m + 1] - sums[v, m + 1] > 0.0:
                        continue
                    c = 0.0
                    for t in range(m):
                        c += _bal_term(sums[v, t], itarget, itau, ga, t, margin, w_ex)
                        c += _bal_term(
                            sums[root, t] - sums[v, t], itarget, itau, gb, t, margin, w_ex
                        )
                    if c < best:
                        best = c
                        # the labels of this cut: mark the subtree, root-first order
                        # in_tree is free once the tree is drawn: it flags the subtree
                        for p2 in range(s):
                            in_tree[p2] = 0
                        in_tree[v] = 1
                        for q2 in range(q + 1, s):
                            v2 = order[q2]
                            in_tree[v2] = in_tree[parent[v2]]
                        for p2 in range(s):
                            cut[p2] = ga if in_tree[p2] else gb
                        n_cut = s
        slot = mv % n_hist
        lim = history[slot]
        d = best - old
        if n_cut > 0 and (d <= 0.0 or cost + d <= lim):
            for q in range(n_g):
                g = group[q]
                n_bad -= _n_out(tot, itarget, itau, g)
                for t in range(m):
                    tot[g, t] = 0.0
                sizes[g] = 0
                ghead[g] = -1
            for p in range(s - 1, -1, -1):
                u = members[p]
                g = cut[p]
                labels[u] = g
                sizes[g] += 1
                for t in range(m):
                    tot[g, t] += attrs[u, t]
                gnext[u] = ghead[g]
                ghead[g] = u
            for q in range(n_g):
                n_bad += _n_out(tot, itarget, itau, group[q])
            cost += d
            n_acc += 1
        history[slot] = cost
        for p in range(s):
            pos[members[p]] = -1
    out[0] = cost
    out[1] = mv
    out[2] = n_acc
    out[3] = n_bad
    return mv


# ------------------------------------------------------- tree helpers of the annealing's recom


@njit(cache=True, nogil=True)
def subtree_sums(order, pred, sums):
    """Add every unit's row of ``sums`` (s, m) into its parent's, leaves first: each row
    becomes the total of its subtree. ``order`` root-first, ``pred`` parents (-1 at the
    root)."""
    for q in range(order.shape[0] - 1, 0, -1):
        v = order[q]
        p = pred[v]
        for t in range(sums.shape[1]):
            sums[p, t] += sums[v, t]


@njit(cache=True, nogil=True)
def cut_subtree(order, pred, alive, v, sums, in_sub):
    """Mark the live subtree of the live unit ``v`` in ``in_sub`` (s,) bool, take it out
    of ``alive`` and subtract its total from the sums of v's ancestors."""
    for p in range(in_sub.shape[0]):
        in_sub[p] = False
    in_sub[v] = True
    alive[v] = False
    for q in range(order.shape[0]):  # root-first: a parent is marked before its children
        u = order[q]
        if alive[u] and pred[u] >= 0 and in_sub[pred[u]]:
            in_sub[u] = True
            alive[u] = False
    u = pred[v]
    while u >= 0:
        for t in range(sums.shape[1]):
            sums[u, t] -= sums[v, t]
        u = pred[u]


# ------------------------------------------------------------------ pieces behind cut vertices


@njit(cache=True, nogil=True)
def hanging_pieces(indptr, indices, vals, out_unit, out_sum, out_size):
    """The pieces of the graph that hang on single units (cut vertices).

    One iterative depth-first search (Tarjan's low points). For every unit ``v`` and every
    search child ``c`` of ``v`` whose subtree has no edge above ``v`` (``low[c] >=
    disc[v]``), that subtree is a component of the graph without ``v``; its row goes to
    ``out_unit`` (``v``), ``out_sum`` (the summed rows of ``vals``) and ``out_size`` (its
    unit count). For a search root every child qualifies. The component of ``G - v``
    that holds ``v``'s search parent is not listed (it is the rest). Returns the number
    of rows (at most ``n - 1``). O(units + edges).
    """
    n = indptr.shape[0] - 1
    m = vals.shape[1]
    disc = np.full(n, -1, np.int64)
    low = np.zeros(n, np.int64)
    parent = np.full(n, -1, np.int64)
    nxt = indptr[:-1].copy()  # next edge to look at, per unit
    sub = vals.copy()  # subtree sums and sizes, filled in as the search backs up
    size = np.ones(n, np.int64)
    stack = np.empty(n, np.int64)
    clock = 0
    rows = 0
    for r in range(n):
        if disc[r] >= 0:
            continue
        top = 0
        stack[0] = r
        disc[r] = clock
        low[r] = clock
        clock += 1
        while top >= 0:
            v = stack[top]
            if nxt[v] < indptr[v + 1]:
                u = indices[nxt[v]]
                nxt[v] += 1
                if disc[u] < 0:
                    parent[u] = v
                    disc[u] = clock
                    low[u] = clock
                    clock += 1
                    top += 1
                    stack[top] = u
                elif u != parent[v] and disc[u] < low[v]:
                    low[v] = disc[u]
            else:
                top -= 1
                p = parent[v]
                if p >= 0:
                    if low[v] < low[p]:
                        low[p] = low[v]
                    for t in range(m):
                        sub[p, t] += sub[v, t]
                    size[p] += size[v]
                    if low[v] >= disc[p]:
                        out_unit[rows] = p
                        for t in range(m):
                            out_sum[rows, t] = sub[v, t]
                        out_size[rows] = size[v]
                        rows += 1
    return rows
