"""Bad input catalogue for the web side: ``POST /api/incidents``, the desk form, the planner's
upload, and how hostile text is shown on the desk and the wall.

The API runs on a bare Flask app (``register_api``) with a real API token, on a fresh copy of
the demo county's grids (:func:`tests.gis.test_bad_input.bad_db_url`); every refused request
must leave the row count of every table unchanged. The browser tests run ``wangge serve``
on the same database in Debian's Chromium.
"""

from __future__ import annotations

import base64
import io
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from dashboard import desk_intake, desk_views, planner_ops
from gis import settings
from tests.dashboard.test_browser import OUTPUT, run_server
from tests.gis.test_bad_input import (  # noqa: F401 - fixtures
    IMG,
    MB100,
    SCRIPT,
    SQL,
    bad_db_url,
    beng,
    counts,
    spot,
)

SOURCE = "t-api"
LIMIT = 5 * 1024 * 1024


class Body(io.RawIOBase):
    """A request body of ``size`` bytes made on demand, counting what the server reads."""

    def __init__(self, size: int) -> None:
        self.size, self.pos, self.read_bytes = size, 0, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:  # the test client measures the body by seeking
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        self.pos = {0: offset, 1: self.pos + offset, 2: self.size + offset}[whence]
        return self.pos

    def tell(self) -> int:
        return self.pos

    def readinto(self, buf: memoryview) -> int:  # type: ignore[override]
        n = max(0, min(len(buf), self.size - self.pos))
        buf[:n] = b"[" * n
        self.pos += n
        self.read_bytes += n
        return n


@pytest.fixture(scope="module")
def token(beng) -> str:  # noqa: F811
    """An API token for source ``t-api`` over the demo county."""
    from gis.auth.tokens import create_token

    with beng.begin() as conn:
        _, secret = create_token(conn, "bad-input", SOURCE, "620702", actor="test")
    return secret


@pytest.fixture(scope="module")
def client(beng):  # noqa: F811
    from flask import Flask

    from gis.incidents.api import register_api

    app = Flask("bad-input")
    register_api(app, lambda: beng)
    return app.test_client()


def post(client, token: str, body: object = None, **kw: object):
    kw.setdefault("headers", {"Authorization": f"Bearer {token}"})
    if body is not None:
        kw["json"] = body
    return client.post(f"/api/incidents?source={SOURCE}", **kw)


def item(spot: dict, sid: str, **kw: object) -> dict:  # noqa: F811
    return {"source_id": sid, "kind": "dispute", "occurred_at": "2025-06-01T08:00:00+08:00",
            "lon": spot["lon"], "lat": spot["lat"], "reporter": "网格员"} | kw


def refused(beng, res, status: int, before: dict) -> dict:  # noqa: F811
    assert res.status_code == status, res.get_json()
    assert counts(beng) == before
    return res.get_json()


# --- POST /api/incidents ---------------------------------------------------------------------

def test_api_100_mb_body_is_refused_without_reading_it(client, token: str, beng) -> None:  # noqa: F811
    before = counts(beng)
    sized, chunked = Body(MB100), Body(MB100)

    declared = post(client, token, input_stream=sized, content_type="application/json")
    streamed = post(client, token, input_stream=chunked, content_type="application/json",
                    headers={"Authorization": f"Bearer {token}",
                             "Transfer-Encoding": "chunked"},  # no Content-Length
                    environ_overrides={"CONTENT_LENGTH": "", "wsgi.input_terminated": True})

    assert refused(beng, declared, 413, before) == {
        "error": "body of 104857600 bytes is over the limit of 5242880 bytes; send fewer "
                 "incidents per request"}
    assert sized.read_bytes == 0  # refused on its Content-Length alone
    assert refused(beng, streamed, 413, before) == {
        "error": "body is over the limit of 5242880 bytes; send fewer incidents per request"}
    assert LIMIT < chunked.read_bytes <= LIMIT + 65_536  # read only up to the limit


def test_api_malformed_json_and_wrong_types(client, token: str, beng, spot: dict) -> None:  # noqa: F811
    before = counts(beng)
    text = json.dumps([item(spot, "M1")], ensure_ascii=False)

    truncated = post(client, token, data=text[:40], content_type="application/json")
    not_objects = post(client, token, [item(spot, "M2"), [1, 2], "x"])
    typed = post(client, token, [item(spot, "M3", reporter={"name": "张三"}),
                                 item(spot, "M4", lon=[100.4, 38.9]),
                                 item(spot, "M5", kind=["dispute"])])

    assert refused(beng, truncated, 400, before)["error"] == \
        "body is not UTF-8 JSON: Expecting property name enclosed in double quotes: line 1 " \
        "column 41 (char 40)"
    assert refused(beng, not_objects, 400, before)["errors"] == [
        {"index": i, "field": "", "code": "not_an_object",
         "reason": "each incident must be a JSON object"} for i in (1, 2)]
    errors = refused(beng, typed, 400, before)["errors"]
    assert errors[0] == {"index": 0, "field": "reporter", "code": "bad_type",
                         "reason": "报告人/reporter is a JSON array or object; give it as text "
                                   "or a number"}
    assert (errors[1]["index"], errors[1]["field"], errors[1]["code"]) == \
        (1, "lon; lon+lat", "bad_type; bad_coordinates")
    assert (errors[2]["index"], errors[2]["field"], errors[2]["code"]) == \
        (2, "kind", "bad_type; unknown_kind")


def test_api_out_of_range_swapped_and_unknown_kind(client, token: str, beng, spot: dict) -> None:  # noqa: F811
    before = counts(beng)
    body = [item(spot, "C1", lon="200.123456"), item(spot, "C2", lat="-95.123456"),
            item(spot, "C3", lon=spot["lat"], lat=spot["lon"]), item(spot, "C4", kind="飞碟"),
            item(spot, "C5")]  # a good one: nothing of the request is stored

    errors = refused(beng, post(client, token, body), 400, before)["errors"]

    assert [(e["index"], e["field"], e["code"]) for e in errors] == [
        (0, "lon+lat", "out_of_range"), (1, "lon+lat", "out_of_range"),
        (2, "lon+lat", "swapped_latlon"), (3, "kind", "unknown_kind")]
    assert errors[0]["reason"] == f"coordinates out of range: lon 200.123456, lat {spot['lat']} " \
                                  "(|lon| ≤ 180, |lat| ≤ 90)"
    assert errors[2]["reason"].startswith("lat/lon look swapped: the swapped point falls inside")
    assert errors[3]["reason"].startswith("unknown kind '飞碟'; use a key or Chinese name")


def test_api_description_of_1_mb(client, token: str, beng, spot: dict,  # noqa: F811
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    before = counts(beng)
    body = [item(spot, "L1", description="x" * 1024 * 1024)]  # 1 MB

    errors = refused(beng, post(client, token, body), 400, before)["errors"]
    monkeypatch.setattr(settings, "INTAKE_MAX_DESCRIPTION_CHARS", 2_000_000)  # configurable
    ok = post(client, token, body)

    assert errors == [{"index": 0, "field": "description", "code": "too_long",
                       "reason": "描述/description has 1,048,576 characters, more than the "
                                 "limit of 5,000 (settings.INTAKE_MAX_DESCRIPTION_CHARS); "
                                 "shorten it"}]
    assert ok.status_code == 201, ok.get_json()


def test_api_sql_and_html_are_stored_verbatim(client, token: str, beng, spot: dict) -> None:  # noqa: F811
    res = post(client, token, [item(spot, "V1", description=SQL, reporter=SCRIPT, address=IMG,
                                    occurred_at="2025-06-02T08:00:00+08:00")])

    assert res.status_code == 201, res.get_json()
    with beng.connect() as conn:
        row = conn.execute(sa.text("select description, reporter, address from incident "
                                   "where id = :i"), {"i": res.get_json()["ids"][0]}).one()
    assert tuple(row) == (SQL, SCRIPT, IMG)


def test_api_gbk_body(client, token: str, beng, spot: dict) -> None:  # noqa: F811
    before = counts(beng)
    raw = json.dumps([item(spot, "K1", reporter="张三")], ensure_ascii=False).encode("gbk")

    res = post(client, token, data=raw, content_type="application/json; charset=gbk")

    assert refused(beng, res, 400, before)["error"].startswith(
        "body is not UTF-8 JSON: 'utf-8' codec can't decode byte 0xd5 in position ")


# --- the desk form and the planner upload (server side) ------------------------------------

def test_desk_form_description_limit(beng, spot: dict) -> None:  # noqa: F811
    place = desk_intake.locate(beng, float(spot["lon"]), float(spot["lat"]))
    form = {"kind": "dispute", "time": "2025-06-03 08:00", "reporter": "网格员",
            "description": "x" * 1024 * 1024, "address": ""}
    before = counts(beng)

    res = desk_intake.submit(beng, form, place, "form-token-1")

    assert counts(beng) == before
    assert (res.status, res.errors) == ("rejected", {"description": [(
        "too_long", ("description has 1,048,576 characters, more than the limit of 5,000 "
                    "(settings.INTAKE_MAX_DESCRIPTION_CHARS); shorten it"))]})
    assert desk_views.error_text("description", res.errors["description"], "zh") == \
        "内容过长：最多 5,000 个字符"
    assert desk_views.error_text("description", res.errors["description"], "en") == \
        "Too long: at most 5,000 characters"


def test_planner_upload_over_the_limit(beng, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    from dashboard.planner_layout import upload_block

    monkeypatch.setattr(settings, "UPLOAD_MAX_BYTES", 1024 * 1024)
    monkeypatch.setattr(planner_ops, "UPLOAD_DIR", Path(os.environ.get("TMPDIR", "/tmp"))
                        / f"wangge-upload-test-{os.getpid()}")
    payload = "data:application/octet-stream;base64," + base64.b64encode(
        b"\0" * (3 * 1024 * 1024)).decode()
    before = counts(beng)

    pv = planner_ops.upload_preview(beng, 1, payload, "big.gpkg")

    assert counts(beng) == before
    assert pv["ok"] is False and pv["error"] == (
        "big.gpkg: the file is 3.0 MB, over the upload limit of 1.0 MB "
        "(settings.UPLOAD_MAX_BYTES); import bigger files with 'wangge grids import'")
    assert not planner_ops.UPLOAD_DIR.exists() or not any(planner_ops.UPLOAD_DIR.iterdir())
    shown = upload_block(pv, "zh")[0]
    assert shown.children == f"未执行：{pv['error']}" and "wg-pl-msg-error" in shown.className


# --- in the browser: hostile text shown as text, limits said on screen ------------------------

@pytest.fixture(scope="module")
def server(bad_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:  # noqa: F811
    log = tmp_path_factory.mktemp("bad-input-server") / "server.log"
    yield from run_server(bad_db_url, log, "/desk", {
        "WANGGE_DESK_REFRESH_S": "2", "WANGGE_WALL_REFRESH_S": "2",
        "WANGGE_WALL_PLAYLIST_S": "0"})


def _page(browser, url: str):
    page = browser.new_page(viewport={"width": 1600, "height": 900}, locale="zh-CN")
    seen: dict[str, list[str]] = {"errors": [], "dialogs": []}
    page.on("pageerror", lambda e: seen["errors"].append(str(e)))
    page.on("dialog", lambda d: (seen["dialogs"].append(d.message), d.dismiss()))
    page.goto(url)
    return page, seen


NO_INJECTION = """(root) => {
    const el = document.querySelector(root);
    return {scripts: el.querySelectorAll('script').length, imgs: el.querySelectorAll('img').length,
            xss: window.__xss === undefined ? null : window.__xss};
}"""


@pytest.mark.slow
def test_api_100_mb_over_the_wire_is_answered_before_the_body(server: str, token: str) -> None:
    """``wangge serve``: the 413 comes back after 64 KB of a declared 100 MB body."""
    import socket
    from urllib.parse import urlparse

    u = urlparse(server)
    head = (f"POST /api/incidents?source={SOURCE} HTTP/1.1\r\nHost: {u.netloc}\r\n"
            f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {MB100}\r\n\r\n").encode()
    with socket.create_connection((u.hostname, u.port), timeout=30) as sock:
        sock.sendall(head + b"[" * 65_536)
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = sock.recv(65_536)
            if not chunk:
                break
            answer += chunk
    status, _, rest = answer.partition(b"\r\n")
    body = json.loads(rest.partition(b"\r\n\r\n")[2])

    assert status.split()[1] == b"413", answer[:300]
    assert body == {"error": "body of 104857600 bytes is over the limit of 5242880 bytes; "
                             "send fewer incidents per request"}


@pytest.mark.browser
def test_hostile_text_is_shown_as_text_on_desk_and_wall(server: str, browser, client,
                                                        token: str) -> None:
    body = [{"source_id": "XSS1", "kind": "dispute", "occurred_at": "2025-06-04T08:00:00+08:00",
             "address": IMG, "description": SCRIPT, "reporter": SQL}]  # address only: no grid
    res = post(client, token, body)
    assert res.status_code == 201, res.get_json()
    iid = res.get_json()["ids"][0]

    desk, seen = _page(browser, f"{server}/desk?incident={iid}")
    desk.wait_for_function(f"document.querySelector('.wg-dd-head[data-incident=\"{iid}\"]')",
                           timeout=60_000)
    detail = desk.locator("#desk-detail").inner_text()
    wall, wall_seen = _page(browser, f"{server}/wall")
    row = wall.locator(f'#wall-feed-new [data-incident="{iid}"]')
    row.wait_for(state="visible", timeout=60_000)
    wall.wait_for_timeout(2500)  # one more refresh of the feed

    assert SCRIPT in detail and IMG in detail and SQL in detail
    assert desk.evaluate(NO_INJECTION, "#desk-detail") == {"scripts": 0, "imgs": 0, "xss": None}
    assert row.locator(".wg-feed-village").inner_text() == IMG
    assert wall.evaluate(NO_INJECTION, "#wall-feed-new") == {"scripts": 0, "imgs": 0,
                                                             "xss": None}
    OUTPUT.mkdir(exist_ok=True)
    desk.screenshot(path=str(OUTPUT / "bad-input-desk.png"))
    assert seen == wall_seen == {"errors": [], "dialogs": []}
    desk.close()
    wall.close()


@pytest.mark.browser
def test_desk_form_says_the_description_is_too_long(server: str, browser, beng) -> None:  # noqa: F811
    desk, seen = _page(browser, f"{server}/desk")
    desk.wait_for_selector("#desk-submit", timeout=60_000)
    before = counts(beng)

    desk.fill("#desk-description", "x" * 1024 * 1024)
    desk.click("#desk-submit")
    desk.wait_for_function(
        "document.querySelector('#desk-err-description').innerText.length > 0", timeout=30_000)

    assert desk.locator("#desk-err-description").inner_text() == "内容过长：最多 5,000 个字符"
    assert "has-error" in desk.locator("#desk-field-description").get_attribute("class")
    assert counts(beng) == before
    assert seen["errors"] == []
    desk.close()


@pytest.mark.browser
def test_planner_upload_of_100_mb_is_refused_in_the_browser(server: str, browser,
                                                            tmp_path: Path) -> None:
    big = tmp_path / "big.gpkg"
    with big.open("wb") as fh:
        fh.truncate(MB100)  # sparse: 100 MB on paper, nothing on disk
    page, seen = _page(browser, f"{server}/planner")
    bodies: list[int] = []
    page.on("request", lambda r: bodies.append(len(r.post_data_buffer or b""))
            if r.method == "POST" else None)
    page.wait_for_selector("#planner-upload input[type=file]", state="attached",
                           timeout=60_000)
    assert "50 MB" in page.locator("#planner-upload-hint").inner_text()

    page.set_input_files("#planner-upload input[type=file]", str(big))
    page.wait_for_function(
        "document.querySelector('#planner-upload-limit').innerText.length > 0")
    page.wait_for_timeout(1000)  # time for an upload, had one started

    assert page.locator("#planner-upload-limit").inner_text() == \
        "文件 big.gpkg 为 100.0 MB，超过上传上限 50 MB，未上传；请用 wangge grids import 导入"
    assert "wg-pl-msg-error" in page.locator("#planner-upload-limit").get_attribute("class")
    assert page.locator("#planner-upload-result").inner_text() == ""
    assert max(bodies, default=0) < 1024 * 1024  # the file was never sent
    assert seen["errors"] == []
    page.close()
