"""Compressed responses: dynamic ones on the fly, the big static bundles once, at maximum.

* Dash's static bundles (``/_dash-component-suites/…``, ``/assets/…``; plotly.js alone is
  4.6 MB) are compressed once per file and encoding with brotli quality 11 (or gzip 9):
  about 15 % smaller than fast brotli. That takes seconds (12 s for plotly.js), so it runs in
  a background thread on the first request for a file, which meanwhile gets the fast
  on-the-fly encoding; the result is kept in memory and on disk (``var/cache/static``), so
  later requests and later server starts get it at no cost.
* Everything else (callback JSON, GeoJSON layers, pages) goes through flask-compress
  (zstd / brotli quality 5 / gzip 6).
"""

from __future__ import annotations

import gzip
import hashlib
import threading
from pathlib import Path

import flask

from gis import settings
from gis.store.cluster import REPO_ROOT

STATIC_PREFIXES: tuple[str, ...] = ("/_dash-component-suites/", "/assets/")
CACHE_DIR: Path = REPO_ROOT / "var" / "cache" / "static"
_cache: dict[tuple[str, str], bytes] = {}
_pending: set[tuple[str, str]] = set()
_lock = threading.Lock()


def _encode(data: bytes, encoding: str) -> bytes:
    if encoding == "br":
        import brotli

        return brotli.compress(data, quality=11)
    return gzip.compress(data, compresslevel=9)


def _disk_path(key: tuple[str, str], data: bytes) -> Path:
    digest = hashlib.sha256(key[0].encode() + b"\0" + data).hexdigest()[:32]
    return CACHE_DIR / f"{digest}.{key[1]}"


def _from_disk(key: tuple[str, str], data: bytes) -> bytes | None:
    path = _disk_path(key, data)
    try:
        body = path.read_bytes()
    except OSError:
        return None
    with _lock:
        _cache[key] = body
    return body


def _compress_later(key: tuple[str, str], data: bytes) -> None:
    with _lock:
        if key in _pending:
            return
        _pending.add(key)

    def work() -> None:
        body = _encode(data, key[1])
        with _lock:
            _cache[key] = body
            _pending.discard(key)
        try:
            path = _disk_path(key, data)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(path.suffix + ".tmp")
            tmp.write_bytes(body)
            tmp.replace(path)
        except OSError:
            pass  # a read-only checkout: memory only

    threading.Thread(target=work, name="wangge-compress", daemon=True).start()


def _static_bundle(response: flask.Response) -> flask.Response:
    req = flask.request
    if (req.method != "GET" or response.status_code != 200
            or not req.path.startswith(STATIC_PREFIXES)
            or "Content-Encoding" in response.headers
            or response.mimetype not in ("application/javascript", "text/javascript", "text/css")):
        return response
    accept = req.headers.get("Accept-Encoding", "")
    encoding = "br" if "br" in accept else "gzip" if "gzip" in accept else None
    if encoding is None:
        return response
    response.direct_passthrough = False
    data = response.get_data()
    if len(data) < settings.COMPRESS_MIN_BYTES:
        return response
    key = (req.full_path, encoding)
    body = _cache.get(key) or _from_disk(key, data)
    if body is None:
        _compress_later(key, data)
        return response  # flask-compress encodes this one on the fly
    response.set_data(body)
    response.headers["Content-Encoding"] = encoding
    response.headers["Content-Length"] = str(len(body))
    vary = response.headers.get("Vary")
    response.headers["Vary"] = f"{vary}, Accept-Encoding" if vary else "Accept-Encoding"
    return response


def install(server: flask.Flask) -> None:
    """Compress the responses of ``server`` (call once, after the routes are registered)."""
    from flask_compress import Compress

    server.config.setdefault("COMPRESS_MIMETYPES", [
        "text/html", "text/css", "text/javascript", "application/javascript",
        "application/json", "application/geo+json", "image/svg+xml"])
    server.config.setdefault("COMPRESS_MIN_SIZE", settings.COMPRESS_MIN_BYTES)
    server.config.setdefault("COMPRESS_BR_LEVEL", 5)
    server.config.setdefault("COMPRESS_ALGORITHM", ["br", "gzip", "deflate"])
    Compress(server)
    server.after_request(_static_bundle)  # runs before flask-compress's hook (reverse order)
