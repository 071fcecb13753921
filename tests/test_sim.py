"""Tests of gridopt.sim: configuration checks, engines, statistics, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gridopt.errors import InputError
from gridopt.sim import Campaign, Estimate, SimConfig, compare, erlang_c, erlang_c_within, simulate

DAY = 1440.0


@pytest.fixture
def line4() -> SimConfig:
    """Four grids in a line, two staff each, 08:00-17:00 with a 30 min break, two weeks."""
    return SimConfig(
        ticket_rate=[6.0, 6.0, 6.0, 6.0],
        staff_grid=[0, 0, 1, 1, 2, 2, 3, 3],
        neighbours=[[1], [0, 2], [1, 3], [2]],
        region=[0, 0, 0, 0],
        travel_minutes=15.0,
        horizon=14 * DAY,
        warmup=DAY,
        drain=5 * DAY,
    )


# ------------------------------------------------------------------ configuration


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"ticket_rate": [0.0, 0.0]}, "ticket_rate: must be > 0 somewhere"),
        ({"ticket_rate": [1.0, -1.0]}, r"ticket_rate: must be >= 0 \(row 1\)"),
        ({"staff_grid": [0, 0]}, r"staff_grid: grids without staff \(row 1\)"),
        ({"repair_minutes": 0.0}, "repair_minutes: must be > 0"),
        ({"repair_minutes": -5.0}, "repair_minutes: must be > 0"),
        ({"fix_probability": 1.2}, r"fix_probability: is a probability and must lie in \[0, 1\]"),
        ({"install_share": -0.1}, "install_share: is a probability"),
        ({"fix_probability": 0.0}, "fix_probability: must be > 0"),
        ({"horizon": 100.0, "warmup": 200.0}, "horizon: must be longer than the warm-up"),
        ({"policy": "magic"}, "policy: must be one of central, grid, hybrid"),
        ({"neighbours": [[1], []]}, "neighbours: must be symmetric"),
        ({"neighbours": [[0], []]}, "neighbours: must be other grids"),
        ({"shift_end": [400.0, 1000.0, 1000.0]}, r"shift_end: must be after shift_start.*row 0"),
        ({"sale_probability": [0.1, 0.1, 2.0, 0.1, 0.1]}, r"sale_probability: must be in \[0, 1\]"),
        ({"duration": "weibull"}, "duration: must be one of"),
        ({"hour_profile": [1.0] * 23}, "hour_profile: must have 24 entries"),
    ],
)
def test_bad_config_names_field(changes, match):
    base = {"ticket_rate": [1.0, 1.0], "staff_grid": [0, 1, 1], "horizon": 7 * DAY}
    base.update(changes)
    with pytest.raises(InputError, match=match):
        SimConfig(**base)


def test_campaign_bad_input():
    with pytest.raises(InputError, match=r"campaign.sms_reach: is a probability"):
        Campaign(targets=10, sms_reach=1.5)
    with pytest.raises(InputError, match="campaign.targets: must be >= 1"):
        Campaign(targets=0)
    with pytest.raises(InputError, match="campaign.door_day: wave 3 must start after wave 2"):
        Campaign(targets=10, call_day=2, call_days=5, door_day=3)
    with pytest.raises(InputError, match="campaign.targets: contacts 500 households but only 30"):
        SimConfig(
            ticket_rate=[1.0], staff_grid=[0], households=[30.0], campaign=Campaign(targets=500)
        )


def test_mmc_bad_input():
    with pytest.raises(InputError, match="arrival_rate: must be > 0"):
        SimConfig.mmc(0.0, 1.0, 1, horizon=10.0)
    with pytest.raises(InputError, match="service_rate: must be > 0"):
        SimConfig.mmc(1.0, -1.0, 1, horizon=10.0)
    with pytest.raises(InputError, match="c: must be >= 1 server"):
        SimConfig.mmc(1.0, 1.0, 0, horizon=10.0)
    with pytest.raises(InputError, match="horizon: must be longer than the warm-up"):
        SimConfig.mmc(1.0, 2.0, 1, horizon=10.0, warmup=20.0)


def test_simulate_bad_input(line4):
    with pytest.raises(InputError, match="replications: must be >= 1"):
        simulate(line4, replications=0)
    with pytest.raises(InputError, match="seed: must be a non-negative integer"):
        simulate(line4, replications=1, seed=-3)
    with pytest.raises(InputError, match="engine: mmc needs a plain M/M/c"):
        simulate(line4, replications=1, engine="mmc")
    with pytest.raises(InputError, match="config: must be a SimConfig"):
        simulate({"ticket_rate": [1.0]}, replications=1)


def test_dict_round_trip_and_unknown_keys(line4):
    camp = Campaign(targets=20, call_days=2, door_day=5, door_days=2)
    cfg = line4.replace(campaign=camp, households=[50.0] * 4)
    back = SimConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert back.to_dict() == cfg.to_dict()
    assert back.campaign == camp
    with pytest.raises(InputError, match="config: unknown keys: colour"):
        SimConfig.from_dict({**cfg.to_dict(), "colour": 1})


def test_offered_load_by_hand():
    # 2 staff x 8.5 h (510 min) a day; 10 tickets x (45 + 15 travel) x 1/0.75 visits = 800
    cfg = SimConfig(
        ticket_rate=[10.0],
        staff_grid=[0, 0],
        fix_probability=0.75,
        install_share=0.0,
        travel_minutes=15.0,
        horizon=DAY,
    )
    assert cfg.offered_load() == pytest.approx(800.0 / 1020.0)


# ------------------------------------------------------------------ analytical helpers


def test_erlang_c_hand_values():
    # M/M/1, rho 0.5: P(wait) = 0.5, Wq = rho / (mu - lam) = 1
    r = erlang_c(0.5, 1.0, 1)
    assert r["p_wait"] == pytest.approx(0.5)
    assert r["wait_mean"] == pytest.approx(1.0)
    assert r["wait_p90"] == pytest.approx(np.log(5.0) / 0.5)
    # M/M/2, a = 1: Erlang C = 1/3, Wq = C / (2 - 1) = 1/3
    r2 = erlang_c(1.0, 1.0, 2)
    assert r2["p_wait"] == pytest.approx(1 / 3)
    assert erlang_c_within(1.0, 1.0, 2, 0.0) == pytest.approx(2 / 3)
    with pytest.raises(InputError, match="arrival_rate: utilisation 1.000 >= 1"):
        erlang_c(2.0, 1.0, 2)


def test_estimate_interval():
    e = Estimate.of([2.0, 2.0, 2.0])
    assert (e.mean, e.low, e.high) == (2.0, 2.0, 2.0)
    assert e.contains(2.0) and not e.contains(2.1)
    e2 = Estimate.of([1.0, 3.0])
    assert e2.high - e2.mean == pytest.approx(12.706 * np.sqrt(2) / np.sqrt(2), rel=1e-3)


def test_normal_draws_by_inversion():
    from scipy.stats import norm

    from gridopt.sim import _engine as E

    st = np.random.SeedSequence(4).generate_state(4, np.uint64).reshape(1, 4)
    z = np.array([E._normal(st, 0) for _ in range(20_000)])
    # mean 0 and sd 1 within 4 standard errors; tail shares of the normal
    assert abs(z.mean()) < 4 / np.sqrt(z.size)
    assert abs(z.std() - 1.0) < 4 / np.sqrt(2 * z.size)
    for q in (0.01, 0.1, 0.5, 0.9, 0.99):
        share = (z < norm.ppf(q)).mean()
        assert abs(share - q) < 4 * np.sqrt(q * (1 - q) / z.size), q


# ------------------------------------------------------------------ M/M/c


@pytest.mark.parametrize(("lam", "c"), [(0.7, 1), (2.4, 3)])
def test_mmc_matches_erlang_c(lam, c):
    cfg = SimConfig.mmc(lam, 1.0, c, horizon=20000.0, warmup=500.0)
    res = simulate(cfg, replications=40, seed=11)
    ref = erlang_c(lam, 1.0, c)
    for name in ("wait_mean", "p_wait"):
        assert res.kpis[name].contains(ref[name]), (name, res.kpis[name], ref[name])
    assert res.kpis["utilisation"].mean == pytest.approx(lam / c, rel=0.02)
    # Little's law: time-average number in system = lambda * W
    assert res.kpis["in_system_mean"].mean == pytest.approx(
        res.kpis["little_lambda_w"].mean, rel=0.02
    )


def test_field_engine_reproduces_mmc():
    cfg = SimConfig.mmc(1.6, 1.0, 2, horizon=20000.0, warmup=500.0)
    res = simulate(cfg, replications=20, seed=5, engine="field")
    assert res.engine == "field"
    ref = erlang_c(1.6, 1.0, 2)
    assert res.kpis["wait_mean"].contains(ref["wait_mean"])
    assert res.kpis["p_wait"].contains(ref["p_wait"])
    assert res.kpis["within_target"].contains(erlang_c_within(1.6, 1.0, 2, 1.0))


def test_overload_is_reported_not_hung():
    cfg = SimConfig.mmc(3.0, 1.0, 2, horizon=5000.0).replace(job_capacity=200)
    res = simulate(cfg, replications=2, seed=1)
    assert res.status == "infeasible" and not res.is_stable()
    assert res.stats["offered_load"] == pytest.approx(1.5)
    assert res.stats["overflowed_replications"] == 2
    assert any("offered load 1.500 >= 1" in w for w in res.warnings)


# ------------------------------------------------------------------ determinism and CRN


def test_same_seed_same_result_any_threads(line4):
    a = simulate(line4, replications=4, seed=3, threads=1)
    b = simulate(line4, replications=4, seed=3, threads=2)
    c = simulate(line4, replications=4, seed=4, threads=2)
    for k in a.replications:
        np.testing.assert_array_equal(a.replications[k], b.replications[k])
    assert not np.array_equal(a.replications["arrivals"], c.replications["arrivals"])


def test_progress_batches_do_not_change_results(line4):
    seen = []
    a = simulate(line4, replications=5, seed=9, progress=seen.append)
    b = simulate(line4, replications=5, seed=9)
    assert seen[-1] == {"done": 5, "total": 5}
    np.testing.assert_array_equal(
        a.replications["response_onsite_mean"], b.replications["response_onsite_mean"]
    )


def test_common_random_numbers_pair_policies(line4):
    central = simulate(line4.replace(policy="central", desk_delay=30.0), replications=6, seed=21)
    grid = simulate(line4, replications=6, seed=21)
    hybrid = simulate(line4.replace(policy="hybrid"), replications=6, seed=21)
    d = compare(central, grid)
    # identical demand in every replication
    assert d["arrivals"].mean == 0.0 and d["arrivals"].sd == 0.0
    # the desk adds about 30 min to every response: grid-direct answers sooner
    assert d["response_onsite_mean"].high < 0
    assert hybrid.kpis["arrivals"].mean == grid.kpis["arrivals"].mean
    with pytest.raises(InputError, match="compare: needs the same seed"):
        compare(central, simulate(line4, replications=6, seed=22))


# ------------------------------------------------------------------ field model by hand


def test_single_ticket_timeline_by_hand():
    """One staff on duty around the clock, fixed 60 min repairs, 10 min travel."""
    cfg = SimConfig(
        ticket_rate=[0.5],
        staff_grid=[0],
        shift_start=0.0,
        shift_end=DAY,
        workdays=127,
        break_minutes=0.0,
        travel_minutes=10.0,
        travel_cv=0.0,
        repair_minutes=60.0,
        repair_cv=0.0,
        install_share=0.0,
        fix_probability=1.0,
        horizon=20 * DAY,
        drain=DAY,
    )
    res = simulate(cfg, replications=2, seed=0, record_events=True)
    ev = res.events
    t0 = ev[ev.ticket == 0]
    first = dict(zip(t0.event.astype(str), t0.time, strict=True))
    assert first["on_site"] - first["assign"] == pytest.approx(10.0)
    assert first["job_end"] - first["on_site"] == pytest.approx(60.0)
    # with tickets 2 days apart on average the staff is mostly idle: util ~ 0.5 * 70 / 1440
    assert res.kpis["utilisation"].mean == pytest.approx(0.5 * 70 / DAY, rel=0.35)
    assert res.kpis["share_travel"].mean == pytest.approx(
        res.kpis["utilisation"].mean / 7, rel=0.05
    )
    # fix time = wait + 70 min, never less
    assert res.kpis["response_fix_mean"].mean >= 70.0


def test_shifts_breaks_and_overtime(line4):
    res = simulate(line4, replications=3, seed=2)
    k = res.kpis
    # 24 tickets/day on 8 staff x 510 min: busy but stable
    assert 0.2 < k["utilisation"].mean < 1.0
    # a 30 min break in a 540 min shift
    assert k["share_break"].mean == pytest.approx(30 / 540, rel=0.1)
    shares = sum(
        k[n].mean
        for n in ("share_travel", "share_repair", "share_door", "share_break", "share_idle")
    )
    assert shares == pytest.approx(1.0)
    assert k["overtime_hours"].mean > 0
    assert k["sla_share"].mean <= 1.0
    assert k["response_onsite_p50"].mean <= k["response_onsite_p90"].mean


def test_neighbour_help_only_above_threshold(line4):
    skew = line4.replace(ticket_rate=[20.0, 1.0, 1.0, 1.0], help_threshold=1)
    helped = simulate(skew, replications=3, seed=1)
    never = simulate(skew.replace(help_threshold=10_000), replications=3, seed=1)
    assert helped.kpis["helped_share"].mean > 0.05
    assert never.kpis["helped_share"].mean == 0.0
    assert helped.kpis["response_onsite_mean"].mean < never.kpis["response_onsite_mean"].mean


def test_outages_first_and_revisits(line4):
    cfg = line4.replace(outage_rate=1.0, outage_size=6.0, fix_probability=0.5)
    res = simulate(cfg, replications=3, seed=4)
    assert res.kpis["outage_onsite_mean"].mean < res.kpis["response_onsite_mean"].mean
    # geometric visits with p = 0.5: one revisit per fixed ticket on average
    assert res.kpis["revisit_share"].mean == pytest.approx(1.0, rel=0.25)


def test_campaign_funnel_and_lift(line4):
    camp = Campaign(
        targets=2000,
        holdout_share=0.2,
        call_days=2,
        door_day=5,
        door_days=3,
        agents=2,
        calls_per_agent=50,
        door_capacity=5,
    )
    cfg = line4.replace(campaign=camp, households=[1000.0] * 4)
    res = simulate(cfg, replications=4, seed=8)
    f = res.funnel
    treated = 2000 * 0.8
    assert f[0, 0] == pytest.approx(treated, rel=0.05)  # SMS to every treated target
    assert np.all(f[:, 1] <= f[:, 0]) and np.all(f[:, 2] <= f[:, 1])
    assert np.all(f[:, 4] <= f[:, 2]) and f[2, 3] <= f[2, 0]
    # door visits: 5 a grid a day for 3 days in 4 grids at most
    assert 0 < f[2, 3] <= 60
    assert res.kpis["door_visits"].mean == f[2, 3]
    assert res.kpis["share_door"].mean > 0
    assert res.kpis["lift"].mean > 0
    assert res.kpis["sales_sms"].mean == pytest.approx(f[0, 4])


def test_recorded_and_plain_runs_agree(line4):
    """Recording keeps the on-site arrival as an event of its own; a plain run settles it
    when the job is assigned. Both must give the same figures (up to summation order)."""
    cfg = line4.replace(
        outage_rate=1.0, fix_probability=0.7, ticket_rate=[12.0, 9.0, 6.0, 3.0], policy="hybrid"
    )
    plain = simulate(cfg, replications=2, seed=3)
    rec = simulate(cfg, replications=2, seed=3, record_events=True)
    assert rec.stats["events"] > plain.stats["events"]  # the on-site arrivals
    n_onsite = int((rec.events.event == "on_site").sum())
    assert n_onsite == int((rec.events.event == "assign").sum()) > 0
    for k, v in plain.replications.items():
        np.testing.assert_allclose(rec.replications[k], v, rtol=1e-9, err_msg=k)


def test_events_frame(line4):
    res = simulate(line4, replications=2, seed=1, record_events=True, max_records=500)
    ev = res.events
    assert list(ev.columns) == ["time", "event", "ticket", "staff", "grid", "priority", "value"]
    assert len(ev) == 500 and any("recorded 500 of" in w for w in res.warnings)
    assert np.all(np.diff(ev.time.to_numpy()) >= 0)


def test_replayed_arrival_stream_by_hand():
    """Three tickets at fixed times, one staff around the clock, 30 min jobs, no travel."""
    cfg = SimConfig(
        ticket_rate=[3.0],
        staff_grid=[0],
        shift_start=0.0,
        shift_end=DAY,
        workdays=127,
        break_minutes=0.0,
        travel_minutes=0.0,
        repair_minutes=30.0,
        repair_cv=0.0,
        install_share=0.0,
        fix_probability=1.0,
        arrival_times=[60.0, 70.0, 500.0],
        horizon=DAY,
        drain=DAY,
    )
    res = simulate(cfg, replications=3, seed=0, record_events=True)
    assert res.replications["arrivals"].tolist() == [3.0, 3.0, 3.0]
    ev = res.events
    assert ev[ev.event == "arrival"].time.tolist() == [60.0, 70.0, 500.0]
    # the second ticket waits for the first: fixed at 60 + 30 + 30 = 120
    assert ev[ev.event == "job_end"].time.tolist() == [90.0, 120.0, 530.0]
    # waits 0, 20 and 0 minutes
    assert res.kpis["wait_mean"].mean == pytest.approx(20.0 / 3.0)
    assert cfg.mmc_params() is None


def test_replayed_arrival_stream_bad_input():
    base = {"ticket_rate": [1.0, 1.0], "staff_grid": [0, 1], "horizon": DAY}
    with pytest.raises(InputError, match=r"arrival_times: must be sorted.*row 2"):
        SimConfig(**base, arrival_times=[10.0, 20.0, 15.0])
    with pytest.raises(InputError, match=r"arrival_times: must be >= 0 \(row 0\)"):
        SimConfig(**base, arrival_times=[-1.0, 20.0])
    with pytest.raises(InputError, match=r"arrival_grids: must be in \[0, 1\] \(row 1\)"):
        SimConfig(**base, arrival_times=[1.0, 2.0], arrival_grids=[0, 2])
    with pytest.raises(InputError, match="arrival_grids: given without arrival_times"):
        SimConfig(**base, arrival_grids=[0])


def test_from_city_small_generated_city():
    from gridopt.io.units import build_units
    from gridopt.model import ROLES, Layout
    from gridopt.synth import generate_city

    city = generate_city(1500, seed=5, days=0)
    units = build_units(city.households, by="building", ticket_model=city.ticket_model)
    labels = (units.x > np.median(units.x)).astype(np.int32) * 2 + (
        units.y > np.median(units.y)
    ).astype(np.int32)
    layout = Layout(labels=labels, n_grids=4)
    field = np.isin(city.staff.role, [ROLES.index("technician"), ROLES.index("installer")])
    grid = np.where(field, np.arange(city.staff.n_staff) % 4, -1).astype(np.int32)
    staff = city.staff.replace(grid=grid)
    cfg = SimConfig.from_city(units, layout, staff, horizon=14 * DAY, region_size=2)
    tpd = units.attribute("tickets_per_day")
    assert cfg.n_grids == 4 and cfg.n_staff == int(field.sum())
    np.testing.assert_allclose(cfg.ticket_rate, np.bincount(labels, weights=tpd, minlength=4))
    np.testing.assert_allclose(
        cfg.households, np.bincount(labels, weights=units.attribute("households"), minlength=4)
    )
    # staff sorted by grid, with their own shifts
    assert np.all(np.diff(cfg.staff_grid) >= 0)
    assert sorted(cfg.shift_start.tolist()) == sorted(staff.shift_start[field].tolist())
    # quadrants: each grid touches at least one other, symmetrically; two regions of two
    for g in range(4):
        nb = cfg.nb_indices[cfg.nb_indptr[g] : cfg.nb_indptr[g + 1]]
        assert len(nb) >= 1 and all(
            g in cfg.nb_indices[cfg.nb_indptr[h] : cfg.nb_indptr[h + 1]] for h in nb
        )
    assert cfg.n_regions == 2
    assert cfg.travel_matrix.shape == (4, 4) and np.all(cfg.travel_minutes >= 1.0)
    res = simulate(cfg, replications=2, seed=1)
    assert res.status == "feasible" and res.kpis["arrivals"].mean > 0
    with pytest.raises(InputError, match="staff.grid: no staff with a role"):
        SimConfig.from_city(units, layout, city.staff)


# ------------------------------------------------------------------ CLI


def test_cli_simulate_json(tmp_path, line4):
    from typer.testing import CliRunner

    from gridopt.cli import app

    path = tmp_path / "s.json"
    path.write_text(json.dumps(line4.to_dict()))
    out = CliRunner().invoke(
        app, ["simulate", str(path), "--replications", "2", "--seed", "1", "--json"]
    )
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert data["replications"] == 2 and data["engine"] == "field"
    assert data["kpis"]["arrivals"]["n"] == 2
    bad = tmp_path / "bad.toml"
    bad.write_text("ticket_rate = [1.0]\nstaff_grid = [0]\nfix_probability = 2.0\n")
    out = CliRunner().invoke(app, ["simulate", str(bad)])
    assert out.exit_code == 2
    assert "fix_probability" in out.output
