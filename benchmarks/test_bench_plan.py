"""End-to-end planning benchmark: the sample scenario through every stage.

CI's smoke run uses a 3,000-household city with short limits; ``make bench`` runs the
shipped sample city (20,000 households) with the scenario's own settings.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import FULL

from gridopt.config import load_scenario
from gridopt.plan import plan

SCENARIO = Path(__file__).resolve().parents[1] / "data" / "scenario.toml"


@pytest.fixture(scope="module")
def config():
    cfg = load_scenario(SCENARIO)
    if FULL:
        return cfg, None
    quick = cfg.replace(
        **{
            "grids.count": 6,
            "grids.time_limit": 2.0,
            "ownership.time_limit": 3.0,
            "dispatch.time_limit": 2.0,
            "simulation.days": 14,
            "simulation.warmup_days": 2,
            "simulation.replications": 3,
        }
    )
    return quick, 3_000


def test_plan_sample_city(benchmark, config):
    cfg, households = config
    result = benchmark.pedantic(
        plan, args=(cfg,), kwargs={"households": households}, rounds=1, iterations=1
    )
    assert result.layout.n_grids == cfg.grids.count
    assert (result.households_table["owner"] >= 0).all()
    benchmark.extra_info.update({k: v for k, v in result.timings.items()})
