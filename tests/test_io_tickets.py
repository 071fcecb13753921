"""gridopt.io.tickets: 311 and gridopt ticket files -> Tickets plus their original fields."""

from __future__ import annotations

import csv

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from gridopt.errors import InputError
from gridopt.io.tickets import detect_schema, read_tickets
from gridopt.model import SKILL_NAMES, TICKET_TYPES

BOSTON_2015 = """\
,CASE_ENQUIRY_ID,OPEN_DT,TARGET_DT,CLOSED_DT,OnTime_Status,CASE_STATUS,TYPE,QUEUE,LATITUDE,LONGITUDE,Source
0,101,01/05/2015 06:39:42 AM,01/06/2015 06:39:42 AM,01/05/2015 08:09:42 AM,ONTIME,Closed,Sidewalk Repair,PWDx,42.3474,-71.0944,Constituent Call
1,102,01/05/2015 01:00:00 PM,01/08/2015 08:30:00 AM,,OVERDUE,Open,Traffic Signal Repair,BTDT,42.3546,-71.0593,Citizens Connect App
2,103,01/04/2015 11:30:00 PM,,01/06/2015 11:30:00 PM,,Closed,Street Light Outages,PWDx,42.3594,-71.0587,Self Service
3,104,01/06/2015 12:00:00 AM,,,,Open,Street Light Outages,PWDx,42.3300,-71.0800,Employee Generated
"""

BOSTON_2022 = """\
case_enquiry_id,open_dt,target_dt,closed_dt,ontime,case_status,type,queue,latitude,longitude,source
201,2022-01-21 13:47:00,2022-02-04 13:47:30,,OVERDUE,Open,Needle Pickup,GEN_,42.3634,-71.0566,Constituent Call
202,2022-01-19 11:18:00,,2022-01-19 11:42:16,ONTIME,Closed,Needle Pickup,GEN_,42.3594,-71.0587,Constituent Call
203,2022-01-20 08:00:00,2022-01-21 08:00:00,2022-01-20 09:30:00,ONTIME,Closed,New Service Install,GEN_,42.2884,-71.1330,City Worker App
"""

NYC = """\
Unique Key,Created Date,Closed Date,Agency,Complaint Type,Status,Due Date,Open Data Channel Type,Latitude,Longitude
301,04/18/2019 09:55:45 PM,04/19/2019 03:45:24 AM,NYPD,Noise - Residential,Closed,04/19/2019 05:55:45 AM,PHONE,40.5863974,-73.9325913
302,04/19/2019 10:00:00 AM,,DOT,Street Light Condition,Open,,ONLINE,,
303,04/18/2019 08:00:00 AM,04/18/2019 09:00:00 AM,DEP,Water Leak,Closed,,UNKNOWN,40.70,-73.95
"""

GRIDOPT = """\
id,open_time,close_time,type,priority,skill,duration,request_type,lat,lon
1,2024-03-01T08:00:00,2024-03-01T09:15:00,install,3,install,95,new line,43.88,125.32
2,2024-03-01T07:30:00,,repair,0,fiber,30,,43.89,125.33
3,2024-03-02T10:00:00,,,,,,Cable cut,43.87,125.31
"""


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


@pytest.fixture
def boston(tmp_path):
    return write(tmp_path, "boston.csv", BOSTON_2015)


# ----------------------------------------------------------------------------- schemas


def test_boston_2015_by_hand(boston):
    imp = read_tickets(boston)
    assert imp.schema == "boston311"
    assert imp.counts == {
        "rows": 4,
        "unparseable": 0,
        "missing_location": 0,
        "default_location": 1,  # 103 sits on City Hall
        "out_of_area": 0,
        "before_start": 0,
        "duplicate_id": 0,
        "kept": 3,
        "blank_close": 2,
    }
    t = imp.tickets
    assert t.ids.tolist() == [101, 102, 104]  # sorted by open time
    assert imp.start == pd.Timestamp("2015-01-05")  # midnight of the first kept day
    # 06:39:42, 13:00 (PM) and 00:00 next day (12 AM)
    np.testing.assert_allclose(t.time, [6 * 60 + 39.7, 13 * 60, 24 * 60])
    f = imp.frame
    np.testing.assert_allclose(f["time_to_close"].iloc[0], 90.0)
    assert np.isnan(f["time_to_close"].iloc[1]) and f["blank_close"].tolist() == [
        False,
        True,
        True,
    ]
    np.testing.assert_allclose(f["sla_minutes"].iloc[0], 24 * 60)
    assert f["on_time"].iloc[0] == True  # noqa: E712 - pandas boolean NA type
    assert f["on_time"].iloc[1] == False  # noqa: E712
    assert pd.isna(f["on_time"].iloc[2])
    assert f["queue"].tolist() == ["PWDx", "BTDT", "PWDx"]
    assert f["channel"].tolist() == [
        "Constituent Call",
        "Citizens Connect App",
        "Employee Generated",
    ]
    assert f["request_type"].tolist() == [
        "Sidewalk Repair",
        "Traffic Signal Repair",
        "Street Light Outages",
    ]
    # default rules: generic repair / signals urgent / outages next
    assert t.priority.tolist() == [2, 0, 1]
    assert t.duration.tolist() == [45.0, 60.0, 45.0]
    assert (t.type == TICKET_TYPES.index("repair")).all()
    assert (t.skill == SKILL_NAMES["repair"]).all()
    assert imp.crs == "EPSG:32619" and (t.unit == -1).all()
    assert imp.dropped.to_dict("list") == {
        "source_row": [2],
        "source_id": ["103"],
        "reason": ["default_location"],
    }


def test_boston_2022_lowercase_iso(tmp_path):
    imp = read_tickets(write(tmp_path, "b22.csv", BOSTON_2022))
    assert imp.schema == "boston311"
    assert imp.n_default_location == 1
    assert imp.tickets.ids.tolist() == [203, 201]
    assert imp.start == pd.Timestamp("2022-01-20")
    np.testing.assert_allclose(imp.tickets.time, [8 * 60, 24 * 60 + 13 * 60 + 47])
    np.testing.assert_allclose(imp.frame["time_to_close"].iloc[0], 90.0)
    assert imp.frame["type"].iloc[0] == "install"
    assert imp.tickets.skill[0] == SKILL_NAMES["install"]


def test_nyc_schema_missing_locations(tmp_path):
    imp = read_tickets(write(tmp_path, "nyc.csv", NYC))
    assert imp.schema == "nyc311"
    assert imp.counts["missing_location"] == 1 and imp.counts["default_location"] == 0
    assert imp.tickets.ids.tolist() == [303, 301]
    np.testing.assert_allclose(imp.tickets.time, [8 * 60, 21 * 60 + 55.75])
    assert imp.frame["queue"].tolist() == ["DEP", "NYPD"]
    assert imp.tickets.priority[0] == 0  # "leak" is urgent
    assert imp.crs == "EPSG:32618"


def test_gridopt_schema_explicit_columns(tmp_path):
    imp = read_tickets(write(tmp_path, "own.csv", GRIDOPT))
    assert imp.schema == "gridopt"
    t = imp.tickets
    assert t.ids.tolist() == [2, 1, 3]
    assert [TICKET_TYPES[k] for k in t.type] == ["repair", "install", "repair"]
    assert t.priority.tolist() == [0, 3, 2]
    assert t.skill.tolist() == [SKILL_NAMES["fiber"], SKILL_NAMES["install"], SKILL_NAMES["repair"]]
    assert t.duration.tolist() == [30.0, 95.0, 45.0]  # row 3 falls back to the rules
    assert imp.crs == "EPSG:32651"


def test_detect_schema_unknown_lists_known_and_seen():
    with pytest.raises(
        InputError, match=r"known: boston311, nyc311, gridopt .*columns seen: foo, bar"
    ):
        detect_schema(["foo", "bar"])


def test_unknown_schema_file(tmp_path):
    p = write(tmp_path, "x.csv", "ticket,when,where\n1,2020-01-01,here\n")
    with pytest.raises(InputError, match="schema: unknown ticket file schema.*ticket, when"):
        read_tickets(p)
    with pytest.raises(InputError, match="unknown schema 'chicago311'"):
        read_tickets(p, schema="chicago311")


def test_missing_columns(tmp_path, boston):
    with pytest.raises(InputError, match="nyc311 schema.* lacks required columns: unique key"):
        read_tickets(boston, schema="nyc311")
    no_loc = "\n".join(",".join(r[:9]) for r in csv.reader(BOSTON_2015.splitlines()))
    with pytest.raises(InputError, match="lacks required columns: lat/lon"):
        read_tickets(write(tmp_path, "noloc.csv", no_loc))


# ---------------------------------------------------------------------- bad and odd rows


def test_truncated_inside_quotes(tmp_path):
    text = BOSTON_2015.rstrip("\n") + '\n4,105,01/07/2015 09:00:00 AM,,,,Open,"Sidewalk Re'
    with pytest.raises(InputError, match="tickets: cannot read .* \\(truncated or corrupt\\?\\)"):
        read_tickets(write(tmp_path, "cut.csv", text))


def test_truncated_mid_row_is_counted(tmp_path):
    text = BOSTON_2015 + "4,105,01/07/2015 09:0"
    imp = read_tickets(write(tmp_path, "cut.csv", text))
    assert imp.counts["rows"] == 5 and imp.n_unparseable == 1
    assert imp.dropped["reason"].tolist() == ["default_location", "unparseable"]
    assert imp.tickets.n_tickets == 3


def test_unparseable_times_and_coordinates(tmp_path):
    rows = BOSTON_2015.splitlines()
    rows[1] = rows[1].replace("01/05/2015 06:39:42 AM", "yesterday")
    rows[4] = rows[4].replace("42.3300", "north")
    imp = read_tickets(write(tmp_path, "bad.csv", "\n".join(rows)))
    assert imp.n_unparseable == 2 and imp.tickets.ids.tolist() == [102]
    bad_close = BOSTON_2015.replace("01/05/2015 08:09:42 AM", "13/45/2015 99:00:00 XM")
    imp = read_tickets(write(tmp_path, "bad2.csv", bad_close))
    assert imp.n_unparseable == 1 and 101 not in imp.tickets.ids


def test_duplicate_ids_keep_first(tmp_path):
    text = (
        BOSTON_2015 + "4,104,01/07/2015 09:00:00 AM,,,,Open,Sidewalk Repair,PWDx,42.33,-71.08,x\n"
    )
    imp = read_tickets(write(tmp_path, "dup.csv", text))
    assert imp.counts["duplicate_id"] == 1
    assert imp.tickets.ids.tolist() == [101, 102, 104]
    np.testing.assert_allclose(imp.tickets.time[-1], 24 * 60)  # the first 104 is kept


def test_area_bounds_polygon_and_frame(boston):
    import geopandas as gpd
    import shapely

    # 101 lies west of -71.09
    imp = read_tickets(boston, area=(-71.09, 42.30, -71.00, 42.40))
    assert imp.n_out_of_area == 1 and imp.tickets.ids.tolist() == [102, 104]
    poly = shapely.box(-71.09, 42.30, -71.00, 42.40)
    assert read_tickets(boston, area=poly).n_out_of_area == 1
    metric = gpd.GeoSeries([poly], crs="EPSG:4326").to_crs("EPSG:26986")
    assert read_tickets(boston, area=metric).n_out_of_area == 1
    with pytest.raises(InputError, match=r"area: bounds must be \(min_lon"):
        read_tickets(boston, area=(-71.0, 42.3, -71.09, 42.4))
    with pytest.raises(InputError, match="area: must be"):
        read_tickets(boston, area="Boston")


def test_start_drops_earlier_rows(boston):
    imp = read_tickets(boston, start="2015-01-05 12:00")
    assert imp.counts["before_start"] == 1
    np.testing.assert_allclose(imp.tickets.time, [60.0, 12 * 60])
    with pytest.raises(InputError, match="start: cannot read"):
        read_tickets(boston, start="soon")


def test_default_points_override(boston):
    imp = read_tickets(boston, default_points=[])
    assert imp.n_default_location == 0 and imp.tickets.n_tickets == 4
    imp = read_tickets(boston, default_points=[(42.3474, -71.0944), (42.3594, -71.0587)])
    assert imp.n_default_location == 2
    with pytest.raises(InputError, match="default_points: each point is"):
        read_tickets(boston, default_points=[(42.3,)])


def test_type_map_overrides(boston):
    imp = read_tickets(boston, type_map={"Sidewalk Repair": {"duration": 120, "priority": 1}})
    assert imp.tickets.duration.tolist() == [120.0, 60.0, 45.0]
    assert imp.tickets.priority.tolist() == [1, 0, 1]
    with pytest.raises(InputError, match="type_map: 'Sidewalk Repair': type must be one of"):
        read_tickets(boston, type_map={"Sidewalk Repair": {"type": "paint"}})
    with pytest.raises(InputError, match="duration must be > 0"):
        read_tickets(boston, type_map={"Sidewalk Repair": {"duration": 0}})


def test_file_problems(tmp_path):
    with pytest.raises(InputError, match="tickets: file not found"):
        read_tickets(tmp_path / "none.csv")
    with pytest.raises(InputError, match="is empty"):
        read_tickets(write(tmp_path, "empty.csv", ""))
    with pytest.raises(InputError, match="has a header but no rows"):
        read_tickets(write(tmp_path, "head.csv", BOSTON_2015.splitlines()[0] + "\n"))
    only_default = BOSTON_2015.splitlines()
    text = "\n".join([only_default[0], only_default[3]])
    with pytest.raises(InputError, match="no ticket left after dropping 1 default location"):
        read_tickets(write(tmp_path, "cityhall.csv", text))


# ------------------------------------------------------------------------ round trip + CLI


def test_cli_import_and_read_back(boston, tmp_path):
    from gridopt.cli import app

    out = tmp_path / "tickets.parquet"
    r = CliRunner().invoke(app, ["import-tickets", str(boston), "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "boston311" in r.output and "1 (25.0 %)" in r.output
    first = read_tickets(boston)
    back = read_tickets(out)
    assert back.schema == "gridopt"
    for name in ("ids", "time", "type", "priority", "skill", "duration"):
        np.testing.assert_array_equal(getattr(back.tickets, name), getattr(first.tickets, name))
    np.testing.assert_allclose(back.tickets.x, first.tickets.x, atol=1e-6)
    assert back.counts["blank_close"] == 2
    pd.testing.assert_series_equal(back.frame["time_to_close"], first.frame["time_to_close"])
    csv_out = tmp_path / "tickets.csv"
    r = CliRunner().invoke(app, ["import-tickets", str(out), "--out", str(csv_out)])
    assert r.exit_code == 0, r.output
    np.testing.assert_array_equal(read_tickets(csv_out).tickets.time, first.tickets.time)


def test_cli_errors_exit_2(tmp_path):
    from gridopt.cli import app

    p = write(tmp_path, "x.csv", "a,b\n1,2\n")
    out = tmp_path / "t.parquet"
    r = CliRunner().invoke(app, ["import-tickets", str(p), "--out", str(out)])
    assert r.exit_code == 2 and "unknown ticket file schema" in r.output
    r = CliRunner().invoke(app, ["import-tickets", str(p), "--out", str(out), "--area", "1,2"])
    assert r.exit_code == 2 and "--area: must be" in r.output
    assert not out.exists()


# ------------------------------------------------------------------------------ real data


def _data_rows(path) -> int:
    with open(path, newline="", encoding="utf-8") as fh:
        return sum(1 for _ in csv.reader(fh)) - 1


@pytest.mark.realdata
@pytest.mark.parametrize(
    "name", ["Street Light Outages.csv", "Traffic Signal Repair.csv", "Sidewalk Repair.csv"]
)
def test_boston_2015_files(shared, name):
    path = shared("realdata", "boston311_2015", name)
    imp = read_tickets(path)
    c = imp.counts
    assert imp.schema == "boston311"
    assert c["rows"] == _data_rows(path)
    assert c["kept"] + len(imp.dropped) == c["rows"]
    assert 0 < c["default_location"] < 0.2 * c["rows"]
    t = imp.tickets
    assert t.time.min() >= 0 and (np.diff(t.time) >= 0).all()
    assert t.time.max() < 366 * 24 * 60  # one year
    f = imp.frame
    assert (f["time_to_close"].dropna() >= 0).all()
    assert f["blank_close"].sum() == c["blank_close"] == f["close_time"].isna().sum()
    assert imp.crs == "EPSG:32619"


@pytest.mark.realdata
def test_schema_samples(shared):
    b = read_tickets(shared("realdata", "schema_samples", "qsv_boston311-100.csv"))
    n = read_tickets(shared("realdata", "schema_samples", "qsv_nyc311-100.csv"))
    assert (b.schema, n.schema) == ("boston311", "nyc311")
    assert b.counts["rows"] == n.counts["rows"] == 100
    assert b.n_default_location > 0 and n.counts["missing_location"] > 0
    assert n.crs == "EPSG:32618"
