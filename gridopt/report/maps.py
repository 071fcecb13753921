"""Static maps with matplotlib (Agg backend; no display needed).

Examples
--------
>>> import tempfile, pathlib
>>> from gridopt.synth import generate_city
>>> city = generate_city(500, seed=1, days=0)
>>> out = city_map(city, pathlib.Path(tempfile.mkdtemp()) / "city.png")
>>> out.stat().st_size > 10_000
True
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402

from gridopt.io.write import atomic_path  # noqa: E402

__all__ = [
    "city_map",
    "grid_map",
    "draw_city_background",
    "save_figure",
    "grid_colours",
    "colour_graph",
]

_PALETTE = (
    plt.get_cmap("tab20").colors + plt.get_cmap("tab20b").colors + plt.get_cmap("Set3").colors
)


def colour_graph(n: int, pairs: np.ndarray, n_colours: int) -> np.ndarray:
    """Greedy colouring: a colour index per node so that paired nodes differ.

    Examples
    --------
    >>> import numpy as np
    >>> colour_graph(3, np.array([[0, 1], [1, 2]]), 5).tolist()
    [1, 0, 2]
    """
    nb: list[set[int]] = [set() for _ in range(n)]
    for i, j in np.asarray(pairs, dtype=np.int64).reshape(-1, 2).tolist():
        if i != j:
            nb[i].add(j)
            nb[j].add(i)
    colour = np.full(n, -1, dtype=np.int64)
    count = np.zeros(n_colours, dtype=np.int64)
    for i in sorted(range(n), key=lambda k: (-len(nb[k]), k)):
        used = {int(colour[j]) for j in nb[i] if colour[j] >= 0}
        free = [c for c in range(n_colours) if c not in used]
        # the least-used free colour: the whole palette gets used, so that grids that
        # do not touch on the map are still told apart
        colour[i] = min(free, key=lambda c: (count[c], c)) if free else i % n_colours
        count[colour[i]] += 1
    return colour


def grid_colours(geoms: Any, n_colours: int) -> np.ndarray:
    """Colour index per grid so that touching grids differ (greedy graph colouring).

    Examples
    --------
    >>> import shapely
    >>> boxes = [shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1), shapely.box(2, 0, 3, 1)]
    >>> grid_colours(boxes, 5).tolist()
    [1, 0, 2]
    """
    import shapely

    arr = np.asarray(list(geoms), dtype=object)
    tree = shapely.STRtree(arr)
    a, b = tree.query(shapely.buffer(arr, 1e-6), predicate="intersects")
    return colour_graph(arr.shape[0], np.column_stack([a, b]), n_colours)


def save_figure(fig: Any, path: str | os.PathLike[str], dpi: int = 130) -> Path:
    """Save a figure atomically as PNG and close it."""
    target = Path(path)
    with atomic_path(target) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png", bbox_inches="tight")
    plt.close(fig)
    return target


def draw_city_background(ax: Any, city: Any, *, streets: bool = True) -> None:
    """Streets (arterials thicker), river and railway, stations."""
    s = city.streets
    if streets:
        seg = np.stack(
            [
                np.column_stack([s.node_x[s.edge_u], s.node_y[s.edge_u]]),
                np.column_stack([s.node_x[s.edge_v], s.node_y[s.edge_v]]),
            ],
            axis=1,
        )
        art = s.edge_arterial
        ax.add_collection(LineCollection(seg[~art], colors="#d0d0d0", linewidths=0.4, zorder=1))
        ax.add_collection(LineCollection(seg[art], colors="#a0a0a0", linewidths=1.2, zorder=1))
    for bar in city.barriers:
        for part in bar.parts:
            if bar.kind == "river":
                ax.plot(
                    part[:, 0],
                    part[:, 1],
                    color="#5b9bd5",
                    linewidth=4.5,
                    alpha=0.8,
                    zorder=2,
                    solid_capstyle="butt",
                )
            else:
                ax.plot(
                    part[:, 0],
                    part[:, 1],
                    color="#444444",
                    linewidth=1.6,
                    linestyle=(0, (4, 2)),
                    zorder=2,
                )
    ax.scatter(
        city.stations[:, 0],
        city.stations[:, 1],
        marker="^",
        s=90,
        c="#d62728",
        edgecolors="black",
        linewidths=0.8,
        zorder=6,
        label="service station",
    )


def _finish(ax: Any, city: Any, title: str) -> None:
    x0, y0, x1, y1 = city.bounds
    ax.set_xlim(x0 - 50, x1 + 50)
    ax.set_ylim(y0 - 50, y1 + 50)
    ax.set_aspect("equal")
    ax.set_title(title, fontsize=11)
    ax.set_xlabel(f"easting (m, {city.crs})", fontsize=8)
    ax.set_ylabel("northing (m)", fontsize=8)
    ax.tick_params(labelsize=7)


def city_map(city: Any, path: str | os.PathLike[str], *, units: Any | None = None) -> Path:
    """Map of the city: compounds, buildings sized by households, streets, river, stations.

    Parameters
    ----------
    city : gridopt.synth.City
    path : output PNG path
    units : Units, optional
        Drawn as small black dots (unit centroids) with their adjacency.
    """
    fig, ax = plt.subplots(figsize=(9, 9))
    c = city.compounds
    for k in range(c["id"].shape[0]):
        color = "#f3e9d2" if c["kind"][k] == 1 else "#e8e8f4"
        ax.add_patch(
            plt.Rectangle(
                (c["xmin"][k], c["ymin"][k]),
                c["xmax"][k] - c["xmin"][k],
                c["ymax"][k] - c["ymin"][k],
                facecolor=color,
                edgecolor="#b8b8c8",
                linewidth=0.4,
                zorder=0,
            )
        )
    draw_city_background(ax, city)
    b = city.buildings
    sc = ax.scatter(
        b["x"],
        b["y"],
        s=np.clip(b["households"] / 8.0, 1, 40),
        c=b["floors"],
        cmap="viridis",
        zorder=3,
        linewidths=0,
    )
    cb = fig.colorbar(sc, ax=ax, shrink=0.6)
    cb.set_label("building floors", fontsize=8)
    if units is not None:
        i, j, _ = units.edges()
        seg = np.stack(
            [np.column_stack([units.x[i], units.y[i]]), np.column_stack([units.x[j], units.y[j]])],
            axis=1,
        )
        ax.add_collection(LineCollection(seg, colors="#00000030", linewidths=0.3, zorder=4))
    n = city.households.n_households
    _finish(
        ax,
        city,
        f"Sample city: {n:,} households, {c['id'].shape[0]} compounds, "
        f"{b['id'].shape[0]:,} buildings, {city.stations.shape[0]} stations",
    )
    ax.legend(loc="lower right", fontsize=8)
    return save_figure(fig, path)


def grid_map(
    city: Any,
    unit_polygons: Any,
    labels: np.ndarray,
    path: str | os.PathLike[str],
    *,
    title: str = "Grids",
    bases_xy: np.ndarray | None = None,
    routes: list[np.ndarray] | None = None,
    colours: np.ndarray | None = None,
) -> Path:
    """Map of a layout: each grid filled with its own colour, borders dissolved.

    Parameters
    ----------
    unit_polygons : GeoDataFrame
        One polygon per unit, in unit order (see :func:`gridopt.io.units.unit_polygons`).
    labels : ndarray of int32, shape (n_units,)
    bases_xy : ndarray of float64, shape (n_grids, 2), optional
        Grid bases drawn as black stars.
    routes : list of ndarray of float64, shape (k, 2), optional
        Technician routes drawn as lines.
    colours : ndarray of int, shape (n_grids,), optional
        Colour index per grid (e.g. from :func:`colour_graph` on the unit graph, so that
        neighbouring grids differ even where streets keep their outlines apart).
    """
    gdf = unit_polygons.assign(grid=np.asarray(labels))
    grids = gdf.dissolve(by="grid")
    fig, ax = plt.subplots(figsize=(9, 9))
    idx = (
        grid_colours(grids.geometry, len(_PALETTE))
        if colours is None
        else np.asarray(colours)[grids.index]
    )
    colors = [_PALETTE[int(c) % len(_PALETTE)] for c in idx]
    grids.plot(ax=ax, color=colors, edgecolor="black", linewidth=0.8, alpha=0.75, zorder=0)
    draw_city_background(ax, city, streets=False)
    if bases_xy is not None:
        ax.scatter(
            bases_xy[:, 0], bases_xy[:, 1], marker="*", s=40, c="black", zorder=7, label="grid base"
        )
    for r in routes or []:
        ax.plot(r[:, 0], r[:, 1], color="black", linewidth=0.6, alpha=0.5, zorder=8)
    _finish(ax, city, title)
    ax.legend(loc="lower right", fontsize=8)
    return save_figure(fig, path)
