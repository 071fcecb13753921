"""Scoring of grid layouts: the objective and its full and delta evaluation.

Examples
--------
>>> from gridopt.score import Objective
>>> Objective(balance={"households": 0.05}).attributes
('households',)
"""

from __future__ import annotations

from gridopt.score.objective import COMPACTNESS, Objective, Score, Scorer

__all__ = ["COMPACTNESS", "Objective", "Score", "Scorer"]
