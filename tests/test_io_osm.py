"""gridopt.io.osm: OSM extracts -> buildings with dwellings, streets, barriers, units."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from gridopt.errors import InputError
from gridopt.io.osm import OsmExtract, osm_households, osm_units, read_osm

pytest.importorskip("osmium")

# The tiny extract is drawn in UTM 35N metres around this origin, then written as lon/lat.
CRS = "EPSG:32635"
X0, Y0 = 385_000.0, 6_671_000.0
SPEED = 25.0 * 1000 / 60  # residential, metres per minute


class OsmWriter:
    """Builds a small .osm XML file from metric coordinates."""

    def __init__(self) -> None:
        from pyproj import Transformer

        self.tr = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
        self.nodes: list[str] = []
        self.ways: list[str] = []
        self.rels: list[str] = []
        self.next_id = 1

    def node(self, x: float, y: float) -> int:
        lon, lat = self.tr.transform(X0 + x, Y0 + y)
        nid = self.next_id
        self.next_id += 1
        self.nodes.append(f'<node id="{nid}" lat="{lat:.9f}" lon="{lon:.9f}"/>')
        return nid

    def way(self, wid: int, refs: list[int], **tags: str) -> None:
        nds = "".join(f'<nd ref="{r}"/>' for r in refs)
        tg = "".join(f'<tag k="{k.replace("__", ":")}" v="{v}"/>' for k, v in tags.items())
        self.ways.append(f'<way id="{wid}">{nds}{tg}</way>')

    def line(self, wid: int, pts: list[tuple[float, float]], **tags: str) -> list[int]:
        refs = [self.node(x, y) for x, y in pts]
        self.way(wid, refs, **tags)
        return refs

    def rect(self, wid: int, x0: float, y0: float, x1: float, y1: float, **tags: str) -> None:
        refs = [self.node(x, y) for x, y in ((x0, y0), (x1, y0), (x1, y1), (x0, y1))]
        self.way(wid, [*refs, refs[0]], **tags)

    def relation(self, rid: int, members: list[tuple[int, str]], **tags: str) -> None:
        mm = "".join(f'<member type="way" ref="{w}" role="{r}"/>' for w, r in members)
        tg = "".join(f'<tag k="{k}" v="{v}"/>' for k, v in tags.items())
        self.rels.append(f'<relation id="{rid}">{mm}{tg}</relation>')

    def write(self, path, bounds=(-100.0, -200.0, 400.0, 300.0)):
        # UTM north is not true north here: take the west/east edges at y = 25 m
        lon0, _ = self.tr.transform(X0 + bounds[0], Y0 + 25.0)
        lon1, _ = self.tr.transform(X0 + bounds[2], Y0 + 25.0)
        _, lat0 = self.tr.transform(X0, Y0 + bounds[1])
        _, lat1 = self.tr.transform(X0, Y0 + bounds[3])
        head = (
            f'<bounds minlat="{lat0:.9f}" minlon="{lon0:.9f}" '
            f'maxlat="{lat1:.9f}" maxlon="{lon1:.9f}"/>'
        )
        body = "\n".join([head, *self.nodes, *self.ways, *self.rels])
        path.write_text(f'<?xml version="1.0"?>\n<osm version="0.6">\n{body}\n</osm>\n')
        return path


def tiny_city() -> OsmWriter:
    w = OsmWriter()
    w.rect(101, 0, 0, 20, 10, building="apartments", building__levels="4")  # 200 m2 x 4
    w.rect(102, 40, 0, 50, 10, building="house")  # one family house
    w.rect(103, 60, 0, 80, 15, building="commercial")
    w.rect(104, 100, 0, 110, 10, building="yes", shop="bakery")
    w.rect(105, 0, 40, 14, 50, building="yes", height="9")  # 140 m2, 3 levels
    w.rect(106, 30, 40, 34, 44, building="yes")  # 16 m2 shed
    # multipolygon: a 20 x 20 courtyard block with a 5 x 5 hole, outline in two halves
    a, b, c, d = w.node(60, 40), w.node(80, 40), w.node(80, 60), w.node(60, 60)
    w.way(201, [a, b, c])
    w.way(202, [c, d, a])
    w.rect(203, 65, 45, 70, 50)
    w.relation(
        301, [(201, "outer"), (202, "outer"), (203, "inner")], type="multipolygon",
        building="apartments", **{"building:levels": "2"},
    )  # fmt: skip
    # clipped building: three of its nodes are outside the extract -> degenerate, dropped
    n = w.node(150, 0)
    w.way(107, [n, 90001, 90002, 90003, n], building="residential")
    # streets: S1 -100 m- S2 -100 m- S3 (residential), S2 -100 m- S4 (primary)
    s1, s2, s3 = w.line(401, [(0, -20), (100, -20), (200, -20)], highway="residential")
    s4 = w.node(100, -120)
    w.way(402, [s2, s4], highway="primary")
    w.line(403, [(200, -20), (200, 80)], highway="footway")  # not driven on
    s6 = w.node(300, -20)
    w.way(404, [s3, 90004, s6], highway="residential")  # clipped in the middle: kept
    w.way(405, [90005, s6], highway="service")  # clipped to one node: dropped
    # barriers
    w.line(501, [(-50, 100), (250, 100)], waterway="river")
    w.line(502, [(-50, 150), (250, 150)], railway="rail")
    w.line(503, [(-50, 170), (250, 170)], railway="rail", tunnel="yes")  # underground
    w.rect(504, 200, 200, 240, 240, natural="water")
    w.line(505, [(0, 0), (10, 0)], waterway="ditch")  # not a barrier
    assert (s1, s4) != (0, 0)
    return w


@pytest.fixture
def tiny_osm(tmp_path):
    return tiny_city().write(tmp_path / "tiny.osm")


@pytest.fixture
def extract(tiny_osm) -> OsmExtract:
    return read_osm(tiny_osm)


def _by_osm_id(ext: OsmExtract):
    return ext.buildings.set_index("osm_id")


# ------------------------------------------------------------------------------ buildings


def test_buildings_and_dwellings_by_hand(extract):
    b = _by_osm_id(extract)
    assert extract.crs == CRS
    assert sorted(b.index) == [101, 102, 103, 104, 105, 106, 301]
    np.testing.assert_allclose(b.loc[101, "footprint_m2"], 200.0, rtol=1e-3)
    np.testing.assert_allclose(b.loc[301, "footprint_m2"], 400.0 - 25.0, rtol=1e-3)
    assert b.loc[301, "osm_type"] == "relation"
    expected = {
        101: round(200 * 4 / 70),  # 11: tagged levels
        102: 1,  # a house is one dwelling
        103: 0,  # commercial
        104: 0,  # building=yes with a shop
        105: round(140 * 3 / 70),  # 6: height 9 m / 3 m per level
        106: 0,  # 16 m2 shed below min_footprint_m2
        301: round(375 * 2 / 70),  # 11: relation levels, hole subtracted
    }
    assert b["dwellings"].to_dict() == expected
    assert b.loc[101, "levels_source"] == "tag"
    assert b.loc[105, "levels_source"] == "height"
    assert b.loc[102, "levels_source"] == "default"
    assert extract.n_dwellings == sum(expected.values())
    assert extract.stats["n_residential"] == 5  # 101, 102, 105, 106, 301


def test_dwelling_size_scales_estimate(tiny_osm):
    b = _by_osm_id(read_osm(tiny_osm, dwelling_m2=100.0))
    assert b.loc[101, "dwellings"] == 8  # 800 / 100
    assert b.loc[105, "dwellings"] == round(420 / 100)


def test_clipped_ways_counted_and_dropped(extract):
    # building 107 and service way 405 lose all but one node; 404 loses one node
    assert extract.stats["n_clipped_ways"] == 3
    assert extract.stats["n_dropped_ways"] == 2
    assert 107 not in set(extract.buildings["osm_id"])
    assert 405 not in set(extract.streets["osm_id"])
    s = extract.streets
    gap = s[s["osm_id"] == 404]
    assert len(gap) == 1  # S3 -> S6 across the missing node
    np.testing.assert_allclose(gap["length_m"].iloc[0], 100.0, rtol=1e-3)


def test_clipped_ways_are_logged(tiny_osm, caplog):
    with caplog.at_level("WARNING", logger="gridopt.io.osm"):
        read_osm(tiny_osm)
    assert "3 ways are clipped" in caplog.text


# -------------------------------------------------------------------------------- streets


def test_street_graph_and_travel_times(extract):
    s = extract.streets
    assert sorted(set(s["highway"])) == ["primary", "residential"]  # footway not driven
    assert len(s) == 4 and extract.street_nodes.shape == (5, 2)
    res = s[s["highway"] == "residential"]
    np.testing.assert_allclose(res["minutes"], res["length_m"] / SPEED)
    tm = extract.travel_model()
    src = np.array([[X0 + 0, Y0 - 20]])
    dst = np.array([[X0 + 100, Y0 - 120]])
    expected = 100 / SPEED + 100 / (45.0 * 1000 / 60)
    np.testing.assert_allclose(tm.minutes(src, dst)[0, 0], expected, rtol=1e-3)


def test_custom_speeds(tiny_osm):
    ext = read_osm(tiny_osm, speeds={"residential": 50.0})
    assert set(ext.streets["highway"]) == {"residential"}
    np.testing.assert_allclose(ext.streets["minutes"], ext.streets["length_m"] / (50 / 0.06))


# ------------------------------------------------------------------------------- barriers


def test_barriers(extract):
    kinds = extract.barriers.set_index("osm_id")["kind"].to_dict()
    assert kinds == {501: "river", 502: "railway", 504: "water"}
    assert extract.stats["n_barriers"] == 3


# ----------------------------------------------------------------------------- population


def _cell(x0, y0, x1, y1, persons, crs="EPSG:3067"):
    import geopandas as gpd
    import shapely

    g = gpd.GeoDataFrame(
        {"id": [7], "population": [persons]},
        geometry=[shapely.box(X0 + x0, Y0 + y0, X0 + x1, Y0 + y1)],
        crs=CRS,
    )
    return g.to_crs(crs)


def test_population_grid_spread_by_floor_area(tiny_osm):
    # One cell (given in the Finnish national CRS) holds buildings 101, 102, 105, 106:
    # 100 persons / 2 = 50 households over the floor areas of 101, 102, 105:
    # 800 : 150 : 420 -> 29.20, 5.47, 15.33 -> 29, 5, 15 and the one left over goes to
    # the largest remainder (102). The 16 m2 shed 106 holds none.
    cell = _cell(-5, -5, 55, 55, 100.0)
    ext = read_osm(tiny_osm, population=cell, household_size=2.0)
    b = _by_osm_id(ext)
    np.testing.assert_allclose(b.loc[[101, 102, 105], "floor_area_m2"], [800, 150, 420], rtol=1e-3)
    assert b.loc[[101, 102, 105, 106], "dwellings"].tolist() == [29, 6, 15, 0]
    assert b["dwellings"].sum() == 50
    assert b.loc[301, "dwellings"] == 0  # outside every cell
    assert b.loc[101, "population_cell"] == 7 and b.loc[301, "population_cell"] == -1
    assert ext.stats["persons_in_extract"] == pytest.approx(100.0, rel=1e-3)


def test_population_cell_half_outside_extract(tiny_osm):
    # the cell reaches 60 m of its 120 m width beyond the extract's western bound (-100)
    cell = _cell(-160, -5, -40, 55, 100.0, crs="EPSG:4326")
    ext = read_osm(tiny_osm, population=cell)
    assert ext.stats["persons_in_extract"] == pytest.approx(50.0, rel=0.02)
    assert ext.stats["persons_unplaced"] == pytest.approx(50.0, rel=0.02)  # no building
    assert ext.n_dwellings == 0


def test_population_grid_from_file(tiny_osm, tmp_path):
    path = tmp_path / "pop.gpkg"
    _cell(-5, -5, 55, 55, 40.0).to_file(path, engine="pyogrio")
    assert read_osm(tiny_osm, population=path).n_dwellings == 20


# ----------------------------------------------------------------------------- households


def test_households_inside_their_building_and_seeded(extract):
    import shapely

    hh = osm_households(extract, seed=4)
    assert hh.n_households == extract.n_dwellings
    assert hh.crs == CRS
    geoms = extract.buildings.set_index("id").geometry
    inside = shapely.contains_xy(geoms.loc[hh.building].to_numpy(), hh.x, hh.y)
    assert inside.all()
    counts = np.unique(hh.building, return_counts=True)
    b = extract.buildings.set_index("id")["dwellings"]
    assert dict(zip(*counts, strict=True)) == b[b > 0].to_dict()
    again = osm_households(extract, seed=4)
    other = osm_households(extract, seed=5)
    for name in ("x", "y", "segment", "tv", "arpu", "churn_risk"):
        np.testing.assert_array_equal(getattr(hh, name), getattr(again, name))
    assert not np.array_equal(hh.x, other.x)


def test_households_segment_shares(extract):
    hh = osm_households(extract, seed=0, segment_shares=(0, 0, 1, 0, 0))
    assert (hh.segment == 2).all() and not hh.vip.any()


def test_units_by_building_and_lattice(extract):
    res = osm_units(extract, seed=1)
    assert res.units.n_units == int((extract.buildings["dwellings"] > 0).sum())
    assert res.units.attribute("households").sum() == extract.n_dwellings
    assert res.units.n_components() == 1
    assert list(res.frame["id"]) == list(res.units.ids)
    assert (res.frame.geometry.geom_type.isin(["Polygon", "MultiPolygon"])).all()
    lat = osm_units(extract, seed=1, by="lattice", cell_size=50.0)
    assert lat.units.attribute("households").sum() == extract.n_dwellings
    np.testing.assert_allclose(lat.frame["area_m2"], 2500.0)
    touch = osm_units(extract, seed=1, adjacency="touch", snap=5.0)
    assert touch.units.n_components() > 1  # detached buildings > 5 m apart


# ------------------------------------------------------------------------------ bad input


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="extract: file not found"):
        read_osm(tmp_path / "nope.osm.pbf")


def test_not_an_osm_file(tmp_path):
    bad = tmp_path / "bad.osm"
    bad.write_text("id,lat,lon\n1,60.1,24.9\n")
    with pytest.raises(InputError, match="not a readable OSM file"):
        read_osm(bad)
    garbage = tmp_path / "bad.osm.pbf"
    garbage.write_bytes(b"\x00\x01 not a protobuf at all" * 10)
    with pytest.raises(InputError, match="not a readable OSM file"):
        read_osm(garbage)


def test_no_buildings(tmp_path):
    w = OsmWriter()
    w.line(1, [(0, 0), (100, 0)], highway="residential")
    with pytest.raises(InputError, match="holds no buildings"):
        read_osm(w.write(tmp_path / "roads.osm"))


def test_all_buildings_clipped(tmp_path):
    w = OsmWriter()
    n = w.node(0, 0)
    w.way(1, [n, 91, 92, n], building="yes")
    with pytest.raises(InputError, match="clipped or degenerate; no buildings"):
        read_osm(w.write(tmp_path / "clipped.osm"))


def test_osmium_missing(tiny_osm, monkeypatch):
    monkeypatch.setitem(sys.modules, "osmium", None)
    with pytest.raises(InputError, match=r"pip install gridopt\[osm\]"):
        read_osm(tiny_osm)


def test_bad_parameters(tiny_osm, extract):
    with pytest.raises(InputError, match="dwelling_m2: must be > 0"):
        read_osm(tiny_osm, dwelling_m2=0)
    with pytest.raises(InputError, match="speeds: must be > 0 km/h; wrong for service"):
        read_osm(tiny_osm, speeds={"service": -1.0})
    with pytest.raises(InputError, match="by: must be 'building' or 'lattice'"):
        osm_units(extract, seed=0, by="compound")
    with pytest.raises(InputError, match="adjacency: must be"):
        osm_units(extract, seed=0, adjacency="queen")
    with pytest.raises(InputError, match="segment_shares: must be 5"):
        osm_households(extract, seed=0, segment_shares=(1.0, 2.0))


def test_bad_population_grid(tiny_osm, tmp_path):
    cell = _cell(-5, -5, 55, 55, 10.0)
    with pytest.raises(InputError, match="population: has no 'persons' column"):
        read_osm(tiny_osm, population=cell, population_column="persons")
    with pytest.raises(InputError, match="population: has no CRS"):
        read_osm(tiny_osm, population=cell.set_crs(None, allow_override=True))
    with pytest.raises(InputError, match="population: file not found"):
        read_osm(tiny_osm, population=tmp_path / "missing.gpkg")
    neg = cell.assign(population=[-3.0])
    with pytest.raises(InputError, match=r"population: persons must be finite and >= 0 \(row 0"):
        read_osm(tiny_osm, population=neg)


def test_no_dwellings_no_households(tiny_osm):
    ext = read_osm(tiny_osm, residential_levels={"villa": 2.0})
    with pytest.raises(InputError, match="dwellings: the extract has no dwellings"):
        osm_households(ext, seed=0)


# ------------------------------------------------------------------------------------ CLI


def test_cli_import_osm_writes_layers(tiny_osm, tmp_path):
    import pyogrio

    from gridopt.cli import app

    out = tmp_path / "units.gpkg"
    r = CliRunner().invoke(app, ["import-osm", str(tiny_osm), "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "clipped ways" in r.output and "3 (2 dropped)" in r.output
    layers = {name for name, _ in pyogrio.list_layers(out)}
    assert layers == {"units", "buildings", "streets", "barriers"}
    units = pyogrio.read_dataframe(out, layer="units")
    assert units["households"].sum() == 29  # 11 + 1 + 6 + 11 (the shed has none)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_cli_import_osm_bad_input_exit_2(tmp_path):
    from gridopt.cli import app

    r = CliRunner().invoke(
        app, ["import-osm", str(tmp_path / "x.osm"), "--out", str(tmp_path / "u.gpkg")]
    )
    assert r.exit_code == 2 and "file not found" in r.output
    assert not (tmp_path / "u.gpkg").exists()


# ------------------------------------------------------------------------------ real data


@pytest.mark.realdata
def test_helsinki_with_population_grid(shared):
    pbf = shared("realdata", "helsinki", "Helsinki.osm.pbf")
    grid = shared("realdata", "helsinki", "helsinki_population_grid_2020.gpkg")
    ext = read_osm(pbf, population=grid)
    s = ext.stats
    assert 400 <= s["n_buildings"] <= 497  # ~430 building ways + 67 relations, some clipped
    assert s["n_clipped_ways"] > 0
    # persons inside the extract's box: fewer than the 7,801 in the cells it touches
    assert 0 < s["persons_in_extract"] < 7_801
    per_cell = s["persons_in_extract"] - s["persons_unplaced"]
    assert abs(ext.n_dwellings - per_cell / 2.0) <= 22  # rounding, at most 1 per cell
    assert s["n_street_edges"] > 1_000 and s["n_barriers"] > 0
    res = osm_units(ext, seed=0)
    assert res.units.attribute("households").sum() == ext.n_dwellings
    assert res.units.n_components() == 1


@pytest.mark.realdata
def test_kotka_clipped_ways(shared):
    ext = read_osm(shared("realdata", "helsinki", "pyrosm_test_kotka.osm.pbf"))
    s = ext.stats
    assert s["n_clipped_ways"] >= 55  # 55 highway ways alone are clipped at the box edge
    assert 0 < s["n_dropped_ways"] < s["n_clipped_ways"]
    assert 2_100 <= s["n_buildings"] <= 2_219
    assert s["n_residential"] >= 1_157
    assert (ext.buildings["dwellings"] >= 0).all() and ext.n_dwellings > s["n_residential"] / 2
    assert np.isfinite(ext.streets["minutes"]).all()
