"""Checks shared by the readers of user input: file size, JSON syntax errors, text decoding.

Every reader of a file given to ``wangge ... import`` calls :func:`check_file_size` before
reading (files are read whole into memory); JSON readers turn a syntax error into one clear
line with :func:`json_error`; text readers decode with :func:`decode_text` (UTF-8, UTF-16
with a byte-order mark, GBK / GB18030), which refuses damaged UTF-8 instead of reading it
as GBK mojibake.
"""

from __future__ import annotations

import codecs
import json
from pathlib import Path

from gis import settings
from gis._errors import InputFileError

MIB = 1024 * 1024


def mib(n: float) -> str:
    """Bytes as MB text (``104,857,600`` → ``'100.0 MB'``; 1 MB = 1,048,576 bytes)."""
    return f"{n / MIB:,.1f} MB"


def check_file_size(path: str | Path, limit: int | None = None) -> int:
    """Size of ``path`` in bytes; InputFileError when it is over ``limit`` (default
    :data:`gis.settings.IMPORT_MAX_FILE_BYTES`), raised before anything is read."""
    p = Path(path)
    try:
        size = p.stat().st_size
    except OSError as e:
        msg = f"{p}: cannot be read ({e.strerror})"
        raise InputFileError(msg) from e
    limit = settings.IMPORT_MAX_FILE_BYTES if limit is None else int(limit)
    if size > limit:
        msg = f"{p}: the file is {mib(size)}, over the import limit of {mib(limit)} " \
              "(settings.IMPORT_MAX_FILE_BYTES); split it into smaller files and import them " \
              "one after the other (imports are idempotent)"
        raise InputFileError(msg)
    return size


def json_error(path: str | Path, text: str, e: json.JSONDecodeError) -> InputFileError:
    """A clear error for a JSON syntax error: where, and whether the file ends early."""
    end = text.rstrip()
    if e.pos >= len(end) or e.msg.startswith("Unterminated string"):
        line, col = end.count("\n") + 1, len(end) - (end.rfind("\n") + 1) + 1
        msg = f"{path}: the JSON ends early, at line {line}, column {col} ({e.msg}: line " \
              f"{e.lineno}, column {e.colno}); the file is truncated or incomplete: copy or " \
              "export it again"
    else:
        msg = f"{path}: not valid JSON at line {e.lineno}, column {e.colno} ({e.msg}); fix " \
              "the file there or export it again"
    return InputFileError(msg)


def _utf8_damage(raw: bytes) -> tuple[int, int] | None:
    """(lines with broken bytes, first of them) when ``raw`` is UTF-8 text damaged on a few
    lines: at most 2 lines or 1 % of the lines with non-ASCII text, and those lines at least
    three times as many. Else None (GBK text, for one, breaks on most of its lines)."""
    broken: list[int] = []
    wide = 0
    for n, line in enumerate(raw.split(b"\n"), start=1):
        if line.isascii():
            continue
        wide += 1
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            broken.append(n)
    if not broken or len(broken) > max(2, wide // 100) or wide < 3 * len(broken):
        return None
    return len(broken), broken[0]


def decode_text(raw: bytes, path: str | Path) -> str:
    """Text of a file: UTF-8 (BOM or not), UTF-16 with a BOM, else GBK / GB18030.

    Raises InputFileError naming the encoding problem: UTF-8 with a few broken bytes (and
    the line of the first), or bytes that are neither UTF-8 nor GBK.
    """
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError as e:
            msg = f"{path}: starts like UTF-16 text but is not ({e.reason} at byte {e.start}); " \
                  "save it as UTF-8 (CSV UTF-8 in Excel)"
            raise InputFileError(msg) from e
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        first_bad_line = raw.count(b"\n", 0, e.start) + 1
    damage = _utf8_damage(raw)
    if damage is not None:
        msg = f"{path}: UTF-8 text with broken bytes on {damage[0]} line(s), the first on " \
              f"line {damage[1]}; retype the text there, or save the file again as UTF-8"
        raise InputFileError(msg)
    try:
        return raw.decode("gb18030")
    except UnicodeDecodeError as e:
        msg = f"{path}: neither UTF-8 nor GBK text (the first byte that is not UTF-8 is on " \
              f"line {first_bad_line}); save it as UTF-8 (CSV UTF-8 in Excel)"
        raise InputFileError(msg) from e


def json_type(value: object) -> str:
    """The JSON name of a parsed value's type (``dict`` → ``'object'``, ``str`` → ``'string'``)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return {"str": "string", "dict": "object", "list": "array"}.get(type(value).__name__,
                                                                  type(value).__name__)
