"""CLI commands for grid balance and repair: ``wangge grids report`` and ``wangge grids fix``."""

from __future__ import annotations
