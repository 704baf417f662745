"""CLI commands for incidents: import (registered as ``wangge incidents``)."""

from __future__ import annotations
