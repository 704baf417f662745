"""A local basemap: XYZ tiles served from MBTiles (TMS rows) and PMTiles files."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import flask
import pytest

from dashboard.tiles import TILE_URL_TEMPLATE, open_tiles, register_tile_routes
from gis._errors import ConfigError

PNG = b"\x89PNG\r\n\x1a\n"


def tile_bytes(z: int, x: int, y: int) -> bytes:
    """A distinct fake PNG per XYZ address."""
    return PNG + f"z{z}x{x}y{y}".encode()


def _xy_range(z: int, bbox: tuple[float, float, float, float] | None) -> tuple[range, range]:
    """Tile columns and XYZ rows of zoom ``z`` covering ``bbox`` (lon/lat), or all."""
    if bbox is None:
        return range(1 << z), range(1 << z)
    import math

    def tile(lon: float, lat: float) -> tuple[int, int]:
        n = 1 << z
        y = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
        return int((lon + 180) / 360 * n), int(y)

    (x0, y0), (x1, y1) = tile(bbox[0], bbox[3]), tile(bbox[2], bbox[1])
    return range(x0, x1 + 1), range(y0, y1 + 1)


def make_mbtiles(path: Path, zooms: range = range(3),
                 bbox: tuple[float, float, float, float] | None = None) -> Path:
    """An MBTiles file of fake PNG tiles, all of the world or only those over ``bbox``."""
    conn = sqlite3.connect(path)
    conn.executescript("create table metadata (name text, value text);"
                       "create table tiles (zoom_level integer, tile_column integer, "
                       "tile_row integer, tile_data blob);")
    conn.executemany("insert into metadata values (?, ?)", [("format", "png"), ("name", "t")])
    for z in zooms:
        xs, ys = _xy_range(z, bbox)
        for x in xs:
            for y in ys:  # MBTiles rows count from the south (TMS)
                conn.execute("insert into tiles values (?, ?, ?, ?)",
                             (z, x, (1 << z) - 1 - y, tile_bytes(z, x, y)))
    conn.commit()
    conn.close()
    return path


def make_pmtiles(path: Path, zooms: range = range(3)) -> Path:
    from pmtiles.tile import Compression, TileType, zxy_to_tileid
    from pmtiles.writer import write

    with write(str(path)) as w:
        ids = sorted((zxy_to_tileid(z, x, y), (z, x, y)) for z in zooms
                     for x in range(1 << z) for y in range(1 << z))
        for tid, (z, x, y) in ids:
            w.write_tile(tid, tile_bytes(z, x, y))
        w.finalize({"tile_type": TileType.PNG, "tile_compression": Compression.NONE,
                    "min_zoom": 0, "max_zoom": max(zooms), "min_lon_e7": -1800000000,
                    "min_lat_e7": -850000000, "max_lon_e7": 1800000000,
                    "max_lat_e7": 850000000, "center_zoom": 0, "center_lon_e7": 0,
                    "center_lat_e7": 0}, {"name": "t"})
    return path


@pytest.fixture(params=["mbtiles", "pmtiles"])
def tile_file(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    make = make_mbtiles if request.param == "mbtiles" else make_pmtiles
    return make(tmp_path / f"base.{request.param}")


def test_tiles_are_served_in_xyz_order(tile_file: Path) -> None:
    server = flask.Flask("t")
    url = register_tile_routes(server, tile_file)
    client = server.test_client()

    got = {(z, x, y): client.get(f"/tiles/{z}/{x}/{y}") for z, x, y in
           [(0, 0, 0), (1, 0, 0), (1, 0, 1), (2, 3, 1), (2, 1, 3)]}
    missing = client.get("/tiles/5/0/0")
    outside = client.get("/tiles/1/2/0")

    assert url == TILE_URL_TEMPLATE
    for (z, x, y), resp in got.items():
        assert resp.status_code == 200
        assert resp.data == tile_bytes(z, x, y)
        assert resp.mimetype == "image/png"
    assert missing.status_code == 404
    assert outside.status_code == 404


def test_bad_tile_files_are_refused_clearly(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mbtiles"
    junk.write_bytes(b"not sqlite at all" * 10)
    other = tmp_path / "tiles.zip"
    other.write_bytes(b"PK")

    with pytest.raises(ConfigError, match="not found"):
        open_tiles(tmp_path / "none.pmtiles")
    with pytest.raises(ConfigError, match="cannot be read as mbtiles"):
        open_tiles(junk)
    with pytest.raises(ConfigError, match="must end in .mbtiles or .pmtiles"):
        open_tiles(other)
