"""Validation of the data model: every bad input names the field and the rows."""

from __future__ import annotations

import numpy as np
import pytest

from gridopt.errors import InputError
from gridopt.model import Layout, Scenario, Staff, Tickets, Units


def line_units(n: int = 4) -> Units:
    return Units.from_edges(
        ids=np.arange(n) + 100,
        x=np.arange(n) * 100.0,
        y=np.zeros(n),
        attributes={"households": np.arange(1, n + 1), "revenue": np.full(n, 10.0)},
        edges=[(k, k + 1) for k in range(n - 1)],
    )


def staff(**over):
    cols = dict(
        ids=[1, 2],
        role=[0, 1],
        x=[0.0, 1.0],
        y=[0.0, 1.0],
        shift_start=[480.0, 480.0],
        shift_end=[1020.0, 1020.0],
        skills=[1, 3],
        capacity=[480.0, 480.0],
    )
    cols.update(over)
    return Staff(**cols)


def tickets(**over):
    cols = dict(
        ids=[1, 2, 3],
        time=[0.0, 10.0, 20.0],
        x=[0.0, 1.0, 2.0],
        y=[0.0, 1.0, 2.0],
        unit=[0, 1, 2],
        type=[0, 0, 1],
        priority=[2, 2, 3],
        skill=[1, 1, 4],
        duration=[30.0, 40.0, 80.0],
    )
    cols.update(over)
    return Tickets(**cols)


def test_units_csr_is_symmetric_and_sorted():
    u = line_units(4)
    assert u.indptr.tolist() == [0, 1, 3, 5, 6]
    assert u.indices.tolist() == [1, 0, 2, 1, 3, 2]
    assert u.edge_length.tolist() == [100.0] * 6
    assert u.n_edges == 3
    assert u.n_components() == 1
    i, j, length = u.edges()
    assert list(zip(i.tolist(), j.tolist(), strict=True)) == [(0, 1), (1, 2), (2, 3)]


def test_units_arrays_are_read_only():
    u = line_units()
    with pytest.raises(ValueError):
        u.x[0] = 5.0


def test_units_duplicate_ids():
    with pytest.raises(InputError, match=r"ids: duplicate ids \(row 2\)"):
        Units.from_edges([1, 2, 1], [0, 1, 2], [0, 0, 0], {"h": [1, 1, 1]}, [(0, 1)])


def test_units_nan_coordinates():
    with pytest.raises(InputError, match=r"y: must be finite .*row 1"):
        Units.from_edges([1, 2], [0, 1], [0, np.nan], {"h": [1, 1]}, [(0, 1)])


def test_units_negative_attribute():
    with pytest.raises(InputError, match=r"attributes: must be >= 0 \(row 1\)"):
        Units.from_edges([1, 2], [0, 1], [0, 0], {"h": [1, -3]}, [(0, 1)])


def test_units_empty():
    with pytest.raises(InputError, match="units: is empty"):
        Units.from_edges([], [], [], {"h": []}, [])


def test_units_asymmetric_adjacency():
    with pytest.raises(InputError, match="symmetric"):
        Units(
            ids=[1, 2],
            x=[0.0, 1.0],
            y=[0.0, 0.0],
            attributes=[[1.0], [1.0]],
            attribute_names=("h",),
            indptr=[0, 1, 1],
            indices=[1],
            edge_length=[1.0],
        )


def test_units_edges_out_of_range():
    with pytest.raises(InputError, match="edges: refer to units outside 0..1"):
        Units.from_edges([1, 2], [0, 1], [0, 0], {"h": [1, 1]}, [(0, 5)])


def test_unknown_attribute_lists_known_ones():
    with pytest.raises(InputError, match="unknown attribute 'tickets'; known: households, revenue"):
        line_units().attribute("tickets")


def test_staff_shift_end_before_start():
    with pytest.raises(InputError, match=r"shift_end: must be after shift_start \(row 1\)"):
        staff(shift_end=[1020.0, 400.0])


def test_staff_bad_role_and_capacity():
    with pytest.raises(InputError, match="role: must be <= 2"):
        staff(role=[0, 7])
    with pytest.raises(InputError, match=r"capacity: must be > 0 \(row 0\)"):
        staff(capacity=[0.0, 1.0])


def test_staff_of_role_and_select():
    assert staff().of_role("technician").tolist() == [1]
    sub = staff(grid=[3, 4]).select([1])
    assert sub.ids.tolist() == [2] and sub.grid.tolist() == [4]


def test_ticket_unknown_unit():
    t = tickets(unit=[0, 1, 9])
    with pytest.raises(
        InputError, match=r"unit: points to an unknown unit \(there are 4\) \(row 2\)"
    ):
        Scenario(units=line_units(4), staff=staff(), tickets=t)


def test_ticket_negative_duration():
    with pytest.raises(InputError, match=r"duration: must be > 0 minutes \(row 1\)"):
        tickets(duration=[30.0, -1.0, 5.0])


def test_ticket_non_integer_type():
    with pytest.raises(InputError, match="type: must be whole numbers"):
        tickets(type=[0, 0.5, 1])


def test_ticket_select():
    t = tickets().select(np.array([True, False, True]))
    assert t.ids.tolist() == [1, 3]


def test_layout_checks():
    lay = Layout(labels=[0, 1, 1, 0], n_grids=2, bases=[0, 2])
    assert lay.sizes().tolist() == [2, 2]
    assert lay.totals(line_units(4))[:, 0].tolist() == [5.0, 5.0]
    with pytest.raises(
        InputError, match=r"labels: every grid needs at least one unit; empty grids \(row 2\)"
    ):
        Layout(labels=[0, 1, 1], n_grids=3)
    with pytest.raises(InputError, match="base must be one of its own units"):
        Layout(labels=[0, 1, 1, 0], n_grids=2, bases=[1, 2])


def test_scenario_layout_size_mismatch():
    with pytest.raises(InputError, match="layout.labels: has 2 entries for 4 units"):
        Scenario(units=line_units(4), staff=staff(), layout=Layout(labels=[0, 0], n_grids=1))


def test_replace_revalidates():
    u = line_units()
    with pytest.raises(InputError, match="x: must have 4 rows"):
        u.replace(x=np.zeros(3))
