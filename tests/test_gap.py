"""Tests of gridopt.assign.gap: the generic GAP and household ownership."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from gridopt.assign.gap import (
    OwnerLimits,
    OwnerWeights,
    assign_owners,
    grid_edges,
    household_units,
    solve_gap,
)
from gridopt.errors import InputError
from gridopt.model import SKILL_SENIOR, Households, Layout, Staff, Units

# ------------------------------------------------------------------------ solve_gap


def _brute_force(c, w, cap):
    m, n = c.shape
    best = np.inf
    for agents in itertools.product(range(m), repeat=n):
        a = np.array(agents)
        load = np.bincount(a, weights=w[a, np.arange(n)], minlength=m)
        if (load <= cap).all():
            best = min(best, c[a, np.arange(n)].sum())
    return best


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_solve_gap_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    c = rng.integers(1, 30, (3, 6)).astype(float)
    w = rng.integers(1, 10, (3, 6)).astype(float)
    cap = np.full(3, w.sum() / 4)
    expected = _brute_force(c, w, cap)
    res = solve_gap(c, w, cap, time_limit=5, seed=seed, num_workers=1, deterministic=True)
    if np.isinf(expected):
        assert res.status == "infeasible"
        return
    assert res.status == "optimal"
    assert res.objective == pytest.approx(expected)
    assert res.bound == pytest.approx(expected) and res.gap == 0.0
    n = c.shape[1]
    assert res.objective == pytest.approx(c[res.agent, np.arange(n)].sum())
    assert (res.loads <= cap + 1e-9).all()


def test_solve_gap_fractional_costs_and_eligibility():
    c = np.array([[0.25, 0.5], [0.3, 0.1]])
    w = np.ones((2, 2))
    res = solve_gap(c, w, [2, 2], eligible=[[True, True], [False, True]], time_limit=2)
    assert res.agent.tolist() == [0, 1]
    assert res.objective == pytest.approx(0.35)


def test_solve_gap_inf_cost_is_ineligible():
    c = np.array([[np.inf, 1.0], [5.0, 1.0]])
    res = solve_gap(c, np.ones((2, 2)), [1, 1], time_limit=2)
    assert res.agent.tolist() == [1, 0] and res.objective == 6.0


def test_solve_gap_over_capacity_is_infeasible_with_figures():
    res = solve_gap(np.ones((2, 3)), np.full((2, 3), 4.0), [5, 5], time_limit=2)
    assert res.status == "infeasible" and not res.is_feasible()
    assert (res.agent == -1).all()
    assert "exceeds total capacity 10 by 2" in res.reasons[0]


def test_solve_gap_job_fitting_nowhere():
    res = solve_gap(np.ones((2, 2)), [[1, 9], [1, 9]], [5, 5], time_limit=2)
    assert res.status == "infeasible" and "jobs 1" in res.reasons[0]


def test_solve_gap_infeasible_by_packing_names_agents():
    # total fits (12 <= 12) but three jobs of 4 cannot go into capacities 6 + 6
    res = solve_gap(np.ones((2, 3)), np.full((2, 3), 4.0), [6, 6], time_limit=2)
    assert res.status == "infeasible"
    assert "capacities cannot hold every job" in res.reasons[0]


def test_solve_gap_deterministic():
    rng = np.random.default_rng(5)
    c, w = rng.integers(1, 50, (4, 30)), rng.integers(1, 20, (4, 30))
    cap = w.sum(axis=1) * 0.3
    a = solve_gap(c, w, cap, time_limit=1, seed=3, num_workers=2, deterministic=True)
    b = solve_gap(c, w, cap, time_limit=1, seed=3, num_workers=2, deterministic=True)
    assert a.status in ("optimal", "feasible")
    assert np.array_equal(a.agent, b.agent) and a.objective == b.objective


def test_solve_gap_bad_input():
    with pytest.raises(InputError, match="costs"):
        solve_gap([1, 2], [1, 2], [1])
    with pytest.raises(InputError, match="weights"):
        solve_gap([[1, 2]], [[1, 2, 3]], [1])
    with pytest.raises(InputError, match="weights: must be finite and >= 0"):
        solve_gap([[1, 2]], [[1, -2]], [3])
    with pytest.raises(InputError, match="capacities"):
        solve_gap([[1, 2]], [[1, 2]], [1, 2])
    with pytest.raises(InputError, match="capacities: must be finite"):
        solve_gap([[1, 2]], [[1, 2]], [-1])
    with pytest.raises(InputError, match="costs: must not be NaN"):
        solve_gap([[np.nan, 2]], [[1, 2]], [3])
    with pytest.raises(InputError, match=r"eligible: jobs without an eligible agent \(row 1\)"):
        solve_gap([[1, 2], [1, 2]], np.ones((2, 2)), [3, 3], eligible=[[1, 0], [1, 0]])


def _read_gap(path):
    v = np.array(path.read_text().split(), dtype=np.int64)
    m, n = int(v[0]), int(v[1])
    c = v[2 : 2 + m * n].reshape(m, n)
    w = v[2 + m * n : 2 + 2 * m * n].reshape(m, n)
    return c, w, v[2 + 2 * m * n : 2 + 2 * m * n + m]


def test_solve_gap_orlibrary_gap1_0(shared):
    c, w, cap = _read_gap(shared("benchmarks", "gap", "cattrysse1994", "gap1-0"))
    res = solve_gap(c, w, cap, time_limit=10, seed=0, num_workers=2)
    assert res.status == "optimal" and res.objective == 261  # values.csv, minimisation


# -------------------------------------------------------------------- assign_owners


def _households(x, y=None, vip=None, arpu=None, building=None):
    x = np.asarray(x, dtype=float)
    n = x.size
    return Households(
        ids=np.arange(1000, 1000 + n),
        x=x,
        y=np.zeros(n) if y is None else y,
        building=np.full(n, -1) if building is None else building,
        compound=np.full(n, -1),
        tv=np.ones(n, bool),
        broadband=np.zeros(n, bool),
        mobile=np.zeros(n, bool),
        arpu=np.full(n, 20.0) if arpu is None else arpu,
        contract_end=np.zeros(n, np.int32),
        churn_risk=np.zeros(n),
        segment=np.zeros(n, np.int8),
        vip=np.zeros(n, bool) if vip is None else np.asarray(vip, bool),
    )


def _owners(x, grid, capacity, skills=None, role=None):
    n = len(x)
    return Staff(
        ids=np.arange(1, n + 1),
        role=np.full(n, 2) if role is None else role,
        x=np.asarray(x, float),
        y=np.zeros(n),
        shift_start=np.full(n, 480.0),
        shift_end=np.full(n, 960.0),
        skills=np.zeros(n, np.int64) if skills is None else skills,
        capacity=np.asarray(capacity, float),
        grid=grid,
    )


@pytest.fixture
def two_grids():
    """Grid 0: households at 0..3 km, owners at 0 and 3 km; grid 1: households at 10, 11 km."""
    hh = _households(x=[0, 1000, 2000, 3000, 10000, 11000])
    staff = _owners(x=[0, 3000, 10500], grid=[0, 0, 1], capacity=[2, 2, 5])
    return hh, staff, np.array([0, 0, 0, 0, 1, 1])


def test_assign_owners_nearest_within_limits(two_grids):
    hh, staff, hg = two_grids
    res = assign_owners(hh, staff, household_grid=hg, time_limit=5)
    assert res.status == "optimal" and res.is_feasible()
    assert res.owner.tolist() == [1, 1, 2, 2, 3, 3]
    assert res.owner_idx.tolist() == [0, 0, 1, 1, 2, 2]
    assert res.loads[:, 0].tolist() == [2, 2, 2]
    assert res.loads[:, 2].tolist() == [40.0, 40.0, 40.0]  # revenue = arpu sums
    # travel 0+1+1+0 km + 0.5+0.5 km at 1 per km; imbalance 0
    assert res.objective == pytest.approx(3.0)
    assert res.gap == 0.0 and len(res.models) == 2
    assert res.table["households"].tolist() == [2, 2, 2]


def test_assign_owners_capacity_forces_far_owner(two_grids):
    hh, staff, hg = two_grids
    res = assign_owners(
        hh, staff, household_grid=hg, limits=OwnerLimits(max_households=[1, 3, 5]), time_limit=5
    )
    assert res.owner.tolist()[:4] == [1, 2, 2, 2]


def test_assign_owners_min_load(two_grids):
    hh, staff, hg = two_grids
    res = assign_owners(
        hh,
        staff,
        household_grid=hg,
        limits=OwnerLimits(min_households=[3, 0, 0], max_households=[4, 4, 5]),
        weights=OwnerWeights(imbalance=0.0),
        time_limit=5,
    )
    assert res.owner.tolist()[:4] == [1, 1, 1, 2]


def test_assign_owners_vip_to_senior(two_grids):
    hh, staff, hg = two_grids
    hh = hh.replace(vip=np.array([1, 0, 0, 0, 0, 0], bool))
    staff = staff.replace(skills=np.array([0, SKILL_SENIOR, 0]))
    res = assign_owners(hh, staff, household_grid=hg, time_limit=5)
    assert res.owner[0] == 2  # the senior owner 3 km away, not the one next door


def test_assign_owners_continuity_and_cap(two_grids):
    hh, staff, hg = two_grids
    current = np.array([2, 2, 1, 1, 3, 3])  # crossed over: 4 km of extra travel
    kept = assign_owners(hh, staff, household_grid=hg, current_owner=current, time_limit=5)
    assert kept.owner.tolist() == current.tolist() and kept.n_changes == 0
    cheap = OwnerWeights(change=0.1)
    moved = assign_owners(
        hh, staff, household_grid=hg, current_owner=current, weights=cheap, time_limit=5
    )
    assert moved.owner.tolist() == [1, 1, 2, 2, 3, 3] and moved.n_changes == 4
    capped = assign_owners(
        hh,
        staff,
        household_grid=hg,
        current_owner=current,
        weights=cheap,
        max_changes=2,
        time_limit=5,
    )
    assert capped.n_changes == 2


def test_assign_owners_forced_changes_exceed_cap(two_grids):
    hh, staff, hg = two_grids
    current = np.array([1, 1, 1, 1, 3, 3])  # owner 1 has 4 but may hold 2
    res = assign_owners(
        hh, staff, household_grid=hg, current_owner=current, max_changes=1, time_limit=5
    )
    assert res.status == "infeasible" and "force at least 2 changes" in res.reasons[0]


def test_assign_owners_over_capacity_reports_where(two_grids):
    hh, staff, hg = two_grids
    res = assign_owners(
        hh, staff, household_grid=hg, limits=OwnerLimits(max_households=[1, 1, 5]), time_limit=5
    )
    assert res.status == "infeasible" and (res.owner == -1).all()
    assert "grid 0: households 4 exceed the owners' maximum 2 by 2" in res.reasons[0]


def test_assign_owners_vip_without_senior(two_grids):
    hh, staff, hg = two_grids
    hh = hh.replace(vip=np.array([0, 0, 0, 0, 1, 0], bool))
    res = assign_owners(hh, staff, household_grid=hg, time_limit=5)
    assert res.status == "infeasible"
    assert "grid 1: 1 households have no eligible owner (1 VIP" in res.reasons[0]


def test_assign_owners_only_eligible_owners_full(two_grids):
    hh, staff, hg = two_grids
    hh = hh.replace(vip=np.array([1, 1, 0, 0, 0, 0], bool))
    staff = staff.replace(skills=np.array([SKILL_SENIOR, 0, 0]))
    res = assign_owners(
        hh, staff, household_grid=hg, limits=OwnerLimits(max_households=[1, 3, 5]), time_limit=5
    )
    assert (
        res.status == "infeasible"
        and "2 VIP households but senior owners can take 1" in res.reasons[0]
    )


def test_assign_owners_revenue_conflict_is_explained(two_grids):
    hh, staff, hg = two_grids
    # every household brings 20; owner 1 must earn >= 50 (3 households) and owner 2 >= 30 (2)
    lim = OwnerLimits(min_revenue=[50, 30, 0], max_households=[4, 4, 5])
    res = assign_owners(hh, staff, household_grid=hg, limits=lim, time_limit=5)
    assert res.status == "infeasible"
    assert "owner 1 min revenue" in res.reasons[0] and "owner 2 min revenue" in res.reasons[0]


def test_assign_owners_adjacent_grids(two_grids):
    hh, staff, hg = two_grids
    lim = OwnerLimits(max_households=[1, 1, 5])
    res = assign_owners(
        hh,
        staff,
        household_grid=hg,
        limits=lim,
        allow_adjacent=True,
        adjacent_grids=[[0, 1]],
        time_limit=5,
    )
    assert res.is_feasible()
    assert (res.owner[:4] == 3).sum() == 2  # the overflow goes to grid 1's owner


def test_assign_owners_from_units_and_layout(two_grids):
    hh, staff, hg = two_grids
    hh = hh.replace(building=np.array([10, 10, 11, 11, 12, 12]))
    units = Units.from_edges(
        ids=[10, 11, 12],
        x=[500.0, 2500.0, 10500.0],
        y=[0.0] * 3,
        attributes={},
        edges=[(0, 1), (1, 2)],
    )
    layout = Layout(labels=[0, 0, 1], n_grids=2)
    assert household_units(hh, units).tolist() == [0, 0, 1, 1, 2, 2]
    assert grid_edges(units, layout).tolist() == [[0, 1]]
    a = assign_owners(hh, staff, units=units, layout=layout, time_limit=5)
    b = assign_owners(hh, staff, household_grid=hg, time_limit=5)
    assert np.array_equal(a.owner, b.owner)


def test_household_units_nearest_and_bad_column():
    units = Units.from_edges(ids=[5, 6], x=[0.0, 100.0], y=[0.0, 0.0], attributes={}, edges=[])
    hh = _households(x=[80.0, 10.0], building=[5, 7])
    assert household_units(hh, units).tolist() == [1, 0]
    with pytest.raises(
        InputError, match=r"households.building: ids not found among units.ids \(row 1\)"
    ):
        household_units(hh, units, by="building")


def test_assign_owners_progress_parallel_and_determinism(two_grids):
    hh, staff, hg = two_grids
    seen = []
    a = assign_owners(hh, staff, household_grid=hg, time_limit=5, progress=seen.append, seed=4)
    b = assign_owners(hh, staff, household_grid=hg, time_limit=5, n_parallel=2, seed=4)
    assert [s["done"] for s in seen] == [1, 2] and seen[-1]["total"] == 2
    assert np.array_equal(a.owner, b.owner) and a.objective == b.objective


def test_assign_owners_bad_input(two_grids):
    hh, staff, hg = two_grids
    with pytest.raises(InputError, match="limits.min_households: exceeds max_households"):
        assign_owners(hh, staff, household_grid=hg, limits=OwnerLimits(min_households=3))
    with pytest.raises(InputError, match="limits.max_minutes"):
        assign_owners(hh, staff, household_grid=hg, limits=OwnerLimits(max_minutes=[1, 2]))
    with pytest.raises(InputError, match="household_grid: must have 6"):
        assign_owners(hh, staff, household_grid=[0, 1])
    with pytest.raises(InputError, match="household_grid: must be >= 0"):
        assign_owners(hh, staff, household_grid=[0, 0, 0, 0, 1, -1])
    with pytest.raises(InputError, match="household_grid: give"):
        assign_owners(hh, staff)
    with pytest.raises(InputError, match="current_owner: unknown staff ids"):
        assign_owners(hh, staff, household_grid=hg, current_owner=[1, 1, 1, 1, 1, 99])
    with pytest.raises(InputError, match="max_changes"):
        assign_owners(hh, staff, household_grid=hg, max_changes=-1)
    with pytest.raises(InputError, match="allow_adjacent"):
        assign_owners(hh, staff, household_grid=hg, allow_adjacent=True)
    with pytest.raises(InputError, match="visit_minutes"):
        assign_owners(hh, staff, household_grid=hg, visit_minutes=[-1.0] * 6)
    with pytest.raises(InputError, match="weights.change"):
        OwnerWeights(change=-1)
    with pytest.raises(InputError, match="staff.role: no staff with role"):
        assign_owners(hh, staff.replace(role=np.ones(3, np.int8)), household_grid=hg)
    with pytest.raises(InputError, match="staff.grid: every account_manager needs a grid"):
        assign_owners(hh, staff.replace(grid=np.array([0, -1, 1])), household_grid=hg)


def test_assign_owners_grid_without_owner(two_grids):
    hh, staff, _ = two_grids
    res = assign_owners(hh, staff, household_grid=[0, 0, 0, 0, 2, 2], time_limit=5)
    assert res.status == "infeasible" and "grid 2: 2 households but no owner" in res.reasons[0]


def test_assign_owners_many_owners_without_minute_limits():
    # regression: summing "no limit" maxima over many owners must not overflow
    hh = _households(x=np.arange(12) * 100.0)
    staff = _owners(x=np.arange(6) * 200.0, grid=[0] * 6, capacity=[2] * 6)
    res = assign_owners(hh, staff, household_grid=np.zeros(12, np.int64), time_limit=5)
    assert res.status == "optimal" and res.loads[:, 0].tolist() == [2.0] * 6


@pytest.mark.parametrize("seed", [0, 1])
def test_assign_owners_flow_matches_cpsat(seed):
    rng = np.random.default_rng(seed)
    hh = _households(x=rng.uniform(0, 5000, 40), y=rng.uniform(0, 5000, 40))
    staff = _owners(x=rng.uniform(0, 5000, 4), grid=[0] * 4, capacity=[12] * 4)
    kw = dict(
        household_grid=np.zeros(40, np.int64),
        limits=OwnerLimits(min_households=8),
        current_owner=rng.integers(1, 5, 40),
        weights=OwnerWeights(imbalance=0.0),
        time_limit=5,
    )
    flow = assign_owners(hh, staff, fast_flow=True, **kw)
    cpsat = assign_owners(hh, staff, fast_flow=False, **kw)
    assert flow.models[0]["method"] == "min_cost_flow"
    assert flow.status == cpsat.status == "optimal"
    assert flow.objective == pytest.approx(cpsat.objective)
    assert (flow.loads[:, 0] >= 8).all() and (flow.loads[:, 0] <= 12).all()


def test_assign_owners_minimum_loads_force_changes(two_grids):
    hh, staff, hg = two_grids
    current = np.array([1, 1, 1, 1, 3, 3])
    lim = OwnerLimits(min_households=[2, 2, 0], max_households=[4, 4, 5])
    res = assign_owners(hh, staff, household_grid=hg, current_owner=current, limits=lim,
                        max_changes=1, time_limit=5)  # fmt: skip
    assert res.status == "infeasible" and "force at least 2 changes" in res.reasons[0]
    ok = assign_owners(hh, staff, household_grid=hg, current_owner=current, limits=lim,
                       max_changes=2, time_limit=5)  # fmt: skip
    assert ok.is_feasible() and ok.n_changes == 2 and ok.loads[:2, 0].tolist() == [2.0, 2.0]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_assign_owners_lagrangian_cap_bound_is_valid(seed):
    rng = np.random.default_rng(seed)
    hh = _households(x=rng.uniform(0, 5000, 40), y=rng.uniform(0, 5000, 40))
    staff = _owners(x=rng.uniform(0, 5000, 4), grid=[0] * 4, capacity=[14] * 4)
    kw = dict(household_grid=np.zeros(40, np.int64), current_owner=rng.integers(1, 5, 40),
              weights=OwnerWeights(change=0.5, imbalance=0.0), max_changes=6, time_limit=5)  # fmt: skip
    flow = assign_owners(hh, staff, fast_flow=True, **kw)
    exact = assign_owners(hh, staff, fast_flow=False, **kw)
    assert exact.status == "optimal" and flow.is_feasible()
    assert flow.n_changes <= 6 and exact.n_changes <= 6
    assert flow.objective >= exact.objective - 1e-9
    assert flow.bound <= exact.objective + 1e-9


# ------------------------------------------------------ GAP kernels and solve_gap paths


def _random_gap(seed, m=3, n=7, tight=0.35):
    rng = np.random.default_rng(seed)
    c = rng.integers(1, 40, (m, n))
    w = rng.integers(1, 12, (m, n))
    cap = np.floor(w.sum(axis=1) * tight).astype(np.int64)
    return c, w, cap


def _full_model(c, w, cap):
    from gridopt.assign.gap import _gap_model

    return _gap_model(c, w, cap, np.ones(c.shape, dtype=bool))


def _search_state(c, w, cap, elig, seed=1):
    from gridopt.assign import _kernels as k
    from gridopt.assign.gap import _Search

    s = _Search(c, w, cap, elig, np.random.SeedSequence(seed))
    return k, s


@pytest.mark.parametrize("seed", range(6))
def test_gap_search_finds_brute_force_optimum(seed):
    c, w, cap = _random_gap(seed)
    expected = _brute_force(c, w, cap.astype(float))
    k, s = _search_state(c, w, cap, w <= cap[:, None], seed)
    s.run(3000)
    best = s.best_agent()
    if np.isinf(expected):
        assert best is None
        return
    n = c.shape[1]
    # the recorded best is feasible and its cost is what the kernel reports
    load = np.bincount(best, weights=w[best, np.arange(n)], minlength=c.shape[0])
    assert (load <= cap).all()
    assert s.objective == c[best, np.arange(n)].sum()
    assert s.objective == expected
    # the running state stays consistent: loads and current cost match the assignment
    load_now = np.bincount(s.assign, weights=w[s.assign, np.arange(n)], minlength=c.shape[0])
    assert np.array_equal(load_now, s.load)
    assert s.info[k.INFO_CUR] == pytest.approx(c[s.assign, np.arange(n)].sum())


def test_gap_search_respects_eligibility_and_target():
    c, w, cap = _random_gap(11, m=4, n=9, tight=0.5)
    elig = np.ones_like(c, dtype=bool)
    elig[0, :] = False  # agent 0 takes nothing
    k, s = _search_state(c, w, cap, elig)
    s.run(2000)
    best = s.best_agent()
    assert best is not None and (best != 0).all() and (s.assign != 0).all()
    # a target at the optimum stops the search as soon as it is reached
    target = s.objective
    _, s2 = _search_state(c, w, cap, elig)
    s2.info[k.INFO_TARGET] = target
    assert s2.run(100_000) is True
    assert s2.objective <= target and s2.info[k.INFO_ITER] < 100_000


def test_gap_search_same_seed_same_path():
    c, w, cap = _random_gap(3, m=5, n=30, tight=0.3)
    runs = []
    for _ in range(2):
        _, s = _search_state(c, w, cap, w <= cap[:, None], seed=7)
        s.run(500)
        runs.append((s.best_agent(), s.assign.copy(), s.objective))
    assert np.array_equal(runs[0][0], runs[1][0]) and np.array_equal(runs[0][1], runs[1][1])
    assert runs[0][2] == runs[1][2]


@pytest.mark.parametrize("seed", range(4))
def test_lagrangian_bound_and_fixing_keep_the_optimum(seed):
    from gridopt.assign.gap import _lagrangian_fixing

    c, w, cap = _random_gap(seed, m=3, n=6, tight=0.45)
    m, n = c.shape
    opt = _brute_force(c, w, cap.astype(float))
    if np.isinf(opt):
        pytest.skip("infeasible draw")
    elig = w <= cap[:, None]
    # every optimal assignment, by enumeration
    optima = []
    for agents in itertools.product(range(m), repeat=n):
        a = np.array(agents)
        load = np.bincount(a, weights=w[a, np.arange(n)], minlength=m)
        if (load <= cap).all() and c[a, np.arange(n)].sum() == opt:
            optima.append(a)
    bound, keep, u = _lagrangian_fixing(c, w, cap, elig, np.zeros(n), opt + 1)
    assert bound <= opt + 1e-6  # a lower bound
    assert u.shape == (n,)
    for a in optima:  # pairs of solutions cheaper than ub = opt + 1 are never fixed out
        assert keep[a, np.arange(n)].all()
    # with ub = opt no cheaper solution exists: the bound or the fixing must show it
    bound2, keep2, _ = _lagrangian_fixing(c, w, cap, elig, np.zeros(n), opt)
    assert bound2 <= opt + 1e-6


def test_lagrangian_at_least_lp_bound_on_orlibrary(shared):
    from gridopt.assign.gap import _lagrangian_fixing, _lp

    c, w, cap = _read_gap(shared("benchmarks", "gap", "cattrysse1994", "gap1-0"))
    model = _full_model(c, w, cap)
    duals = []
    status, lb, _, _ = _lp(model, duals)
    bound, keep, _ = _lagrangian_fixing(c, w, cap, w <= cap[:, None], duals[0], 261)
    assert status == "optimal" and lb - 1e-6 <= bound <= 261 + 1e-6
    assert keep.sum() < keep.size  # the fixing removes pairs


@pytest.mark.parametrize("exact", ["auto", "mip", "scip", "cpsat"])
def test_solve_gap_exact_engines_match_brute_force(exact):
    c, w, cap = _random_gap(5, m=3, n=7, tight=0.4)
    expected = _brute_force(c, w, cap.astype(float))
    res = solve_gap(c, w, cap, time_limit=3, seed=1, num_workers=1, exact=exact)
    assert res.status == "optimal" and res.objective == expected


def test_solve_gap_without_lagrangian_or_local_search():
    c, w, cap = _random_gap(8, m=3, n=7, tight=0.4)
    expected = _brute_force(c, w, cap.astype(float))
    for kw in ({"lagrangian": False}, {"local_search": 0.0}, {"parallel_search": False}):
        res = solve_gap(c, w, cap, time_limit=3, seed=2, num_workers=1, **kw)
        assert res.status == "optimal" and res.objective == expected, kw


def test_solve_gap_progress_and_bad_exact():
    c, w, cap = _random_gap(2, m=5, n=40, tight=0.25)
    seen = []
    res = solve_gap(c, w, cap, time_limit=1.0, seed=0, num_workers=1, progress=seen.append)
    assert res.is_feasible()
    assert all(d["stage"] == "local search" and d["iterations"] > 0 for d in seen)
    with pytest.raises(InputError, match="exact: must be 'auto', 'mip', 'scip' or 'cpsat'"):
        solve_gap(c, w, cap, exact="simplex")


def test_solve_gap_cpu_clock_and_bad_clock():
    c, w, cap = _random_gap(4, m=3, n=7, tight=0.4)
    expected = _brute_force(c, w, cap.astype(float))
    res = solve_gap(c, w, cap, time_limit=1, seed=0, num_workers=1, clock="cpu")
    assert res.status == "optimal" and res.objective == expected
    with pytest.raises(InputError, match="clock: must be 'wall' or 'cpu'"):
        solve_gap(c, w, cap, clock="gpu")


@pytest.mark.parametrize("seed", range(3))
def test_gap_columns_are_exactly_the_sets_within_delta(seed):
    from gridopt.assign.gap import _Columns

    c, w, cap = _random_gap(seed, m=3, n=8, tight=0.4)
    m, n = c.shape
    el = w <= cap[:, None]
    u = np.random.default_rng(seed).uniform(5, 35, n)
    delta = 15.0
    cols = _Columns(c.astype(float), w, cap, el, u, delta, 10_000)
    assert not cols.full
    got = {
        (int(cols.agent[q]), tuple(cols.jobs[cols.start[q] : cols.start[q + 1]].tolist())): s
        for q, s in enumerate(cols.slack)
    }
    expected = {}
    for i in range(m):
        sets = [
            s
            for r in range(n + 1)
            for s in itertools.combinations(range(n), r)
            if w[i, list(s)].sum() <= cap[i]
        ]
        profit = {s: float(sum(u[j] - c[i, j] for j in s)) for s in sets}
        best = max(profit.values())
        for s, p in profit.items():
            if best - p <= delta + 1e-9:
                expected[(i, s)] = best - p
    assert got.keys() == expected.keys()
    for key, s in expected.items():
        assert got[key] == pytest.approx(s)
    assert np.all(np.diff(cols.slack) >= 0)  # sorted for the branch and bound
    # the bit masks match the job lists
    for q in range(cols.n_cols):
        bits = {j for j in range(n) if (int(cols.mask[q, j // 64]) >> (j % 64)) & 1}
        assert bits == set(cols.jobs[cols.start[q] : cols.start[q + 1]].tolist())
    # a full buffer is reported, not overrun
    assert _Columns(c.astype(float), w, cap, el, u, delta, 3).full


@pytest.mark.parametrize("seed", range(5))
def test_exact_columns_finds_and_proves_the_optimum(seed):
    from gridopt.assign.gap import _exact_columns

    c, w, cap = _random_gap(seed, m=3, n=7, tight=0.4)
    m, n = c.shape
    opt = _brute_force(c, w, cap.astype(float))
    if np.isinf(opt):
        pytest.skip("infeasible draw")
    el = w <= cap[:, None]
    worst = int(c.max(axis=0).sum()) + 1  # above every assignment
    agent, obj, lower, stats = _exact_columns(c, w, cap, el, np.zeros(n), worst, 60.0)
    assert agent is not None and obj == opt and lower == opt
    load = np.bincount(agent, weights=w[agent, np.arange(n)], minlength=m)
    assert (load <= cap).all() and c[agent, np.arange(n)].sum() == opt
    assert all(level["complete"] for level in stats["columns_levels"])
    # costs are integral: every level's budget ends on an integer cost, one per level
    # at least, and the last one admits the optimum
    ends = [stats["columns_bound"] + lv["delta"] for lv in stats["columns_levels"]]
    assert all(abs(e - round(e)) < 1e-5 for e in ends)
    assert all(b >= a + 1 - 1e-6 for a, b in zip(ends, ends[1:], strict=False))
    assert round(ends[-1]) >= opt
    # with the optimum as incumbent nothing better exists, and the bound says so
    agent2, obj2, lower2, _ = _exact_columns(c, w, cap, el, np.zeros(n), int(opt), 60.0)
    assert agent2 is None and obj2 == opt and lower2 == opt
    # a node budget instead of the clock gives the same answer on every run
    runs = [_exact_columns(c, w, cap, el, np.zeros(n), worst, 60.0, max_nodes=4) for _ in range(2)]
    assert runs[0][1:3] == runs[1][1:3]


def test_solve_gap_columns_off_and_on_agree():
    c, w, cap = _random_gap(21, m=4, n=9, tight=0.3)
    expected = _brute_force(c, w, cap.astype(float))
    if np.isinf(expected):
        pytest.skip("infeasible draw")
    for share in (0.0, 0.8):
        res = solve_gap(c, w, cap, time_limit=3, seed=0, num_workers=1, columns=share)
        assert res.status == "optimal" and res.objective == expected


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("deterministic", [False, True])
def test_scip_and_highs_rounds_agree_with_brute_force(seed, deterministic):
    from gridopt.assign.gap import _mip_solve, _pairs_of, _scip_solve

    c, w, cap = _random_gap(seed, m=3, n=7, tight=0.45)
    opt = _brute_force(c, w, cap.astype(float))
    if np.isinf(opt):
        pytest.skip("infeasible draw")
    model = _full_model(c, w, cap)
    mask = np.ones(model.n_pairs, dtype=bool)
    # a feasible start from a short search, handed to SCIP as its hint
    _, s = _search_state(c, w, cap, w <= cap[:, None], seed)
    s.run(200)
    hint = _pairs_of(model, s.best_agent())
    for got in (
        _scip_solve(model, mask, 5.0, deterministic, hint),
        _scip_solve(model, mask, 5.0, deterministic),
        _mip_solve(model, mask, 5.0, deterministic),
    ):
        assert got.status == "optimal" and got.objective == opt
        agent = model.agent[got.choice]
        assert np.array_equal(model.job[got.choice], np.arange(model.n_jobs))
        load = np.bincount(agent, weights=w[agent, np.arange(7)], minlength=3)
        assert (load <= cap).all() and c[agent, np.arange(7)].sum() == opt
    # without agent 0 and with capacities halved nothing fits
    model.hi[:] = 0
    assert _scip_solve(model, mask, 5.0, deterministic).status == "infeasible"


def test_search_hand_over_is_immediate_and_taken_up():
    c, w, cap = _random_gap(3, m=8, n=80, tight=0.2)
    _, long = _search_state(c, w, cap, w <= cap[:, None], seed=8)
    long.run(3000)
    better = long.best_agent()
    assert better is not None and long.objective == c[better, np.arange(80)].sum()
    k, fresh = _search_state(c, w, cap, w <= cap[:, None], seed=7)
    assert fresh.best_agent() is None and fresh.objective == np.inf
    # a solution handed in shows at once, before the searching thread takes it up
    fresh.inject(better, long.objective)
    assert fresh.objective == long.objective and np.array_equal(fresh.best_agent(), better)
    assert fresh._pending is not None
    fresh.inject(better, long.objective + 5)  # not better: ignored
    assert fresh._pending[0] == long.objective
    fresh.run(1)  # the next chunk starts from it
    assert fresh._pending is None and fresh.info[k.INFO_LAST] == 0
    assert fresh.info[k.INFO_BEST] <= long.objective


def test_small_reduced_model_is_solved_in_one_scip_round_reproducibly():
    from gridopt.assign.gap import _mip_solve

    # Chu-Beasley type C by its recipe: 20 jobs per agent, capacities at 80 % of the
    # mean load; the Lagrangian fixing leaves under 2 pairs per job
    rng = np.random.default_rng(0)
    m, n = 5, 100
    c = rng.integers(10, 51, (m, n))
    w = rng.integers(5, 26, (m, n))
    cap = np.floor(0.8 * w.sum(axis=1) / m).astype(np.int64)
    runs = [
        solve_gap(c, w, cap, time_limit=2, seed=0, num_workers=1, deterministic=True)
        for _ in range(2)
    ]
    a, b = runs
    assert a.status == "optimal" and np.array_equal(a.agent, b.agent)
    assert a.stats["reduced_pairs"] <= 3 * n and a.stats["rounds"] == 1
    assert "scip_status" in a.stats["exact"]
    full = _full_model(c, w, cap)
    ref = _mip_solve(full, np.ones(full.n_pairs, dtype=bool), 30.0, False)
    assert ref.status == "optimal" and a.objective == ref.objective


def test_search_restart_from_keeps_the_best():
    c, w, cap = _random_gap(3, m=8, n=80, tight=0.2)
    k, s = _search_state(c, w, cap, w <= cap[:, None], seed=8)
    s.run(2000)
    best, best_obj = s.best_agent(), s.objective
    assert best is not None
    # any assignment, feasible or not, better or not: the search goes on from it
    other = np.roll(best, 1)
    s.restart_from(other)
    assert s.objective == best_obj  # nothing shows until the search takes it up
    it = int(s.info[k.INFO_ITER])
    s.run(1)
    assert s._restart is None and s.info[k.INFO_LAST] == it
    # one move changes at most two jobs of the assignment it started from
    assert (s.assign != other).sum() <= 2
    # the best is still the better one, and the state stays consistent
    assert s.objective <= best_obj
    assert np.array_equal(s.best_agent(), best) or s.objective < best_obj
    load = np.bincount(s.assign, weights=w[s.assign, np.arange(80)], minlength=8)
    assert np.array_equal(load, s.load)


@pytest.mark.parametrize("seed", range(3))
def test_mip_on_other_costs_counts_the_models_costs(seed):
    from gridopt.assign.gap import _mip_solve

    c, w, cap = _random_gap(seed, m=3, n=7, tight=0.45)
    if np.isinf(_brute_force(c, w, cap.astype(float))):
        pytest.skip("infeasible draw")
    model = _full_model(c, w, cap)
    other = np.random.default_rng(seed).integers(1, 40, c.shape)
    got = _mip_solve(
        model, np.ones(model.n_pairs, dtype=bool), 5.0, False,
        cost=other[model.agent, model.job].astype(np.float64),
    )  # fmt: skip
    agent = model.agent[got.choice]
    # optimal for the other costs, reported in the model's own costs
    assert other[agent, np.arange(7)].sum() == _brute_force(other, w, cap.astype(float))
    assert got.objective == c[agent, np.arange(7)].sum()


def test_solve_gap_kicks_restart_the_search_on_a_large_model():
    # Chu-Beasley type D by its recipe: the Lagrangian fixing keeps every pair, so after
    # the short rounds the whole model gets kicks
    rng = np.random.default_rng(1)
    m, n = 10, 100
    w = rng.integers(1, 101, (m, n))
    c = 111 - w + rng.integers(-10, 11, (m, n))
    cap = np.floor(0.8 * w.sum(axis=1) / m).astype(np.int64)
    res = solve_gap(c, w, cap, time_limit=4, seed=0, columns=0.0)
    assert res.is_feasible
    assert res.stats["kicks"] >= 1 and res.stats["method"] == "lagrangian_mip"
    load = np.bincount(res.agent, weights=w[res.agent, np.arange(n)], minlength=m)
    assert (load <= cap).all() and res.objective == c[res.agent, np.arange(n)].sum()
    # the incumbent only ever improves, and the result is the last one
    trace = [ub for _, ub, _ in res.stats["trace"]]
    assert trace == sorted(trace, reverse=True) and res.objective <= trace[-1]
    assert res.bound <= res.objective
    # deterministic runs have no search thread beside the rounds: no kicks
    det = solve_gap(c, w, cap, time_limit=1, seed=0, deterministic=True, columns=0.0)
    assert det.stats["kicks"] == 0
