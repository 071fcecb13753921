"""Ticket tables in: gridopt's own schema and 311-style request files.

:func:`read_tickets` reads a CSV (or Parquet) ticket file in one of the known schemas
(:data:`SCHEMAS`), auto-detected from the header when ``schema`` is None:

* ``boston311``: City of Boston 311, both the 2015 upper-case export (``CASE_ENQUIRY_ID``,
  ``OPEN_DT``, ``TARGET_DT``, ``CLOSED_DT``, ``OnTime_Status``, ``QUEUE``, ``TYPE``,
  ``Source``, ``LATITUDE``, ``LONGITUDE``; first column an unnamed index) and the 2022
  lower-case one (``case_enquiry_id``, ``open_dt``, ``ontime``, ...).
* ``nyc311``: NYC 311 (``Unique Key``, ``Created Date``, ``Closed Date``, ``Due Date``,
  ``Complaint Type``, ``Agency``, ``Open Data Channel Type``, ``Latitude``,
  ``Longitude``).
* ``gridopt``: ``id``, ``open_time``, ``lon``/``lat`` (or ``x``/``y`` with ``crs``), and
  optionally ``close_time``, ``target_time``, ``request_type``, ``queue``, ``channel``,
  ``type`` (repair/install/outage), ``priority``, ``skill``, ``duration``. The files
  written by ``gridopt import-tickets`` are in this schema.

Timestamps may be US (``MM/DD/YYYY hh:mm:ss AM/PM``) or ISO 8601. Rows on a default
location (the Boston City Hall point 42.3594, -71.0587 stands for "unknown"), without a
location, outside ``area``, before ``start`` or unparseable are dropped and counted.

Ticket type, priority, skill and on-site duration are mapped from the request type
(:data:`TYPE_RULES`, first matching rule wins; ``type_map`` overrides exact request
types). Close minus open time is *not* the repair duration (it includes the waiting);
it is kept as ``time_to_close`` in the frame.

Examples
--------
>>> import pathlib, tempfile
>>> from gridopt.io.tickets import read_tickets
>>> csv = '''id,open_time,close_time,request_type,lat,lon
... 7,2015-01-05 08:00:00,2015-01-05 10:30:00,Street Light Outages,42.35,-71.06
... 8,01/05/2015 09:15:00 PM,,Traffic Signal Repair,42.34,-71.07
... 9,2015-01-06 10:00:00,,Sidewalk Repair,42.3594,-71.0587
... '''
>>> path = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
>>> _ = path.write_text(csv)
>>> imp = read_tickets(path, default_points=[(42.3594, -71.0587)])
>>> imp.schema, imp.tickets.n_tickets, imp.n_default_location, imp.n_blank_close
('gridopt', 2, 1, 1)
>>> imp.tickets.time.tolist()          # minutes from midnight of the first day
[480.0, 1275.0]
>>> imp.frame["time_to_close"].tolist()[0]
150.0
"""

from __future__ import annotations

import logging
import os
import re
import time as _time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from gridopt.errors import InputError
from gridopt.model import SKILL_NAMES, TICKET_TYPES, Tickets

__all__ = ["TicketImport", "read_tickets", "detect_schema", "SCHEMAS", "TYPE_RULES"]

log = logging.getLogger("gridopt.io.tickets")

#: Column names of each schema: role -> accepted spellings (matched case-insensitively,
#: the first present wins). ``id``, ``open`` and a location are required.
SCHEMAS: dict[str, dict[str, tuple[str, ...]]] = {
    "boston311": {
        "id": ("case_enquiry_id",),
        "open": ("open_dt",),
        "close": ("closed_dt",),
        "target": ("target_dt",),
        "request_type": ("type",),
        "queue": ("queue",),
        "channel": ("source",),
        "on_time": ("ontime_status", "ontime"),
        "status": ("case_status",),
        "lat": ("latitude",),
        "lon": ("longitude",),
    },
    "nyc311": {
        "id": ("unique key",),
        "open": ("created date",),
        "close": ("closed date",),
        "target": ("due date",),
        "request_type": ("complaint type",),
        "queue": ("agency",),
        "channel": ("open data channel type",),
        "status": ("status",),
        "lat": ("latitude",),
        "lon": ("longitude",),
    },
    "gridopt": {
        "id": ("id",),
        "open": ("open_time",),
        "close": ("close_time",),
        "target": ("target_time",),
        "request_type": ("request_type",),
        "queue": ("queue",),
        "channel": ("channel",),
        "on_time": ("on_time",),
        "status": ("status",),
        "lat": ("lat", "latitude"),
        "lon": ("lon", "longitude"),
        "x": ("x",),
        "y": ("y",),
        "type": ("type",),
        "priority": ("priority",),
        "skill": ("skill",),
        "duration": ("duration",),
    },
}

#: Default points per schema: (lat, lon) that stand for "location unknown".
DEFAULT_POINTS: dict[str, tuple[tuple[float, float], ...]] = {
    "boston311": ((42.3594, -71.0587),),  # Boston City Hall
    "nyc311": (),
    "gridopt": (),
}

#: Request type -> (type, priority, skill, on-site minutes): the first rule whose
#: pattern matches the request type (case-insensitive search) applies; the last rule
#: catches everything. Priority 0 is most urgent.
TYPE_RULES: tuple[tuple[str, str, int, str, float], ...] = (
    (r"install|new service|connect", "install", 2, "install", 80.0),
    (r"outage|no service|down", "repair", 1, "repair", 45.0),
    (r"signal|emergency|hazard|danger|leak", "repair", 0, "repair", 60.0),
    (r"fib(er|re)", "repair", 1, "fiber", 60.0),
    (r".*", "repair", 2, "repair", 45.0),
)

_US_FORMAT = "%m/%d/%Y %I:%M:%S %p"
_DEFAULT_TOLERANCE = 1e-4  # degrees (~10 m)


@dataclass(frozen=True, eq=False)
class TicketImport:
    """Tickets read from a file, with the original fields and what was dropped.

    Parameters
    ----------
    tickets : Tickets
        The kept tickets, sorted by open time; ``time`` in minutes from ``start``,
        ``x``/``y`` in ``crs``, ``unit`` -1.
    frame : DataFrame
        One row per kept ticket, aligned with ``tickets``: ``id`` (the ticket id),
        ``source_id`` (the file's id), ``source_row`` (0-based data row in the file),
        ``open_time``, ``close_time`` and ``target_time`` (datetime64, NaT when blank),
        ``time`` (minutes from ``start``), ``time_to_close`` and ``sla_minutes``
        (minutes, NaN when unknown), ``on_time`` (bool, NA when unknown),
        ``request_type``, ``queue``, ``channel``, ``status``, ``type``, ``priority``,
        ``skill``, ``duration``, ``blank_close`` (bool), ``lon``, ``lat``, ``x``, ``y``.
    dropped : DataFrame
        ``source_row``, ``source_id`` and ``reason`` (``unparseable``,
        ``missing_location``, ``default_location``, ``out_of_area``, ``before_start``,
        ``duplicate_id``) of every dropped row.
    schema : str
    crs : str
        Metric CRS of x/y.
    start : pandas.Timestamp
        Time zero of ``tickets.time``.
    counts : dict of str to int
        ``rows``, ``kept``, ``blank_close`` (among kept) and one count per drop reason.
    stats : dict
        ``read_s``.
    """

    tickets: Tickets
    frame: pd.DataFrame
    dropped: pd.DataFrame
    schema: str
    crs: str
    start: pd.Timestamp
    counts: dict[str, int]
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def n_rows(self) -> int:
        """Data rows read from the file."""
        return self.counts["rows"]

    @property
    def n_default_location(self) -> int:
        """Rows dropped because they sit on a default point."""
        return self.counts["default_location"]

    @property
    def n_out_of_area(self) -> int:
        """Rows dropped because they lie outside ``area``."""
        return self.counts["out_of_area"]

    @property
    def n_blank_close(self) -> int:
        """Kept tickets without a close time."""
        return self.counts["blank_close"]

    @property
    def n_unparseable(self) -> int:
        """Rows dropped because a time, id or coordinate could not be read."""
        return self.counts["unparseable"]

    def summary(self) -> list[tuple[str, str]]:
        """(label, value) rows for a summary table."""
        c = self.counts
        pct = (lambda k: f"{c[k]:,} ({100.0 * c[k] / c['rows']:.1f} %)") if c["rows"] else str
        rows = [("schema", self.schema), ("rows read", f"{c['rows']:,}")]
        for key, label in (
            ("default_location", "dropped: default location"),
            ("missing_location", "dropped: no location"),
            ("out_of_area", "dropped: out of area"),
            ("unparseable", "dropped: unparseable"),
            ("before_start", "dropped: before start"),
            ("duplicate_id", "dropped: duplicate id"),
        ):
            rows.append((label, pct(key)))
        rows += [
            ("kept", pct("kept")),
            ("blank close dates (kept)", f"{c['blank_close']:,}"),
            ("start", str(self.start)),
            ("crs", self.crs),
        ]
        return rows


# ------------------------------------------------------------------------------ reading


def _columns_by_name(columns: Sequence[str]) -> dict[str, str]:
    return {str(c).strip().lower(): c for c in columns}


def detect_schema(columns: Sequence[str]) -> str:
    """The schema whose ``id`` and ``open`` columns the header holds.

    Raises
    ------
    InputError
        When no schema fits; the message lists the known schemas and the columns seen.

    Examples
    --------
    >>> detect_schema(["Unique Key", "Created Date", "Latitude", "Longitude"])
    'nyc311'
    >>> detect_schema(["", "CASE_ENQUIRY_ID", "OPEN_DT", "LATITUDE", "LONGITUDE"])
    'boston311'
    """
    names = _columns_by_name(columns)
    for schema, roles in SCHEMAS.items():
        if all(any(a in names for a in roles[r]) for r in ("id", "open")):
            return schema
    seen = ", ".join(str(c) for c in list(columns)[:30])
    raise InputError(
        "schema",
        f"unknown ticket file schema; known: {', '.join(SCHEMAS)} "
        f"(need e.g. CASE_ENQUIRY_ID+OPEN_DT, Unique Key+Created Date, id+open_time); "
        f"columns seen: {seen}",
    )


def _parse_times(values: pd.Series, column: str) -> tuple[pd.Series, NDArray[np.bool_]]:
    """Parse US or ISO timestamps; returns (datetimes, unparseable-but-not-blank mask)."""
    if pd.api.types.is_datetime64_any_dtype(values):
        out = pd.to_datetime(values)
        if getattr(out.dt, "tz", None) is not None:
            out = out.dt.tz_localize(None)
        return out.astype("datetime64[ns]"), np.zeros(len(values), dtype=bool)
    text = values.astype("string").str.strip()
    blank = text.isna() | (text == "")
    us = pd.to_datetime(text.where(~blank), format=_US_FORMAT, errors="coerce")
    rest = us.isna() & ~blank
    if rest.any():
        iso = pd.to_datetime(text.where(rest), format="ISO8601", errors="coerce", utc=False)
        if getattr(iso.dt, "tz", None) is not None:
            iso = iso.dt.tz_localize(None)
        us = us.where(~rest, iso)
    out = pd.to_datetime(us).astype("datetime64[ns]")
    bad = (out.isna() & ~blank).to_numpy()
    if bad.any():
        log.debug("%s: %d timestamps could not be parsed", column, int(bad.sum()))
    return out, bad


def _failed(p: Path, exc: Exception) -> InputError:
    if isinstance(exc, pd.errors.EmptyDataError):
        return InputError("tickets", f"{p.name} is empty")
    return InputError(
        "tickets", f"cannot read {p.name} (truncated or corrupt?): {type(exc).__name__}: {exc}"
    )


def _is_parquet(p: Path) -> bool:
    return p.suffix.lower() in (".parquet", ".geoparquet")


def _read_header(p: Path) -> list[str]:
    try:
        if _is_parquet(p):
            import pyarrow.parquet as pq

            return [str(c) for c in pq.read_schema(p).names]
        return [str(c) for c in pd.read_csv(p, nrows=0).columns]
    except Exception as exc:
        raise _failed(p, exc) from None


def _read_frame(p: Path, usecols: list[str]) -> pd.DataFrame:
    """Read only the columns a schema uses (NYC files have 40 others)."""
    try:
        if _is_parquet(p):
            import pyarrow.parquet as pq

            meta = pq.read_metadata(p).metadata or {}
            if b"geo" in meta:
                import geopandas as gpd

                return gpd.read_parquet(p)
            return pd.read_parquet(p, columns=usecols)
        return pd.read_csv(
            p,
            usecols=usecols,
            dtype=str,
            keep_default_na=False,
            na_values=[""],
            low_memory=False,
        )
    except Exception as exc:  # truncated quotes, bad encodings, corrupt parquet
        raise _failed(p, exc) from None


def read_tickets(
    path: str | os.PathLike[str],
    *,
    schema: str | None = None,
    default_points: Sequence[tuple[float, float]] | None = None,
    tolerance: float = _DEFAULT_TOLERANCE,
    area: Any | None = None,
    start: Any | None = None,
    crs: str | None = None,
    type_map: Mapping[str, Mapping[str, Any]] | None = None,
) -> TicketImport:
    """Read a ticket file into :class:`~gridopt.model.Tickets` plus its original fields.

    Parameters
    ----------
    path : path to a ``.csv`` (or ``.parquet``) file
    schema : {"boston311", "nyc311", "gridopt"} or None
        None detects it from the header (:func:`detect_schema`).
    default_points : sequence of (lat, lon), optional
        Points that stand for "location unknown"; rows within ``tolerance`` degrees
        are dropped and counted. Default: the schema's (:data:`DEFAULT_POINTS`).
    tolerance : float
        Degrees, for ``default_points``.
    area : tuple or shapely geometry or GeoDataFrame/GeoSeries, optional
        The service area: ``(min_lon, min_lat, max_lon, max_lat)``, a lon/lat polygon,
        or polygons with a CRS. Rows outside are dropped and counted.
    start : str or datetime, optional
        Time zero of ``tickets.time``; default midnight of the first kept day. Rows
        before it are dropped and counted.
    crs : str, optional
        CRS of ``x``/``y`` columns (gridopt schema without lon/lat).
    type_map : mapping, optional
        Exact request type -> ``{"type": "repair"|"install"|"outage", "priority": int,
        "skill": name, "duration": minutes}`` (missing keys from :data:`TYPE_RULES`).

    Returns
    -------
    TicketImport

    Raises
    ------
    InputError
        Missing or unreadable (truncated) file, unknown schema, a schema's required
        columns missing, no row left, bad ``area`` / ``start`` / ``type_map``.
    """
    t0 = _time.perf_counter()
    p = Path(path)
    if not p.exists():
        raise InputError("tickets", f"file not found: {p}")
    if p.is_dir():
        raise InputError("tickets", f"{p} is a folder, not a ticket file")
    columns = _read_header(p)
    if schema is None:
        schema = detect_schema(columns)
    elif schema not in SCHEMAS:
        raise InputError("schema", f"unknown schema {schema!r}; known: {', '.join(SCHEMAS)}")
    roles = SCHEMAS[schema]
    names = _columns_by_name(columns)

    def column(role: str) -> str | None:
        for alias in roles.get(role, ()):
            if alias in names:
                return names[alias]
        return None

    used = {names[a] for aliases in roles.values() for a in aliases if a in names}
    raw = _read_frame(p, [c for c in columns if c in used])
    geo = raw.__class__.__name__ == "GeoDataFrame"
    has_lonlat = column("lat") is not None and column("lon") is not None
    has_xy = column("x") is not None and column("y") is not None
    missing = [r for r in ("id", "open") if column(r) is None]
    if not (has_lonlat or has_xy or geo):
        missing.append("lat/lon")
    if missing:
        want = ", ".join(roles[r][0] if r in roles else r for r in missing)
        raise InputError(
            "columns",
            f"{p.name} ({schema} schema) lacks required columns: {want}; "
            f"columns seen: {', '.join(columns[:30])}",
        )
    n = len(raw)
    if n == 0:
        raise InputError("tickets", f"{p.name} has a header but no rows")
    reason = np.full(n, "", dtype=object)

    def mark(mask: NDArray[np.bool_], why: str) -> None:
        reason[(reason == "") & mask] = why

    # ---- times and ids: unparseable rows
    open_t, bad_open = _parse_times(raw[column("open")], "open")
    mark(bad_open | open_t.isna().to_numpy(), "unparseable")
    close_t = target_t = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns]")
    if column("close") is not None:
        close_t, bad = _parse_times(raw[column("close")], "close")
        mark(bad, "unparseable")
    if column("target") is not None:
        target_t, bad = _parse_times(raw[column("target")], "target")
        mark(bad, "unparseable")
    source_id = raw[column("id")]
    id_num = pd.to_numeric(source_id, errors="coerce")
    mark(source_id.isna().to_numpy(), "unparseable")

    # ---- locations
    src_crs = "EPSG:4326"
    if has_lonlat:
        lat = pd.to_numeric(raw[column("lat")], errors="coerce").to_numpy(dtype=float)
        lon = pd.to_numeric(raw[column("lon")], errors="coerce").to_numpy(dtype=float)
        text_lat = raw[column("lat")].notna().to_numpy()
        text_lon = raw[column("lon")].notna().to_numpy()
        mark((np.isnan(lat) & text_lat) | (np.isnan(lon) & text_lon), "unparseable")
        mark((np.abs(lat) > 90) | (np.abs(lon) > 180), "unparseable")
        cx, cy = lon, lat
    elif geo:
        g = raw.geometry
        empty = (g.isna() | g.is_empty).to_numpy()
        cx = np.where(empty, np.nan, g.x.to_numpy())
        cy = np.where(empty, np.nan, g.y.to_numpy())
        src_crs = raw.crs.to_string() if raw.crs is not None else crs
    else:
        cx = pd.to_numeric(raw[column("x")], errors="coerce").to_numpy(dtype=float)
        cy = pd.to_numeric(raw[column("y")], errors="coerce").to_numpy(dtype=float)
        src_crs = crs
        if src_crs is None:
            raise InputError("crs", "the file has x/y columns: say which CRS they are in")
    lon_lat = _to_lonlat(cx, cy, src_crs)
    no_loc = ~np.isfinite(lon_lat[0]) | ~np.isfinite(lon_lat[1])
    no_loc |= (np.abs(lon_lat[0]) < 1e-9) & (np.abs(lon_lat[1]) < 1e-9)
    mark(no_loc, "missing_location")
    points = DEFAULT_POINTS.get(schema, ()) if default_points is None else default_points
    for dp in points:
        if len(dp) != 2:
            raise InputError("default_points", f"each point is (lat, lon), got {dp!r}")
        dlat, dlon = float(dp[0]), float(dp[1])
        near = (np.abs(lon_lat[1] - dlat) <= tolerance) & (np.abs(lon_lat[0] - dlon) <= tolerance)
        mark(near, "default_location")
    if area is not None:
        inside = _inside_area(area, lon_lat[0], lon_lat[1])
        mark(~inside & ~no_loc, "out_of_area")

    # ---- start
    ok = reason == ""
    if start is not None:
        try:
            t_start = pd.Timestamp(start)
        except (ValueError, TypeError) as exc:
            raise InputError("start", f"cannot read {start!r} as a time ({exc})") from None
        if t_start.tz is not None:
            t_start = t_start.tz_localize(None)
        mark(ok & (open_t < t_start).to_numpy(), "before_start")
    elif ok.any():
        t_start = open_t[ok].min().normalize()
    else:
        t_start = pd.Timestamp("1970-01-01")

    # ---- duplicate ids among the kept rows: keep the first
    ok = reason == ""
    dup = np.zeros(n, dtype=bool)
    dup[ok] = source_id[ok].duplicated(keep="first").to_numpy()
    mark(dup, "duplicate_id")

    ok = reason == ""
    counts = {
        "rows": n,
        **{
            k: int((reason == k).sum())
            for k in (
                "unparseable",
                "missing_location",
                "default_location",
                "out_of_area",
                "before_start",
                "duplicate_id",
            )
        },
    }
    if not ok.any():
        raise InputError(
            "tickets",
            f"{p.name}: no ticket left after dropping "
            + ", ".join(
                f"{v} {k.replace('_', ' ')}" for k, v in counts.items() if k != "rows" and v
            ),
        )
    for k, v in counts.items():
        if k != "rows" and v:
            log.info("%s: dropped %d rows (%s)", p.name, v, k)

    # ---- kept rows, sorted by open time
    keep_idx = np.flatnonzero(ok)
    order = np.argsort(open_t.to_numpy()[keep_idx], kind="stable")
    keep_idx = keep_idx[order]
    from gridopt.io.units import to_metric

    mx, my, metric_crs = to_metric(lon_lat[0][keep_idx], lon_lat[1][keep_idx], "EPSG:4326")
    o = open_t.to_numpy()[keep_idx]
    c = close_t.to_numpy()[keep_idx]
    tg = target_t.to_numpy()[keep_idx]
    minutes = (o - t_start.to_datetime64()) / np.timedelta64(1, "m")
    to_close = (c - o) / np.timedelta64(1, "m")
    sla = (tg - o) / np.timedelta64(1, "m")

    def text(role: str) -> NDArray[Any]:
        name = column(role)
        if name is None:
            return np.full(keep_idx.shape[0], None, dtype=object)
        return raw[name].astype("string").to_numpy(dtype=object, na_value=None)[keep_idx]

    request = text("request_type")
    kind, prio, skill, dur = _map_types(request, type_map)
    if schema == "gridopt":
        kind, prio, skill, dur = _own_columns(raw, column, keep_idx, kind, prio, skill, dur)
    ids_num = id_num.to_numpy()[keep_idx]
    if np.isfinite(ids_num).all() and (ids_num == np.round(ids_num)).all():
        ids = ids_num.astype(np.int64)
    else:
        ids = np.arange(1, keep_idx.shape[0] + 1, dtype=np.int64)
    on_time = _on_time(text("on_time"), c, tg)
    tickets = Tickets(
        ids=ids,
        time=minutes,
        x=mx,
        y=my,
        unit=np.full(keep_idx.shape[0], -1, dtype=np.int32),
        type=kind,
        priority=prio,
        skill=skill,
        duration=dur,
    )
    frame = pd.DataFrame(
        {
            "id": ids,
            "source_id": source_id.to_numpy()[keep_idx],
            "source_row": keep_idx.astype(np.int64),
            "open_time": o,
            "close_time": c,
            "target_time": tg,
            "time": minutes,
            "time_to_close": to_close,
            "sla_minutes": sla,
            "on_time": on_time,
            "request_type": request,
            "queue": text("queue"),
            "channel": text("channel"),
            "status": text("status"),
            "type": np.asarray(TICKET_TYPES, dtype=object)[kind],
            "priority": prio,
            "skill": [_skill_name(s) for s in skill],
            "duration": dur,
            "blank_close": np.isnat(c),
            "lon": lon_lat[0][keep_idx],
            "lat": lon_lat[1][keep_idx],
            "x": mx,
            "y": my,
        }
    )
    counts["kept"] = int(keep_idx.shape[0])
    counts["blank_close"] = int(np.isnat(c).sum())
    drop_idx = np.flatnonzero(~ok)
    dropped = pd.DataFrame(
        {
            "source_row": drop_idx.astype(np.int64),
            "source_id": source_id.to_numpy()[drop_idx],
            "reason": reason[drop_idx].astype(str),
        }
    )
    return TicketImport(
        tickets=tickets,
        frame=frame,
        dropped=dropped,
        schema=schema,
        crs=metric_crs,
        start=t_start,
        counts=counts,
        stats={"read_s": _time.perf_counter() - t0},
    )


def _to_lonlat(
    x: NDArray[np.float64], y: NDArray[np.float64], crs: str | None
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    if crs is None:
        raise InputError("crs", "the ticket geometries have no CRS: say which one they are in")
    from pyproj import CRS, Transformer
    from pyproj.exceptions import CRSError

    try:
        src = CRS.from_user_input(crs)
    except CRSError as exc:
        raise InputError("crs", f"unknown CRS {crs!r} ({exc})") from None
    if src.is_geographic:
        return np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    tr = Transformer.from_crs(src, "EPSG:4326", always_xy=True)
    lon, lat = tr.transform(x, y)
    return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)


def _inside_area(area: Any, lon: NDArray[np.float64], lat: NDArray[np.float64]) -> NDArray:
    import shapely

    if isinstance(area, (tuple, list)) and len(area) == 4:
        x0, y0, x1, y1 = (float(v) for v in area)
        if not (x0 < x1 and y0 < y1):
            raise InputError(
                "area", f"bounds must be (min_lon, min_lat, max_lon, max_lat), got {area}"
            )
        return (lon >= x0) & (lon <= x1) & (lat >= y0) & (lat <= y1)
    if hasattr(area, "to_crs"):  # GeoDataFrame / GeoSeries
        if area.crs is None:
            raise InputError("area", "has no CRS")
        geom = shapely.union_all(area.to_crs("EPSG:4326").geometry.to_numpy())
    elif hasattr(area, "geom_type"):
        geom = area
    else:
        raise InputError(
            "area", "must be (min_lon, min_lat, max_lon, max_lat), a polygon or a GeoDataFrame"
        )
    ok = np.isfinite(lon) & np.isfinite(lat)
    out = np.zeros(lon.shape[0], dtype=bool)
    out[ok] = shapely.contains_xy(geom, lon[ok], lat[ok])
    return out


def _map_types(
    request: NDArray[Any], type_map: Mapping[str, Mapping[str, Any]] | None
) -> tuple[NDArray[np.int8], NDArray[np.int8], NDArray[np.int64], NDArray[np.float64]]:
    rules = [(re.compile(p, re.IGNORECASE), t, pr, s, d) for p, t, pr, s, d in TYPE_RULES]
    overrides = dict(type_map or {})
    cache: dict[Any, tuple[int, int, int, float]] = {}
    n = request.shape[0]
    kind = np.empty(n, dtype=np.int8)
    prio = np.empty(n, dtype=np.int8)
    skill = np.empty(n, dtype=np.int64)
    dur = np.empty(n, dtype=np.float64)
    for i, rt in enumerate(request):
        hit = cache.get(rt)
        if hit is None:
            label = "" if rt is None else str(rt)
            _, t, pr, s, d = next(r for r in rules if r[0].search(label))
            spec = dict(type=t, priority=pr, skill=s, duration=d)
            if label in overrides:
                spec.update(overrides[label])
            hit = _spec(label, spec)
            cache[rt] = hit
        kind[i], prio[i], skill[i], dur[i] = hit
    return kind, prio, skill, dur


def _spec(label: str, spec: Mapping[str, Any]) -> tuple[int, int, int, float]:
    t = spec["type"]
    if t not in TICKET_TYPES:
        raise InputError(
            "type_map", f"{label!r}: type must be one of {', '.join(TICKET_TYPES)}, got {t!r}"
        )
    s = spec["skill"]
    code = SKILL_NAMES.get(s) if isinstance(s, str) else int(s)
    if code is None:
        raise InputError(
            "type_map", f"{label!r}: skill must be one of {', '.join(SKILL_NAMES)}, got {s!r}"
        )
    d = float(spec["duration"])
    pr = int(spec["priority"])
    if not (np.isfinite(d) and d > 0) or pr < 0:
        raise InputError("type_map", f"{label!r}: duration must be > 0 and priority >= 0")
    return TICKET_TYPES.index(t), pr, code, d


def _own_columns(
    raw: pd.DataFrame,
    column: Any,
    idx: NDArray[np.int64],
    kind: NDArray[np.int8],
    prio: NDArray[np.int8],
    skill: NDArray[np.int64],
    dur: NDArray[np.float64],
) -> tuple[NDArray[np.int8], NDArray[np.int8], NDArray[np.int64], NDArray[np.float64]]:
    """gridopt schema: explicit type/priority/skill/duration columns win over the rules."""
    from gridopt.errors import first_rows

    kind, prio, skill, dur = kind.copy(), prio.copy(), skill.copy(), dur.copy()
    if column("type") is not None:
        s = raw[column("type")].astype("string").to_numpy(dtype=object, na_value=None)[idx]
        given = np.array([v is not None for v in s])
        codes = np.array([TICKET_TYPES.index(v) if v in TICKET_TYPES else -1 for v in s])
        bad = given & (codes < 0)
        if bad.any():
            raise InputError(
                "type", f"must be one of {', '.join(TICKET_TYPES)}", first_rows(idx[bad])
            )
        kind[given] = codes[given]
    if column("skill") is not None:
        s = raw[column("skill")].astype("string").to_numpy(dtype=object, na_value=None)[idx]
        for k, v in enumerate(s):
            if v is None:
                continue
            if v in SKILL_NAMES:
                skill[k] = SKILL_NAMES[v]
            elif v.isdigit():
                skill[k] = int(v)
            else:
                raise InputError("skill", f"must be one of {', '.join(SKILL_NAMES)}", [int(idx[k])])
    for name, arr, dtype in (("priority", prio, np.int8), ("duration", dur, np.float64)):
        if column(name) is None:
            continue
        v = pd.to_numeric(raw[column(name)], errors="coerce").to_numpy(dtype=float)[idx]
        text = raw[column(name)].notna().to_numpy()[idx]
        bad = text & ~np.isfinite(v)
        if bad.any():
            raise InputError(name, "must be numeric", first_rows(idx[bad]), int(bad.sum()))
        arr[text] = v[text].astype(dtype)
    return kind, prio, skill, dur


def _on_time(
    flag: NDArray[Any], close: NDArray[np.datetime64], target: NDArray[np.datetime64]
) -> pd.arrays.BooleanArray:
    """The file's on-time flag where given, else close <= target where both are known."""
    known = ~np.isnat(close) & ~np.isnat(target)
    value = np.where(known, close <= target, False)
    text = pd.Series(flag, dtype="string").str.strip().str.upper()
    yes = text.isin(["ONTIME", "ON TIME", "TRUE", "1", "YES"]).to_numpy(dtype=bool)
    no = text.isin(["OVERDUE", "LATE", "FALSE", "0", "NO"]).to_numpy(dtype=bool)
    value = np.where(yes, True, np.where(no, False, value))
    return pd.arrays.BooleanArray(value.astype(bool), ~(known | yes | no))


def _skill_name(code: int) -> str:
    for name, bit in SKILL_NAMES.items():
        if bit == code:
            return name
    return str(int(code))
