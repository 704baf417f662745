"""CLI commands for planners: drafts, edits, publish, diff (registered on ``wangge grids``)."""

from __future__ import annotations
