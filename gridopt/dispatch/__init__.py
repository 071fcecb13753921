"""Daily repair dispatch: technician routes with OR-Tools (see :mod:`gridopt.dispatch.routing`)."""

from __future__ import annotations

from gridopt.dispatch.routing import (
    DROP_REASONS,
    FIRST_SOLUTION_STRATEGIES,
    Routes,
    TravelModel,
    VrptwResult,
    dispatch_day,
    grid_neighbours,
    read_solomon,
    solve_vrptw,
)

__all__ = [
    "DROP_REASONS",
    "FIRST_SOLUTION_STRATEGIES",
    "Routes",
    "TravelModel",
    "VrptwResult",
    "dispatch_day",
    "grid_neighbours",
    "read_solomon",
    "solve_vrptw",
]
