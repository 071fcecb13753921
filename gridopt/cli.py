"""The ``gridopt`` command.

The CLI is thin: it parses arguments, calls the library, shows progress with rich,
writes outputs atomically, and maps :class:`~gridopt.errors.GridoptError` to a one-line
message on stderr and exit code 2.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.logging import RichHandler

from gridopt import __version__
from gridopt.errors import GridoptError

app = typer.Typer(
    name="gridopt",
    help="Plan grid-based field service and marketing: grids, staff, owners, routes, simulation.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str, code: int = 2) -> None:
    """Print one line on stderr and exit with ``code``."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def handle_errors(func: F) -> F:
    """Decorator: GridoptError and file errors become one line on stderr and exit code 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except GridoptError as exc:
            fail(str(exc))
        except (FileNotFoundError, PermissionError, IsADirectoryError) as exc:
            fail(f"{exc.filename}: {exc.strerror}")
        except KeyboardInterrupt:
            fail("interrupted", code=130)

    return wrapper  # type: ignore[return-value]


def _version(value: bool) -> None:
    if value:
        console.print(f"gridopt {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
    verbose: Annotated[
        int, typer.Option("--verbose", "-v", count=True, help="More log output.")
    ] = 0,
) -> None:
    """gridopt: grid-based field service and marketing planning."""
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(
        level=level,
        format="%(message)s",
        handlers=[RichHandler(console=err_console, show_path=False)],
        force=True,
    )


# --------------------------------------------------------------------------- helpers


def prepare_out_dir(out: Path, force: bool, marker: str) -> None:
    """Create ``out``; refuse a folder that already holds other files unless ``force``.

    A folder written by the same command (it holds ``marker``) is overwritten file by file.
    """
    if out.exists() and not out.is_dir():
        raise GridoptError(f"{out}: exists and is not a folder")
    if out.exists() and any(out.iterdir()) and not (out / marker).exists() and not force:
        raise GridoptError(
            f"{out}: folder is not empty and holds no gridopt output; use --force to write there"
        )
    out.mkdir(parents=True, exist_ok=True)


def sample_scenario_path() -> Path | None:
    """The sample scenario shipped in ``data/`` (a source checkout), or None."""
    here = Path(__file__).resolve().parents[1] / "data" / "scenario.toml"
    return here if here.exists() else None


def _summary_table(title: str, rows: list[tuple[str, str]]) -> None:
    from rich.table import Table

    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("what", style="bold")
    table.add_column("value", justify="right")
    for k, v in rows:
        table.add_row(k, v)
    console.print(table)


# -------------------------------------------------------------------------- commands


@app.command("generate-city")
@handle_errors
def generate_city_cmd(
    out: Annotated[
        Path,
        typer.Option(
            "--out", "-o", help="Output file: .gpkg (all layers), .parquet or .csv (households)."
        ),
    ],
    households: Annotated[
        int, typer.Option("--households", "-n", help="Number of households.")
    ] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed; same seed, same city.")] = 0,
    days: Annotated[int, typer.Option(help="Days of tickets to sample.")] = 365,
) -> None:
    """Generate a synthetic city (households, buildings, streets, river, staff, tickets)."""
    import time

    from gridopt.io.city import write_city
    from gridopt.synth import generate_city

    t0 = time.perf_counter()
    with console.status(f"generating {households:,} households ..."):
        city = generate_city(households, seed=seed, days=days)
    t1 = time.perf_counter()
    with console.status(f"writing {out} ..."):
        write_city(city, out)
    t2 = time.perf_counter()
    _summary_table(
        f"city written to {out}",
        [
            ("households", f"{city.households.n_households:,}"),
            ("buildings", f"{city.buildings['id'].shape[0]:,}"),
            ("compounds", f"{city.compounds['id'].shape[0]:,}"),
            ("staff", f"{city.staff.n_staff:,}"),
            ("stations", f"{city.stations.shape[0]}"),
            ("tickets", f"{city.tickets.n_tickets:,} over {days} days"),
            ("generate / write", f"{t1 - t0:.1f} s / {t2 - t1:.1f} s"),
        ],
    )


@app.command("init")
@handle_errors
def init_cmd(
    path: Annotated[Path, typer.Argument(help="Scenario file to write.")] = Path("scenario.toml"),
    force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented example scenario file."""
    from gridopt.config import EXAMPLE
    from gridopt.io.write import atomic_path

    if path.exists() and not force:
        raise GridoptError(f"{path}: exists; use --force to overwrite")
    with atomic_path(path) as tmp:
        tmp.write_text(EXAMPLE, encoding="utf-8")
    console.print(f"wrote {path}; edit it, then run: gridopt plan {path} --out plan/")


def _run_plan(
    scenario_path: Path, out: Path, *, force: bool, resume: bool, households: int | None = None
) -> None:
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from gridopt.config import load_scenario
    from gridopt.plan import PLAN_MARKER, STAGES, plan, scenario_hash, write_plan

    cfg = load_scenario(scenario_path)
    previous = out / PLAN_MARKER
    if previous.exists() and not force:
        import json

        try:
            old_hash = json.loads(previous.read_text()).get("scenario_hash")
        except (OSError, ValueError):
            old_hash = None
        if old_hash != scenario_hash(cfg) and not resume:
            raise GridoptError(
                f"{out}: holds a plan of another scenario; use --force to replace it, or another --out"
            )
    if not resume:
        prepare_out_dir(out, force, PLAN_MARKER)
    else:
        out.mkdir(parents=True, exist_ok=True)
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description:<12}"),
        BarColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        tasks = {s: bar.add_task(s, total=1, info="", start=False) for s in STAGES}

        def progress(stage: str, info: dict[str, Any]) -> None:
            task = tasks.get(stage)
            if task is None:
                return
            state = info.get("state")
            if state == "start":
                bar.start_task(task)
            elif state in ("done", "reused"):
                extra = "reused" if state == "reused" else f"{info.get('seconds', 0):.1f} s"
                bar.update(task, completed=1, info=extra)
            elif "best" in info or "score" in info:
                bar.update(task, info=f"best score {info.get('best', info.get('score')):.4g}")
            elif "done" in info and "total" in info:
                bar.update(
                    task,
                    completed=info["done"] / max(info["total"], 1),
                    info=f"{info['done']}/{info['total']}",
                )

        result = plan(cfg, out=out, resume=resume, households=households, progress=progress)
        bar.start_task(tasks["report"])
        written = write_plan(result, out)
        bar.update(tasks["report"], completed=1, info=f"{len(written)} files")
    rows = [
        ("grids", str(result.layout.n_grids)),
        ("layout", f"{result.partition.status}, contiguous {result.partition.contiguous}"),
        ("staff", ", ".join(f"{k} {v}" for k, v in result.kpis["staff_by_role"].items())),
        ("ownership", f"{result.assignment.status}, gap {result.assignment.gap:.2%}"),
    ]
    for _, row in result.comparison.iterrows():
        if row["kpi"] in ("response_onsite_mean", "response_onsite_p90", "sla_share", "lift"):
            base, pol = cfg.simulation.baseline, cfg.simulation.policy
            rows.append(
                (
                    row["kpi"],
                    f"{base} {row[base]:.3g} -> {pol} {row[pol]:.3g} "
                    f"(diff {row['difference']:+.3g}, 95% [{row['95% low']:.3g}, {row['95% high']:.3g}])",
                )
            )
    rows.append(("warnings", str(len(result.warnings))))
    rows.append(("report", str(out / "report.html")))
    _summary_table(f"plan written to {out}", rows)


@app.command("plan")
@handle_errors
def plan_cmd(
    scenario: Annotated[Path, typer.Argument(help="Scenario file (see `gridopt init`).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("plan"),
    force: Annotated[
        bool, typer.Option(help="Write into a folder that holds other files.")
    ] = False,
    resume: Annotated[bool, typer.Option(help="Skip stages whose inputs did not change.")] = False,
) -> None:
    """Partition, staff, assign owners, route sample days, simulate, and write the report."""
    _run_plan(scenario, out, force=force, resume=resume)


@app.command("partition")
@handle_errors
def partition_cmd(
    units_file: Annotated[
        Path,
        typer.Argument(
            help="Units (layer 'units' of `gridopt import-osm`) or households (CSV/GeoParquet/GeoPackage)."
        ),
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out", "-o", help="GeoPackage of grid polygons with KPIs (and the units' grids)."
        ),
    ] = Path("grids.gpkg"),
    grids: Annotated[int, typer.Option("--grids", "-g", help="Number of grids.")] = 0,
    target: Annotated[
        str,
        typer.Option(
            help="Workload per grid instead of --grids, as ATTR=VALUE (e.g. households=800)."
        ),
    ] = "",
    balance: Annotated[
        list[str] | None,
        typer.Option("--balance", help="ATTR:TOLERANCE, e.g. households:0.05; repeatable."),
    ] = None,
    compactness: Annotated[
        str, typer.Option(help="inertia, diameter, radius (farthest unit from the base) or none.")
    ] = "inertia",
    compactness_weight: Annotated[
        float, typer.Option(help="Weight of compactness against balance.")
    ] = 0.3,
    by: Annotated[
        str, typer.Option(help="For a household file: building, compound or lattice.")
    ] = "building",
    cell_size: Annotated[
        float, typer.Option(help="Lattice cell size in metres (--by lattice).")
    ] = 150.0,
    crs: Annotated[str, typer.Option(help="CRS of x/y columns in a CSV.")] = "",
    time_limit: Annotated[float, typer.Option(help="Seconds for the optimiser.")] = 30.0,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    contiguity: Annotated[bool, typer.Option(help="Each grid one connected piece.")] = True,
    restarts: Annotated[
        int, typer.Option(help="Independent runs from different start layouts; the best wins.")
    ] = 1,
    polish: Annotated[
        float,
        typer.Option(
            help="Share of the time kept to continue the best restart (0 to 0.99); with "
            "several short restarts it races start layouts, e.g. --restarts 8 --polish 0.4."
        ),
    ] = 0.0,
    workers: Annotated[
        int,
        typer.Option(
            help="Search threads: the restarts are dealt out among them, and each polishes "
            "the best (0: one per core)."
        ),
    ] = 1,
) -> None:
    """Cut units into contiguous, balanced, compact grids."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from gridopt.io.units import (
        build_units,
        households_from_frame,
        read_frame,
        unit_polygons,
        units_from_frame,
    )
    from gridopt.io.write import write_layers
    from gridopt.partition import choose_n_grids, partition
    from gridopt.score import Objective

    if out.suffix.lower() != ".gpkg":
        raise GridoptError(f"out: grids are written to a GeoPackage (.gpkg), got {out.name!r}")
    if bool(grids) == bool(target):
        raise GridoptError("give exactly one of --grids N or --target ATTR=VALUE")
    tol: dict[str, float] = {}
    for item in balance or ["households:0.10"]:
        name, _, value = item.partition(":")
        try:
            tol[name.strip()] = float(value)
        except ValueError:
            raise GridoptError(f"balance: {item!r} must look like households:0.05") from None
    layers = []
    if units_file.suffix.lower() == ".gpkg":
        import pyogrio

        layers = [n for n, _ in pyogrio.list_layers(units_file)]
    if "units" in layers:
        frame = read_frame(units_file, layer="units")
        units = units_from_frame(frame)
        polys = frame.to_crs(units.crs)[["id", "geometry"]].reset_index(drop=True)
    else:
        hh = households_from_frame(read_frame(units_file), crs=crs or None)
        units = build_units(hh, by=None if by == "lattice" else by, cell_size=cell_size)
        polys = unit_polygons(
            units,
            lattice="square" if by == "lattice" else None,
            cell_size=cell_size if by == "lattice" else None,
        )
    if target:
        attr, _, value = target.partition("=")
        try:
            n_grids = choose_n_grids(units, attr.strip(), float(value))
        except ValueError:
            raise GridoptError(f"target: {target!r} must look like households=800") from None
    else:
        n_grids = grids
    objective = Objective(
        balance=tol, compactness=compactness, compactness_weight=compactness_weight
    )
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as bar:
        task = bar.add_task(f"{n_grids} grids", total=time_limit, info="")

        def progress(info: dict[str, Any]) -> None:
            if "elapsed" in info:
                state = "feasible" if info.get("feasible") else "not yet feasible"
                bar.update(
                    task,
                    completed=min(info["elapsed"], time_limit),
                    info=f"best {info['best']:.4g}, {state}",
                )

        result = partition(
            units,
            n_grids,
            objective,
            seed=seed,
            time_limit=time_limit,
            contiguity=contiguity,
            progress=progress,
            n_restarts=restarts,
            polish=polish,
            workers=workers or (os.cpu_count() or 1),
        )
        bar.update(task, completed=time_limit)
    import geopandas as gpd

    unit_layer = gpd.GeoDataFrame(
        {"id": units.ids, "grid": result.labels}, geometry=polys.geometry.to_numpy(), crs=units.crs
    )
    kpis = result.kpi_table().reset_index()
    dissolved = unit_layer.dissolve(by="grid")[["geometry"]].reset_index()
    grid_layer = gpd.GeoDataFrame(
        kpis.merge(dissolved, on="grid"), geometry="geometry", crs=units.crs
    )
    write_layers(out, {"grids": grid_layer, "units": unit_layer})
    dev = ", ".join(f"{k} {v:.1%}" for k, v in result.score.max_deviation.items())
    _summary_table(
        f"{n_grids} grids written to {out}",
        [
            ("units", f"{units.n_units:,}"),
            ("status", result.status),
            ("contiguous", str(result.contiguous)),
            ("worst deviation", dev),
            ("violations", "; ".join(result.violations[:3]) or "none"),
            ("seconds", f"{result.runtime:.1f}"),
        ],
    )


@app.command("assign")
@handle_errors
def assign_cmd(
    households: Annotated[
        Path,
        typer.Argument(help="Households with a grid column (e.g. a plan's households.parquet)."),
    ],
    staff: Annotated[
        Path,
        typer.Option(
            "--staff", help="Staff CSV: id, role, x, y, grid (and shifts, skills, capacity)."
        ),
    ],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Owners file: .csv, .parquet or .gpkg.")
    ] = Path("owners.csv"),
    grid_column: Annotated[
        str, typer.Option(help="Column holding each household's grid.")
    ] = "grid",
    crs: Annotated[
        str, typer.Option(help="CRS of x/y columns in a CSV (households and staff).")
    ] = "",
    min_share: Annotated[
        float, typer.Option(help="Each owner's minimum load, as a share of the grid mean.")
    ] = 0.7,
    max_share: Annotated[
        float, typer.Option(help="Each owner's maximum load, as a share of the grid mean.")
    ] = 1.3,
    current_owner_column: Annotated[
        str, typer.Option(help="Column of today's owner (staff id) to keep where possible.")
    ] = "",
    max_changes: Annotated[
        int, typer.Option(help="Cap on reassignments against today's owners (-1: none).")
    ] = -1,
    time_limit: Annotated[float, typer.Option(help="Seconds for the solver.")] = 30.0,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Give every household exactly one owner (account manager) under workload limits."""
    import numpy as np

    from gridopt.io.city import households_frame
    from gridopt.io.staff import read_staff
    from gridopt.io.units import households_from_frame, read_frame
    from gridopt.io.write import write_table
    from gridopt.plan import assign_households

    frame = read_frame(households)
    if grid_column not in frame.columns:
        raise GridoptError(
            f"{grid_column}: no such column in {households.name}; the households need their grid"
        )
    hh = households_from_frame(frame, crs=crs or None)
    grid = frame[grid_column].to_numpy()
    roster = read_staff(staff)
    current = frame[current_owner_column].to_numpy() if current_owner_column else None
    with console.status("assigning owners ..."):
        result, notes = assign_households(
            hh,
            grid,
            roster,
            min_share=min_share,
            max_share=max_share,
            current_owner=current,
            max_changes=None if max_changes < 0 else max_changes,
            time_limit=time_limit,
            seed=seed,
        )
    table = households_frame(hh, {"grid": grid, "owner": np.asarray(result.owner)})
    if out.suffix.lower() in (".csv", ".parquet"):
        table = table.drop(columns="geometry").assign(x=hh.x, y=hh.y)
    write_table(table, out)
    loads = np.asarray(result.loads)[:, 0]  # households per owner
    rows = [
        ("households", f"{hh.n_households:,}"),
        ("owners", str(roster.of_role("account_manager").shape[0])),
        ("status", f"{result.status}, gap {result.gap:.2%}"),
        ("changes", str(result.n_changes)),
        ("households per owner", f"{loads.min():.0f} .. {loads.max():.0f}" if loads.size else "-"),
    ]
    rows += [("note", n) for n in notes]
    rows.append(("written", str(out)))
    _summary_table("ownership", rows)


@app.command("dispatch")
@handle_errors
def dispatch_cmd(
    tickets: Annotated[
        Path, typer.Argument(help="Ticket file (gridopt, boston311 or nyc311 schema).")
    ],
    staff: Annotated[
        Path, typer.Option("--staff", help="Staff CSV with grid (e.g. a plan's staff.csv).")
    ],
    grids: Annotated[Path, typer.Option("--grids", help="Grid polygons (a plan's grids.gpkg).")],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Routes file: .geojson, .gpkg or .csv.")
    ] = Path("routes.geojson"),
    day: Annotated[int, typer.Option(help="Day to route (0: the first day of the file).")] = 0,
    policy: Annotated[str, typer.Option(help="grid_first or central.")] = "grid_first",
    time_limit: Annotated[float, typer.Option(help="Seconds for the solver.")] = 10.0,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Route one day's repair and installation tickets to technicians."""
    import numpy as np

    from gridopt.dispatch import dispatch_day
    from gridopt.io.staff import read_staff
    from gridopt.io.tickets import read_tickets
    from gridopt.io.units import locate_points, polygon_neighbours, read_frame
    from gridopt.io.write import routes_frame, write_table

    if policy not in ("grid_first", "central"):
        raise GridoptError(f"policy: must be grid_first or central, got {policy!r}")
    if out.suffix.lower() not in (".geojson", ".gpkg", ".csv"):
        raise GridoptError(f"out: use .geojson, .gpkg or .csv, got {out.suffix!r}")
    polys = read_frame(grids)
    if getattr(polys, "crs", None) is None:
        raise GridoptError(f"{grids.name}: has no CRS")
    crs = polys.crs.to_string()
    imported = read_tickets(tickets, crs=crs)
    t = imported.tickets
    sel = (t.time >= day * 1440.0) & (t.time < (day + 1) * 1440.0)
    if not sel.any():
        raise GridoptError(f"day {day}: no tickets on that day in {tickets.name}")
    t = t.select(sel)
    t = t.replace(time=t.time - day * 1440.0)
    roster = read_staff(staff)
    ticket_grid = locate_points(t.x, t.y, polys, "grid")
    with console.status(f"routing {t.n_tickets} tickets ..."):
        routes = dispatch_day(
            t,
            roster,
            policy=policy,
            ticket_grid=ticket_grid,
            neighbours=[np.asarray(n) for n in polygon_neighbours(polys, "grid")],
            time_limit=time_limit,
            seed=seed,
        )
    frame = routes_frame(routes, t, roster, crs, name=f"day{day}_{policy}")
    if frame is None:
        raise GridoptError(
            f"no route: all {t.n_tickets} tickets were dropped ({', '.join(sorted(set(routes.dropped_reason)))})"
        )
    write_table(frame, out)
    _summary_table(
        f"{policy} routes for day {day}",
        [
            ("tickets", str(t.n_tickets)),
            ("routed / dropped", f"{routes.stop_ticket.shape[0]} / {routes.dropped.shape[0]}"),
            ("technicians used", str(len(frame))),
            ("distance", f"{routes.tech_distance.sum() / 1000:.1f} km"),
            ("lateness", f"{routes.stop_lateness.sum():.0f} min"),
            ("status", routes.status),
            ("written", str(out)),
        ],
    )


@app.command("sweep")
@handle_errors
def sweep_cmd(
    scenario: Annotated[Path, typer.Argument(help="Scenario file.")],
    vary: Annotated[
        list[str],
        typer.Option(
            "--vary",
            help="KEY=V1,V2,... (grids, technicians_per_grid, or any section.key); repeatable.",
        ),
    ],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Output folder for sweep.csv and sweep.png.")
    ] = Path("sweep"),
    scheduler: Annotated[
        str,
        typer.Option(
            help="serial, processes (local, default) or a Dask scheduler address tcp://HOST:PORT."
        ),
    ] = "processes",
    workers: Annotated[int, typer.Option(help="Local processes (0: one per core).")] = 0,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for a Dask scheduler.")] = 10.0,
    force: Annotated[
        bool, typer.Option(help="Write into a folder that holds other files.")
    ] = False,
) -> None:
    """Run every combination of the varied keys; one table and a chart."""
    from gridopt.config import load_scenario
    from gridopt.io.write import write_table
    from gridopt.sweep import parse_vary, sweep, sweep_chart

    cfg = load_scenario(scenario)
    changes = parse_vary(vary)
    prepare_out_dir(out, force, "sweep.csv")
    from rich.progress import Progress

    with Progress(console=console) as bar:
        task = bar.add_task("sweep", total=None)

        def progress(info: dict[str, Any]) -> None:
            bar.update(task, total=info["total"], completed=info["done"])

        result = sweep(
            cfg,
            changes,
            executor=scheduler,
            n_workers=workers or None,
            timeout=timeout,
            progress=progress,
        )
    write_table(result.table, out / "sweep.csv")
    sweep_chart(result, out / "sweep.png")
    from rich.table import Table

    table = Table(title=f"sweep on {result.executor}, {result.seconds:.0f} s")
    cols = [c for c in result.table.columns if ":low" not in c and ":high" not in c]
    for c in cols:
        table.add_column(c, justify="right")
    for _, row in result.table.iterrows():
        table.add_row(
            *[f"{row[c]:.3g}" if isinstance(row[c], float) else str(row[c]) for c in cols]
        )
    console.print(table)
    console.print(f"written: {out / 'sweep.csv'}, {out / 'sweep.png'}")


@app.command("demo")
@handle_errors
def demo_cmd(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("demo-output"),
    force: Annotated[bool, typer.Option(help="Write into a non-empty folder.")] = False,
    households: Annotated[
        int, typer.Option(help="Generate a city of this size instead of the shipped sample city.")
    ] = 0,
) -> None:
    """Run `gridopt plan` on the built-in sample scenario (data/scenario.toml)."""
    scenario = sample_scenario_path()
    if scenario is None:
        raise GridoptError(
            "the sample scenario data/scenario.toml is not there (run from a source checkout)"
        )
    _run_plan(scenario, out, force=force, resume=False, households=households or None)


@app.command("import-osm")
@handle_errors
def import_osm_cmd(
    extract: Annotated[Path, typer.Argument(help="OpenStreetMap extract (.osm.pbf or .osm).")],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="GeoPackage to write (units, buildings, ...).")
    ],
    population: Annotated[
        Path | None,
        typer.Option(help="Population grid (.gpkg with a 'population' column, any CRS)."),
    ] = None,
    by: Annotated[str, typer.Option(help="Units: 'building' or 'lattice'.")] = "building",
    cell_size: Annotated[float, typer.Option(help="Lattice spacing in metres.")] = 100.0,
    adjacency: Annotated[
        str, typer.Option(help="Building neighbours: 'voronoi' or 'touch' (within --snap m).")
    ] = "voronoi",
    snap: Annotated[float, typer.Option(help="Metres, for --adjacency touch.")] = 30.0,
    dwelling_m2: Annotated[float, typer.Option(help="Floor area per dwelling (m2).")] = 70.0,
    household_size: Annotated[
        float, typer.Option(help="Persons per household (population grid).")
    ] = 2.0,
    seed: Annotated[int, typer.Option(help="Random seed for household points.")] = 0,
) -> None:
    """Import an OSM extract: buildings -> units with dwellings, streets, barriers.

    Data derived from OpenStreetMap: (c) OpenStreetMap contributors, ODbL 1.0.
    """
    import time

    from gridopt.io.osm import osm_units, read_osm
    from gridopt.io.write import write_layers

    t0 = time.perf_counter()
    with console.status(f"reading {extract.name} ..."):
        ext = read_osm(
            extract, population=population, dwelling_m2=dwelling_m2, household_size=household_size
        )
    t1 = time.perf_counter()
    with console.status("building units ..."):
        res = osm_units(ext, seed=seed, by=by, cell_size=cell_size, adjacency=adjacency, snap=snap)
    t2 = time.perf_counter()
    with console.status(f"writing {out} ..."):
        write_layers(
            out,
            {
                "units": res.frame,
                "buildings": ext.buildings,
                "streets": ext.streets,
                "barriers": ext.barriers,
            },
        )
    t3 = time.perf_counter()
    rows = ext.summary()
    rows.insert(
        3,
        (
            "units",
            f"{res.units.n_units:,} ({by}; {res.units.n_components()} connected components)",
        ),
    )
    rows += [
        ("crs", ext.crs),
        ("read / units / write", f"{t1 - t0:.1f} s / {t2 - t1:.1f} s / {t3 - t2:.1f} s"),
    ]
    _summary_table(f"{extract.name} imported to {out}", rows)


@app.command("import-tickets")
@handle_errors
def import_tickets_cmd(
    file: Annotated[Path, typer.Argument(help="Ticket file (.csv or .parquet).")],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Output table: .parquet, .csv, .gpkg, .geojson.")
    ],
    schema: Annotated[
        str | None,
        typer.Option(help="boston311, nyc311 or gridopt (default: detect from the header)."),
    ] = None,
    start: Annotated[
        str | None, typer.Option(help="Time zero (default: midnight of the first day).")
    ] = None,
    area: Annotated[
        str | None,
        typer.Option(help="Service area bounds 'min_lon,min_lat,max_lon,max_lat'."),
    ] = None,
) -> None:
    """Import a ticket file (311 schemas or gridopt's own) into gridopt's ticket table."""
    import time

    import geopandas as gpd

    from gridopt.errors import InputError
    from gridopt.io.tickets import read_tickets
    from gridopt.io.write import write_table

    bounds = None
    if area is not None:
        try:
            bounds = tuple(float(v) for v in area.split(","))
        except ValueError:
            bounds = ()
        if len(bounds) != 4:
            raise InputError("--area", f"must be 'min_lon,min_lat,max_lon,max_lat', got {area!r}")
    t0 = time.perf_counter()
    with console.status(f"reading {file.name} ..."):
        imp = read_tickets(file, schema=schema, start=start, area=bounds)
    t1 = time.perf_counter()
    frame = gpd.GeoDataFrame(
        imp.frame, geometry=gpd.points_from_xy(imp.frame["x"], imp.frame["y"]), crs=imp.crs
    )
    with console.status(f"writing {out} ..."):
        write_table(frame, out)
    t2 = time.perf_counter()
    rows = imp.summary() + [("read / write", f"{t1 - t0:.1f} s / {t2 - t1:.1f} s")]
    _summary_table(f"{file.name} imported to {out}", rows)


@app.command("simulate")
@handle_errors
def simulate_cmd(
    scenario: Annotated[Path, typer.Argument(help="SimConfig file (.toml or .json).")],
    replications: Annotated[int, typer.Option("--replications", "-r", help="Replications.")] = 30,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    policy: Annotated[
        str | None, typer.Option(help="Override the dispatch policy: central, grid, hybrid.")
    ] = None,
    threads: Annotated[int | None, typer.Option(help="Numba threads (default all).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the KPIs as JSON.")] = False,
) -> None:
    """Simulate a SimConfig file and print KPIs with 95 % intervals.

    The file holds the fields of gridopt.sim.SimConfig (arrays as lists) and an optional
    [campaign] table with the fields of gridopt.sim.Campaign.
    """
    import json
    import tomllib

    from rich.progress import Progress

    from gridopt.errors import InputError
    from gridopt.sim import SimConfig, simulate

    text = scenario.read_bytes()
    try:
        data = tomllib.loads(text.decode()) if scenario.suffix == ".toml" else json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(str(scenario), f"cannot be parsed ({exc})") from None
    if not isinstance(data, dict):
        raise InputError(str(scenario), "must hold one table of SimConfig fields")
    cfg = SimConfig.from_dict(data)
    if policy is not None:
        cfg = cfg.replace(policy=policy)
    if as_json:
        res = simulate(cfg, replications=replications, seed=seed, threads=threads)
        print(json.dumps(res.to_dict(), indent=2, allow_nan=True))  # noqa: T201 - CLI output
        return
    with Progress(console=err_console, transient=True) as bar:
        task = bar.add_task("simulating", total=replications)
        res = simulate(
            cfg,
            replications=replications,
            seed=seed,
            threads=threads,
            progress=lambda d: bar.update(task, completed=d["done"]),
        )
    rows = [(k, f"{e.mean:.4g}  [{e.low:.4g}, {e.high:.4g}]") for k, e in res.kpis.items()]
    rows.append(("status", res.status))
    rows.append(("events/s", f"{res.stats['events_per_s']:.3g}"))
    _summary_table(f"simulation of {scenario.name} ({res.engine}, {replications} reps)", rows)
    for w in res.warnings:
        err_console.print(f"[yellow]warning:[/] {w}")


def run() -> None:  # pragma: no cover - entry point used by python -m gridopt
    """Run the CLI."""
    app(prog_name="gridopt")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run())
