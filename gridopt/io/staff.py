"""Staff rosters from CSV (or any table): id, role, x/y, shift, skills, capacity, grid.

Examples
--------
>>> import pandas as pd
>>> df = pd.DataFrame({"id": [1, 2], "role": ["technician", "account_manager"],
...                    "x": [0.0, 10.0], "y": [0.0, 5.0]})
>>> st = staff_from_frame(df)
>>> st.role.tolist(), st.shift_start.tolist(), st.grid.tolist()
([1, 2], [480.0, 540.0], [-1, -1])
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from gridopt.errors import InputError, first_rows
from gridopt.model import ROLE_ACCOUNT_MANAGER, ROLES, SKILL_NAMES, Staff

__all__ = ["read_staff", "staff_from_frame"]

_DEFAULT_SKILLS = {"installer": "install", "technician": "repair|fiber", "account_manager": ""}


def _skills(value: object) -> int:
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, float) and np.isfinite(value):
        return int(value)
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    bits = 0
    for name in filter(None, (t.strip() for t in text.replace(",", "|").split("|"))):
        if name not in SKILL_NAMES:
            raise ValueError(name)
        bits |= SKILL_NAMES[name]
    return bits


def staff_from_frame(df: pd.DataFrame) -> Staff:
    """Validate a staff table and build :class:`~gridopt.model.Staff`.

    Columns: ``id``, ``role`` (installer / technician / account_manager), ``x``, ``y``
    (metric, the households' CRS); optional ``shift_start``/``shift_end`` (minutes, or
    ``HH:MM``), ``skills`` (bitmask or names like ``repair|fiber``), ``capacity``, ``grid``.

    Raises
    ------
    InputError
        Missing columns, unknown roles or skills, bad shifts (see :class:`Staff`).
    """
    if len(df) == 0:
        raise InputError("staff", "is empty: no rows")
    missing = [c for c in ("id", "role", "x", "y") if c not in df.columns]
    if missing:
        raise InputError("staff", f"missing columns: {', '.join(missing)}")
    role_names = df["role"].astype(str).str.strip().str.lower()
    bad = ~role_names.isin(ROLES)
    if bad.any():
        raise InputError(
            "role",
            f"unknown role; use one of {', '.join(ROLES)}",
            first_rows(bad.to_numpy()),
            int(bad.sum()),
        )
    role = role_names.map({r: k for k, r in enumerate(ROLES)}).to_numpy()
    n = len(df)

    def minutes(col: str, default: np.ndarray) -> np.ndarray:
        if col not in df.columns:
            return default
        s = df[col]
        if s.dtype == object:
            parts = s.astype(str).str.split(":", expand=True)
            if parts.shape[1] >= 2:
                try:
                    return (
                        parts[0].astype(float).to_numpy() * 60 + parts[1].astype(float).to_numpy()
                    )
                except ValueError:
                    raise InputError(col, "must be minutes after midnight or HH:MM") from None
        return pd.to_numeric(s, errors="coerce").to_numpy(dtype=float)

    am = role == ROLE_ACCOUNT_MANAGER
    start = minutes("shift_start", np.where(am, 540.0, 480.0))
    end = minutes("shift_end", np.where(am, 1050.0, 1020.0))
    raw_skills = df["skills"] if "skills" in df.columns else role_names.map(_DEFAULT_SKILLS)
    skills = np.zeros(n, dtype=np.int64)
    for k, v in enumerate(raw_skills.fillna("")):
        try:
            skills[k] = _skills(v)
        except ValueError as exc:
            raise InputError(
                "skills", f"unknown skill {exc}; known: {', '.join(SKILL_NAMES)}", [k]
            ) from None
    capacity = (
        pd.to_numeric(df["capacity"], errors="coerce").to_numpy(dtype=float)
        if "capacity" in df.columns
        else np.where(am, 900.0, 480.0)
    )
    grid = df["grid"].to_numpy() if "grid" in df.columns else None
    return Staff(
        ids=pd.to_numeric(df["id"], errors="coerce").to_numpy(dtype=float),
        role=role,
        x=pd.to_numeric(df["x"], errors="coerce").to_numpy(dtype=float),
        y=pd.to_numeric(df["y"], errors="coerce").to_numpy(dtype=float),
        shift_start=start,
        shift_end=end,
        skills=skills,
        capacity=capacity,
        grid=grid,
    )


def read_staff(path: str | os.PathLike[str]) -> Staff:
    """Read a staff roster (CSV or Parquet); see :func:`staff_from_frame`."""
    p = Path(path)
    if not p.exists():
        raise InputError("staff", f"file not found: {p}")
    try:
        df = pd.read_parquet(p) if p.suffix.lower() == ".parquet" else pd.read_csv(p)
    except Exception as exc:
        raise InputError("staff", f"cannot read {p.name}: {type(exc).__name__}: {exc}") from None
    return staff_from_frame(df)
