"""KPIs of the incident work (按时办结率, 办结率, 回访满意率, 调解成功率, 现场调解率, 后期办结率,
escalations, time per step), 四无 villages and rankings, per group grid, village, township and
county for any period.

* :mod:`gis.kpi.definitions` — the exact definition of every KPI (one documented function
  each);
* :mod:`gis.kpi.facts` — the per-incident facts (SQL) they are computed from;
* :mod:`gis.kpi.period` — periods (``2026-W47``, ``2026-11``, ``2026-11-01:2026-11-30``);
* :mod:`gis.kpi.compute` — the KPI table of a level for a period;
* :mod:`gis.kpi.siwu` — 四无 villages;
* :mod:`gis.kpi.rankings` — composite score and ranks of villages and townships.
"""
