"""The demo run on the built-in sample city (``gridopt demo``).

Examples
--------
>>> import tempfile, pathlib
>>> out = pathlib.Path(tempfile.mkdtemp())
>>> summary = run_demo(out, households=600, seed=1)
>>> sorted(p.name for p in out.iterdir())
['city.png', 'demo.json', 'units.csv']
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gridopt.io.units import build_units
from gridopt.io.write import write_json, write_table
from gridopt.report.maps import city_map

__all__ = ["run_demo", "load_city"]

log = logging.getLogger("gridopt.demo")


def load_city(city_path: Path | None, households: int | None, seed: int) -> Any:
    """The sample city from ``city_path``, or a generated one of ``households``."""
    from gridopt.synth import generate_city

    if households is None and city_path is not None:
        from gridopt.io.city import read_city

        return read_city(city_path)
    return generate_city(households or 20_000, seed=seed)


def run_demo(
    out: Path,
    *,
    households: int | None = None,
    seed: int = 0,
    city_path: Path | None = None,
    console: Any | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Generate or load the sample city, build units, draw the map, write a summary.

    Returns
    -------
    dict
        The figures written to ``demo.json``.
    """
    say = progress or (lambda msg: log.info(msg))
    t0 = time.perf_counter()
    say("loading the city")
    city = load_city(city_path, households, seed)
    say("building units")
    units, _ = build_units(
        city.households,
        by="building",
        barriers=city.barriers,
        ticket_model=city.ticket_model,
        return_mapping=True,
    )
    say("drawing the map")
    city_map(city, out / "city.png", units=units)
    table = pd.DataFrame(units.attributes, columns=list(units.attribute_names))
    table.insert(0, "unit_id", units.ids)
    table.insert(1, "x", np.round(units.x, 1))
    table.insert(2, "y", np.round(units.y, 1))
    write_table(table, out / "units.csv")
    hh = city.households
    summary = {
        "households": hh.n_households,
        "subscribers": int(hh.subscribers.sum()),
        "units": units.n_units,
        "unit_edges": units.n_edges,
        "compounds": int(city.compounds["id"].shape[0]),
        "stations": int(city.stations.shape[0]),
        "staff": city.staff.n_staff,
        "tickets_per_day": round(float(units.attribute("tickets_per_day").sum()), 1),
        "revenue_per_month": round(float(hh.arpu.sum()), 0),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    write_json(summary, out / "demo.json")
    return summary
