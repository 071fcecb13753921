"""The gridopt command: help, version, generate-city, demo, errors."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from gridopt.cli import app

runner = CliRunner()


def test_help_and_version():
    r = runner.invoke(app, ["--help"])
    assert r.exit_code == 0 and "generate-city" in r.output
    r = runner.invoke(app, ["--version"])
    assert r.exit_code == 0 and "gridopt 0.1.0" in r.output


def test_generate_city_writes_file(tmp_path):
    out = tmp_path / "city.parquet"
    r = runner.invoke(
        app,
        ["generate-city", "--households", "500", "--seed", "3", "--days", "0", "--out", str(out)],
    )
    assert r.exit_code == 0, r.output
    assert out.exists()


def test_generate_city_bad_input_exit_2_no_file(tmp_path):
    out = tmp_path / "city.gpkg"
    r = runner.invoke(app, ["generate-city", "--households", "5", "--out", str(out)])
    assert r.exit_code == 2
    assert "n_households: must be >= 100" in r.output
    assert "Traceback" not in r.output
    assert list(tmp_path.iterdir()) == []


def test_generate_city_unknown_format(tmp_path):
    r = runner.invoke(
        app,
        ["generate-city", "--households", "200", "--days", "0", "--out", str(tmp_path / "c.xlsx")],
    )
    assert r.exit_code == 2
    assert "unknown city format" in r.output
    assert list(tmp_path.iterdir()) == []


def test_demo_refuses_foreign_folder(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    r = runner.invoke(app, ["demo", "--out", str(tmp_path), "--households", "600"])
    assert r.exit_code == 2
    assert "use --force" in r.output


def _scenario(tmp_path, count: int):
    s = tmp_path / f"s{count}.toml"
    s.write_text(
        f"""
seed = 1
[inputs]
city = "city.gpkg"
[grids]
count = {count}
time_limit = 1.0
restarts = 1
[ownership]
time_limit = 3.0
[dispatch]
time_limit = 1.0
[simulation]
days = 8
warmup_days = 1
replications = 2
"""
    )
    return s


@pytest.fixture(scope="module")
def planned(tmp_path_factory):
    """A generated city (30 days of tickets) and a 2-grid plan of it, made with the CLI."""
    base = tmp_path_factory.mktemp("cli_plan")
    r = runner.invoke(
        app,
        [
            "generate-city",
            "--households",
            "1500",
            "--seed",
            "2",
            "--days",
            "30",
            "--out",
            str(base / "city.gpkg"),
        ],
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["plan", str(_scenario(base, 2)), "--out", str(base / "plan")])
    assert r.exit_code == 0, r.output
    return base


@pytest.mark.slow
def test_plan_refuses_folder_of_another_scenario(planned, tmp_path):
    import shutil

    shutil.copy(planned / "city.gpkg", tmp_path / "city.gpkg")
    out = tmp_path / "plan"
    shutil.copytree(planned / "plan", out)
    assert json.loads((out / "kpis.json").read_text())["grids"] == 2
    r = runner.invoke(app, ["plan", str(_scenario(tmp_path, 3)), "--out", str(out)])
    assert r.exit_code == 2 and "holds a plan of another scenario" in r.output
    assert json.loads((out / "kpis.json").read_text())["grids"] == 2  # untouched
    r = runner.invoke(app, ["plan", str(_scenario(tmp_path, 3)), "--out", str(out), "--force"])
    assert r.exit_code == 0, r.output
    assert json.loads((out / "kpis.json").read_text())["grids"] == 3


def test_plan_unknown_scenario_key(tmp_path):
    s = tmp_path / "bad.toml"
    s.write_text("[grids]\ncount = 3\ntime_limt = 2\n")
    r = runner.invoke(app, ["plan", str(s), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2
    assert "grids.time_limt: unknown key (line 3); did you mean 'time_limit'?" in r.output
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_assign_and_dispatch_on_a_plan(planned, tmp_path):
    import numpy as np
    import pandas as pd
    from pyproj import Transformer

    from gridopt.io.city import read_city

    out = planned / "plan"
    owners = tmp_path / "owners.csv"
    r = runner.invoke(
        app,
        [
            "assign",
            str(out / "households.parquet"),
            "--staff",
            str(out / "staff.csv"),
            "--out",
            str(owners),
            "--time-limit",
            "5",
        ],
    )
    assert r.exit_code == 0, r.output
    df = pd.read_csv(owners)
    staff = pd.read_csv(out / "staff.csv")
    assert len(df) == 1500
    assert set(df["owner"]) <= set(staff.loc[staff["role"] == "account_manager", "id"])
    # one day of the city's tickets as a gridopt-schema CSV with lon/lat
    city = read_city(planned / "city.gpkg")
    t = city.tickets
    lon, lat = Transformer.from_crs(city.crs, 4326, always_xy=True).transform(t.x, t.y)
    busiest = int(np.argmax(np.bincount((t.time // 1440).astype(int))))
    day = np.ones(t.n_tickets, dtype=bool)
    pd.DataFrame(
        {
            "id": t.ids[day],
            "open_time": pd.Timestamp("2026-03-02") + pd.to_timedelta(t.time[day], unit="min"),
            "lon": np.asarray(lon)[day],
            "lat": np.asarray(lat)[day],
            "type": np.array(["repair", "install", "outage"])[t.type[day]],
        }
    ).to_csv(tmp_path / "tickets.csv", index=False)
    routes = tmp_path / "routes.geojson"
    r = runner.invoke(
        app,
        [
            "dispatch",
            str(tmp_path / "tickets.csv"),
            "--staff",
            str(out / "staff.csv"),
            "--grids",
            str(out / "grids.gpkg"),
            "--out",
            str(routes),
            "--time-limit",
            "2",
            "--day",
            str(busiest),
        ],
    )
    assert r.exit_code == 0, r.output
    import geopandas as gpd

    lines = gpd.read_file(routes)
    assert lines["stops"].sum() >= 1
    assert set(lines["staff_id"]) <= set(staff.loc[staff["role"] != "account_manager", "id"])


def test_dispatch_bad_policy(tmp_path):
    r = runner.invoke(
        app, ["dispatch", "t.csv", "--staff", "s.csv", "--grids", "g.gpkg", "--policy", "fastest"]
    )
    assert r.exit_code == 2 and "policy: must be grid_first or central" in r.output


def test_partition_households_file(tmp_path):
    import geopandas as gpd

    r = runner.invoke(
        app,
        [
            "generate-city",
            "--households",
            "1500",
            "--seed",
            "3",
            "--days",
            "0",
            "--out",
            str(tmp_path / "hh.parquet"),
        ],
    )
    assert r.exit_code == 0, r.output
    out = tmp_path / "grids.gpkg"
    r = runner.invoke(
        app,
        [
            "partition",
            str(tmp_path / "hh.parquet"),
            "--grids",
            "3",
            "--balance",
            "households:0.2",
            "--time-limit",
            "2",
            "--restarts",
            "2",
            "--polish",
            "0.3",
            "--workers",
            "2",
            "--out",
            str(out),
        ],
    )
    assert r.exit_code == 0, r.output
    grids = gpd.read_file(out, layer="grids")
    units = gpd.read_file(out, layer="units")
    assert len(grids) == 3 and grids["households"].sum() == 1500
    assert set(units["grid"]) == {0, 1, 2}
    bad = tmp_path / "bad.gpkg"
    for option, value in (("polish", "1.5"), ("workers", "-1")):
        r = runner.invoke(
            app,
            ["partition", str(tmp_path / "hh.parquet"), "--grids", "3", f"--{option}", value,
             "--out", str(bad)],
        )  # fmt: skip
        assert r.exit_code == 2 and option in r.output and not bad.exists()


def test_partition_needs_grids_or_target(tmp_path):
    r = runner.invoke(app, ["partition", "x.csv", "--out", str(tmp_path / "g.gpkg")])
    assert r.exit_code == 2 and "exactly one of --grids N or --target" in r.output
    r = runner.invoke(app, ["partition", "x.csv", "--grids", "3", "--out", str(tmp_path / "g.csv")])
    assert r.exit_code == 2 and "GeoPackage" in r.output
