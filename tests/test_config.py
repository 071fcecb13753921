"""Scenario files: parsing, validation with key and line, round trip, the example."""

from __future__ import annotations

import pytest

from gridopt.config import EXAMPLE, load_scenario, parse_scenario, scenario_to_toml
from gridopt.errors import InputError


def test_example_parses_and_round_trips():
    cfg = parse_scenario(EXAMPLE)
    assert cfg.grids.count == 25
    assert cfg.grids.balance == {"households": 0.10, "tickets_per_day": 0.15}
    assert cfg.grids.weight_compactness == 0.3
    assert parse_scenario(scenario_to_toml(cfg)) == cfg


def test_unknown_key_suggests_closest_with_line():
    with pytest.raises(
        InputError,
        match=r"simulation.replicatons: unknown key \(line 3\); did you mean 'replications'\?",
    ):
        parse_scenario("[simulation]\ndays = 10\nreplicatons = 5\n")


def test_unknown_section():
    with pytest.raises(
        InputError, match="campain: unknown section or key; did you mean 'campaign'"
    ):
        parse_scenario("[campain]\n")


def test_wrong_type_names_key_and_line():
    with pytest.raises(
        InputError, match=r"grids.time_limit: must be a number, got 'fast' \(line 3\)"
    ):
        parse_scenario("[grids]\ncount = 4\ntime_limit = 'fast'\n")


def test_out_of_range_values():
    with pytest.raises(InputError, match="campaign.door_accept: is a probability"):
        parse_scenario("[campaign]\ndoor_accept = 1.5\n")
    with pytest.raises(
        InputError, match="simulation.warmup_days: must be >= 0 and shorter than the horizon"
    ):
        parse_scenario("[simulation]\ndays = 5\nwarmup_days = 5\n")
    with pytest.raises(InputError, match="grids.count: set count, or target_value"):
        parse_scenario("[grids]\ncount = 0\n")
    with pytest.raises(InputError, match=r"grids.polish: must be in \[0, 1\)"):
        parse_scenario("[grids]\ncount = 4\npolish = 1.0\n")
    assert parse_scenario("[grids]\ncount = 4\npolish = 0.4\n").grids.polish == 0.4
    with pytest.raises(InputError, match="grids.workers: must be >= 1"):
        parse_scenario("[grids]\ncount = 4\nworkers = 0\n")
    assert parse_scenario("[grids]\ncount = 4\nworkers = 2\n").grids.workers == 2


def test_target_table_and_weights():
    cfg = parse_scenario(
        '[grids]\ncount = 0\ntarget = { attribute = "households", value = 800 }\nweights = { travel = 2.0 }\n'
    )
    assert (cfg.grids.target_attribute, cfg.grids.target_value, cfg.grids.weight_travel) == (
        "households",
        800.0,
        2.0,
    )


def test_bad_toml_syntax():
    with pytest.raises(InputError, match="scenario: not valid TOML"):
        parse_scenario("[grids\ncount = 3")


def test_missing_input_file(tmp_path):
    p = tmp_path / "s.toml"
    p.write_text('[inputs]\ncity = "nowhere.gpkg"\n')
    cfg = load_scenario(p)
    with pytest.raises(InputError, match="inputs.city: file not found"):
        cfg.path("city")


def test_replace_dotted_keys_revalidate():
    cfg = parse_scenario("[grids]\ncount = 4\n")
    assert cfg.replace(**{"grids.count": 9}).grids.count == 9
    with pytest.raises(InputError, match="grids.count"):
        cfg.replace(**{"grids.count": -1})
