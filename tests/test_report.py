"""The HTML report and maps: self-contained, and it renders in a real headless browser."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from gridopt.io.units import build_units, unit_polygons
from gridopt.report.html import RENEWAL_RED_LINE, render_report, svg_grid_map
from gridopt.report.maps import city_map, grid_map
from gridopt.synth import generate_city


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    city = generate_city(3_000, seed=4, days=0)
    units = build_units(city.households, by="building", barriers=city.barriers)
    labels = np.minimum((np.argsort(np.argsort(units.x)) * 4) // units.n_units, 3).astype(np.int32)
    polys = unit_polygons(units, bounds=city.bounds)
    png = grid_map(city, polys, labels, out / "grids.png", title="4 grids")
    city_png = city_map(city, out / "city.png", units=units)
    table = pd.DataFrame(
        {
            "grid": np.arange(4),
            "households": np.bincount(labels, weights=units.attribute("households"), minlength=4),
            "renewal_rate": [0.91, 0.84, 0.88, 0.86],
        }
    )
    grid_polys = polys.assign(grid=labels).dissolve(by="grid")[["geometry"]]
    path = render_report(
        out / "report.html",
        title="Test plan",
        kpis={"grids": 4, "households": 3000},
        grid_table=table,
        warnings=["grid 1: renewal rate 84.0% is below the 85 % red line"],
        images={"Grids": png, "City": city_png},
        svg_map=svg_grid_map(grid_polys, table),
    )
    return path, table


def test_report_is_self_contained(report):
    path, _ = report
    html = path.read_text()
    assert "<svg" in html and "data:image/png;base64," in html
    # nothing is fetched from the network: no external scripts, styles or images
    assert "<script src" not in html and "<link" not in html
    assert 'src="http' not in html


def test_red_line_rows_are_marked(report):
    path, table = report
    html = path.read_text()
    n_red = int((table["renewal_rate"] < RENEWAL_RED_LINE).sum())
    assert html.count('<tr class="red">') == n_red == 1
    assert "below the 85 % red line" in html


def test_svg_has_one_path_per_grid(report):
    html = report[0].read_text()
    assert html.count('<path class="g"') == 4


@pytest.mark.slow
def test_renders_in_headless_chromium(report, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("Debian chromium is not installed (apt-get install chromium)")
    path, _ = report
    shot = tmp_path / "shot.png"
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--window-size=1200,1600",
    ]
    dom = subprocess.run(
        [browser, *flags, "--dump-dom", path.as_uri()], capture_output=True, text=True, timeout=120
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert dom.stdout.count('<path class="g"') == 4  # the map is in the rendered page
    run = subprocess.run(
        [browser, *flags, f"--screenshot={shot}", path.as_uri()], capture_output=True, timeout=120
    )
    assert run.returncode == 0 and shot.exists()
    import matplotlib.image as mpimg

    img = mpimg.imread(shot)[..., :3]
    # the page is not blank: the grid colours of the map show up
    colourful = (img.max(axis=2) - img.min(axis=2)) > 0.2
    assert colourful.mean() > 0.02
