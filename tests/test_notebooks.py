"""The planner notebooks: each one runs top to bottom in a fresh kernel, and is stored stripped.

Every notebook in ``notebooks/`` is executed with nbclient in a temporary working copy laid
out like the checkout (``<tmp>/repo/notebooks``, ``<tmp>/repo/data`` and ``<tmp>/shared``
linked to ``../shared`` when it exists), with the working directory set to the notebook's
folder as in Jupyter. A cell that raises fails the test; so does a notebook that runs past
its time budget (the remaining budget is each cell's timeout).
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
#: Seconds a whole notebook may take here (each runs in ~10-30 s; slack for a busy machine).
NOTEBOOK_BUDGET = 240.0


def run_notebook(path: Path, workdir: Path, budget: float = NOTEBOOK_BUDGET) -> tuple[dict, float]:
    """Execute the notebook at ``path`` in ``workdir`` within ``budget`` seconds.

    Returns the executed notebook and the seconds it took; raises
    ``nbclient.exceptions.CellExecutionError`` when a cell raises and
    ``nbclient.exceptions.CellTimeoutError`` when the budget runs out.
    """
    nb = nbformat.read(path, as_version=4)
    deadline = time.monotonic() + budget

    def remaining(cell: object) -> int:
        return max(1, int(deadline - time.monotonic()))

    client = nbclient.NotebookClient(
        nb,
        kernel_name="python3",
        resources={"metadata": {"path": str(workdir)}},
        timeout_func=remaining,
        allow_errors=False,
    )
    t0 = time.monotonic()
    client.execute(cwd=str(workdir))
    return nb, time.monotonic() - t0


def working_copy(tmp_path: Path) -> Path:
    """``<tmp>/repo`` with copies of notebooks/ and data/, and ``<tmp>/shared`` when present."""
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "notebooks", repo / "notebooks")
    shutil.copytree(ROOT / "data", repo / "data")
    shared = ROOT.parent / "shared"
    if shared.exists():
        (tmp_path / "shared").symlink_to(shared, target_is_directory=True)
    return repo


def test_there_are_notebooks():
    names = [p.name for p in NOTEBOOKS]
    assert names[:5] == [
        "01_quickstart.ipynb",
        "02_central_vs_grid.ipynb",
        "03_campaign_waves.ipynb",
        "04_replanning.ipynb",
        "05_real_data.ipynb",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_stripped(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    assert nb["cells"], "empty notebook"
    assert nb["cells"][0]["cell_type"] == "markdown", "a notebook opens with its question"
    for k, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [], f"cell {k} has outputs: strip them before committing"
            assert cell["execution_count"] is None, f"cell {k} has an execution count"
    text = path.read_text(encoding="utf-8")
    # no absolute path of the machine the notebook was written on
    root = str(Path(__file__).resolve().parents[2])
    assert len(root) <= 1 or root not in text, "machine path in a notebook"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, tmp_path):
    repo = working_copy(tmp_path)
    nb, seconds = run_notebook(repo / "notebooks" / path.name, repo / "notebooks")
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.execution_count is not None for c in code)
    errors = [o for c in code for o in c.outputs if o.get("output_type") == "error"]
    assert errors == []
    assert seconds < NOTEBOOK_BUDGET


def _tiny_notebook(path: Path, sources: list[str]) -> Path:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    nbformat.write(nb, path)
    return path


@pytest.mark.slow
def test_runner_fails_when_a_cell_raises_and_runs_in_the_notebook_folder(tmp_path):
    (tmp_path / "marker.txt").write_text("here", encoding="utf-8")
    path = _tiny_notebook(
        tmp_path / "bad.ipynb",
        [
            "from pathlib import Path",
            "assert Path('marker.txt').read_text() == 'here', 'not in the notebook folder'",
            "raise ValueError('grid 3 has no technician')",
            "y = 3",
        ],
    )
    # the third cell's error, so the first two ran (and found the marker in the cwd)
    with pytest.raises(nbclient.exceptions.CellExecutionError, match="grid 3 has no technician"):
        run_notebook(path, tmp_path)


@pytest.mark.slow
def test_runner_stops_a_notebook_past_its_budget(tmp_path):
    path = _tiny_notebook(tmp_path / "slow.ipynb", ["import time", "time.sleep(30)"])
    t0 = time.monotonic()
    with pytest.raises(nbclient.exceptions.CellTimeoutError):
        run_notebook(path, tmp_path, budget=8.0)
    assert time.monotonic() - t0 < 25.0


@pytest.mark.slow
def test_real_data_notebook_skips_cleanly_without_the_data(tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "notebooks", repo / "notebooks")
    shutil.copytree(ROOT / "data", repo / "data")  # no <tmp>/shared: the data are absent
    nb, _ = run_notebook(repo / "notebooks" / "05_real_data.ipynb", repo / "notebooks")
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "Helsinki extract: absent" in text
    assert "note: ../shared/realdata/boston311_2015 is absent" in text
    assert "units," not in text  # nothing was computed
