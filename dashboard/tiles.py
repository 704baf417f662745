"""A local basemap for intranets: the app serves XYZ tiles from an MBTiles or PMTiles file.

Set ``WANGGE_TILE_FILE`` (or ``AppConfig.tile_file``) to a ``.mbtiles`` or ``.pmtiles`` file
(raster PNG / JPEG / WebP, or vector MVT); the dashboard then serves
``/tiles/{z}/{x}/{y}`` from it and its maps use that URL as their basemap, so no tile server
and no internet access are needed. Tiles are addressed in the XYZ scheme (y from the north);
MBTiles stores TMS rows (y from the south) and is flipped here. A missing tile is a 404
(Leaflet leaves that square empty).
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

import flask

from gis._errors import ConfigError

TILE_ROUTE = "/tiles/<int:z>/<int:x>/<int:y>"
TILE_URL_TEMPLATE = "/tiles/{z}/{x}/{y}"
"""The URL template the maps use when a tile file is served."""

MIME = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "webp": "image/webp",
        "pbf": "application/x-protobuf", "mvt": "application/x-protobuf",
        "avif": "image/avif"}


@dataclass
class Tile:
    """One tile: its bytes, MIME type and content encoding (``gzip`` for packed MVT)."""

    data: bytes
    mime: str
    encoding: str | None = None


class MBTiles:
    """Read-only access to an MBTiles file (an SQLite file of tiles, TMS rows)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        meta = dict(self._conn().execute("select name, value from metadata").fetchall())
        self.format = str(meta.get("format", "png")).lower()

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True,
                                   check_same_thread=False)
            self._local.conn = conn
        return conn

    def get(self, z: int, x: int, y: int) -> Tile | None:
        row = self._conn().execute(
            "select tile_data from tiles where zoom_level = ? and tile_column = ? and "
            "tile_row = ?", (z, x, (1 << z) - 1 - y)).fetchone()
        if row is None:
            return None
        data = bytes(row[0])
        gz = self.format in ("pbf", "mvt") and data[:2] == b"\x1f\x8b"
        return Tile(data, MIME.get(self.format, "application/octet-stream"),
                    "gzip" if gz else None)


class PMTiles:
    """Read-only access to a PMTiles v3 archive (memory-mapped)."""

    def __init__(self, path: Path) -> None:
        import mmap

        from pmtiles.reader import Reader
        from pmtiles.tile import Compression, TileType

        self.path = path
        self._file = path.open("rb")
        self._map = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ)
        self._reader = Reader(lambda offset, length: self._map[offset:offset + length])
        header = self._reader.header()
        kind = TileType(header["tile_type"])
        self.format = {TileType.MVT: "pbf", TileType.PNG: "png", TileType.JPEG: "jpg",
                       TileType.WEBP: "webp", TileType.AVIF: "avif"}.get(kind, "bin")
        self.encoding = "gzip" if header["tile_compression"] == Compression.GZIP else None

    def get(self, z: int, x: int, y: int) -> Tile | None:
        data = self._reader.get(z, x, y)
        if not data:
            return None
        return Tile(bytes(data), MIME.get(self.format, "application/octet-stream"),
                    self.encoding)


def open_tiles(path: str | Path) -> MBTiles | PMTiles:
    """Open a tile file by its suffix; a clear error when it is missing or not one."""
    p = Path(path)
    if not p.is_file():
        msg = f"tile file {p} not found (WANGGE_TILE_FILE / --tile-file)"
        raise ConfigError(msg)
    try:
        if p.suffix.lower() == ".mbtiles":
            return MBTiles(p)
        if p.suffix.lower() == ".pmtiles":
            return PMTiles(p)
    except (sqlite3.DatabaseError, ValueError, KeyError, Exception) as e:
        msg = f"tile file {p} cannot be read as {p.suffix[1:]}: {e}"
        raise ConfigError(msg) from e
    msg = f"tile file {p} must end in .mbtiles or .pmtiles"
    raise ConfigError(msg)


def register_tile_routes(server: flask.Flask, path: str | Path) -> str:
    """Serve ``/tiles/{z}/{x}/{y}`` from ``path``; returns the URL template for the maps."""
    source = open_tiles(path)

    def tile(z: int, x: int, y: int) -> flask.Response:
        if not (0 <= z <= 24 and 0 <= x < (1 << z) and 0 <= y < (1 << z)):
            flask.abort(404)
        found = source.get(z, x, y)
        if found is None:
            flask.abort(404)
        resp = flask.Response(found.data, mimetype=found.mime)
        if found.encoding:
            resp.headers["Content-Encoding"] = found.encoding
        resp.headers["Cache-Control"] = "public, max-age=86400"
        return resp

    server.add_url_rule(TILE_ROUTE, "wangge_tile", tile)
    return TILE_URL_TEMPLATE
