"""Grid partitioning: initial layouts, contiguity, and the local-search optimizer.

Examples
--------
>>> from gridopt.partition import partition, choose_n_grids, PartitionResult
>>> callable(partition)
True
"""

from __future__ import annotations

from gridopt.partition.contiguity import (
    attach_islands,
    grid_components,
    is_contiguous,
    repair_contiguity,
)
from gridopt.partition.hierarchy import HierarchyResult, group_districts
from gridopt.partition.search import PartitionResult, choose_n_grids, partition
from gridopt.partition.seed import choose_seeds, grow_layout

__all__ = [
    "HierarchyResult",
    "PartitionResult",
    "attach_islands",
    "choose_n_grids",
    "choose_seeds",
    "grid_components",
    "group_districts",
    "grow_layout",
    "is_contiguous",
    "partition",
    "repair_contiguity",
]
