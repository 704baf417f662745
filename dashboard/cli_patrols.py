"""CLI commands for patrols: ``wangge patrols import|compliance``."""
