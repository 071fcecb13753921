"""One self-contained HTML report: no internet is needed to view it.

Maps are embedded as PNG (base64) and as an inline SVG with one path per grid (hover a
grid for its figures: the interactive map needs no JavaScript library and no tiles).

Examples
--------
>>> import pandas as pd, tempfile, pathlib
>>> table = pd.DataFrame({"grid": [0, 1], "households": [800, 790], "renewal_rate": [0.9, 0.8]})
>>> out = pathlib.Path(tempfile.mkdtemp()) / "report.html"
>>> _ = render_report(out, title="Demo", kpis={"grids": 2}, grid_table=table)
>>> html = out.read_text()
>>> "<table" in html and "85 %" in html
True
"""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gridopt.io.write import atomic_path

__all__ = ["render_report", "svg_grid_map", "RENEWAL_RED_LINE"]

#: Renewal rate below which a grid is flagged (the operators' red line).
RENEWAL_RED_LINE = 0.85

_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px auto;max-width:1200px;color:#222;padding:0 16px}
h1{font-size:24px;margin-bottom:4px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd;padding-bottom:4px}
.kpis{display:flex;flex-wrap:wrap;gap:12px}.kpi{background:#f5f7fa;border:1px solid #e1e5ea;border-radius:6px;padding:10px 14px;min-width:140px}
.kpi .v{font-size:20px;font-weight:600}.kpi .k{font-size:12px;color:#666}
table{border-collapse:collapse;font-size:12px;margin:8px 0}th,td{border:1px solid #ddd;padding:3px 7px;text-align:right}
th{background:#f0f2f5;position:sticky;top:0}td:first-child,th:first-child{text-align:left}
tr.red td{background:#fde8e8}td.red{color:#b00020;font-weight:600}
.warn{background:#fff4e5;border-left:4px solid #f0a020;padding:6px 10px;margin:4px 0;font-size:13px}
.maps img{max-width:100%;border:1px solid #ddd}.scroll{max-height:520px;overflow:auto}
svg .g:hover{stroke:#000;stroke-width:3;opacity:1}
.note{font-size:12px;color:#666}
"""


def _fmt(v: Any) -> str:
    if isinstance(v, (float, np.floating)):
        if not np.isfinite(v):
            return "-"
        if abs(v) >= 1000:
            return f"{v:,.0f}"
        if abs(v) >= 10:
            return f"{v:.1f}"
        return f"{v:.3g}"
    if isinstance(v, (int, np.integer)):
        return f"{int(v):,}"
    return html.escape(str(v))


def _table(
    df: pd.DataFrame,
    *,
    red_rows: Sequence[bool] | None = None,
    red_cells: Mapping[str, Any] | None = None,
) -> str:
    cols = list(df.columns)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)
    rows = []
    for i, (_, row) in enumerate(df.iterrows()):
        cls = ' class="red"' if red_rows is not None and red_rows[i] else ""
        cells = []
        for c in cols:
            v = row[c]
            cell_cls = ""
            if red_cells and c in red_cells and red_cells[c](v):
                cell_cls = ' class="red"'
            cells.append(f"<td{cell_cls}>{_fmt(v)}</td>")
        rows.append(f"<tr{cls}>{''.join(cells)}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _img(path: str | os.PathLike[str], alt: str) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def svg_grid_map(
    grid_polygons: Any, table: pd.DataFrame | None = None, *, width: int = 900, colours: Any = None
) -> str:
    """An inline SVG map: one path per grid, coloured, with a tooltip of its figures.

    Parameters
    ----------
    grid_polygons : GeoDataFrame
        One (multi)polygon per grid, index = grid number.
    table : DataFrame, optional
        Per-grid figures (column ``grid``) shown in each grid's tooltip.
    """
    import shapely

    geoms = grid_polygons.geometry
    x0, y0, x1, y1 = geoms.total_bounds
    scale = width / max(x1 - x0, 1e-9)
    height = int((y1 - y0) * scale) + 1
    palette = [
        "#4e79a7",
        "#f28e2b",
        "#e15759",
        "#76b7b2",
        "#59a14f",
        "#edc948",
        "#b07aa1",
        "#ff9da7",
        "#9c755f",
        "#bab0ac",
    ]
    lookup = table.set_index("grid") if table is not None and "grid" in table.columns else None
    from gridopt.report.maps import grid_colours

    colours = (
        grid_colours(geoms, len(palette))
        if colours is None
        else np.asarray(colours)[grid_polygons.index]
    )
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="grid map">'
    ]
    for k, (gid, geom) in enumerate(zip(grid_polygons.index, geoms, strict=True)):
        if geom is None or geom.is_empty:
            continue
        d = []
        for poly in shapely.get_parts(geom):
            if poly.geom_type != "Polygon":
                continue
            for ring in [poly.exterior, *poly.interiors]:
                xy = np.asarray(ring.coords)
                px = (xy[:, 0] - x0) * scale
                py = (y1 - xy[:, 1]) * scale
                d.append(
                    "M" + " L".join(f"{a:.1f},{b:.1f}" for a, b in zip(px, py, strict=True)) + " Z"
                )
        tip = f"grid {gid}"
        if lookup is not None and gid in lookup.index:
            row = lookup.loc[gid]
            tip += "\n" + "\n".join(f"{k}: {_fmt(row[k])}" for k in list(lookup.columns)[:8])
        color = palette[int(colours[k]) % len(palette)]
        parts.append(
            f'<path class="g" d="{" ".join(d)}" fill="{color}" fill-opacity="0.6" stroke="#333" stroke-width="1" fill-rule="evenodd">'
            f"<title>{html.escape(tip)}</title></path>"
        )
        c = geom.representative_point()
        parts.append(
            f'<text x="{(c.x - x0) * scale:.1f}" y="{(y1 - c.y) * scale:.1f}" font-size="10" text-anchor="middle" pointer-events="none">{gid}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def render_report(
    path: str | os.PathLike[str],
    *,
    title: str,
    kpis: Mapping[str, Any],
    grid_table: pd.DataFrame,
    comparison: pd.DataFrame | None = None,
    funnel: pd.DataFrame | None = None,
    staffing_table: pd.DataFrame | None = None,
    warnings: Sequence[str] = (),
    images: Mapping[str, str | os.PathLike[str]] | None = None,
    svg_map: str | None = None,
    notes: Sequence[str] = (),
) -> Path:
    """Write the planning report as one self-contained HTML file, atomically.

    Parameters
    ----------
    kpis : mapping
        Headline figures shown as tiles.
    grid_table : DataFrame
        One row per grid; a ``renewal_rate`` column below :data:`RENEWAL_RED_LINE` is
        marked red, as are rows named in ``warnings``.
    comparison : DataFrame, optional
        Central versus grid model, with confidence intervals.
    funnel : DataFrame, optional
        Campaign funnel per wave.
    images : mapping of caption to PNG path, optional
        Embedded as base64.
    svg_map : str, optional
        Inline SVG (see :func:`svg_grid_map`).
    """
    red = None
    red_cells: dict[str, Any] = {}
    if "renewal_rate" in grid_table.columns:
        rr = grid_table["renewal_rate"].to_numpy(dtype=float)
        red = list(rr < RENEWAL_RED_LINE)
        red_cells["renewal_rate"] = lambda v: float(v) < RENEWAL_RED_LINE
    body = [f"<h1>{html.escape(title)}</h1>"]
    body.append(
        '<div class="kpis">'
        + "".join(
            f'<div class="kpi"><div class="v">{_fmt(v)}</div><div class="k">{html.escape(str(k))}</div></div>'
            for k, v in kpis.items()
        )
        + "</div>"
    )
    if warnings:
        body.append(
            "<h2>Warnings</h2>"
            + "".join(f'<div class="warn">{html.escape(w)}</div>' for w in warnings)
        )
    if svg_map:
        body.append("<h2>Grid map</h2><p class='note'>Hover a grid for its figures.</p>" + svg_map)
    if images:
        body.append(
            '<h2>Maps and charts</h2><div class="maps">'
            + "".join(
                f"<figure>{_img(p, cap)}<figcaption class='note'>{html.escape(cap)}</figcaption></figure>"
                for cap, p in images.items()
            )
            + "</div>"
        )
    if comparison is not None and len(comparison):
        body.append(
            "<h2>Central dispatch versus grid model</h2>"
            "<p class='note'>Same random demand in both (common random numbers); "
            "95 % confidence intervals over replications.</p>" + _table(comparison)
        )
    if funnel is not None and len(funnel):
        body.append("<h2>Campaign funnel</h2>" + _table(funnel))
    if staffing_table is not None and len(staffing_table):
        body.append("<h2>Staffing</h2><div class='scroll'>" + _table(staffing_table) + "</div>")
    body.append(
        f"<h2>Grids</h2><p class='note'>Renewal rate red line: {RENEWAL_RED_LINE:.0%} "
        f"(= {RENEWAL_RED_LINE * 100:.0f} %); rows below it are marked red. Sales targets are adjusted "
        "for each grid's potential, so a grid of easy customers is not mistaken for a good team.</p>"
        "<div class='scroll'>" + _table(grid_table, red_rows=red, red_cells=red_cells) + "</div>"
    )
    for n in notes:
        body.append(f"<p class='note'>{html.escape(n)}</p>")
    doc = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"
        + "\n".join(body)
        + "</body></html>\n"
    )
    target = Path(path)
    with atomic_path(target) as tmp:
        tmp.write_text(doc, encoding="utf-8")
    return target
