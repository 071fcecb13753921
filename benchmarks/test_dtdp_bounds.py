"""The DTDP infeasibility proof on hand-made graphs (no ../shared needed)."""

from __future__ import annotations

import networkx as nx
from dtdp_bounds import prove


def _write(tmp_path, g: nx.Graph, name: str):
    for a, b in g.edges():
        g.edges[a, b]["distance"] = 1
    path = tmp_path / f"{name}.graphml"
    nx.write_graphml(g, path)
    return path


def _grid_with_tail(tail_workload: int):
    """A 3 x 4 lattice of unit-weight nodes plus an 8-node tail hanging on one bridge.

    Two territories: each needs 10 customers and 10 demand (+/-5 % leaves exactly 10 with
    integers). The tail's nodes have one customer, one demand and ``tail_workload``.
    """
    g = nx.convert_node_labels_to_integers(nx.grid_2d_graph(3, 4))
    for n in g:
        g.nodes[n].update(n_customers=1, demand=1, workload=1)
    tail = list(range(12, 20))
    nx.add_path(g, [11, *tail])
    for n in tail:
        g.nodes[n].update(n_customers=1, demand=1, workload=tail_workload)
    return nx.relabel_nodes(g, str)


def test_balanced_tail_is_not_proven_infeasible(tmp_path):
    # 20 units of 1: the tail plus two lattice units is a territory of 10.
    proven, details = prove(_write(tmp_path, _grid_with_tail(1), "ok"), p=2)
    assert not proven
    assert details["cpsat"] in ("OPTIMAL", "FEASIBLE")


def test_heavy_tail_is_proven_infeasible(tmp_path):
    # Workload: lattice 12 + tail 16 = 28, mean 14, bound 14.7. The tail's territory
    # needs two more customers, so at least 16 + 2 = 18 workload: no layout exists.
    proven, details = prove(_write(tmp_path, _grid_with_tail(2), "bad"), p=2)
    assert proven
    assert details["cpsat"] == "INFEASIBLE"
    assert details["bridge"].split("-")[0] in {str(n) for n in range(12, 20)}


def _lattice_with_petals(a: int, b: int):
    """A 3 x 3 lattice of unit nodes; two cycles of ``a`` and ``b`` nodes hang on corner 8.

    No edge is a bridge, so only the cut-vertex argument can prove anything.
    """
    g = nx.convert_node_labels_to_integers(nx.grid_2d_graph(3, 3))
    nxt = 9
    for size in (a, b):
        petal = list(range(nxt, nxt + size))
        nx.add_path(g, [8, *petal, 8])
        nxt += size
    for n in g:
        g.nodes[n].update(n_customers=1, demand=1, workload=1)
    return nx.relabel_nodes(g, str)


def test_petals_too_heavy_together_are_proven_infeasible(tmp_path):
    # 20 units, two territories of exactly 10: both petals (3 and 8) are too light for a
    # territory, so they and node 8 share one territory of at least 12 units
    proven, details = prove(_write(tmp_path, _lattice_with_petals(3, 8), "petals"), p=2)
    assert proven
    assert details["bridge"] == "cut vertex 8"


def test_petals_that_fit_are_not_proven_infeasible(tmp_path):
    # 16 units, territories of 8: node 8 with petals of 2 and 5 is a territory already
    proven, _ = prove(_write(tmp_path, _lattice_with_petals(2, 5), "fit"), p=2)
    assert not proven
