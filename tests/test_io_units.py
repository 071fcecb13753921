"""Reading households and building units."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gridopt.errors import InputError
from gridopt.io.units import (
    build_units,
    cut_edges_by_barriers,
    households_from_frame,
    read_households,
    to_metric,
    unit_polygons,
)
from gridopt.synth import generate_city


@pytest.fixture(scope="module")
def city():
    return generate_city(3_000, seed=5, days=0)


def frame(**cols):
    base = {"id": [1, 2, 3], "lon": [125.30, 125.31, 125.32], "lat": [43.88, 43.881, 43.882]}
    base.update(cols)
    return pd.DataFrame(base)


def test_lonlat_projected_to_utm():
    hh = households_from_frame(frame())
    assert hh.crs == "EPSG:32651"
    assert 800 < hh.x[1] - hh.x[0] < 810  # 0.01 degree of longitude at 43.88 N


def test_missing_coordinate_columns():
    with pytest.raises(InputError, match="x/y: no coordinate columns"):
        households_from_frame(pd.DataFrame({"id": [1], "foo": [2]}))


def test_nan_coordinates():
    with pytest.raises(InputError, match=r"lat: has missing values \(row 1\)"):
        households_from_frame(frame(lat=[43.88, None, 43.88]))
    with pytest.raises(InputError, match=r"y: coordinates must be finite .*row 2"):
        to_metric([1.0, 2.0, 3.0], [1.0, 2.0, np.inf], "EPSG:32651")


def test_swapped_lonlat():
    df = frame(lon=[43.88, 43.881, 43.882], lat=[125.30, 125.31, 125.32])
    with pytest.raises(InputError, match=r"lat: latitude outside -90..90 \(lon/lat swapped\?\)"):
        households_from_frame(df)


def test_outside_crs_area():
    with pytest.raises(InputError, match="outside the valid area of EPSG:32651"):
        households_from_frame(
            pd.DataFrame({"id": [1, 2], "x": [9e6, 9e6], "y": [1.0, 2.0]}), crs="EPSG:32651"
        )


def test_missing_crs_for_xy():
    with pytest.raises(InputError, match="crs: is missing"):
        households_from_frame(pd.DataFrame({"id": [1, 2], "x": [1.0, 2.0], "y": [1.0, 2.0]}))


def test_duplicate_ids_and_negative_values():
    with pytest.raises(InputError, match=r"ids: duplicate ids \(row 2\)"):
        households_from_frame(frame(id=[1, 2, 1]))
    with pytest.raises(InputError, match=r"arpu: must be >= 0 \(row 0\)"):
        households_from_frame(frame(arpu=[-5.0, 1.0, 1.0]))


def test_empty_input(tmp_path):
    p = tmp_path / "empty.csv"
    p.write_text("id,lon,lat\n")
    with pytest.raises(InputError, match="households: is empty"):
        read_households(p)


def test_unreadable_and_truncated_files(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        read_households(tmp_path / "nope.csv")
    p = tmp_path / "bad.parquet"
    frame().to_parquet(p)
    p.write_bytes(p.read_bytes()[:40])
    with pytest.raises(InputError, match="households: cannot read bad.parquet"):
        read_households(p)
    g = tmp_path / "bad.gpkg"
    g.write_bytes(b"SQLite format 3\x00garbage")
    with pytest.raises(InputError, match="households: cannot read bad.gpkg"):
        read_households(g)


def test_csv_and_geoparquet_round_trip(tmp_path, city):
    from gridopt.io.city import households_frame

    gdf = households_frame(city.households)
    gdf.to_parquet(tmp_path / "hh.parquet")
    back = read_households(tmp_path / "hh.parquet")
    assert np.allclose(back.x, city.households.x)
    assert back.segment.tolist() == city.households.segment.tolist()
    ll = gdf.to_crs(4326)
    pd.DataFrame({"id": ll["id"], "lon": ll.geometry.x, "lat": ll.geometry.y}).to_csv(
        tmp_path / "hh.csv", index=False
    )
    csv = read_households(tmp_path / "hh.csv")
    assert csv.crs == "EPSG:32651"
    assert np.abs(csv.x - city.households.x).max() < 0.01


def test_units_by_building_sum_households(city):
    units, inv = build_units(city.households, by="building", return_mapping=True)
    assert units.attribute("households").sum() == city.households.n_households
    assert np.array_equal(units.ids[inv], city.households.building)
    assert units.n_components() == 1
    # centroid is the mean of the unit's households
    k = 0
    members = inv == k
    assert np.isclose(units.x[k], city.households.x[members].mean())


def test_square_lattice_adjacency_is_4_neighbour():
    x = np.array([5.0, 15.0, 5.0, 15.0, 35.0])
    y = np.array([5.0, 5.0, 15.0, 15.0, 5.0])
    hh = households_from_frame(
        pd.DataFrame({"id": range(5), "x": x + 676_000, "y": y + 4_855_000}), crs="EPSG:32651"
    )
    units = build_units(hh, by=None, cell_size=10.0)
    assert units.n_units == 5
    assert units.n_edges == 4  # a 2x2 block; the far cell is an island
    assert units.n_components() == 2
    assert set(units.edge_length.tolist()) == {10.0}


def test_hex_lattice_has_six_neighbours():
    # a filled hexagonal patch: the centre cell must have 6 neighbours
    from gridopt.io.units import _hex_round

    size = 10.0
    r = size / np.sqrt(3)
    q, rr = np.meshgrid(np.arange(-2, 3), np.arange(-2, 3), indexing="ij")
    cx = r * np.sqrt(3) * (q + rr / 2.0)
    cy = r * 1.5 * rr
    qi, ri = _hex_round(
        (np.sqrt(3) / 3 * cx.ravel() - cy.ravel() / 3) / r, (2 / 3 * cy.ravel()) / r
    )
    assert qi.tolist() == q.ravel().tolist() and ri.tolist() == rr.ravel().tolist()
    hh = households_from_frame(
        pd.DataFrame(
            {"id": range(cx.size), "x": cx.ravel() + 676_000, "y": cy.ravel() + 4_855_000}
        ),
        crs="EPSG:32651",
    )
    units = build_units(hh, by=None, cell_size=size, lattice="hex")
    degree = np.diff(units.indptr)
    assert degree.max() == 6


def test_cell_size_must_be_positive(city):
    with pytest.raises(InputError, match="cell_size: must be > 0"):
        build_units(city.households, by=None, cell_size=0)
    with pytest.raises(InputError, match="cell_size: is needed"):
        build_units(city.households, by=None)


def test_barriers_cut_adjacency():
    city = generate_city(20_000, seed=1, days=0)
    with_river = build_units(city.households, by="building", barriers=city.barriers)
    without = build_units(city.households, by="building")
    assert with_river.n_edges < without.n_edges
    assert with_river.n_components() == 1  # bridges keep the city connected


def test_cut_edges_by_barriers_segment():
    x = np.array([0.0, 10.0, 0.0])
    y = np.array([0.0, 0.0, 10.0])
    e = np.array([[0, 1], [0, 2]])
    cut = cut_edges_by_barriers(x, y, e, [np.array([[5.0, -5.0], [5.0, 5.0]])])
    assert cut.tolist() == [True, False]


def test_polygon_adjacency_from_shared_borders():
    import geopandas as gpd
    import shapely

    polys = gpd.GeoDataFrame(
        {"id": [1, 2, 3]},
        geometry=[
            shapely.box(0, 0, 10, 10),
            shapely.box(10, 0, 20, 10),
            shapely.box(60, 0, 70, 10),
        ],
        crs="EPSG:32651",
    )
    hh = households_from_frame(
        pd.DataFrame(
            {
                "id": [1, 2, 3],
                "x": [676_005.0, 676_015.0, 676_065.0],
                "y": [4_855_005.0] * 3,
                "building": [1, 2, 3],
            }
        ),
        crs="EPSG:32651",
    )
    polys["geometry"] = polys.geometry.translate(676_000, 4_855_000)
    units = build_units(hh, by="building", polygons=polys)
    assert units.n_edges == 1
    assert abs(units.edge_length[0] - 10.0) < 1.0
    assert np.allclose(units.area, 100.0)


def test_unit_polygons_cover_units(city):
    units = build_units(city.households, by="building")
    polys = unit_polygons(units)
    assert len(polys) == units.n_units
    import shapely

    inside = shapely.contains_xy(polys.geometry.to_numpy(), units.x, units.y)
    assert inside.mean() > 0.99
