"""Sweeps: identical tables from serial, local processes and a Dask LocalCluster."""

from __future__ import annotations

import pandas as pd
import pytest

from gridopt.config import parse_scenario
from gridopt.errors import GridoptError, InputError
from gridopt.sweep import parse_vary, sweep

# max_iterations (not a time limit) makes the partition reproducible on any executor.
SCENARIO = """
seed = 2
[grids]
count = 3
max_iterations = 3000
restarts = 1
balance = { households = 0.25 }
[simulation]
days = 10
warmup_days = 1
replications = 2
[campaign]
enabled = false
"""
VARY = {"grids.count": [2, 3], "staffing.technicians_per_grid": [1, 2]}


@pytest.fixture(scope="module")
def serial():
    return sweep(parse_scenario(SCENARIO), VARY, executor="serial", households=1_200)


def test_serial_table_shape_and_monotone_staff(serial):
    t = serial.table
    assert len(t) == 4
    assert list(t["grids.count"]) == [2, 2, 3, 3]
    assert list(t["technicians"]) == [2, 4, 3, 6]
    assert (t["grid:response_onsite_mean:low"] <= t["grid:response_onsite_mean"]).all()


@pytest.mark.slow
def test_processes_identical_to_serial(serial):
    par = sweep(parse_scenario(SCENARIO), VARY, executor="processes", n_workers=2, households=1_200)
    pd.testing.assert_frame_equal(par.table, serial.table)


@pytest.mark.slow
def test_dask_local_cluster_identical_to_serial(serial):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        with distributed.Client(cluster) as client:
            res = sweep(parse_scenario(SCENARIO), VARY, client=client, households=1_200)
    pd.testing.assert_frame_equal(res.table, serial.table)


def test_unreachable_scheduler_fails_fast():
    pytest.importorskip("distributed")
    with pytest.raises(GridoptError, match="cannot reach the Dask scheduler at tcp://127.0.0.1:1"):
        sweep(
            parse_scenario(SCENARIO),
            {"grids.count": [2]},
            executor="tcp://127.0.0.1:1",
            timeout=2.0,
            households=1_200,
        )


def test_bad_vary():
    with pytest.raises(InputError, match="must look like KEY=V1,V2"):
        parse_vary(["grids"])
    with pytest.raises(InputError, match="grids.count"):
        sweep(parse_scenario(SCENARIO), {"grids.count": [-1]}, executor="serial")
    with pytest.raises(InputError, match="unknown key"):
        sweep(parse_scenario(SCENARIO), {"grids.colour": [1]}, executor="serial")
