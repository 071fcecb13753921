"""Numba kernels: full and delta evaluation of a layout, and the search loops built on them.

Private module. Callers (``gridopt.score.objective`` and ``gridopt.partition``) validate
and convert every array first; kernels never validate, never allocate in hot loops and
write their results into caller-allocated arrays.

Score of a layout (all coefficients are precomputed by the caller)::

    sum_g sum_a  cs[a] * r_ga**2 + ch[a] * max(0, |r_ga| - tau[a])     r_ga = tot_ga * itarget_ga - 1
  + coef[0] * sum_g inertia_g                  (mass-weighted moment of inertia about the centroid)
  + coef[1] * sum_i load_i * |p_i - base_g|   (travel to the grid base)
  + coef[2] * cut length                       (border: length of edges between grids)
  + coef[3] * sum_i hh_i [label_i != prev_i]   (stability)
  + coef[4] * (max_g diam_g + mean_g diam_g) / 2   (diameter on the distance matrix D; with
                                                    D empty (0, 0): radius, the largest
                                                    distance from a unit to its grid base)

``itarget`` (n_grids, n_attributes) holds 1 / target (multiplications are cheaper than
divisions in the delta kernels).

State arrays kept by the caller and updated in place by the ``apply_*`` kernels:

- ``tot`` (n_grids, n_attributes): attribute totals per grid.
- ``mom`` (n_grids, 4): mass W, W*x, W*y, W*(x^2 + y^2) per grid.
- ``acc`` (3,): travel sum, cut length, stability weight moved.
- ``diam`` (n_grids,): grid diameters or radii (only when ``coef[4] > 0``).
"""

from __future__ import annotations

import llvmlite.binding as _llvm
import numpy as np
from llvmlite import ir as _ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

# the prefetch intrinsic's name carries the pointer type: typed pointers before LLVM 17
_PREFETCH = "llvm.prefetch.p0" if _llvm.llvm_version_info[0] >= 17 else "llvm.prefetch.p0i8"

# ----------------------------------------------------------------------------- helpers


@intrinsic
def _prefetch(typingctx, arr, i):
    """Hint the CPU to load ``arr[i]`` (row i of a 2-D array) into the caches; no-op result.

    Batch kernels call it a few iterations ahead, so that the cache misses of random unit
    lookups on large layouts overlap with the work on the current move. ``i`` must be a
    valid index (no bounds check, no wraparound).
    """
    sig = types.void(arr, i)

    def codegen(context, builder, signature, args):
        aryty, idxty = signature.args
        ary = context.make_array(aryty)(context, builder, args[0])
        zero = context.get_constant(idxty, 0)
        idx = [args[1]] + [zero] * (aryty.ndim - 1)
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, idx, wraparound=False)
        i8p = _ir.IntType(8).as_pointer()
        i32 = _ir.IntType(32)
        fnty = _ir.FunctionType(_ir.VoidType(), [i8p, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, _PREFETCH)
        # read access, highest locality, data cache
        builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return sig, codegen


@njit(cache=True, nogil=True, inline="always")
def _pen(r, cs, ch, tau):
    ex = abs(r) - tau
    p = cs * r * r
    if ex > 0.0:
        p += ch * ex
    return p


@njit(cache=True, nogil=True, inline="always")
def _inertia(w, sx, sy, sq):
    if w <= 0.0:
        return 0.0
    v = sq - (sx * sx + sy * sy) / w
    if v < 0.0:
        return 0.0
    return v


@njit(cache=True, nogil=True, inline="always")
def _dist(x, y, i, bx, by, g):
    dx = x[i] - bx[g]
    dy = y[i] - by[g]
    return np.sqrt(dx * dx + dy * dy)


@njit(cache=True, nogil=True, inline="always")
def _diam_members(members, n_members, D):
    best = 0.0
    for p in range(n_members):
        u = members[p]
        for q in range(p + 1, n_members):
            d = D[u, members[q]]
            if d > best:
                best = d
    return best


@njit(cache=True, nogil=True, inline="always")
def _next(rng):
    """xorshift64* step on the uint64 (1,) state; returns a float in [0, 1)."""
    v = rng[0]
    v ^= v >> np.uint64(12)
    v ^= v << np.uint64(25)
    v ^= v >> np.uint64(27)
    rng[0] = v
    return float((v * np.uint64(2685821657736338717)) >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(cache=True, nogil=True, inline="always")
def _randint(rng, n):
    return int(_next(rng) * n)


@njit(cache=True, nogil=True, inline="always")
def _ne(a, b):
    return 1.0 if a != b else 0.0


@njit(cache=True, nogil=True, inline="always")
def _collect(labels, g, skip, extra, members):
    """Members of grid g without ``skip`` plus ``extra`` (-1 for none) into ``members``."""
    n_members = 0
    for u in range(labels.shape[0]):
        if labels[u] == g and u != skip:
            members[n_members] = u
            n_members += 1
    if extra >= 0:
        members[n_members] = extra
        n_members += 1
    return n_members


@njit(cache=True, nogil=True, inline="always")
def _diam_after_remove(labels, a, i, D, diam_a, members, x, y, bx, by):
    """Extent of grid a without unit i: diameter on D, or (D empty) radius about a's base."""
    if D.shape[0] == 0:
        if _dist(x, y, i, bx, by, a) < diam_a:
            return diam_a
        best = 0.0
        for u in range(labels.shape[0]):
            if labels[u] == a and u != i:
                d = _dist(x, y, u, bx, by, a)
                if d > best:
                    best = d
        return best
    # i is not an end of a diametral pair: the diameter stays
    ecc = 0.0
    for u in range(labels.shape[0]):
        if labels[u] == a and u != i:
            d = D[i, u]
            if d > ecc:
                ecc = d
    if ecc < diam_a:
        return diam_a
    n_members = _collect(labels, a, i, -1, members)
    return _diam_members(members, n_members, D)


@njit(cache=True, nogil=True, inline="always")
def _diam_after_add(labels, b, i, D, diam_b, x, y, bx, by):
    """Extent of grid b with unit i added (diameter on D, or radius about b's base)."""
    if D.shape[0] == 0:
        d = _dist(x, y, i, bx, by, b)
        return d if d > diam_b else diam_b
    best = diam_b
    for u in range(labels.shape[0]):
        if labels[u] == b:
            d = D[i, u]
            if d > best:
                best = d
    return best


@njit(cache=True, nogil=True, inline="always")
def _extent_members(members, n_members, D, x, y, bx, by, g):
    """Extent of the units ``members`` as grid g (diameter on D, or radius about g's base)."""
    if D.shape[0] == 0:
        best = 0.0
        for p in range(n_members):
            d = _dist(x, y, members[p], bx, by, g)
            if d > best:
                best = d
        return best
    return _diam_members(members, n_members, D)


@njit(cache=True, nogil=True, inline="always")
def _diam_term(diam, a, da, b, db):
    """(max + mean)/2 of the diameters with grids a, b replaced by da, db."""
    k = diam.shape[0]
    mx = 0.0
    s = 0.0
    for g in range(k):
        d = diam[g]
        if g == a:
            d = da
        elif g == b:
            d = db
        s += d
        if d > mx:
            mx = d
    return 0.5 * (mx + s / k)


# ------------------------------------------------------------------------- full score


@njit(cache=True, nogil=True)
def full_eval(
    labels, x, y, w, attrs, load, hh, prev, indptr, indices, elen, bx, by,
    itarget, cs, ch, tau, coef, D, tot, mom, acc, diam, terms,
):  # fmt: skip
    """Evaluate a layout from scratch; fill tot, mom, acc, diam and terms (5,); return total."""
    n = labels.shape[0]
    k = tot.shape[0]
    m = tot.shape[1]
    tot[:, :] = 0.0
    mom[:, :] = 0.0
    acc[:] = 0.0
    travel = 0.0
    cut = 0.0
    stab = 0.0
    do_travel = coef[1] != 0.0
    for i in range(n):
        g = labels[i]
        for t in range(m):
            tot[g, t] += attrs[i, t]
        wi = w[i]
        xi = x[i]
        yi = y[i]
        mom[g, 0] += wi
        mom[g, 1] += wi * xi
        mom[g, 2] += wi * yi
        mom[g, 3] += wi * (xi * xi + yi * yi)
        if do_travel:
            travel += load[i] * _dist(x, y, i, bx, by, g)
        if g != prev[i]:
            stab += hh[i]
        for e in range(indptr[i], indptr[i + 1]):
            j = indices[e]
            if j > i and labels[j] != g:
                cut += elen[e]
    bal = 0.0
    inert = 0.0
    for g in range(k):
        for t in range(m):
            bal += _pen(tot[g, t] * itarget[g, t] - 1.0, cs[t], ch[t], tau[t])
        inert += _inertia(mom[g, 0], mom[g, 1], mom[g, 2], mom[g, 3])
    dterm = 0.0
    if coef[4] != 0.0:
        diam[:] = 0.0
        if D.shape[0] == 0:  # radius: farthest unit from the grid's base
            for i in range(n):
                gi = labels[i]
                d = _dist(x, y, i, bx, by, gi)
                if d > diam[gi]:
                    diam[gi] = d
        else:
            for i in range(n):
                gi = labels[i]
                for j in range(i + 1, n):
                    if labels[j] == gi:
                        d = D[i, j]
                        if d > diam[gi]:
                            diam[gi] = d
        dterm = _diam_term(diam, -1, 0.0, -1, 0.0)
    acc[0] = travel
    acc[1] = cut
    acc[2] = stab
    terms[0] = bal
    terms[1] = coef[0] * inert
    terms[2] = coef[1] * travel
    terms[3] = coef[2] * cut
    terms[4] = coef[3] * stab + coef[4] * dterm
    return terms[0] + terms[1] + terms[2] + terms[3] + terms[4]


# ------------------------------------------------------------------------------ moves


@njit(cache=True, nogil=True, inline="always")
def delta_move(
    i, b, labels, x, y, w, attrs, load, hh, prev, indptr, indices, elen, bx, by,
    itarget, cs, ch, tau, coef, D, tot, mom, diam, members,
):  # fmt: skip
    """Score change if unit i moves from its grid to grid b (state is not changed)."""
    a = labels[i]
    if a == b:
        return 0.0
    m = tot.shape[1]
    d = 0.0
    for t in range(m):
        v = attrs[i, t]
        ta = itarget[a, t]
        tb = itarget[b, t]
        d += _pen((tot[a, t] - v) * ta - 1.0, cs[t], ch[t], tau[t])
        d -= _pen(tot[a, t] * ta - 1.0, cs[t], ch[t], tau[t])
        d += _pen((tot[b, t] + v) * tb - 1.0, cs[t], ch[t], tau[t])
        d -= _pen(tot[b, t] * tb - 1.0, cs[t], ch[t], tau[t])
    if coef[0] != 0.0:
        wi = w[i]
        wx = wi * x[i]
        wy = wi * y[i]
        wq = wi * (x[i] * x[i] + y[i] * y[i])
        d += coef[0] * (
            _inertia(mom[a, 0] - wi, mom[a, 1] - wx, mom[a, 2] - wy, mom[a, 3] - wq)
            - _inertia(mom[a, 0], mom[a, 1], mom[a, 2], mom[a, 3])
            + _inertia(mom[b, 0] + wi, mom[b, 1] + wx, mom[b, 2] + wy, mom[b, 3] + wq)
            - _inertia(mom[b, 0], mom[b, 1], mom[b, 2], mom[b, 3])
        )
    if coef[1] != 0.0:
        d += coef[1] * load[i] * (_dist(x, y, i, bx, by, b) - _dist(x, y, i, bx, by, a))
    if coef[2] != 0.0:
        c = 0.0
        for e in range(indptr[i], indptr[i + 1]):
            lj = labels[indices[e]]
            if lj == a:
                c += elen[e]
            elif lj == b:
                c -= elen[e]
        d += coef[2] * c
    if coef[3] != 0.0:
        p = prev[i]
        d += coef[3] * hh[i] * (_ne(b, p) - _ne(a, p))
    if coef[4] != 0.0:
        da = _diam_after_remove(labels, a, i, D, diam[a], members, x, y, bx, by)
        db = _diam_after_add(labels, b, i, D, diam[b], x, y, bx, by)
        d += coef[4] * (_diam_term(diam, a, da, b, db) - _diam_term(diam, -1, 0.0, -1, 0.0))
    return d


@njit(cache=True, nogil=True, inline="always")
def apply_move(
    i, b, labels, x, y, w, attrs, load, hh, prev, indptr, indices, elen, bx, by,
    coef, D, tot, mom, acc, diam, members,
):  # fmt: skip
    """Move unit i to grid b, updating labels and the state in place."""
    a = labels[i]
    if a == b:
        return
    m = tot.shape[1]
    for t in range(m):
        v = attrs[i, t]
        tot[a, t] -= v
        tot[b, t] += v
    wi = w[i]
    wx = wi * x[i]
    wy = wi * y[i]
    wq = wi * (x[i] * x[i] + y[i] * y[i])
    mom[a, 0] -= wi
    mom[a, 1] -= wx
    mom[a, 2] -= wy
    mom[a, 3] -= wq
    mom[b, 0] += wi
    mom[b, 1] += wx
    mom[b, 2] += wy
    mom[b, 3] += wq
    if coef[1] != 0.0:
        acc[0] += load[i] * (_dist(x, y, i, bx, by, b) - _dist(x, y, i, bx, by, a))
    c = 0.0
    for e in range(indptr[i], indptr[i + 1]):
        lj = labels[indices[e]]
        if lj == a:
            c += elen[e]
        elif lj == b:
            c -= elen[e]
    acc[1] += c
    p = prev[i]
    acc[2] += hh[i] * (_ne(b, p) - _ne(a, p))
    if coef[4] != 0.0:
        da = _diam_after_remove(labels, a, i, D, diam[a], members, x, y, bx, by)
        db = _diam_after_add(labels, b, i, D, diam[b], x, y, bx, by)
        diam[a] = da
        diam[b] = db
    labels[i] = b


@njit(cache=True, nogil=True, inline="always")
def delta_swap(
    i, j, labels, x, y, w, attrs, load, hh, prev, indptr, indices, elen, bx, by,
    itarget, cs, ch, tau, coef, D, tot, mom, diam, members,
):  # fmt: skip
    """Score change if unit i (grid a) and unit j (grid b) exchange grids."""
    a = labels[i]
    b = labels[j]
    if a == b:
        return 0.0
    m = tot.shape[1]
    d = 0.0
    for t in range(m):
        v = attrs[j, t] - attrs[i, t]
        ta = itarget[a, t]
        tb = itarget[b, t]
        d += _pen((tot[a, t] + v) * ta - 1.0, cs[t], ch[t], tau[t])
        d -= _pen(tot[a, t] * ta - 1.0, cs[t], ch[t], tau[t])
        d += _pen((tot[b, t] - v) * tb - 1.0, cs[t], ch[t], tau[t])
        d -= _pen(tot[b, t] * tb - 1.0, cs[t], ch[t], tau[t])
    if coef[0] != 0.0:
        dw = w[j] - w[i]
        dx = w[j] * x[j] - w[i] * x[i]
        dy = w[j] * y[j] - w[i] * y[i]
        dq = w[j] * (x[j] * x[j] + y[j] * y[j]) - w[i] * (x[i] * x[i] + y[i] * y[i])
        d += coef[0] * (
            _inertia(mom[a, 0] + dw, mom[a, 1] + dx, mom[a, 2] + dy, mom[a, 3] + dq)
            - _inertia(mom[a, 0], mom[a, 1], mom[a, 2], mom[a, 3])
            + _inertia(mom[b, 0] - dw, mom[b, 1] - dx, mom[b, 2] - dy, mom[b, 3] - dq)
            - _inertia(mom[b, 0], mom[b, 1], mom[b, 2], mom[b, 3])
        )
    if coef[1] != 0.0:
        d += coef[1] * (
            load[i] * (_dist(x, y, i, bx, by, b) - _dist(x, y, i, bx, by, a))
            + load[j] * (_dist(x, y, j, bx, by, a) - _dist(x, y, j, bx, by, b))
        )
    if coef[2] != 0.0:
        c = 0.0
        for e in range(indptr[i], indptr[i + 1]):
            u = indices[e]
            if u == j:
                continue
            lu = labels[u]
            if lu == a:
                c += elen[e]
            elif lu == b:
                c -= elen[e]
        for e in range(indptr[j], indptr[j + 1]):
            u = indices[e]
            if u == i:
                continue
            lu = labels[u]
            if lu == b:
                c += elen[e]
            elif lu == a:
                c -= elen[e]
        d += coef[2] * c
    if coef[3] != 0.0:
        pi = prev[i]
        pj = prev[j]
        d += coef[3] * (hh[i] * (_ne(b, pi) - _ne(a, pi)) + hh[j] * (_ne(a, pj) - _ne(b, pj)))
    if coef[4] != 0.0:
        na = _collect(labels, a, i, j, members)
        da = _extent_members(members, na, D, x, y, bx, by, a)
        nb = _collect(labels, b, j, i, members)
        db = _extent_members(members, nb, D, x, y, bx, by, b)
        d += coef[4] * (_diam_term(diam, a, da, b, db) - _diam_term(diam, -1, 0.0, -1, 0.0))
    return d


_AHEAD = 24  # prefetch distance of the batch kernels, in moves


@njit(cache=True, nogil=True)
def delta_moves_batch(
    units, to_grid, labels, x, y, w, attrs, load, hh, prev, indptr, indices, elen, bx, by,
    itarget, cs, ch, tau, coef, D, tot, mom, diam, members, out,
):  # fmt: skip
    """Delta of each candidate move (units[q] -> to_grid[q]) into ``out``; state unchanged.

    The body of :func:`delta_move` is repeated here on purpose: Numba's inliner keeps
    reference-count operations on the 25 array arguments in every iteration, which
    costs more than the evaluation itself.

    On layouts larger than the caches each move's data sits in a random place in memory,
    so the loop prefetches in three stages: the unit arrays of move q + 24, the edge
    arrays of move q + 12 (their offsets are cached by then) and the neighbours' labels
    of move q + 6.
    """
    n_q = units.shape[0]
    for q in range(n_q):
        if q + _AHEAD < n_q:
            u = units[q + _AHEAD]
            _prefetch(labels, u)
            _prefetch(indptr, u)
            _prefetch(attrs, u)
            _prefetch(x, u)
            _prefetch(y, u)
            _prefetch(w, u)
        if q + _AHEAD // 2 < n_q:
            u = units[q + _AHEAD // 2]
            if indptr[u + 1] > indptr[u]:
                _prefetch(indices, indptr[u])
                _prefetch(elen, indptr[u])
        if q + _AHEAD // 4 < n_q:
            u = units[q + _AHEAD // 4]
            for e in range(indptr[u], indptr[u + 1]):
                _prefetch(labels, indices[e])
        i = units[q]
        b = to_grid[q]
        a = labels[i]
        if a == b:
            out[q] = 0.0
            continue
        m = tot.shape[1]
        d = 0.0
        for t in range(m):
            v = attrs[i, t]
            ta = itarget[a, t]
            tb = itarget[b, t]
            d += _pen((tot[a, t] - v) * ta - 1.0, cs[t], ch[t], tau[t])
            d -= _pen(tot[a, t] * ta - 1.0, cs[t], ch[t], tau[t])
            d += _pen((tot[b, t] + v) * tb - 1.0, cs[t], ch[t], tau[t])
            d -= _pen(tot[b, t] * tb - 1.0, cs[t], ch[t], tau[t])
        if coef[0] != 0.0:
            wi = w[i]
            wx = wi * x[i]
            wy = wi * y[i]
            wq = wi * (x[i] * x[i] + y[i] * y[i])
            d += coef[0] * (
                _inertia(mom[a, 0] - wi, mom[a, 1] - wx, mom[a, 2] - wy, mom[a, 3] - wq)
                - _inertia(mom[a, 0], mom[a, 1], mom[a, 2], mom[a, 3])
                + _inertia(mom[b, 0] + wi, mom[b, 1] + wx, mom[b, 2] + wy, mom[b, 3] + wq)
                - _inertia(mom[b, 0], mom[b, 1], mom[b, 2], mom[b, 3])
            )
        if coef[1] != 0.0:
            d += coef[1] * load[i] * (_dist(x, y, i, bx, by, b) - _dist(x, y, i, bx, by, a))
        if coef[2] != 0.0:
            c = 0.0
            for e in range(indptr[i], indptr[i + 1]):
                lj = labels[indices[e]]
                if lj == a:
                    c += elen[e]
                elif lj == b:
                    c -= elen[e]
            d += coef[2] * c
        if coef[3] != 0.0:
            p = prev[i]
            d += coef[3] * hh[i] * (_ne(b, p) - _ne(a, p))
        if coef[4] != 0.0:
            da = _diam_after_remove(labels, a, i, D, diam[a], members, x, y, bx, by)
            db = _diam_after_add(labels, b, i, D, diam[b], x, y, bx, by)
            d += coef[4] * (_diam_term(diam, a, da, b, db) - _diam_term(diam, -1, 0.0, -1, 0.0))
        out[q] = d


# ------------------------------------------------------------------------ border list


@njit(cache=True, nogil=True)
def border_build(labels, indptr, indices, frozen, nfor, bpos, blist):
    """List the movable border units; returns their number.

    ``nfor`` (n,) int64 receives each unit's count of edges to other grids; ``blist``
    holds the units with ``nfor > 0`` that are not frozen, in unit order, and ``bpos``
    each unit's position there (-1 when absent).
    """
    bc = 0
    for u in range(labels.shape[0]):
        a = labels[u]
        c = 0
        for e in range(indptr[u], indptr[u + 1]):
            if labels[indices[e]] != a:
                c += 1
        nfor[u] = c
        if c > 0 and frozen[u] == 0:
            bpos[u] = bc
            blist[bc] = u
            bc += 1
        else:
            bpos[u] = -1
    return bc


@njit(cache=True, nogil=True, inline="always")
def _border_set(u, on, frozen, bpos, blist, bc):
    """Add (``on``) or drop unit u in the border list; returns the new length."""
    if on:
        if bpos[u] < 0 and frozen[u] == 0:
            bpos[u] = bc
            blist[bc] = u
            bc += 1
    elif bpos[u] >= 0:
        last = blist[bc - 1]
        p = bpos[u]
        blist[p] = last
        bpos[last] = p
        bpos[u] = -1
        bc -= 1
    return bc


@njit(cache=True, nogil=True, inline="always")
def _border_moved(u, a, b, labels, indptr, indices, frozen, nfor, bpos, blist, bc):
    """Update the border list after unit u moved from grid a to grid b (labels already
    updated); returns the new length. O(degree)."""
    c = 0
    for e in range(indptr[u], indptr[u + 1]):
        v = indices[e]
        lv = labels[v]
        if lv != b:
            c += 1
        if lv == a:  # (Units refuse self loops: v is never u)
            nfor[v] += 1
            bc = _border_set(v, True, frozen, bpos, blist, bc)
        elif lv == b:
            nfor[v] -= 1
            if nfor[v] == 0:
                bc = _border_set(v, False, frozen, bpos, blist, bc)
    nfor[u] = c
    return _border_set(u, c > 0, frozen, bpos, blist, bc)


# ------------------------------------------------------------------------ contiguity


@njit(cache=True, nogil=True, inline="always")
def can_remove(i, labels, indptr, indices, stamp, mark, queue, limit):
    """True if grid labels[i] stays connected without unit i (bounded BFS; conservative).

    ``stamp`` is an int64 (1,) counter, ``mark`` an int64 (n,) scratch of visit stamps.
    Returns False when the search visits more than ``limit`` units without proof.
    """
    a = labels[i]
    first = -1
    n_need = 0
    for e in range(indptr[i], indptr[i + 1]):
        u = indices[e]
        if labels[u] == a:
            if first < 0:
                first = u
            n_need += 1
    if n_need <= 1:
        return True
    stamp[0] += 1
    s = stamp[0]
    # targets carry stamp -s until found
    for e in range(indptr[i], indptr[i + 1]):
        u = indices[e]
        if labels[u] == a:
            mark[u] = -s
    mark[i] = s
    mark[first] = s
    found = 1
    head = 0
    tail = 0
    queue[tail] = first
    tail += 1
    while head < tail:
        u = queue[head]
        head += 1
        for e in range(indptr[u], indptr[u + 1]):
            v = indices[e]
            if labels[v] != a:
                continue
            mv = mark[v]
            if mv == s:
                continue
            if mv == -s:
                found += 1
                if found == n_need:
                    return True
            mark[v] = s
            if tail >= limit:
                return False
            queue[tail] = v
            tail += 1
    return False


@njit(cache=True, nogil=True)
def fill_unassigned(labels, indptr, indices, queue):
    """Give every unit with label -1 the label of a labelled neighbour (multi-source BFS).

    Returns the number of units still unlabelled (those with no labelled unit in reach).
    """
    n = labels.shape[0]
    tail = 0
    for i in range(n):
        if labels[i] >= 0:
            queue[tail] = i
            tail += 1
    head = 0
    while head < tail:
        u = queue[head]
        head += 1
        lu = labels[u]
        for e in range(indptr[u], indptr[u + 1]):
            v = indices[e]
            if labels[v] < 0:
                labels[v] = lu
                queue[tail] = v
                tail += 1
    left = 0
    for i in range(n):
        if labels[i] < 0:
            left += 1
    return left


# ------------------------------------------------------------------- region growing


@njit(cache=True, nogil=True, inline="always")
def _heap_push(hk, hv, size, key, val):
    p = size
    hk[p] = key
    hv[p] = val
    while p > 0:
        q = (p - 1) >> 1
        if hk[q] <= hk[p]:
            break
        tk = hk[q]
        hk[q] = hk[p]
        hk[p] = tk
        tv = hv[q]
        hv[q] = hv[p]
        hv[p] = tv
        p = q
    return size + 1


@njit(cache=True, nogil=True, inline="always")
def _heap_pop(hk, hv, size):
    size -= 1
    hk[0] = hk[size]
    hv[0] = hv[size]
    p = 0
    while True:
        c = 2 * p + 1
        if c >= size:
            break
        if c + 1 < size and hk[c + 1] < hk[c]:
            c += 1
        if hk[p] <= hk[c]:
            break
        tk = hk[c]
        hk[c] = hk[p]
        hk[p] = tk
        tv = hv[c]
        hv[c] = hv[p]
        hv[p] = tv
        p = c
    return size


@njit(cache=True, nogil=True)
def grow_regions(indptr, indices, ew, sources, source_grid, offset, labels, dist, hk, hv):
    """Multi-source Dijkstra: each unit joins the grid whose source is nearest plus offset.

    Every grid is connected (a unit's predecessor on its shortest path is in its grid).
    ``sources``/``source_grid`` (n_sources,) give start units and their grids; ``offset``
    (n_grids,) is added to a grid's distances. ``hk``/``hv`` are heap scratch of size
    >= n_edges_directed + n_sources. Unreached units keep label -1.
    """
    n = labels.shape[0]
    for i in range(n):
        labels[i] = -1
        dist[i] = np.inf
    size = 0
    for s in range(sources.shape[0]):
        u = sources[s]
        g = source_grid[s]
        key = offset[g]
        if key < dist[u]:
            dist[u] = key
            size = _heap_push(hk, hv, size, key, s)
    # hv holds a source index for the first pushes; afterwards unit * 1 with label in dist
    # order: we store unit ids and keep the tentative grid in labels_tmp via a trick:
    # the heap value encodes unit * n_grids + grid.
    k = offset.shape[0]
    for p in range(size):
        s = hv[p]
        hv[p] = sources[s] * k + source_grid[s]
    while size > 0:
        key = hk[0]
        code = hv[0]
        size = _heap_pop(hk, hv, size)
        u = code // k
        g = code - u * k
        if labels[u] >= 0:
            continue
        labels[u] = g
        for e in range(indptr[u], indptr[u + 1]):
            v = indices[e]
            if labels[v] >= 0:
                continue
            nd = key + ew[e]
            if nd < dist[v]:
                dist[v] = nd
                size = _heap_push(hk, hv, size, nd, v * k + g)


@njit(cache=True, nogil=True, inline="always")
def cut_pieces(i, labels, indptr, indices, stamp, mark, queue, limit):
    """Units cut off from the rest of grid labels[i] when unit i leaves it.

    Explores, within the grid and without i, the piece of each grid neighbour of i.
    Pieces of at most ``limit`` units are collected into ``queue[:count]`` (breadth-first,
    so each unit touches i or an earlier one); exactly one larger piece may remain (the
    grid's main part). Returns the count, or -1 when two pieces are larger than
    ``limit`` (the move would split the grid).
    """
    a = labels[i]
    stamp[0] += 1
    s = stamp[0]
    mark[i] = s
    tail = 0
    n_big = 0
    for e in range(indptr[i], indptr[i + 1]):
        u = indices[e]
        if labels[u] != a or mark[u] == s:
            continue
        start = tail
        mark[u] = s
        queue[tail] = u
        tail += 1
        head = start
        big = False
        while head < tail and not big:
            v = queue[head]
            head += 1
            for f in range(indptr[v], indptr[v + 1]):
                z = indices[f]
                if labels[z] != a or z == i:
                    continue
                if mark[z] == s:
                    # a marked unit outside this piece belongs to the big piece
                    found_here = False
                    for q in range(start, tail):
                        if queue[q] == z:
                            found_here = True
                            break
                    if not found_here:
                        big = True
                        break
                    continue
                mark[z] = s
                queue[tail] = z
                tail += 1
                if tail - start > limit:
                    big = True
                    break
        if big:
            n_big += 1
            tail = start
            if n_big > 1:
                return -1
    return tail


# ------------------------------------------------------------------ simulated annealing


@njit(cache=True, nogil=True)
def anneal(
    labels, x, y, w, attrs, load, hh, prev, indptr, indices, elen, bx, by,
    itarget, cs, ch, tau, coef, D, tot, mom, acc, diam, members,
    frozen, sizes, contiguous, bfs_limit, group_limit, n_iter, t_start, t_end, p_swap, rng,
    stamp, mark, queue, stats, nfor, bpos, blist,
):  # fmt: skip
    """Simulated annealing over border moves and swaps; returns the total score change.

    ``frozen`` (n,) uint8 marks units that may not change grid (locked units, fixed bases).
    ``sizes`` (n_grids,) int64 unit counts, kept up to date. ``stats`` (4,) int64 receives
    proposals, accepted, rejected for contiguity, improving moves. A unit whose removal
    would split its grid moves together with the pieces (at most ``group_limit`` units
    each) that hang on it.

    A proposal is a random unit and a random neighbour's grid. ``n_iter`` counts draws of
    a unit among all n, but only the movable border units (``border_build`` into the
    scratch arrays ``nfor``, ``bpos``, ``blist``, kept up to date after every move) can
    give a proposal: the kernel draws n_iter * border / n units from the border list
    alone, the same chain without the draws that cannot move anything (on 1,000,000 units
    in 2,000 grids about 19 draws in 20).
    """
    n = labels.shape[0]
    total = 0.0
    if n_iter <= 0:
        return 0.0
    bc = border_build(labels, indptr, indices, frozen, nfor, bpos, blist)
    n_draw = (n_iter * bc + n // 2) // n
    if n_draw <= 0:
        return 0.0
    temp = t_start
    step = (t_end / t_start) ** (1.0 / n_draw)
    for it in range(n_draw):
        if it > 0:
            temp *= step
        if bc == 0:
            break
        i = blist[_randint(rng, bc)]
        deg = indptr[i + 1] - indptr[i]
        j = indices[indptr[i] + _randint(rng, deg)]
        a = labels[i]
        b = labels[j]
        if a == b:  # (the border list holds no frozen unit)
            continue
        stats[0] += 1
        if p_swap > 0.0 and _next(rng) < p_swap:
            # partner: a short random walk inside grid b from the neighbour j, so that
            # swaps also exchange units that are not adjacent
            n_steps = _randint(rng, 4)
            for _s in range(n_steps):
                dj = indptr[j + 1] - indptr[j]
                k = indices[indptr[j] + _randint(rng, dj)]
                if labels[k] == b:
                    j = k
            if frozen[j] != 0 or sizes[b] <= 1:
                continue
            d = delta_swap(
                i, j, labels, x, y, w, attrs, load, hh, prev, indptr, indices, elen, bx, by,
                itarget, cs, ch, tau, coef, D, tot, mom, diam, members,
            )  # fmt: skip
            if d > 0.0 and _next(rng) >= np.exp(-d / temp):
                continue
            if contiguous:
                # sufficient condition: both grids stay connected without the unit they
                # lose, and each unit touches its new grid away from the other
                ok_i = False
                for e in range(indptr[i], indptr[i + 1]):
                    u = indices[e]
                    if u != j and labels[u] == b:
                        ok_i = True
                        break
                ok_j = False
                for e in range(indptr[j], indptr[j + 1]):
                    u = indices[e]
                    if u != i and labels[u] == a:
                        ok_j = True
                        break
                if not (ok_i and ok_j):
                    stats[2] += 1
                    continue
                if not can_remove(i, labels, indptr, indices, stamp, mark, queue, bfs_limit):
                    stats[2] += 1
                    continue
                if not can_remove(j, labels, indptr, indices, stamp, mark, queue, bfs_limit):
                    stats[2] += 1
                    continue
            apply_move(
                i, b, labels, x, y, w, attrs, load, hh, prev, indptr, indices, elen, bx, by,
                coef, D, tot, mom, acc, diam, members,
            )  # fmt: skip
            bc = _border_moved(i, a, b, labels, indptr, indices, frozen, nfor, bpos, blist, bc)
            apply_move(
                j, a, labels, x, y, w, attrs, load, hh, prev, indptr, indices, elen, bx, by,
                coef, D, tot, mom, acc, diam, members,
            )  # fmt: skip
            bc = _border_moved(j, b, a, labels, indptr, indices, frozen, nfor, bpos, blist, bc)
            total += d
            stats[1] += 1
            if d < 0.0:
                stats[3] += 1
            continue
        if sizes[a] <= 1:
            continue
        if contiguous and not can_remove(i, labels, indptr, indices, stamp, mark, queue, bfs_limit):
            if group_limit <= 0:
                stats[2] += 1
                continue
            # move i together with the small pieces of its grid that hang on it
            n_group = cut_pieces(i, labels, indptr, indices, stamp, mark, queue, group_limit)
            if n_group < 0 or n_group + 1 >= sizes[a]:
                stats[2] += 1
                continue
            blocked = False
            for q in range(n_group):
                if frozen[queue[q]] != 0:
                    blocked = True
                    break
            if blocked:
                stats[2] += 1
                continue
            d = 0.0
            for q in range(-1, n_group):
                u = i if q < 0 else queue[q]
                d += delta_move(
                    u, b, labels, x, y, w, attrs, load, hh, prev, indptr, indices, elen,
                    bx, by, itarget, cs, ch, tau, coef, D, tot, mom, diam, members,
                )  # fmt: skip
                apply_move(
                    u, b, labels, x, y, w, attrs, load, hh, prev, indptr, indices, elen,
                    bx, by, coef, D, tot, mom, acc, diam, members,
                )  # fmt: skip
                bc = _border_moved(u, a, b, labels, indptr, indices, frozen, nfor, bpos, blist, bc)
            if d > 0.0 and _next(rng) >= np.exp(-d / temp):
                for q in range(n_group - 1, -2, -1):
                    u = i if q < 0 else queue[q]
                    apply_move(
                        u, a, labels, x, y, w, attrs, load, hh, prev, indptr, indices, elen,
                        bx, by, coef, D, tot, mom, acc, diam, members,
                    )  # fmt: skip
                    bc = _border_moved(
                        u, b, a, labels, indptr, indices, frozen, nfor, bpos, blist, bc
                    )
                continue
            sizes[a] -= n_group + 1
            sizes[b] += n_group + 1
            total += d
            stats[1] += 1
            if d < 0.0:
                stats[3] += 1
            continue
        # delta_move, repeated inline (see delta_moves_batch)
        m = tot.shape[1]
        d = 0.0
        for t in range(m):
            v = attrs[i, t]
            ta = itarget[a, t]
            tb = itarget[b, t]
            d += _pen((tot[a, t] - v) * ta - 1.0, cs[t], ch[t], tau[t])
            d -= _pen(tot[a, t] * ta - 1.0, cs[t], ch[t], tau[t])
            d += _pen((tot[b, t] + v) * tb - 1.0, cs[t], ch[t], tau[t])
            d -= _pen(tot[b, t] * tb - 1.0, cs[t], ch[t], tau[t])
        if coef[0] != 0.0:
            wi = w[i]
            wx = wi * x[i]
            wy = wi * y[i]
            wq = wi * (x[i] * x[i] + y[i] * y[i])
            d += coef[0] * (
                _inertia(mom[a, 0] - wi, mom[a, 1] - wx, mom[a, 2] - wy, mom[a, 3] - wq)
                - _inertia(mom[a, 0], mom[a, 1], mom[a, 2], mom[a, 3])
                + _inertia(mom[b, 0] + wi, mom[b, 1] + wx, mom[b, 2] + wy, mom[b, 3] + wq)
                - _inertia(mom[b, 0], mom[b, 1], mom[b, 2], mom[b, 3])
            )
        if coef[1] != 0.0:
            d += coef[1] * load[i] * (_dist(x, y, i, bx, by, b) - _dist(x, y, i, bx, by, a))
        if coef[2] != 0.0:
            c = 0.0
            for e in range(indptr[i], indptr[i + 1]):
                lj = labels[indices[e]]
                if lj == a:
                    c += elen[e]
                elif lj == b:
                    c -= elen[e]
            d += coef[2] * c
        if coef[3] != 0.0:
            p = prev[i]
            d += coef[3] * hh[i] * (_ne(b, p) - _ne(a, p))
        if coef[4] != 0.0:
            da = _diam_after_remove(labels, a, i, D, diam[a], members, x, y, bx, by)
            db = _diam_after_add(labels, b, i, D, diam[b], x, y, bx, by)
            d += coef[4] * (_diam_term(diam, a, da, b, db) - _diam_term(diam, -1, 0.0, -1, 0.0))
        if d > 0.0 and _next(rng) >= np.exp(-d / temp):
            continue
        apply_move(
            i, b, labels, x, y, w, attrs, load, hh, prev, indptr, indices, elen, bx, by,
            coef, D, tot, mom, acc, diam, members,
        )  # fmt: skip
        bc = _border_moved(i, a, b, labels, indptr, indices, frozen, nfor, bpos, blist, bc)
        sizes[a] -= 1
        sizes[b] += 1
        total += d
        stats[1] += 1
        if d < 0.0:
            stats[3] += 1
    return total


@njit(cache=True, nogil=True)
def relabel(
    units, new_grid, labels, x, y, w, attrs, load, hh, prev, indptr, indices, elen, bx, by,
    itarget, cs, ch, tau, coef, D, tot, mom, acc, diam, members, sizes,
):  # fmt: skip
    """Move units[q] to new_grid[q] one after another, in place; returns the score change."""
    total = 0.0
    for q in range(units.shape[0]):
        i = units[q]
        b = new_grid[q]
        a = labels[i]
        if a == b:
            continue
        total += delta_move(
            i, b, labels, x, y, w, attrs, load, hh, prev, indptr, indices, elen, bx, by,
            itarget, cs, ch, tau, coef, D, tot, mom, diam, members,
        )  # fmt: skip
        apply_move(
            i, b, labels, x, y, w, attrs, load, hh, prev, indptr, indices, elen, bx, by,
            coef, D, tot, mom, acc, diam, members,
        )  # fmt: skip
        sizes[a] -= 1
        sizes[b] += 1
    return total
