"""CLI commands ``wangge users …`` and ``wangge audit``."""
