"""Households and buildings in, :class:`~gridopt.model.Units` out.

* :func:`read_households` reads CSV (lon/lat or x/y plus a CRS), GeoPackage or
  GeoParquet, checks it and projects geographic coordinates to a local metric CRS.
* :func:`build_units` groups households into units by building or compound id, or by a
  square or hexagonal lattice of a chosen cell size; adjacency comes from shared borders
  of given polygons, from the lattice, or from the Voronoi diagram of the centroids (the
  shared borders of the Voronoi cells); barrier lines (river, rail, arterials) cut it.
* :func:`unit_polygons` gives each unit a polygon (lattice cell, given polygon or Voronoi
  cell) for maps and grid outlines.

Examples
--------
>>> from gridopt.synth import generate_city
>>> from gridopt.io.units import build_units
>>> city = generate_city(2_000, seed=1, days=0)
>>> units, hh_unit = build_units(city.households, by="building", barriers=city.barriers,
...                              return_mapping=True)
>>> int(units.attribute("households").sum())
2000
>>> hh_unit.shape
(2000,)
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from gridopt.errors import InputError, first_rows
from gridopt.model import Households, Units

__all__ = [
    "read_households",
    "read_frame",
    "households_from_frame",
    "to_metric",
    "build_units",
    "unit_polygons",
    "units_from_frame",
    "locate_points",
    "polygon_neighbours",
    "cut_edges_by_barriers",
    "UNIT_ATTRIBUTES",
]

log = logging.getLogger("gridopt.io.units")

#: Attribute columns build_units computes, in this order.
UNIT_ATTRIBUTES: tuple[str, ...] = (
    "households",
    "subscribers",
    "tv",
    "broadband",
    "mobile",
    "vip",
    "revenue",
    "potential",
    "tickets_per_day",
    "installs_per_day",
    "service_minutes_per_day",
)

# Used when no ticket model is given: repairs per subscriber per year and on-site minutes.
_DEFAULT_REPAIRS_PER_YEAR = 0.8
_DEFAULT_INSTALLS_PER_YEAR = 0.08
_DEFAULT_REPAIR_MINUTES = 45.0
_DEFAULT_INSTALL_MINUTES = 80.0

_X_NAMES = ("x", "easting")
_Y_NAMES = ("y", "northing")
_LON_NAMES = ("lon", "lng", "long", "longitude")
_LAT_NAMES = ("lat", "latitude")


# ------------------------------------------------------------------------------ CRS


def _utm_for(lon: float, lat: float) -> str:
    zone = int(math.floor((lon + 180.0) / 6.0)) % 60 + 1
    return f"EPSG:{32600 + zone if lat >= 0 else 32700 + zone}"


def to_metric(
    x: ArrayLike, y: ArrayLike, crs: str | None
) -> tuple[NDArray[np.float64], NDArray[np.float64], str]:
    """Project coordinates to a metric CRS.

    Geographic coordinates (lon/lat) go to the UTM zone of their centre; projected metric
    ones are returned as they are.

    Parameters
    ----------
    x, y : array_like of float
        Longitude/latitude or easting/northing.
    crs : str
        The CRS of x/y (e.g. ``"EPSG:4326"``).

    Returns
    -------
    x, y : ndarray of float64
    crs : str
        The metric CRS.

    Raises
    ------
    InputError
        Missing CRS, NaN/inf, coordinates outside the CRS's valid area, latitudes beyond
        +/-90 (lon/lat swapped), all points at (0, 0).

    Examples
    --------
    >>> x, y, crs = to_metric([125.32, 125.33], [43.88, 43.88], "EPSG:4326")
    >>> crs
    'EPSG:32651'
    >>> round(float(x[1] - x[0]))
    803
    """
    from pyproj import CRS, Transformer
    from pyproj.exceptions import CRSError

    xa = np.asarray(x, dtype=np.float64)
    ya = np.asarray(y, dtype=np.float64)
    if xa.size == 0:
        raise InputError("households", "is empty: no rows")
    for name, arr in (("x", xa), ("y", ya)):
        bad = ~np.isfinite(arr)
        if bad.any():
            raise InputError(
                name,
                "coordinates must be finite (NaN or infinite)",
                first_rows(bad),
                int(bad.sum()),
            )
    if crs is None or str(crs).strip() == "":
        raise InputError("crs", "is missing: say which CRS the coordinates are in (e.g. EPSG:4326)")
    try:
        src = CRS.from_user_input(crs)
    except CRSError as exc:
        raise InputError("crs", f"unknown CRS {crs!r} ({exc})") from None
    if np.all((np.abs(xa) < 1e-9) & (np.abs(ya) < 1e-9)):
        raise InputError("x", "all points are at (0, 0): coordinates missing?")
    if src.is_geographic:
        lon, lat = xa, ya
        bad_lat = np.abs(lat) > 90
        if bad_lat.any():
            hint = " (lon/lat swapped?)" if np.all(np.abs(lon) <= 90) else ""
            raise InputError(
                "lat", f"latitude outside -90..90{hint}", first_rows(bad_lat), int(bad_lat.sum())
            )
        bad_lon = np.abs(lon) > 180
        if bad_lon.any():
            raise InputError(
                "lon", "longitude outside -180..180", first_rows(bad_lon), int(bad_lon.sum())
            )
        if float(np.ptp(lon)) > 5 or float(np.ptp(lat)) > 5:
            raise InputError(
                "lon/lat",
                f"points span {np.ptp(lon):.1f} x {np.ptp(lat):.1f} degrees: not one service area",
            )
        target = _utm_for(float(np.median(lon)), float(np.median(lat)))
        tr = Transformer.from_crs(src, target, always_xy=True)
        mx, my = tr.transform(lon, lat)
        return np.ascontiguousarray(mx), np.ascontiguousarray(my), target
    unit = src.axis_info[0].unit_name if src.axis_info else "metre"
    if unit not in ("metre", "meter"):
        raise InputError("crs", f"{crs!r} is in {unit}; use a metric or geographic CRS")
    aou = src.area_of_use
    if aou is not None:
        tr = Transformer.from_crs(src, "EPSG:4326", always_xy=True)
        lon, lat = tr.transform(xa, ya)
        margin = 2.0
        out = (
            ~np.isfinite(lon)
            | (lon < aou.west - margin)
            | (lon > aou.east + margin)
            | (lat < aou.south - margin)
            | (lat > aou.north + margin)
        )
        if out.any():
            raise InputError(
                "x/y",
                f"outside the valid area of {crs} ({aou.name}); wrong CRS or swapped columns?",
                first_rows(out),
                int(out.sum()),
            )
    name = src.to_string()
    return np.ascontiguousarray(xa), np.ascontiguousarray(ya), name


# ------------------------------------------------------------------------ reading


def _pick(columns: Sequence[str], names: Sequence[str]) -> str | None:
    lower = {c.lower(): c for c in columns}
    for n in names:
        if n in lower:
            return lower[n]
    return None


def read_households(
    path: str | os.PathLike[str],
    *,
    crs: str | None = None,
    id_column: str = "id",
    layer: str | None = None,
) -> Households:
    """Read households from CSV, GeoPackage or (Geo)Parquet.

    CSV files need ``x``/``y`` (with ``crs``) or ``lon``/``lat`` columns (EPSG:4326 assumed
    when ``crs`` is not given). Optional columns: ``building``, ``compound``, ``tv``,
    ``broadband``, ``mobile``, ``arpu``, ``contract_end``, ``churn_risk``, ``segment``
    (code or name), ``vip``. Missing optional columns get neutral defaults.

    Raises
    ------
    InputError
        Unreadable or truncated file, empty table, missing coordinate columns, missing
        CRS, bad values (see :func:`households_from_frame` and :func:`to_metric`).
    """
    return households_from_frame(read_frame(path, layer=layer), crs=crs, id_column=id_column)


def read_frame(path: str | os.PathLike[str], *, layer: str | None = None) -> pd.DataFrame:
    """Read a CSV, (Geo)Parquet or GeoPackage table; errors name the file.

    Raises
    ------
    InputError
        Missing, unreadable or truncated file, or an unknown file type.
    """
    p = Path(path)
    if not p.exists():
        raise InputError("households", f"file not found: {p}")
    suffix = p.suffix.lower()
    try:
        if suffix in (".csv", ".txt"):
            df = pd.read_csv(p)
        elif suffix in (".parquet", ".geoparquet"):
            df = _read_parquet(p)
        elif suffix in (".gpkg", ".shp", ".geojson", ".fgb"):
            import geopandas as gpd

            df = gpd.read_file(p, layer=layer, engine="pyogrio")
        else:
            raise InputError(
                "households", f"unknown file type {suffix!r}; use .csv, .parquet or .gpkg"
            )
    except InputError:
        raise
    except Exception as exc:  # pandas/pyarrow/GDAL errors for truncated or corrupt files
        raise InputError(
            "households", f"cannot read {p.name}: {type(exc).__name__}: {exc}"
        ) from None
    return df


def _read_parquet(p: Path) -> pd.DataFrame:
    import pyarrow.parquet as pq

    meta = pq.read_metadata(p).metadata or {}
    if b"geo" in meta:
        import geopandas as gpd

        return gpd.read_parquet(p)
    return pd.read_parquet(p)


def households_from_frame(
    df: pd.DataFrame, *, crs: str | None = None, id_column: str = "id"
) -> Households:
    """Validate a (Geo)DataFrame of households and turn it into :class:`Households`.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"id": [1, 2], "lon": [125.30, 125.31], "lat": [43.88, 43.88]})
    >>> households_from_frame(df).crs
    'EPSG:32651'
    """
    if len(df) == 0:
        raise InputError("households", "is empty: no rows")
    cols = list(df.columns)
    if hasattr(df, "geometry") and df.__class__.__name__ == "GeoDataFrame":
        geom = df.geometry
        if geom.isna().any():
            raise InputError("geometry", "missing geometries", first_rows(geom.isna().to_numpy()))
        if not (geom.geom_type == "Point").all():
            geom = geom.representative_point()
        x, y = geom.x.to_numpy(), geom.y.to_numpy()
        src_crs = crs or (df.crs.to_string() if df.crs is not None else None)
    else:
        xc, yc = _pick(cols, _X_NAMES), _pick(cols, _Y_NAMES)
        lonc, latc = _pick(cols, _LON_NAMES), _pick(cols, _LAT_NAMES)
        if xc and yc:
            x, y = _numeric(df, xc), _numeric(df, yc)
            src_crs = crs
        elif lonc and latc:
            x, y = _numeric(df, lonc), _numeric(df, latc)
            src_crs = crs or "EPSG:4326"
        else:
            raise InputError(
                "x/y",
                f"no coordinate columns: need x and y (with a CRS) or lon and lat; got {', '.join(map(str, cols))}",
            )
    mx, my, metric_crs = to_metric(x, y, src_crs)
    n = len(df)
    idc = _pick(cols, (id_column.lower(), "household_id", "household"))
    ids = _numeric(df, idc).astype(np.float64) if idc else np.arange(1, n + 1, dtype=np.float64)

    def col(names: Sequence[str], default: Any) -> NDArray:
        c = _pick(cols, names)
        return _numeric(df, c) if c else np.full(n, default)

    segment = _segment(df, _pick(cols, ("segment",)), n)
    return Households(
        ids=ids,
        x=mx,
        y=my,
        building=col(("building", "building_id"), -1),
        compound=col(("compound", "compound_id"), -1),
        tv=col(("tv",), 0).astype(bool),
        broadband=col(("broadband", "bb"), 0).astype(bool),
        mobile=col(("mobile",), 0).astype(bool),
        arpu=col(("arpu",), 0.0),
        contract_end=col(("contract_end",), 365),
        churn_risk=col(("churn_risk", "churn"), 0.0),
        segment=segment,
        vip=col(("vip",), 0).astype(bool),
        crs=metric_crs,
    )


def _numeric(df: pd.DataFrame, column: str) -> NDArray:
    s = df[column]
    if s.dtype == bool:
        return s.to_numpy()
    values = pd.to_numeric(s, errors="coerce")
    bad = values.isna() & s.notna()
    if bad.any():
        raise InputError(column, "must be numeric", first_rows(bad.to_numpy()), int(bad.sum()))
    missing = values.isna()
    if missing.any():
        raise InputError(
            column, "has missing values", first_rows(missing.to_numpy()), int(missing.sum())
        )
    return values.to_numpy()


def _segment(df: pd.DataFrame, column: str | None, n: int) -> NDArray:
    from gridopt.model import SEGMENTS

    if column is None:
        return np.full(n, 1, dtype=np.int8)  # "family"
    s = df[column]
    if pd.api.types.is_numeric_dtype(s):
        return _numeric(df, column)
    codes = s.astype(str).map({name: k for k, name in enumerate(SEGMENTS)})
    bad = codes.isna()
    if bad.any():
        raise InputError(
            column, f"unknown segment; known: {', '.join(SEGMENTS)}", first_rows(bad.to_numpy())
        )
    return codes.to_numpy().astype(np.int8)


# ---------------------------------------------------------------------- building units


def _household_attributes(
    households: Households, ticket_model: Any | None
) -> tuple[NDArray, tuple[str, ...]]:
    """Per-household attribute matrix in UNIT_ATTRIBUTES order."""
    subs = households.subscribers
    n = households.n_households
    if ticket_model is not None:
        rep = np.asarray(ticket_model.repair_rate, dtype=np.float64)
        ins = np.asarray(ticket_model.install_rate, dtype=np.float64)
        if rep.shape[0] != n or ins.shape[0] != n:
            raise InputError("ticket_model", f"rates are for {rep.shape[0]} households, not {n}")
        med = np.asarray(ticket_model.duration_median, dtype=np.float64)
        rep_min, ins_min = float(med[0]), float(med[1])
    else:
        rep = np.where(subs, _DEFAULT_REPAIRS_PER_YEAR / 365.0, 0.0)
        ins = np.full(n, _DEFAULT_INSTALLS_PER_YEAR / 365.0)
        rep_min, ins_min = _DEFAULT_REPAIR_MINUTES, _DEFAULT_INSTALL_MINUTES
    # Sale potential: products not yet held, weighted by the segment's appetite.
    appetite = np.array([0.6, 1.0, 1.4, 0.5, 0.8])[households.segment]
    missing = (~households.tv).astype(float) + (~households.broadband) + (~households.mobile)
    potential = appetite * missing * (1.0 - 0.5 * households.churn_risk)
    cols = [
        np.ones(n),
        subs.astype(float),
        households.tv.astype(float),
        households.broadband.astype(float),
        households.mobile.astype(float),
        households.vip.astype(float),
        households.arpu,
        potential,
        rep,
        ins,
        rep * rep_min + ins * ins_min,
    ]
    return np.column_stack(cols), UNIT_ATTRIBUTES


def build_units(
    households: Households,
    *,
    by: Literal["building", "compound"] | None = "building",
    lattice: Literal["square", "hex"] = "square",
    cell_size: float | None = None,
    polygons: Any | None = None,
    polygon_id: str = "id",
    barriers: Sequence[Any] | None = None,
    ticket_model: Any | None = None,
    snap: float = 30.0,
    max_edge_factor: float | None = 4.0,
    return_mapping: bool = False,
) -> Units | tuple[Units, NDArray[np.int32]]:
    """Group households into units and build their adjacency.

    Parameters
    ----------
    households : Households
        Metric coordinates (see :func:`read_households`).
    by : {"building", "compound"} or None
        Group by this id column; ``None`` uses a lattice of ``cell_size``. Households
        whose id is -1 fall back to the lattice when ``cell_size`` is given, else raise.
    lattice : {"square", "hex"}
        Lattice shape when ``by`` is None.
    cell_size : float
        Lattice spacing in metres (centre to centre), > 0.
    polygons : GeoDataFrame, optional
        One polygon per group id (column ``polygon_id``); adjacency then comes from
        shared borders (within ``snap`` metres) instead of the Voronoi diagram.
    barriers : sequence, optional
        Lines that cut adjacency: :class:`gridopt.synth.Barrier` objects, shapely lines,
        a GeoDataFrame/GeoSeries of lines, or (k, 2) coordinate arrays.
    ticket_model : object, optional
        With ``repair_rate``, ``install_rate`` (per household per day) and
        ``duration_median`` (minutes per type); defaults to typical rates otherwise.
    max_edge_factor : float or None
        Voronoi adjacency only: drop edges longer than this many times the median edge
        (hull artefacts joining far-apart units) unless they are needed to keep the
        graph connected (a minimum spanning tree is always kept). None keeps all.
    return_mapping : bool
        Also return the unit position of every household.

    Returns
    -------
    Units, or (Units, ndarray of int32 shape (n_households,))

    Raises
    ------
    InputError
        A cell size <= 0, a lattice asked without a cell size, missing group ids.
    """
    if by is None:
        if cell_size is None:
            raise InputError("cell_size", "is needed for a lattice (by=None)")
        if not np.isfinite(cell_size) or cell_size <= 0:
            raise InputError("cell_size", f"must be > 0 metres, got {cell_size}")
        if lattice not in ("square", "hex"):
            raise InputError("lattice", f"must be 'square' or 'hex', got {lattice!r}")
    elif by not in ("building", "compound"):
        raise InputError("by", f"must be 'building', 'compound' or None, got {by!r}")
    attrs_hh, names = _household_attributes(households, ticket_model)
    x, y = households.x, households.y

    if by is None:
        key, cells = _lattice_keys(x, y, float(cell_size), lattice)  # type: ignore[arg-type]
    else:
        key = getattr(households, by)
        if (key < 0).any():
            bad = key < 0
            raise InputError(
                by,
                f"households without a {by} id (use a lattice instead)",
                first_rows(bad),
                int(bad.sum()),
            )
        cells = None
    uniq, inv = np.unique(key, return_inverse=True)
    inv = inv.astype(np.int32)
    n_units = uniq.shape[0]
    counts = np.bincount(inv, minlength=n_units).astype(np.float64)
    ux = np.bincount(inv, weights=x, minlength=n_units) / counts
    uy = np.bincount(inv, weights=y, minlength=n_units) / counts
    unit_attrs = np.zeros((n_units, attrs_hh.shape[1]))
    for k in range(attrs_hh.shape[1]):
        unit_attrs[:, k] = np.bincount(inv, weights=attrs_hh[:, k], minlength=n_units)

    area = None
    if by is None:
        assert cells is not None
        ci, cj = cells
        ui, uj = ci[_first_index(inv, n_units)], cj[_first_index(inv, n_units)]
        e, length, ux, uy = _lattice_edges(ui, uj, float(cell_size), lattice, x.min(), y.min())  # type: ignore[arg-type]
        cell_area = float(cell_size) ** 2 * (1.0 if lattice == "square" else math.sqrt(3) / 2)
        area = np.full(n_units, cell_area)
    elif polygons is not None:
        e, length, area = _polygon_edges(polygons, polygon_id, uniq, snap)
    else:
        e, length = _voronoi_edges(ux, uy)
    if barriers:
        keep = ~cut_edges_by_barriers(ux, uy, e, barriers)
        log.info("barriers cut %d of %d adjacency edges", int((~keep).sum()), e.shape[0])
        e, length = e[keep], length[keep]
    if by is not None and polygons is None and max_edge_factor is not None:
        keep = _prune_long_edges(ux, uy, e, max_edge_factor)
        e, length = e[keep], length[keep]
    units = Units.from_edges(
        ids=uniq.astype(np.int64),
        x=ux,
        y=uy,
        attributes=dict(zip(names, unit_attrs.T, strict=True)),
        edges=e,
        edge_length=length,
        area=area,
        crs=households.crs,
    )
    n_comp = units.n_components()
    if n_comp > 1:
        log.warning("unit adjacency has %d connected components (islands)", n_comp)
    if return_mapping:
        return units, inv
    return units


def _prune_long_edges(x: NDArray, y: NDArray, e: NDArray, factor: float) -> NDArray[np.bool_]:
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import minimum_spanning_tree

    if e.shape[0] == 0:
        return np.zeros(0, dtype=bool)
    d = np.hypot(x[e[:, 0]] - x[e[:, 1]], y[e[:, 0]] - y[e[:, 1]])
    keep = d <= factor * float(np.median(d))
    n = x.shape[0]
    g = coo_matrix((d + 1e-9, (e[:, 0], e[:, 1])), shape=(n, n)).tocsr()
    mst = minimum_spanning_tree(g).tocoo()
    in_mst = {(int(a), int(b)) for a, b in zip(mst.row, mst.col, strict=True)}
    for k in np.flatnonzero(~keep):
        a, b = int(e[k, 0]), int(e[k, 1])
        if (a, b) in in_mst or (b, a) in in_mst:
            keep[k] = True
    return keep


def _first_index(inv: NDArray, n: int) -> NDArray[np.int64]:
    first = np.full(n, inv.shape[0], dtype=np.int64)
    np.minimum.at(first, inv, np.arange(inv.shape[0]))
    return first


def _lattice_keys(
    x: NDArray, y: NDArray, size: float, lattice: str
) -> tuple[NDArray[np.int64], tuple[NDArray[np.int64], NDArray[np.int64]]]:
    x0, y0 = x.min(), y.min()
    if lattice == "square":
        i = np.floor((x - x0) / size).astype(np.int64)
        j = np.floor((y - y0) / size).astype(np.int64)
    else:  # pointy-top hexagons with centre spacing `size`, axial coordinates (q, r)
        r_hex = size / math.sqrt(3)  # circumradius
        px, py = x - x0, y - y0
        q = (math.sqrt(3) / 3 * px - py / 3) / r_hex
        r = (2.0 / 3.0 * py) / r_hex
        i, j = _hex_round(q, r)
    return i * 10_000_000 + j, (i, j)


def _hex_round(q: NDArray, r: NDArray) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    s = -q - r
    rq, rr, rs = np.round(q), np.round(r), np.round(s)
    dq, dr, ds = np.abs(rq - q), np.abs(rr - r), np.abs(rs - s)
    fix_q = (dq > dr) & (dq > ds)
    fix_r = ~fix_q & (dr > ds)
    rq = np.where(fix_q, -rr - rs, rq)
    rr = np.where(fix_r, -rq - rs, rr)
    return rq.astype(np.int64), rr.astype(np.int64)


def _lattice_edges(
    i: NDArray, j: NDArray, size: float, lattice: str, x0: float, y0: float
) -> tuple[NDArray, NDArray, NDArray, NDArray]:
    key = i * 10_000_000 + j
    order = np.argsort(key)
    sk = key[order]
    if lattice == "square":
        offsets = [(1, 0), (0, 1)]
        border = size
        cx = x0 + (i + 0.5) * size
        cy = y0 + (j + 0.5) * size
    else:
        offsets = [(1, 0), (0, 1), (1, -1)]
        border = size / math.sqrt(3)
        r_hex = size / math.sqrt(3)
        cx = x0 + r_hex * math.sqrt(3) * (i + j / 2.0)
        cy = y0 + r_hex * 1.5 * j
    src, dst = [], []
    for di, dj in offsets:
        nk = (i + di) * 10_000_000 + (j + dj)
        pos = np.searchsorted(sk, nk)
        pos = np.minimum(pos, sk.shape[0] - 1)
        hit = sk[pos] == nk
        src.append(np.flatnonzero(hit))
        dst.append(order[pos[hit]])
    e = np.column_stack([np.concatenate(src), np.concatenate(dst)]).astype(np.int64)
    return e, np.full(e.shape[0], border), cx.astype(np.float64), cy.astype(np.float64)


def _voronoi_edges(x: NDArray, y: NDArray) -> tuple[NDArray, NDArray]:
    """Voronoi neighbours of the centroids with the length of the shared ridge."""
    n = x.shape[0]
    if n == 1:
        return np.zeros((0, 2), dtype=np.int64), np.zeros(0)
    if n <= 3:
        e = np.array([(a, b) for a in range(n) for b in range(a + 1, n)], dtype=np.int64)
        return e, np.hypot(x[e[:, 0]] - x[e[:, 1]], y[e[:, 0]] - y[e[:, 1]])
    from scipy.spatial import QhullError, Voronoi

    pts = np.column_stack([x, y])
    try:
        vor = Voronoi(pts, qhull_options="Qbb Qc Qz")
    except QhullError:  # collinear points: chain them in order
        order = np.lexsort((y, x))
        e = np.column_stack([order[:-1], order[1:]]).astype(np.int64)
        return e, np.hypot(x[e[:, 0]] - x[e[:, 1]], y[e[:, 0]] - y[e[:, 1]])
    rp = np.asarray(vor.ridge_points, dtype=np.int64)
    rv = np.asarray(vor.ridge_vertices, dtype=np.int64)
    finite = (rv >= 0).all(axis=1)
    length = np.hypot(x[rp[:, 0]] - x[rp[:, 1]], y[rp[:, 0]] - y[rp[:, 1]])
    v = vor.vertices
    seg = np.hypot(
        v[rv[finite, 0], 0] - v[rv[finite, 1], 0], v[rv[finite, 0], 1] - v[rv[finite, 1], 1]
    )
    # A Voronoi border can be far longer than the units are apart (outer hull); cap it.
    length[finite] = np.minimum(seg, 2.0 * length[finite])
    return rp, length


def _polygon_edges(
    polygons: Any, id_column: str, unit_ids: NDArray, snap: float
) -> tuple[NDArray, NDArray, NDArray]:
    import shapely

    if id_column not in polygons.columns:
        raise InputError("polygons", f"has no {id_column!r} column")
    pid = polygons[id_column].to_numpy()
    lookup = pd.Series(np.arange(len(pid)), index=pid)
    missing = ~np.isin(unit_ids, pid)
    if missing.any():
        raise InputError(
            "polygons", "no polygon for these unit ids", [int(v) for v in unit_ids[missing][:5]]
        )
    geoms = polygons.geometry.to_numpy()[lookup.loc[unit_ids].to_numpy()]
    half = max(snap, 1e-3) / 2
    buf = shapely.buffer(geoms, half)
    tree = shapely.STRtree(buf)
    a, b = tree.query(buf, predicate="intersects")
    keep = a < b
    a, b = a[keep], b[keep]
    # The overlap of the two buffers is a strip along the shared border, 2 x half wide and
    # capped by half at each end: its long side less the caps is the border length.
    inter = shapely.intersection(buf[a], buf[b])
    env = shapely.oriented_envelope(inter)
    length = np.zeros(a.shape[0])
    ok = shapely.get_type_id(env) == 3  # polygons (points/lines for degenerate overlaps)
    if ok.any():
        ring = shapely.get_coordinates(shapely.get_exterior_ring(env[ok])).reshape(-1, 5, 2)
        s1 = np.hypot(*(ring[:, 1] - ring[:, 0]).T)
        s2 = np.hypot(*(ring[:, 2] - ring[:, 1]).T)
        length[ok] = np.maximum(s1, s2) - 2 * half
    keep = length > 0.5  # corner touches are not neighbours
    e = np.column_stack([a[keep], b[keep]]).astype(np.int64)
    return e, length[keep], shapely.area(geoms)


def _barrier_lines(barriers: Sequence[Any]) -> list[Any]:
    import shapely

    lines: list[Any] = []
    for bar in barriers:
        if hasattr(bar, "parts"):  # gridopt.synth.Barrier
            lines.extend(shapely.linestrings(p) for p in bar.parts if len(p) >= 2)
        elif hasattr(bar, "geometry"):  # GeoDataFrame / GeoSeries
            lines.extend(g for g in bar.geometry if g is not None)
        elif hasattr(bar, "geom_type"):
            lines.append(bar)
        else:
            arr = np.asarray(bar, dtype=np.float64)
            if arr.ndim != 2 or arr.shape[1] != 2 or arr.shape[0] < 2:
                raise InputError(
                    "barriers", "each barrier must be a line of at least 2 (x, y) points"
                )
            lines.append(shapely.linestrings(arr))
    return lines


def cut_edges_by_barriers(
    x: NDArray, y: NDArray, edges: NDArray, barriers: Sequence[Any]
) -> NDArray[np.bool_]:
    """True for each edge whose centroid-to-centroid segment crosses a barrier line.

    Examples
    --------
    >>> import numpy as np
    >>> cut_edges_by_barriers(np.array([0., 10., 0.]), np.array([0., 0., 10.]),
    ...                       np.array([[0, 1], [0, 2]]), [np.array([[5., -5.], [5., 5.]])]).tolist()
    [True, False]
    """
    import shapely

    lines = _barrier_lines(barriers)
    if not lines or edges.shape[0] == 0:
        return np.zeros(edges.shape[0], dtype=bool)
    coords = np.stack(
        [
            np.column_stack([x[edges[:, 0]], y[edges[:, 0]]]),
            np.column_stack([x[edges[:, 1]], y[edges[:, 1]]]),
        ],
        axis=1,
    )
    segs = shapely.linestrings(coords)
    tree = shapely.STRtree(np.asarray(lines, dtype=object))
    hit_edges, _ = tree.query(segs, predicate="intersects")
    out = np.zeros(edges.shape[0], dtype=bool)
    out[hit_edges] = True
    return out


# --------------------------------------------------------------------------- polygons


def unit_polygons(
    units: Units,
    *,
    lattice: Literal["square", "hex"] | None = None,
    cell_size: float | None = None,
    bounds: tuple[float, float, float, float] | None = None,
    max_radius: float | None = None,
    clip: Any | None = None,
) -> Any:
    """A GeoDataFrame with one polygon per unit (columns ``unit``, ``id``, geometry).

    Lattice units get their cell; other units their Voronoi cell, clipped to ``bounds``
    (default: the units' extent plus a margin) and to ``max_radius`` around the centroid
    (default: 1.5 x the median neighbour distance) so that edge units stay plausible,
    or to ``clip`` (one geometry per unit, e.g. the block of its compound) when given.
    """
    import geopandas as gpd
    import shapely

    x, y = units.x, units.y
    if lattice is not None:
        if cell_size is None or cell_size <= 0:
            raise InputError("cell_size", "must be > 0 for lattice polygons")
        if lattice == "square":
            h = cell_size / 2
            geoms = shapely.box(x - h, y - h, x + h, y + h)
        else:
            r = cell_size / math.sqrt(3)
            ang = np.deg2rad(30 + 60 * np.arange(6))
            ring = np.stack([x[:, None] + r * np.cos(ang), y[:, None] + r * np.sin(ang)], axis=-1)
            geoms = shapely.polygons(ring)
    else:
        i, j, _ = units.edges()
        d = np.hypot(x[i] - x[j], y[i] - y[j])
        rad = max_radius or (1.5 * float(np.median(d)) if d.size else 100.0)
        if bounds is None:
            bounds = (x.min() - rad, y.min() - rad, x.max() + rad, y.max() + rad)
        box = shapely.box(*bounds)
        pts = shapely.points(x, y)
        if units.n_units >= 3:
            cells = shapely.voronoi_polygons(shapely.multipoints(pts), extend_to=box, ordered=True)
            geoms = np.asarray(shapely.get_parts(cells))
        else:
            geoms = shapely.buffer(pts, rad)
        if clip is not None:
            # e.g. each building's cell cut to its compound's block: tidy grid outlines
            geoms = shapely.intersection(geoms, np.asarray(clip, dtype=object))
        else:
            geoms = shapely.intersection(geoms, shapely.buffer(pts, rad, quad_segs=4))
        geoms = shapely.intersection(geoms, box)
    return gpd.GeoDataFrame(
        {"unit": np.arange(units.n_units), "id": units.ids},
        geometry=geoms,
        crs=units.crs,
    )


def locate_points(x: ArrayLike, y: ArrayLike, polygons: Any, column: str) -> NDArray[np.int64]:
    """The ``column`` value of the polygon holding each point (the nearest one outside all).

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> g = gpd.GeoDataFrame({"grid": [0, 1]}, geometry=[shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)])
    >>> locate_points([0.5, 1.5, 5.0], [0.5, 0.5, 0.5], g, "grid").tolist()
    [0, 1, 1]
    """
    import shapely

    if column not in polygons.columns:
        raise InputError("polygons", f"has no {column!r} column")
    geoms = polygons.geometry.to_numpy()
    pts = shapely.points(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
    tree = shapely.STRtree(geoms)
    idx = tree.nearest(pts)
    return polygons[column].to_numpy()[idx].astype(np.int64)


def polygon_neighbours(polygons: Any, column: str) -> list[list[int]]:
    """For each polygon (ordered by ``column`` values 0..n-1), the ones it touches."""
    import shapely

    ids = polygons[column].to_numpy().astype(np.int64)
    n = int(ids.max()) + 1
    geoms = polygons.geometry.to_numpy()
    tree = shapely.STRtree(geoms)
    a, b = tree.query(shapely.buffer(geoms, 1.0), predicate="intersects")
    out: list[list[int]] = [[] for _ in range(n)]
    for i, j in zip(ids[a].tolist(), ids[b].tolist(), strict=True):
        if i != j and j not in out[i]:
            out[i].append(j)
    return out


def units_from_frame(
    gdf: Any,
    *,
    id_column: str = "id",
    adjacency: Literal["voronoi", "borders"] = "voronoi",
    snap: float = 30.0,
    barriers: Sequence[Any] | None = None,
    max_edge_factor: float | None = 4.0,
) -> Units:
    """Units from a GeoDataFrame of unit polygons or points with attribute columns.

    Every numeric column other than ``id_column``, ``unit`` and ``area_m2`` becomes an
    attribute (the layer ``units`` written by ``gridopt import-osm`` has the usual ones).
    Geographic coordinates are projected to the local UTM zone.

    Parameters
    ----------
    adjacency : {"voronoi", "borders"}
        Voronoi neighbours of the centroids (robust when footprints do not touch), or
        shared borders of the polygons within ``snap`` metres.

    Raises
    ------
    InputError
        No geometry or CRS, missing id column, non-numeric or negative attributes.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> g = gpd.GeoDataFrame({"id": [1, 2, 3], "households": [10, 20, 30]},
    ...     geometry=[shapely.box(0, 0, 10, 10), shapely.box(10, 0, 20, 10), shapely.box(20, 0, 30, 10)],
    ...     crs="EPSG:32651")
    >>> u = units_from_frame(g, adjacency="borders", snap=1.0)
    >>> u.n_edges, u.attribute_names
    (2, ('households',))
    """
    if not hasattr(gdf, "geometry") or gdf.crs is None:
        raise InputError("units", "need geometries with a CRS")
    if len(gdf) == 0:
        raise InputError("units", "is empty: no rows")
    if id_column not in gdf.columns:
        raise InputError("units", f"has no {id_column!r} column")
    if gdf.crs.is_geographic:
        c = gdf.geometry.representative_point()
        _, _, metric = to_metric(c.x.to_numpy(), c.y.to_numpy(), gdf.crs.to_string())
        gdf = gdf.to_crs(metric)
    skip = {id_column, "unit", "area_m2", "grid", gdf.geometry.name}
    names = [c for c in gdf.columns if c not in skip and pd.api.types.is_numeric_dtype(gdf[c])]
    if not names:
        raise InputError("units", "no numeric attribute columns")
    attrs = {}
    for name in names:
        attrs[name] = _numeric(gdf, name).astype(np.float64)
    pts = gdf.geometry.representative_point()
    x, y = pts.x.to_numpy(), pts.y.to_numpy()
    ids = gdf[id_column].to_numpy()
    if adjacency == "borders":
        poly = gdf[[id_column, gdf.geometry.name]].rename(columns={id_column: "id"})
        e, length, area = _polygon_edges(poly, "id", ids, snap)
    elif adjacency == "voronoi":
        e, length = _voronoi_edges(x, y)
        area = gdf.geometry.area.to_numpy()
    else:
        raise InputError("adjacency", f"must be 'voronoi' or 'borders', got {adjacency!r}")
    if barriers:
        keep = ~cut_edges_by_barriers(x, y, e, barriers)
        e, length = e[keep], length[keep]
    if adjacency == "voronoi" and max_edge_factor is not None:
        keep = _prune_long_edges(x, y, e, max_edge_factor)
        e, length = e[keep], length[keep]
    return Units.from_edges(
        ids=ids,
        x=x,
        y=y,
        attributes=attrs,
        edges=e,
        edge_length=length,
        area=area,
        crs=gdf.crs.to_string(),
    )


def read_barriers(path: str | os.PathLike[str], crs: str, *, field: str = "inputs.barriers") -> Any:
    """Barrier lines (river, rail, arterials) from a geographic file, in ``crs``.

    Raises
    ------
    InputError
        A file without a CRS, or one that cannot be read.
    """
    gdf = read_frame(path)
    if getattr(gdf, "crs", None) is None:
        raise InputError(field, "has no CRS")
    return gdf.to_crs(crs)


def read_points(
    path: str | os.PathLike[str],
    crs: str,
    *,
    csv_crs: str | None = None,
    field: str = "inputs.stations",
) -> NDArray[np.float64]:
    """Points (stations, depots) as an (n, 2) array in ``crs``.

    Geographic files are reprojected; CSV files need x/y with ``csv_crs`` or lon/lat, and
    must end up in the same CRS as ``crs``.

    Raises
    ------
    InputError
        A file without a CRS, or points in another CRS than the households.
    """
    df = read_frame(path)
    if hasattr(df, "geometry") and df.__class__.__name__ == "GeoDataFrame":
        if df.crs is None:
            raise InputError(field, "has no CRS")
        df = df.to_crs(crs)
        return np.column_stack([df.geometry.x, df.geometry.y]).astype(np.float64)
    pts = households_from_frame(df.assign(id=np.arange(len(df))), crs=csv_crs)
    if pts.crs != crs:
        raise InputError(field, f"are in {pts.crs}, households in {crs}: use one CRS")
    return np.column_stack([pts.x, pts.y])


def compound_blocks(compounds: dict[str, NDArray], unit_compound: NDArray[np.int64]) -> Any:
    """The block rectangle of each unit's compound (to clip unit polygons), or None.

    ``compounds`` is a generated city's compound table (``id``, ``xmin`` ... ``ymax``).
    """
    import shapely

    if not compounds or "xmin" not in compounds:
        return None
    ids = compounds["id"]
    pos = np.searchsorted(ids, unit_compound)
    if (pos >= ids.shape[0]).any() or not np.array_equal(ids[pos], unit_compound):
        return None
    c = compounds
    return shapely.box(c["xmin"][pos], c["ymin"][pos], c["xmax"][pos], c["ymax"][pos])
