"""CLI commands for operations: ``wangge db backup|restore``, ``wangge bench load|dashboard``."""
