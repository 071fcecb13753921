"""gridopt: grid-based field service and marketing planning.

Public names are re-exported here explicitly; see ``__all__``.
"""

from __future__ import annotations

from gridopt.assign import (
    Assignment,
    GapResult,
    OwnerLimits,
    OwnerWeights,
    RoleWorkload,
    StaffingResult,
    assign_owners,
    solve_gap,
    staffing,
)
from gridopt.dispatch import Routes, TravelModel, VrptwResult, dispatch_day, solve_vrptw
from gridopt.errors import GridoptError, InfeasibleError, InputError
from gridopt.model import Households, Layout, Scenario, Staff, Tickets, Units
from gridopt.partition import (
    HierarchyResult,
    PartitionResult,
    choose_n_grids,
    group_districts,
    partition,
)
from gridopt.partition.pmedian import PMedianResult, capacitated_pmedian
from gridopt.score import Objective, Score, Scorer
from gridopt.sim import Campaign, SimConfig, SimResult, compare, simulate

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "GridoptError",
    "InfeasibleError",
    "InputError",
    "Households",
    "Layout",
    "Scenario",
    "Staff",
    "Tickets",
    "Units",
    "HierarchyResult",
    "Objective",
    "PartitionResult",
    "Score",
    "Scorer",
    "choose_n_grids",
    "group_districts",
    "partition",
    "PMedianResult",
    "capacitated_pmedian",
    "Campaign",
    "SimConfig",
    "SimResult",
    "compare",
    "simulate",
    "Assignment",
    "GapResult",
    "OwnerLimits",
    "OwnerWeights",
    "RoleWorkload",
    "StaffingResult",
    "assign_owners",
    "solve_gap",
    "staffing",
    "Routes",
    "TravelModel",
    "VrptwResult",
    "dispatch_day",
    "solve_vrptw",
]
