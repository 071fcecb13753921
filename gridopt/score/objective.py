"""The partition objective and its evaluation on a layout.

:class:`Objective` holds what a planner sets (which attributes to balance and how
tightly, weights of compactness, travel, border length and stability);
:class:`Scorer` binds it to a set of units and a number of grids and evaluates layouts
with the Numba kernels in :mod:`gridopt.score._kernels` (full evaluation and O(degree +
attributes) delta evaluation of moves and swaps).

Examples
--------
>>> import numpy as np
>>> from gridopt.model import Units
>>> from gridopt.score import Objective, Scorer
>>> units = Units.from_edges(ids=[0, 1, 2, 3], x=[0.0, 1.0, 2.0, 3.0], y=[0.0] * 4,
...                          attributes={"households": [1, 1, 1, 1]},
...                          edges=[(0, 1), (1, 2), (2, 3)])
>>> scorer = Scorer(units, 2, Objective(balance={"households": 0.05}))
>>> score = scorer.evaluate(np.array([0, 0, 1, 1], dtype=np.int32))
>>> score.feasible, score.max_deviation["households"]
(True, 0.0)
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from gridopt.errors import InputError, first_rows
from gridopt.model import Layout, Units
from gridopt.score import _kernels as K

__all__ = ["Objective", "Score", "Scorer", "COMPACTNESS"]

log = logging.getLogger("gridopt.score")

COMPACTNESS: tuple[str, ...] = ("inertia", "diameter", "radius", "none")


def _finite_nonneg(name: str, value: float) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(name, f"must be a number, got {value!r}") from None
    if not math.isfinite(v) or v < 0:
        raise InputError(name, f"must be finite and >= 0, got {value!r}")
    return v


@dataclass(frozen=True)
class Objective:
    """What a good layout is: balanced attributes, compact, cheap to drive, stable.

    Parameters
    ----------
    balance : mapping of str to float
        Attribute name -> tolerance tau (relative, e.g. 0.05 for +/-5 %). A layout with a
        grid total outside ``target * (1 +/- tau)`` is infeasible; inside the band the
        squared relative deviation is a soft penalty.
    targets : mapping of str to float or array_like of shape (n_grids,), optional
        Per-attribute target per grid (for unequal teams). Default: the mean (total /
        n_grids). Per-grid targets are rescaled to sum to the attribute total.
    balance_weights : mapping of str to float, optional
        Weight of each attribute's soft penalty (default 1).
    compactness : {"inertia", "diameter", "radius", "none"}
        ``"inertia"``: mass-weighted moment of inertia about each grid's centroid (O(1)
        delta). ``"diameter"``: (largest + mean) grid diameter on a distance matrix
        passed to :class:`Scorer` (for up to a few thousand units). ``"radius"``:
        (largest + mean) over grids of the largest straight-line distance from a unit to
        its grid base (a station, or the partitioner's centre unit of the grid), O(1) per
        move unless the farthest unit leaves.
    compactness_weight, travel_weight, border_weight, stability_weight : float
        Weights (>= 0) of the normalised compactness, travel (load times distance to the
        grid base), border (cut-edge length) and stability (share of households that
        change grid against ``previous``) terms.
    mass : str, optional
        Attribute used as mass for inertia; default the first balanced attribute.
    load : str, optional
        Attribute used as travel load; default ``mass``.
    hard_penalty : float
        Penalty per unit of relative excess beyond a tolerance (relative to tau); large
        enough that the search prefers any feasible layout.
    soft_scale : float
        Relative deviation at which an attribute's soft penalty (weight x (r /
        soft_scale)^2 / n_grids per grid) equals its weight; > 0. Smaller values pull
        harder towards the exact target, at the cost of compactness.

    Raises
    ------
    InputError
        On a negative, NaN or infinite tolerance or weight, or an unknown compactness.

    Examples
    --------
    >>> Objective(balance={"households": 0.05, "tickets": 0.10}).tolerances
    (0.05, 0.1)
    """

    balance: Mapping[str, float] = field(default_factory=dict)
    targets: Mapping[str, Any] | None = None
    balance_weights: Mapping[str, float] | None = None
    compactness: str = "inertia"
    compactness_weight: float = 1.0
    travel_weight: float = 0.0
    border_weight: float = 0.0
    stability_weight: float = 0.0
    mass: str | None = None
    load: str | None = None
    hard_penalty: float = 100.0
    soft_scale: float = 0.3

    def __post_init__(self) -> None:
        bal = {}
        for name, tol in dict(self.balance).items():
            t = _finite_nonneg(f"balance[{name}]", tol)
            if t <= 0:
                raise InputError(f"balance[{name}]", f"tolerance must be > 0, got {tol!r}")
            bal[str(name)] = t
        object.__setattr__(self, "balance", bal)
        bw = {}
        for name, v in dict(self.balance_weights or {}).items():
            if name not in bal:
                raise InputError("balance_weights", f"{name!r} is not a balanced attribute")
            bw[str(name)] = _finite_nonneg(f"balance_weights[{name}]", v)
        object.__setattr__(self, "balance_weights", bw)
        if self.targets is not None:
            for name in self.targets:
                if name not in bal:
                    raise InputError("targets", f"{name!r} is not a balanced attribute")
        if not self.soft_scale > 0:
            raise InputError("soft_scale", f"must be > 0, got {self.soft_scale!r}")
        if self.compactness not in COMPACTNESS:
            raise InputError(
                "compactness", f"must be one of {COMPACTNESS}, got {self.compactness!r}"
            )
        for name in (
            "compactness_weight",
            "travel_weight",
            "border_weight",
            "stability_weight",
            "hard_penalty",
            "soft_scale",
        ):
            object.__setattr__(self, name, _finite_nonneg(name, getattr(self, name)))

    @property
    def attributes(self) -> tuple[str, ...]:
        """Balanced attribute names, in order."""
        return tuple(self.balance)

    @property
    def tolerances(self) -> tuple[float, ...]:
        """Tolerances of the balanced attributes, in order."""
        return tuple(self.balance.values())


@dataclass(frozen=True)
class Score:
    """The evaluation of one layout.

    Attributes
    ----------
    total : float
        Weighted objective (lower is better).
    terms : dict of str to float
        ``balance``, ``compactness``, ``travel``, ``border``, ``stability`` (weighted).
    max_deviation : dict of str to float
        Largest relative deviation |total / target - 1| over grids, per balanced attribute.
    feasible : bool
        Every balanced attribute within its tolerance in every grid.
    travel, border_length, moved : float
        Raw travel (load x metres), cut-edge length (metres), households moved.
    max_diameter : float
        Largest grid diameter (only with ``compactness="diameter"``, else NaN).
    max_radius : float
        Largest distance from a unit to its grid base, metres (only with
        ``compactness="radius"``, else NaN).
    """

    total: float
    terms: dict[str, float]
    max_deviation: dict[str, float]
    feasible: bool
    travel: float
    border_length: float
    moved: float
    max_diameter: float
    max_radius: float = float("nan")


class Scorer:
    """An :class:`Objective` bound to units and a number of grids.

    Holds the C-contiguous arrays and coefficients the kernels need. Fixed grid bases
    (coordinates) are used for travel; without them travel is measured to ``bases``
    set later with :meth:`set_bases`.

    Parameters
    ----------
    units : Units
    n_grids : int
    objective : Objective
    base_xy : ndarray of float64, shape (n_grids, 2), optional
        Base coordinates of each grid for the travel term (NaN rows: none yet).
    previous : Layout or array_like of int, shape (n_units,), optional
        The current layout, for the stability term.
    distance : ndarray of float64, shape (n_units, n_units), optional
        Pairwise distances for ``compactness="diameter"`` (e.g. all-pairs shortest paths).
    stability_weights : array_like of float, shape (n_units,), optional
        Households per unit for the stability term (default: the ``households``
        attribute when present, else the mass).

    Raises
    ------
    InputError
        Unknown attribute, zero total in a balanced attribute, bad targets, a diameter
        objective without a distance matrix, shapes that do not match.
    """

    def __init__(
        self,
        units: Units,
        n_grids: int,
        objective: Objective,
        *,
        base_xy: ArrayLike | None = None,
        previous: Layout | ArrayLike | None = None,
        distance: ArrayLike | None = None,
        stability_weights: ArrayLike | None = None,
    ) -> None:
        n = units.n_units
        k = int(n_grids)
        if k < 1:
            raise InputError("n_grids", f"must be >= 1, got {n_grids}")
        self.units = units
        self.objective = objective
        self.n_grids = k
        names = units.attribute_names
        for name in objective.attributes:
            if name not in names:
                raise InputError("balance", f"unknown attribute {name!r}; units have {names}")
        cols = [names.index(a) for a in objective.attributes]
        m = len(cols)
        attrs = np.ascontiguousarray(units.attributes[:, cols]) if m else np.zeros((n, 0))
        totals = attrs.sum(axis=0)
        for t, name in enumerate(objective.attributes):
            if not totals[t] > 0:
                raise InputError(f"balance[{name}]", "total weight is zero: nothing to balance")
        target = np.empty((k, m))
        for t, name in enumerate(objective.attributes):
            spec = None if objective.targets is None else objective.targets.get(name)
            if spec is None:
                target[:, t] = totals[t] / k
            else:
                arr = np.asarray(spec, dtype=np.float64)
                if arr.ndim == 0:
                    arr = np.full(k, float(arr))
                if arr.shape != (k,):
                    raise InputError(f"targets[{name}]", f"must be a number or {k} values")
                bad = ~np.isfinite(arr) | (arr <= 0)
                if bad.any():
                    raise InputError(f"targets[{name}]", "must be finite and > 0", first_rows(bad))
                target[:, t] = arr * (totals[t] / arr.sum())
        self.attrs = attrs
        self.target = np.ascontiguousarray(target)
        self.itarget = np.ascontiguousarray(1.0 / target)
        tau = np.array(objective.tolerances, dtype=np.float64)
        bw = np.array([objective.balance_weights.get(a, 1.0) for a in objective.attributes])
        self.tau = tau
        # the soft pull towards the target is scaled by soft_scale, not by tau: scaling it
        # by a tight tau makes balance swamp compactness inside the feasible band
        self.cs = np.ascontiguousarray(bw / (k * objective.soft_scale**2)) if m else np.zeros(0)
        self.ch = (
            np.ascontiguousarray(objective.hard_penalty * np.maximum(bw, 1.0) / tau)
            if m
            else np.zeros(0)
        )
        # metric coordinates centred to keep the inertia sums well conditioned
        self.x0 = float(units.x.mean())
        self.y0 = float(units.y.mean())
        self.x = np.ascontiguousarray(units.x - self.x0)
        self.y = np.ascontiguousarray(units.y - self.y0)
        mass_name = objective.mass or (objective.attributes[0] if m else None)
        self.w = self._column(mass_name, "mass", np.ones(n))
        self.load = self._column(objective.load or mass_name, "load", self.w)
        if stability_weights is not None:
            hh = np.ascontiguousarray(stability_weights, dtype=np.float64)
            if hh.shape != (n,) or not np.isfinite(hh).all():
                raise InputError("stability_weights", f"must be {n} finite values")
        elif "households" in names:
            hh = np.ascontiguousarray(units.attribute("households"))
        else:
            hh = self.w
        self.hh = hh
        if previous is None:
            prev = np.full(n, -1, dtype=np.int32)
        else:
            prev = np.asarray(previous.labels if isinstance(previous, Layout) else previous)
            if prev.shape != (n,):
                raise InputError("previous", f"must have {n} labels, got shape {prev.shape}")
            prev = np.ascontiguousarray(prev, dtype=np.int32)
        self.prev = prev
        self.has_previous = previous is not None
        self.indptr = units.indptr
        self.indices = units.indices
        self.elen = units.edge_length
        if base_xy is None:
            bxy = np.full((k, 2), np.nan)
        else:
            bxy = np.asarray(base_xy, dtype=np.float64)
            if bxy.shape != (k, 2):
                raise InputError("base_xy", f"must have shape ({k}, 2), got {bxy.shape}")
        self.bx = np.ascontiguousarray(bxy[:, 0] - self.x0)
        self.by = np.ascontiguousarray(bxy[:, 1] - self.y0)
        # the fixed part (stations); NaN rows are bases the optimizer may move
        self.fixed_bx = self.bx.copy()
        self.fixed_by = self.by.copy()
        if objective.compactness == "diameter":
            if distance is None:
                raise InputError("distance", 'compactness="diameter" needs a distance matrix')
            dmat = np.ascontiguousarray(distance, dtype=np.float64)
            if dmat.shape != (n, n):
                raise InputError("distance", f"must have shape ({n}, {n}), got {dmat.shape}")
            if not np.isfinite(dmat).all():
                raise InputError(
                    "distance",
                    "must be finite (is the unit graph connected?)",
                    first_rows(~np.isfinite(dmat).all(axis=1)),
                )
            self.D = dmat
        else:
            self.D = np.zeros((0, 0))
        self.coef = np.zeros(5)
        self._normalise()

    def _column(
        self, name: str | None, field_name: str, default: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        if name is None:
            return np.ascontiguousarray(default, dtype=np.float64)
        if name not in self.units.attribute_names:
            raise InputError(field_name, f"unknown attribute {name!r}")
        return np.ascontiguousarray(self.units.attribute(name))

    def _normalise(self) -> None:
        """Scale each term so that a reasonable layout scores about its weight."""
        obj = self.objective
        n, k = self.units.n_units, self.n_grids
        w = self.w
        wsum = float(w.sum()) or 1.0
        cx = float((w * self.x).sum() / wsum)
        cy = float((w * self.y).sum() / wsum)
        i_total = float((w * ((self.x - cx) ** 2 + (self.y - cy) ** 2)).sum())
        self.r_typ = math.sqrt(i_total / wsum / k) if i_total > 0 else 1.0
        if obj.compactness == "inertia" and i_total > 0:
            self.coef[0] = obj.compactness_weight * k / i_total
        if obj.travel_weight > 0:
            lsum = float(self.load.sum()) or 1.0
            self.coef[1] = obj.travel_weight / (lsum * self.r_typ)
        if obj.border_weight > 0:
            e_total = float(self.elen.sum()) / 2
            frac = min(1.0, 2.0 * math.sqrt(k / n))
            self.coef[2] = obj.border_weight / max(e_total * frac, 1e-12)
        if obj.stability_weight > 0:
            self.coef[3] = obj.stability_weight / max(float(self.hh.sum()), 1e-12)
        if obj.compactness == "diameter":
            scale = float(self.D.max()) / math.sqrt(k) if self.D.size else 1.0
            self.coef[4] = obj.compactness_weight / max(scale, 1e-12)
        if obj.compactness == "radius":
            # a typical grid's radius is about twice its RMS distance to the centroid
            self.coef[4] = obj.compactness_weight / max(2.0 * self.r_typ, 1e-12)

    # --------------------------------------------------------------------- state

    def set_bases(self, base_xy: ArrayLike) -> None:
        """Set the base coordinates (metric x/y, shape (n_grids, 2)) used for travel."""
        bxy = np.asarray(base_xy, dtype=np.float64)
        self.bx = np.ascontiguousarray(bxy[:, 0] - self.x0)
        self.by = np.ascontiguousarray(bxy[:, 1] - self.y0)

    def clone(self) -> Scorer:
        """A copy that shares the unit arrays and the distance matrix but owns the
        coefficients and bases a search may change (``cs``, ``ch``, ``bx``, ``by``), so that
        searches on several threads do not disturb one another."""
        out = copy.copy(self)
        for name in ("cs", "ch", "bx", "by", "coef"):
            setattr(out, name, getattr(self, name).copy())
        return out

    def new_state(self) -> dict[str, NDArray[Any]]:
        """Fresh aggregate arrays (tot, mom, acc, diam, terms, members) for the kernels."""
        k, m = self.n_grids, self.attrs.shape[1]
        return {
            "tot": np.zeros((k, m)),
            "mom": np.zeros((k, 4)),
            "acc": np.zeros(3),
            "diam": np.zeros(k),
            "terms": np.zeros(5),
            "members": np.zeros(self.units.n_units + 1, dtype=np.int64),
        }

    def data(self) -> tuple[Any, ...]:
        """The unit arrays, in kernel order (x ... by)."""
        return (
            self.x, self.y, self.w, self.attrs, self.load, self.hh, self.prev,
            self.indptr, self.indices, self.elen, self.bx, self.by,
        )  # fmt: skip

    def params(self) -> tuple[Any, ...]:
        """The objective coefficients, in kernel order (1 / target ... D)."""
        return (self.itarget, self.cs, self.ch, self.tau, self.coef, self.D)

    def check_labels(self, labels: ArrayLike) -> NDArray[np.int32]:
        """Validate a layout's labels and return them as C-contiguous int32."""
        lab = np.asarray(labels)
        n = self.units.n_units
        if lab.shape != (n,):
            raise InputError("labels", f"must have {n} entries, got shape {lab.shape}")
        if lab.size and (lab.min() < 0 or lab.max() >= self.n_grids):
            bad = (lab < 0) | (lab >= self.n_grids)
            raise InputError(
                "labels", f"must be in 0..{self.n_grids - 1}", first_rows(bad), int(bad.sum())
            )
        return np.ascontiguousarray(lab, dtype=np.int32)

    def full(self, labels: NDArray[np.int32], state: dict[str, NDArray[Any]]) -> float:
        """Full evaluation into ``state``; returns the total (labels must be checked)."""
        return float(
            K.full_eval(
                labels,
                *self.data(),
                *self.params(),
                state["tot"],
                state["mom"],
                state["acc"],
                state["diam"],
                state["terms"],
            )  # fmt: skip
        )

    def delta_move(
        self, labels: NDArray[np.int32], state: dict[str, NDArray[Any]], unit: int, grid: int
    ) -> float:
        """Score change if ``unit`` moves to ``grid`` (state from :meth:`full`)."""
        return float(
            K.delta_move(
                int(unit),
                int(grid),
                labels,
                *self.data(),
                *self.params(),
                state["tot"],
                state["mom"],
                state["diam"],
                state["members"],
            )  # fmt: skip
        )

    def delta_moves(
        self,
        labels: NDArray[np.int32],
        state: dict[str, NDArray[Any]],
        units: ArrayLike,
        grids: ArrayLike,
    ) -> NDArray[np.float64]:
        """Score change of each candidate move ``units[q] -> grids[q]``, each on its own.

        The moves are evaluated against the same layout (none is applied); a unit already
        in its grid gives 0. The batch kernel prefetches a few moves ahead, which pays on
        layouts larger than the CPU caches.

        Examples
        --------
        >>> from gridopt.model import Units
        >>> u = Units.from_edges(ids=[0, 1, 2], x=[0.0, 1.0, 2.0], y=[0.0, 0.0, 0.0],
        ...                      attributes={"households": [2, 1, 1]}, edges=[(0, 1), (1, 2)])
        >>> sc = Scorer(u, 2, Objective(balance={"households": 0.5}, compactness="none"))
        >>> lab = sc.check_labels([0, 0, 1])
        >>> st = sc.new_state()
        >>> round(sc.full(lab, st), 4)
        2.7778
        >>> sc.delta_moves(lab, st, [1, 2], [1, 1]).round(4).tolist()  # 1 balances; 2 is there
        [-2.7778, 0.0]
        """
        n, k = self.units.n_units, self.n_grids
        u = np.asarray(units)
        g = np.asarray(grids)
        if u.ndim != 1 or g.shape != u.shape:
            raise InputError(
                "units", f"units and grids must be 1-D of one length, got {u.shape} and {g.shape}"
            )
        for name, arr, hi in (("units", u, n), ("grids", g, k)):
            if arr.size and not np.issubdtype(arr.dtype, np.integer):
                raise InputError(name, f"must be integers, got dtype {arr.dtype}")
            bad = (arr < 0) | (arr >= hi)
            if bad.any():
                raise InputError(name, f"must be in 0..{hi - 1}", first_rows(bad), int(bad.sum()))
        out = np.zeros(u.shape[0])
        K.delta_moves_batch(
            np.ascontiguousarray(u, dtype=np.int64), np.ascontiguousarray(g, dtype=np.int64),
            labels, *self.data(), *self.params(),
            state["tot"], state["mom"], state["diam"], state["members"], out,
        )  # fmt: skip
        return out

    def delta_swap(
        self, labels: NDArray[np.int32], state: dict[str, NDArray[Any]], i: int, j: int
    ) -> float:
        """Score change if units ``i`` and ``j`` exchange grids."""
        return float(
            K.delta_swap(
                int(i),
                int(j),
                labels,
                *self.data(),
                *self.params(),
                state["tot"],
                state["mom"],
                state["diam"],
                state["members"],
            )  # fmt: skip
        )

    def apply_move(
        self, labels: NDArray[np.int32], state: dict[str, NDArray[Any]], unit: int, grid: int
    ) -> None:
        """Move ``unit`` to ``grid`` in place, updating ``labels`` and ``state``."""
        x, y, w, attrs, load, hh, prev, indptr, indices, elen, bx, by = self.data()
        K.apply_move(
            int(unit), int(grid), labels, x, y, w, attrs, load, hh, prev, indptr, indices,
            elen, bx, by, self.coef, self.D,
            state["tot"], state["mom"], state["acc"], state["diam"], state["members"],
        )  # fmt: skip

    def evaluate(self, labels: ArrayLike) -> Score:
        """Evaluate a layout from scratch.

        Parameters
        ----------
        labels : array_like of int, shape (n_units,)

        Returns
        -------
        Score

        Raises
        ------
        InputError
            Labels of the wrong length or outside ``0..n_grids-1``.
        """
        lab = self.check_labels(labels)
        st = self.new_state()
        total = self.full(lab, st)
        return self.score_from_state(total, st)

    def deviations(self, tot: NDArray[np.float64]) -> NDArray[np.float64]:
        """Relative deviations tot / target - 1, shape (n_grids, n_attributes)."""
        return tot / self.target - 1.0

    def score_from_state(self, total: float, st: dict[str, NDArray[Any]]) -> Score:
        """Build a :class:`Score` from a state filled by :meth:`full`."""
        dev = np.abs(self.deviations(st["tot"]))
        maxdev = {a: float(dev[:, t].max()) for t, a in enumerate(self.objective.attributes)}
        feasible = bool(np.all(dev <= self.tau[None, :] + 1e-12))
        t = st["terms"]
        return Score(
            total=float(total),
            terms={
                "balance": float(t[0]),
                "compactness": float(t[1] + (t[4] - self.coef[3] * st["acc"][2])),
                "travel": float(t[2]),
                "border": float(t[3]),
                "stability": float(self.coef[3] * st["acc"][2]),
            },
            max_deviation=maxdev,
            feasible=feasible,
            travel=float(st["acc"][0]),
            border_length=float(st["acc"][1]),
            moved=float(st["acc"][2]) if self.has_previous else 0.0,
            max_diameter=float(st["diam"].max())
            if self.coef[4] != 0 and self.objective.compactness == "diameter"
            else float("nan"),
            max_radius=float(st["diam"].max())
            if self.coef[4] != 0 and self.objective.compactness == "radius"
            else float("nan"),
        )
