"""Numba event loops of the simulator (private).

Two kernels share one design: an array-based binary heap keyed by ``(time, seq)`` (``seq``
is an increasing counter, so ties break deterministically in scheduling order),
structure-of-arrays state allocated once per replication, no allocation per event, and
one xoshiro256** generator per purpose and replication, seeded from
:class:`numpy.random.SeedSequence` in Python. Replications run under ``prange``; each
writes only its own row of the caller-allocated ``out`` arrays, so results do not depend
on the number of threads.

* :func:`mmc_run`: the plain M/M/c queue (arrival and departure events) used for the
  Erlang C validation and the speed targets.
* :func:`field_run`: the field-service model (grids, staff shifts and breaks, desk /
  grid-direct / hybrid dispatch, travel, repairs with revisits, outage bursts, sales at
  visits, three campaign waves with door visits competing for field hours).

Nothing here validates: :mod:`gridopt.sim.config` does that once.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

# ------------------------------------------------------------------ random streams
S_ARRIVAL = 0  # arrival times, grid, type, segment
S_SERVICE = 1  # repair durations, visits needed, desk delays
S_TRAVEL = 2  # travel-time noise, one draw per job
S_SALE = 3  # sale chance at the first visit, one draw per job
S_OUTAGE = 4  # outage bursts
S_CAMPAIGN = 5  # targets, waves 1-2, door outcomes
S_REVISIT = 6  # durations / travel / sales of revisits (order depends on the policy)
S_DOOR = 7  # door-visit durations and travel
S_DESK = 8  # dispatch-desk delays (central policy only)
N_STREAMS = 9

# ------------------------------------------------------------------ M/M/c outputs
M_N = 0  # customers arrived in [warmup, horizon)
M_WAIT_SUM = 1
M_WAIT_SQ = 2
M_WAIT_POS = 3  # customers who waited > 0
M_WITHIN = 4  # wait <= target
M_SOJOURN_SUM = 5
M_L_INT = 6  # integral of the number in system over [warmup, horizon]
M_EVENTS = 7
M_OVERFLOW = 8  # time the queue buffer overflowed, -1 if never
M_BUSY_INT = 9  # integral of busy servers over [warmup, horizon]
N_MKPI = 10

# ------------------------------------------------------------------ field outputs
K_ARRIVALS = 0  # tickets (not door visits) arrived in [warmup, horizon)
K_ONSITE_N = 1
K_ONSITE_SUM = 2
K_FIX_N = 3
K_FIX_SUM = 4
K_SLA_HIT = 5
K_WAIT_N = 6
K_WAIT_SUM = 7
K_WAIT_POS = 8
K_WITHIN = 9
K_VISITS = 10
K_REVISITS = 11
K_BACKLOG_INT = 12
K_BACKLOG_MID = 13
K_BACKLOG_END = 14
K_T_TRAVEL = 15
K_T_REPAIR = 16
K_T_DOOR = 17
K_T_BREAK = 18
K_T_ONSHIFT = 19
K_T_OVERTIME = 20
K_SALES_REPAIR = 21
K_SALES_INSTALL = 22
K_SALES_DOOR = 23
K_SALES_W1 = 24
K_SALES_W2 = 25
K_TREATED_N = 26
K_TREATED_CONV = 27
K_HOLD_N = 28
K_HOLD_CONV = 29
K_OVERFLOW = 30
K_EVENTS = 31
K_OUTAGE_N = 32
K_OUTAGE_SUM = 33
K_HELPED = 34
K_DOOR_VISITS = 35
K_UNFINISHED = 36  # jobs of the horizon still open when the drain ended
K_BUSY_INT = 37  # integral of staff busy (travel + on site) over [warmup, horizon]
N_KPI = 38

# ------------------------------------------------------------------ parameter vector
P_HORIZON = 0
P_WARMUP = 1
P_DRAIN = 2
P_DIST = 3  # 0 lognormal, 1 gamma, 2 exponential
P_REP_MEAN = 4
P_REP_CV = 5
P_INS_MEAN = 6
P_INS_CV = 7
P_INSTALL_SHARE = 8
P_FIX = 9
P_REVISIT_DELAY = 10
P_DESK = 11
P_POLICY = 12  # 0 central, 1 grid, 2 hybrid
P_HELP_THR = 13
P_TRAVEL_CV = 14
P_TRAVEL_OTHER = 15
P_SLA = 16
P_TARGET = 17
P_OUT_RATE = 18  # bursts per minute
P_OUT_SIZE = 19  # mean tickets per burst
P_OUT_SPREAD = 20  # minutes over which a burst's tickets arrive
P_SALE_INSTALL = 21
P_SALE_REPAIR = 22
P_SALE_DECAY = 23  # minutes
P_SALE_DOOR = 24
P_HBIN = 25
P_FBIN = 26
P_C_START = 27  # day of wave 1
P_C_ORGANIC = 28
P_C_HOLDOUT = 29
P_W1_REACH = 30
P_W1_RESP = 31
P_W1_CONV = 32
P_W2_DAY = 33
P_W2_DAYS = 34
P_W2_CAP = 35  # calls per day
P_W2_ATTEMPTS = 36
P_W2_RPC = 37
P_W2_RESP = 38
P_W2_CONV = 39
P_W2_HESITANT = 40
P_W2_SECOND = 41
P_W2_ABANDON = 42
P_W3_DAY = 43
P_W3_DAYS = 44
P_W3_CAP = 45  # door visits per grid per day
P_W3_DUR = 46
P_W3_REACH = 47
P_W3_RESP = 48
P_W3_CONV = 49
P_FATIGUE = 50
P_N_TARGETS = 51
P_JOB_CAP = 52
N_PARAM = 53

# funnel stages
F_TARGETED = 0
F_REACHED = 1
F_RESPONDED = 2
F_VISITED = 3
F_CONVERTED = 4

# event kinds (heap and records)
EV_ARRIVAL = 0
EV_DISPATCH = 1
EV_ESCALATE = 2
EV_TRAVEL_END = 3
EV_JOB_END = 4
EV_BREAK_END = 5
EV_BURST = 6
EV_SHIFT_START = 7
EV_SHIFT_END = 8
EV_BREAK_START = 9
EV_ASSIGN = 10
EV_SALE = 11
EV_NAMES = (
    "arrival",
    "dispatch",
    "escalate",
    "on_site",
    "job_end",
    "break_end",
    "outage_burst",
    "shift_start",
    "shift_end",
    "break_start",
    "assign",
    "sale",
)
N_EVCOLS = 7  # time, kind, ticket, staff, grid, priority, value

# job types
J_REPAIR = 0
J_INSTALL = 1
J_OUTAGE = 2
J_DOOR = 3

# staff states
ST_OFF = 0
ST_IDLE = 1
ST_TRAVEL = 2
ST_WORK = 3
ST_BREAK = 4

_INF = np.inf


def set_threads(threads: int | None) -> int:
    """Set Numba's thread count (None: all) and return the number in use."""
    if threads is not None:
        numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))
    return int(numba.get_num_threads())


# ------------------------------------------------------------------ RNG


@njit(cache=True, nogil=True)
def _rotl(x, k):
    return (x << np.uint64(k)) | (x >> np.uint64(64 - k))


@njit(cache=True, nogil=True)
def _next64(s, i):
    s0 = s[i, 0]
    s1 = s[i, 1]
    s2 = s[i, 2]
    s3 = s[i, 3]
    result = _rotl(s1 * np.uint64(5), 7) * np.uint64(9)
    t = s1 << np.uint64(17)
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = _rotl(s3, 45)
    s[i, 0] = s0
    s[i, 1] = s1
    s[i, 2] = s2
    s[i, 3] = s3
    return result


@njit(cache=True, nogil=True)
def _unif(s, i):
    """Uniform on [0, 1)."""
    return np.float64(_next64(s, i) >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(cache=True, nogil=True)
def _expo(s, i):
    return -np.log(1.0 - _unif(s, i))


@njit(cache=True, nogil=True)
def _normal(s, i):
    u1 = 1.0 - _unif(s, i)
    u2 = _unif(s, i)
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


@njit(cache=True, nogil=True)
def _gamma1(s, i, k):
    """Gamma(k, 1) by Marsaglia and Tsang (k < 1 by the u**(1/k) boost)."""
    boost = 1.0
    if k < 1.0:
        boost = (1.0 - _unif(s, i)) ** (1.0 / k)
        k += 1.0
    d = k - 1.0 / 3.0
    c = 1.0 / np.sqrt(9.0 * d)
    while True:
        x = _normal(s, i)
        v = 1.0 + c * x
        if v <= 0.0:
            continue
        v = v * v * v
        u = 1.0 - _unif(s, i)
        if np.log(u) < 0.5 * x * x + d - d * v + d * np.log(v):
            return d * v * boost


@njit(cache=True, nogil=True)
def _duration(s, i, dist, mean, cv):
    """A positive duration with the given mean and coefficient of variation."""
    if dist == 2 or cv <= 0.0:
        if dist == 2:
            return mean * _expo(s, i)
        return mean
    if dist == 1:
        k = 1.0 / (cv * cv)
        return _gamma1(s, i, k) * mean / k
    s2 = np.log(1.0 + cv * cv)
    return mean * np.exp(np.sqrt(s2) * _normal(s, i) - 0.5 * s2)


@njit(cache=True, nogil=True)
def _poisson_small(s, i, lam):
    """Poisson by inversion (small means only)."""
    u = _unif(s, i)
    k = 0
    p = np.exp(-lam)
    c = p
    while u > c and k < 10000:
        k += 1
        p *= lam / k
        c += p
    return k


@njit(cache=True, nogil=True)
def _pick(cum, u):
    """Index i with cum[i-1] <= u * cum[-1] < cum[i] (binary search)."""
    x = u * cum[cum.shape[0] - 1]
    lo = 0
    hi = cum.shape[0] - 1
    while lo < hi:
        mid = (lo + hi) >> 1
        if cum[mid] > x:
            hi = mid
        else:
            lo = mid + 1
    return lo


# ------------------------------------------------------------------ heap


@njit(cache=True, nogil=True)
def _less(ht, hs, a, b):
    return ht[a] < ht[b] or (ht[a] == ht[b] and hs[a] < hs[b])


@njit(cache=True, nogil=True)
def _hpush(ht, hs, hk, hi, n, t, seq, kind, ident):
    """Push into a heap of size n; returns the new size."""
    pos = n
    ht[pos] = t
    hs[pos] = seq
    hk[pos] = kind
    hi[pos] = ident
    while pos > 0:
        parent = (pos - 1) >> 1
        if _less(ht, hs, pos, parent):
            ht[pos], ht[parent] = ht[parent], ht[pos]
            hs[pos], hs[parent] = hs[parent], hs[pos]
            hk[pos], hk[parent] = hk[parent], hk[pos]
            hi[pos], hi[parent] = hi[parent], hi[pos]
            pos = parent
        else:
            break
    return n + 1


@njit(cache=True, nogil=True)
def _hpop(ht, hs, hk, hi, n):
    """Remove the root of a heap of size n (read it first); returns the new size."""
    n -= 1
    ht[0] = ht[n]
    hs[0] = hs[n]
    hk[0] = hk[n]
    hi[0] = hi[n]
    pos = 0
    while True:
        left = 2 * pos + 1
        if left >= n:
            break
        best = left
        right = left + 1
        if right < n and _less(ht, hs, right, left):
            best = right
        if _less(ht, hs, best, pos):
            ht[pos], ht[best] = ht[best], ht[pos]
            hs[pos], hs[best] = hs[best], hs[pos]
            hk[pos], hk[best] = hk[best], hk[pos]
            hi[pos], hi[best] = hi[best], hi[pos]
            pos = best
        else:
            break
    return n


@njit(cache=True, nogil=True)
def _overlap(a, b, lo, hi):
    """Length of [a, b] inside [lo, hi]."""
    x = min(b, hi) - max(a, lo)
    return x if x > 0.0 else 0.0


# ------------------------------------------------------------------ M/M/c


@njit(cache=True, nogil=True)
def _mmc_one(lam, mu, c, horizon, warmup, target, hbin, st, qcap, kpi, hist):
    nb = hist.shape[0]
    ht = np.empty(c + 1, np.float64)
    hs = np.empty(c + 1, np.int64)
    hk = np.zeros(c + 1, np.int32)
    hi = np.zeros(c + 1, np.int32)
    qa = np.empty(qcap, np.float64)  # ring buffer: arrival time
    qs = np.empty(qcap, np.float64)  # and service time of waiting customers
    inv_lam = 1.0 / lam
    inv_mu = 1.0 / mu
    inv_bin = 1.0 / hbin
    qh = 0
    qn = 0
    n = 0
    seq = 0
    busy = 0
    t_last = 0.0
    next_arr = _expo(st, S_ARRIVAL) * inv_lam
    events = 0
    overflow = -1.0
    # local accumulators: the compiler keeps them in registers
    n_cust = 0.0
    w_sum = 0.0
    w_sq = 0.0
    w_pos = 0.0
    within = 0.0
    soj = 0.0
    l_int = 0.0
    b_int = 0.0
    while True:
        if n > 0 and (ht[0] <= next_arr or next_arr >= horizon):
            t = ht[0]
            n = _hpop(ht, hs, hk, hi, n)
            ov = _overlap(t_last, t, warmup, horizon)
            l_int += (busy + qn) * ov
            b_int += busy * ov
            t_last = t
            events += 1
            if qn > 0:
                a = qa[qh]
                sv = qs[qh]
                qh += 1
                if qh == qcap:
                    qh = 0
                qn -= 1
                w = t - a
                if a >= warmup:
                    w_sum += w
                    w_sq += w * w
                    soj += w + sv
                    if w > 0.0:
                        w_pos += 1.0
                        b = int(w * inv_bin)
                        hist[b if b < nb else nb - 1] += 1.0
                    if w <= target:
                        within += 1.0
                n = _hpush(ht, hs, hk, hi, n, t + sv, seq, 0, 0)
                seq += 1
            else:
                busy -= 1
        elif next_arr < horizon:
            t = next_arr
            ov = _overlap(t_last, t, warmup, horizon)
            l_int += (busy + qn) * ov
            b_int += busy * ov
            t_last = t
            events += 1
            sv = _expo(st, S_SERVICE) * inv_mu
            counted = t >= warmup
            if counted:
                n_cust += 1.0
            if busy < c:
                busy += 1
                if counted:
                    soj += sv
                    if target >= 0.0:
                        within += 1.0
                n = _hpush(ht, hs, hk, hi, n, t + sv, seq, 0, 0)
                seq += 1
            else:
                if qn == qcap:
                    overflow = t
                    break
                tail = qh + qn
                if tail >= qcap:
                    tail -= qcap
                qa[tail] = t
                qs[tail] = sv
                qn += 1
            next_arr = t + _expo(st, S_ARRIVAL) * inv_lam
        else:
            break
    kpi[M_N] = n_cust
    kpi[M_WAIT_SUM] = w_sum
    kpi[M_WAIT_SQ] = w_sq
    kpi[M_WAIT_POS] = w_pos
    kpi[M_WITHIN] = within
    kpi[M_SOJOURN_SUM] = soj
    kpi[M_L_INT] = l_int
    kpi[M_BUSY_INT] = b_int
    kpi[M_EVENTS] = events
    kpi[M_OVERFLOW] = overflow


@njit(cache=True, nogil=True, parallel=True)
def mmc_run(lam, mu, c, horizon, warmup, target, hbin, states, qcap, out_kpi, out_hist):
    """Simulate R replications of an M/M/c queue.

    Parameters
    ----------
    lam, mu : float
        Arrival and service rates per time unit.
    c : int
        Servers.
    horizon, warmup : float
        Customers arriving in ``[warmup, horizon)`` are measured; the queue drains after.
    target : float
        Wait target for the within-target share.
    hbin : float
        Width of the positive-wait histogram bins.
    states : ndarray of uint64, shape (R, N_STREAMS, 4)
        Generator states, consumed.
    qcap : int
        Queue buffer; overflowing stops that replication (``M_OVERFLOW`` holds the time).
    out_kpi : ndarray of float64, shape (R, N_MKPI)
        Zeroed; filled.
    out_hist : ndarray of float64, shape (R, n_bins)
        Zeroed; positive waits by bin, last bin open.
    """
    for r in prange(states.shape[0]):
        _mmc_one(
            lam, mu, c, horizon, warmup, target, hbin, states[r], qcap, out_kpi[r], out_hist[r]
        )


# ------------------------------------------------------------------ field model


@njit(cache=True, nogil=True)
def _qpush(qhead, qtail, qlen, jprev, jnext, jq, j, q, p, npr):
    """Append job j to priority list p of queue q."""
    slot = q * npr + p
    jq[j] = q
    jnext[j] = -1
    jprev[j] = qtail[slot]
    if qtail[slot] >= 0:
        jnext[qtail[slot]] = j
    else:
        qhead[slot] = j
    qtail[slot] = j
    if p < 3:
        qlen[q] += 1


@njit(cache=True, nogil=True)
def _qremove(qhead, qtail, qlen, jprev, jnext, jq, j, p, npr):
    """Unlink job j from its queue."""
    q = jq[j]
    slot = q * npr + p
    a = jprev[j]
    b = jnext[j]
    if a >= 0:
        jnext[a] = b
    else:
        qhead[slot] = b
    if b >= 0:
        jprev[b] = a
    else:
        qtail[slot] = a
    jq[j] = -1
    if p < 3:
        qlen[q] -= 1


@njit(cache=True, nogil=True)
def _qfirst(qhead, q, pmax, npr):
    """First job of queue q with priority <= pmax, or -1."""
    for p in range(pmax + 1):
        j = qhead[q * npr + p]
        if j >= 0:
            return j
    return -1


@njit(cache=True, nogil=True)
def _idle_push(k, g, idle, ipos, icnt, gptr, reg_idle, region):
    pos = gptr[g] + icnt[g]
    idle[pos] = k
    ipos[k] = pos
    icnt[g] += 1
    reg_idle[region[g]] += 1


@njit(cache=True, nogil=True)
def _idle_remove(k, g, idle, ipos, icnt, gptr, reg_idle, region):
    last = gptr[g] + icnt[g] - 1
    pos = ipos[k]
    other = idle[last]
    idle[pos] = other
    ipos[other] = pos
    ipos[k] = -1
    icnt[g] -= 1
    reg_idle[region[g]] -= 1


@njit(cache=True, nogil=True)
def _rec(ev, n_ev, cap, t, kind, num, k, g, p, val):
    """Write one event record when recording (cap > 0) and room is left."""
    if n_ev < cap:
        ev[n_ev, 0] = t
        ev[n_ev, 1] = kind
        ev[n_ev, 2] = num
        ev[n_ev, 3] = k
        ev[n_ev, 4] = g
        ev[n_ev, 5] = p
        ev[n_ev, 6] = val


@njit(cache=True, nogil=True)
def _go_off(k, t, s_state, s_shift_from, kpi, warmup, horizon):
    kpi[K_T_ONSHIFT] += _overlap(s_shift_from[k], t, warmup, horizon)
    s_state[k] = ST_OFF


@njit(cache=True, nogil=True)
def _new_ticket(
    j,
    ta,
    g,
    jt,
    st,
    stream,
    P,
    dist,
    seg_cum,
    j_grid,
    j_type,
    j_prio,
    j_tarr,
    j_dur,
    j_visits,
    j_z,
    j_sale,
    j_seg,
    j_target,
    j_num,
    j_first,
    j_count,
    num,
    kpi,
):
    """Fill job slot j; draws come in a fixed order per ticket (common random numbers)."""
    j_grid[j] = g
    j_type[j] = jt
    j_prio[j] = 0 if jt == J_OUTAGE else (2 if jt == J_INSTALL else 1)
    j_tarr[j] = ta
    j_seg[j] = _pick(seg_cum, _unif(st, stream))
    if jt == J_INSTALL:
        j_dur[j] = _duration(st, S_SERVICE, dist, P[P_INS_MEAN], P[P_INS_CV])
    else:
        j_dur[j] = _duration(st, S_SERVICE, dist, P[P_REP_MEAN], P[P_REP_CV])
    v = 1
    if jt != J_INSTALL:
        while _unif(st, S_SERVICE) >= P[P_FIX] and v < 50:
            v += 1
    j_visits[j] = v
    j_z[j] = _normal(st, S_TRAVEL)
    j_sale[j] = _unif(st, S_SALE)
    j_target[j] = -1
    j_num[j] = num
    j_first[j] = 1
    if P[P_WARMUP] <= ta < P[P_HORIZON]:
        j_count[j] = 1
        kpi[K_ARRIVALS] += 1.0
    else:
        j_count[j] = 0


@njit(cache=True, nogil=True)
def _start_next(
    k,
    t,
    P,
    policy,
    thr,
    qhead,
    qtail,
    qlen,
    j_prev,
    j_next,
    j_q,
    j_grid,
    j_prio,
    j_tq,
    j_z,
    j_count,
    j_first,
    j_num,
    s_state,
    s_pos,
    s_job,
    s_since,
    staff_grid,
    region,
    nb_ptr,
    nb_idx,
    n_grids,
    travel_intra,
    travel_matrix,
    use_matrix,
    other_f,
    tsig,
    tsig2,
    ht,
    hs,
    hk,
    hi,
    hn,
    seq,
    kpi,
    h_wait,
    hbin,
    idle,
    ipos,
    icnt,
    gptr,
    reg_idle,
    ev,
    n_ev,
    rec_cap,
):
    """Staff k (not in the idle stack) takes its next job or becomes idle.

    Returns (busy delta, heap size, seq, records, waiting-ticket delta).
    """
    npr = 4
    g = staff_grid[k]
    j = -1
    if policy == 0:
        j = _qfirst(qhead, n_grids + region[g], 2, npr)
    else:
        j = _qfirst(qhead, g, 2, npr)
        if j < 0:
            if policy == 1:
                best = -1
                best_len = 0
                for e in range(nb_ptr[g], nb_ptr[g + 1]):
                    h = nb_idx[e]
                    if qlen[h] >= thr and qlen[h] > best_len:
                        best = h
                        best_len = qlen[h]
                if best >= 0:
                    j = _qfirst(qhead, best, 2, npr)
            else:
                j = _qfirst(qhead, n_grids + region[g], 2, npr)
    if j < 0:
        j = _qfirst(qhead, g, 3, npr)
    if j < 0:
        s_state[k] = ST_IDLE
        _idle_push(k, g, idle, ipos, icnt, gptr, reg_idle, region)
        return 0, hn, seq, n_ev, 0
    p = j_prio[j]
    _qremove(qhead, qtail, qlen, j_prev, j_next, j_q, j, p, npr)
    d_wait = 1 if p < 3 else 0
    if p < 3 and j_first[j] == 1 and j_count[j] == 1:
        w = t - j_tq[j]
        kpi[K_WAIT_N] += 1.0
        kpi[K_WAIT_SUM] += w
        if w > 0.0:
            kpi[K_WAIT_POS] += 1.0
            b = int(w / hbin)
            nb = h_wait.shape[0]
            h_wait[b if b < nb else nb - 1] += 1.0
        if w <= P[P_TARGET]:
            kpi[K_WITHIN] += 1.0
        if j_grid[j] != g:
            kpi[K_HELPED] += 1.0
    a = s_pos[k]
    b2 = j_grid[j]
    if use_matrix:
        mean = travel_matrix[a, b2]
    elif a == b2:
        mean = travel_intra[b2]
    else:
        mean = travel_intra[b2] * other_f
    tr = mean * np.exp(tsig * j_z[j] - 0.5 * tsig2) if mean > 0.0 else 0.0
    s_state[k] = ST_TRAVEL
    s_job[k] = j
    s_since[k] = t
    hn = _hpush(ht, hs, hk, hi, hn, t + tr, seq, EV_TRAVEL_END, k)
    _rec(ev, n_ev, rec_cap, t, EV_ASSIGN, j_num[j], k, b2, p, tr)
    return 1, hn, seq + 1, n_ev + 1, d_wait


@njit(cache=True, nogil=True)
def _wave1(P, st, c_seg, c_hold, c_conv, c_contacts, c_missed, resp_seg, funnel, kpi, fat):
    """Wave 1 (SMS / push / e-mail) to every treated target."""
    for i in range(c_seg.shape[0]):
        if c_hold[i] == 1:
            continue
        c_missed[i] = 1
        funnel[0, F_TARGETED] += 1.0
        if _unif(st, S_CAMPAIGN) < P[P_W1_REACH]:
            funnel[0, F_REACHED] += 1.0
            f = fat ** c_contacts[i]
            c_contacts[i] += 1
            if _unif(st, S_CAMPAIGN) < min(1.0, P[P_W1_RESP] * resp_seg[c_seg[i]] * f):
                funnel[0, F_RESPONDED] += 1.0
                if _unif(st, S_CAMPAIGN) < P[P_W1_CONV]:
                    funnel[0, F_CONVERTED] += 1.0
                    kpi[K_SALES_W1] += 1.0
                    c_conv[i] = 1


@njit(cache=True, nogil=True)
def _wave2_day(
    P, st, c_seg, c_hold, c_conv, c_contacts, c_missed, resp_seg, funnel, kpi, fat, pos, first
):
    """One day of wave 2 (outbound calls) from target ``pos`` on; returns the next target."""
    n = c_seg.shape[0]
    if first:
        for i in range(n):
            if c_hold[i] == 0 and c_conv[i] != 1:
                funnel[1, F_TARGETED] += 1.0
    calls = P[P_W2_CAP]
    attempts = int(P[P_W2_ATTEMPTS])
    while pos < n and calls >= 1.0:
        i = pos
        pos += 1
        if c_hold[i] == 1 or c_conv[i] == 1:
            continue
        for _ in range(attempts):
            if calls < 1.0:
                break
            calls -= 1.0
            if _unif(st, S_CAMPAIGN) >= P[P_W2_RPC]:
                continue
            c_contacts[i] += 1
            if _unif(st, S_CAMPAIGN) < P[P_W2_ABANDON]:
                continue  # the dialer found no free agent: an abandoned call
            funnel[1, F_REACHED] += 1.0
            c_missed[i] = 0
            f = fat ** (c_contacts[i] - 1)
            acc = P[P_W2_RESP] * resp_seg[c_seg[i]] * f
            if _unif(st, S_CAMPAIGN) < min(1.0, acc):
                funnel[1, F_RESPONDED] += 1.0
                if _unif(st, S_CAMPAIGN) < P[P_W2_CONV]:
                    funnel[1, F_CONVERTED] += 1.0
                    kpi[K_SALES_W2] += 1.0
                    c_conv[i] = 1
            elif _unif(st, S_CAMPAIGN) < P[P_W2_HESITANT] and calls >= 1.0:
                # same-day second call to a hesitant customer
                calls -= 1.0
                c_contacts[i] += 1
                if _unif(st, S_CAMPAIGN) < min(1.0, P[P_W2_SECOND] * resp_seg[c_seg[i]] * f):
                    funnel[1, F_RESPONDED] += 1.0
                    if _unif(st, S_CAMPAIGN) < P[P_W2_CONV]:
                        funnel[1, F_CONVERTED] += 1.0
                        kpi[K_SALES_W2] += 1.0
                        c_conv[i] = 1
            break
    return pos


@njit(cache=True, nogil=True)
def _field_one(
    P,
    rate_cum,
    week_rate,
    region,
    nb_ptr,
    nb_idx,
    reg_ptr,
    reg_grids,
    travel_intra,
    travel_matrix,
    hh_cum,
    seg_cum,
    sale_seg,
    resp_seg,
    staff_grid,
    staff_always,
    gptr,
    tt_time,
    tt_kind,
    tt_staff,
    tt_shift_end,
    break_len,
    st,
    kpi,
    h_wait,
    h_onsite,
    h_fix,
    funnel,
    ev,
    ev_n,
    rec_cap,
):
    n_grids = rate_cum.shape[0]
    n_staff = staff_grid.shape[0]
    n_regions = reg_ptr.shape[0] - 1
    npr = 4
    horizon = P[P_HORIZON]
    warmup = P[P_WARMUP]
    t_stop = horizon + P[P_DRAIN]
    policy = int(P[P_POLICY])
    thr = P[P_HELP_THR]
    dist = int(P[P_DIST])
    travel_cv = P[P_TRAVEL_CV]
    tsig2 = np.log(1.0 + travel_cv * travel_cv)
    tsig = np.sqrt(tsig2)
    other_f = P[P_TRAVEL_OTHER]
    use_matrix = travel_matrix.shape[0] == n_grids
    hbin = P[P_HBIN]
    fbin = P[P_FBIN]
    nbo = h_onsite.shape[0]
    nbf = h_fix.shape[0]
    total_rate = rate_cum[n_grids - 1]

    # ---- jobs (pool with a free stack)
    jc = int(P[P_JOB_CAP])
    j_grid = np.empty(jc, np.int64)
    j_type = np.empty(jc, np.int64)
    j_prio = np.empty(jc, np.int64)
    j_tarr = np.empty(jc, np.float64)
    j_tq = np.empty(jc, np.float64)
    j_dur = np.empty(jc, np.float64)
    j_visits = np.empty(jc, np.int64)
    j_z = np.empty(jc, np.float64)
    j_sale = np.empty(jc, np.float64)
    j_seg = np.empty(jc, np.int64)
    j_target = np.empty(jc, np.int64)
    j_num = np.empty(jc, np.int64)
    j_first = np.empty(jc, np.int64)  # 1 until the first on-site arrival
    j_count = np.empty(jc, np.int64)  # 1 if it counts in the statistics
    j_prev = np.empty(jc, np.int64)
    j_next = np.empty(jc, np.int64)
    j_q = np.full(jc, -1, np.int64)
    j_esc = np.full(jc, -1.0, np.float64)  # pending escalation time (hybrid)
    free = np.empty(jc, np.int64)
    for i in range(jc):
        free[i] = jc - 1 - i
    n_free = jc
    n_open = 0  # open tickets of the horizon (door visits excluded)
    n_wait = 0  # waiting tickets (door visits excluded)
    n_tickets = 0

    # ---- queues: grids 0..G-1, regions G..G+R-1
    nq = n_grids + n_regions
    qhead = np.full(nq * npr, -1, np.int64)
    qtail = np.full(nq * npr, -1, np.int64)
    qlen = np.zeros(nq, np.int64)

    # ---- staff
    s_state = np.zeros(n_staff, np.int64)
    s_pos = staff_grid.astype(np.int64)
    s_job = np.full(n_staff, -1, np.int64)
    s_since = np.zeros(n_staff, np.float64)  # start of the current activity
    s_shift_from = np.zeros(n_staff, np.float64)
    s_shift_to = np.zeros(n_staff, np.float64)
    s_off_pending = np.zeros(n_staff, np.int64)
    s_break_pending = np.zeros(n_staff, np.int64)
    s_break_end = np.zeros(n_staff, np.float64)
    idle = np.empty(n_staff, np.int64)
    ipos = np.full(n_staff, -1, np.int64)
    icnt = np.zeros(n_grids, np.int64)
    reg_idle = np.zeros(n_regions, np.int64)

    # ---- heap: staff events + jobs in desk / revisit / burst + bursts
    hcap = n_staff + jc + 4
    ht = np.empty(hcap, np.float64)
    hs = np.empty(hcap, np.int64)
    hk = np.empty(hcap, np.int64)
    hi = np.empty(hcap, np.int64)
    hn = 0
    seq = 0

    # ---- campaign state
    n_targets = int(P[P_N_TARGETS])
    c_grid = np.empty(n_targets, np.int64)
    c_seg = np.empty(n_targets, np.int64)
    c_hold = np.zeros(n_targets, np.int64)
    c_conv = np.zeros(n_targets, np.int64)  # 0 no, 1 campaign, 2 organic
    c_contacts = np.zeros(n_targets, np.int64)
    c_missed = np.zeros(n_targets, np.int64)  # 1 if wave 2 never reached them
    c_next = np.full(n_targets, -1, np.int64)
    door_head = np.full(n_grids if n_targets > 0 else 0, -1, np.int64)
    w2_pos = 0
    fat = P[P_FATIGUE]
    if n_targets > 0:
        for i in range(n_targets):
            c_grid[i] = _pick(hh_cum, _unif(st, S_CAMPAIGN))
            c_seg[i] = _pick(seg_cum, _unif(st, S_CAMPAIGN))
            if _unif(st, S_CAMPAIGN) < P[P_C_HOLDOUT]:
                c_hold[i] = 1
            if _unif(st, S_CAMPAIGN) < P[P_C_ORGANIC]:
                c_conv[i] = 2

    # ---- initial state: always-on staff idle, others wait for the timetable
    for k in range(n_staff):
        if staff_always[k]:
            s_state[k] = ST_IDLE
            s_shift_from[k] = 0.0
            s_shift_to[k] = _INF
            _idle_push(k, staff_grid[k], idle, ipos, icnt, gptr, reg_idle, region)
    n_tt = tt_time.shape[0]
    tt_i = 0
    tt_week = 0
    next_tt = tt_time[0] if n_tt > 0 else _INF

    # ---- arrivals: piecewise-constant rate per hour of the week
    hour = 0
    e_left = _expo(st, S_ARRIVAL)
    next_arr = _INF
    # advance to the first arrival
    t_cur = 0.0
    while True:
        r = total_rate * week_rate[hour % 168]
        h_end = (hour + 1) * 60.0
        if r > 0.0 and e_left <= r * (h_end - t_cur):
            next_arr = t_cur + e_left / r
            break
        if r > 0.0:
            e_left -= r * (h_end - t_cur)
        t_cur = h_end
        hour += 1
        if t_cur >= horizon:
            next_arr = _INF
            break
    if P[P_OUT_RATE] > 0.0:
        hn = _hpush(ht, hs, hk, hi, hn, _expo(st, S_OUTAGE) / P[P_OUT_RATE], seq, EV_BURST, 0)
        seq += 1

    day = 0
    next_day = 0.0
    mid_day = int((warmup + horizon) / 2.0 / 1440.0)
    t_last = 0.0
    events = 0
    kpi[K_OVERFLOW] = -1.0
    busy_now = 0
    n_ev = 0

    while True:
        # ---- pick the next source: day boundary, timetable, heap, arrival
        th = ht[0] if hn > 0 else _INF
        t = next_day
        src = 0
        if next_tt < t:
            t = next_tt
            src = 1
        if th < t:
            t = th
            src = 2
        if next_arr < t:
            t = next_arr
            src = 3
        if t >= horizon and n_open == 0:
            break
        if t >= t_stop or t == _INF:
            break
        ov = _overlap(t_last, t, warmup, horizon)
        kpi[K_BACKLOG_INT] += n_wait * ov
        kpi[K_BUSY_INT] += busy_now * ov
        t_last = t
        events += 1

        wake_grid = -1  # a grid whose idle staff should look for work
        wake_region = -1
        job = -1
        if src == 0:
            # ---------------- day boundary: campaign waves and bookkeeping
            if day == mid_day:
                kpi[K_BACKLOG_MID] = n_wait
            if n_targets > 0:
                if day == int(P[P_C_START]):
                    _wave1(
                        P,
                        st,
                        c_seg,
                        c_hold,
                        c_conv,
                        c_contacts,
                        c_missed,
                        resp_seg,
                        funnel,
                        kpi,
                        fat,
                    )
                d2 = int(P[P_W2_DAY])
                if d2 <= day < d2 + int(P[P_W2_DAYS]):
                    w2_pos = _wave2_day(
                        P,
                        st,
                        c_seg,
                        c_hold,
                        c_conv,
                        c_contacts,
                        c_missed,
                        resp_seg,
                        funnel,
                        kpi,
                        fat,
                        w2_pos,
                        day == d2,
                    )
                d3 = int(P[P_W3_DAY])
                if day == d3:
                    # everyone treated, not converted and missed by the calls gets a door visit
                    for i in range(n_targets - 1, -1, -1):
                        if c_hold[i] == 0 and c_conv[i] != 1 and c_missed[i] == 1:
                            c_next[i] = door_head[c_grid[i]]
                            door_head[c_grid[i]] = i
                            funnel[2, F_TARGETED] += 1.0
                if d3 <= day < d3 + int(P[P_W3_DAYS]):
                    cap = int(P[P_W3_CAP])
                    for g in range(n_grids):
                        for _ in range(cap):
                            i = door_head[g]
                            if i < 0:
                                break
                            door_head[g] = c_next[i]
                            if n_free == 0:
                                kpi[K_OVERFLOW] = t
                                break
                            n_free -= 1
                            j = free[n_free]
                            j_grid[j] = g
                            j_type[j] = J_DOOR
                            j_prio[j] = 3
                            j_tarr[j] = t
                            j_tq[j] = t
                            j_dur[j] = _duration(st, S_DOOR, dist, P[P_W3_DUR], P[P_REP_CV])
                            j_visits[j] = 1
                            j_z[j] = _normal(st, S_DOOR)
                            j_sale[j] = 0.0
                            j_seg[j] = c_seg[i]
                            j_target[j] = i
                            j_num[j] = -1
                            j_first[j] = 0
                            j_count[j] = 0
                            _qpush(qhead, qtail, qlen, j_prev, j_next, j_q, j, g, 3, npr)
                        # idle staff of the grid take the new door visits
                        while icnt[g] > 0 and qhead[g * npr + 3] >= 0:
                            k = idle[gptr[g] + icnt[g] - 1]
                            _idle_remove(k, g, idle, ipos, icnt, gptr, reg_idle, region)
                            s_state[k] = ST_OFF
                            d_busy, hn, seq, n_ev, d_wait = _start_next(
                                k,
                                t,
                                P,
                                policy,
                                thr,
                                qhead,
                                qtail,
                                qlen,
                                j_prev,
                                j_next,
                                j_q,
                                j_grid,
                                j_prio,
                                j_tq,
                                j_z,
                                j_count,
                                j_first,
                                j_num,
                                s_state,
                                s_pos,
                                s_job,
                                s_since,
                                staff_grid,
                                region,
                                nb_ptr,
                                nb_idx,
                                n_grids,
                                travel_intra,
                                travel_matrix,
                                use_matrix,
                                other_f,
                                tsig,
                                tsig2,
                                ht,
                                hs,
                                hk,
                                hi,
                                hn,
                                seq,
                                kpi,
                                h_wait,
                                hbin,
                                idle,
                                ipos,
                                icnt,
                                gptr,
                                reg_idle,
                                ev,
                                n_ev,
                                rec_cap,
                            )
                            busy_now += d_busy
                            n_wait -= d_wait
            day += 1
            next_day = day * 1440.0
            if next_day >= horizon:
                next_day = _INF
            continue
        if src == 1:
            # ---------------- timetable: shift start / break start / shift end
            k = tt_staff[tt_i]
            kind = tt_kind[tt_i]
            if kind == 0:
                if s_state[k] == ST_OFF and t < horizon + P[P_DRAIN]:
                    s_state[k] = ST_IDLE
                    s_pos[k] = staff_grid[k]
                    s_shift_from[k] = t
                    s_shift_to[k] = tt_week * 10080.0 + tt_shift_end[tt_i]
                    s_off_pending[k] = 0
                    s_break_pending[k] = 0
                    _rec(ev, n_ev, rec_cap, t, EV_SHIFT_START, -1, k, staff_grid[k], -1, 0.0)
                    n_ev += 1
                    _idle_push(k, staff_grid[k], idle, ipos, icnt, gptr, reg_idle, region)
                    wake_grid = staff_grid[k]
            elif kind == 1:
                if s_state[k] == ST_IDLE:
                    _idle_remove(k, staff_grid[k], idle, ipos, icnt, gptr, reg_idle, region)
                    s_state[k] = ST_BREAK
                    s_since[k] = t
                    s_break_end[k] = t + break_len[k]
                    hn = _hpush(ht, hs, hk, hi, hn, t + break_len[k], seq, EV_BREAK_END, k)
                    seq += 1
                elif s_state[k] == ST_TRAVEL or s_state[k] == ST_WORK:
                    s_break_pending[k] = 1
            else:
                st_k = s_state[k]
                if st_k == ST_IDLE:
                    _idle_remove(k, staff_grid[k], idle, ipos, icnt, gptr, reg_idle, region)
                    _go_off(k, t, s_state, s_shift_from, kpi, warmup, horizon)
                    _rec(ev, n_ev, rec_cap, t, EV_SHIFT_END, -1, k, staff_grid[k], -1, 0.0)
                    n_ev += 1
                elif st_k == ST_BREAK:
                    kpi[K_T_BREAK] += _overlap(s_since[k], t, warmup, horizon)
                    _go_off(k, t, s_state, s_shift_from, kpi, warmup, horizon)
                elif st_k == ST_TRAVEL or st_k == ST_WORK:
                    s_off_pending[k] = 1
            tt_i += 1
            if tt_i == n_tt:
                tt_i = 0
                tt_week += 1
            next_tt = tt_week * 10080.0 + tt_time[tt_i]
            if next_tt >= t_stop:
                next_tt = _INF
        elif src == 2:
            kind = hk[0]
            ident = hi[0]
            hn = _hpop(ht, hs, hk, hi, hn)
            if kind == EV_ARRIVAL:
                job = ident
            elif kind == EV_DISPATCH:
                j = ident
                r = region[j_grid[j]]
                _qpush(qhead, qtail, qlen, j_prev, j_next, j_q, j, n_grids + r, j_prio[j], npr)
                j_tq[j] = t
                n_wait += 1
                wake_region = r
            elif kind == EV_ESCALATE:
                j = ident
                if j_esc[j] == t and j_q[j] >= 0 and j_q[j] < n_grids:
                    _qremove(qhead, qtail, qlen, j_prev, j_next, j_q, j, j_prio[j], npr)
                    r = region[j_grid[j]]
                    _qpush(qhead, qtail, qlen, j_prev, j_next, j_q, j, n_grids + r, j_prio[j], npr)
                    wake_region = r
            elif kind == EV_TRAVEL_END:
                k = ident
                j = s_job[k]
                tr = t - s_since[k]
                kpi[K_T_TRAVEL] += _overlap(s_since[k], t, warmup, horizon)
                s_state[k] = ST_WORK
                s_since[k] = t
                if j_first[j] == 1:
                    j_first[j] = 0
                    if j_count[j] == 1:
                        resp = t - j_tarr[j]
                        kpi[K_ONSITE_N] += 1.0
                        kpi[K_ONSITE_SUM] += resp
                        b = int(resp / hbin)
                        h_onsite[b if b < nbo else nbo - 1] += 1.0
                        if resp <= P[P_SLA]:
                            kpi[K_SLA_HIT] += 1.0
                        if j_type[j] == J_OUTAGE:
                            kpi[K_OUTAGE_N] += 1.0
                            kpi[K_OUTAGE_SUM] += resp
                _rec(ev, n_ev, rec_cap, t, EV_TRAVEL_END, j_num[j], k, j_grid[j], j_prio[j], tr)
                n_ev += 1
                hn = _hpush(ht, hs, hk, hi, hn, t + j_dur[j], seq, EV_JOB_END, k)
                seq += 1
            elif kind == EV_JOB_END:
                k = ident
                j = s_job[k]
                busy_now -= 1
                ot = _overlap(s_since[k], t, warmup, horizon)
                jt = j_type[j]
                if jt == J_DOOR:
                    kpi[K_T_DOOR] += ot
                else:
                    kpi[K_T_REPAIR] += ot
                    kpi[K_VISITS] += 1.0
                s_pos[k] = j_grid[j]
                s_job[k] = -1
                # sale chance at this visit
                seg = j_seg[j]
                if jt == J_DOOR:
                    i = j_target[j]
                    funnel[2, F_VISITED] += 1.0
                    kpi[K_DOOR_VISITS] += 1.0
                    if _unif(st, S_CAMPAIGN) < P[P_W3_REACH]:
                        funnel[2, F_REACHED] += 1.0
                        f = fat ** c_contacts[i]
                        c_contacts[i] += 1
                        if _unif(st, S_CAMPAIGN) < min(1.0, P[P_W3_RESP] * resp_seg[seg] * f):
                            funnel[2, F_RESPONDED] += 1.0
                            if _unif(st, S_CAMPAIGN) < P[P_W3_CONV]:
                                funnel[2, F_CONVERTED] += 1.0
                                kpi[K_SALES_DOOR] += 1.0
                                c_conv[i] = 1
                                _rec(ev, n_ev, rec_cap, t, EV_SALE, -1, k, j_grid[j], 3, 3.0)
                                n_ev += 1
                    n_free_j = 1
                else:
                    p = sale_seg[seg]
                    if jt == J_INSTALL:
                        p *= P[P_SALE_INSTALL]
                    else:
                        p *= P[P_SALE_REPAIR] * np.exp(-(t - j_tarr[j]) / P[P_SALE_DECAY])
                    if j_sale[j] < p:
                        if j_count[j] == 1:
                            if jt == J_INSTALL:
                                kpi[K_SALES_INSTALL] += 1.0
                            else:
                                kpi[K_SALES_REPAIR] += 1.0
                        channel = 1.0 if jt == J_INSTALL else 0.0
                        _rec(
                            ev,
                            n_ev,
                            rec_cap,
                            t,
                            EV_SALE,
                            j_num[j],
                            k,
                            j_grid[j],
                            j_prio[j],
                            channel,
                        )
                        n_ev += 1
                    j_visits[j] -= 1
                    if j_visits[j] <= 0:
                        if j_count[j] == 1:
                            fx = t - j_tarr[j]
                            kpi[K_FIX_N] += 1.0
                            kpi[K_FIX_SUM] += fx
                            b = int(fx / fbin)
                            h_fix[b if b < nbf else nbf - 1] += 1.0
                        n_free_j = 1
                        n_open -= 1
                    else:
                        n_free_j = 0
                        if j_count[j] == 1:
                            kpi[K_REVISITS] += 1.0
                        j_dur[j] = _duration(st, S_REVISIT, dist, P[P_REP_MEAN], P[P_REP_CV])
                        j_z[j] = _normal(st, S_REVISIT)
                        j_sale[j] = _unif(st, S_REVISIT)
                        hn = _hpush(ht, hs, hk, hi, hn, t + P[P_REVISIT_DELAY], seq, EV_ARRIVAL, j)
                        seq += 1
                again = 1.0 - n_free_j
                _rec(ev, n_ev, rec_cap, t, EV_JOB_END, j_num[j], k, j_grid[j], j_prio[j], again)
                n_ev += 1
                if n_free_j == 1:
                    free[n_free] = j
                    n_free += 1
                s_state[k] = ST_IDLE
                if s_off_pending[k] == 1:
                    s_off_pending[k] = 0
                    if t > s_shift_to[k]:
                        kpi[K_T_OVERTIME] += _overlap(s_shift_to[k], t, warmup, horizon)
                    _go_off(k, t, s_state, s_shift_from, kpi, warmup, horizon)
                    _rec(ev, n_ev, rec_cap, t, EV_SHIFT_END, -1, k, staff_grid[k], -1, 0.0)
                    n_ev += 1
                elif s_break_pending[k] == 1:
                    s_break_pending[k] = 0
                    s_state[k] = ST_BREAK
                    s_since[k] = t
                    s_break_end[k] = t + break_len[k]
                    hn = _hpush(ht, hs, hk, hi, hn, t + break_len[k], seq, EV_BREAK_END, k)
                    seq += 1
                else:
                    d_busy, hn, seq, n_ev, d_wait = _start_next(
                        k,
                        t,
                        P,
                        policy,
                        thr,
                        qhead,
                        qtail,
                        qlen,
                        j_prev,
                        j_next,
                        j_q,
                        j_grid,
                        j_prio,
                        j_tq,
                        j_z,
                        j_count,
                        j_first,
                        j_num,
                        s_state,
                        s_pos,
                        s_job,
                        s_since,
                        staff_grid,
                        region,
                        nb_ptr,
                        nb_idx,
                        n_grids,
                        travel_intra,
                        travel_matrix,
                        use_matrix,
                        other_f,
                        tsig,
                        tsig2,
                        ht,
                        hs,
                        hk,
                        hi,
                        hn,
                        seq,
                        kpi,
                        h_wait,
                        hbin,
                        idle,
                        ipos,
                        icnt,
                        gptr,
                        reg_idle,
                        ev,
                        n_ev,
                        rec_cap,
                    )
                    busy_now += d_busy
                    n_wait -= d_wait
            elif kind == EV_BREAK_END:
                k = ident
                if s_state[k] == ST_BREAK and s_break_end[k] == t:
                    kpi[K_T_BREAK] += _overlap(s_since[k], t, warmup, horizon)
                    s_state[k] = ST_OFF
                    d_busy, hn, seq, n_ev, d_wait = _start_next(
                        k,
                        t,
                        P,
                        policy,
                        thr,
                        qhead,
                        qtail,
                        qlen,
                        j_prev,
                        j_next,
                        j_q,
                        j_grid,
                        j_prio,
                        j_tq,
                        j_z,
                        j_count,
                        j_first,
                        j_num,
                        s_state,
                        s_pos,
                        s_job,
                        s_since,
                        staff_grid,
                        region,
                        nb_ptr,
                        nb_idx,
                        n_grids,
                        travel_intra,
                        travel_matrix,
                        use_matrix,
                        other_f,
                        tsig,
                        tsig2,
                        ht,
                        hs,
                        hk,
                        hi,
                        hn,
                        seq,
                        kpi,
                        h_wait,
                        hbin,
                        idle,
                        ipos,
                        icnt,
                        gptr,
                        reg_idle,
                        ev,
                        n_ev,
                        rec_cap,
                    )
                    busy_now += d_busy
                    n_wait -= d_wait
            elif kind == EV_BURST:
                size = 1 + _poisson_small(st, S_OUTAGE, P[P_OUT_SIZE] - 1.0)
                g = _pick(rate_cum, _unif(st, S_OUTAGE))
                _rec(ev, n_ev, rec_cap, t, EV_BURST, -1, -1, g, 0, size)
                n_ev += 1
                for _ in range(size):
                    if n_free == 0:
                        kpi[K_OVERFLOW] = t
                        break
                    n_free -= 1
                    j = free[n_free]
                    ta = t + _unif(st, S_OUTAGE) * P[P_OUT_SPREAD]
                    _new_ticket(
                        j,
                        ta,
                        g,
                        J_OUTAGE,
                        st,
                        S_OUTAGE,
                        P,
                        dist,
                        seg_cum,
                        j_grid,
                        j_type,
                        j_prio,
                        j_tarr,
                        j_dur,
                        j_visits,
                        j_z,
                        j_sale,
                        j_seg,
                        j_target,
                        j_num,
                        j_first,
                        j_count,
                        n_tickets,
                        kpi,
                    )
                    n_tickets += 1
                    n_open += 1
                    hn = _hpush(ht, hs, hk, hi, hn, ta, seq, EV_ARRIVAL, j)
                    seq += 1
                nxt = t + _expo(st, S_OUTAGE) / P[P_OUT_RATE]
                if nxt < horizon:
                    hn = _hpush(ht, hs, hk, hi, hn, nxt, seq, EV_BURST, 0)
                    seq += 1
        else:
            # ---------------- regular ticket arrival
            if n_free == 0:
                kpi[K_OVERFLOW] = t
                break
            n_free -= 1
            j = free[n_free]
            g = _pick(rate_cum, _unif(st, S_ARRIVAL))
            jt = J_INSTALL if _unif(st, S_ARRIVAL) < P[P_INSTALL_SHARE] else J_REPAIR
            _new_ticket(
                j,
                t,
                g,
                jt,
                st,
                S_ARRIVAL,
                P,
                dist,
                seg_cum,
                j_grid,
                j_type,
                j_prio,
                j_tarr,
                j_dur,
                j_visits,
                j_z,
                j_sale,
                j_seg,
                j_target,
                j_num,
                j_first,
                j_count,
                n_tickets,
                kpi,
            )
            n_tickets += 1
            n_open += 1
            job = j
            # next arrival: spend an Exp(1) budget of integrated rate hour by hour
            e_left = _expo(st, S_ARRIVAL)
            t_cur = t
            next_arr = _INF
            while t_cur < horizon:
                r = total_rate * week_rate[hour % 168]
                h_end = (hour + 1) * 60.0
                if r > 0.0 and e_left <= r * (h_end - t_cur):
                    next_arr = t_cur + e_left / r
                    break
                if r > 0.0:
                    e_left -= r * (h_end - t_cur)
                t_cur = h_end
                hour += 1
            if next_arr >= horizon:
                next_arr = _INF

        if job >= 0:
            # a ticket (new, burst or revisit) enters dispatch
            j = job
            if j_first[j] == 1 and j_visits[j] >= 1 and j_type[j] != J_DOOR:
                _rec(ev, n_ev, rec_cap, t, EV_ARRIVAL, j_num[j], -1, j_grid[j], j_prio[j], 0.0)
                n_ev += 1
            g = j_grid[j]
            if policy == 0 and P[P_DESK] > 0.0:
                delay = P[P_DESK] * _expo(st, S_DESK)
                hn = _hpush(ht, hs, hk, hi, hn, t + delay, seq, EV_DISPATCH, j)
                seq += 1
            elif policy == 0:
                r = region[g]
                _qpush(qhead, qtail, qlen, j_prev, j_next, j_q, j, n_grids + r, j_prio[j], npr)
                j_tq[j] = t
                n_wait += 1
                wake_region = r
            else:
                _qpush(qhead, qtail, qlen, j_prev, j_next, j_q, j, g, j_prio[j], npr)
                j_tq[j] = t
                n_wait += 1
                wake_grid = g
                if policy == 2 and icnt[g] == 0:
                    j_esc[j] = t + P[P_DESK]
                    hn = _hpush(ht, hs, hk, hi, hn, j_esc[j], seq, EV_ESCALATE, j)
                    seq += 1

        # ---------------- wake idle staff who can take the new work
        if wake_grid >= 0:
            g = wake_grid
            k = -1
            if icnt[g] > 0:
                k = idle[gptr[g] + icnt[g] - 1]
                gk = g
            elif policy == 1 and qlen[g] >= thr:
                for e in range(nb_ptr[g], nb_ptr[g + 1]):
                    h = nb_idx[e]
                    if icnt[h] > 0:
                        k = idle[gptr[h] + icnt[h] - 1]
                        gk = h
                        break
            elif policy == 0:
                # central: a shift start wakes the region queue too
                wake_region = region[g]
            if k >= 0:
                _idle_remove(k, gk, idle, ipos, icnt, gptr, reg_idle, region)
                s_state[k] = ST_OFF
                d_busy, hn, seq, n_ev, d_wait = _start_next(
                    k,
                    t,
                    P,
                    policy,
                    thr,
                    qhead,
                    qtail,
                    qlen,
                    j_prev,
                    j_next,
                    j_q,
                    j_grid,
                    j_prio,
                    j_tq,
                    j_z,
                    j_count,
                    j_first,
                    j_num,
                    s_state,
                    s_pos,
                    s_job,
                    s_since,
                    staff_grid,
                    region,
                    nb_ptr,
                    nb_idx,
                    n_grids,
                    travel_intra,
                    travel_matrix,
                    use_matrix,
                    other_f,
                    tsig,
                    tsig2,
                    ht,
                    hs,
                    hk,
                    hi,
                    hn,
                    seq,
                    kpi,
                    h_wait,
                    hbin,
                    idle,
                    ipos,
                    icnt,
                    gptr,
                    reg_idle,
                    ev,
                    n_ev,
                    rec_cap,
                )
                busy_now += d_busy
                n_wait -= d_wait
        if wake_region >= 0 and reg_idle[wake_region] > 0:
            r = wake_region
            k = -1
            for e in range(reg_ptr[r], reg_ptr[r + 1]):
                h = reg_grids[e]
                if icnt[h] > 0:
                    k = idle[gptr[h] + icnt[h] - 1]
                    gk = h
                    break
            if k >= 0:
                _idle_remove(k, gk, idle, ipos, icnt, gptr, reg_idle, region)
                s_state[k] = ST_OFF
                d_busy, hn, seq, n_ev, d_wait = _start_next(
                    k,
                    t,
                    P,
                    policy,
                    thr,
                    qhead,
                    qtail,
                    qlen,
                    j_prev,
                    j_next,
                    j_q,
                    j_grid,
                    j_prio,
                    j_tq,
                    j_z,
                    j_count,
                    j_first,
                    j_num,
                    s_state,
                    s_pos,
                    s_job,
                    s_since,
                    staff_grid,
                    region,
                    nb_ptr,
                    nb_idx,
                    n_grids,
                    travel_intra,
                    travel_matrix,
                    use_matrix,
                    other_f,
                    tsig,
                    tsig2,
                    ht,
                    hs,
                    hk,
                    hi,
                    hn,
                    seq,
                    kpi,
                    h_wait,
                    hbin,
                    idle,
                    ipos,
                    icnt,
                    gptr,
                    reg_idle,
                    ev,
                    n_ev,
                    rec_cap,
                )
                busy_now += d_busy
                n_wait -= d_wait

    # ---- close the books
    t_end = min(t_last, horizon) if t_last < horizon else horizon
    for k in range(n_staff):
        if s_state[k] != ST_OFF:
            if s_state[k] == ST_BREAK:
                kpi[K_T_BREAK] += _overlap(s_since[k], horizon, warmup, horizon)
            elif s_state[k] == ST_TRAVEL:
                kpi[K_T_TRAVEL] += _overlap(s_since[k], horizon, warmup, horizon)
            elif s_state[k] == ST_WORK:
                if s_job[k] >= 0 and j_type[s_job[k]] == J_DOOR:
                    kpi[K_T_DOOR] += _overlap(s_since[k], horizon, warmup, horizon)
                else:
                    kpi[K_T_REPAIR] += _overlap(s_since[k], horizon, warmup, horizon)
            kpi[K_T_ONSHIFT] += _overlap(s_shift_from[k], horizon, warmup, horizon)
    _ = t_end
    kpi[K_BACKLOG_END] = n_wait
    kpi[K_UNFINISHED] = n_open
    kpi[K_EVENTS] = events
    if n_targets > 0:
        for i in range(n_targets):
            if c_hold[i] == 1:
                kpi[K_HOLD_N] += 1.0
                if c_conv[i] > 0:
                    kpi[K_HOLD_CONV] += 1.0
            else:
                kpi[K_TREATED_N] += 1.0
                if c_conv[i] > 0:
                    kpi[K_TREATED_CONV] += 1.0
    if rec_cap > 0:
        ev_n[0] = min(n_ev, rec_cap)
        ev_n[1] = n_ev


@njit(cache=True, nogil=True, parallel=True)
def field_run(
    P,
    rate_cum,
    week_rate,
    region,
    nb_ptr,
    nb_idx,
    reg_ptr,
    reg_grids,
    travel_intra,
    travel_matrix,
    hh_cum,
    seg_cum,
    sale_seg,
    resp_seg,
    staff_grid,
    staff_always,
    gptr,
    tt_time,
    tt_kind,
    tt_staff,
    tt_shift_end,
    break_len,
    states,
    out_kpi,
    out_wait,
    out_onsite,
    out_fix,
    out_funnel,
    ev,
    ev_n,
):
    """Simulate R replications of the field-service model.

    Parameters
    ----------
    P : ndarray of float64, shape (N_PARAM,)
        Scalar parameters, indexed by the ``P_*`` constants.
    rate_cum : ndarray of float64, shape (n_grids,)
        Cumulative mean ticket rate per minute over the grids.
    week_rate : ndarray of float64, shape (168,)
        Rate multiplier per hour of the week (mean 1).
    region : ndarray of int64, shape (n_grids,)
        Dispatch region of each grid.
    nb_ptr, nb_idx : ndarray of int64
        CSR neighbour grids.
    reg_ptr, reg_grids : ndarray of int64
        CSR grids of each region.
    travel_intra : ndarray of float64, shape (n_grids,)
        Mean travel minutes to a job in the grid from inside it.
    travel_matrix : ndarray of float64, shape (n_grids, n_grids) or (0, 0)
        Mean travel minutes between grids, when given.
    hh_cum, seg_cum : ndarray of float64
        Cumulative households per grid and segment shares.
    sale_seg, resp_seg : ndarray of float64, shape (n_segments,)
        Sale chance per visit and campaign response multiplier by segment.
    staff_grid : ndarray of int64, shape (n_staff,)
        Staff grouped by grid (staff_grid non-decreasing).
    staff_always : ndarray of bool, shape (n_staff,)
        Staff on duty around the clock (no timetable entries).
    gptr : ndarray of int64, shape (n_grids + 1,)
        Offsets of each grid's staff.
    tt_time, tt_kind, tt_staff, tt_shift_end : ndarray
        The weekly timetable sorted by minute of the week: kind 0 shift start, 1 break
        start, 2 shift end; ``tt_shift_end`` is the end of the shift a start entry opens.
    break_len : ndarray of float64, shape (n_staff,)
        Break minutes.
    states : ndarray of uint64, shape (R, N_STREAMS, 4)
        Generator states, consumed.
    out_kpi : ndarray of float64, shape (R, N_KPI)
    out_wait, out_onsite, out_fix : ndarray of float64, shape (R, n_bins)
        Histograms (positive values; the last bin is open).
    out_funnel : ndarray of float64, shape (R, 3, 5)
    ev : ndarray of float64, shape (cap, N_EVCOLS)
        Event records of replication 0 (cap may be 0).
    ev_n : ndarray of int64, shape (2,)
        Records written and records produced.
    """
    for r in prange(states.shape[0]):
        cap = ev.shape[0]
        if r != 0:
            cap = 0
        _field_one(
            P,
            rate_cum,
            week_rate,
            region,
            nb_ptr,
            nb_idx,
            reg_ptr,
            reg_grids,
            travel_intra,
            travel_matrix,
            hh_cum,
            seg_cum,
            sale_seg,
            resp_seg,
            staff_grid,
            staff_always,
            gptr,
            tt_time,
            tt_kind,
            tt_staff,
            tt_shift_end,
            break_len,
            states[r],
            out_kpi[r],
            out_wait[r],
            out_onsite[r],
            out_fix[r],
            out_funnel[r],
            ev,
            ev_n,
            cap,
        )
