"""CLI command ``wangge kpi``: KPIs and rankings for a period and level."""
