"""Numba event loops of the simulator (private).

Two kernels share one design: pending events ordered by ``(time, seq)`` (``seq`` is an
increasing counter, so ties break deterministically in scheduling order) in an
array-based binary heap (the field model keeps its staff events, at most one per staff
member, in a winner tree beside it), state in a few preallocated arrays, no allocation
per event, and one xoshiro256** generator per purpose and replication, seeded from
:class:`numpy.random.SeedSequence` in Python. The kernels release the GIL; the caller runs
blocks of replications on a pool of threads (:mod:`gridopt.sim.stats`), and each
replication writes only its own row of the caller-allocated ``out`` arrays, so results do
not depend on the number of threads. (Plain loops instead of ``prange`` keep the cold
compile shorter.) The kernels allocate nothing and keep no reference counts
(``_nrt=False``): the drivers allocate the work arrays once per block of replications, and
without reference counting no atomic increments hit array headers shared by the threads.
A job cannot be interrupted, so a staff member's on-site arrival is settled when the job is
assigned (its job end is the only event scheduled) unless events are being recorded.
The draws of every ticket (``_new_ticket``, ``_duration``, ``_normal``) are inlined where
they are used (``inline="always"``): a call would pass the generator state's array struct
field by field for every draw.

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
from numba import njit

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
P_REP_SIG = 53  # lognormal sigma of repair (and door-visit) durations
P_INS_SIG = 54  # lognormal sigma of install durations
N_PARAM = 55

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
ST_JOB = 2  # on a job: travelling from SF_SINCE, on site from SF_ONSITE to the job end
ST_BREAK = 4

_INF = np.inf


def thread_count(threads: int | None) -> int:
    """Threads to use: ``threads`` capped at Numba's thread count (None: all of them)."""
    n = int(numba.config.NUMBA_NUM_THREADS)
    return n if threads is None else max(1, min(int(threads), n))


# ------------------------------------------------------------------ RNG


@njit(cache=True, nogil=True, _nrt=False)
def _rotl(x, k):
    return (x << np.uint64(k)) | (x >> np.uint64(64 - k))


@njit(cache=True, nogil=True, _nrt=False)
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


@njit(cache=True, nogil=True, _nrt=False)
def _unif(s, i):
    """Uniform on [0, 1)."""
    return np.float64(_next64(s, i) >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(cache=True, nogil=True, _nrt=False)
def _expo(s, i):
    return -np.log(1.0 - _unif(s, i))


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _normal(s, i):
    """Standard normal by inversion (Acklam's rational approximation, relative error
    below 1.2e-9): one uniform, and no logarithm or cosine in the central 95 %."""
    p = (np.float64(_next64(s, i) >> np.uint64(11)) + 0.5) * (1.0 / 9007199254740992.0)
    if p < 0.02425:
        q = np.sqrt(-2.0 * np.log(p))
        return (
            (
                (
                    (
                        (-7.784894002430293e-03 * q - 3.223964580411365e-01) * q
                        - 2.400758277161838e00
                    )
                    * q
                    - 2.549732539343734e00
                )
                * q
                + 4.374664141464968e00
            )
            * q
            + 2.938163982698783e00
        ) / (
            (
                ((7.784695709041462e-03 * q + 3.224671290700398e-01) * q + 2.445134137142996e00) * q
                + 3.754408661907416e00
            )
            * q
            + 1.0
        )
    if p > 0.97575:
        q = np.sqrt(-2.0 * np.log(1.0 - p))
        return -(
            (
                (
                    (
                        (-7.784894002430293e-03 * q - 3.223964580411365e-01) * q
                        - 2.400758277161838e00
                    )
                    * q
                    - 2.549732539343734e00
                )
                * q
                + 4.374664141464968e00
            )
            * q
            + 2.938163982698783e00
        ) / (
            (
                ((7.784695709041462e-03 * q + 3.224671290700398e-01) * q + 2.445134137142996e00) * q
                + 3.754408661907416e00
            )
            * q
            + 1.0
        )
    q = p - 0.5
    r = q * q
    return (
        (
            (
                (
                    ((-3.969683028665376e01 * r + 2.209460984245205e02) * r - 2.759285104469687e02)
                    * r
                    + 1.383577518672690e02
                )
                * r
                - 3.066479806614716e01
            )
            * r
            + 2.506628277459239e00
        )
        * q
    ) / (
        (
            (
                ((-5.447609879822406e01 * r + 1.615858368580409e02) * r - 1.556989798598866e02) * r
                + 6.680131188771972e01
            )
            * r
            - 1.328068155288572e01
        )
        * r
        + 1.0
    )


@njit(cache=True, nogil=True, _nrt=False)
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


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _duration(s, i, dist, mean, cv, sig):
    """A positive duration with the given mean and coefficient of variation.

    ``sig`` is the lognormal's ``sqrt(log(1 + cv**2))``, computed once by the caller.
    """
    if dist == 2 or cv <= 0.0:
        if dist == 2:
            return mean * _expo(s, i)
        return mean
    if dist == 1:
        k = 1.0 / (cv * cv)
        return _gamma1(s, i, k) * mean / k
    return mean * np.exp(sig * _normal(s, i) - 0.5 * sig * sig)


@njit(cache=True, nogil=True, _nrt=False)
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


@njit(cache=True, nogil=True, _nrt=False)
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
#
# Two parallel arrays: the time and an int64 key. The key starts with the scheduling
# counter ``seq`` in its high bits, so ``(time, key)`` orders events by time and breaks
# ties in scheduling order; the field model packs the event kind and the staff / job
# index into the low bits (see :data:`KEY_SHIFT`). Sifting moves a hole instead of
# swapping, one write per level.

KEY_SHIFT = 28  # key = seq << KEY_SHIFT | kind << IDENT_BITS | ident
IDENT_BITS = 24
IDENT_MASK = (1 << IDENT_BITS) - 1
MAX_IDENT = 1 << IDENT_BITS  # staff and job slots must stay below this


@njit(cache=True, nogil=True, _nrt=False)
def _hpush(ht, hx, n, t, x):
    """Push ``(t, x)`` into a heap of size n; returns the new size."""
    pos = n
    while pos > 0:
        parent = (pos - 1) >> 1
        pt = ht[parent]
        if t < pt or (t == pt and x < hx[parent]):
            ht[pos] = pt
            hx[pos] = hx[parent]
            pos = parent
        else:
            break
    ht[pos] = t
    hx[pos] = x
    return n + 1


@njit(cache=True, nogil=True, _nrt=False)
def _hpop(ht, hx, n):
    """Remove the root of a heap of size n (read it first); returns the new size."""
    n -= 1
    t = ht[n]
    x = hx[n]
    pos = 0
    while True:
        c = 2 * pos + 1
        if c >= n:
            break
        c2 = c + 1
        if c2 < n and (ht[c2] < ht[c] or (ht[c2] == ht[c] and hx[c2] < hx[c])):
            c = c2
        if ht[c] < t or (ht[c] == t and hx[c] < x):
            ht[pos] = ht[c]
            hx[pos] = hx[c]
            pos = c
        else:
            break
    ht[pos] = t
    hx[pos] = x
    return n


@njit(cache=True, nogil=True, _nrt=False)
def _overlap(a, b, lo, hi):
    """Length of [a, b] inside [lo, hi]."""
    x = min(b, hi) - max(a, lo)
    return x if x > 0.0 else 0.0


@njit(cache=True, nogil=True, _nrt=False)
def _tset(nt, nx, n_leaves, k, t, x):
    """Set leaf k of a winner tree to ``(t, x)`` and carry the winners up to the root.

    The tree holds one pending event per staff member (leaves ``n_leaves + k``); node p
    holds the earliest ``(time, key)`` below it, so the root ``(nt[1], nx[1])`` is the
    next staff event. One update replaces a heap pop and push.
    """
    p = k + n_leaves
    nt[p] = t
    nx[p] = x
    while p > 1:
        ts = nt[p ^ 1]
        xs = nx[p ^ 1]
        win = (ts < t) | ((ts == t) & (xs < x))
        t = ts if win else t
        x = xs if win else x
        p >>= 1
        nt[p] = t
        nx[p] = x


@njit(cache=True, nogil=True, _nrt=False)
def _alias(prob, alias, u):
    """Index drawn from Walker's alias table with one uniform ``u``."""
    n = prob.shape[0]
    y = u * n
    i = int(y)
    if i >= n:
        i = n - 1
    if y - i < prob[i]:
        return i
    return alias[i]


# ------------------------------------------------------------------ M/M/c


@njit(cache=True, nogil=True, _nrt=False)
def _mmc_one(lam, mu, c, horizon, warmup, target, hbin, st, qcap, kpi, hist, ht, hs, qa, qs):
    # ht, hs: the heap of departures (c + 1); qa, qs: ring buffer (qcap) of the waiting
    # customers' arrival and service times
    nb = hist.shape[0]
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
            n = _hpop(ht, hs, n)
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
                n = _hpush(ht, hs, n, t + sv, seq)
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
                n = _hpush(ht, hs, n, t + sv, seq)
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


@njit(cache=True, nogil=True)
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
    ht = np.empty(c + 1, np.float64)
    hs = np.empty(c + 1, np.int64)
    qa = np.empty(qcap, np.float64)
    qs = np.empty(qcap, np.float64)
    for r in range(states.shape[0]):
        _mmc_one(
            lam,
            mu,
            c,
            horizon,
            warmup,
            target,
            hbin,
            states[r],
            qcap,
            out_kpi[r],
            out_hist[r],
            ht,
            hs,
            qa,
            qs,
        )


# ------------------------------------------------------------------ field model
#
# State is packed into a few 2-D arrays so that helpers take few arguments (every array
# argument is a struct of seven fields plus a reference count to maintain): one row per
# job slot (``JI`` integers, ``JF`` floats), per staff member (``SI``, ``SF``), per queue
# priority slot (``QH``: head, tail) and per grid (``GI``: first idle-stack slot, idle
# count, region). Staff who must look for work are put on a ``ready`` list and served by
# one block at the end of each event, so the dispatch logic is compiled once.

NPR = 4  # priorities per queue: 0 outage, 1 repair, 2 install, 3 door visit

JI_GRID = 0
JI_TYPE = 1
JI_PRIO = 2
JI_VISITS = 3
JI_SEG = 4
JI_TARGET = 5
JI_NUM = 6
JI_FIRST = 7  # 1 until the first on-site arrival
JI_COUNT = 8  # 1 if it counts in the statistics
JI_PREV = 9
JI_NEXT = 10
JI_Q = 11  # queue holding the job, -1 if none
N_JI = 12

JF_TARR = 0
JF_TQ = 1
JF_DUR = 2
JF_Z = 3
JF_SALE = 4
JF_ESC = 5  # pending escalation time (hybrid), -1 if none
N_JF = 6

SI_STATE = 0
SI_POS = 1
SI_JOB = 2
SI_OFF = 3  # shift end pending
SI_BRK = 4  # break pending
N_SI = 5

SF_SINCE = 0  # start of the current activity
SF_FROM = 1  # shift start
SF_TO = 2  # shift end
SF_BEND = 3  # break end
SF_ONSITE = 4  # on-site arrival of the current job
N_SF = 5

GI_PTR = 0
GI_IDLE = 1
GI_REGION = 2
N_GI = 3


@njit(cache=True, nogil=True, _nrt=False)
def _qpush(QH, qlen, JI, j, q, p, thr_i):
    """Append job j to priority list p of queue q.

    ``qlen[q]`` counts the tickets (door visits excluded) of queue q; the extra last entry
    counts the queues holding ``thr_i`` or more, so that a free staff member looks at the
    neighbours' queues only when one of them may need help.
    """
    slot = q * NPR + p
    tail = QH[slot, 1]
    JI[j, JI_Q] = q
    JI[j, JI_NEXT] = -1
    JI[j, JI_PREV] = tail
    if tail >= 0:
        JI[tail, JI_NEXT] = j
    else:
        QH[slot, 0] = j
    QH[slot, 1] = j
    if p < 3:
        qlen[q] += 1
        if qlen[q] == thr_i:
            qlen[qlen.shape[0] - 1] += 1


@njit(cache=True, nogil=True, _nrt=False)
def _qremove(QH, qlen, JI, j, thr_i):
    """Unlink job j from its queue."""
    q = JI[j, JI_Q]
    p = JI[j, JI_PRIO]
    slot = q * NPR + p
    a = JI[j, JI_PREV]
    b = JI[j, JI_NEXT]
    if a >= 0:
        JI[a, JI_NEXT] = b
    else:
        QH[slot, 0] = b
    if b >= 0:
        JI[b, JI_PREV] = a
    else:
        QH[slot, 1] = a
    JI[j, JI_Q] = -1
    if p < 3:
        if qlen[q] == thr_i:
            qlen[qlen.shape[0] - 1] -= 1
        qlen[q] -= 1


@njit(cache=True, nogil=True, _nrt=False)
def _qfirst(QH, q):
    """First job of queue q with priority <= 2, or -1."""
    s = q * NPR
    for p in range(3):
        j = QH[s + p, 0]
        if j >= 0:
            return j
    return -1


@njit(cache=True, nogil=True, _nrt=False)
def _idle_push(k, g, IDL, GI, reg_idle):
    pos = GI[g, GI_PTR] + GI[g, GI_IDLE]
    IDL[pos, 0] = k
    IDL[k, 1] = pos
    GI[g, GI_IDLE] += 1
    reg_idle[GI[g, GI_REGION]] += 1


@njit(cache=True, nogil=True, _nrt=False)
def _idle_remove(k, g, IDL, GI, reg_idle):
    last = GI[g, GI_PTR] + GI[g, GI_IDLE] - 1
    pos = IDL[k, 1]
    other = IDL[last, 0]
    IDL[pos, 0] = other
    IDL[other, 1] = pos
    IDL[k, 1] = -1
    GI[g, GI_IDLE] -= 1
    reg_idle[GI[g, GI_REGION]] -= 1


@njit(cache=True, nogil=True, _nrt=False)
def _rec(ev, n_ev, t, kind, num, k, g, p, val):
    """Write one event record when room is left."""
    if n_ev < ev.shape[0]:
        ev[n_ev, 0] = t
        ev[n_ev, 1] = kind
        ev[n_ev, 2] = num
        ev[n_ev, 3] = k
        ev[n_ev, 4] = g
        ev[n_ev, 5] = p
        ev[n_ev, 6] = val


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _new_ticket(j, ta, g, jt, st, stream, P, dist, seg_cum, JI, JF, num, kpi):
    """Fill job slot j; draws come in a fixed order per ticket (common random numbers)."""
    JI[j, JI_GRID] = g
    JI[j, JI_TYPE] = jt
    JI[j, JI_PRIO] = 0 if jt == J_OUTAGE else (2 if jt == J_INSTALL else 1)
    JF[j, JF_TARR] = ta
    JI[j, JI_SEG] = _pick(seg_cum, _unif(st, stream))
    if jt == J_INSTALL:
        JF[j, JF_DUR] = _duration(st, S_SERVICE, dist, P[P_INS_MEAN], P[P_INS_CV], P[P_INS_SIG])
    else:
        JF[j, JF_DUR] = _duration(st, S_SERVICE, dist, P[P_REP_MEAN], P[P_REP_CV], P[P_REP_SIG])
    v = 1
    if jt != J_INSTALL:
        while _unif(st, S_SERVICE) >= P[P_FIX] and v < 50:
            v += 1
    JI[j, JI_VISITS] = v
    JF[j, JF_Z] = _normal(st, S_TRAVEL)
    JF[j, JF_SALE] = _unif(st, S_SALE)
    JF[j, JF_ESC] = -1.0
    JI[j, JI_TARGET] = -1
    JI[j, JI_NUM] = num
    JI[j, JI_FIRST] = 1
    if P[P_WARMUP] <= ta < P[P_HORIZON]:
        JI[j, JI_COUNT] = 1
        kpi[K_ARRIVALS] += 1.0
    else:
        JI[j, JI_COUNT] = 0


@njit(cache=True, nogil=True, _nrt=False)
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


@njit(cache=True, nogil=True, _nrt=False)
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


@njit(cache=True, nogil=True, error_model="numpy", _nrt=False)
def _field_one(
    P,
    rate_cum,
    alias_p,
    alias_i,
    tr_time,
    tr_grid,
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
    JI,
    JF,
    free,
    QH,
    qlen,
    SI,
    SF,
    IDL,
    ready,
    GI,
    reg_idle,
    ht,
    hx,
    nt,
    nx,
    c_grid,
    c_seg,
    c_hold,
    c_conv,
    c_contacts,
    c_missed,
    c_next,
    door_head,
):
    n_grids = rate_cum.shape[0]
    n_staff = staff_grid.shape[0]
    horizon = P[P_HORIZON]
    warmup = P[P_WARMUP]
    t_stop = horizon + P[P_DRAIN]
    policy = int(P[P_POLICY])
    thr = P[P_HELP_THR]
    # a queue may need help from its neighbours with thr_i tickets or more (and never
    # with none); _qpush / _qremove count such queues in qlen[nq]
    thr_i = 1
    if thr > 1.0:
        thr_i = int(np.ceil(thr)) if thr < 4e18 else 1 << 62
    nq = qlen.shape[0] - 1
    dist = int(P[P_DIST])
    travel_cv = P[P_TRAVEL_CV]
    tsig2 = np.log(1.0 + travel_cv * travel_cv)
    tsig = np.sqrt(tsig2)
    other_f = P[P_TRAVEL_OTHER]
    use_matrix = travel_matrix.shape[0] == n_grids
    inv_hbin = 1.0 / P[P_HBIN]
    inv_fbin = 1.0 / P[P_FBIN]
    sla = P[P_SLA]
    wait_target = P[P_TARGET]
    nbw = h_wait.shape[0]
    nbo = h_onsite.shape[0]
    nbf = h_fix.shape[0]
    total_rate = rate_cum[n_grids - 1]
    rec = rec_cap > 0
    ev_rec = ev[:rec_cap]

    # ---- jobs (pool with a free stack)
    jc = JI.shape[0]
    for i in range(jc):
        JI[i, JI_Q] = -1
        JF[i, JF_ESC] = -1.0
        free[i] = jc - 1 - i
    n_free = jc
    n_open = 0  # open tickets of the horizon (door visits excluded)
    n_wait = 0  # waiting tickets (door visits excluded)
    n_tickets = 0

    # ---- queues: grids 0..G-1, regions G..G+R-1
    QH[:] = -1
    qlen[:] = 0

    # ---- staff
    SI[:] = 0
    SF[:] = 0.0
    IDL[:] = -1  # idle stacks by grid; position of staff k
    n_ready = 0
    for k in range(n_staff):
        SI[k, SI_POS] = staff_grid[k]
        SI[k, SI_JOB] = -1
    for g in range(n_grids):
        GI[g, GI_PTR] = gptr[g]
        GI[g, GI_IDLE] = 0
        GI[g, GI_REGION] = region[g]
    reg_idle[:] = 0

    # ---- heap: jobs in desk / revisit / burst, and bursts; winner tree: staff events
    hn = 0
    seq = 0
    n_leaves = nt.shape[0] // 2
    nt[:] = _INF
    nx[:] = 0
    t_pend = -1  # staff whose tree event is being handled
    x_pend = 0

    # ---- campaign state
    n_targets = c_grid.shape[0]
    c_hold[:] = 0
    c_conv[:] = 0  # 0 no, 1 campaign, 2 organic
    c_contacts[:] = 0
    c_missed[:] = 0  # 1 if wave 2 never reached them
    c_next[:] = -1
    door_head[:] = -1
    w2_pos = 0
    fat = P[P_FATIGUE]
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
            SI[k, SI_STATE] = ST_IDLE
            SF[k, SF_FROM] = 0.0
            SF[k, SF_TO] = _INF
            _idle_push(k, staff_grid[k], IDL, GI, reg_idle)
    n_tt = tt_time.shape[0]
    tt_i = 0
    tt_week = 0
    next_tt = tt_time[0] if n_tt > 0 else _INF

    # ---- arrivals: a replayed stream, or piecewise-constant rate per hour of the week
    n_trace = tr_time.shape[0]
    tr_i = 0
    hour = 0
    e_left = _expo(st, S_ARRIVAL)
    next_arr = _INF
    t_cur = 0.0
    if n_trace > 0:
        t_cur = horizon
        if tr_time[0] < horizon:
            next_arr = tr_time[0]
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
        if t_cur >= horizon:
            next_arr = _INF
            break
    if P[P_OUT_RATE] > 0.0:
        x = (seq << KEY_SHIFT) | (EV_BURST << IDENT_BITS)
        hn = _hpush(ht, hx, hn, _expo(st, S_OUTAGE) / P[P_OUT_RATE], x)
        seq += 1

    day = 0
    next_day = 0.0
    mid_day = int((warmup + horizon) / 2.0 / 1440.0)
    t_last = 0.0
    events = 0
    kpi[K_OVERFLOW] = -1.0
    busy_now = 0
    n_ev = 0
    backlog_int = 0.0
    busy_int = 0.0
    # hot counters live in registers, written to kpi once at the end
    t_travel = 0.0
    t_repair = 0.0
    a_onsite_n = 0.0
    a_onsite_sum = 0.0
    a_sla_hit = 0.0
    a_wait_n = 0.0
    a_wait_sum = 0.0
    a_wait_pos = 0.0
    a_within = 0.0
    a_helped = 0.0
    a_visits = 0.0
    a_fix_n = 0.0
    a_fix_sum = 0.0
    a_revisits = 0.0

    while True:
        # ---- pick the next source: day boundary, timetable, heap, arrival
        t = next_day
        src = 0
        if next_tt < t:
            t = next_tt
            src = 1
        if hn > 0 and ht[0] < t:
            t = ht[0]
            src = 2
        if nt[1] < t or (src == 2 and nt[1] == t and nx[1] < hx[0]):
            t = nt[1]
            src = 4
        if next_arr < t:
            t = next_arr
            src = 3
        if t >= horizon and n_open == 0:
            break
        if t >= t_stop or t == _INF:
            break
        if t_last < horizon and t > warmup:
            ov = _overlap(t_last, t, warmup, horizon)
            backlog_int += n_wait * ov
            busy_int += busy_now * ov
        t_last = t
        events += 1

        wake_grid = -1  # a grid whose idle staff should look for work
        wake_region = -1
        job = -1
        if src == 2 or src == 4:
            if src == 2:
                x = hx[0]
                hn = _hpop(ht, hx, hn)
            else:
                # the tree leaf is cleared at the end of the event unless rescheduled
                x = nx[1]
                t_pend = x & IDENT_MASK
                x_pend = x
            kind = (x >> IDENT_BITS) & 15
            ident = x & IDENT_MASK
            if kind == EV_TRAVEL_END:
                # only scheduled when events are recorded: everything else about the
                # on-site arrival was settled when the job was assigned
                k = ident
                j = SI[k, SI_JOB]
                _rec(
                    ev_rec,
                    n_ev,
                    t,
                    EV_TRAVEL_END,
                    JI[j, JI_NUM],
                    k,
                    JI[j, JI_GRID],
                    JI[j, JI_PRIO],
                    t - SF[k, SF_SINCE],
                )
                n_ev += 1
                x = (seq << KEY_SHIFT) | (EV_JOB_END << IDENT_BITS) | k
                _tset(nt, nx, n_leaves, k, t + JF[j, JF_DUR], x)
                seq += 1
            elif kind == EV_JOB_END:
                k = ident
                j = SI[k, SI_JOB]
                busy_now -= 1
                t_on = SF[k, SF_ONSITE]
                t_travel += _overlap(SF[k, SF_SINCE], t_on, warmup, horizon)
                ot = _overlap(t_on, t, warmup, horizon)
                jt = JI[j, JI_TYPE]
                g = JI[j, JI_GRID]
                seg = JI[j, JI_SEG]
                SI[k, SI_POS] = g
                SI[k, SI_JOB] = -1
                freed = False
                if jt == J_DOOR:
                    # door visit of wave 3
                    kpi[K_T_DOOR] += ot
                    i = JI[j, JI_TARGET]
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
                                if rec:
                                    _rec(ev_rec, n_ev, t, EV_SALE, -1, k, g, 3, 3.0)
                                    n_ev += 1
                    freed = True
                else:
                    t_repair += ot
                    a_visits += 1.0
                    # sale chance at this visit
                    u = JF[j, JF_SALE]
                    p = sale_seg[seg]
                    if jt == J_INSTALL:
                        p *= P[P_SALE_INSTALL]
                    else:
                        p *= P[P_SALE_REPAIR]
                        if u < p:  # the wait decay only matters below the undecayed chance
                            p *= np.exp(-(t - JF[j, JF_TARR]) / P[P_SALE_DECAY])
                    if u < p:
                        if JI[j, JI_COUNT] == 1:
                            if jt == J_INSTALL:
                                kpi[K_SALES_INSTALL] += 1.0
                            else:
                                kpi[K_SALES_REPAIR] += 1.0
                        if rec:
                            channel = 1.0 if jt == J_INSTALL else 0.0
                            _rec(
                                ev_rec,
                                n_ev,
                                t,
                                EV_SALE,
                                JI[j, JI_NUM],
                                k,
                                g,
                                JI[j, JI_PRIO],
                                channel,
                            )
                            n_ev += 1
                    JI[j, JI_VISITS] -= 1
                    if JI[j, JI_VISITS] <= 0:
                        if JI[j, JI_COUNT] == 1:
                            fx = t - JF[j, JF_TARR]
                            a_fix_n += 1.0
                            a_fix_sum += fx
                            b = int(fx * inv_fbin)
                            h_fix[b if b < nbf else nbf - 1] += 1.0
                        freed = True
                        n_open -= 1
                    else:
                        if JI[j, JI_COUNT] == 1:
                            a_revisits += 1.0
                        JF[j, JF_DUR] = _duration(
                            st, S_REVISIT, dist, P[P_REP_MEAN], P[P_REP_CV], P[P_REP_SIG]
                        )
                        JF[j, JF_Z] = _normal(st, S_REVISIT)
                        JF[j, JF_SALE] = _unif(st, S_REVISIT)
                        x = (seq << KEY_SHIFT) | (EV_ARRIVAL << IDENT_BITS) | j
                        hn = _hpush(ht, hx, hn, t + P[P_REVISIT_DELAY], x)
                        seq += 1
                if rec:
                    again = 0.0 if freed else 1.0
                    _rec(ev_rec, n_ev, t, EV_JOB_END, JI[j, JI_NUM], k, g, JI[j, JI_PRIO], again)
                    n_ev += 1
                if freed:
                    free[n_free] = j
                    n_free += 1
                if SI[k, SI_OFF] == 1:
                    SI[k, SI_OFF] = 0
                    if t > SF[k, SF_TO]:
                        kpi[K_T_OVERTIME] += _overlap(SF[k, SF_TO], t, warmup, horizon)
                    kpi[K_T_ONSHIFT] += _overlap(SF[k, SF_FROM], t, warmup, horizon)
                    SI[k, SI_STATE] = ST_OFF
                    if rec:
                        _rec(ev_rec, n_ev, t, EV_SHIFT_END, -1, k, staff_grid[k], -1, 0.0)
                        n_ev += 1
                elif SI[k, SI_BRK] == 1:
                    SI[k, SI_BRK] = 0
                    SI[k, SI_STATE] = ST_BREAK
                    SF[k, SF_SINCE] = t
                    SF[k, SF_BEND] = t + break_len[k]
                    x = (seq << KEY_SHIFT) | (EV_BREAK_END << IDENT_BITS) | k
                    _tset(nt, nx, n_leaves, k, t + break_len[k], x)
                    seq += 1
                else:
                    SI[k, SI_STATE] = ST_OFF
                    ready[n_ready] = k
                    n_ready += 1
            elif kind == EV_ARRIVAL:
                job = ident
            elif kind == EV_BREAK_END:
                k = ident
                if SI[k, SI_STATE] == ST_BREAK and SF[k, SF_BEND] == t:
                    kpi[K_T_BREAK] += _overlap(SF[k, SF_SINCE], t, warmup, horizon)
                    SI[k, SI_STATE] = ST_OFF
                    ready[n_ready] = k
                    n_ready += 1
            elif kind == EV_DISPATCH:
                j = ident
                r = region[JI[j, JI_GRID]]
                _qpush(QH, qlen, JI, j, n_grids + r, JI[j, JI_PRIO], thr_i)
                JF[j, JF_TQ] = t
                n_wait += 1
                wake_region = r
            elif kind == EV_ESCALATE:
                j = ident
                q = JI[j, JI_Q]
                if JF[j, JF_ESC] == t and q >= 0 and q < n_grids:
                    _qremove(QH, qlen, JI, j, thr_i)
                    r = region[JI[j, JI_GRID]]
                    _qpush(QH, qlen, JI, j, n_grids + r, JI[j, JI_PRIO], thr_i)
                    wake_region = r
            elif kind == EV_BURST:
                size = 1 + _poisson_small(st, S_OUTAGE, P[P_OUT_SIZE] - 1.0)
                g = _alias(alias_p, alias_i, _unif(st, S_OUTAGE))
                if rec:
                    _rec(ev_rec, n_ev, t, EV_BURST, -1, -1, g, 0, size)
                    n_ev += 1
                for _ in range(size):
                    if n_free == 0:
                        kpi[K_OVERFLOW] = t
                        break
                    n_free -= 1
                    j = free[n_free]
                    ta = t + _unif(st, S_OUTAGE) * P[P_OUT_SPREAD]
                    _new_ticket(
                        j, ta, g, J_OUTAGE, st, S_OUTAGE, P, dist, seg_cum, JI, JF, n_tickets, kpi
                    )
                    n_tickets += 1
                    n_open += 1
                    x = (seq << KEY_SHIFT) | (EV_ARRIVAL << IDENT_BITS) | j
                    hn = _hpush(ht, hx, hn, ta, x)
                    seq += 1
                nxt = t + _expo(st, S_OUTAGE) / P[P_OUT_RATE]
                if nxt < horizon:
                    x = (seq << KEY_SHIFT) | (EV_BURST << IDENT_BITS)
                    hn = _hpush(ht, hx, hn, nxt, x)
                    seq += 1
        elif src == 3:
            # ---------------- regular ticket arrival
            if n_free == 0:
                kpi[K_OVERFLOW] = t
                break
            n_free -= 1
            j = free[n_free]
            if n_trace > 0:
                g = tr_grid[tr_i]
                tr_i += 1
            else:
                g = _alias(alias_p, alias_i, _unif(st, S_ARRIVAL))
            jt = J_INSTALL if _unif(st, S_ARRIVAL) < P[P_INSTALL_SHARE] else J_REPAIR
            _new_ticket(j, t, g, jt, st, S_ARRIVAL, P, dist, seg_cum, JI, JF, n_tickets, kpi)
            n_tickets += 1
            n_open += 1
            job = j
            # next arrival: spend an Exp(1) budget of integrated rate hour by hour
            next_arr = _INF
            t_cur = t
            if n_trace > 0:
                t_cur = horizon
                if tr_i < n_trace:
                    next_arr = tr_time[tr_i]
            else:
                e_left = _expo(st, S_ARRIVAL)
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
        elif src == 1:
            # ---------------- timetable: shift start / break start / shift end
            k = tt_staff[tt_i]
            kind = tt_kind[tt_i]
            sk = SI[k, SI_STATE]
            if kind == 0:
                if sk == ST_OFF and t < t_stop:
                    g = staff_grid[k]
                    SI[k, SI_STATE] = ST_IDLE
                    SI[k, SI_POS] = g
                    SF[k, SF_FROM] = t
                    SF[k, SF_TO] = tt_week * 10080.0 + tt_shift_end[tt_i]
                    SI[k, SI_OFF] = 0
                    SI[k, SI_BRK] = 0
                    if rec:
                        _rec(ev_rec, n_ev, t, EV_SHIFT_START, -1, k, g, -1, 0.0)
                        n_ev += 1
                    _idle_push(k, g, IDL, GI, reg_idle)
                    wake_grid = g
            elif kind == 1:
                if sk == ST_IDLE:
                    _idle_remove(k, staff_grid[k], IDL, GI, reg_idle)
                    SI[k, SI_STATE] = ST_BREAK
                    SF[k, SF_SINCE] = t
                    SF[k, SF_BEND] = t + break_len[k]
                    x = (seq << KEY_SHIFT) | (EV_BREAK_END << IDENT_BITS) | k
                    _tset(nt, nx, n_leaves, k, t + break_len[k], x)
                    seq += 1
                elif sk == ST_JOB:
                    SI[k, SI_BRK] = 1
            else:
                if sk == ST_IDLE or sk == ST_BREAK:
                    if sk == ST_IDLE:
                        _idle_remove(k, staff_grid[k], IDL, GI, reg_idle)
                        if rec:
                            _rec(ev_rec, n_ev, t, EV_SHIFT_END, -1, k, staff_grid[k], -1, 0.0)
                            n_ev += 1
                    else:
                        kpi[K_T_BREAK] += _overlap(SF[k, SF_SINCE], t, warmup, horizon)
                        _tset(nt, nx, n_leaves, k, _INF, 0)  # no break end
                    kpi[K_T_ONSHIFT] += _overlap(SF[k, SF_FROM], t, warmup, horizon)
                    SI[k, SI_STATE] = ST_OFF
                elif sk == ST_JOB:
                    SI[k, SI_OFF] = 1
            tt_i += 1
            if tt_i == n_tt:
                tt_i = 0
                tt_week += 1
            next_tt = tt_week * 10080.0 + tt_time[tt_i]
            if next_tt >= t_stop:
                next_tt = _INF
        else:
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
                            JI[j, JI_GRID] = g
                            JI[j, JI_TYPE] = J_DOOR
                            JI[j, JI_PRIO] = 3
                            JF[j, JF_TARR] = t
                            JF[j, JF_TQ] = t
                            JF[j, JF_DUR] = _duration(
                                st, S_DOOR, dist, P[P_W3_DUR], P[P_REP_CV], P[P_REP_SIG]
                            )
                            JI[j, JI_VISITS] = 1
                            JF[j, JF_Z] = _normal(st, S_DOOR)
                            JF[j, JF_SALE] = 0.0
                            JF[j, JF_ESC] = -1.0
                            JI[j, JI_SEG] = c_seg[i]
                            JI[j, JI_TARGET] = i
                            JI[j, JI_NUM] = -1
                            JI[j, JI_FIRST] = 0
                            JI[j, JI_COUNT] = 0
                            _qpush(QH, qlen, JI, j, g, 3, thr_i)
                            # an idle staff member of the grid will take it
                            if GI[g, GI_IDLE] > 0:
                                k = IDL[GI[g, GI_PTR] + GI[g, GI_IDLE] - 1, 0]
                                _idle_remove(k, g, IDL, GI, reg_idle)
                                SI[k, SI_STATE] = ST_OFF
                                ready[n_ready] = k
                                n_ready += 1
            day += 1
            next_day = day * 1440.0
            if next_day >= horizon:
                next_day = _INF

        if job >= 0:
            # a ticket (new, burst or revisit) enters dispatch
            j = job
            g = JI[j, JI_GRID]
            if rec and JI[j, JI_FIRST] == 1:
                _rec(ev_rec, n_ev, t, EV_ARRIVAL, JI[j, JI_NUM], -1, g, JI[j, JI_PRIO], 0.0)
                n_ev += 1
            if policy == 0 and P[P_DESK] > 0.0:
                delay = P[P_DESK] * _expo(st, S_DESK)
                x = (seq << KEY_SHIFT) | (EV_DISPATCH << IDENT_BITS) | j
                hn = _hpush(ht, hx, hn, t + delay, x)
                seq += 1
            elif policy == 0:
                r = region[g]
                _qpush(QH, qlen, JI, j, n_grids + r, JI[j, JI_PRIO], thr_i)
                JF[j, JF_TQ] = t
                n_wait += 1
                wake_region = r
            else:
                _qpush(QH, qlen, JI, j, g, JI[j, JI_PRIO], thr_i)
                JF[j, JF_TQ] = t
                n_wait += 1
                wake_grid = g
                if policy == 2 and GI[g, GI_IDLE] == 0:
                    JF[j, JF_ESC] = t + P[P_DESK]
                    x = (seq << KEY_SHIFT) | (EV_ESCALATE << IDENT_BITS) | j
                    hn = _hpush(ht, hx, hn, t + P[P_DESK], x)
                    seq += 1

        # ---------------- wake idle staff who can take the new work
        if wake_grid >= 0:
            g = wake_grid
            k = -1
            gk = g
            if GI[g, GI_IDLE] > 0:
                k = IDL[GI[g, GI_PTR] + GI[g, GI_IDLE] - 1, 0]
            elif policy == 1 and qlen[g] >= thr:
                for e in range(nb_ptr[g], nb_ptr[g + 1]):
                    h = nb_idx[e]
                    if GI[h, GI_IDLE] > 0:
                        k = IDL[GI[h, GI_PTR] + GI[h, GI_IDLE] - 1, 0]
                        gk = h
                        break
            elif policy == 0:
                # central: a shift start wakes the region queue too
                wake_region = region[g]
            if k >= 0:
                _idle_remove(k, gk, IDL, GI, reg_idle)
                SI[k, SI_STATE] = ST_OFF
                ready[n_ready] = k
                n_ready += 1
        if wake_region >= 0 and reg_idle[wake_region] > 0:
            r = wake_region
            for e in range(reg_ptr[r], reg_ptr[r + 1]):
                h = reg_grids[e]
                if GI[h, GI_IDLE] > 0:
                    k = IDL[GI[h, GI_PTR] + GI[h, GI_IDLE] - 1, 0]
                    _idle_remove(k, h, IDL, GI, reg_idle)
                    SI[k, SI_STATE] = ST_OFF
                    ready[n_ready] = k
                    n_ready += 1
                    break

        # ---------------- staff on the ready list take their next job or go idle
        ri = 0
        while ri < n_ready:
            k = ready[ri]
            ri += 1
            g = staff_grid[k]
            j = -1
            if policy == 0:
                j = _qfirst(QH, n_grids + region[g])
            else:
                j = _qfirst(QH, g)
                if j < 0:
                    if policy == 1:
                        best = -1
                        best_len = 0
                        if qlen[nq] == 0:
                            e_end = 0  # no queue needs help: skip the neighbours
                        else:
                            e_end = nb_ptr[g + 1]
                        for e in range(nb_ptr[g], e_end):
                            h = nb_idx[e]
                            if qlen[h] >= thr and qlen[h] > best_len:
                                best = h
                                best_len = qlen[h]
                        if best >= 0:
                            j = _qfirst(QH, best)
                    else:
                        j = _qfirst(QH, n_grids + region[g])
            if j < 0:
                j = QH[g * NPR + 3, 0]  # a door visit of the own grid
            if j < 0:
                SI[k, SI_STATE] = ST_IDLE
                _idle_push(k, g, IDL, GI, reg_idle)
                continue
            p = JI[j, JI_PRIO]
            _qremove(QH, qlen, JI, j, thr_i)
            if p < 3:
                n_wait -= 1
                if JI[j, JI_FIRST] == 1 and JI[j, JI_COUNT] == 1:
                    w = t - JF[j, JF_TQ]
                    a_wait_n += 1.0
                    a_wait_sum += w
                    if w > 0.0:
                        a_wait_pos += 1.0
                        b = int(w * inv_hbin)
                        h_wait[b if b < nbw else nbw - 1] += 1.0
                    if w <= wait_target:
                        a_within += 1.0
                    if JI[j, JI_GRID] != g:
                        a_helped += 1.0
            busy_now += 1
            a = SI[k, SI_POS]
            b2 = JI[j, JI_GRID]
            if use_matrix:
                mean = travel_matrix[a, b2]
            elif a == b2:
                mean = travel_intra[b2]
            else:
                mean = travel_intra[b2] * other_f
            tr = mean * np.exp(tsig * JF[j, JF_Z] - 0.5 * tsig2) if mean > 0.0 else 0.0
            t_on = t + tr
            SI[k, SI_STATE] = ST_JOB
            SI[k, SI_JOB] = j
            SF[k, SF_SINCE] = t
            SF[k, SF_ONSITE] = t_on
            # Nothing can interrupt a job, so its on-site arrival is known now: it is
            # settled here rather than as an event of its own (one event fewer per visit).
            # An arrival at or after the end of the run is not counted, as before.
            if JI[j, JI_FIRST] == 1:
                JI[j, JI_FIRST] = 0
                if JI[j, JI_COUNT] == 1 and t_on < t_stop:
                    resp = t_on - JF[j, JF_TARR]
                    a_onsite_n += 1.0
                    a_onsite_sum += resp
                    b = int(resp * inv_hbin)
                    h_onsite[b if b < nbo else nbo - 1] += 1.0
                    if resp <= sla:
                        a_sla_hit += 1.0
                    if JI[j, JI_TYPE] == J_OUTAGE:
                        kpi[K_OUTAGE_N] += 1.0
                        kpi[K_OUTAGE_SUM] += resp
            if rec:
                # records stay in time order: the on-site arrival is an event of its own
                x = (seq << KEY_SHIFT) | (EV_TRAVEL_END << IDENT_BITS) | k
                _tset(nt, nx, n_leaves, k, t_on, x)
            else:
                x = (seq << KEY_SHIFT) | (EV_JOB_END << IDENT_BITS) | k
                _tset(nt, nx, n_leaves, k, t_on + JF[j, JF_DUR], x)
            seq += 1
            if rec:
                _rec(ev_rec, n_ev, t, EV_ASSIGN, JI[j, JI_NUM], k, b2, p, tr)
                n_ev += 1
        n_ready = 0
        if t_pend >= 0:
            if nx[n_leaves + t_pend] == x_pend:
                _tset(nt, nx, n_leaves, t_pend, _INF, 0)
            t_pend = -1

    # ---- close the books
    for k in range(n_staff):
        sk = SI[k, SI_STATE]
        if sk != ST_OFF:
            if sk == ST_BREAK:
                kpi[K_T_BREAK] += _overlap(SF[k, SF_SINCE], horizon, warmup, horizon)
            elif sk == ST_JOB:
                t_on = SF[k, SF_ONSITE]
                t_travel += _overlap(SF[k, SF_SINCE], min(t_on, horizon), warmup, horizon)
                ov = _overlap(t_on, horizon, warmup, horizon)
                j = SI[k, SI_JOB]
                if j >= 0 and JI[j, JI_TYPE] == J_DOOR:
                    kpi[K_T_DOOR] += ov
                else:
                    t_repair += ov
            kpi[K_T_ONSHIFT] += _overlap(SF[k, SF_FROM], horizon, warmup, horizon)
    kpi[K_ONSITE_N] += a_onsite_n
    kpi[K_ONSITE_SUM] += a_onsite_sum
    kpi[K_SLA_HIT] += a_sla_hit
    kpi[K_WAIT_N] += a_wait_n
    kpi[K_WAIT_SUM] += a_wait_sum
    kpi[K_WAIT_POS] += a_wait_pos
    kpi[K_WITHIN] += a_within
    kpi[K_HELPED] += a_helped
    kpi[K_VISITS] += a_visits
    kpi[K_FIX_N] += a_fix_n
    kpi[K_FIX_SUM] += a_fix_sum
    kpi[K_REVISITS] += a_revisits
    kpi[K_T_TRAVEL] += t_travel
    kpi[K_T_REPAIR] += t_repair
    kpi[K_BACKLOG_INT] += backlog_int
    kpi[K_BUSY_INT] += busy_int
    kpi[K_BACKLOG_END] = n_wait
    kpi[K_UNFINISHED] = n_open
    kpi[K_EVENTS] = events
    for i in range(n_targets):
        if c_hold[i] == 1:
            kpi[K_HOLD_N] += 1.0
            if c_conv[i] > 0:
                kpi[K_HOLD_CONV] += 1.0
        else:
            kpi[K_TREATED_N] += 1.0
            if c_conv[i] > 0:
                kpi[K_TREATED_CONV] += 1.0
    if rec:
        ev_n[0] = min(n_ev, rec_cap)
        ev_n[1] = n_ev


@njit(cache=True, nogil=True)
def field_run(
    P,
    rate_cum,
    alias_p,
    alias_i,
    tr_time,
    tr_grid,
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
    alias_p, alias_i : ndarray of float64 / int64, shape (n_grids,)
        Walker's alias table of the grids' ticket rates (grid of a new ticket).
    tr_time, tr_grid : ndarray of float64 / int64, shape (n_arrivals,)
        A sorted ticket stream to replay instead of Poisson arrivals (may be empty).
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
    # work arrays, allocated once and reset by every replication
    n_grids = rate_cum.shape[0]
    n_staff = staff_grid.shape[0]
    nq = n_grids + reg_ptr.shape[0] - 1
    jc = int(P[P_JOB_CAP])
    n_targets = int(P[P_N_TARGETS])
    n_leaves = 1
    while n_leaves < n_staff:
        n_leaves *= 2
    JI = np.empty((jc, N_JI), np.int64)
    JF = np.empty((jc, N_JF), np.float64)
    free = np.empty(jc, np.int64)
    QH = np.empty((nq * NPR, 2), np.int64)
    qlen = np.empty(nq + 1, np.int64)  # the last: queues at the help threshold
    SI = np.empty((n_staff, N_SI), np.int64)
    SF = np.empty((n_staff, N_SF), np.float64)
    IDL = np.empty((n_staff, 2), np.int64)
    ready = np.empty(n_staff, np.int64)
    GI = np.empty((n_grids, N_GI), np.int64)
    reg_idle = np.empty(reg_ptr.shape[0] - 1, np.int64)
    ht = np.empty(jc + 4, np.float64)
    hx = np.empty(jc + 4, np.int64)
    nt = np.empty(2 * n_leaves, np.float64)
    nx = np.empty(2 * n_leaves, np.int64)
    c_grid = np.empty(n_targets, np.int64)
    c_seg = np.empty(n_targets, np.int64)
    c_hold = np.empty(n_targets, np.int64)
    c_conv = np.empty(n_targets, np.int64)
    c_contacts = np.empty(n_targets, np.int64)
    c_missed = np.empty(n_targets, np.int64)
    c_next = np.empty(n_targets, np.int64)
    door_head = np.empty(n_grids if n_targets > 0 else 0, np.int64)
    for r in range(states.shape[0]):
        cap = ev.shape[0]
        if r != 0:
            cap = 0
        _field_one(
            P,
            rate_cum,
            alias_p,
            alias_i,
            tr_time,
            tr_grid,
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
            JI,
            JF,
            free,
            QH,
            qlen,
            SI,
            SF,
            IDL,
            ready,
            GI,
            reg_idle,
            ht,
            hx,
            nt,
            nx,
            c_grid,
            c_seg,
            c_hold,
            c_conv,
            c_contacts,
            c_missed,
            c_next,
            door_head,
        )
