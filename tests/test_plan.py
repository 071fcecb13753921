"""The planning pipeline end to end on a small generated city."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from gridopt.config import parse_scenario
from gridopt.plan import plan, write_plan

SCENARIO = """
seed = 5
[grids]
count = 3
time_limit = 2.0
restarts = 1
balance = { households = 0.2 }
[ownership]
time_limit = 5.0
[dispatch]
time_limit = 1.0
[simulation]
days = 14
warmup_days = 2
replications = 3
"""


@pytest.fixture(scope="module")
def planned(tmp_path_factory):
    out = tmp_path_factory.mktemp("plan")
    cfg = parse_scenario(SCENARIO)
    result = plan(cfg, households=2_500, out=out)
    written = write_plan(result, out)
    return cfg, out, result, written


@pytest.mark.slow
def test_every_household_has_one_grid_and_owner(planned):
    _, _, result, _ = planned
    hh = result.households_table
    assert len(hh) == 2_500
    assert hh["grid"].between(0, 2).all()
    assert (hh["owner"] >= 0).all()
    owners = set(result.staff.ids[result.staff.of_role("account_manager")].tolist())
    assert set(hh["owner"].unique()) <= owners


@pytest.mark.slow
def test_every_grid_has_a_technician_and_table_adds_up(planned):
    _, _, result, _ = planned
    t = result.grid_table
    assert (t["technicians"] >= 1).all()
    assert t["households"].sum() == 2_500
    assert np.isclose(t["sales_target_share"].sum(), 1.0, atol=1e-3)


@pytest.mark.slow
def test_files_written(planned):
    _, out, result, written = planned
    names = {p.name for p in written}
    assert {"grids.gpkg", "households.parquet", "staff.csv", "kpis.json", "report.html"} <= names
    kpis = json.loads((out / "kpis.json").read_text())
    assert kpis["grids"] == 3
    assert pd.read_parquet(out / "households.parquet")["grid"].nunique() == 3
    html = (out / "report.html").read_text()
    assert (
        "<svg" in html
        and "85 %" in html
        and "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    )


@pytest.mark.slow
def test_comparison_has_intervals(planned):
    cfg, _, result, _ = planned
    cmp = result.comparison
    row = cmp[cmp["kpi"] == "response_onsite_mean"].iloc[0]
    assert row["95% low"] <= row["difference"] <= row["95% high"]
    assert row[cfg.simulation.baseline] > 0


@pytest.mark.slow
def test_resume_reuses_unchanged_stages(planned):
    cfg, out, first, _ = planned
    again = plan(cfg, households=2_500, out=out, resume=True)
    assert {"partition", "simulation"} <= set(again.reused)
    assert again.timings["partition"] == 0.0 and again.timings["simulation"] == 0.0
    assert np.array_equal(again.layout.labels, first.layout.labels)
    changed = cfg.replace(**{"simulation.replications": 2})
    third = plan(changed, households=2_500, out=out, resume=True)
    # a stage's seconds may round to 0 on a fast machine: which stages ran is the test
    assert "partition" in third.reused
    assert "simulation" not in third.reused
    assert third.sim[cfg.simulation.baseline].n_replications == 2


def test_missing_inputs_named():
    from gridopt.errors import InputError

    with pytest.raises(InputError, match="inputs: name a city"):
        plan(parse_scenario("[grids]\ncount = 3\n"))


@pytest.mark.slow
def test_large_days_are_split_and_every_ticket_accounted_for(planned, monkeypatch):
    import gridopt.plan as plan_module

    cfg, _, result, _ = planned
    monkeypatch.setattr(plan_module, "_DISPATCH_SPLIT", 3)
    monkeypatch.setattr(plan_module, "_REGION_GRIDS", 1)
    routes = plan_module._dispatch(
        cfg, result.city, result.units, result.layout, result.household_unit, result.staff
    )
    tickets = plan_module._day_tickets(result.city, result.household_unit, 0)
    for name, r in routes.items():
        served = np.sort(r.stop_ticket)
        assert np.unique(served).size == served.size, name  # no ticket served twice
        assert set(served.tolist()).isdisjoint(r.dropped.tolist()), name
        assert served.size + r.dropped.size == tickets.n_tickets, name
        assert len(r.dropped_reason) == r.dropped.size
        assert r.tech_n_stops.sum() == served.size
        # each stop's technician is one of the roster's technicians
        assert np.all(result.staff.role[r.tech[r.stop_tech]] == 1)
    assert routes["day0_central"].stats["regions"] >= 2


@pytest.mark.slow
def test_plan_from_separate_input_files(tmp_path):
    import geopandas as gpd
    import shapely

    from gridopt.io.city import households_frame
    from gridopt.synth import generate_city

    city = generate_city(1_500, seed=8, days=0)
    households_frame(city.households).to_crs(4326).to_file(tmp_path / "hh.gpkg")
    pd.DataFrame({"x": city.stations[:, 0], "y": city.stations[:, 1]}).to_csv(
        tmp_path / "st.csv", index=False
    )
    lines = [shapely.linestrings(p) for b in city.barriers for p in b.parts]
    gpd.GeoDataFrame(geometry=lines, crs=city.crs).to_file(tmp_path / "bar.gpkg")
    (tmp_path / "s.toml").write_text(
        '[inputs]\nhouseholds = "hh.gpkg"\nstations = "st.csv"\nbarriers = "bar.gpkg"\ncrs = "EPSG:32651"\n'
        "[grids]\ncount = 3\nmax_iterations = 2000\nrestarts = 1\nbalance = { households = 0.3 }\n"
    )
    from gridopt.config import load_scenario

    result = plan(load_scenario(tmp_path / "s.toml"), skip=("ownership", "dispatch", "simulation"))
    assert result.households_table["grid"].nunique() == 3
    assert np.allclose(result.city.stations, city.stations)
    # the roster is hired from the staffing need: every grid has a technician
    assert (np.bincount(result.staff.grid[result.staff.role == 1], minlength=3) >= 1).all()


def test_stations_in_another_crs_are_refused(tmp_path):
    from gridopt.errors import InputError
    from gridopt.io.units import read_points

    pd.DataFrame({"x": [500_000.0], "y": [4_000_000.0]}).to_csv(tmp_path / "st.csv", index=False)
    with pytest.raises(
        InputError, match="inputs.stations: are in EPSG:32650, households in EPSG:32651"
    ):
        read_points(tmp_path / "st.csv", "EPSG:32651", csv_crs="EPSG:32650")
