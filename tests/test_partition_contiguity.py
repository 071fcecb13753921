"""Tests of gridopt.partition.contiguity and the contiguity kernels."""

from __future__ import annotations

import numpy as np
import pytest

from gridopt.errors import InputError
from gridopt.model import Units
from gridopt.partition.contiguity import (
    attach_islands,
    grid_components,
    is_contiguous,
    repair_contiguity,
    unit_components,
)
from gridopt.score import _kernels as K


@pytest.fixture
def path6() -> Units:
    return Units.from_edges(
        ids=range(6), x=np.arange(6.0) * 10, y=np.zeros(6),
        attributes={"households": [1, 1, 1, 1, 1, 5]}, edges=[(i, i + 1) for i in range(5)],
    )  # fmt: skip


def test_grid_components(path6: Units) -> None:
    assert grid_components(path6, [0, 0, 1, 1, 0, 0], 2).tolist() == [2, 1]
    assert not is_contiguous(path6, [0, 0, 1, 1, 0, 0], 2)
    assert is_contiguous(path6, [0, 0, 0, 1, 1, 1], 2)
    with pytest.raises(InputError, match="labels"):
        grid_components(path6, [0, 0, 0, 1, 1, 2], 2)


def test_repair_keeps_heaviest_piece(path6: Units) -> None:
    # grid 0 = {0, 1} and {4, 5}; unit 5 is heavy, so {4, 5} stays and {0, 1} joins grid 1
    lab = repair_contiguity(path6, [0, 0, 1, 1, 0, 0], 2, mass=path6.attribute("households"))
    assert lab.tolist() == [1, 1, 1, 1, 0, 0]


def test_repair_keeps_frozen_piece(path6: Units) -> None:
    frozen = np.zeros(6, dtype=bool)
    frozen[0] = True
    lab = repair_contiguity(path6, [0, 0, 1, 1, 0, 0], 2, frozen=frozen)
    assert lab.tolist() == [0, 0, 1, 1, 1, 1]


def test_can_remove_on_a_path(path6: Units) -> None:
    labels = np.zeros(6, dtype=np.int32)
    stamp = np.zeros(1, dtype=np.int64)
    mark = np.zeros(6, dtype=np.int64)
    queue = np.zeros(7, dtype=np.int64)
    args = (labels, path6.indptr, path6.indices, stamp, mark, queue, 100)
    assert K.can_remove(0, *args)  # an end of the path
    assert not K.can_remove(2, *args)  # a middle unit splits the path
    # a cycle: no unit is an articulation point
    ring = Units.from_edges(ids=range(4), x=[0.0, 1, 1, 0], y=[0.0, 0, 1, 1],
                            attributes={"h": [1] * 4}, edges=[(0, 1), (1, 2), (2, 3), (3, 0)])  # fmt: skip
    lab4 = np.zeros(4, dtype=np.int32)
    assert K.can_remove(1, lab4, ring.indptr, ring.indices, stamp, np.zeros(4, dtype=np.int64),
                        np.zeros(5, dtype=np.int64), 100)  # fmt: skip


def test_cut_pieces_collects_the_dangling_part(path6: Units) -> None:
    labels = np.zeros(6, dtype=np.int32)
    queue = np.zeros(7, dtype=np.int64)
    n = K.cut_pieces(1, labels, path6.indptr, path6.indices, np.zeros(1, dtype=np.int64),
                     np.zeros(6, dtype=np.int64), queue, 2)  # fmt: skip
    # removing unit 1 cuts off {0} (small) from {2..5} (larger than the limit)
    assert n == 1 and queue[0] == 0
    n = K.cut_pieces(2, labels, path6.indptr, path6.indices, np.zeros(1, dtype=np.int64),
                     np.zeros(6, dtype=np.int64), queue, 1)  # fmt: skip
    assert n == -1  # both sides larger than 1 unit


def test_islands(path6: Units) -> None:
    edges = [(0, 1), (1, 2), (3, 4), (4, 5)]
    u = Units.from_edges(ids=range(6), x=np.arange(6.0), y=np.zeros(6),
                         attributes={"households": np.ones(6)}, edges=edges)  # fmt: skip
    n_comp, comp = unit_components(u)
    assert n_comp == 2 and len(set(comp[:3])) == 1 and comp[0] != comp[3]
    with pytest.raises(InputError, match="disconnected"):
        attach_islands(u, refuse=True)
    joined, island = attach_islands(u)
    assert unit_components(joined)[0] == 1
    assert island.size == 3
    # the closest pair is (2, 3): 1 m apart
    assert 3 in joined.neighbours(2).tolist()
