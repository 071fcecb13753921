"""OpenStreetMap extracts in: buildings with dwellings, a street graph, barrier lines.

:func:`read_osm` reads an ``.osm`` / ``.osm.pbf`` extract with pyosmium (the optional
``osm`` extra) and returns an :class:`OsmExtract` in a local metric CRS (the UTM zone of
the extract):

* **buildings**: one polygon per ``building=*`` way or multipolygon relation, with the
  number of ``dwellings`` estimated from footprint area x levels / dwelling size (levels
  from ``building:levels``, else ``height`` / level height, else a default per building
  type; non-residential types get 0), or spread from a population grid when one is given
  (persons / household size per grid cell, split over the cell's residential buildings in
  proportion to floor area).
* **streets**: the drivable ``highway=*`` ways as an edge list between consecutive nodes,
  with travel minutes from a speed per highway class (:meth:`OsmExtract.travel_model`).
* **barriers**: rivers and canals, water outlines, coastline and railways, as lines that
  cut unit adjacency (pass ``[extract.barriers]`` to :func:`gridopt.io.units.build_units`).

Ways clipped at the edge of the extract (nodes missing from the file) keep their
remaining nodes; those left degenerate are dropped; both are counted in ``stats`` and
logged. :func:`osm_households` turns the dwellings into :class:`~gridopt.model.Households`
so that :func:`~gridopt.io.units.build_units` can run on real data.

Data derived from OpenStreetMap: (c) OpenStreetMap contributors, ODbL 1.0.

Examples
--------
>>> import pathlib, tempfile
>>> from gridopt.io.osm import read_osm, osm_households
>>> xml = '''<osm version="0.6">
... <node id="1" lat="60.1700" lon="24.9400"/><node id="2" lat="60.1700" lon="24.9404"/>
... <node id="3" lat="60.1702" lon="24.9404"/><node id="4" lat="60.1702" lon="24.9400"/>
... <way id="10"><nd ref="1"/><nd ref="2"/><nd ref="3"/><nd ref="4"/><nd ref="1"/>
... <tag k="building" v="apartments"/><tag k="building:levels" v="5"/></way>
... <way id="11"><nd ref="1"/><nd ref="2"/><tag k="highway" v="residential"/></way>
... </osm>'''
>>> path = pathlib.Path(tempfile.mkdtemp()) / "tiny.osm"
>>> _ = path.write_text(xml)
>>> ext = read_osm(path)
>>> ext.crs, len(ext.buildings), int(ext.buildings["dwellings"].iloc[0])
('EPSG:32635', 1, 35)
>>> osm_households(ext, seed=0).n_households
35
"""

from __future__ import annotations

import logging
import math
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gridopt.errors import InputError
from gridopt.model import SEGMENTS, Households

__all__ = [
    "OsmExtract",
    "read_osm",
    "osm_households",
    "osm_units",
    "OsmUnits",
    "RESIDENTIAL_LEVELS",
    "HIGHWAY_SPEEDS",
    "SEGMENT_SHARES",
]

log = logging.getLogger("gridopt.io.osm")

#: Residential building types and the number of levels assumed when a building has no
#: ``building:levels`` or ``height`` tag. Types not listed hold no dwellings. ``yes``
#: (type unknown) counts as residential unless the way carries shop/office/amenity tags.
RESIDENTIAL_LEVELS: dict[str, float] = {
    "apartments": 5.0,
    "residential": 2.0,
    "yes": 2.0,
    "house": 1.5,
    "detached": 1.5,
    "semidetached_house": 2.0,
    "terrace": 2.0,
    "dormitory": 4.0,
    "bungalow": 1.0,
    "farm": 1.5,
    "block": 5.0,
}

#: Types with exactly one dwelling whatever their size (a family house).
_ONE_DWELLING = frozenset({"house", "detached", "bungalow", "farm"})

#: Travel speed (km/h) per ``highway`` class; classes not listed are not driven on
#: (footways, paths, steps, cycleways, platforms, construction).
HIGHWAY_SPEEDS: dict[str, float] = {
    "motorway": 80.0,
    "motorway_link": 50.0,
    "trunk": 60.0,
    "trunk_link": 40.0,
    "primary": 45.0,
    "primary_link": 35.0,
    "secondary": 40.0,
    "secondary_link": 30.0,
    "tertiary": 35.0,
    "tertiary_link": 30.0,
    "unclassified": 30.0,
    "residential": 25.0,
    "living_street": 10.0,
    "service": 15.0,
    "road": 25.0,
    "track": 15.0,
    "pedestrian": 8.0,
}

#: Household segment shares (order of :data:`gridopt.model.SEGMENTS`) used by
#: :func:`osm_households` when nothing is known about the subscribers.
SEGMENT_SHARES: tuple[float, ...] = (0.15, 0.40, 0.20, 0.20, 0.05)

_WATER_WAYS = {"river": "river", "canal": "canal", "riverbank": "water"}
_RAILWAYS = frozenset({"rail", "light_rail", "narrow_gauge"})
_NON_RESIDENTIAL_HINTS = ("shop", "office", "amenity", "tourism", "craft", "industrial")
_NUMBER = re.compile(r"[-+]?\d+(?:[.,]\d+)?")


# ------------------------------------------------------------------------------ result


@dataclass(frozen=True, eq=False)
class OsmExtract:
    """Buildings, streets and barriers of an OSM extract in a local metric CRS.

    Parameters
    ----------
    buildings : GeoDataFrame
        One polygon per building: ``id`` (int64, 1..n), ``osm_type`` (``way`` or
        ``relation``), ``osm_id``, ``building`` (type tag), ``residential`` (bool),
        ``levels`` (float64), ``levels_source`` (``tag``, ``height`` or ``default``),
        ``footprint_m2``, ``floor_area_m2``, ``dwellings`` (int64, >= 0), and
        ``population_cell`` (id of the population grid cell, -1 when none) when a
        population grid was given.
    streets : GeoDataFrame
        One line per street segment: ``u``, ``v`` (int64 positions into
        ``street_nodes``), ``osm_id``, ``highway``, ``length_m``, ``speed_kmh``,
        ``minutes``.
    street_nodes : ndarray of float64, shape (n_nodes, 2)
        Metric x/y of the street graph's nodes.
    barriers : GeoDataFrame
        Lines with ``kind`` (``river``, ``canal``, ``water``, ``coastline``,
        ``railway``) and ``osm_id``.
    crs : str
        The metric CRS of every geometry and of ``street_nodes``.
    stats : dict
        Counts and timings: ``n_buildings``, ``n_dwellings``, ``n_street_edges``,
        ``n_barriers``, ``n_clipped_ways`` (ways with nodes missing from the extract),
        ``n_dropped_ways`` (clipped ways left degenerate and dropped),
        ``n_dropped_relations``, ``read_s``, and with a population grid
        ``persons_in_extract``, ``persons_unplaced``.
    """

    buildings: Any
    streets: Any
    street_nodes: NDArray[np.float64]
    barriers: Any
    crs: str
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def n_dwellings(self) -> int:
        """Total estimated dwellings."""
        return int(self.buildings["dwellings"].sum())

    def travel_model(self, **kwargs: float) -> Any:
        """A :class:`~gridopt.io.network.StreetTravel` on the street graph.

        Keyword arguments (``detour``, ``speed_kmh``, ``max_snap``) go to
        :meth:`StreetTravel.from_edges`.
        """
        from gridopt.io.network import StreetTravel

        s = self.streets
        return StreetTravel.from_edges(
            self.street_nodes[:, 0],
            self.street_nodes[:, 1],
            s["u"].to_numpy(),
            s["v"].to_numpy(),
            s["minutes"].to_numpy(),
            **kwargs,
        )

    def summary(self) -> list[tuple[str, str]]:
        """(label, value) rows for a summary table."""
        s = self.stats
        rows = [
            ("buildings", f"{s['n_buildings']:,} ({s['n_residential']:,} residential)"),
            ("dwellings", f"{s['n_dwellings']:,}"),
            ("street edges", f"{s['n_street_edges']:,} on {s['n_street_nodes']:,} nodes"),
            ("barriers", f"{s['n_barriers']:,}"),
            ("clipped ways", f"{s['n_clipped_ways']:,} ({s['n_dropped_ways']:,} dropped)"),
        ]
        if "persons_in_extract" in s:
            rows.append(
                (
                    "population",
                    f"{s['persons_in_extract']:,.0f} persons in the extract, "
                    f"{s['persons_unplaced']:,.0f} without a residential building",
                )
            )
        return rows


# ------------------------------------------------------------------------------ reading


class _Collected:
    """Raw ways pulled out of the file (lon/lat of the nodes present, OSM node ids)."""

    def __init__(self) -> None:
        self.kind: list[str] = []  # building | relmember | street | barrier
        self.osm_id: list[int] = []
        self.tags: list[dict[str, str]] = []
        self.closed: list[bool] = []
        self.refs: list[NDArray[np.int64]] = []
        self.lonlat: list[NDArray[np.float64]] = []
        self.n_clipped = 0


def _osmium() -> Any:
    try:
        import osmium
    except ImportError:
        raise InputError(
            "osmium",
            "reading OpenStreetMap files needs pyosmium: pip install gridopt[osm]",
        ) from None
    return osmium


def _barrier_kind(tags: Mapping[str, str]) -> str | None:
    if tags.get("tunnel", "no") not in ("no", "") or tags.get("covered") == "yes":
        return None
    ww = tags.get("waterway")
    if ww in _WATER_WAYS:
        return _WATER_WAYS[ww]
    nat = tags.get("natural")
    if nat == "water":
        return "water"
    if nat == "coastline":
        return "coastline"
    if tags.get("railway") in _RAILWAYS:
        return "railway"
    return None


def _scan(path: Path, speeds: Mapping[str, float]) -> tuple[_Collected, list[dict[str, Any]]]:
    """Two passes: building relations first (to know their member ways), then ways."""
    osmium = _osmium()
    relations: list[dict[str, Any]] = []

    class RelHandler(osmium.SimpleHandler):  # type: ignore[misc,name-defined]
        def relation(self, r: Any) -> None:
            tags = r.tags
            if tags.get("type") != "multipolygon":
                return
            if "building" in tags:
                kind = "building"
            elif tags.get("natural") == "water" or tags.get("waterway") == "riverbank":
                kind = "water"
            else:
                return
            members = [(m.ref, m.role) for m in r.members if m.type == "w"]
            relations.append({"id": r.id, "kind": kind, "tags": dict(tags), "members": members})

    col = _Collected()

    class WayHandler(osmium.SimpleHandler):  # type: ignore[misc,name-defined]
        def __init__(self, member_ids: set[int]) -> None:
            super().__init__()
            self.member_ids = member_ids

        def way(self, w: Any) -> None:
            tags = w.tags
            if "building" in tags and tags.get("building") != "no":
                kind = "building"
            elif tags.get("highway") in speeds and tags.get("area") != "yes":
                kind = "street"
            elif _barrier_kind(tags) is not None:
                kind = "barrier"
            elif w.id in self.member_ids:
                kind = "relmember"
            else:
                return
            nodes = w.nodes
            refs = np.fromiter((n.ref for n in nodes), dtype=np.int64, count=len(nodes))
            ok = [n.location.valid() for n in nodes]
            lonlat = np.array(
                [(n.location.lon, n.location.lat) for n, v in zip(nodes, ok, strict=True) if v],
                dtype=np.float64,
            ).reshape(-1, 2)
            closed = len(refs) > 2 and refs[0] == refs[-1]
            if not all(ok):
                col.n_clipped += 1
                refs = refs[np.asarray(ok, dtype=bool)]
            col.kind.append(kind)
            col.osm_id.append(int(w.id))
            col.tags.append(dict(tags) if kind != "relmember" else {})
            col.closed.append(bool(closed))
            col.refs.append(refs)
            col.lonlat.append(lonlat)
            if kind != "relmember" and w.id in self.member_ids:
                # also a relation member: keep a second, untagged copy for the relation
                col.kind.append("relmember")
                col.osm_id.append(int(w.id))
                col.tags.append({})
                col.closed.append(bool(closed))
                col.refs.append(refs)
                col.lonlat.append(lonlat)

    try:
        RelHandler().apply_file(str(path))
        member_ids = {ref for rel in relations for ref, _ in rel["members"]}
        WayHandler(member_ids).apply_file(str(path), locations=True)
    except InputError:
        raise
    except Exception as exc:  # osmium raises RuntimeError for unreadable/foreign files
        raise InputError(
            "extract", f"{path.name} is not a readable OSM file ({type(exc).__name__}: {exc})"
        ) from None
    return col, relations


def _header_box(path: Path) -> tuple[float, float, float, float] | None:
    osmium = _osmium()
    try:
        reader = osmium.io.Reader(str(path), osmium.osm.osm_entity_bits.NOTHING)
        try:
            box = reader.header().box()
        finally:
            reader.close()
    except Exception:
        return None
    if not box.valid():
        return None
    return (box.bottom_left.lon, box.bottom_left.lat, box.top_right.lon, box.top_right.lat)


def _parse_number(text: object) -> float | None:
    if not isinstance(text, str) or not text:
        return None
    m = _NUMBER.search(text)
    if m is None:
        return None
    value = float(m.group(0).replace(",", "."))
    return value if math.isfinite(value) and value > 0 else None


def read_osm(
    path: str | os.PathLike[str],
    *,
    population: Any | None = None,
    population_column: str = "population",
    dwelling_m2: float = 70.0,
    household_size: float = 2.0,
    level_height: float = 3.0,
    min_footprint_m2: float = 30.0,
    residential_levels: Mapping[str, float] | None = None,
    speeds: Mapping[str, float] | None = None,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> OsmExtract:
    """Read an OpenStreetMap extract into buildings, streets and barriers.

    Parameters
    ----------
    path : path to ``.osm``, ``.osm.pbf`` (or ``.osm.bz2`` / ``.osm.gz``)
    population : GeoDataFrame or path, optional
        A population grid: polygons with a ``population_column`` (persons), in any CRS
        (reprojected). Dwellings then come from it instead of the footprint estimate:
        the persons of each cell that lies inside the extract's bounding box (pro rata
        to the covered share of the cell) / ``household_size``, split over the cell's
        residential buildings of at least ``min_footprint_m2`` in proportion to floor
        area (largest remainders, so each cell's total is kept). Buildings outside
        every cell get 0 dwellings.
    population_column : str
        Column of persons in ``population``.
    dwelling_m2 : float
        Gross floor area per dwelling (m2), > 0.
    household_size : float
        Persons per household, > 0 (population grid only).
    level_height : float
        Metres per storey, to turn a ``height`` tag into levels, > 0.
    min_footprint_m2 : float
        Residential buildings smaller than this (saunas, sheds tagged ``yes``) hold no
        dwelling; larger ones hold at least one.
    residential_levels : mapping of str to float, optional
        Building types that hold dwellings and their default levels (default
        :data:`RESIDENTIAL_LEVELS`).
    speeds : mapping of str to float, optional
        km/h per ``highway`` class to drive on (default :data:`HIGHWAY_SPEEDS`).
    progress : callable, optional
        Called with ``{"stage": str, "done": int, "total": int}`` after each stage.

    Returns
    -------
    OsmExtract

    Raises
    ------
    InputError
        pyosmium missing, file not found or not an OSM file, no buildings in the
        extract, bad parameters, a population grid without the population column or
        without a CRS.
    """
    t0 = time.perf_counter()
    p = Path(path)
    if not p.exists():
        raise InputError("extract", f"file not found: {p}")
    if p.is_dir():
        raise InputError("extract", f"{p} is a folder, not an OSM file")
    for name, value in (
        ("dwelling_m2", dwelling_m2),
        ("household_size", household_size),
        ("level_height", level_height),
    ):
        if not (np.isfinite(value) and value > 0):
            raise InputError(name, f"must be > 0, got {value}")
    levels_by_type = dict(RESIDENTIAL_LEVELS if residential_levels is None else residential_levels)
    speed_by_class = dict(HIGHWAY_SPEEDS if speeds is None else speeds)
    bad_speed = [k for k, v in speed_by_class.items() if not (np.isfinite(v) and v > 0)]
    if bad_speed:
        raise InputError("speeds", f"must be > 0 km/h; wrong for {', '.join(bad_speed)}")
    pop_frame = _load_population(population, population_column) if population is not None else None

    def report(stage: str, done: int, total: int = 4) -> None:
        if progress is not None:
            progress({"stage": stage, "done": done, "total": total})

    col, relations = _scan(p, speed_by_class)
    report("read", 1)
    n_building_ways = sum(k == "building" for k in col.kind)
    if n_building_ways == 0 and not any(r["kind"] == "building" for r in relations):
        raise InputError(
            "extract",
            f"{p.name} holds no buildings (no building=* ways or relations): "
            "cannot estimate households from it",
        )

    # Project every node present at once.
    from gridopt.io.units import to_metric

    lengths = np.array([a.shape[0] for a in col.lonlat], dtype=np.int64)
    allll = np.concatenate(col.lonlat) if col.lonlat else np.zeros((0, 2))
    if allll.shape[0] == 0:
        raise InputError("extract", f"{p.name}: no node locations (all ways clipped)")
    mx, my, crs = to_metric(allll[:, 0], allll[:, 1], "EPSG:4326")
    xy = np.column_stack([mx, my])
    offsets = np.zeros(lengths.shape[0] + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    way_xy = [xy[offsets[k] : offsets[k + 1]] for k in range(lengths.shape[0])]

    stats: dict[str, Any] = {"n_clipped_ways": col.n_clipped}
    buildings, n_drop_b, n_drop_rel = _buildings(col, way_xy, relations, crs)
    if len(buildings) == 0:
        raise InputError(
            "extract", f"{p.name}: every building way is clipped or degenerate; no buildings"
        )
    _estimate_dwellings(buildings, levels_by_type, dwelling_m2, level_height, min_footprint_m2)
    if pop_frame is not None:
        box = _header_box(p) or (
            float(allll[:, 0].min()),
            float(allll[:, 1].min()),
            float(allll[:, 0].max()),
            float(allll[:, 1].max()),
        )
        stats.update(
            _spread_population(
                buildings,
                pop_frame,
                population_column,
                household_size,
                box,
                crs,
                min_footprint_m2,
            )
        )
    report("buildings", 2)
    streets, nodes, n_drop_s = _streets(col, way_xy, speed_by_class, crs)
    report("streets", 3)
    barriers, n_drop_w = _barriers(col, way_xy, relations, crs)
    report("barriers", 4)
    stats.update(
        n_buildings=len(buildings),
        n_residential=int(buildings["residential"].sum()),
        n_dwellings=int(buildings["dwellings"].sum()),
        n_street_edges=len(streets),
        n_street_nodes=int(nodes.shape[0]),
        n_barriers=len(barriers),
        n_dropped_ways=n_drop_b + n_drop_s + n_drop_w,
        n_dropped_relations=n_drop_rel,
        read_s=time.perf_counter() - t0,
    )
    if col.n_clipped:
        log.warning(
            "%s: %d ways are clipped at the edge of the extract (nodes missing); "
            "kept their remaining nodes, dropped %d left degenerate",
            p.name,
            col.n_clipped,
            stats["n_dropped_ways"],
        )
    log.info("read %s: %s", p.name, stats)
    return OsmExtract(
        buildings=buildings,
        streets=streets,
        street_nodes=nodes,
        barriers=barriers,
        crs=crs,
        stats=stats,
    )


def _largest_polygon(geom: Any) -> Any:
    import shapely

    if geom is None or geom.is_empty:
        return None
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    if geom.geom_type == "Polygon":
        return geom if geom.area > 0 else None
    parts = [g for g in shapely.get_parts(geom) if g.geom_type in ("Polygon", "MultiPolygon")]
    if not parts:
        return None
    polys = [q for g in parts for q in shapely.get_parts(g)]
    if len(polys) == 1:
        return polys[0] if polys[0].area > 0 else None
    return shapely.multipolygons(polys)


def _ring(xy: NDArray[np.float64]) -> Any:
    import shapely

    if xy.shape[0] >= 2 and np.array_equal(xy[0], xy[-1]):
        xy = xy[:-1]
    if np.unique(xy, axis=0).shape[0] < 3:
        return None
    return _largest_polygon(shapely.Polygon(xy))


def _buildings(
    col: _Collected, way_xy: list[NDArray[np.float64]], relations: list[dict[str, Any]], crs: str
) -> tuple[Any, int, int]:
    import geopandas as gpd
    import shapely

    rows: list[tuple[str, int, dict[str, str]]] = []
    geoms: list[Any] = []
    n_dropped = 0
    member_xy: dict[int, NDArray[np.float64]] = {}
    for k, kind in enumerate(col.kind):
        if kind == "relmember":
            member_xy[col.osm_id[k]] = way_xy[k]
        if kind != "building":
            continue
        if not col.closed[k]:
            continue  # an open building way is an outer part of a relation, or a mistake
        g = _ring(way_xy[k])
        if g is None:
            n_dropped += 1
            continue
        rows.append(("way", col.osm_id[k], col.tags[k]))
        geoms.append(g)
    n_dropped_rel = 0
    for rel in relations:
        if rel["kind"] != "building":
            continue
        outer = [member_xy.get(ref) for ref, role in rel["members"] if role != "inner"]
        inner = [member_xy.get(ref) for ref, role in rel["members"] if role == "inner"]
        g = _polygonize(outer, inner)
        if g is None:
            n_dropped_rel += 1
            continue
        rows.append(("relation", rel["id"], rel["tags"]))
        geoms.append(g)
    if n_dropped_rel:
        log.warning("dropped %d building relations with no closed outline", n_dropped_rel)
    n = len(rows)
    tags = [r[2] for r in rows]
    frame = gpd.GeoDataFrame(
        {
            "id": np.arange(1, n + 1, dtype=np.int64),
            "osm_type": [r[0] for r in rows],
            "osm_id": np.array([r[1] for r in rows], dtype=np.int64),
            "building": [t.get("building", "yes") for t in tags],
            "levels_tag": [t.get("building:levels") for t in tags],
            "height_tag": [t.get("height") for t in tags],
            "nonres_hint": [any(h in t for h in _NON_RESIDENTIAL_HINTS) for t in tags],
        },
        geometry=gpd.GeoSeries(geoms, crs=crs) if geoms else gpd.GeoSeries([], crs=crs),
        crs=crs,
    )
    frame["footprint_m2"] = shapely.area(frame.geometry.to_numpy())
    return frame, n_dropped, n_dropped_rel


def _polygonize(
    outer: list[NDArray[np.float64] | None], inner: list[NDArray[np.float64] | None]
) -> Any:
    import shapely

    def rings(parts: list[NDArray[np.float64] | None]) -> Any:
        lines = [shapely.LineString(a) for a in parts if a is not None and a.shape[0] >= 2]
        if not lines:
            return None
        polys = shapely.get_parts(shapely.polygonize(lines))
        if len(polys) == 0:
            return None
        return shapely.union_all(polys)

    out = rings(outer)
    if out is None or out.is_empty:
        return None
    inn = rings(inner)
    if inn is not None and not inn.is_empty:
        out = shapely.difference(out, inn)
    return _largest_polygon(out)


def _estimate_dwellings(
    b: Any,
    levels_by_type: Mapping[str, float],
    dwelling_m2: float,
    level_height: float,
    min_footprint_m2: float,
) -> None:
    btype = b["building"].astype(str).to_numpy()
    residential = np.array([t in levels_by_type for t in btype], dtype=bool)
    residential &= ~((btype == "yes") & b["nonres_hint"].to_numpy(dtype=bool))
    tag_levels = np.array([_parse_number(v) or np.nan for v in b["levels_tag"]], dtype=float)
    heights = np.array([_parse_number(v) or np.nan for v in b["height_tag"]], dtype=float)
    default = np.array([levels_by_type.get(t, 1.0) for t in btype], dtype=float)
    source = np.where(
        np.isfinite(tag_levels), "tag", np.where(np.isfinite(heights), "height", "default")
    )
    levels = np.where(
        np.isfinite(tag_levels),
        tag_levels,
        np.where(np.isfinite(heights), np.maximum(1.0, np.round(heights / level_height)), default),
    )
    foot = b["footprint_m2"].to_numpy()
    floor = foot * levels
    est = np.where(residential, np.round(floor / dwelling_m2), 0.0)
    big_enough = residential & (foot >= min_footprint_m2)
    est = np.where(big_enough, np.maximum(est, 1.0), 0.0)
    single = np.isin(btype, list(_ONE_DWELLING)) & big_enough
    est = np.where(single, 1.0, est)
    b["residential"] = residential
    b["levels"] = levels
    b["levels_source"] = source
    b["floor_area_m2"] = floor
    b["dwellings"] = est.astype(np.int64)
    for name in ("levels_tag", "height_tag", "nonres_hint"):
        del b[name]


def _load_population(population: Any, column: str) -> Any:
    import geopandas as gpd

    if isinstance(population, (str, os.PathLike)):
        pp = Path(population)
        if not pp.exists():
            raise InputError("population", f"file not found: {pp}")
        try:
            frame = gpd.read_file(pp, engine="pyogrio")
        except Exception as exc:
            raise InputError(
                "population", f"cannot read {pp.name}: {type(exc).__name__}: {exc}"
            ) from None
    else:
        frame = population
    if not hasattr(frame, "geometry"):
        raise InputError("population", "must be a GeoDataFrame of grid cells (or its path)")
    if column not in frame.columns:
        raise InputError(
            "population",
            f"has no {column!r} column; columns: {', '.join(map(str, frame.columns))}",
        )
    if frame.crs is None:
        raise InputError("population", "has no CRS: set one (e.g. EPSG:4326)")
    values = np.asarray(frame[column], dtype=float)
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        from gridopt.errors import first_rows

        raise InputError(column, "persons must be finite and >= 0", first_rows(bad), int(bad.sum()))
    return frame


def _spread_population(
    b: Any,
    grid: Any,
    column: str,
    household_size: float,
    box_lonlat: tuple[float, float, float, float],
    crs: str,
    min_footprint_m2: float,
) -> dict[str, float]:
    import geopandas as gpd
    import shapely

    cells = grid.to_crs(crs)
    geoms = cells.geometry.to_numpy()
    box = gpd.GeoSeries([shapely.box(*box_lonlat)], crs="EPSG:4326").to_crs(crs).iloc[0]
    cell_area = shapely.area(geoms)
    covered = np.where(
        cell_area > 0,
        shapely.area(shapely.intersection(geoms, box)) / np.maximum(cell_area, 1e-9),
        0.0,
    )
    persons = np.asarray(cells[column], dtype=float) * covered
    target = np.round(persons / household_size).astype(np.int64)
    pts = shapely.point_on_surface(b.geometry.to_numpy())
    tree = shapely.STRtree(geoms)
    bi, ci = tree.query(pts, predicate="within")
    cell_of = np.full(len(b), -1, dtype=np.int64)
    cell_of[bi] = ci  # a point on a shared border: the last cell wins, deterministically
    # the same buildings that can hold dwellings in the footprint estimate
    eligible = b["residential"].to_numpy() & (b["footprint_m2"].to_numpy() >= min_footprint_m2)
    weight = np.where(eligible, b["floor_area_m2"].to_numpy(), 0.0)
    dwellings = np.zeros(len(b), dtype=np.int64)
    unplaced = 0.0
    for c in np.flatnonzero(target > 0):
        members = np.flatnonzero((cell_of == c) & (weight > 0))
        if members.size == 0:
            unplaced += persons[c]
            continue
        share = weight[members] / weight[members].sum() * target[c]
        base = np.floor(share).astype(np.int64)
        rest = int(target[c] - base.sum())
        if rest > 0:
            order = np.lexsort((members, -(share - base)))
            base[order[:rest]] += 1
        dwellings[members] = base
    ids = np.asarray(cells["id"]) if "id" in cells.columns else np.arange(len(cells))
    b["population_cell"] = np.where(cell_of >= 0, ids[np.maximum(cell_of, 0)], -1).astype(np.int64)
    b["dwellings"] = dwellings
    if unplaced:
        log.warning("%.0f persons live in grid cells with no residential building", unplaced)
    return {"persons_in_extract": float(persons.sum()), "persons_unplaced": float(unplaced)}


def _streets(
    col: _Collected, way_xy: list[NDArray[np.float64]], speeds: Mapping[str, float], crs: str
) -> tuple[Any, NDArray[np.float64], int]:
    import geopandas as gpd
    import shapely

    idx = [k for k, kind in enumerate(col.kind) if kind == "street"]
    n_dropped = 0
    us, vs, wid, cls, xy_u, xy_v = [], [], [], [], [], []
    for k in idx:
        refs, pts = col.refs[k], way_xy[k]
        if refs.shape[0] < 2:
            n_dropped += 1
            continue
        us.append(refs[:-1])
        vs.append(refs[1:])
        xy_u.append(pts[:-1])
        xy_v.append(pts[1:])
        wid.append(np.full(refs.shape[0] - 1, col.osm_id[k], dtype=np.int64))
        cls.extend([col.tags[k]["highway"]] * (refs.shape[0] - 1))
    if not us:
        empty = gpd.GeoDataFrame(
            {
                "u": np.zeros(0, np.int64),
                "v": np.zeros(0, np.int64),
                "osm_id": np.zeros(0, np.int64),
                "highway": np.zeros(0, dtype=object),
                "length_m": np.zeros(0),
                "speed_kmh": np.zeros(0),
                "minutes": np.zeros(0),
            },
            geometry=gpd.GeoSeries([], crs=crs),
            crs=crs,
        )
        return empty, np.zeros((0, 2)), n_dropped
    u_ref, v_ref = np.concatenate(us), np.concatenate(vs)
    pu, pv = np.concatenate(xy_u), np.concatenate(xy_v)
    keep = u_ref != v_ref
    u_ref, v_ref, pu, pv = u_ref[keep], v_ref[keep], pu[keep], pv[keep]
    osm_id = np.concatenate(wid)[keep]
    highway = np.asarray(cls, dtype=object)[keep]
    node_ids, inv = np.unique(np.concatenate([u_ref, v_ref]), return_inverse=True)
    m = u_ref.shape[0]
    nodes = np.zeros((node_ids.shape[0], 2))
    nodes[inv[:m]] = pu
    nodes[inv[m:]] = pv
    length = np.hypot(pu[:, 0] - pv[:, 0], pu[:, 1] - pv[:, 1])
    speed = np.array([speeds[h] for h in highway], dtype=float)
    frame = gpd.GeoDataFrame(
        {
            "u": inv[:m].astype(np.int64),
            "v": inv[m:].astype(np.int64),
            "osm_id": osm_id,
            "highway": highway,
            "length_m": length,
            "speed_kmh": speed,
            "minutes": length / (speed * 1000.0 / 60.0),
        },
        geometry=shapely.linestrings(np.stack([pu, pv], axis=1)),
        crs=crs,
    )
    return frame, np.ascontiguousarray(nodes), n_dropped


def _barriers(
    col: _Collected,
    way_xy: list[NDArray[np.float64]],
    relations: list[dict[str, Any]],
    crs: str,
) -> tuple[Any, int]:
    import geopandas as gpd
    import shapely

    kinds: list[str] = []
    ids: list[int] = []
    geoms: list[Any] = []
    n_dropped = 0
    member_xy = {col.osm_id[k]: way_xy[k] for k, kind in enumerate(col.kind) if kind == "relmember"}
    for k, kind in enumerate(col.kind):
        if kind != "barrier":
            continue
        pts = way_xy[k]
        if pts.shape[0] < 2 or np.unique(pts, axis=0).shape[0] < 2:
            n_dropped += 1
            continue
        kinds.append(_barrier_kind(col.tags[k]) or "water")
        ids.append(col.osm_id[k])
        geoms.append(shapely.LineString(pts))
    for rel in relations:
        if rel["kind"] != "water":
            continue
        for ref, _role in rel["members"]:
            pts = member_xy.get(ref)
            if pts is not None and pts.shape[0] >= 2:
                kinds.append("water")
                ids.append(ref)
                geoms.append(shapely.LineString(pts))
    frame = gpd.GeoDataFrame(
        {"kind": kinds, "osm_id": np.array(ids, dtype=np.int64)},
        geometry=gpd.GeoSeries(geoms, crs=crs) if geoms else gpd.GeoSeries([], crs=crs),
        crs=crs,
    )
    return frame, n_dropped


# --------------------------------------------------------------------------- households


def osm_households(
    extract: OsmExtract,
    seed: int,
    *,
    segment_shares: tuple[float, ...] = SEGMENT_SHARES,
) -> Households:
    """One household per dwelling, placed inside its building, with neutral attributes.

    Subscriptions, ARPU, contract ends and churn risk are drawn from ``segment_shares``
    and fixed per-segment take-up rates (the same as the synthetic city's), so that
    :func:`~gridopt.io.units.build_units` has every attribute to aggregate. Replace them
    with the operator's own subscriber table when there is one.

    Parameters
    ----------
    extract : OsmExtract
    seed : int
        Same extract and seed, same households (points and attributes).
    segment_shares : tuple of float, length len(SEGMENTS)
        Share of households per segment (normalised).

    Returns
    -------
    Households
        ``ids`` 1..n, ``building`` = the building's ``id``, ``compound`` -1, in
        ``extract.crs``.

    Raises
    ------
    InputError
        No dwellings in the extract, or bad segment shares.
    """
    import shapely

    shares = np.asarray(segment_shares, dtype=float)
    if shares.shape != (len(SEGMENTS),) or not np.isfinite(shares).all() or (shares < 0).any():
        raise InputError(
            "segment_shares",
            f"must be {len(SEGMENTS)} non-negative numbers ({', '.join(SEGMENTS)})",
        )
    if shares.sum() <= 0:
        raise InputError("segment_shares", "must not all be 0")
    shares = shares / shares.sum()
    b = extract.buildings
    dwellings = b["dwellings"].to_numpy().astype(np.int64)
    n = int(dwellings.sum())
    if n == 0:
        raise InputError("dwellings", "the extract has no dwellings: no households to place")
    rng_pts, rng_seg, rng_sub = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3)
    )
    b_of = np.repeat(np.arange(len(b)), dwellings)
    geoms = b.geometry.to_numpy()
    bounds = shapely.bounds(geoms)[b_of]
    x = np.full(n, np.nan)
    y = np.full(n, np.nan)
    todo = np.arange(n)
    for _ in range(30):  # rejection sampling inside the footprint
        if todo.size == 0:
            break
        cx = rng_pts.uniform(bounds[todo, 0], bounds[todo, 2])
        cy = rng_pts.uniform(bounds[todo, 1], bounds[todo, 3])
        inside = shapely.contains_xy(geoms[b_of[todo]], cx, cy)
        x[todo[inside]] = cx[inside]
        y[todo[inside]] = cy[inside]
        todo = todo[~inside]
    if todo.size:
        rep = shapely.point_on_surface(geoms[b_of[todo]])
        x[todo], y[todo] = shapely.get_x(rep), shapely.get_y(rep)
    seg = rng_seg.choice(len(SEGMENTS), size=n, p=shares).astype(np.int8)
    u = rng_sub.random((n, 5))
    tv = u[:, 0] < np.array([0.85, 0.80, 0.35, 0.92, 0.60])[seg]
    bb = u[:, 1] < np.array([0.95, 0.75, 0.30, 0.20, 0.90])[seg]
    mob = u[:, 2] < np.array([0.85, 0.60, 0.90, 0.25, 0.70])[seg]
    arpu = tv * 28.0 + bb * np.where(seg == 0, 99.0, 59.0) + mob * np.where(seg == 2, 19.0, 48.0)
    arpu = np.round(np.where(seg == 4, arpu * 2.5, arpu), 2)
    contract_end = np.floor(u[:, 3] * 396.0 - 30.0).astype(np.int32)
    churn = np.round(np.array([0.06, 0.10, 0.22, 0.09, 0.08])[seg] * (0.5 + u[:, 4]), 4)
    return Households(
        ids=np.arange(1, n + 1, dtype=np.int64),
        x=np.round(x, 2),
        y=np.round(y, 2),
        building=b["id"].to_numpy()[b_of],
        compound=np.full(n, -1, dtype=np.int64),
        tv=tv,
        broadband=bb,
        mobile=mob,
        arpu=arpu,
        contract_end=contract_end,
        churn_risk=churn,
        segment=seg,
        vip=seg == 4,
        crs=extract.crs,
    )


# -------------------------------------------------------------------------------- units


@dataclass(frozen=True, eq=False)
class OsmUnits:
    """Units built from an OSM extract, with the households and a map layer.

    Parameters
    ----------
    units : Units
    households : Households
        From :func:`osm_households`.
    household_unit : ndarray of int32, shape (n_households,)
        Unit position of each household.
    frame : GeoDataFrame
        One polygon per unit (the building, or the lattice cell): ``unit``, ``id``, the
        unit attributes and ``area_m2``.
    """

    units: Any
    households: Households
    household_unit: NDArray[np.int32]
    frame: Any


def osm_units(
    extract: OsmExtract,
    *,
    seed: int,
    by: str = "building",
    cell_size: float = 100.0,
    adjacency: str = "voronoi",
    snap: float = 30.0,
) -> OsmUnits:
    """Households from the extract's dwellings, grouped into units.

    Parameters
    ----------
    extract : OsmExtract
    seed : int
        For :func:`osm_households`.
    by : {"building", "lattice"}
        One unit per residential building, or a square lattice of ``cell_size``.
    cell_size : float
        Lattice spacing in metres (``by="lattice"``).
    adjacency : {"voronoi", "touch"}
        Buildings only: neighbours from the Voronoi diagram of the building centroids
        (always connected, cut by the barriers), or from footprints within ``snap``
        metres of each other (detached houses then become islands).
    snap : float
        Metres, for ``adjacency="touch"``.

    Returns
    -------
    OsmUnits

    Raises
    ------
    InputError
        Unknown ``by`` / ``adjacency``, a cell size <= 0, no dwellings.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> xml = '<osm version="0.6">' + "".join(
    ...     f'<node id="{i}" lat="{60.17 + dy}" lon="{24.94 + dx}"/>'
    ...     for i, (dx, dy) in enumerate([(0, 0), (4e-4, 0), (4e-4, 2e-4), (0, 2e-4)], 1)
    ... ) + ('<way id="9"><nd ref="1"/><nd ref="2"/><nd ref="3"/><nd ref="4"/><nd ref="1"/>'
    ...      '<tag k="building" v="apartments"/></way></osm>')
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "b.osm"
    >>> _ = path.write_text(xml)
    >>> res = osm_units(read_osm(path), seed=0)
    >>> res.units.n_units, int(res.units.attribute("households").sum())
    (1, 35)
    """
    import geopandas as gpd

    from gridopt.io.units import build_units, unit_polygons

    if by not in ("building", "lattice"):
        raise InputError("by", f"must be 'building' or 'lattice', got {by!r}")
    if adjacency not in ("voronoi", "touch"):
        raise InputError("adjacency", f"must be 'voronoi' or 'touch', got {adjacency!r}")
    households = osm_households(extract, seed)
    barriers = [extract.barriers] if len(extract.barriers) else None
    b = extract.buildings
    if by == "lattice":
        units, hh_unit = build_units(
            households, by=None, cell_size=cell_size, barriers=barriers, return_mapping=True
        )
        geoms = unit_polygons(units, lattice="square", cell_size=cell_size).geometry
    else:
        polygons = b[b["dwellings"] > 0][["id", "geometry"]] if adjacency == "touch" else None
        units, hh_unit = build_units(
            households,
            by="building",
            polygons=polygons,
            snap=snap,
            barriers=barriers,
            return_mapping=True,
        )
        lookup = b.set_index("id").geometry
        geoms = gpd.GeoSeries(lookup.loc[units.ids].to_numpy(), crs=extract.crs)
    data: dict[str, Any] = {"unit": np.arange(units.n_units), "id": units.ids}
    for k, name in enumerate(units.attribute_names):
        data[name] = units.attributes[:, k]
    frame = gpd.GeoDataFrame(data, geometry=geoms.to_numpy(), crs=extract.crs)
    frame["area_m2"] = frame.geometry.area
    return OsmUnits(units=units, households=households, household_unit=hh_unit, frame=frame)
