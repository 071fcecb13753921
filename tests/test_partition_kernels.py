"""Tests of the balance-phase and spanning-tree kernels in gridopt.partition._kernels."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import lattice_edges

from gridopt.model import Units
from gridopt.partition import _kernels as PK
from gridopt.partition import grid_components, partition
from gridopt.score import Objective


def path_units(n: int) -> Units:
    return Units.from_edges(
        ids=np.arange(n), x=np.arange(n, dtype=float), y=np.zeros(n),
        attributes={"a": np.ones(n), "b": np.arange(n) % 3 + 1.0},
        edges=[(i, i + 1) for i in range(n - 1)],
    )  # fmt: skip


def ladder(n: int) -> Units:
    """Two rows of n units, rungs between them: a thin, chain-like graph."""
    top = np.arange(n)
    edges = [(i, i + 1) for i in range(n - 1)] + [(n + i, n + i + 1) for i in range(n - 1)]
    edges += [(i, n + i) for i in range(n)]
    rng = np.random.default_rng(3)
    return Units.from_edges(
        ids=np.arange(2 * n), x=np.r_[top, top].astype(float), y=np.r_[np.zeros(n), np.ones(n)],
        attributes={"a": rng.integers(1, 5, 2 * n) * 1.0, "b": rng.integers(1, 5, 2 * n) * 1.0,
                    "c": rng.random(2 * n) + 0.5},
        edges=edges,
    )  # fmt: skip


def test_wilson_tree_spans_path() -> None:
    u = path_units(6)
    members = np.array([3, 0, 1, 2, 4, 5], dtype=np.int64)
    pos = np.full(6, -1, dtype=np.int64)
    pos[members] = np.arange(6)
    parent, order, nxt = (np.zeros(6, dtype=np.int64) for _ in range(3))
    ok = PK.wilson_tree(
        members, pos, u.indptr, u.indices, np.array([7], dtype=np.uint64), 10_000,
        parent, order, nxt, np.zeros(6, dtype=np.uint8),
    )  # fmt: skip
    assert ok
    # a path has one spanning tree: every unit's parent is its neighbour towards unit 3
    unit_parent = {int(members[p]): int(members[parent[p]]) for p in range(1, 6)}
    assert unit_parent == {0: 1, 1: 2, 2: 3, 4: 3, 5: 4}
    assert order[0] == 0 and sorted(order.tolist()) == list(range(6))
    seen = {int(order[0])}
    for q in order[1:]:
        assert int(parent[q]) in seen  # root-first: the parent comes earlier
        seen.add(int(q))


def test_carve_path_into_equal_parts() -> None:
    # path 0-1-...-8 rooted at 0, unit values 1: three parts of 3 units each
    n = 9
    parent = np.arange(-1, n - 1, dtype=np.int64)
    order = np.arange(n, dtype=np.int64)
    vals = np.ones((n, 1))
    part = np.zeros(n, dtype=np.int64)
    worst = PK.carve(
        order, parent, vals, np.full((3, 1), 3.0), np.array([0.05]), 1.0,
        np.array([5], dtype=np.uint64), np.zeros((n, 1)), np.zeros(n, dtype=np.uint8), part,
        np.zeros(1),
    )  # fmt: skip
    assert worst == 0.0
    assert part.tolist() == [2, 2, 2, 1, 1, 1, 0, 0, 0]


def test_carve_reports_impossible_cut() -> None:
    # two units of 1 and 3 cannot make two parts of 2 within 5 %
    worst = PK.carve(
        np.array([0, 1]), np.array([-1, 0]), np.array([[1.0], [3.0]]), np.full((2, 1), 2.0),
        np.array([0.05]), 1.0, np.array([5], dtype=np.uint64), np.zeros((2, 1)),
        np.zeros(2, dtype=np.uint8), np.zeros(2, dtype=np.int64), np.zeros(1),
    )  # fmt: skip
    assert worst == pytest.approx(0.5 / 0.05)


def test_balance_cost_hand_values() -> None:
    # deviations +10 % and -2 % with tau 5 %: s = 2 and -0.4
    tot = np.array([[110.0], [98.0]])
    itarget = np.full((2, 1), 0.01)
    c = PK.balance_cost(tot, itarget, np.array([20.0]), 0.8, np.full((2, 1), 10.0))
    assert c == pytest.approx(2.0**2 + 10 * (2.0 - 0.8) + 0.4**2)


def test_balance_phase_makes_chain_feasible() -> None:
    u = ladder(60)
    obj = Objective(balance={"a": 0.1, "b": 0.1, "c": 0.1}, compactness="none")
    # start far from balance: columns 0-4, 5-9 and 10-59 of the ladder
    col = np.r_[np.arange(60), np.arange(60)]
    start = np.where(col < 5, 0, np.where(col < 10, 1, 2))
    res = partition(u, 3, obj, seed=2, initial=start, max_iterations=20_000, time_limit=20)
    assert res.feasible, res.violations
    assert np.all(grid_components(u, res.labels, 3) == 1)
    assert res.stats["balance_iterations"] > 0
    assert res.stats["time_to_feasible"] is not None


def test_patience_stops_a_feasible_run_early() -> None:
    u = ladder(30)
    obj = Objective(balance={"a": 0.1, "b": 0.1})
    res = partition(u, 3, obj, seed=1, time_limit=60.0, patience=0.3)
    assert res.feasible, res.violations
    assert res.runtime < 30.0
    assert 0.0 <= res.stats["time_to_feasible"] <= res.runtime


def test_hanging_pieces_match_the_components_without_each_unit() -> None:
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    rng = np.random.default_rng(5)
    for trial in range(20):
        n = int(rng.integers(5, 40))
        edges = {(int(rng.integers(0, i)), i) for i in range(1, n)}  # a random tree
        for _ in range(int(rng.integers(0, n))):
            a, b = sorted(rng.choice(n, 2, replace=False).tolist())
            edges.add((a, b))
        u = Units.from_edges(
            ids=np.arange(n), x=np.zeros(n), y=np.zeros(n),
            attributes={"a": rng.random(n)}, edges=sorted(edges),
        )  # fmt: skip
        vals = np.column_stack([u.attributes[:, 0], np.ones(n)])
        unit = np.empty(n, np.int64)
        sums = np.empty((n, 2))
        size = np.empty(n, np.int64)
        rows = PK.hanging_pieces(u.indptr.astype(np.int64), u.indices.astype(np.int64), vals,
                                 unit, sums, size)  # fmt: skip
        for v in range(n):
            keep = np.flatnonzero(np.arange(n) != v)
            g = csr_matrix((np.ones(u.indices.size), u.indices, u.indptr), shape=(n, n))
            k, lab = connected_components(g[keep][:, keep], directed=False)
            comps = sorted(
                (int((lab == c).sum()), round(float(vals[keep[lab == c], 0].sum()), 9))
                for c in range(k)
            )
            listed = [
                (int(size[r]), round(float(sums[r, 0]), 9)) for r in range(rows) if unit[r] == v
            ]
            # the count column of vals sums to the unit counts
            assert sum(s for s, _ in listed) == int(sums[:rows][unit[:rows] == v, 1].sum())
            if k >= 2:
                # every component is listed, except at most one (the rest, on the parent's side)
                assert len(listed) in (k, k - 1), (trial, v)
                assert all(c in comps for c in listed), (trial, v)
            else:
                # not a cut vertex: nothing listed, or the whole rest for a search root
                assert listed in ([], [(n - 1, round(float(vals[keep, 0].sum()), 9))]), (trial, v)


def lattice(side: int) -> Units:
    idx = np.arange(side * side).reshape(side, side)
    edges = lattice_edges(side, side)
    rng = np.random.default_rng(4)
    n = side * side
    return Units.from_edges(
        ids=np.arange(n), x=(idx % side).ravel() * 1.0, y=(idx // side).ravel() * 1.0,
        attributes={"a": rng.integers(1, 9, n) * 1.0, "b": rng.random(n)}, edges=edges,
    )  # fmt: skip


def test_anneal_keeps_its_border_list() -> None:
    from gridopt.score import Scorer
    from gridopt.score import _kernels as K

    side, k = 20, 4
    u = lattice(side)
    n = u.n_units
    sc = Scorer(u, k, Objective(balance={"a": 0.1, "b": 0.1}, border_weight=0.5))
    col, row = np.arange(n) % side, np.arange(n) // side
    lab = sc.check_labels((col >= side // 2) + 2 * (row >= side // 2))
    lab0 = lab.copy()
    frozen = np.zeros(n, np.uint8)
    frozen[::7] = 1
    st = sc.new_state()
    sc.full(lab, st)
    sizes = np.bincount(lab, minlength=k).astype(np.int64)
    nfor, bpos, blist = (np.zeros(n, np.int64) for _ in range(3))
    stats = np.zeros(4, np.int64)
    K.anneal(
        lab, *sc.data(), *sc.params(), st["tot"], st["mom"], st["acc"], st["diam"],
        st["members"], frozen, sizes, True, 64, 8, 20_000, 5.0, 0.5, 0.2,
        np.array([99], np.uint64), np.zeros(1, np.int64), np.zeros(n, np.int64),
        np.zeros(n + 1, np.int64), stats, nfor, bpos, blist,
    )  # fmt: skip
    assert stats[1] > 100  # many moves were made
    assert np.array_equal(lab[frozen == 1], lab0[frozen == 1])
    assert np.array_equal(sizes, np.bincount(lab, minlength=k))
    # the list kept through the moves equals one built from scratch
    nfor2, bpos2, blist2 = (np.zeros(n, np.int64) for _ in range(3))
    bc = K.border_build(lab, u.indptr, u.indices, frozen, nfor2, bpos2, blist2)
    assert np.array_equal(nfor, nfor2)
    kept = np.flatnonzero(bpos >= 0)
    assert sorted(blist[:bc].tolist()) == kept.tolist() == sorted(blist2[:bc].tolist())
    assert np.array_equal(blist[bpos[kept]], kept)
    # the aggregates followed the moves
    fresh = sc.new_state()
    sc.full(lab, fresh)
    np.testing.assert_allclose(st["tot"], fresh["tot"], rtol=1e-9)
    assert np.all(grid_components(u, lab, k) == 1)


def test_grid_lists_follow_the_merge_and_split_moves(monkeypatch) -> None:
    u = ladder(40)
    obj = Objective(balance={"a": 0.05, "b": 0.05, "c": 0.05}, compactness="none")
    col = np.r_[np.arange(40), np.arange(40)]
    start = np.where(col < 4, 0, np.where(col < 8, 1, np.where(col < 30, 2, 3)))
    lab = start.astype(np.int32)
    k, n = 4, u.n_units
    ghead, gnext = np.zeros(k, np.int64), np.zeros(n, np.int64)
    PK.grid_lists(lab, k, ghead, gnext)
    walk = [[] for _ in range(k)]
    for g in range(k):
        i = ghead[g]
        while i >= 0:
            walk[g].append(int(i))
            i = gnext[i]
    assert walk == [np.flatnonzero(lab == g).tolist() for g in range(k)]
    # in a partition run's balance phase the lists stay equal to the labels
    calls = []
    real = PK.recom_balance

    def checked(*args):
        out = real(*args)
        labels, ghead_, gnext_ = args[0], args[-3], args[-2]
        for g in range(k):
            members, i = [], ghead_[g]
            while i >= 0:
                members.append(int(i))
                i = gnext_[i]
            assert sorted(members) == np.flatnonzero(labels == g).tolist()
        calls.append(int(args[-1][2]))  # accepted moves
        return out

    monkeypatch.setattr(PK, "recom_balance", checked)
    res = partition(u, k, obj, seed=3, initial=start, max_iterations=5_000, time_limit=20)
    assert calls and sum(calls) > 0
    assert np.all(grid_components(u, res.labels, k) == 1)


def test_tree_helpers_match_a_plain_walk() -> None:
    rng = np.random.default_rng(8)
    for _ in range(30):
        s = int(rng.integers(2, 40))
        pred = np.r_[-1, [int(rng.integers(0, v)) for v in range(1, s)]].astype(np.int32)
        order = np.arange(s, dtype=np.int32)  # parents come first
        vals = rng.random((s, 3))
        sums = vals.copy()
        PK.subtree_sums(order, pred, sums)
        ref = vals.copy()
        for v in range(s - 1, 0, -1):
            ref[pred[v]] += ref[v]
        np.testing.assert_array_equal(sums, ref)
        # cut the subtree of a random unit: its members leave, its ancestors lose its total
        alive = np.ones(s, dtype=bool)
        alive[rng.random(s) < 0.1] = False
        alive[0] = True
        v = int(rng.integers(1, s))
        alive[v] = True
        in_sub = np.ones(s, dtype=bool)
        before = sums.copy()
        left = alive.copy()
        PK.cut_subtree(order, pred, left, v, sums, in_sub)
        np.testing.assert_array_equal(left, alive & ~in_sub)
        desc = {v}
        for u in range(v + 1, s):
            if pred[u] in desc and alive[u]:
                desc.add(u)
        assert set(np.flatnonzero(in_sub).tolist()) == desc
        anc, u = set(), int(pred[v])
        while u >= 0:
            anc.add(u)
            u = int(pred[u])
        for u in range(s):
            want = before[u] - before[v] if u in anc else before[u]
            np.testing.assert_allclose(sums[u], want, rtol=0, atol=1e-12)
