"""Tests of gridopt.assign.staffing: Erlang C and per-grid head counts."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gridopt.assign.staffing import (
    RoleWorkload,
    erlang_b,
    erlang_c,
    queue_metrics,
    servers_needed,
    staffing,
)
from gridopt.errors import InputError
from gridopt.model import ROLE_TECHNICIAN, Layout, Units


def _erlang_c_textbook(a: float, c: int) -> float:
    top = a**c / math.factorial(c) * c / (c - a)
    return top / (sum(a**k / math.factorial(k) for k in range(c)) + top)


@pytest.fixture
def strip() -> Units:
    """Four units in a row, 1 km apart: two grids of two units."""
    return Units.from_edges(
        ids=[0, 1, 2, 3],
        x=[0.0, 1000.0, 2000.0, 3000.0],
        y=[0.0] * 4,
        attributes={
            "tickets_per_day": [10.0, 10.0, 2.0, 0.0],
            "installs_per_day": [1.0, 1.0, 0.0, 0.0],
            "subscribers": [700.0, 500.0, 100.0, 0.0],
        },
        edges=[(0, 1), (1, 2), (2, 3)],
    )


def test_erlang_b_hand_value():
    # B(a=1, c=1) = 1/2, B(a=1, c=2) = (1/2)/(2 + 1/2) = 0.2
    assert erlang_b(1.0, 1) == pytest.approx(0.5)
    assert erlang_b(1.0, 2) == pytest.approx(0.2)


@pytest.mark.parametrize(("a", "c"), [(0.5, 1), (2.0, 3), (7.3, 9), (40.0, 45), (120.0, 130)])
def test_erlang_c_matches_textbook_formula(a, c):
    assert erlang_c(a, c) == pytest.approx(_erlang_c_textbook(a, c), rel=1e-9)


def test_erlang_c_stable_for_hundreds_of_servers():
    # the factorial form overflows here; the recursion must stay a probability
    p = erlang_c(450.0, 480)
    assert 0.0 < p < 1.0 and np.isfinite(p)
    assert erlang_c(450.0, 500) < p  # more servers, less waiting
    assert erlang_c(480.0, 480) == 1.0


def test_queue_metrics_single_server_is_mm1():
    # M/M/1: P(wait) = rho, mean wait = rho / (mu - lambda)
    m = queue_metrics(arrival_rate=0.05, service_minutes=10.0, servers=1, sla_minutes=0.0)
    assert m["p_wait"] == pytest.approx(0.5)
    assert m["mean_wait"] == pytest.approx(0.5 / (0.1 - 0.05))
    assert m["within_sla"] == pytest.approx(0.5)  # only those who do not wait


def test_queue_metrics_overloaded():
    m = queue_metrics(arrival_rate=1.0, service_minutes=10.0, servers=5, sla_minutes=30.0)
    assert m["p_wait"] == 1.0 and m["mean_wait"] == math.inf and m["within_sla"] == 0.0


def test_servers_needed_is_smallest():
    c = servers_needed(0.5, 30.0, 10.0, 0.9)
    assert queue_metrics(0.5, 30.0, c, 10.0)["within_sla"] >= 0.9
    assert queue_metrics(0.5, 30.0, c - 1, 10.0)["within_sla"] < 0.9
    assert servers_needed(0.0, 30.0, 10.0, 0.9) == 0


def test_staffing_counts_by_hand(strip):
    tech = RoleWorkload(
        "technician",
        jobs_per_day="tickets_per_day",
        job_minutes=48.0,
        sla_minutes=30.0,
        sla_share=0.8,
        travel=False,
        utilisation=1.0,
    )
    am = RoleWorkload(
        "account_manager", households="subscribers", households_per_staff=500.0, travel=False
    )
    res = staffing(strip, Layout(labels=[0, 0, 1, 1], n_grids=2), roles=[tech, am])
    t = res.table.set_index(["grid", "role"])
    # grid 0: 20 tickets * 48 min = 960 min = 2 shifts of 480 min
    assert t.loc[(0, "technician"), "by_workload"] == 2
    assert t.loc[(0, "technician"), "by_response"] == servers_needed(20 / 480, 48.0, 30.0, 0.8)
    # grid 1: 2 tickets -> 96 min -> 1 person
    assert t.loc[(1, "technician"), "by_workload"] == 1
    # portfolio: 1200 subscribers / 500 -> 3 ; 100 -> 1
    assert t.loc[(0, "account_manager"), "staff"] == 3
    assert t.loc[(1, "account_manager"), "staff"] == 1
    assert res.counts[0, ROLE_TECHNICIAN] == t.loc[(0, "technician"), "staff"]
    assert (t["staff"] >= t[["by_workload", "by_response", "by_portfolio"]].max(axis=1)).all()


def test_staffing_travel_adds_minutes(strip):
    lay = Layout(labels=[0, 0, 1, 1], n_grids=2)
    spec = RoleWorkload("technician", jobs_per_day="tickets_per_day", job_minutes=45.0)
    without = staffing(strip, lay, roles=[spec], travel_minutes=[0.0, 0.0]).table
    with_ = staffing(strip, lay, roles=[spec], travel_minutes=[30.0, 30.0]).table
    # grid 0: 20 jobs * 45 = 900 min -> ceil(900/408) = 3; + 600 min travel -> ceil(1500/408) = 4
    assert without.loc[0, "by_workload"] == 3 and with_.loc[0, "by_workload"] == 4
    est = staffing(strip, lay, roles=[spec]).table
    # two units 1 km apart, equal weight: 0.5 km from the centroid * 1.36 at 20 km/h
    assert est.loc[0, "travel_minutes"] == pytest.approx(1.36 * 0.5 / 20 * 60)


def test_to_staff_places_people(strip):
    res = staffing(strip, Layout(labels=[0, 0, 1, 1], n_grids=2))
    st = res.to_staff()
    assert st.n_staff == int(res.counts.sum())
    assert np.array_equal(np.bincount(st.grid, minlength=2), res.counts.sum(axis=1))


def test_bad_inputs(strip):
    with pytest.raises(InputError, match="utilisation"):
        RoleWorkload("technician", utilisation=1.5)
    with pytest.raises(InputError, match="role"):
        RoleWorkload("plumber")
    with pytest.raises(InputError, match="households"):
        RoleWorkload("account_manager", households="subscribers")
    with pytest.raises(InputError, match="unknown attribute"):
        staffing(strip, [0, 0, 1, 1], roles=[RoleWorkload("technician", jobs_per_day="nope")])
    with pytest.raises(InputError, match="layout"):
        staffing(strip, [0, 1])
    with pytest.raises(InputError, match="speed_kmh"):
        staffing(strip, [0, 0, 1, 1], speed_kmh=0)
    with pytest.raises(InputError, match="travel_minutes"):
        staffing(strip, [0, 0, 1, 1], travel_minutes=[-1.0, 0.0])
    with pytest.raises(InputError, match="one spec per role"):
        staffing(strip, [0, 0, 1, 1], roles=[RoleWorkload("technician")] * 2)
