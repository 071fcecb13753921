"""Scoring-core microbenchmarks: full evaluation and delta evaluation of moves.

Each figure is reported (``extra_info``, CPU time of the process) as a ratio against a plain-NumPy full
re-evaluation of the same layout measured in the same run: ``speedup_vs_numpy`` for full
evaluation, ``moves_per_s`` and ``speedup_vs_numpy_full`` (delta evaluations per NumPy
full evaluation) for moves. Kernels are compiled in a session fixture, never timed.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from conftest import sizes

from gridopt.model import Units
from gridopt.score import Objective, Scorer
from gridopt.score import _kernels as K

N_UNITS = sizes([10_000], [10_000, 100_000, 1_000_000])
N_MOVES = 1_000_000


def lattice_units(n: int, seed: int = 0) -> Units:
    """A square lattice of about ``n`` units with three attributes (metres apart 100)."""
    side = int(round(np.sqrt(n)))
    rng = np.random.default_rng(seed)
    idx = np.arange(side * side).reshape(side, side)
    edges = np.concatenate(
        [
            np.column_stack([idx[:, :-1].ravel(), idx[:, 1:].ravel()]),
            np.column_stack([idx[:-1, :].ravel(), idx[1:, :].ravel()]),
        ]
    )
    xx, yy = np.meshgrid(np.arange(side) * 100.0, np.arange(side) * 100.0)
    m = side * side
    return Units.from_edges(
        ids=np.arange(m), x=xx.ravel(), y=yy.ravel(),
        attributes={"households": rng.integers(1, 60, m), "subscribers": rng.integers(0, 40, m),
                    "tickets_per_day": rng.random(m)},
        edges=edges,
    )  # fmt: skip


def block_labels(units: Units, n_grids: int) -> np.ndarray:
    """Square blocks: a contiguous layout of about n_grids grids."""
    side = int(round(np.sqrt(units.n_units)))
    per = int(np.ceil(side / np.sqrt(n_grids)))
    gx = (units.x / 100).astype(int) // per
    gy = (units.y / 100).astype(int) // per
    ncol = int(gx.max()) + 1
    return np.ascontiguousarray(gy * ncol + gx, dtype=np.int32)


OBJ = Objective(
    balance={"households": 0.05, "subscribers": 0.05, "tickets_per_day": 0.1},
    border_weight=0.1,
)


def numpy_full(units: Units, labels: np.ndarray, k: int, sc: Scorer) -> float:
    """Plain NumPy full evaluation of the same objective (the reference)."""
    attrs = sc.attrs
    tot = np.stack(
        [np.bincount(labels, weights=attrs[:, t], minlength=k) for t in range(attrs.shape[1])], 1
    )
    r = tot / sc.target - 1.0
    pen = (sc.cs * r**2 + sc.ch * np.clip(np.abs(r) - sc.tau, 0, None)).sum()
    w, x, y = sc.w, sc.x, sc.y
    W = np.bincount(labels, weights=w, minlength=k)
    Sx = np.bincount(labels, weights=w * x, minlength=k)
    Sy = np.bincount(labels, weights=w * y, minlength=k)
    Sq = np.bincount(labels, weights=w * (x * x + y * y), minlength=k)
    inert = np.clip(Sq - (Sx**2 + Sy**2) / np.maximum(W, 1e-300), 0, None).sum()
    rows = np.repeat(np.arange(units.n_units), np.diff(units.indptr))
    cut = (labels[rows] != labels[units.indices]) & (rows < units.indices)
    border = units.edge_length[cut].sum()
    return float(pen + sc.coef[0] * inert + sc.coef[2] * border)


@pytest.fixture(scope="session")
def compiled():
    """Compile the kernels once (outside every timing)."""
    u = lattice_units(100)
    lab = block_labels(u, 4)
    sc = Scorer(u, int(lab.max()) + 1, OBJ)
    st = sc.new_state()
    sc.full(lab, st)
    out = np.zeros(2)
    K.delta_moves_batch(np.array([0, 1]), np.array([1, 0]), lab, *sc.data(), *sc.params(),
                        st["tot"], st["mom"], st["diam"], st["members"], out)  # fmt: skip
    return True


@pytest.fixture(scope="module", params=N_UNITS)
def case(request):
    u = lattice_units(request.param)
    lab = block_labels(u, max(4, u.n_units // 500))
    k = int(lab.max()) + 1
    return u, lab, k, Scorer(u, k, OBJ)


def _best_time(fn, repeat: int = 5) -> float:
    """Best CPU time of ``repeat`` calls (process time: robust on a shared machine)."""
    best = np.inf
    for _ in range(repeat):
        t = time.process_time()
        fn()
        best = min(best, time.process_time() - t)
    return max(best, 1e-9)


def test_full_eval(benchmark, compiled, case):
    u, lab, k, sc = case
    st = sc.new_state()
    total = benchmark(sc.full, lab, st)
    ref = numpy_full(u, lab, k, sc)
    assert total == pytest.approx(ref, rel=1e-9)
    t_kernel = _best_time(lambda: sc.full(lab, st))
    t_numpy = _best_time(lambda: numpy_full(u, lab, k, sc), repeat=3)
    benchmark.extra_info.update(
        n_units=u.n_units, kernel_ms=t_kernel * 1e3, numpy_ms=t_numpy * 1e3,
        speedup_vs_numpy=t_numpy / t_kernel,
    )  # fmt: skip


def test_delta_moves(benchmark, compiled, case):
    u, lab, k, sc = case
    st = sc.new_state()
    sc.full(lab, st)
    rng = np.random.default_rng(1)
    rows = np.repeat(np.arange(u.n_units), np.diff(u.indptr))
    e = rng.integers(0, rows.shape[0], N_MOVES)
    units_idx = rows[e].astype(np.int64)
    to = lab[u.indices[e]].astype(np.int64)  # neighbouring grid (same grid: a no-op move)
    out = np.zeros(N_MOVES)

    def run():
        K.delta_moves_batch(units_idx, to, lab, *sc.data(), *sc.params(),
                            st["tot"], st["mom"], st["diam"], st["members"], out)  # fmt: skip

    benchmark(run)
    border = to != lab[units_idx]
    t_batch = _best_time(run)
    # only border moves count (interior proposals are no-ops): N_MOVES of them drawn from
    # every (unit, neighbouring grid) pair of the layout, so that on large layouts the
    # moves touch the whole border, not a set small enough to stay in the caches
    cross = np.flatnonzero(lab[rows] != lab[u.indices])
    pick = cross[rng.integers(0, cross.shape[0], N_MOVES)]
    units_b = rows[pick].astype(np.int64)
    to_b = lab[u.indices[pick]].astype(np.int64)
    out_b = np.zeros(units_b.shape[0])

    def run_border():
        K.delta_moves_batch(units_b, to_b, lab, *sc.data(), *sc.params(),
                            st["tot"], st["mom"], st["diam"], st["members"], out_b)  # fmt: skip

    t_border = _best_time(run_border)
    t_numpy = _best_time(lambda: numpy_full(u, lab, k, sc), repeat=3)
    rate = units_b.shape[0] / t_border
    benchmark.extra_info.update(
        n_units=u.n_units, moves_per_s=rate, all_proposals_per_s=N_MOVES / t_batch,
        speedup_vs_numpy_full=rate * t_numpy,
    )  # fmt: skip
    # spot check: delta equals the difference of two full evaluations
    q = int(np.flatnonzero(border)[0])
    lab2 = lab.copy()
    lab2[units_idx[q]] = to[q]
    assert out[q] == pytest.approx(
        numpy_full(u, lab2, k, sc) - numpy_full(u, lab, k, sc), rel=1e-6, abs=1e-9
    )
