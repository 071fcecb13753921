"""Scenario sweeps on local processes or a Dask cluster.

A sweep varies scenario keys (``grids=40,50,60``, ``technicians_per_grid=2,3,4``) and runs
every combination through the pipeline (partition -> staffing -> simulation of the chosen
policy and the baseline; ownership and dispatch are skipped). Each run is a pure function
of its scenario and the seed, and every run uses the same seed, so the variants share
random demand (common random numbers) and the table is identical whether it ran
serially, on local processes or on a Dask cluster.

Examples
--------
>>> parse_vary(["grids=4,6", "technicians_per_grid=2"])
{'grids.count': [4, 6], 'staffing.technicians_per_grid': [2]}
"""

from __future__ import annotations

import concurrent.futures as cf
import itertools
import logging
import multiprocessing
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gridopt.config import ScenarioConfig
from gridopt.errors import GridoptError, InputError

__all__ = ["sweep", "SweepResult", "parse_vary", "ALIASES", "sweep_chart"]

log = logging.getLogger("gridopt.sweep")

#: Short names for the keys planners vary most.
ALIASES: dict[str, str] = {
    "grids": "grids.count",
    "technicians_per_grid": "staffing.technicians_per_grid",
    "replications": "simulation.replications",
    "policy": "simulation.policy",
    "desk_delay": "simulation.desk_delay_minutes",
    "help_threshold": "simulation.help_threshold",
}

_KPIS = ("response_onsite_mean", "response_onsite_p90", "sla_share", "utilisation", "lift")


@dataclass(frozen=True, eq=False)
class SweepResult:
    """The table of a sweep: one row per variant.

    Attributes
    ----------
    table : DataFrame
        The varied keys, then for the chosen policy and the baseline each KPI's mean and
        95 % interval, the staff count and the partition status.
    executor : str
        ``"serial"``, ``"processes"`` or the Dask scheduler address.
    seconds : float
    """

    table: pd.DataFrame
    executor: str
    seconds: float
    stats: dict[str, Any] = field(default_factory=dict)


def parse_vary(items: Sequence[str]) -> dict[str, list[Any]]:
    """Parse ``KEY=V1,V2,...`` strings into ``{dotted key: [values]}``.

    Values become ints, then floats, then booleans, else stay strings.

    Raises
    ------
    InputError
        A malformed item or an empty value list.
    """
    out: dict[str, list[Any]] = {}
    for item in items:
        if "=" not in item:
            raise InputError("vary", f"must look like KEY=V1,V2 (got {item!r})")
        key, raw = item.split("=", 1)
        key = ALIASES.get(key.strip(), key.strip())
        values = [_value(v.strip()) for v in raw.split(",") if v.strip()]
        if not values:
            raise InputError("vary", f"{key}: no values")
        out[key] = values
    return out


def _value(text: str) -> Any:
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    return text


def _variants(config: ScenarioConfig, vary: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    keys = list(vary)
    combos = [
        dict(zip(keys, vals, strict=True)) for vals in itertools.product(*(vary[k] for k in keys))
    ]
    for combo in combos:  # validate every variant up front, before any work starts
        try:
            config.replace(**combo)
        except TypeError as exc:
            raise InputError("vary", f"unknown key in {sorted(combo)}: {exc}") from None
    return combos


def _run_one(
    config: ScenarioConfig, changes: dict[str, Any], households: int | None
) -> dict[str, Any]:
    """One variant: partition, staffing and simulation (a pure function of its inputs)."""
    from gridopt.plan import plan

    cfg = config.replace(**changes)
    result = plan(cfg, households=households, skip=("ownership", "dispatch"))
    row: dict[str, Any] = dict(changes)
    row["partition_status"] = result.partition.status
    row["staff"] = int(result.staff.n_staff)
    row["technicians"] = int(np.sum(result.staff.role == 1))
    s = cfg.simulation
    for policy in dict.fromkeys([s.policy, s.baseline]):
        res = result.sim.get(policy)
        if res is None:
            continue
        for k in _KPIS:
            if k in res.kpis:
                e = res.kpis[k]
                row[f"{policy}:{k}"] = float(e.mean)
                row[f"{policy}:{k}:low"] = float(e.low)
                row[f"{policy}:{k}:high"] = float(e.high)
    return row


def _client(scheduler: str, timeout: float) -> Any:
    try:
        from distributed import Client
    except ImportError:
        raise GridoptError(
            "a Dask scheduler needs the dask extra: pip install 'gridopt[dask]'"
        ) from None
    try:
        return Client(scheduler, timeout=f"{timeout}s", set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise GridoptError(
            f"cannot reach the Dask scheduler at {scheduler} within {timeout:.0f} s ({exc})"
        ) from None


def sweep(
    config: ScenarioConfig,
    vary: Mapping[str, Sequence[Any]],
    *,
    executor: str = "processes",
    n_workers: int | None = None,
    households: int | None = None,
    timeout: float = 10.0,
    client: Any | None = None,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> SweepResult:
    """Run every combination of ``vary`` and gather one table.

    Parameters
    ----------
    config : ScenarioConfig
    vary : mapping of dotted key to list of values
        See :func:`parse_vary` and :data:`ALIASES`.
    executor : str
        ``"serial"``, ``"processes"`` (local, the default) or a Dask scheduler address
        such as ``"tcp://host:8786"``.
    n_workers : int, optional
        Local processes (default: the CPU count).
    households : int, optional
        Run on a generated city of this size instead of the scenario's inputs.
    timeout : float
        Seconds to wait for a Dask scheduler before giving up with a clear error.
    client : distributed.Client, optional
        An existing Dask client (e.g. of a LocalCluster); overrides ``executor``.
    progress : callable, optional
        Called with ``{"done": k, "total": n}``.

    Returns
    -------
    SweepResult

    Raises
    ------
    InputError
        Unknown keys or invalid values in ``vary`` (checked before any run).
    GridoptError
        An unreachable Dask scheduler.
    """
    import time

    combos = _variants(config, vary)
    if not combos:
        raise InputError("vary", "nothing to vary")
    t0 = time.perf_counter()
    rows: list[dict[str, Any]] = [{} for _ in combos]

    def report(done: int) -> None:
        if progress:
            progress({"done": done, "total": len(combos)})

    if client is not None or executor.startswith(("tcp://", "tls://", "ucx://", "inproc://")):
        own = client is None
        c = client if client is not None else _client(executor, timeout)
        try:
            futures = [
                c.submit(_run_one, config, combo, households, pure=False) for combo in combos
            ]
            for k, fut in enumerate(futures):
                rows[k] = fut.result()
                report(k + 1)
            name = getattr(c.scheduler, "address", executor) if client is not None else executor
        finally:
            if own:
                c.close()
    elif executor == "serial":
        for k, combo in enumerate(combos):
            rows[k] = _run_one(config, combo, households)
            report(k + 1)
        name = "serial"
    elif executor == "processes":
        workers = n_workers or min(len(combos), os.cpu_count() or 1)
        ctx = multiprocessing.get_context("spawn")  # no forked Numba/OR-Tools state
        with cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            futs = {
                pool.submit(_run_one, config, combo, households): k
                for k, combo in enumerate(combos)
            }
            done = 0
            for fut in cf.as_completed(futs):
                rows[futs[fut]] = fut.result()
                done += 1
                report(done)
        name = "processes"
    else:
        raise InputError(
            "executor",
            f"must be serial, processes or a scheduler address like tcp://host:8786, got {executor!r}",
        )
    table = pd.DataFrame(rows)
    seconds = round(time.perf_counter() - t0, 2)
    log.info("sweep of %d variants on %s in %.1f s", len(combos), name, seconds)
    return SweepResult(table=table, executor=name, seconds=seconds, stats={"variants": len(combos)})


def sweep_chart(
    result: SweepResult,
    path: str | os.PathLike[str],
    *,
    x: str | None = None,
    y: str | None = None,
    group: str | None = None,
) -> Path:
    """Line chart of one KPI against one varied key, a line per value of another key."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gridopt.report.maps import save_figure

    t = result.table
    varied = [c for c in t.columns if "." in c]
    if not varied:
        raise InputError("sweep", "nothing was varied")
    x = x or varied[0]
    group = group if group is not None else (varied[1] if len(varied) > 1 else None)
    y = y or next(c for c in t.columns if c.endswith(":response_onsite_p90"))
    fig, ax = plt.subplots(figsize=(7, 4))
    groups = [(None, t)] if group is None else list(t.groupby(group))
    for key, part in groups:
        part = part.sort_values(x)
        label = f"{group} = {key}" if group else None
        ax.errorbar(
            part[x],
            part[y],
            yerr=[part[y] - part[f"{y}:low"], part[f"{y}:high"] - part[y]],
            marker="o",
            capsize=3,
            label=label,
        )
    ax.set_xlabel(x)
    ax.set_ylabel(y.replace(":", " "))
    ax.set_title("Sweep: " + y.split(":")[-1].replace("_", " ") + " (95 % intervals)")
    if group:
        ax.legend()
    return save_figure(fig, path)
