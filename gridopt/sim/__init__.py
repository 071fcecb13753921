"""Discrete-event simulation of grid field service and campaigns.

Build a :class:`SimConfig` (from arrays, :meth:`SimConfig.from_city`, or
:meth:`SimConfig.mmc`), run :func:`simulate`, read the :class:`SimResult`, and
:func:`compare` alternatives under common random numbers.

Examples
--------
>>> from gridopt.sim import SimConfig, simulate
>>> res = simulate(SimConfig.mmc(0.8, 1.0, 2, horizon=1000.0), replications=2, seed=0)
>>> sorted(res.kpis)[:3]
['arrivals', 'in_system_mean', 'little_lambda_w']
"""

from __future__ import annotations

from gridopt.sim.config import DISTRIBUTIONS, POLICIES, Campaign, SimConfig
from gridopt.sim.stats import Estimate, SimResult, compare, erlang_c, erlang_c_within, simulate

__all__ = [
    "DISTRIBUTIONS",
    "POLICIES",
    "Campaign",
    "Estimate",
    "SimConfig",
    "SimResult",
    "compare",
    "erlang_c",
    "erlang_c_within",
    "simulate",
]
