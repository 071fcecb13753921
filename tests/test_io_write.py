"""Atomic writers and whole-city files."""

from __future__ import annotations

import hashlib

import pandas as pd
import pytest

from gridopt.errors import InputError
from gridopt.io.city import read_city, write_city
from gridopt.io.network import StreetTravel
from gridopt.io.write import atomic_path, write_table
from gridopt.synth import generate_city


def test_failed_write_leaves_nothing(tmp_path):
    target = tmp_path / "out.csv"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_unknown_suffix(tmp_path):
    with pytest.raises(InputError, match="unknown output format '.xlsx'"):
        write_table(pd.DataFrame({"a": [1]}), tmp_path / "t.xlsx")
    assert list(tmp_path.iterdir()) == []


def test_city_gpkg_byte_identical_for_same_seed(tmp_path):
    a = write_city(generate_city(800, seed=4, days=14), tmp_path / "a.gpkg")
    b = write_city(generate_city(800, seed=4, days=14), tmp_path / "b.gpkg")
    assert hashlib.sha256(a.read_bytes()).digest() == hashlib.sha256(b.read_bytes()).digest()
    back = read_city(a)
    city = generate_city(800, seed=4, days=14)
    assert back.households.arpu.tolist() == city.households.arpu.tolist()
    assert back.staff.role.tolist() == city.staff.role.tolist()
    assert back.tickets.type.tolist() == city.tickets.type.tolist()
    assert back.streets.edge_u.tolist() == city.streets.edge_u.tolist()
    assert [b.kind for b in back.barriers] == [b.kind for b in city.barriers]


def test_city_parquet_is_households_only(tmp_path):
    p = write_city(generate_city(300, seed=1, days=0), tmp_path / "hh.parquet")
    assert len(pd.read_parquet(p)) == 300


def test_read_city_missing_layers(tmp_path):
    import geopandas as gpd
    import shapely

    p = tmp_path / "x.gpkg"
    gpd.GeoDataFrame({"a": [1]}, geometry=[shapely.Point(0, 0)], crs=3857).to_file(
        p, layer="households"
    )
    with pytest.raises(InputError, match="lacks layers: buildings"):
        read_city(p)


def test_travel_model_network_vs_fallback():
    city = generate_city(2_000, seed=3, days=0)
    tm = StreetTravel.from_street_graph(city.streets)
    hh = city.households
    pts = __import__("numpy").column_stack([hh.x[:5], hh.y[:5]])
    net = tm.minutes(pts, pts)
    assert net.shape == (5, 5)
    assert (net.diagonal() < 2.0).all()
    straight = StreetTravel.straight_line(detour=1.0, speed_kmh=35.0).minutes(pts, pts)
    # the street network is never faster than a straight line at the top speed
    assert (net + 1e-9 >= straight).all()


def test_street_travel_callable_matches_dispatch_signature():
    import numpy as np

    city = generate_city(2_000, seed=3, days=0)
    tm = StreetTravel.from_street_graph(city.streets)
    hh = city.households
    dist, minutes = tm(hh.x[:4], hh.y[:4])
    assert dist.shape == minutes.shape == (4, 4)
    assert np.all(np.diag(dist) == 0) and np.all(dist[~np.eye(4, dtype=bool)] > 0)
    straight = np.hypot(hh.x[:4, None] - hh.x[None, :4], hh.y[:4, None] - hh.y[None, :4])
    assert np.all(dist + 1e-6 >= straight)  # no path is shorter than the straight line
