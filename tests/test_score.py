"""Tests of gridopt.score: Objective validation, full evaluation, delta == full difference."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import lattice_edges
from hypothesis import given, settings
from hypothesis import strategies as st

from gridopt.errors import InputError
from gridopt.model import Units
from gridopt.score import Objective, Scorer


def lattice(nx: int, ny: int, seed: int = 0) -> Units:
    """An nx x ny lattice of units, 100 m apart, with three random attributes."""
    rng = np.random.default_rng(seed)
    n = nx * ny
    edges = lattice_edges(nx, ny)
    xx, yy = np.meshgrid(np.arange(nx) * 100.0, np.arange(ny) * 100.0)
    return Units.from_edges(
        ids=np.arange(n),
        x=xx.ravel(),
        y=yy.ravel(),
        attributes={
            "households": rng.integers(1, 50, n),
            "subscribers": rng.integers(0, 30, n),
            "tickets": rng.random(n) * 2,
        },
        edges=edges,
    )


@pytest.fixture
def line4() -> Units:
    return Units.from_edges(
        ids=[0, 1, 2, 3],
        x=[0.0, 100.0, 200.0, 300.0],
        y=[0.0, 0.0, 0.0, 0.0],
        attributes={"households": [10, 10, 10, 10], "tickets": [1, 2, 3, 4]},
        edges=[(0, 1), (1, 2), (2, 3)],
    )


def test_balance_deviation_hand_checked(line4: Units) -> None:
    sc = Scorer(line4, 2, Objective(balance={"households": 0.05, "tickets": 0.5}))
    s = sc.evaluate([0, 0, 0, 1])
    # households 30 vs 10 against a mean of 20 -> 0.5; tickets 6 vs 4 against 5 -> 0.2
    assert s.max_deviation["households"] == pytest.approx(0.5)
    assert s.max_deviation["tickets"] == pytest.approx(0.2)
    assert not s.feasible
    s2 = sc.evaluate([0, 0, 1, 1])
    assert s2.max_deviation["households"] == 0.0
    assert s2.max_deviation["tickets"] == pytest.approx(0.4)
    assert s2.feasible
    assert s2.total < s.total


def test_border_and_stability_hand_checked(line4: Units) -> None:
    obj = Objective(balance={"households": 0.1}, border_weight=1.0, stability_weight=1.0)
    sc = Scorer(line4, 2, obj, previous=[0, 0, 1, 1])
    s = sc.evaluate([0, 1, 1, 1])
    assert s.border_length == pytest.approx(100.0)  # one cut edge, 100 m
    assert s.moved == pytest.approx(10.0)  # unit 1 (10 households) changed grid


def test_inertia_hand_checked(line4: Units) -> None:
    obj = Objective(balance={"households": 0.1}, compactness="inertia")
    sc = Scorer(line4, 2, obj)
    st = sc.new_state()
    sc.full(np.array([0, 0, 1, 1], dtype=np.int32), st)
    # each grid: two masses of 10 at +/-50 m from the centroid -> 2 * 10 * 2500
    inertia = st["terms"][1] / sc.coef[0]
    assert inertia == pytest.approx(2 * 2 * 10 * 2500.0)


def test_travel_to_fixed_bases(line4: Units) -> None:
    obj = Objective(balance={"households": 0.5}, travel_weight=1.0)
    sc = Scorer(line4, 2, obj, base_xy=[[0.0, 0.0], [300.0, 0.0]])
    s = sc.evaluate([0, 0, 1, 1])
    assert s.travel == pytest.approx(10 * (0 + 100 + 100 + 0))


def test_clone_owns_what_a_search_changes(line4: Units) -> None:
    obj = Objective(balance={"households": 0.5}, travel_weight=1.0)
    sc = Scorer(line4, 2, obj, base_xy=[[0.0, 0.0], [300.0, 0.0]])
    before = sc.evaluate([0, 0, 1, 1]).total
    twin = sc.clone()
    assert twin.evaluate([0, 0, 1, 1]).total == before
    twin.cs[:] *= 1e3
    twin.ch[:] = 0.0
    twin.bx[:] += 50.0
    assert twin.evaluate([0, 1, 1, 1]).total != sc.evaluate([0, 1, 1, 1]).total
    assert sc.evaluate([0, 0, 1, 1]).total == before
    assert twin.x is sc.x and twin.D is sc.D  # the unit arrays are shared, not copied


def test_diameter_hand_checked(line4: Units) -> None:
    d = np.abs(np.subtract.outer(np.arange(4.0), np.arange(4.0)))
    obj = Objective(balance={"households": 0.5}, compactness="diameter")
    s = Scorer(line4, 2, obj, distance=d).evaluate([0, 0, 0, 1])
    assert s.max_diameter == 2.0


def test_radius_hand_checked(line4: Units) -> None:
    # units at x = 0, 100, 200, 300; bases at x = 0 and x = 300
    obj = Objective(balance={"households": 0.5}, compactness="radius")
    s = Scorer(line4, 2, obj, base_xy=[[0.0, 0.0], [300.0, 0.0]]).evaluate([0, 0, 0, 1])
    assert s.max_radius == pytest.approx(200.0)
    assert np.isnan(s.max_diameter)
    assert s.terms["compactness"] > 0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"balance": {"households": 0.0}}, r"balance\[households\]"),
        ({"balance": {"households": float("nan")}}, r"balance\[households\]"),
        ({"balance": {"households": 0.1}, "travel_weight": -1}, "travel_weight"),
        ({"balance": {"households": 0.1}, "border_weight": float("nan")}, "border_weight"),
        ({"balance": {"households": 0.1}, "compactness": "round"}, "compactness"),
        ({"balance": {"households": 0.1}, "targets": {"x": 1}}, "targets"),
    ],
)
def test_objective_bad_input(kwargs: dict, match: str) -> None:
    with pytest.raises(InputError, match=match):
        Objective(**kwargs)


def test_scorer_bad_input(line4: Units) -> None:
    with pytest.raises(InputError, match="unknown attribute"):
        Scorer(line4, 2, Objective(balance={"revenue": 0.1}))
    zero = line4.replace(attributes=np.column_stack([np.zeros(4), np.ones(4)]))
    with pytest.raises(InputError, match=r"balance\[households\]: total weight is zero"):
        Scorer(zero, 2, Objective(balance={"households": 0.1}))
    with pytest.raises(InputError, match="distance"):
        Scorer(line4, 2, Objective(balance={"households": 0.1}, compactness="diameter"))
    with pytest.raises(InputError, match=r"targets\[households\]"):
        Scorer(line4, 2, Objective(balance={"households": 0.1}, targets={"households": [1, -1]}))
    sc = Scorer(line4, 2, Objective(balance={"households": 0.1}))
    with pytest.raises(InputError, match="labels"):
        sc.evaluate([0, 1, 2, 0])


def test_per_grid_targets(line4: Units) -> None:
    obj = Objective(balance={"households": 0.01}, targets={"households": [3, 1]})
    s = Scorer(line4, 2, obj).evaluate([0, 0, 0, 1])
    assert s.max_deviation["households"] == pytest.approx(0.0)
    assert s.feasible


_UNITS = lattice(6, 5, seed=1)
_D = np.hypot(np.subtract.outer(_UNITS.x, _UNITS.x), np.subtract.outer(_UNITS.y, _UNITS.y))


def _scorer(compactness: str, n_grids: int) -> Scorer:
    obj = Objective(
        balance={"households": 0.05, "subscribers": 0.1, "tickets": 0.2},
        compactness=compactness,
        travel_weight=0.7,
        border_weight=0.3,
        stability_weight=0.5,
    )
    rng = np.random.default_rng(5)
    bases = np.column_stack([rng.random(n_grids) * 500, rng.random(n_grids) * 400])
    prev = rng.integers(0, n_grids, _UNITS.n_units)
    return Scorer(_UNITS, n_grids, obj, base_xy=bases, previous=prev, distance=_D)


_SCORERS = {c: _scorer(c, 4) for c in ("inertia", "diameter", "radius")}


@settings(max_examples=60, deadline=None)
@given(
    compactness=st.sampled_from(["inertia", "diameter", "radius"]),
    labels=st.lists(st.integers(0, 3), min_size=30, max_size=30),
    unit=st.integers(0, 29),
    other=st.integers(0, 29),
    grid=st.integers(0, 3),
)
def test_delta_equals_full_difference(compactness, labels, unit, other, grid) -> None:
    sc = _SCORERS[compactness]
    lab = np.array(labels, dtype=np.int32)
    st_ = sc.new_state()
    before = sc.full(lab, st_)
    # move
    d = sc.delta_move(lab, st_, unit, grid)
    after_lab = lab.copy()
    after_lab[unit] = grid
    after = sc.full(after_lab, sc.new_state())
    assert d == pytest.approx(after - before, rel=1e-9, abs=1e-9)
    # applying the move keeps the incremental state equal to a fresh evaluation
    sc.apply_move(lab, st_, unit, grid)
    fresh = sc.new_state()
    sc.full(lab, fresh)
    for key in ("tot", "mom", "acc", "diam"):
        np.testing.assert_allclose(st_[key], fresh[key], rtol=1e-9, atol=1e-6)
    # swap
    before = after
    d = sc.delta_swap(lab, st_, unit, other)
    sw = lab.copy()
    sw[unit], sw[other] = lab[other], lab[unit]
    after = sc.full(sw, sc.new_state())
    assert d == pytest.approx(after - before, rel=1e-9, abs=1e-9)


def test_delta_moves_batch_matches_single_moves() -> None:
    # more moves than the batch kernel's prefetch distance, no-ops among them
    u = lattice(15, 12, seed=2)
    sc = Scorer(u, 6, Objective(balance={"households": 0.05, "tickets": 0.2}, border_weight=0.4))
    lab = sc.check_labels((np.arange(u.n_units) % 15) // 3 + (np.arange(u.n_units) // 90))
    st_ = sc.new_state()
    sc.full(lab, st_)
    rng = np.random.default_rng(0)
    units = rng.integers(0, u.n_units, 400)
    grids = rng.integers(0, 6, 400)
    out = sc.delta_moves(lab, st_, units, grids)
    single = [sc.delta_move(lab, st_, int(i), int(g)) for i, g in zip(units, grids, strict=True)]
    np.testing.assert_allclose(out, single, rtol=1e-12, atol=1e-12)
    assert np.all(out[lab[units] == grids] == 0.0)
    assert np.any(out != 0.0)


@pytest.mark.parametrize(
    ("units", "grids", "field"),
    [([0, 1], [0], "units"), ([0, 180], [0, 1], "units"), ([0, 1], [0, 6], "grids"),
     ([0.0, 1.0], [0, 1], "units"), ([0, 1], [-1, 0], "grids")],
)  # fmt: skip
def test_delta_moves_bad_input(units, grids, field) -> None:
    u = lattice(15, 12)
    sc = Scorer(u, 6, Objective(balance={"households": 0.05}))
    lab = sc.check_labels(np.arange(u.n_units) % 6)
    with pytest.raises(InputError) as err:
        sc.delta_moves(lab, sc.new_state(), units, grids)
    assert err.value.field == field
