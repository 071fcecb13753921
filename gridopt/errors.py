"""Exceptions raised by gridopt.

Every error a user can cause derives from :class:`GridoptError`; the CLI maps it to a
one-line message and exit code 2.

Examples
--------
>>> from gridopt.errors import InputError, GridoptError
>>> err = InputError("x", "must be finite", rows=[3, 7])
>>> isinstance(err, GridoptError)
True
>>> str(err)
'x: must be finite (rows 3, 7)'
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["GridoptError", "InputError", "InfeasibleError", "first_rows"]

_MAX_ROWS = 5


def first_rows(mask_or_rows: Iterable[int] | object, limit: int = _MAX_ROWS) -> list[int]:
    """Return the first ``limit`` offending row indices of a boolean mask or index list.

    Examples
    --------
    >>> import numpy as np
    >>> first_rows(np.array([False, True, True, False]))
    [1, 2]
    """
    import numpy as np

    arr = np.asarray(mask_or_rows)
    if arr.dtype == bool:
        arr = np.flatnonzero(arr)
    return [int(v) for v in arr.ravel()[:limit]]


class GridoptError(Exception):
    """Base class of every error gridopt raises on purpose."""


class InputError(GridoptError, ValueError):
    """Bad input: names the field and the first offending rows.

    Parameters
    ----------
    field : str
        The field, column, key or argument that is wrong.
    message : str
        What is wrong with it.
    rows : sequence of int, optional
        The first offending rows (0-based), at most five are shown.
    n_bad : int, optional
        How many rows are wrong in all, when more than shown.
    """

    def __init__(
        self,
        field: str,
        message: str,
        rows: Iterable[int] | None = None,
        n_bad: int | None = None,
    ) -> None:
        self.field = field
        self.message = message
        self.rows = list(rows) if rows is not None else []
        self.n_bad = n_bad
        text = f"{field}: {message}"
        if self.rows:
            shown = ", ".join(str(r) for r in self.rows[:_MAX_ROWS])
            label = "row" if len(self.rows) == 1 and (n_bad is None or n_bad <= 1) else "rows"
            text += f" ({label} {shown}"
            if n_bad is not None and n_bad > len(self.rows[:_MAX_ROWS]):
                text += f"; {n_bad} in all"
            text += ")"
        super().__init__(text)


class InfeasibleError(GridoptError):
    """A problem that has no solution under its hard limits.

    Parameters
    ----------
    message : str
        What makes it infeasible, with figures (which limit, by how much, where).
    details : dict, optional
        Machine-readable figures behind the message.
    """

    def __init__(self, message: str, details: dict | None = None) -> None:
        self.details = dict(details or {})
        super().__init__(message)
