"""Edit operations on a draft grid version, each validated before it is applied and logged.

Every operation works inside the caller's transaction (``with engine.begin() as conn``):
it locks the draft (``SELECT ... FOR UPDATE``; a published or retired version is refused
with :class:`PlanningError`), computes the new grids in memory, nodes the neighbours (see
:mod:`gis.grids.edits_geom`), validates the **affected villages** (the villages touched and
all their groups, against the area those villages covered before) with
:func:`gis.grids.topology.validate`, and only then writes the grids and one ``grid_edit``
row (actor, time, op, codes and full grids before / after). An edit may not introduce a
topology *error*; errors already present in the affected villages before (same type, level
and area within 1 % or 1 m²) are tolerated, so an imported draft with defects can still be
edited toward validity. A refused edit raises :class:`TopologyRefused` with the new
problems and writes nothing.

Attributes (documented rules)
-----------------------------
* **split**: population and households are divided by area share (largest remainder, so
  the parts add up exactly). A *village* with groups is split along its groups' edges: each
  group goes to the side of the line holding most of it, the new villages are the unions of
  their groups, and their figures are divided in proportion to their groups' figures (so
  they keep agreeing with their groups; area share when a group lacks the figure). A group
  the line really cuts (more than :data:`STRADDLE_SHARE` of it on its smaller side) makes
  the split refused, naming it, unless ``split_groups=True``, which first splits such
  groups by the same line (into one group per side). Pieces keep the worker and township;
  they are numbered west to east; default codes are the parent code + ``001``, ``002``...
  (skipping any code ever used in the county), default names the parent name + ``-1``,
  ``-2``... A line that ends inside the grid does not cut it (refused).
* **merge**: same level, same parent, and connected through shared edges (touching at a
  point is not enough). Figures are summed; the code defaults to the smallest code, the
  name and worker to that grid's. Groups of merged villages move to the merged village.
* **move_group**: the group must share an edge with its new village; its old village loses
  its area and figures, the new one gains them (village level stays a tiling). A village
  would be left without groups → refused (merge the villages instead).
* **redraw_edge**: the union of the two neighbours is cut by the new edge; each piece
  goes to the grid it overlapped most, so their union — and every other grid — is
  unchanged. Ends within :data:`EDGE_SNAP_M` of an existing vertex are snapped onto it.
  Groups in different villages carry their villages' edge along; villages carry their
  groups (area they lose is cut from their groups, area they gain joins the group sharing
  the longest boundary with it). Figures do not change (set them with set_attrs).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import shapely

from gis.grids import edits_core as core
from gis.grids import edits_geom as eg
from gis.grids.edits_core import EditResult, GridRow
from gis.grids.versions import PlanningError, require_draft

__all__ = ["EDGE_SNAP_M", "STRADDLE_SHARE", "EditResult", "merge", "move_group", "recode",
           "redraw_edge", "rename", "set_attrs", "split"]

STRADDLE_SHARE = 0.02
"""A village split refuses (or, with ``split_groups``, splits) a group when more than this
share of the group's area lies on its smaller side of the line."""

EDGE_SNAP_M = 2.0
"""Ends of a redrawn edge within this many metres of an existing vertex are snapped onto it."""

_KEEP: Any = object()


def _codes_names(conn: Any, v: dict, g: GridRow, n: int, codes: Sequence[str] | None,
                 names: Sequence[str] | None, taken: set[str]) -> tuple[list[str], list[str]]:
    if codes:
        codes = [str(c) for c in codes]
        if len(codes) != n:
            msg = f"the line cuts {g.code} into {n} pieces but {len(codes)} codes were given"
            raise PlanningError(msg)
        core.check_codes(conn, int(v["id"]), codes, free_from={g.code})
    else:
        codes = core.new_codes(conn, str(v["adcode"]), g.code, n, taken)
    if names and len(names) != n:
        msg = f"the line cuts {g.code} into {n} pieces but {len(names)} names were given"
        raise PlanningError(msg)
    taken.update(codes)
    return list(codes), list(names) if names else [f"{g.name}-{i + 1}" for i in range(n)]


def _pieces(conn: Any, v: dict, g: GridRow, geoms: list, codes: Sequence[str] | None,
            names: Sequence[str] | None, taken: set[str],
            weights: dict[str, list[float]] | None = None) -> list[GridRow]:
    """Rows of the pieces of ``g``: figures by ``weights`` (default: metric area share)."""
    codes, names = _codes_names(conn, v, g, len(geoms), codes, names, taken)
    area = list(core.metric_areas(geoms))
    w = weights or {}
    pop = eg.shares(g.population, w.get("population", area))
    hh = eg.shares(g.households, w.get("households", area))
    return [g.but(code=c, name=n, geom=p, population=a, households=b, area_m2=None)
            for c, n, p, a, b in zip(codes, names, geoms, pop, hh, strict=True)]


def split(conn: Any, version_id: int, code: str, line_wkt: str,
          new_codes: Sequence[str] | None = None, names: Sequence[str] | None = None, *,
          actor: str, split_groups: bool = False) -> EditResult:
    """Split grid ``code`` of a draft by a line (WKT, EPSG:4490) into two or more grids.

    See the module doc for codes, names, figures and how a village's groups follow.
    """
    v = require_draft(conn, version_id)
    g = core.get(conn, version_id, code)
    line = eg.parse_line(line_wkt)
    taken: set[str] = set()
    kids = core.children(conn, version_id, [code]) if g.level == 1 else {}
    detail: dict[str, Any] = {"line": line.wkt}
    if not kids:
        after = _pieces(conn, v, g, eg.split_polygon(g.geom, line), new_codes, names, taken)
        return core.apply(conn, v, "split", actor, [g], after, detail)
    halves = eg.split_polygon(g.geom, line)
    inter = np.array([[shapely.area(shapely.intersection(k.geom, h)) for h in halves]
                      for k in kids.values()])
    frac = inter / np.maximum(inter.sum(axis=1, keepdims=True), 1e-300)
    minor = 1.0 - frac.max(axis=1)
    cut = [k for k, m in zip(kids.values(), minor, strict=True) if m > STRADDLE_SHARE]
    if cut and not split_groups:
        desc = ", ".join(f"{k.code} ({m:.0%} on the smaller side)"
                         for k, m in zip(kids.values(), minor, strict=True) if k in cut)
        msg = f"the line cuts through group(s) {desc} of village {code}: draw it along the " \
              "groups' edges, split those groups first with the same line, or pass " \
              "split_groups (--split-groups)"
        raise PlanningError(msg)
    side: dict[int, list[GridRow]] = {}
    for k, f in zip(kids.values(), frac, strict=True):
        if k not in cut:
            side.setdefault(int(np.argmax(f)), []).append(k)
            continue
        by_side: dict[int, list] = {}  # a cut group: one group per side of the line
        for p in eg.split_polygon(k.geom, line, attach=False):
            j = int(np.argmax([shapely.area(shapely.intersection(p, h)) for h in halves]))
            by_side.setdefault(j, []).append(p)
        parts = _pieces(conn, v, k, [eg.union(by_side[j]) for j in sorted(by_side)], None,
                        None, taken)
        for j, p in zip(sorted(by_side), parts, strict=True):
            side.setdefault(j, []).append(p)
    if len(side) < 2:
        msg = f"the line does not separate any of the groups of village {code}: every group " \
              "would stay on one side"
        raise PlanningError(msg)
    sides = [side[j] for j in sorted(side)]
    geoms = [eg.union([k.geom for k in s]) for s in sides]
    weights = {}
    for f in ("population", "households"):
        if all(getattr(k, f) is not None for s in sides for k in s):
            weights[f] = [float(sum(getattr(k, f) for k in s)) for s in sides]
    villages = _pieces(conn, v, g, geoms, new_codes, names, taken, weights)
    groups = [k.but(parent_code=vg.code) for vg, s in zip(villages, sides, strict=True)
              for k in s]
    detail.update(groups_split=[k.code for k in cut])
    return core.apply(conn, v, "split", actor, [g, *kids.values()], villages + groups, detail)


def merge(conn: Any, version_id: int, codes: Sequence[str], new_code: str | None = None,
          name: str | None = None, *, actor: str) -> EditResult:
    """Merge adjacent grids of the same level and parent into one (see the module doc)."""
    v = require_draft(conn, version_id)
    codes = list(dict.fromkeys(str(c) for c in codes))
    if len(codes) < 2:
        msg = "merge needs at least two different grid codes"
        raise PlanningError(msg)
    rows = [core.get(conn, version_id, c) for c in codes]
    if len({r.level for r in rows}) > 1:
        msg = f"grids {codes} are not all of the same level (villages and groups cannot merge)"
        raise PlanningError(msg)
    parents = {r.code: r.parent_code for r in rows}
    if len(set(parents.values())) > 1:
        msg = f"grids of different parents cannot merge: {parents}; move the groups into " \
              "one village first (move_group)"
        raise PlanningError(msg)
    comps = eg.connected([r.geom for r in rows])
    if len(comps) > 1:
        parts = " | ".join(", ".join(rows[i].code for i in c) for c in comps)
        msg = f"grids {', '.join(codes)} are not adjacent (no shared edge joins them: " \
              f"{parts}); only neighbouring grids can be merged"
        raise PlanningError(msg)
    keep = str(new_code) if new_code else min(codes)
    core.check_codes(conn, version_id, [keep], free_from=set(codes))
    base = next((r for r in rows if r.code == keep), min(rows, key=lambda r: r.code))
    workers = {r.worker for r in rows}
    merged = base.but(code=keep, name=name or base.name,
                      geom=eg.union([r.geom for r in rows]),
                      population=core.total([r.population for r in rows]),
                      households=core.total([r.households for r in rows]),
                      worker=workers.pop() if len(workers) == 1 else base.worker)
    before, after = list(rows), [merged]
    if rows[0].level == 1:
        kids = core.children(conn, version_id, codes)
        before += kids.values()
        after += [k.but(parent_code=keep) for k in kids.values()]
    return core.apply(conn, v, "merge", actor, before, after, {"merged": codes})


def _plus(a: int | None, b: int | None, sign: int) -> int | None:
    return a if a is None or b is None else a + sign * b


def move_group(conn: Any, version_id: int, group_code: str, new_village_code: str, *,
               actor: str) -> EditResult:
    """Move a group to a neighbouring village; both villages change with it."""
    v = require_draft(conn, version_id)
    g = core.get(conn, version_id, group_code, level=2)
    a = core.get(conn, version_id, str(g.parent_code), level=1)
    b = core.get(conn, version_id, new_village_code, level=1)
    if a.code == b.code:
        msg = f"group {group_code} already belongs to village {new_village_code}"
        raise PlanningError(msg)
    if eg.shared_edge_length(g.geom, b.geom) <= eg.MIN_SHARED_DEG:
        msg = f"group {group_code} does not share an edge with village {new_village_code}; " \
              "a group can only move to a neighbouring village"
        raise PlanningError(msg)
    if len(core.children(conn, version_id, [a.code])) <= 1:
        msg = f"group {group_code} is the last group of village {a.code}; merge the " \
              "villages instead"
        raise PlanningError(msg)
    after = [g.but(parent_code=b.code, township_code=b.township_code),
             a.but(geom=eg.difference(a.geom, g.geom),
                   population=_plus(a.population, g.population, -1),
                   households=_plus(a.households, g.households, -1)),
             b.but(geom=eg.union([b.geom, g.geom]),
                   population=_plus(b.population, g.population, 1),
                   households=_plus(b.households, g.households, 1))]
    return core.apply(conn, v, "move", actor, [g, a, b], after,
                      {"from_village": a.code, "to_village": b.code})


def _give(groups: list[GridRow], lost: Any, gained: Any) -> list[GridRow]:
    """``groups`` of a village minus the area it ``lost``, plus each piece of ``gained``
    joined to the group sharing the longest boundary with it; empty group → refused."""
    out = []
    for k in groups:
        if shapely.intersects(k.geom, lost) and shapely.area(shapely.intersection(k.geom, lost)) > 0:
            k = k.but(geom=eg.difference(k.geom, lost))
            if k.geom.is_empty:
                msg = f"the new edge would swallow group {k.code}; move it with move_group"
                raise PlanningError(msg)
        out.append(k)
    for p in shapely.get_parts(gained):
        if not out:
            break
        j = int(np.argmax([eg.shared_edge_length(k.geom, p) for k in out]))
        out[j] = out[j].but(geom=eg.union([out[j].geom, p]))
    return out


def redraw_edge(conn: Any, version_id: int, code_a: str, code_b: str, new_edge_wkt: str, *,
                actor: str) -> EditResult:
    """Redraw the edge between two neighbouring grids; both change together (see module doc)."""
    v = require_draft(conn, version_id)
    a, b = core.get(conn, version_id, code_a), core.get(conn, version_id, code_b)
    if a.level != b.level:
        msg = f"{code_a} and {code_b} are not of the same level"
        raise PlanningError(msg)
    if eg.shared_edge_length(a.geom, b.geom) <= eg.MIN_SHARED_DEG:
        msg = f"{code_a} and {code_b} do not share an edge; only neighbours' edges can be redrawn"
        raise PlanningError(msg)
    u = eg.union([a.geom, b.geom])
    line = eg.snap_line_ends(eg.parse_line(new_edge_wkt), u, EDGE_SNAP_M)
    try:
        pieces = eg.split_polygon(u, line, attach=False)
    except PlanningError:
        pieces = eg.split_polygon(u, eg.extend_line(line, EDGE_SNAP_M / eg.M_PER_DEG),
                                  attach=False)
    to_a = [p for p in pieces if shapely.area(shapely.intersection(p, a.geom))
            >= shapely.area(shapely.intersection(p, b.geom))]
    to_b = [p for p in pieces if not any(p is q for q in to_a)]
    if not to_a or not to_b:
        gone = code_b if not to_b else code_a
        msg = f"the new edge would leave nothing of {gone}; merge the grids instead"
        raise PlanningError(msg)
    a2 = a.but(geom=eg.union(to_a))
    b2 = b.but(geom=eg.union(to_b))
    ab, ba = eg.difference(a.geom, a2.geom), eg.difference(b.geom, b2.geom)  # a→b, b→a
    if shapely.area(ab) + shapely.area(ba) == 0:
        msg = "the new edge changes nothing; draw it from one end of the shared edge to the other"
        raise PlanningError(msg)
    before, after = [a, b], [a2, b2]
    if a.level == 2 and a.parent_code != b.parent_code:
        va = core.get(conn, version_id, str(a.parent_code), level=1)
        vb = core.get(conn, version_id, str(b.parent_code), level=1)
        before += [va, vb]
        after += [va.but(geom=eg.union([eg.difference(va.geom, ab), ba])),
                  vb.but(geom=eg.union([eg.difference(vb.geom, ba), ab]))]
    elif a.level == 1:
        ga = list(core.children(conn, version_id, [a.code]).values())
        gb = list(core.children(conn, version_id, [b.code]).values())
        before += ga + gb
        after += _give(ga, ab, ba) + _give(gb, ba, ab)
    detail = {"line": line.wkt, "area_a_to_b_deg2": shapely.area(ab),
              "area_b_to_a_deg2": shapely.area(ba)}
    return core.apply(conn, v, "redraw_edge", actor, before, after, detail)


def rename(conn: Any, version_id: int, code: str, name: str, *, actor: str) -> EditResult:
    """Give grid ``code`` a new name."""
    v = require_draft(conn, version_id)
    if not name or not name.strip():
        msg = "the new name is empty"
        raise PlanningError(msg)
    g = core.get(conn, version_id, code)
    return core.apply(conn, v, "rename", actor, [g], [g.but(name=name.strip())],
                      {"from": g.name, "to": name.strip()}, geometry=False)


def recode(conn: Any, version_id: int, code: str, new_code: str, *, actor: str) -> EditResult:
    """Give grid ``code`` a new code (a village's groups follow: their parent_code changes)."""
    v = require_draft(conn, version_id)
    g = core.get(conn, version_id, code)
    core.check_codes(conn, version_id, [str(new_code)], free_from=set())
    before, after = [g], [g.but(code=str(new_code))]
    if g.level == 1:
        kids = list(core.children(conn, version_id, [code]).values())
        before += kids
        after += [k.but(parent_code=str(new_code)) for k in kids]
    return core.apply(conn, v, "recode", actor, before, after,
                      {"from": code, "to": str(new_code)}, geometry=False)


def _count(name: str, value: Any) -> int | None:
    if value is None:
        return None
    try:
        n = int(value)
    except (TypeError, ValueError):
        n = -1
    if n < 0 or n != value:
        msg = f"{name} must be a whole number >= 0, not {value!r}"
        raise PlanningError(msg)
    return n


def set_attrs(conn: Any, version_id: int, code: str, *, population: Any = _KEEP,
              households: Any = _KEEP, worker: Any = _KEEP, actor: str) -> EditResult:
    """Set population, households and / or the grid worker of grid ``code`` (None clears).

    A group's change of population / households is carried to its village's figure (when
    the village has one), so a village keeps agreeing with its groups.
    """
    v = require_draft(conn, version_id)
    g = core.get(conn, version_id, code)
    new: dict[str, Any] = {}
    if population is not _KEEP:
        new["population"] = _count("population", population)
    if households is not _KEEP:
        new["households"] = _count("households", households)
    if worker is not _KEEP:
        new["worker"] = str(worker).strip() or None if worker is not None else None
    if not new:
        msg = "set_attrs: give population, households and / or worker"
        raise PlanningError(msg)
    before, after = [g], [g.but(**new)]
    if g.level == 2 and g.parent_code and ("population" in new or "households" in new):
        vil = core.get(conn, version_id, g.parent_code, level=1)
        delta = {f: _plus(new[f], getattr(g, f), -1) for f in ("population", "households")
                 if f in new}
        upd = {f: _plus(getattr(vil, f), d, 1) for f, d in delta.items()
               if d is not None and getattr(vil, f) is not None}
        if upd:
            before.append(vil)
            after.append(vil.but(**upd))
    detail = {"set": new, "was": {k: getattr(g, k) for k in new}}
    return core.apply(conn, v, "set_attrs", actor, before, after, detail, geometry=False)
