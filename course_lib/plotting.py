"""Figure helpers shared by the chapters, so that every figure of the book looks alike.

* :func:`contour`: a surface's level sets (log-spaced by default), its known minima starred;
* :func:`trajectories`: optimizer paths from :func:`course_lib.descent.run` on top;
* :func:`loss_curves`: loss per step of one or several runs (log scale).

>>> import matplotlib
>>> matplotlib.use("Agg")
>>> import matplotlib.pyplot as plt, numpy as np
>>> from course_lib import descent, surfaces
>>> from course_lib.plotting import contour, trajectories
>>> result = descent.run("momentum", surfaces.rosenbrock, np.array([[-1.5, 2.0]]), 300, lr=1e-3)
>>> fig, ax = plt.subplots()
>>> _ = contour(ax, surfaces.rosenbrock)
>>> lines = trajectories(ax, result.trajectory, label="momentum")
>>> len(lines)
1
"""
from __future__ import annotations

import numpy as np

__all__ = ["contour", "trajectories", "loss_curves", "CONTOUR_CMAP", "MINIMUM_STYLE"]

#: The colormap of contour lines, light enough that paths (colors C0, C1, ...) stand out.
CONTOUR_CMAP = "viridis"
#: How known minima are marked.
MINIMUM_STYLE = dict(marker="*", s=160, color="gold", edgecolor="black", linewidth=0.8,
                     zorder=5)


def contour(ax, surface, levels=30, log: bool = True, n: int = 300, bounds=None,
            filled: bool = False, minima: bool = True, cmap=CONTOUR_CMAP, alpha: float = 0.7,
            **kwargs):
    """Draw the level sets of ``surface`` on ``ax``; returns matplotlib's ContourSet.

    Parameters
    ----------
    ax : matplotlib Axes
    surface : course_lib.surfaces.Surface
    levels : int or sequence
        Number of levels or the level values themselves.
    log : bool
        Space the levels geometrically above the minimum of the grid (valleys such as
        Rosenbrock's need it); with ``False``, evenly.
    n : int
        Grid points per axis.
    bounds : ((xmin, xmax), (ymin, ymax)), optional
        Default: ``surface.bounds``.
    filled : bool
        ``contourf`` instead of lines.
    minima : bool
        Star the surface's known minima.
    """
    (x0, x1), (y0, y1) = surface.bounds if bounds is None else bounds
    X, Y = np.meshgrid(np.linspace(x0, x1, n), np.linspace(y0, y1, n))
    with np.errstate(all="ignore"):
        Z = surface.value(np.stack([X, Y], axis=-1))
    if np.ndim(levels) == 0:
        finite = Z[np.isfinite(Z)]
        low, high = float(finite.min()), float(finite.max())
        span = max(high - low, np.finfo(float).tiny)
        if log:
            levels = low + np.geomspace(span * 1e-4, span, int(levels))
        else:
            levels = np.linspace(low, high, int(levels) + 2)[1:-1]
    draw = ax.contourf if filled else ax.contour
    cs = draw(X, Y, Z, levels=levels, cmap=cmap, alpha=alpha, **kwargs)
    if minima and len(surface.minima):
        inside = ((surface.minima[:, 0] >= x0) & (surface.minima[:, 0] <= x1)
                  & (surface.minima[:, 1] >= y0) & (surface.minima[:, 1] <= y1))
        ax.scatter(*surface.minima[inside].T, **MINIMUM_STYLE)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    return cs


def trajectories(ax, trajectory, label=None, color=None, marker: str = ".",
                 markersize: float = 3.0, linewidth: float = 1.2, alpha: float = 0.9,
                 max_paths: int | None = None, keep_limits: bool = True, **kwargs):
    """Draw optimizer paths on ``ax``; returns the list of Line2D.

    Parameters
    ----------
    trajectory : array (steps + 1, N, 2) or (steps + 1, 2), or a descent Result
    label : str, optional
        Legend entry (given to the first path only, so N paths make one entry).
    color : optional
        One color for all paths; default: the next color of the axes' cycle.
    max_paths : int, optional
        Draw at most this many paths (evenly chosen among the N).
    keep_limits : bool
        Keep the current axis limits (set by :func:`contour`) even if a path leaves them.

    Each path starts with a hollow circle and ends with a filled one; points after a
    divergence (NaN/inf) are simply not drawn.
    """
    trajectory = np.asarray(getattr(trajectory, "trajectory", trajectory), dtype=float)
    if trajectory.ndim == 2:
        trajectory = trajectory[:, None, :]
    if trajectory.ndim != 3 or trajectory.shape[-1] != 2:
        raise ValueError("trajectory must have shape (steps + 1, N, 2) or (steps + 1, 2), "
                         f"got {trajectory.shape}")
    paths = np.arange(trajectory.shape[1])
    if max_paths is not None and len(paths) > max_paths:
        paths = np.unique(np.linspace(0, len(paths) - 1, max_paths).round().astype(int))
    limits = (ax.get_xlim(), ax.get_ylim()) if keep_limits and ax.has_data() else None
    lines = []
    for k, i in enumerate(paths):
        xy = trajectory[:, i]
        line, = ax.plot(xy[:, 0], xy[:, 1], marker=marker, markersize=markersize,
                        linewidth=linewidth, color=color, alpha=alpha,
                        label=label if k == 0 else None, **kwargs)
        color = line.get_color()  # the axes' next color when none was given
        ax.plot(*xy[0], "o", markerfacecolor="none", markeredgecolor=color, markersize=6)
        finite = np.isfinite(xy).all(axis=1)
        if finite.any():
            ax.plot(*xy[finite][-1], "o", color=color, markersize=5)
        lines.append(line)
    if limits is not None:
        ax.set_xlim(*limits[0])
        ax.set_ylim(*limits[1])
    if label is not None:
        ax.legend(loc="best", fontsize="small")
    return lines


def loss_curves(ax, runs, log: bool = True, minimum: float | None = None, **kwargs):
    """Plot loss per step: ``runs`` is a descent Result, a 1-D/2-D loss array, or a dict
    ``{label: Result or array}``. With ``minimum``, plots ``loss - minimum``."""
    if not isinstance(runs, dict):
        runs = {None: runs}
    for label, run in runs.items():
        loss = np.asarray(getattr(run, "loss", run), dtype=float)
        if minimum is not None:
            loss = loss - minimum
        ax.plot(np.arange(len(loss)), loss, label=label, **kwargs)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss" if minimum is None else "loss - minimum")
    ax.grid(True, which="both", alpha=0.3)
    if any(label is not None for label in runs):
        ax.legend(fontsize="small")
    return ax
