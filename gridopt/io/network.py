"""Street graph in, travel times out (``scipy.sparse.csgraph``).

:class:`StreetTravel` snaps points to the nearest street node and runs Dijkstra on the
street graph; points farther than ``max_snap`` from any node, and every query when no
street graph is given, fall back to straight-line distance times a detour factor.

Examples
--------
>>> import numpy as np
>>> tm = StreetTravel.straight_line(detour=1.3, speed_kmh=30.0)
>>> m = tm.minutes(np.array([[0.0, 0.0]]), np.array([[1000.0, 0.0]]))
>>> round(float(m[0, 0]), 2)   # 1.3 km at 30 km/h
2.6
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from gridopt.errors import InputError

__all__ = ["StreetTravel"]

log = logging.getLogger("gridopt.io.network")


@dataclass(frozen=True, eq=False)
class StreetTravel:
    """Travel times between points, on a street graph or as the crow flies.

    Parameters
    ----------
    node_xy : ndarray of float64, shape (n_nodes, 2), or None
        Street nodes (metric).
    graph : scipy.sparse.csr_matrix or None
        Symmetric street graph with edge weights in minutes.
    length_graph : scipy.sparse.csr_matrix or None
        The same graph weighted by metres (for distances; the shortest, not the fastest,
        path's length).
    detour : float
        Straight-line fallback: distance x detour / speed.
    speed_kmh : float
        Fallback speed, also the speed on the way from a point to its street node.
    max_snap : float
        Points farther than this (m) from a street node use the fallback.
    """

    node_xy: NDArray[np.float64] | None
    graph: object | None
    length_graph: object | None = None
    detour: float = 1.3
    speed_kmh: float = 25.0
    max_snap: float = 500.0

    def __post_init__(self) -> None:
        if not (self.detour >= 1.0):
            raise InputError("detour", f"must be >= 1, got {self.detour}")
        if not (self.speed_kmh > 0):
            raise InputError("speed_kmh", f"must be > 0, got {self.speed_kmh}")

    # --------------------------------------------------------------- constructors
    @classmethod
    def straight_line(cls, detour: float = 1.3, speed_kmh: float = 25.0) -> StreetTravel:
        """Distance x detour / speed, no street graph."""
        return cls(node_xy=None, graph=None, detour=detour, speed_kmh=speed_kmh)

    @classmethod
    def from_edges(
        cls,
        node_x: NDArray[np.float64],
        node_y: NDArray[np.float64],
        edge_u: NDArray,
        edge_v: NDArray,
        edge_minutes: NDArray[np.float64],
        *,
        edge_length: NDArray[np.float64] | None = None,
        detour: float = 1.3,
        speed_kmh: float = 25.0,
        max_snap: float = 500.0,
    ) -> StreetTravel:
        """Build from an undirected edge list with travel minutes per edge."""
        from scipy.sparse import coo_matrix

        n = int(np.asarray(node_x).shape[0])
        u = np.asarray(edge_u, dtype=np.int64)
        v = np.asarray(edge_v, dtype=np.int64)
        w = np.asarray(edge_minutes, dtype=np.float64)
        if u.size and (u.min() < 0 or v.min() < 0 or u.max() >= n or v.max() >= n):
            raise InputError("edges", f"refer to nodes outside 0..{n - 1}")
        if (w < 0).any() or not np.isfinite(w).all():
            raise InputError("edge_minutes", "must be finite and >= 0")
        w = np.maximum(w, 1e-6)  # csgraph drops explicit zeros
        g = coo_matrix(
            (np.concatenate([w, w]), (np.concatenate([u, v]), np.concatenate([v, u]))), shape=(n, n)
        )
        g = g.tocsr()
        g.sum_duplicates()
        xy = np.column_stack([node_x, node_y]).astype(np.float64)
        lg = None
        if edge_length is not None:
            ln = np.maximum(np.asarray(edge_length, dtype=np.float64), 1e-6)
            lg = coo_matrix(
                (np.concatenate([ln, ln]), (np.concatenate([u, v]), np.concatenate([v, u]))),
                shape=(n, n),
            )
            lg = lg.tocsr()
            lg.sum_duplicates()
        return cls(
            node_xy=xy,
            graph=g,
            length_graph=lg,
            detour=detour,
            speed_kmh=speed_kmh,
            max_snap=max_snap,
        )

    @classmethod
    def from_street_graph(cls, streets: object, **kwargs: float) -> StreetTravel:
        """Build from :class:`gridopt.synth.StreetGraph` (or anything with the same fields)."""
        return cls.from_edges(
            streets.node_x,  # type: ignore[attr-defined]
            streets.node_y,  # type: ignore[attr-defined]
            streets.edge_u,  # type: ignore[attr-defined]
            streets.edge_v,  # type: ignore[attr-defined]
            streets.edge_minutes,  # type: ignore[attr-defined]
            edge_length=streets.edge_length,  # type: ignore[attr-defined]
            **kwargs,
        )

    # ------------------------------------------------------------------- queries
    def straight_minutes(
        self, src: NDArray[np.float64], dst: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        """Fallback matrix: euclidean distance x detour / speed, shape (n_src, n_dst)."""
        src = np.asarray(src, dtype=np.float64).reshape(-1, 2)
        dst = np.asarray(dst, dtype=np.float64).reshape(-1, 2)
        d = np.hypot(src[:, None, 0] - dst[None, :, 0], src[:, None, 1] - dst[None, :, 1])
        return d * self.detour / (self.speed_kmh * 1000.0 / 60.0)

    def __call__(
        self, x: NDArray[np.float64], y: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Distance (metres) and minutes between all points: the dispatch travel signature.

        Parameters
        ----------
        x, y : ndarray of float64, shape (n,)

        Returns
        -------
        distance, minutes : ndarray of float64, shape (n, n)
        """
        pts = np.column_stack([np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)])
        minutes = self.minutes(pts, pts)
        if self.length_graph is None:
            metres = minutes * self.speed_kmh * 1000.0 / 60.0
        else:
            metres = self._network(
                pts,
                pts,
                self.length_graph,
                1.0,
                self.straight_minutes(pts, pts) * self.speed_kmh * 1000.0 / 60.0,
            )
        np.fill_diagonal(minutes, 0.0)
        np.fill_diagonal(metres, 0.0)
        return metres, minutes

    def minutes(self, src: NDArray[np.float64], dst: NDArray[np.float64]) -> NDArray[np.float64]:
        """Travel minutes from each ``src`` point to each ``dst`` point.

        Parameters
        ----------
        src : ndarray of float64, shape (n_src, 2)
        dst : ndarray of float64, shape (n_dst, 2)

        Returns
        -------
        ndarray of float64, shape (n_src, n_dst)
            Network times where both ends snap to the street graph (and the graph
            connects them), the straight-line fallback elsewhere.
        """
        src = np.asarray(src, dtype=np.float64).reshape(-1, 2)
        dst = np.asarray(dst, dtype=np.float64).reshape(-1, 2)
        fallback = self.straight_minutes(src, dst)
        if self.graph is None or self.node_xy is None:
            return fallback
        return self._network(src, dst, self.graph, 1.0 / (self.speed_kmh * 1000.0 / 60.0), fallback)

    def _network(
        self,
        src: NDArray[np.float64],
        dst: NDArray[np.float64],
        graph: object,
        per_metre: float,
        fallback: NDArray[np.float64],
    ) -> NDArray[np.float64]:
        """Shortest paths on ``graph`` plus the snap legs (metres x ``per_metre``)."""
        from scipy.sparse.csgraph import dijkstra
        from scipy.spatial import cKDTree

        tree = cKDTree(self.node_xy)
        ds, ns = tree.query(src)
        dd, nd = tree.query(dst)
        uniq, inv = np.unique(ns, return_inverse=True)
        net = dijkstra(graph, directed=False, indices=uniq)[inv][:, nd]
        out = net + (ds[:, None] + dd[None, :]) * per_metre
        ok = np.isfinite(net) & (ds[:, None] <= self.max_snap) & (dd[None, :] <= self.max_snap)
        n_fb = int((~ok).sum())
        if n_fb:
            log.debug("travel: %d of %d pairs use the straight-line fallback", n_fb, ok.size)
        return np.where(ok, out, fallback)
