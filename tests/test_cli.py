"""The gridopt command: help, version, generate-city, demo, errors."""

from __future__ import annotations

from typer.testing import CliRunner

from gridopt.cli import app

runner = CliRunner()


def test_help_and_version():
    r = runner.invoke(app, ["--help"])
    assert r.exit_code == 0 and "generate-city" in r.output
    r = runner.invoke(app, ["--version"])
    assert r.exit_code == 0 and "gridopt 0.1.0" in r.output


def test_generate_city_writes_file(tmp_path):
    out = tmp_path / "city.parquet"
    r = runner.invoke(
        app,
        ["generate-city", "--households", "500", "--seed", "3", "--days", "0", "--out", str(out)],
    )
    assert r.exit_code == 0, r.output
    assert out.exists()


def test_generate_city_bad_input_exit_2_no_file(tmp_path):
    out = tmp_path / "city.gpkg"
    r = runner.invoke(app, ["generate-city", "--households", "5", "--out", str(out)])
    assert r.exit_code == 2
    assert "n_households: must be >= 100" in r.output
    assert "Traceback" not in r.output
    assert list(tmp_path.iterdir()) == []


def test_generate_city_unknown_format(tmp_path):
    r = runner.invoke(
        app,
        ["generate-city", "--households", "200", "--days", "0", "--out", str(tmp_path / "c.xlsx")],
    )
    assert r.exit_code == 2
    assert "unknown city format" in r.output
    assert list(tmp_path.iterdir()) == []


def test_demo_refuses_foreign_folder(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    r = runner.invoke(app, ["demo", "--out", str(tmp_path), "--households", "600"])
    assert r.exit_code == 2
    assert "use --force" in r.output
