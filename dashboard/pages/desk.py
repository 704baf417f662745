"""Operator desk (受理台, ``/desk``): intake, dispatch and follow-up of incidents.

For the command centre's operators at a workstation:

* **Intake** (受理登记) — kind (the catalogue of ``settings.INCIDENT_KINDS``), time
  (default now, Asia/Shanghai), location by a click on the map (the grid found for the point
  is shown) or by an address with the matcher's suggested grids and their scores,
  description, reporter. The incident is stored through the same intake path as
  ``POST /api/incidents`` (source ``settings.DESK_SOURCE``): validation and deduplication
  apply, errors are shown under each field.
* **Queue** — the open incidents sorted by the time left in their current step, with
  reminders (提醒), warnings (警示, overdue) and escalations (升级) marked by icon, word and
  colour-blind-safe colour; refreshed every ``settings.DESK_REFRESH_S`` seconds.
* **Detail** — the whole audit trail and buttons for exactly the actions allowed in the
  incident's state (分流派遣 to a village station, township department, police post or
  county department; 签收; 办结 with feedback; 回访 with satisfaction; 归档; 重新办理); each
  calls :func:`gis.incidents.workflow.transition` with actor ``settings.DESK_ACTOR``.

``/desk?incident=ID`` opens that incident. Component ids start with ``desk-``; layout in
:mod:`dashboard.desk_layout` and :mod:`dashboard.desk_views`, callbacks in
:mod:`dashboard.desk_callbacks`, data in :mod:`dashboard.desk_data` and
:mod:`dashboard.desk_intake`.
"""

from __future__ import annotations

from typing import Any

import dash
from dash import html

from dashboard import desk_callbacks
from dashboard.desk_layout import skeleton
from layers.i18n import t

dash.register_page(__name__, path="/desk", name=t("page.desk"), name_key="page.desk", order=2,
                   title=t("page.desk"))

PREFIX = "desk-"


def layout(incident: Any = None, **_kwargs: Any) -> html.Div:
    """Page skeleton; :func:`dashboard.desk_callbacks.render` fills it in the language of
    the ``app-lang`` store."""
    return skeleton(incident)


desk_callbacks.register()
