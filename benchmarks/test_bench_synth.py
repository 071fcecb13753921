"""Generator and unit-building benchmarks.

Ratios: unit building is compared with a plain pandas group-by of the same households
(the reference a user would write), measured in the same run.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import sizes

from gridopt.io.units import build_units
from gridopt.synth import generate_city

N_HOUSEHOLDS = sizes([20_000], [100_000, 1_000_000])


@pytest.mark.parametrize("n", N_HOUSEHOLDS)
def test_generate_city(benchmark, n):
    city = benchmark.pedantic(generate_city, args=(n,), kwargs={"seed": 0}, rounds=1, iterations=1)
    assert city.households.n_households == n


@pytest.fixture(scope="module", params=N_HOUSEHOLDS)
def city(request):
    return generate_city(request.param, seed=0, days=0)


def test_build_units_by_building(benchmark, city):
    units = benchmark.pedantic(
        build_units,
        args=(city.households,),
        kwargs={"by": "building", "barriers": city.barriers},
        rounds=3,
    )
    assert units.attribute("households").sum() == city.households.n_households


def test_reference_pandas_groupby(benchmark, city):
    """Reference: sum households' columns per building with pandas (no adjacency)."""
    hh = city.households
    df = pd.DataFrame(
        {"b": hh.building, "x": hh.x, "y": hh.y, "arpu": hh.arpu, "one": np.ones(hh.n_households)}
    )
    out = benchmark.pedantic(
        lambda: df.groupby("b").agg({"x": "mean", "y": "mean", "arpu": "sum", "one": "sum"}),
        rounds=3,
    )
    assert out["one"].sum() == hh.n_households


def test_build_units_lattice(benchmark, city):
    units = benchmark.pedantic(
        build_units,
        args=(city.households,),
        kwargs={"by": None, "cell_size": 100.0, "lattice": "hex"},
        rounds=3,
    )
    assert units.attribute("households").sum() == city.households.n_households
