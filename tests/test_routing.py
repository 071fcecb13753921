"""Tests of gridopt.dispatch.routing: daily dispatch and the Solomon VRPTW entry.

Every solved day is checked by ``verify_routes``, written here independently of the
solver: skills, windows, shifts, travel gaps, lunch breaks, capacity, lateness, and that
each ticket is served once or dropped with a reason.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from gridopt.dispatch import (
    DROP_REASONS,
    Routes,
    TravelModel,
    dispatch_day,
    grid_neighbours,
    read_solomon,
    solve_vrptw,
)
from gridopt.errors import InputError
from gridopt.model import Layout, Staff, Tickets, Units

TOL = 0.05  # minutes: the solver works in whole seconds
LUNCH = (690.0, 810.0, 30.0)


# --------------------------------------------------------------------------- fixtures


def make_staff(x, y, grid, skills=None, start=480.0, end=1020.0, capacity=480.0, role=1):
    n = len(x)
    return Staff(
        ids=np.arange(100, 100 + n),
        role=np.full(n, role),
        x=np.asarray(x, dtype=float),
        y=np.asarray(y, dtype=float),
        shift_start=np.broadcast_to(start, n).astype(float),
        shift_end=np.broadcast_to(end, n).astype(float),
        skills=np.ones(n, dtype=np.int64) if skills is None else skills,
        capacity=np.broadcast_to(capacity, n).astype(float),
        grid=grid,
    )


def make_tickets(x, y, skill=None, priority=None, duration=None):
    n = len(x)
    return Tickets(
        ids=np.arange(n) + 1000,
        time=np.zeros(n),
        x=np.asarray(x, dtype=float),
        y=np.asarray(y, dtype=float),
        unit=np.full(n, -1),
        type=np.zeros(n, dtype=np.int8),
        priority=np.ones(n, dtype=np.int8) if priority is None else priority,
        skill=np.ones(n, dtype=np.int64) if skill is None else skill,
        duration=np.full(n, 30.0) if duration is None else duration,
    )


@pytest.fixture
def city():
    """A 4 x 4 lattice of 1 km units in four 2 x 2 grids, two technicians per grid and
    24 tickets with morning/afternoon windows."""
    xs, ys = np.meshgrid(np.arange(4) * 1000.0, np.arange(4) * 1000.0)
    xs, ys = xs.ravel(), ys.ravel()
    edges = [(i, i + 1) for i in range(16) if i % 4 != 3] + [(i, i + 4) for i in range(12)]
    units = Units.from_edges(ids=np.arange(16), x=xs, y=ys, attributes={}, edges=edges)
    labels = (ys // 2000).astype(int) * 2 + (xs // 2000).astype(int)
    layout = Layout(labels=labels, n_grids=4)
    cx = np.array([500.0, 2500.0, 500.0, 2500.0])
    cy = np.array([500.0, 500.0, 2500.0, 2500.0])
    staff = make_staff(
        np.repeat(cx, 2),
        np.repeat(cy, 2),
        np.repeat(np.arange(4), 2),
        skills=np.array([1, 3] * 4, dtype=np.int64),
    )
    rng = np.random.default_rng(7)
    n = 24
    unit = rng.integers(0, 16, n)
    tickets = Tickets(
        ids=np.arange(n) + 1,
        time=np.zeros(n),
        x=xs[unit] + rng.uniform(-400, 400, n),
        y=ys[unit] + rng.uniform(-400, 400, n),
        unit=unit,
        type=np.zeros(n, dtype=np.int8),
        priority=rng.integers(0, 3, n).astype(np.int8),
        skill=np.where(rng.random(n) < 0.2, 2, 1).astype(np.int64),
        duration=rng.uniform(20, 60, n),
    )
    windows = np.where((np.arange(n) % 2 == 0)[:, None], [[480.0, 720.0]], [[720.0, 1020.0]])
    return {
        "units": units,
        "layout": layout,
        "staff": staff,
        "tickets": tickets,
        "windows": windows,
    }


# --------------------------------------------------------------------------- verifier


def verify_routes(
    routes,
    tickets,
    staff,
    *,
    windows=None,
    lunch=None,
    detour=1.3,
    speed_kmh=25.0,
    max_lateness=None,
):
    """Independent feasibility check of a Routes result; returns the served positions."""
    assert isinstance(routes, Routes)
    speed = speed_kmh * 1000.0 / 60.0
    n = tickets.n_tickets
    served = routes.stop_ticket.tolist()
    assert len(set(served)) == len(served), "a ticket is served twice"
    assert not set(served) & set(routes.dropped.tolist()), "served and dropped"
    assert sorted(served + routes.dropped.tolist()) == list(range(n)), "ticket lost"
    assert len(routes.dropped_reason) == routes.n_dropped
    assert all(r in DROP_REASONS for r in routes.dropped_reason)
    assert routes.tech_n_stops.sum() == routes.n_served
    offsets = np.concatenate([[0], np.cumsum(routes.tech_n_stops)])
    for k, s in enumerate(routes.tech.tolist()):
        lo, hi = offsets[k], offsets[k + 1]
        tk = routes.stop_ticket[lo:hi]
        assert (routes.stop_tech[lo:hi] == k).all()
        if tk.size == 0:
            assert routes.tech_distance[k] == 0.0
            continue
        sx, sy = staff.x[s], staff.y[s]
        px = np.concatenate([[sx], tickets.x[tk], [sx]])
        py = np.concatenate([[sy], tickets.y[tk], [sy]])
        legs = np.hypot(np.diff(px), np.diff(py)) * detour
        assert routes.tech_distance[k] == pytest.approx(legs.sum(), rel=1e-9)
        assert routes.tech_travel[k] == pytest.approx(legs.sum() / speed, rel=1e-9)
        # skills
        need = tickets.skill[tk]
        assert ((staff.skills[s] & need) == need).all(), "skill missing"
        # capacity (service minutes)
        assert tickets.duration[tk].sum() <= staff.capacity[s] + TOL
        start = routes.stop_start[lo:hi]
        end = routes.stop_end[lo:hi]
        assert end == pytest.approx(start + tickets.duration[tk])
        assert (routes.stop_arrival[lo:hi] <= start + 1e-9).all()
        # shift
        dep, ret = routes.tech_depart[k], routes.tech_return[k]
        assert dep >= staff.shift_start[s] - TOL and ret <= staff.shift_end[s] + TOL
        # event gaps: depart -> stops -> return, each long enough for the leg (+ lunch)
        ev_end = np.concatenate([[dep], end])
        ev_start = np.concatenate([start, [ret]])
        b = routes.tech_break_start[k]
        want_break = lunch is not None and (
            min(lunch[1], staff.shift_end[s] - lunch[2]) >= max(lunch[0], staff.shift_start[s])
        )
        assert want_break == (not math.isnan(b)), "lunch break missing or unexpected"
        in_gap = np.zeros(len(legs), dtype=bool)
        if want_break:
            assert max(lunch[0], staff.shift_start[s]) - TOL <= b <= lunch[1] + TOL
            assert staff.shift_start[s] - TOL <= b and b + lunch[2] <= staff.shift_end[s] + TOL
            in_gap = (b >= ev_end - TOL) & (b + lunch[2] <= ev_start + TOL)
            outside = b + lunch[2] <= dep + TOL or b >= ret - TOL
            assert in_gap.sum() == 1 or outside, "lunch overlaps a service"
        need_gap = legs / speed + np.where(in_gap, lunch[2] if lunch else 0.0, 0.0)
        assert (ev_start - ev_end >= need_gap - TOL).all(), "not enough time between stops"
        # windows and lateness
        if windows is not None:
            w = np.asarray(windows)[tk]
            assert (start >= w[:, 0] - TOL).all(), "service before the window opens"
            late = np.maximum(0.0, start - w[:, 1])
            assert routes.stop_lateness[lo:hi] == pytest.approx(late, abs=TOL)
            if max_lateness is not None:
                assert (late <= max_lateness + TOL).all()
    assert routes.total_distance == pytest.approx(routes.tech_distance.sum())
    return served


# ------------------------------------------------------------------------------ basics


def test_one_ticket_hand_checked():
    # home at 0, ticket 5 km east: 6.5 km road each way at 25 km/h = 15.6 minutes
    staff = make_staff([0.0], [0.0], [0])
    tickets = make_tickets([5000.0], [0.0])
    r = dispatch_day(
        tickets,
        staff,
        ticket_grid=[0],
        windows=[[480.0, 485.0]],
        lunch=None,
        search="descent",
        time_limit=60.0,
    )
    verify_routes(r, tickets, staff, windows=[[480.0, 485.0]])
    assert r.status in ("feasible", "optimal", "time_limit")
    assert r.total_distance == pytest.approx(13000.0)
    assert r.tech_travel[0] == pytest.approx(13000.0 / (25000.0 / 60.0))
    # leaves at shift start (480), arrives at 495.6, 10.6 minutes after the window closed
    assert r.tech_depart[0] == pytest.approx(480.0, abs=TOL)
    assert r.stop_start[0] == pytest.approx(480.0 + 15.6, abs=TOL)
    assert r.stop_lateness[0] == pytest.approx(10.6, abs=TOL)
    assert r.tech_return[0] == pytest.approx(480.0 + 15.6 + 30.0 + 15.6, abs=TOL)
    assert r.kpis()["late_stops"] == 1.0


def test_late_start_waits_for_window():
    staff = make_staff([0.0], [0.0], [0])
    tickets = make_tickets([1000.0], [0.0])
    r = dispatch_day(
        tickets,
        staff,
        ticket_grid=[0],
        windows=[[600.0, 660.0]],
        lunch=None,
        search="descent",
        time_limit=60.0,
    )
    verify_routes(r, tickets, staff, windows=[[600.0, 660.0]])
    assert r.stop_start[0] == pytest.approx(600.0, abs=TOL)
    assert r.stop_lateness[0] == 0.0


@pytest.mark.parametrize("policy", ["grid_first", "central"])
def test_city_day_is_feasible(city, policy):
    r = dispatch_day(
        city["tickets"],
        city["staff"],
        policy=policy,
        layout=city["layout"],
        neighbours=grid_neighbours(city["units"], city["layout"]),
        windows=city["windows"],
        lunch=LUNCH,
        search="descent",
        time_limit=60.0,
    )
    verify_routes(r, city["tickets"], city["staff"], windows=city["windows"], lunch=LUNCH)
    assert r.policy == policy
    assert r.n_dropped == 0  # plenty of capacity: 8 technicians, 24 tickets
    assert r.stats["subproblems"] == 1
    if policy == "central":
        assert not r.stop_overflow.any()


def test_same_input_same_routes(city):
    # descent ends at a local optimum on its own: no clock involved
    kw = dict(
        layout=city["layout"],
        windows=city["windows"],
        lunch=LUNCH,
        search="descent",
        time_limit=120.0,  # a safety net only
        seed=3,
    )
    a = dispatch_day(city["tickets"], city["staff"], **kw)
    b = dispatch_day(city["tickets"], city["staff"], **kw)
    for name in ("stop_tech", "stop_ticket", "stop_start", "tech_break_start", "dropped"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert a.objective == b.objective
    assert a.status == "feasible"  # ended by the local optimum, not the clock


def test_routes_are_frozen(city):
    r = dispatch_day(
        city["tickets"], city["staff"], layout=city["layout"], search="descent", time_limit=60.0
    )
    with pytest.raises(AttributeError):
        r.status = "optimal"
    with pytest.raises(ValueError):
        r.stop_start[0] = 0.0


# ------------------------------------------------------------------- grid-first policy


def test_grid_first_keeps_tickets_home_and_central_takes_nearest():
    # ticket in grid 0 but right next to grid 1's technician
    staff = make_staff([0.0, 4000.0], [0.0, 0.0], [0, 1])
    tickets = make_tickets([3900.0], [0.0])
    kw = dict(ticket_grid=[0], neighbours=[[1], [0]], lunch=None, search="descent", time_limit=60.0)
    own = dispatch_day(tickets, staff, overflow_penalty=20_000.0, **kw)
    verify_routes(own, tickets, staff)
    assert own.stop_tech.tolist() == [0] and not own.stop_overflow.any()
    # a small penalty: overflow is better for the customer, so it happens
    over = dispatch_day(tickets, staff, overflow_penalty=100.0, **kw)
    assert over.stop_tech.tolist() == [1] and over.stop_overflow.all()
    central = dispatch_day(
        tickets, staff, policy="central", lunch=None, search="descent", time_limit=60.0
    )
    assert central.stop_tech.tolist() == [1] and not central.stop_overflow.any()


def test_grid_without_technician_overflows_to_neighbour_or_drops():
    staff = make_staff([0.0], [0.0], [0])
    tickets = make_tickets([1000.0, 2000.0], [0.0, 0.0])
    r = dispatch_day(
        tickets,
        staff,
        ticket_grid=[1, 2],
        neighbours=[[1], [0], []],
        lunch=None,
        search="descent",
        time_limit=60.0,
    )
    verify_routes(r, tickets, staff)
    assert r.stop_ticket.tolist() == [0] and r.stop_overflow.tolist() == [True]
    assert r.dropped.tolist() == [1]
    assert r.dropped_reason == ("no_technician_in_reach",)
    assert r.stats["grids_without_technicians"] == [1, 2]


def test_unplaced_technician_is_a_floater():
    staff = make_staff([0.0], [0.0], [-1])
    tickets = make_tickets([1000.0], [0.0])
    r = dispatch_day(tickets, staff, ticket_grid=[3], lunch=None, search="descent", time_limit=60.0)
    assert r.n_served == 1 and r.stop_overflow.all()


# ---------------------------------------------------------------- known pitfalls


def test_skill_nobody_has_is_dropped_not_crashing():
    # OR-Tools reads an empty allowed-vehicle list as "all vehicles": must be pre-dropped
    staff = make_staff([0.0, 100.0], [0.0, 0.0], [0, 0], skills=np.array([1, 1]))
    tickets = make_tickets([500.0, 600.0, 700.0], [0.0] * 3, skill=np.array([1, 8, 2]))
    r = dispatch_day(tickets, staff, ticket_grid=[0, 0, 0], search="descent", time_limit=60.0)
    verify_routes(r, tickets, staff, lunch=LUNCH)
    assert r.stop_ticket.tolist() == [0]
    assert r.dropped.tolist() == [1, 2]
    assert r.dropped_reason == ("no_skill", "no_skill")


def test_window_outside_every_shift_is_dropped_with_reason():
    staff = make_staff([0.0], [0.0], [0], start=480.0, end=720.0)
    tickets = make_tickets([500.0, 600.0], [0.0, 0.0])
    windows = [[480.0, 600.0], [800.0, 900.0]]
    r = dispatch_day(
        tickets,
        staff,
        ticket_grid=[0, 0],
        windows=windows,
        lunch=None,
        search="descent",
        time_limit=60.0,
    )
    verify_routes(r, tickets, staff, windows=windows)
    assert r.dropped.tolist() == [1] and r.dropped_reason == ("window_outside_shifts",)


def test_lunch_break_is_taken_and_never_overlaps_service():
    # five 45-minute tickets whose windows straddle lunch: only the full-day technician
    # can serve them (the other one's shift ends at 11:40), lunch included: 5 x 45 + 45
    # minutes of work from 11:30 ends by about 16:30, before the 17:00 shift end
    staff = make_staff([0.0, 0.0], [0.0, 0.0], [0, 0], start=[480.0, 600.0], end=[1020.0, 700.0])
    xs = np.array([500.0, 1000.0, 1500.0, 2000.0, 2500.0])
    tickets = make_tickets(xs, np.zeros(5), duration=np.full(5, 45.0))
    windows = np.array(
        [[690.0, 720.0], [700.0, 740.0], [720.0, 760.0], [740.0, 800.0], [780.0, 840.0]]
    )
    lunch = (700.0, 760.0, 45.0)
    r = dispatch_day(
        tickets,
        staff,
        ticket_grid=np.zeros(5, dtype=int),
        windows=windows,
        lunch=lunch,
        max_lateness=120.0,
        search="descent",
        time_limit=60.0,
    )
    verify_routes(r, tickets, staff, windows=windows, lunch=lunch, max_lateness=120.0)
    # the full-day technician has a lunch in [700, 760]; the 10:00-11:40 one has none
    assert 700.0 - TOL <= r.tech_break_start[0] <= 760.0 + TOL
    assert math.isnan(r.tech_break_start[1])
    assert r.n_served == 5 and r.route(0).size == 5


def test_priorities_decide_what_is_dropped():
    # capacity for one 40-minute ticket: the urgent one is kept
    staff = make_staff([0.0], [0.0], [0], capacity=60.0)
    tickets = make_tickets(
        [900.0, 1000.0, 1100.0],
        [0.0] * 3,
        priority=np.array([2, 0, 1], dtype=np.int8),
        duration=np.full(3, 40.0),
    )
    r = dispatch_day(
        tickets, staff, ticket_grid=[0, 0, 0], lunch=None, search="descent", time_limit=60.0
    )
    verify_routes(r, tickets, staff)
    assert r.stop_ticket.tolist() == [1]
    assert r.dropped.tolist() == [0, 2] and r.dropped_reason == ("capacity", "capacity")


def test_time_limit_is_respected(city):
    r = dispatch_day(
        city["tickets"],
        city["staff"],
        layout=city["layout"],
        windows=city["windows"],
        lunch=LUNCH,
        time_limit=0.5,
    )
    verify_routes(r, city["tickets"], city["staff"], windows=city["windows"], lunch=LUNCH)
    assert r.stats["runtime"] < 3.0
    assert r.status in ("feasible", "time_limit", "optimal")


@pytest.mark.parametrize("decompose", ["grid", "cluster"])
def test_decomposition(city, decompose):
    nb = grid_neighbours(city["units"], city["layout"])
    r = dispatch_day(
        city["tickets"],
        city["staff"],
        layout=city["layout"],
        neighbours=nb,
        windows=city["windows"],
        lunch=LUNCH,
        decompose=decompose,
        cluster_size=12,
        search="descent",
        time_limit=60.0,
    )
    verify_routes(r, city["tickets"], city["staff"], windows=city["windows"], lunch=LUNCH)
    assert r.stats["subproblems"] >= 2
    if decompose == "grid":
        assert r.stats["subproblems"] == 4 and not r.stop_overflow.any()


def test_progress_is_reported(city):
    seen = []
    dispatch_day(
        city["tickets"],
        city["staff"],
        layout=city["layout"],
        decompose="grid",
        search="descent",
        time_limit=60.0,
        progress=seen.append,
    )
    assert [d["done"] for d in seen] == [1, 2, 3, 4]
    assert all(d["total"] == 4 for d in seen)
    assert sum(d["tickets"] for d in seen) == city["tickets"].n_tickets


def test_grid_neighbours_of_lattice(city):
    nb = grid_neighbours(city["units"], city["layout"])
    assert [a.tolist() for a in nb] == [[1, 2], [0, 3], [0, 3], [1, 2]]


def test_custom_travel_callable():
    def manhattan(x, y):
        x, y = np.asarray(x), np.asarray(y)
        d = np.abs(x[:, None] - x[None, :]) + np.abs(y[:, None] - y[None, :])
        return d, d / 500.0

    staff = make_staff([0.0], [0.0], [0])
    tickets = make_tickets([300.0], [400.0])
    r = dispatch_day(
        tickets,
        staff,
        ticket_grid=[0],
        travel=manhattan,
        lunch=None,
        search="descent",
        time_limit=60.0,
    )
    assert r.total_distance == pytest.approx(1400.0)
    assert r.stop_start[0] - r.tech_depart[0] == pytest.approx(700.0 / 500.0, abs=TOL)


# ------------------------------------------------------------------------- bad input


def test_bad_windows(city):
    t, s = city["tickets"], city["staff"]
    bad = city["windows"].copy()
    bad[3] = [700.0, 600.0]
    with pytest.raises(InputError, match=r"windows: closes before it opens \(row 3\)"):
        dispatch_day(t, s, layout=city["layout"], windows=bad)
    with pytest.raises(InputError, match="windows: must have shape"):
        dispatch_day(t, s, layout=city["layout"], windows=np.zeros((3, 2)))
    bad = city["windows"].copy()
    bad[5, 0] = np.nan
    with pytest.raises(InputError, match=r"windows: must be finite \(row 5\)"):
        dispatch_day(t, s, layout=city["layout"], windows=bad)


def test_no_technicians(city):
    s = city["staff"].replace(role=np.full(city["staff"].n_staff, 2))
    with pytest.raises(InputError, match="staff: no staff with role"):
        dispatch_day(city["tickets"], s, layout=city["layout"])


def test_negative_duration_and_missing_shift_rejected_by_model():
    with pytest.raises(InputError, match=r"duration: must be > 0 minutes \(row 1\)"):
        make_tickets([0.0, 1.0], [0.0, 0.0], duration=np.array([10.0, -5.0]))
    with pytest.raises(InputError, match=r"shift_end: must be after shift_start \(row 0\)"):
        make_staff([0.0], [0.0], [0], start=600.0, end=600.0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"policy": "nearest"}, "policy: must be one of"),
        ({"decompose": "city"}, "decompose: must be one of"),
        ({"policy": "central", "decompose": "grid"}, "decompose: the central pool is one model"),
        ({"decompose": "cluster"}, "neighbours: decompose='cluster' needs"),
        ({"time_limit": 0.0}, "time_limit: must be > 0"),
        ({"time_limit": None}, "time_limit: give a time_limit or a solution_limit"),
        ({"lunch": (800.0, 700.0, 30.0)}, "lunch: needs 0 <= earliest <= latest"),
        ({"lunch": (700.0, 800.0, 0.0)}, "lunch: needs"),
        ({"priority_weights": [1.0, -1.0]}, "priority_weights: must be"),
        ({"drop_penalty": -1.0}, "drop_penalty: must be a finite number >= 0"),
        ({"max_lateness": -5.0}, "max_lateness: must be >= 0"),
        ({"roles": ["chef"]}, "roles: unknown role"),
        ({"neighbours": [[1]]}, "neighbours: has 1 entries"),
        ({"neighbours": [[-1], [], [], []]}, "neighbours: grid 0 lists a negative grid"),
    ],
)
def test_bad_arguments(city, kwargs, match):
    with pytest.raises(InputError, match=match):
        dispatch_day(city["tickets"], city["staff"], layout=city["layout"], **kwargs)


def test_bad_ticket_grid(city):
    t, s = city["tickets"], city["staff"]
    with pytest.raises(InputError, match="ticket_grid: grid_first needs ticket_grid or a layout"):
        dispatch_day(t, s)
    with pytest.raises(InputError, match="ticket_grid: must have shape"):
        dispatch_day(t, s, ticket_grid=[0, 1])
    g = np.zeros(t.n_tickets, dtype=int)
    g[2] = -4
    with pytest.raises(InputError, match=r"ticket_grid: must be >= -1 \(row 2\)"):
        dispatch_day(t, s, ticket_grid=g)


def test_bad_travel_callable():
    staff = make_staff([0.0], [0.0], [0])
    tickets = make_tickets([300.0], [400.0])
    with pytest.raises(InputError, match="travel: must return two"):
        dispatch_day(
            tickets,
            staff,
            ticket_grid=[0],
            travel=lambda x, y: (np.zeros(2),) * 2,
            search="descent",
            time_limit=60.0,
        )
    with pytest.raises(InputError, match="travel.detour: must be >= 1"):
        TravelModel(detour=0.5)


# --------------------------------------------------------------------------- Solomon


def tiny_vrptw():
    # depot at 0; customers 1 (3, 0) and 2 (0, 4); 3-4-5 triangle
    return dict(
        x=[0, 3, 0],
        y=[0, 0, 4],
        demand=[0, 1, 1],
        ready=[0, 0, 0],
        due=[100, 100, 100],
        service=[0, 1, 1],
    )


def test_vrptw_tiny_hand_checked():
    res = solve_vrptw(**tiny_vrptw(), capacity=2, n_vehicles=2, solution_limit=20, time_limit=2.0)
    assert res.cost == 12.0 and res.n_vehicles == 1
    # capacity 1 forces two vehicles: 3 + 3 + 4 + 4
    res = solve_vrptw(**tiny_vrptw(), capacity=1, n_vehicles=2, solution_limit=20, time_limit=2.0)
    assert res.cost == 14.0 and sorted(res.routes) == [(1,), (2,)]
    assert res.to_cvrplib().splitlines()[-1] == "Cost 14.0"


def test_vrptw_truncated_distances():
    # (1, 1) is 1.414... away: truncated to 1.4 each way
    res = solve_vrptw(
        [0, 1],
        [0, 1],
        [0, 1],
        [0, 0],
        [10, 10],
        [0, 0],
        capacity=1,
        n_vehicles=1,
        solution_limit=5,
        time_limit=2.0,
    )
    assert res.cost == pytest.approx(2.8)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"service": [0, -1, 1]}, r"service: must be >= 0 \(row 1\)"),
        ({"due": [100, 100, -3]}, r"due: window closes before it opens \(row 2\)"),
        ({"demand": [0, 1, 5]}, r"demand: exceeds vehicle capacity \(row 2\)"),
        ({"y": [0, 3]}, r"y: must have shape \(3,\)"),
        ({"y": [0, np.nan, 4]}, r"y: must be finite \(row 1\)"),
    ],
)
def test_vrptw_bad_input(change, match):
    data = {**tiny_vrptw(), **change}
    with pytest.raises(InputError, match=match):
        solve_vrptw(**data, capacity=2, n_vehicles=2, solution_limit=20, time_limit=2.0)


def test_vrptw_bad_fleet():
    with pytest.raises(InputError, match="capacity: must be > 0"):
        solve_vrptw(**tiny_vrptw(), capacity=0, n_vehicles=2, solution_limit=20, time_limit=2.0)
    with pytest.raises(InputError, match="n_vehicles: must be >= 1"):
        solve_vrptw(**tiny_vrptw(), capacity=2, n_vehicles=0, solution_limit=20, time_limit=2.0)
    with pytest.raises(InputError, match="strategies: unknown"):
        solve_vrptw(
            **tiny_vrptw(),
            capacity=2,
            n_vehicles=2,
            solution_limit=5,
            strategies=["TELEPORT"],
        )


def verify_solomon(inst, res):
    """Capacity, windows (truncated distances as travel time) and the reported cost."""
    x, y = inst["x"], inst["y"]
    d = np.floor(np.hypot(x[:, None] - x[None, :], y[:, None] - y[None, :]) * 10) / 10
    seen = sorted(c for r in res.routes for c in r)
    assert seen == list(range(1, len(x)))
    total = 0.0
    for r in res.routes:
        assert inst["demand"][list(r)].sum() <= inst["capacity"]
        t, prev = inst["ready"][0], 0
        for c in (*r, 0):
            t = max(t + d[prev, c], inst["ready"][c])
            assert t <= inst["due"][c] + 1e-6, f"customer {c} late"
            total += d[prev, c]
            t += inst["service"][c]
            prev = c
    assert res.cost == pytest.approx(total, abs=1e-6)


@pytest.mark.slow
def test_solomon_c101_short_run(shared):
    path = shared("benchmarks", "solomon", "C101.txt")
    inst = read_solomon(path)
    assert inst["n_vehicles"] == 25 and inst["capacity"] == 200 and len(inst["x"]) == 101
    res = solve_vrptw(
        inst["x"], inst["y"], inst["demand"], inst["ready"], inst["due"], inst["service"],
        capacity=inst["capacity"], n_vehicles=inst["n_vehicles"], time_limit=1.5, clock="cpu",
    )  # fmt: skip
    verify_solomon(inst, res)
    optimal = 827.3  # the Cost line of C101.sol
    assert res.cost <= optimal * 1.05  # quality is measured by benchmarks/quality.py
    assert res.stats["cpu_time"] < 1.5 + 0.5


def test_vrptw_bad_clock():
    with pytest.raises(InputError, match="clock: must be 'wall' or 'cpu'"):
        solve_vrptw(**tiny_vrptw(), capacity=2, n_vehicles=2, solution_limit=5, clock="sun")
