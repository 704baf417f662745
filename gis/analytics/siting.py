"""Where should the next police post(s) go? Maximal Covering Location Problem (MCLP).

Model (Church & ReVelle 1974), solved exactly with CBC through PuLP (the CBC binary bundled
in the PuLP wheel, or a ``cbc`` on the PATH):

    maximise   Σ_i w_i y_i
    subject to y_i ≤ Σ_{j ∈ N_i} x_j      for every demand point i
               Σ_j x_j ≤ K
               x_j ∈ {0, 1},  0 ≤ y_i ≤ 1

with demand points i (group centres weighted by population), candidate sites j (village
populated centres by default) and N_i the candidates that cover i. Demand already covered by
an existing post has w_i = 0 (it is dropped), so the objective is the *gain* in covered
population. Since y_i is maximised and bounded by an integer sum, it is 0 or 1 at the
optimum and needs no integrality constraint. ``Σ x_j ≤ K``: when fewer than K sites add
anything, fewer are chosen (reported).

Coverage ("covers" = within the standard):

* ``by="road"``: candidate → demand travel time over the road network ≤ ``minutes``
  (default :data:`settings.SITING_MINUTES`): one cut-off Dijkstra per candidate from its
  snapped node (:meth:`gis.network.graph.RoadNetwork.times_each`, in batches), with
  both off-network legs added at :data:`settings.SNAP_SPEED_KPH`; existing coverage from the
  multi-source run of the posts (:func:`gis.network.graph.post_times`).
* ``by="distance"``: geodesic distance ≤ ``radius_m`` (default
  :data:`settings.SITING_RADIUS_M`, the 5 km ring); existing coverage from
  :func:`gis.analytics.rings.nearest_posts`.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pyproj
import shapely
from scipy import sparse
from scipy.spatial import cKDTree

from gis import settings
from gis._errors import AnalysisError
from gis.analytics.rings import nearest_posts, populated_centres, posts_lonlat
from gis.crs import utm_crs_for

GEOD = pyproj.Geod(ellps="WGS84")

BY = ("road", "distance")
"""Coverage standards of :func:`site_posts`."""


@dataclass
class MclpResult:
    """Solution of :func:`mclp`: ``chosen`` candidate indices (ascending), ``objective``
    (weight covered by them), ``status`` (PuLP status text), ``seconds`` (solver time)."""

    chosen: np.ndarray
    objective: float
    status: str
    seconds: float


def mclp(weights: np.ndarray, coverage: sparse.spmatrix | np.ndarray, k: int,
         time_limit_s: float | None = None) -> MclpResult:
    """Solve the MCLP: choose at most ``k`` candidates covering the most demand weight.

    Parameters
    ----------
    weights : (n_demand,) demand weights >= 0 (already-covered demand: 0).
    coverage : (n_demand, n_candidates) boolean matrix, True when the candidate covers the
        demand point.
    k : number of sites to choose (>= 0).
    time_limit_s : CBC time limit, default :data:`settings.SITING_TIME_LIMIT_S`.

    Raises
    ------
    AnalysisError
        Bad shapes, negative weights or k, or no optimal / feasible solution.
    """
    import pulp  # imported here: only siting needs the solver

    w = np.asarray(weights, dtype=float).ravel()
    cov = sparse.csr_matrix(coverage, dtype=bool)
    if cov.shape[0] != len(w):
        msg = f"mclp: coverage has {cov.shape[0]} rows for {len(w)} demand weights"
        raise AnalysisError(msg)
    if not np.isfinite(w).all() or (w < 0).any():
        msg = "mclp: demand weights must be finite and >= 0"
        raise AnalysisError(msg)
    if int(k) != k or k < 0:
        msg = f"mclp: the number of new sites must be an integer >= 0, got {k!r}"
        raise AnalysisError(msg)
    k = int(k)
    n_cand = cov.shape[1]
    useful = (w > 0) & (np.diff(cov.indptr) > 0)
    if k == 0 or n_cand == 0 or not useful.any():
        return MclpResult(np.zeros(0, np.int64), 0.0, "Trivial", 0.0)
    rows = np.flatnonzero(useful)
    sub = cov[rows]
    prob = pulp.LpProblem("mclp", pulp.LpMaximize)
    x = [prob.add_variable(f"x{j}", cat=pulp.LpBinary) for j in range(n_cand)]
    y = [prob.add_variable(f"y{i}", lowBound=0, upBound=1) for i in range(len(rows))]
    prob += pulp.lpSum(float(w[r]) * y[i] for i, r in enumerate(rows))
    for i in range(len(rows)):
        js = sub.indices[sub.indptr[i]:sub.indptr[i + 1]]
        prob += y[i] <= pulp.lpSum(x[j] for j in js), f"cover{i}"
    prob += pulp.lpSum(x) <= min(k, n_cand), "sites"
    limit = settings.SITING_TIME_LIMIT_S if time_limit_s is None else time_limit_s
    t0 = time.perf_counter()
    prob.solve(_solver(pulp, limit))
    seconds = time.perf_counter() - t0
    if prob.sol_status not in (pulp.LpSolutionOptimal, pulp.LpSolutionIntegerFeasible):
        msg = f"mclp: the solver found no solution (status {pulp.LpStatus[prob.status]})"
        raise AnalysisError(msg)
    status = "Optimal" if prob.sol_status == pulp.LpSolutionOptimal else "Feasible (time limit)"
    chosen = np.array([j for j in range(n_cand) if (x[j].value() or 0) > 0.5], dtype=np.int64)
    covered = (np.asarray(cov[:, chosen].sum(axis=1)).ravel() > 0 if len(chosen)
               else np.zeros(len(w), bool))
    return MclpResult(chosen, float(w[covered].sum()), status, seconds)


def _solver(pulp, time_limit_s: float):
    """CBC: a ``cbc`` on the PATH (``COIN_CMD``) if there is one, else the CBC binary bundled
    in the PuLP wheel (``PULP_CBC_CMD``, deprecated for PuLP 4.0; its warning is silenced)."""
    cmd = pulp.COIN_CMD(msg=False, timeLimit=time_limit_s)
    if cmd.available():
        return cmd
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit_s)


# --- coverage matrices ----------------------------------------------------------------------

def coverage_by_distance(dlon: np.ndarray, dlat: np.ndarray, clon: np.ndarray,
                         clat: np.ndarray, radius_m: float) -> sparse.csr_matrix:
    """(n_demand × n_candidates) True where the geodesic distance is <= ``radius_m``.

    Pairs are found in UTM with a 1 % margin, then checked on the WGS84 ellipsoid."""
    utm = utm_crs_for(float(np.mean(clon)), float(np.mean(clat)))
    tr = pyproj.Transformer.from_crs(4326, utm, always_xy=True)
    dt = cKDTree(np.column_stack(tr.transform(dlon, dlat)))
    ct = cKDTree(np.column_stack(tr.transform(clon, clat)))
    pairs = dt.sparse_distance_matrix(ct, radius_m * 1.01, output_type="ndarray")
    i, j = pairs["i"].astype(np.int64), pairs["j"].astype(np.int64)
    if len(i):
        _, _, d = GEOD.inv(dlon[i], dlat[i], clon[j], clat[j])
        ok = np.asarray(d) <= radius_m
        i, j = i[ok], j[ok]
    return sparse.csr_matrix((np.ones(len(i), bool), (i, j)), shape=(len(dlon), len(clon)))


def coverage_by_road(G: nx.MultiDiGraph, dlon: np.ndarray, dlat: np.ndarray,
                     clon: np.ndarray, clat: np.ndarray, minutes: float,
                     snap_speed_kph: float | None = None) -> sparse.csr_matrix:
    """(n_demand × n_candidates) True where a post at the candidate reaches the demand point
    by road within ``minutes`` (both off-network legs included)."""
    from gis.network.graph import RoadNetwork

    net = RoadNetwork.of(G)
    speed = float(settings.SNAP_SPEED_KPH if snap_speed_kph is None else snap_speed_kph) / 3.6
    cutoff = float(minutes) * 60.0
    cnode, csnap = net.snap(clon, clat)
    dnode, dsnap = net.snap(dlon, dlat, "destination")
    cols, inv = np.unique(dnode, return_inverse=True)
    times = net.times_each(cnode, csnap / speed, cutoff, columns=cols)  # (n_cand, n_cols)
    reach = times[:, inv].T + (dsnap / speed)[:, None] <= cutoff
    return sparse.csr_matrix(reach)


# --- siting ---------------------------------------------------------------------------------

def _points(frame: gpd.GeoDataFrame | pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    if "lon" in frame.columns and "lat" in frame.columns:
        return (pd.to_numeric(frame["lon"]).to_numpy(float),
                pd.to_numeric(frame["lat"]).to_numpy(float))
    g = frame.geometry
    if g.crs is not None and g.crs.to_epsg() not in (4326, settings.STORAGE_SRID):
        g = g.to_crs(epsg=settings.STORAGE_SRID)
    arr = np.asarray(g.values, dtype=object)
    pts = np.where(shapely.get_type_id(arr) == 0, arr, shapely.point_on_surface(arr))
    return shapely.get_x(pts), shapely.get_y(pts)


def _col(frame: pd.DataFrame, name: str, default: object = None) -> np.ndarray:
    return frame[name].to_numpy() if name in frame.columns else np.full(len(frame), default)


def site_posts(demand: gpd.GeoDataFrame, posts: object | None = None, k: int = 1, *,
               villages: gpd.GeoDataFrame | None = None,
               candidates: gpd.GeoDataFrame | pd.DataFrame | None = None,
               graph: nx.MultiDiGraph | None = None, by: str = "road",
               minutes: float | None = None, radius_m: float | None = None,
               population: str = "population", snap_speed_kph: float | None = None,
               time_limit_s: float | None = None) -> tuple[gpd.GeoDataFrame, dict]:
    """Choose ``k`` new police post sites that add the most covered population (MCLP).

    Parameters
    ----------
    demand : GeoDataFrame, EPSG:4490
        Demand points with a ``population`` column: the groups (polygons use their
        representative point; ``code`` kept), or points, or a frame with ``lon`` / ``lat``.
    posts : existing posts (as :func:`gis.analytics.rings.response_rings`), or None.
    k : number of new posts (0 gives no site and a gain of 0).
    villages : village polygons (``code``, ``name``, ``township_code``): their populated
        centres (:func:`gis.analytics.rings.populated_centres`, weighted by ``demand`` when
        it has ``parent_code``) are the candidate sites.
    candidates : candidate sites instead (points or ``lon`` / ``lat``; ``code``, ``name``,
        ``township_code`` kept). With neither, the demand points are the candidates.
    graph : road network (OSMnx-style graph or :class:`gis.network.RoadNetwork`); needed
        for ``by="road"``.
    by : ``"road"`` (within ``minutes`` by road) or ``"distance"`` (within ``radius_m``).
    minutes : default :data:`settings.SITING_MINUTES` (10).
    radius_m : default :data:`settings.SITING_RADIUS_M` (5 km).
    population : demand weight column.
    snap_speed_kph : speed of the off-network legs (road).
    time_limit_s : solver time limit, default :data:`settings.SITING_TIME_LIMIT_S`.

    Returns
    -------
    (chosen, summary)
        ``chosen``: GeoDataFrame of points (EPSG:4490), one row per chosen site in order of
        marginal gain: ``rank``, ``code``, ``name``, ``township_code``, ``lon``, ``lat``,
        ``covers_population`` (not yet covered population it reaches on its own),
        ``gain_population`` (added in this order; they sum to the total gain).
        ``summary``: ``by``, ``minutes`` / ``radius_m``, ``k``, ``n_chosen``,
        ``n_candidates``, ``n_demand``, ``population``, ``covered_before``,
        ``covered_after``, ``gain``, ``share_before``, ``share_after``, ``status``,
        ``solver``, ``seconds``.
    """
    if by not in BY:
        msg = f"siting: by must be one of {', '.join(BY)}, not {by!r}"
        raise AnalysisError(msg)
    if population not in demand.columns:
        msg = f"siting: the demand points have no {population!r} column"
        raise AnalysisError(msg)
    if by == "road" and graph is None:
        msg = "siting by road needs a road network (graph=...); or use by='distance'"
        raise AnalysisError(msg)
    w = pd.to_numeric(demand[population], errors="coerce").fillna(0).clip(lower=0)
    w = w.to_numpy(float)
    dlon, dlat = _points(demand)
    ok = np.isfinite(dlon) & np.isfinite(dlat)
    w = np.where(ok, w, 0.0)
    dlon, dlat = np.where(ok, dlon, 0.0), np.where(ok, dlat, 0.0)
    if len(w) == 0:
        msg = "siting: no demand points"
        raise AnalysisError(msg)

    if candidates is not None:
        clon, clat = _points(candidates)
        ccode, cname = _col(candidates, "code"), _col(candidates, "name")
        ctown = _col(candidates, "township_code")
    elif villages is not None:
        groups = demand if {"parent_code", "population"} <= set(demand.columns) else None
        clon, clat, _ = populated_centres(villages, groups)
        ccode, cname = _col(villages, "code"), _col(villages, "name")
        ctown = _col(villages, "township_code")
    else:
        clon, clat = dlon, dlat
        ccode, cname = _col(demand, "code"), _col(demand, "name")
        ctown = _col(demand, "township_code")
    if len(clon) == 0:
        msg = "siting: no candidate sites"
        raise AnalysisError(msg)

    summary: dict = {"by": by}
    if by == "road":
        from gis.network.graph import RoadNetwork, post_times

        mins = float(settings.SITING_MINUTES if minutes is None else minutes)
        if not np.isfinite(mins) or mins <= 0:
            msg = f"siting: minutes must be > 0, got {minutes!r}"
            raise AnalysisError(msg)
        summary["minutes"] = mins
        net = RoadNetwork.of(graph)
        cov = coverage_by_road(net, dlon, dlat, clon, clat, mins, snap_speed_kph)
        covered = np.zeros(len(w), bool)
        if posts is not None and len(posts_lonlat(posts)[0]):
            pt = post_times(net, posts, mins * 60.0, snap_speed_kph)
            dnode, dsnap = net.snap(dlon, dlat, "destination")
            speed = float(settings.SNAP_SPEED_KPH if snap_speed_kph is None
                          else snap_speed_kph) / 3.6
            covered = pt.time[dnode] + dsnap / speed <= mins * 60.0
    else:
        r = float(settings.SITING_RADIUS_M if radius_m is None else radius_m)
        if not np.isfinite(r) or r <= 0:
            msg = f"siting: radius_m must be > 0 metres, got {radius_m!r}"
            raise AnalysisError(msg)
        summary["radius_m"] = r
        cov = coverage_by_distance(dlon, dlat, clon, clat, r)
        covered = np.zeros(len(w), bool)
        if posts is not None:
            covered = nearest_posts(dlon, dlat, posts, [r])["distance_m"].to_numpy() <= r
    covered &= ok

    left = np.where(covered, 0.0, w)
    res = mclp(left, cov, k, time_limit_s)
    chosen = res.chosen
    # order by marginal gain (greedy over the chosen set), for the table
    sub = cov[:, chosen].toarray() if len(chosen) else np.zeros((len(w), 0), bool)
    alone = (left[:, None] * sub).sum(axis=0)
    order, gains, got = [], [], np.zeros(len(w), bool)
    rest = list(range(len(chosen)))
    while rest:
        g = [float(left[sub[:, c] & ~got].sum()) for c in rest]
        best = rest[int(np.argmax(g))]
        order.append(best)
        gains.append(max(g))
        got |= sub[:, best]
        rest.remove(best)
    idx = chosen[order] if len(order) else chosen
    out = gpd.GeoDataFrame({
        "rank": np.arange(1, len(idx) + 1),
        "code": ccode[idx], "name": cname[idx], "township_code": ctown[idx],
        "lon": clon[idx], "lat": clat[idx],
        "covers_population": alone[order] if len(order) else np.zeros(0),
        "gain_population": np.asarray(gains, float)},
        geometry=shapely.points(clon[idx], clat[idx]) if len(idx) else [],
        crs=f"EPSG:{settings.STORAGE_SRID}")
    total = float(w.sum())
    before = float(w[covered].sum())
    gain = float(res.objective)
    summary.update({
        "k": int(k), "n_chosen": len(idx), "n_candidates": len(clon), "n_demand": len(w),
        "population": total, "covered_before": before, "covered_after": before + gain,
        "gain": gain, "share_before": before / total if total else float("nan"),
        "share_after": (before + gain) / total if total else float("nan"),
        "status": res.status, "solver": "PuLP CBC (MCLP)", "seconds": res.seconds})
    return out, summary
