"""Grid-first versus central-pool dispatch on the same sample-city day.

The day: the tickets that arrived on day 0 of a generated city, dispatched on the next
day with morning / afternoon appointment slots (outages: 08:00-11:00). The crew on duty
is sized for about 70 % utilisation. Three variants, same tickets and same crew size:

``central_stations``
    today's model and the reference: technicians start at the service halls, one
    central pool.
``grid_first``
    technicians based in their grid (workload-weighted centre of its households),
    tickets to their own grid first, overflow to neighbouring grids at a penalty;
    decomposed into clusters of neighbouring grids.
``central_grid_bases``
    grid bases but a central pool: separates the effect of the bases from the policy.

Grids here are a plain square lattice over the city (the partitioner is not needed to
compare policies). Figures (distance, lateness, dropped tickets, overflow) go to
``benchmark.extra_info``; ``test_compare`` prints them with ratios to the reference.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import FULL, sizes

from gridopt.dispatch import dispatch_day
from gridopt.model import ROLE_TECHNICIAN, Staff, Tickets
from gridopt.synth import generate_city

N_HOUSEHOLDS = sizes([20_000], [100_000])
TIME_LIMIT = 30.0 if FULL else 5.0
VARIANTS = ("central_stations", "grid_first", "central_grid_bases")
RESULTS: dict[tuple[int, str], dict[str, float]] = {}


def _sample_day(n_households: int, seed: int = 0) -> dict:
    """Tickets of one day, a lattice of grids, and the crew on duty (see module notes)."""
    city = generate_city(n_households, seed=seed, days=1)
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])
    tk = city.tickets
    x0, y0, x1, y1 = city.bounds
    work = float(tk.duration.sum())
    n_crew = max(2, math.ceil(work / (0.7 * 480.0)))
    # square lattice with about one grid per two technicians on duty
    n_side = max(1, round(math.sqrt(n_crew / 2)))
    size = max(x1 - x0, y1 - y0) / n_side
    hh = city.households
    hcell = _cell(hh.x, hh.y, x0, y0, size, n_side)
    tcell = _cell(tk.x, tk.y, x0, y0, size, n_side)
    load = np.bincount(hcell, weights=city.ticket_model.tickets_per_day(), minlength=n_side**2)
    live = np.flatnonzero(np.bincount(hcell, minlength=n_side**2) > 0)
    grid_of_cell = np.full(n_side**2, -1)
    grid_of_cell[live] = np.arange(live.size)
    n_grids = live.size
    n_crew = max(n_crew, n_grids)
    # one technician per grid, the rest by workload (largest remainder)
    share = load[live] / load[live].sum() * (n_crew - n_grids)
    per_grid = 1 + np.floor(share).astype(int)
    rest = n_crew - per_grid.sum()
    per_grid[np.argsort(-(share - np.floor(share)), kind="stable")[:rest]] += 1
    w = city.ticket_model.tickets_per_day()
    bx = np.bincount(hcell, weights=w * hh.x, minlength=n_side**2)[live] / load[live]
    by = np.bincount(hcell, weights=w * hh.y, minlength=n_side**2)[live] / load[live]
    neighbours = []
    for c in live:
        i, j = divmod(int(c), n_side)
        cand = [
            (i + di) * n_side + (j + dj)
            for di, dj in ((-1, 0), (1, 0), (0, -1), (0, 1))
            if 0 <= i + di < n_side and 0 <= j + dj < n_side
        ]
        neighbours.append([int(grid_of_cell[k]) for k in cand if grid_of_cell[k] >= 0])
    techs = np.flatnonzero(city.staff.role == ROLE_TECHNICIAN)
    crew = rng.choice(techs, size=min(n_crew, techs.size), replace=False)
    crew_grid = np.repeat(np.arange(n_grids), per_grid)[: crew.size]
    st = city.staff
    base = dict(
        ids=st.ids[crew],
        role=st.role[crew],
        shift_start=st.shift_start[crew],
        shift_end=st.shift_end[crew],
        skills=st.skills[crew] | 1,
        capacity=st.capacity[crew],
        grid=crew_grid,
    )
    at_stations = Staff(x=st.x[crew], y=st.y[crew], **base)
    at_grids = Staff(x=bx[crew_grid], y=by[crew_grid], **base)
    # next-day appointment slots
    slot = rng.random(tk.n_tickets) < 0.5
    windows = np.where(slot[:, None], [[480.0, 720.0]], [[720.0, 1020.0]])
    windows[tk.priority == 0] = [480.0, 660.0]
    tickets = Tickets(
        ids=tk.ids,
        time=np.zeros(tk.n_tickets),
        x=tk.x,
        y=tk.y,
        unit=tk.unit,
        type=tk.type,
        priority=tk.priority,
        skill=tk.skill,
        duration=tk.duration,
    )
    return {
        "tickets": tickets,
        "windows": windows,
        "ticket_grid": grid_of_cell[tcell],
        "neighbours": neighbours,
        "at_stations": at_stations,
        "at_grids": at_grids,
        "n_grids": n_grids,
    }


def _cell(x, y, x0, y0, size, n_side):
    i = np.clip(((x - x0) // size).astype(int), 0, n_side - 1)
    j = np.clip(((y - y0) // size).astype(int), 0, n_side - 1)
    return i * n_side + j


@pytest.fixture(scope="module", params=N_HOUSEHOLDS)
def day(request):
    d = _sample_day(request.param)
    d["n_households"] = request.param
    return d


@pytest.mark.parametrize("variant", VARIANTS)
def test_dispatch_policy(benchmark, day, variant):
    staff = day["at_stations"] if variant == "central_stations" else day["at_grids"]
    kw = dict(windows=day["windows"], time_limit=TIME_LIMIT, seed=0)
    if variant == "grid_first":
        kw.update(
            policy="grid_first",
            ticket_grid=day["ticket_grid"],
            neighbours=day["neighbours"],
            decompose="cluster" if FULL else None,
        )
    else:
        kw.update(policy="central")
    routes = benchmark.pedantic(
        dispatch_day, args=(day["tickets"], staff), kwargs=kw, rounds=1, iterations=1
    )
    assert routes.n_served + routes.n_dropped == day["tickets"].n_tickets
    kpis = routes.kpis()
    kpis["runtime_s"] = routes.stats["runtime"]
    benchmark.extra_info.update(kpis)
    RESULTS[(day["n_households"], variant)] = kpis


def test_compare(day):
    n = day["n_households"]
    ref = RESULTS.get((n, "central_stations"))
    if ref is None:
        pytest.skip("the policy runs did not run")
    print(
        f"\n{n} households, {day['tickets'].n_tickets} tickets, "
        f"{day['at_grids'].n_staff} technicians, {day['n_grids']} grids, "
        f"{TIME_LIMIT:g} s per policy"
    )
    print(
        f"{'variant':20s} {'km':>8s} {'x ref':>6s} {'late min':>9s} {'late':>5s} "
        f"{'dropped':>7s} {'overflow':>8s}"
    )
    for v in VARIANTS:
        k = RESULTS.get((n, v))
        if k is None:
            continue
        ratio = k["distance_km"] / ref["distance_km"] if ref["distance_km"] else float("nan")
        print(
            f"{v:20s} {k['distance_km']:8.1f} {ratio:6.2f} {k['lateness_min']:9.1f} "
            f"{k['late_stops']:5.0f} {k['dropped']:7.0f} {k['overflow_stops']:8.0f}"
        )


# ----------------------------------------------------------------- VRPTW engines

VRPTW_CUSTOMERS = sizes([60], [200])
VRPTW_SECONDS = 10.0 if FULL else 1.0
VRPTW: dict[tuple[int, str], float] = {}


def _vrptw_instance(n_customers: int, seed: int = 0) -> dict:
    """Solomon-like RC instance: half clustered, half scattered, 60-minute windows."""
    rng = np.random.default_rng(seed)
    n_cl = n_customers // 2
    centres = rng.uniform(10, 90, (5, 2))
    pts = np.vstack(
        [
            centres[rng.integers(0, 5, n_cl)] + rng.normal(0, 4, (n_cl, 2)),
            rng.uniform(0, 100, (n_customers - n_cl, 2)),
        ]
    ).clip(0, 100)
    x, y = np.r_[50.0, pts[:, 0]], np.r_[50.0, pts[:, 1]]
    reach = np.hypot(x - 50, y - 50)
    ready = np.r_[0.0, rng.uniform(reach[1:], 900)]
    return {
        "x": x,
        "y": y,
        "demand": np.r_[0.0, rng.integers(5, 30, n_customers).astype(float)],
        "ready": ready.round(),
        "due": np.r_[1000.0, (ready[1:] + 60).round()],
        "service": np.r_[0.0, np.full(n_customers, 10.0)],
    }


@pytest.fixture(scope="session")
def warm_vrptw():
    """Compile (or load) the Numba kernels once, so compile time is never timed."""
    from gridopt.dispatch import solve_vrptw

    solve_vrptw(**_vrptw_instance(5), capacity=200, n_vehicles=5, iterations=10, time_limit=None)
    return solve_vrptw


def _pyvrp_cost(inst: dict, capacity: int, n_vehicles: int, seconds: float) -> float:
    """The peer: PyVRP's hybrid genetic search on the same integer tenths (wall-clock limit)."""
    pyvrp = pytest.importorskip("pyvrp")
    from pyvrp.stop import MaxRuntime

    x, y = inst["x"], inst["y"]
    dist = np.floor(np.hypot(x[:, None] - x[None, :], y[:, None] - y[None, :]) * 10)
    tenths = [(np.asarray(inst[k]) * 10).round().astype(int) for k in ("ready", "due", "service")]
    ready, due, service = tenths
    m = pyvrp.Model()
    locs = [m.add_location(float(a), float(b)) for a, b in zip(x, y, strict=True)]
    depot = m.add_depot(locs[0], tw_early=int(ready[0]), tw_late=int(due[0]))
    m.add_vehicle_type(
        n_vehicles, capacity=[capacity], start_depot=depot, end_depot=depot,
        tw_early=int(ready[0]), tw_late=int(due[0]),
    )  # fmt: skip
    for i in range(1, len(x)):
        m.add_client(
            locs[i], delivery=[int(inst["demand"][i])], service_duration=int(service[i]),
            tw_early=int(ready[i]), tw_late=int(due[i]),
        )  # fmt: skip
    for i, a in enumerate(locs):
        for j, b in enumerate(locs):
            m.add_edge(a, b, distance=int(dist[i, j]), duration=int(dist[i, j]))
    res = m.solve(stop=MaxRuntime(seconds), seed=0, display=False)
    assert res.is_feasible()
    return res.cost() / 10.0


@pytest.mark.parametrize("n_customers", VRPTW_CUSTOMERS)
@pytest.mark.parametrize("engine", ["ortools", "sisr", "pyvrp"])
def test_vrptw_engine(benchmark, warm_vrptw, n_customers, engine):
    """Distance after the same budget; ``ortools`` (guided local search) is the reference.

    ``pyvrp`` is the peer a user would pick (its limit is wall-clock, ours CPU seconds).
    """
    inst = _vrptw_instance(n_customers)
    if engine == "pyvrp":
        cost = benchmark.pedantic(
            _pyvrp_cost, args=(inst, 200, n_customers, VRPTW_SECONDS), rounds=1, iterations=1
        )
        extra = {}
    else:
        res = benchmark.pedantic(
            warm_vrptw,
            kwargs=dict(
                **inst, capacity=200, n_vehicles=n_customers, time_limit=VRPTW_SECONDS,
                clock="cpu", engine=engine, seed=0,
            ),
            rounds=1,
            iterations=1,
        )  # fmt: skip
        assert sorted(c for r in res.routes for c in r) == list(range(1, n_customers + 1))
        cost = res.cost
        extra = {"vehicles": res.n_vehicles, "cpu_s": res.stats["cpu_time"]}
    VRPTW[(n_customers, engine)] = cost
    ref = VRPTW.get((n_customers, "ortools"))
    benchmark.extra_info.update(
        cost=cost, cost_vs_ortools=float("nan") if ref is None else cost / ref, **extra
    )
    if ref is not None and engine != "ortools":
        print(f"\n{n_customers} customers, {VRPTW_SECONDS:g} s: {engine} {cost:.1f} "
              f"= {cost / ref:.3f} x ortools {ref:.1f}")  # fmt: skip
