"""Scenario files (TOML) <-> validated dataclasses.

A scenario file names the input files and every setting of a planning run. Loading it
checks every key: an unknown key is refused with the closest known one suggested, a
wrong type or an out-of-range value is refused naming the key and its line.
``gridopt init`` writes :data:`EXAMPLE`, a commented example.

Examples
--------
>>> cfg = parse_scenario('''
... [grids]
... count = 12
... balance = { households = 0.1 }
... ''')
>>> cfg.grids.count, cfg.grids.balance
(12, {'households': 0.1})
>>> parse_scenario("[grids]\\ncuont = 3\\n")
Traceback (most recent call last):
...
gridopt.errors.InputError: grids.cuont: unknown key (line 2); did you mean 'count'?
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gridopt.errors import InputError

__all__ = [
    "ScenarioConfig",
    "InputsConfig",
    "UnitsConfig",
    "GridsConfig",
    "StaffingConfig",
    "OwnershipConfig",
    "DispatchConfig",
    "SimulationConfig",
    "CampaignConfig",
    "OutputsConfig",
    "load_scenario",
    "parse_scenario",
    "scenario_to_toml",
    "EXAMPLE",
]


def _check(cond: bool, key: str, msg: str) -> None:
    if not cond:
        raise InputError(key, msg)


@dataclass(frozen=True)
class InputsConfig:
    """Input files, relative to the scenario file.

    ``city`` is a GeoPackage written by ``gridopt generate-city`` (all layers at once);
    otherwise ``households`` (CSV/GeoPackage/GeoParquet) and optionally the others.
    """

    city: str = ""
    households: str = ""
    staff: str = ""
    stations: str = ""
    barriers: str = ""
    tickets: str = ""
    current_layout: str = ""
    crs: str = ""


@dataclass(frozen=True)
class UnitsConfig:
    """How households become units."""

    by: str = "building"
    cell_size: float = 150.0
    lattice: str = "square"

    def __post_init__(self) -> None:
        _check(
            self.by in ("building", "compound", "lattice"),
            "units.by",
            f"must be building, compound or lattice, got {self.by!r}",
        )
        _check(
            self.lattice in ("square", "hex"),
            "units.lattice",
            f"must be square or hex, got {self.lattice!r}",
        )
        _check(self.cell_size > 0, "units.cell_size", f"must be > 0 metres, got {self.cell_size}")


@dataclass(frozen=True)
class GridsConfig:
    """How many grids and what a good layout is."""

    count: int = 0
    target_attribute: str = "households"
    target_value: float = 0.0
    balance: dict[str, float] = field(
        default_factory=lambda: {"households": 0.10, "tickets_per_day": 0.15}
    )
    compactness: str = "inertia"
    weight_balance: float = 1.0
    weight_compactness: float = 0.3
    weight_travel: float = 0.0
    weight_border: float = 0.0
    weight_stability: float = 0.0
    contiguity: bool = True
    anchor_to_stations: bool = False
    time_limit: float = 20.0
    max_iterations: int = 0
    restarts: int = 2
    polish: float = 0.0
    workers: int = 1

    def __post_init__(self) -> None:
        _check(self.max_iterations >= 0, "grids.max_iterations", "must be >= 0 (0: no limit)")
        _check(
            self.count >= 0, "grids.count", f"must be >= 0 (0: from target_value), got {self.count}"
        )
        _check(
            self.count > 0 or self.target_value > 0,
            "grids.count",
            "set count, or target_value for a workload per grid",
        )
        for k, tau in self.balance.items():
            _check(
                0 < float(tau) < 1, f"grids.balance.{k}", f"tolerance must be in (0, 1), got {tau}"
            )
        _check(
            self.compactness in ("inertia", "diameter", "radius", "none"),
            "grids.compactness",
            f"must be inertia, diameter, radius or none, got {self.compactness!r}",
        )
        for name in (
            "weight_balance",
            "weight_compactness",
            "weight_travel",
            "weight_border",
            "weight_stability",
        ):
            _check(getattr(self, name) >= 0, f"grids.{name}", "must be >= 0")
        _check(self.time_limit > 0, "grids.time_limit", "must be > 0 seconds")
        _check(self.restarts >= 1, "grids.restarts", "must be >= 1")
        _check(0 <= self.polish < 1, "grids.polish", f"must be in [0, 1), got {self.polish}")
        _check(self.workers >= 1, "grids.workers", f"must be >= 1, got {self.workers}")


@dataclass(frozen=True)
class StaffingConfig:
    """How many people each grid needs."""

    shift_minutes: float = 480.0
    target_utilisation: float = 0.75
    sla_minutes: float = 240.0
    sla_share: float = 0.8
    households_per_account_manager: float = 900.0
    sales_visits_per_installer_day: float = 6.0
    technicians_per_grid: int = 0

    def __post_init__(self) -> None:
        _check(self.shift_minutes > 0, "staffing.shift_minutes", "must be > 0")
        _check(0 < self.target_utilisation <= 1, "staffing.target_utilisation", "must be in (0, 1]")
        _check(self.sla_minutes > 0, "staffing.sla_minutes", "must be > 0")
        _check(0 < self.sla_share < 1, "staffing.sla_share", "must be in (0, 1)")
        _check(
            self.households_per_account_manager > 0,
            "staffing.households_per_account_manager",
            "must be > 0",
        )
        _check(
            self.technicians_per_grid >= 0,
            "staffing.technicians_per_grid",
            "must be >= 0 (0: from the workload)",
        )


@dataclass(frozen=True)
class OwnershipConfig:
    """Who owns which household."""

    min_share: float = 0.7
    max_share: float = 1.3
    allow_adjacent: bool = False
    max_changes: int = -1
    time_limit: float = 30.0

    def __post_init__(self) -> None:
        _check(0 <= self.min_share <= 1, "ownership.min_share", "must be in [0, 1]")
        _check(self.max_share >= 1, "ownership.max_share", "must be >= 1")
        _check(self.time_limit > 0, "ownership.time_limit", "must be > 0 seconds")


@dataclass(frozen=True)
class DispatchConfig:
    """Sample dispatch days."""

    days: list[int] = field(default_factory=lambda: [0])
    policy: str = "grid_first"
    time_limit: float = 10.0

    def __post_init__(self) -> None:
        _check(
            self.policy in ("grid_first", "central"),
            "dispatch.policy",
            f"must be grid_first or central, got {self.policy!r}",
        )
        _check(all(int(d) >= 0 for d in self.days), "dispatch.days", "must be day numbers >= 0")
        _check(self.time_limit > 0, "dispatch.time_limit", "must be > 0 seconds")


@dataclass(frozen=True)
class SimulationConfig:
    """The simulation of the grid model against today's central model."""

    days: int = 28
    warmup_days: int = 7
    replications: int = 20
    policy: str = "grid"
    baseline: str = "central"
    desk_delay_minutes: float = 45.0
    help_threshold: int = 3
    sla_minutes: float = 240.0

    def __post_init__(self) -> None:
        _check(self.days >= 1, "simulation.days", "must be >= 1")
        _check(
            0 <= self.warmup_days < self.days,
            "simulation.warmup_days",
            f"must be >= 0 and shorter than the horizon ({self.days} days)",
        )
        _check(self.replications >= 1, "simulation.replications", "must be >= 1")
        for k in ("policy", "baseline"):
            v = getattr(self, k)
            _check(
                v in ("grid", "central", "hybrid"),
                f"simulation.{k}",
                f"must be grid, central or hybrid, got {v!r}",
            )
        _check(self.desk_delay_minutes >= 0, "simulation.desk_delay_minutes", "must be >= 0")


@dataclass(frozen=True)
class CampaignConfig:
    """Marketing waves: SMS/push, outbound calls, door visits."""

    enabled: bool = True
    target_segment: str = "prepaid_low"
    share_targeted: float = 0.5
    holdout_share: float = 0.1
    sms_response: float = 0.02
    call_agents: int = 10
    call_contact: float = 0.45
    call_accept: float = 0.08
    second_call: bool = True
    door_visit_share: float = 0.3
    door_accept: float = 0.12

    def __post_init__(self) -> None:
        for k in (
            "share_targeted",
            "holdout_share",
            "sms_response",
            "call_contact",
            "call_accept",
            "door_visit_share",
            "door_accept",
        ):
            v = getattr(self, k)
            _check(0 <= v <= 1, f"campaign.{k}", f"is a probability and must be in [0, 1], got {v}")
        _check(self.call_agents >= 0, "campaign.call_agents", "must be >= 0")


@dataclass(frozen=True)
class OutputsConfig:
    """What to write."""

    maps: bool = True
    interactive_map: bool = False
    report: bool = True


@dataclass(frozen=True)
class ScenarioConfig:
    """A whole scenario file; ``base_dir`` is the folder input paths are relative to."""

    name: str = "scenario"
    seed: int = 0
    inputs: InputsConfig = field(default_factory=InputsConfig)
    units: UnitsConfig = field(default_factory=UnitsConfig)
    grids: GridsConfig = field(default_factory=lambda: GridsConfig(count=20))
    staffing: StaffingConfig = field(default_factory=StaffingConfig)
    ownership: OwnershipConfig = field(default_factory=OwnershipConfig)
    dispatch: DispatchConfig = field(default_factory=DispatchConfig)
    simulation: SimulationConfig = field(default_factory=SimulationConfig)
    campaign: CampaignConfig = field(default_factory=CampaignConfig)
    outputs: OutputsConfig = field(default_factory=OutputsConfig)
    base_dir: str = "."

    def path(self, name: str) -> Path | None:
        """Absolute path of input ``name`` (None when not set); raises if missing."""
        value = getattr(self.inputs, name)
        if not value:
            return None
        p = Path(value)
        if not p.is_absolute():
            p = Path(self.base_dir) / p
        if not p.exists():
            raise InputError(f"inputs.{name}", f"file not found: {p}")
        return p

    def replace(self, **changes: Any) -> ScenarioConfig:
        """A copy with ``changes``; dotted keys such as ``grids.count`` reach into sections."""
        top: dict[str, Any] = {}
        for key, value in changes.items():
            if "." in key:
                section, sub = key.split(".", 1)
                current = top.get(section, getattr(self, section))
                top[section] = _build(
                    type(current), {**_asdict(current), sub: value}, section, None
                )
            else:
                top[key] = value
        return dataclasses.replace(self, **top)


_SECTIONS = {
    "inputs": InputsConfig,
    "units": UnitsConfig,
    "grids": GridsConfig,
    "staffing": StaffingConfig,
    "ownership": OwnershipConfig,
    "dispatch": DispatchConfig,
    "simulation": SimulationConfig,
    "campaign": CampaignConfig,
    "outputs": OutputsConfig,
}
_TOP_KEYS = ("name", "seed")


def _asdict(obj: Any) -> dict[str, Any]:
    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}


def _line_of(text: str | None, section: str | None, key: str) -> int | None:
    """Line number (1-based) of ``key`` inside ``[section]`` (or at the top)."""
    if not text:
        return None
    current = None
    for no, line in enumerate(text.splitlines(), start=1):
        s = line.strip()
        m = re.match(r"^\[([^\]]+)\]$", s)
        if m:
            current = m.group(1).strip()
            continue
        if current == section and re.match(rf"^{re.escape(key)}\s*=", s):
            return no
    return None


def _where(text: str | None, section: str | None, key: str) -> str:
    line = _line_of(text, section, key)
    return f" (line {line})" if line else ""


def _coerce(tp: Any, value: Any, key: str, where: str) -> Any:
    origin = typing.get_origin(tp)
    if tp is bool:
        if not isinstance(value, bool):
            raise InputError(key, f"must be true or false, got {value!r}{where}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InputError(key, f"must be a whole number, got {value!r}{where}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InputError(key, f"must be a number, got {value!r}{where}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise InputError(key, f"must be a string, got {value!r}{where}")
        return value
    if origin is list:
        (inner,) = typing.get_args(tp)
        if not isinstance(value, list):
            raise InputError(key, f"must be a list, got {value!r}{where}")
        return [_coerce(inner, v, key, where) for v in value]
    if origin is dict:
        _, inner = typing.get_args(tp)
        if not isinstance(value, dict):
            raise InputError(key, f"must be a table like {{ name = value }}, got {value!r}{where}")
        return {str(k): _coerce(inner, v, f"{key}.{k}", where) for k, v in value.items()}
    if origin in (typing.Union, types.UnionType):
        return value
    return value


def _build(cls: type, data: dict[str, Any], section: str, text: str | None) -> Any:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        full = f"{section}.{key}"
        if key not in names:
            close = difflib.get_close_matches(key, names, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(names)}"
            raise InputError(full, f"unknown key{_where(text, section, key)}{hint}")
        kwargs[key] = _coerce(hints[key], value, full, _where(text, section, key))
    try:
        return cls(**kwargs)
    except InputError as exc:
        key = exc.field.split(".", 1)[1] if "." in exc.field else exc.field
        raise InputError(
            exc.field, exc.message + _where(text, section, key.split(".")[0])
        ) from None


def _from_dict(data: dict[str, Any], text: str | None, base_dir: str) -> ScenarioConfig:
    allowed = list(_SECTIONS) + list(_TOP_KEYS)
    for key in data:
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(allowed)}"
            raise InputError(key, f"unknown section or key{hint}")
    kwargs: dict[str, Any] = {"base_dir": base_dir}
    for key in _TOP_KEYS:
        if key in data:
            kwargs[key] = _coerce(
                typing.get_type_hints(ScenarioConfig)[key], data[key], key, _where(text, None, key)
            )
    for name, cls in _SECTIONS.items():
        if name in data:
            if not isinstance(data[name], dict):
                raise InputError(name, "must be a [table]")
            section = dict(data[name])
            if name == "grids" and "target" in section:
                target = section.pop("target")
                if not isinstance(target, dict) or set(target) - {"attribute", "value"}:
                    raise InputError(
                        "grids.target", 'must be { attribute = "households", value = 800 }'
                    )
                section.setdefault("target_attribute", target.get("attribute", "households"))
                section.setdefault("target_value", target.get("value", 0.0))
            if name == "grids" and "weights" in section:
                weights = section.pop("weights")
                if not isinstance(weights, dict):
                    raise InputError("grids.weights", "must be a table of weights")
                for wk, wv in weights.items():
                    section[f"weight_{wk}"] = wv
            kwargs[name] = _build(cls, section, name, text)
    return ScenarioConfig(**kwargs)


def parse_scenario(text: str, base_dir: str | os.PathLike[str] = ".") -> ScenarioConfig:
    """Parse scenario TOML text.

    Raises
    ------
    InputError
        TOML syntax errors (with the line), unknown keys (with a suggestion), wrong types
        and out-of-range values (naming the key and line).
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError("scenario", f"not valid TOML: {exc}") from None
    return _from_dict(data, text, str(base_dir))


def load_scenario(path: str | os.PathLike[str]) -> ScenarioConfig:
    """Read and validate a scenario file; input paths are relative to its folder."""
    p = Path(path)
    if not p.exists():
        raise InputError("scenario", f"file not found: {p}")
    return parse_scenario(p.read_text(encoding="utf-8"), base_dir=p.resolve().parent)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(type(v))


def scenario_to_toml(cfg: ScenarioConfig) -> str:
    """Write a scenario back as TOML (round-trips through :func:`parse_scenario`).

    Examples
    --------
    >>> cfg = parse_scenario("[grids]\\ncount = 7\\n")
    >>> parse_scenario(scenario_to_toml(cfg)) == cfg
    True
    """
    lines = [f"name = {_toml_value(cfg.name)}", f"seed = {cfg.seed}", ""]
    for name in _SECTIONS:
        lines.append(f"[{name}]")
        for k, v in _asdict(getattr(cfg, name)).items():
            lines.append(f"{k} = {_toml_value(v)}")
        lines.append("")
    return "\n".join(lines)


EXAMPLE = """\
# gridopt scenario: everything a planning run needs.
# Paths are relative to this file. Run with:  gridopt plan scenario.toml --out plan/

name = "sample city"
seed = 7                      # same seed, same plan

[inputs]
city = "sample-city.gpkg"     # a city written by `gridopt generate-city` (all layers), or:
# households = "households.csv"   # CSV (lon/lat, or x/y with crs), GeoPackage or GeoParquet
# crs = "EPSG:4326"               # CRS of x/y columns in CSV files
# current_layout = "current.csv"  # columns unit_id, grid: today's layout, for stability

[units]
by = "building"               # building | compound | lattice
# cell_size = 150.0           # metres, for by = "lattice"
# lattice = "square"          # square | hex

[grids]
count = 25                    # number of grids; or set 0 and a workload per grid:
# target = { attribute = "households", value = 800 }
balance = { households = 0.10, tickets_per_day = 0.15 }   # attribute = tolerance (+/- share of the mean)
compactness = "inertia"       # inertia (moment of inertia) | diameter | none
weights = { balance = 1.0, compactness = 0.3, travel = 0.0, border = 0.0, stability = 0.0 }
contiguity = true
anchor_to_stations = false
time_limit = 20.0             # seconds for the optimiser
# max_iterations = 200000     # stop after this many moves instead (reproducible on any machine)
restarts = 2
# polish = 0.4                # share of time_limit kept to continue the best restart
# workers = 2                 # search threads (restarts dealt out among them)

[staffing]
shift_minutes = 480.0
target_utilisation = 0.75
sla_minutes = 240.0           # repair response target (arrival to on site)
sla_share = 0.8               # share of tickets that must meet it (Erlang C sizing)
households_per_account_manager = 900.0
technicians_per_grid = 0      # 0: from the workload; N: a team of N technicians in every grid

[ownership]
min_share = 0.7               # each owner carries 70 % .. 130 % of the mean load
max_share = 1.3
allow_adjacent = false        # owners may take households of a neighbouring grid
max_changes = -1              # cap on reassignments against the current owners (-1: none)
time_limit = 30.0

[dispatch]
days = [0]                    # sample days to route (day numbers of the ticket year)
policy = "grid_first"         # grid_first | central
time_limit = 10.0

[simulation]
days = 28
warmup_days = 7
replications = 20
policy = "grid"               # grid | central | hybrid
baseline = "central"          # today's model, on the same random demand
desk_delay_minutes = 45.0     # central dispatch desk delay
help_threshold = 3            # queue length above which neighbouring grids help
sla_minutes = 240.0

[campaign]
enabled = true
target_segment = "prepaid_low"
share_targeted = 0.5
holdout_share = 0.1           # random hold-out group for incremental lift
sms_response = 0.02
call_agents = 10
call_contact = 0.45
call_accept = 0.08
second_call = true            # same-day second call to hesitant customers
door_visit_share = 0.3
door_accept = 0.12

[outputs]
maps = true
interactive_map = false
report = true
"""
