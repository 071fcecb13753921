"""Staffing and household ownership (OR-Tools CP-SAT lives only here and in dispatch).

Public names: :func:`staffing` and the Erlang C helpers (:mod:`gridopt.assign.staffing`),
:func:`solve_gap` and :func:`assign_owners` (:mod:`gridopt.assign.gap`).
"""

from __future__ import annotations

from gridopt.assign.gap import (
    Assignment,
    GapResult,
    OwnerLimits,
    OwnerWeights,
    assign_owners,
    grid_edges,
    household_units,
    solve_gap,
)
from gridopt.assign.staffing import (
    DEFAULT_ROLES,
    RoleWorkload,
    StaffingResult,
    erlang_b,
    erlang_c,
    queue_metrics,
    servers_needed,
    staffing,
)

__all__ = [
    "Assignment",
    "DEFAULT_ROLES",
    "GapResult",
    "OwnerLimits",
    "OwnerWeights",
    "RoleWorkload",
    "StaffingResult",
    "assign_owners",
    "erlang_b",
    "erlang_c",
    "grid_edges",
    "household_units",
    "queue_metrics",
    "servers_needed",
    "solve_gap",
    "staffing",
]
