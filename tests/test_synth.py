"""The synthetic city generator."""

from __future__ import annotations

import numpy as np
import pytest

from gridopt.errors import InputError
from gridopt.model import ROLES, SEGMENTS, TICKET_OUTAGE
from gridopt.synth import generate_city


@pytest.fixture(scope="module")
def city():
    return generate_city(5_000, seed=11, days=28)


def test_exact_household_count_and_compound_sizes(city):
    hh = city.households
    assert hh.n_households == 5_000
    sizes = np.bincount(hh.compound)
    sizes = sizes[sizes > 0]
    assert sizes.sum() == 5_000
    comp = city.compounds
    towns = comp["kind"] == 0
    assert comp["households"][towns].min() >= 50
    assert comp["households"][towns].max() <= 3_000
    # every building's households sit in that building's compound
    assert np.all(city.buildings["compound"][hh.building] == hh.compound)


def test_same_seed_same_city_other_seed_other_city(city):
    again = generate_city(5_000, seed=11, days=28)
    for name in ("x", "y", "arpu", "segment", "churn_risk"):
        assert getattr(again.households, name).tobytes() == getattr(city.households, name).tobytes()
    assert again.tickets.time.tobytes() == city.tickets.time.tobytes()
    other = generate_city(5_000, seed=12, days=28)
    assert other.households.x.tobytes() != city.households.x.tobytes()


def test_households_attributes_plausible(city):
    hh = city.households
    assert set(np.unique(hh.segment)) <= set(range(len(SEGMENTS)))
    assert 0.0 <= hh.churn_risk.min() and hh.churn_risk.max() <= 1.0
    assert hh.arpu.min() >= 0
    assert 0.8 < hh.subscribers.mean() < 1.0
    prepaid = hh.segment == SEGMENTS.index("prepaid_low")
    assert 0.1 < prepaid.mean() < 0.35
    assert hh.arpu[prepaid].mean() < hh.arpu[~prepaid].mean()


def test_river_is_crossed_only_on_bridges(city):
    s = city.streets
    # the river centre line y(x): recompute from the barrier parts and check no street
    # edge other than the bridges crosses any river part
    import shapely

    river = [p for b in city.barriers if b.kind == "river" for p in b.parts]
    assert len(river) >= 2  # at least one gap (bridge)
    lines = shapely.linestrings(
        np.stack(
            [
                np.column_stack([s.node_x[s.edge_u], s.node_y[s.edge_u]]),
                np.column_stack([s.node_x[s.edge_v], s.node_y[s.edge_v]]),
            ],
            axis=1,
        )
    )
    tree = shapely.STRtree([shapely.linestrings(p) for p in river])
    hits, _ = tree.query(lines, predicate="intersects")
    assert hits.size == 0


def test_staff_roster_and_stations(city):
    st = city.staff
    assert st.n_staff == 25
    assert set(np.unique(st.role)) == set(range(len(ROLES)))
    tech = st.of_role("technician")
    assert np.isin(st.x[tech], city.stations[:, 0]).all()
    assert city.stations.shape == (3, 2)


def test_tickets_follow_profiles(city):
    t = city.tickets
    assert np.all(np.diff(t.time) >= 0)
    assert t.time.max() < 28 * 1440
    hour = ((t.time % 1440) // 60)[t.type == 0]  # ordinary repairs
    night = np.isin(hour, [1, 2, 3, 4]).mean()
    evening = np.isin(hour, [18, 19, 20]).mean()
    assert evening > 5 * night
    assert np.isin(t.household, city.households.ids).all()


def test_bad_arguments():
    with pytest.raises(InputError, match="n_households: must be >= 100"):
        generate_city(10)
    with pytest.raises(InputError, match="days: must be >= 0"):
        generate_city(1_000, days=-1)


def test_outage_bursts_happen():
    t = generate_city(5_000, seed=11, days=365).tickets
    out = t.type == TICKET_OUTAGE
    assert out.sum() > 0
    assert (t.priority[out] == 0).all()
