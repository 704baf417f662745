"""The analyses on the demo county find the hotspots the generator planted (``d.hotspots``)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely

from gis.analytics import (counts_per_grid, emerging_hotspots, gi_star, kde_contours,
                           villages_outside_rings)
from gis.crs import to_metric

pytestmark = pytest.mark.slow

END = datetime(2026, 11, 2, tzinfo=ZoneInfo("Asia/Shanghai"))
NEAR_M = 500.0
"""A planted hotspot is found when a grid hot at ≥ 95 % lies within this distance of its
centre (the hotspots' spread σ is 150-500 m; groups are ~1-2 km across)."""


@pytest.fixture(scope="module")
def demo():  # noqa: ANN201
    from data.demo import build_demo

    return build_demo(n_incidents=20_000, end=END)


@pytest.fixture(scope="module")
def metric(demo):  # noqa: ANN001, ANN201
    """Groups in metres and the hotspot centres as metric points."""
    gm, utm = to_metric(demo.groups.geometry.values)
    tr = pyproj.Transformer.from_crs(4326, utm, always_xy=True)
    hx, hy = tr.transform(demo.hotspots["lon"].to_numpy(), demo.hotspots["lat"].to_numpy())
    return gm, shapely.points(hx, hy)


def _week(demo) -> np.ndarray:  # noqa: ANN001
    start = pd.Timestamp(END) - pd.Timedelta(weeks=12)
    return ((demo.incidents["occurred_at"] - start) // pd.Timedelta(weeks=1)).to_numpy()


def _distance_to_hot(demo, metric, incidents: pd.DataFrame) -> np.ndarray:  # noqa: ANN001
    g = demo.groups
    counts = counts_per_grid(g["code"], g.geometry.values, incidents["lon"], incidents["lat"])
    hot = (gi_star(g.assign(n=counts["count"].to_numpy()), "n")["gi_bin"] >= 2).to_numpy()
    gm, centres = metric
    assert hot.sum() > 0
    return np.array([shapely.distance(c, gm[hot]).min() for c in centres])


def test_gi_star_finds_the_planted_hotspots(demo, metric) -> None:  # noqa: ANN001
    hs = demo.hotspots
    dist = _distance_to_hot(demo, metric, demo.incidents)
    found = dist <= NEAR_M
    print("\nGi* on group counts, 12 weeks:", int(found.sum()), "of", len(hs), "planted hotspots "
          "have a grid hot at >= 95 % within 500 m")
    print(hs.assign(distance_m=dist.round(0), found=found)[
        ["first_week", "last_week", "weight", "sigma_m", "distance_m", "found"]].to_string())
    assert found.mean() >= 0.7

    # the last 4 weeks: the hotspots active then are found, those that faded out are not
    wk = _week(demo)
    dist4 = _distance_to_hot(demo, metric, demo.incidents[wk >= 8])
    active = (hs["last_week"] >= 8).to_numpy()
    found4 = dist4 <= NEAR_M
    print(f"last 4 weeks: {int(found4[active].sum())} of {int(active.sum())} active found, "
          f"{int(found4[~active].sum())} of {int((~active).sum())} faded ones")
    assert active.sum() >= 10 and (~active).sum() >= 2
    assert found4[active].mean() >= 0.7
    assert found4[~active].sum() <= (~active).sum() // 2


def test_emerging_patterns_follow_the_planted_timelines(demo, metric) -> None:  # noqa: ANN001
    hs = demo.hotspots
    out = emerging_hotspots(demo.groups, demo.incidents, weeks=12, end=END)
    print("\nemerging patterns:", out["pattern"].value_counts().to_dict())
    gm, centres = metric
    near = [set(out["pattern"][shapely.distance(c, gm) <= 300]) for c in centres]
    for (_, h), pats in zip(hs.iterrows(), near, strict=True):
        print(f"  weeks {h['first_week']:2d}-{h['last_week']:2d} weight {h['weight']:.2f}: "
              f"{sorted(pats)}")
    hot_now = {"new_hot", "consecutive_hot", "intensifying_hot", "persistent_hot",
               "diminishing_hot", "sporadic_hot", "oscillating_hot"}
    emerging = {"new_hot", "consecutive_hot", "sporadic_hot", "intensifying_hot"}
    late = (hs["first_week"] >= 7).to_numpy()
    faded = (hs["last_week"] <= 5).to_numpy()
    always = ((hs["first_week"] == 0) & (hs["last_week"] == 11) & (hs["weight"] >= 1.2)).to_numpy()
    assert late.sum() >= 2 and faded.sum() >= 2 and always.sum() >= 3
    late_ok = [bool(near[i] & emerging) for i in np.flatnonzero(late)]
    assert np.mean(late_ok) >= 0.75, late_ok
    assert not any(near[i] & hot_now for i in np.flatnonzero(faded))  # gone by the end
    steady = [bool(near[i] & {"persistent_hot", "intensifying_hot", "diminishing_hot"})
              for i in np.flatnonzero(always)]
    assert np.mean(steady) >= 0.5, steady


def test_kde_top_band_sits_on_a_planted_hotspot(demo, metric) -> None:  # noqa: ANN001
    inc = demo.incidents
    bands = kde_contours(inc["lon"], inc["lat"], demo.county, levels=5, bandwidth_m=400)
    print("\nKDE bands (400 m):", bands.drop(columns="geometry").round(2).to_dict("records"))
    top = to_metric(np.array([bands.geometry.iloc[-1]], dtype=object))[0][0]
    _, centres = metric
    assert shapely.intersects(top, shapely.buffer(centres, NEAR_M)).any()
    assert bands["area_km2"].iloc[-1] < bands["area_km2"].iloc[0]


def test_demo_villages_and_rings(demo) -> None:  # noqa: ANN001
    out = villages_outside_rings(demo.villages, demo.posts, groups=demo.groups)
    share5, share10 = out["inside_5km"].mean(), out["inside_10km"].mean()
    print(f"\nvillages inside 5 km: {share5:.1%}, inside 10 km: {share10:.1%}; outside 10 km: "
          f"{out.loc[out['outside_all'], 'name'].tolist()}")
    assert len(out) == len(demo.villages)
    assert (out["distance_m"] > 0).all()
    assert 0 < share5 <= share10 <= 1
    assert (out["inside_5km"] == (out["distance_m"] <= 5000)).all()
