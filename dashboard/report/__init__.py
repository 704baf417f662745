"""The weekly briefing (周例会 / 双周研判): one builder, rendered as self-contained HTML and printed to PDF."""
