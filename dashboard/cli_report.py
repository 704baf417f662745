"""CLI command ``wangge report weekly``: the leaders' briefing as HTML and PDF."""
