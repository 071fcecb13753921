"""Outputs written atomically: GeoPackage, GeoParquet, Parquet, CSV, GeoJSON, JSON, PNG.

Every writer writes to a temporary file beside the target and renames it into place, so
a failed run leaves no partial file behind.

Examples
--------
>>> import pandas as pd, tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> write_table(pd.DataFrame({"a": [1, 2]}), d / "t.csv")
PosixPath('...t.csv')
>>> (d / "t.csv").read_text().splitlines()
['a', '1', '2']
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from gridopt.errors import InputError

__all__ = ["atomic_path", "write_table", "write_layers", "write_json", "TABLE_SUFFIXES"]

TABLE_SUFFIXES = (".csv", ".parquet", ".gpkg", ".geojson", ".json")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` on success.

    On any exception the temporary file is removed and ``path`` is left untouched.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "x.txt"
    >>> with atomic_path(target) as tmp:
    ...     _ = tmp.write_text("hello")
    >>> target.read_text()
    'hello'
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=target.suffix, dir=target.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()  # writers such as GDAL want to create the file themselves
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def _is_geo(df: pd.DataFrame) -> bool:
    return hasattr(df, "geometry") and df.__class__.__name__ == "GeoDataFrame"


def write_table(
    df: pd.DataFrame, path: str | os.PathLike[str], *, layer: str | None = None
) -> Path:
    """Write a (Geo)DataFrame to ``path``; the format follows the suffix.

    ``.csv`` (geometry as WKT), ``.parquet`` (GeoParquet for GeoDataFrames), ``.gpkg``
    (one layer), ``.geojson`` (EPSG:4326 as the format requires), ``.json`` (records).

    Raises
    ------
    InputError
        For an unknown suffix, or a geographic format asked for a plain DataFrame.
    """
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise InputError(
            "out", f"unknown output format {suffix!r}; use one of {', '.join(TABLE_SUFFIXES)}"
        )
    geo = _is_geo(df)
    if suffix in (".gpkg", ".geojson") and not geo:
        raise InputError("out", f"{suffix} needs geometries; use .csv or .parquet for this table")
    with atomic_path(target) as tmp:
        if suffix == ".csv":
            out = df
            if geo:
                out = pd.DataFrame(df.drop(columns=df.geometry.name))
                out["geometry_wkt"] = df.geometry.to_wkt()
            out.to_csv(tmp, index=False, lineterminator="\n")
        elif suffix == ".parquet":
            if geo:
                df.to_parquet(tmp, index=False)
            else:
                df.to_parquet(tmp, index=False)
        elif suffix == ".gpkg":
            df.to_file(tmp, layer=layer or target.stem, driver="GPKG", engine="pyogrio")
        elif suffix == ".geojson":
            out = df.to_crs(4326) if df.crs is not None else df
            out.to_file(tmp, driver="GeoJSON", engine="pyogrio")
        else:  # .json
            tmp.write_text(df.to_json(orient="records", indent=1))
    return target


def write_layers(path: str | os.PathLike[str], layers: Mapping[str, Any]) -> Path:
    """Write several GeoDataFrames as layers of one GeoPackage, atomically.

    Parameters
    ----------
    path : path ending in .gpkg
    layers : mapping of layer name to GeoDataFrame (plain DataFrames become
        attribute-only tables)
    """
    target = Path(path)
    if target.suffix.lower() != ".gpkg":
        raise InputError("out", f"several layers need a .gpkg file, got {target.name!r}")
    with atomic_path(target) as tmp:
        for name, df in layers.items():
            kwargs: dict[str, Any] = {"layer": name, "driver": "GPKG", "engine": "pyogrio"}
            if tmp.exists():
                kwargs["append"] = False
            if _is_geo(df):
                df.to_file(tmp, **kwargs)
            else:
                import geopandas as gpd

                gpd.GeoDataFrame(df, geometry=[None] * len(df)).to_file(tmp, **kwargs)
    return target


def write_json(obj: Any, path: str | os.PathLike[str]) -> Path:
    """Write ``obj`` as indented JSON, atomically (NumPy scalars and arrays allowed)."""
    import numpy as np

    def default(o: Any) -> Any:
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
        if isinstance(o, Path):
            return str(o)
        raise TypeError(f"not JSON serialisable: {type(o).__name__}")

    target = Path(path)
    with atomic_path(target) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, default=default, sort_keys=False) + "\n")
    return target


def routes_frame(
    routes: Any, tickets: Any, staff: Any, crs: str | None, *, name: str = "routes"
) -> Any:
    """Technician routes as lines (base -> stops -> base), one row per technician used.

    Parameters
    ----------
    routes : gridopt.dispatch.Routes
        Stops grouped by technician in the order of ``routes.tech``.
    tickets : Tickets
        The tickets that were routed (``routes.stop_ticket`` are positions into them).
    staff : Staff
        The roster (``routes.tech`` are positions into it).

    Returns
    -------
    GeoDataFrame or None (no technician had a stop)
    """
    import geopandas as gpd
    import numpy as np
    import shapely

    rows, geoms = [], []
    offsets = np.concatenate([[0], np.cumsum(routes.tech_n_stops)])
    for k, tech in enumerate(routes.tech):
        pos = routes.stop_ticket[offsets[k] : offsets[k + 1]]
        if pos.size == 0:
            continue
        base = np.array([[staff.x[tech], staff.y[tech]]])
        pts = np.vstack([base, np.column_stack([tickets.x[pos], tickets.y[pos]]), base])
        rows.append(
            {
                "plan": name,
                "staff_id": int(staff.ids[tech]),
                "grid": int(staff.grid[tech]),
                "stops": int(pos.size),
                "tickets": " ".join(str(int(t)) for t in tickets.ids[pos]),
                "distance_m": round(float(routes.tech_distance[k]), 1),
                "depart": float(routes.tech_depart[k]),
                "return": float(routes.tech_return[k]),
            }
        )
        geoms.append(shapely.linestrings(pts))
    if not rows:
        return None
    return gpd.GeoDataFrame(rows, geometry=geoms, crs=crs)


def grid_frame(table: pd.DataFrame, unit_polygons: Any, labels: Any) -> Any:
    """Grid polygons (dissolved unit polygons) joined to a per-grid table (column ``grid``).

    Returns
    -------
    (GeoDataFrame of grids with the table's columns, GeoDataFrame of the bare polygons
    indexed by grid)
    """
    import geopandas as gpd

    polys = unit_polygons.assign(grid=labels).dissolve(by="grid")[["geometry"]]
    grids = gpd.GeoDataFrame(
        table.set_index("grid"), geometry=polys.geometry, crs=unit_polygons.crs
    )
    return grids.reset_index(), polys


def concat_frames(frames: list[Any], crs: str | None) -> Any:
    """Several GeoDataFrames as one (None when the list is empty)."""
    import geopandas as gpd

    if not frames:
        return None
    return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=crs)
