"""Compressed responses: dynamic ones on the fly, the big static bundles once, at maximum.

* Dash's static bundles (``/_dash-component-suites/…``, ``/assets/…``; plotly.js alone is
  4.6 MB) are compressed once per file and encoding with brotli quality 11 (or gzip 9) and
  kept in memory: about 30 % smaller than on-the-fly brotli and no CPU per request.
* Everything else (callback JSON, GeoJSON layers, pages) goes through flask-compress
  (zstd / brotli / gzip at fast levels).
"""

from __future__ import annotations

import gzip
import threading

import flask

from gis import settings

STATIC_PREFIXES: tuple[str, ...] = ("/_dash-component-suites/", "/assets/")
_cache: dict[tuple[str, str], bytes] = {}
_lock = threading.Lock()


def _encode(data: bytes, encoding: str) -> bytes:
    if encoding == "br":
        import brotli

        return brotli.compress(data, quality=11)
    return gzip.compress(data, compresslevel=9)


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
    body = _cache.get(key)
    if body is None:
        body = _encode(data, encoding)
        with _lock:
            _cache[key] = body
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
    Compress(server)
    server.after_request(_static_bundle)  # runs before flask-compress's hook (reverse order)
