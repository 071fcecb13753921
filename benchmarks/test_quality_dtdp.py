"""The DTDP quality runner end to end on a hand-made instance (no ../shared needed)."""

from __future__ import annotations

import csv

import networkx as nx
import pytest
from quality import main


def _lattice(path, rows: int, cols: int) -> None:
    """A lattice of units with one customer, demand and workload each, unit distances."""
    g = nx.convert_node_labels_to_integers(nx.grid_2d_graph(rows, cols))
    for n in g:
        g.nodes[n].update(n_customers=1, demand=1, workload=1)
    for a, b in g.edges():
        g.edges[a, b]["distance"] = 1.0
    nx.write_graphml(nx.relabel_nodes(g, str), path)


def test_dtdp_runner_writes_a_checked_layout(tmp_path, capsys):
    data, out = tmp_path / "data", tmp_path / "out"
    data.mkdir()
    # 50 units into 10 territories of exactly 5 (+/-5 % of 5 admits only 5)
    _lattice(data / "lattice.graphml", 5, 10)
    (data / "reference.csv").write_text("instance,lns_t60_best\nlattice,4\n")
    args = ["dtdp", "--data", str(data), "--out", str(out), "--time-limit", "2"]
    assert main(args) == 0
    with (out / "summary.csv").open(newline="") as fh:
        (row,) = list(csv.DictReader(fh))
    assert row["instance"] == "lattice"
    assert row["feasible"] == "True"
    assert float(row["worst_deviation"]) == 0.0
    # the diameter is the longest shortest path inside a territory of 5 lattice units
    assert 2.0 <= float(row["max_diameter"]) <= 4.0
    assert float(row["ratio"]) == pytest.approx(float(row["max_diameter"]) / 4)
    with (out / "lattice.csv").open(newline="") as fh:
        layout = list(csv.DictReader(fh))
    assert sorted(int(r["unit"]) for r in layout) == list(range(50))
    sizes = [0] * 10
    for r in layout:
        sizes[int(r["grid"])] += 1
    assert sizes == [5] * 10
    assert "feasible 1/1" in capsys.readouterr().out


def test_dtdp_runner_refuses_an_empty_folder(tmp_path, capsys):
    (tmp_path / "data").mkdir()
    args = ["dtdp", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "out")]
    assert main(args) == 2
    assert "no *.graphml" in capsys.readouterr().err
    assert not (tmp_path / "out" / "summary.csv").exists()


def test_dtdp_runner_selects_by_globs_and_threads(tmp_path):
    data, out = tmp_path / "data", tmp_path / "out"
    data.mkdir()
    for name in ("alpha", "beta", "gamma"):
        _lattice(data / f"{name}.graphml", 5, 10)
    (data / "reference.csv").write_text("instance,lns_t60_best\nalpha,4\nbeta,4\ngamma,4\n")
    args = ["dtdp", "--data", str(data), "--out", str(out), "--time-limit", "1"]
    assert main([*args, "--only", "al*,gam*", "--workers", "2"]) == 0
    with (out / "summary.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["instance"] for r in rows] == ["alpha", "gamma"]
    assert all(r["feasible"] == "True" and r["workers"] == "2" for r in rows)
