"""Login, sessions, rate limit and audit of the dashboard (Flask test client), the
``wangge users / tokens / audit`` commands (typer's runner), passwords and API tokens —
on a fresh database with a few territory units."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from gis import audit, settings
from gis._errors import AuthError, LoginFailed, PermissionDenied
from gis.auth import roles, tokens, users
from gis.store import connect
from gis.store.scoped import scoped
from tests.conftest import _fresh

PW = "correct horse battery"
COUNTY, T1, T2 = "620702", "620702101", "620702102"
A, B, C = "620702101201", "620702101202", "620702102201"
runner = CliRunner()


@pytest.fixture(scope="module")
def auth_url() -> Iterator[str]:
    """A fresh database with a county, two townships and three villages (no grids)."""
    for url in _fresh("auth"):
        with connect(url).begin() as conn:
            for code, level, name, parent in (
                    (COUNTY, "county", "甘州区", None), (T1, "township", "梁家墩镇", COUNTY),
                    (T2, "township", "上秦镇", COUNTY), (A, "village", "甲村", T1),
                    (B, "village", "乙村", T1), (C, "village", "丙村", T2)):
                conn.execute(sa.text("insert into territory_unit (code, adcode, level, name, "
                                     "parent_code) values (:c, :a, :l, :n, :p)"),
                             {"c": code, "a": COUNTY, "l": level, "n": name, "p": parent})
            conn.execute(sa.text(
                "insert into incident (id, adcode, source, source_id, kind, occurred_at, status, "
                "village_code, location_flag) values "
                "(1, :a, 's', '1', 'dispute', now(), 'received', :va, 'ok'), "
                "(2, :a, 's', '2', 'dispute', now(), 'received', :vb, 'ok'), "
                "(3, :a, 's', '3', 'dispute', now(), 'received', :vc, 'ok'), "
                "(4, :a, 's', '4', 'dispute', now(), 'received', null, 'outside')"),
                {"a": COUNTY, "va": A, "vb": B, "vc": C})
            users.create_user(conn, "alice", "operator", A, PW, actor="test")
            users.create_user(conn, "bob", "leader", T1, PW, actor="test")
        yield url


@pytest.fixture(scope="module")
def aeng(auth_url: str) -> Engine:
    return connect(auth_url)


def _auth_app(url: str) -> Any:
    """A one-page Dash app with :func:`dashboard.auth.install_auth` (the pages of the real
    app are tested elsewhere; :func:`test_create_app_installs_the_login` checks the wiring)."""
    import dash
    from dash import html

    from dashboard import data
    from dashboard.app import AppConfig
    from dashboard.auth import install_auth

    config = AppConfig(database_url=url, escalation_interval_s=None, auth=True)
    app = dash.Dash("wangge_auth_test", serve_locally=True)
    app.layout = html.Div([html.Button("go", id="btn"), html.Div("inside", id="out")])

    @app.callback(dash.Output("out", "children"), dash.Input("btn", "n_clicks"))
    def clicked(n: int | None) -> str:
        return f"clicked {n}"

    app.server.config[data.CONFIG_KEY] = config
    install_auth(app, config)
    return app


@pytest.fixture(scope="module")
def client_app(auth_url: str) -> Any:
    mp = pytest.MonkeyPatch()
    mp.setattr(settings, "SECRET_KEY", "test-key-not-secret")
    yield _auth_app(auth_url)
    mp.undo()


def _client(app: Any, ip: str) -> Any:
    """A test client (own cookie jar) whose requests come from address ``ip``."""
    c = app.server.test_client()
    c.environ_base["REMOTE_ADDR"] = ip
    return c


def _csrf(client: Any) -> str:
    page = client.get("/login").get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def _login(client: Any, name: str, password: str, next_: str | None = None) -> Any:
    url = "/login" + (f"?next={next_}" if next_ else "")
    return client.post(url, data={"username": name, "password": password,
                                  "csrf_token": _csrf(client)})


def _audit(aeng: Engine, **kw: Any) -> list[dict[str, Any]]:
    with aeng.connect() as conn:
        return audit.query(conn, **kw)


# --- login page and session -------------------------------------------------------------------

def test_pages_and_callbacks_need_a_login(client_app: Any) -> None:
    c = _client(client_app, "10.0.0.1")
    page = c.get("/wall?kiosk=1")
    xhr = c.post("/_dash-update-component", json={"output": "x"})
    layout = c.get("/_dash-layout")
    form = c.get("/login")
    assert page.status_code == 302
    assert page.headers["Location"].startswith("/login?next=")
    assert parse_qs(urlsplit(page.headers["Location"]).query)["next"] == ["/wall?kiosk=1"]
    assert (xhr.status_code, xhr.get_json()["error"]) == (401, "login required")
    assert layout.status_code == 401
    assert form.status_code == 200 and 'name="csrf_token"' in form.get_data(as_text=True)
    assert form.headers["X-Frame-Options"] == "DENY"


def test_wrong_password_is_refused_and_audited(client_app: Any, aeng: Engine) -> None:
    c = _client(client_app, "10.0.0.2")
    since = datetime.now(timezone.utc)
    wrong = _login(c, "alice", "not the password")
    unknown = _login(c, "mallory", "not the password")
    after = c.get("/")
    assert wrong.status_code == unknown.status_code == 401
    assert "用户名或密码错误" in wrong.get_data(as_text=True)
    assert wrong.get_data(as_text=True).count("用户名或密码错误") == 1
    assert after.status_code == 302
    rows = _audit(aeng, since=since, action="login_failed")
    assert [(r["target"], r["details"]["reason"], r["ip"], r["scope_code"]) for r in rows] == [
        ("user:alice", "password", "10.0.0.2", A), ("user:mallory", "unknown", "10.0.0.2", None)]


CALLBACK = {"output": "out.children", "outputs": {"id": "out", "property": "children"},
            "inputs": [{"id": "btn", "property": "n_clicks", "value": 3}],
            "changedPropIds": ["btn.n_clicks"], "state": []}


def test_login_session_cookie_and_logout(client_app: Any, aeng: Engine) -> None:
    c = _client(client_app, "10.0.0.3")
    since = datetime.now(timezone.utc)
    res = _login(c, "alice", PW, next_="/wall")
    cookies = {h.split("=", 1)[0]: h for h in res.headers.getlist("Set-Cookie")}
    home = c.get("/")
    xhr = c.get("/_dash-layout")
    token = c.get_cookie("_csrf_token").value
    no_token = c.post("/_dash-update-component", json=CALLBACK)
    bad_token = c.post("/_dash-update-component", json=CALLBACK, headers={"X-CSRFToken": "x"})
    good = c.post("/_dash-update-component", json=CALLBACK, headers={"X-CSRFToken": token})
    out = c.get("/logout")
    again = c.get("/")
    after = c.post("/_dash-update-component", json=CALLBACK, headers={"X-CSRFToken": token})
    assert (res.status_code, res.headers["Location"]) == (302, "/wall")
    session = cookies["wangge_session"]
    assert "HttpOnly" in session and "SameSite=Lax" in session and "Secure" not in session
    assert "HttpOnly" not in cookies["_csrf_token"]  # Dash's renderer must read it
    assert home.status_code == 200 and xhr.status_code == 200
    assert no_token.status_code == bad_token.status_code == 403
    assert good.status_code == 200 and "clicked 3" in good.get_data(as_text=True)
    assert out.status_code == 302 and again.status_code == 302 and after.status_code == 401
    rows = _audit(aeng, since=since, actor="alice")
    assert [(r["action"], r["ip"], r["scope_code"]) for r in rows] == [
        ("login", "10.0.0.3", A), ("logout", "10.0.0.3", A)]


def test_rate_limit_per_name_and_address(client_app: Any, aeng: Engine,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "LOGIN_MAX_FAILURES", 3)
    c = _client(client_app, "10.0.0.4")
    since = datetime.now(timezone.utc)
    codes = [_login(c, "bob", "wrong password!").status_code for _ in range(3)]
    blocked = _login(c, "bob", PW)  # even the right password, until the window passes
    other_name = _login(c, "alice", PW)
    other_ip = _login(_client(client_app, "10.0.0.5"), "bob", PW)
    assert codes == [401, 401, 401]
    assert blocked.status_code == 429 and blocked.headers["Retry-After"] == str(
        int(settings.LOGIN_WINDOW_S))
    assert "尝试" in blocked.get_data(as_text=True) or "次数" in blocked.get_data(as_text=True)
    assert other_name.status_code == 302 and other_ip.status_code == 302
    actions = [r["action"] for r in _audit(aeng, since=since, target="user:bob")]
    assert actions == ["login_failed"] * 3 + ["login_blocked", "login"]


def test_rate_limit_per_address_over_all_names(client_app: Any,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "LOGIN_MAX_FAILURES_PER_IP", 4)
    c = _client(client_app, "10.0.0.6")
    codes = [_login(c, f"guess{i}", "wrong password!").status_code for i in range(4)]
    assert codes == [401] * 4
    assert _login(c, "alice", PW).status_code == 429


def test_success_resets_the_count_of_its_name(client_app: Any,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "LOGIN_MAX_FAILURES", 2)
    c = _client(client_app, "10.0.0.7")
    assert _login(c, "alice", "wrong password!").status_code == 401
    assert _login(c, "alice", PW).status_code == 302
    assert _login(c, "alice", "wrong password!").status_code == 401
    assert _login(c, "alice", PW).status_code == 302


def test_form_needs_its_csrf_token_and_echoes_escaped(client_app: Any) -> None:
    c = _client(client_app, "10.0.0.8")
    c.get("/login")
    no_token = c.post("/login", data={"username": "alice", "password": PW})
    evil = _login(c, "<script>alert(1)</script>", "x" * 12)
    body = evil.get_data(as_text=True)
    assert no_token.status_code == 400
    assert evil.status_code == 401
    assert "<script>alert(1)</script>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body


def test_no_open_redirect_after_login(client_app: Any) -> None:
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        c = _client(client_app, "10.0.0.9")
        res = _login(c, "alice", PW, next_=target)
        assert (res.status_code, res.headers["Location"]) == (302, "/"), target


def test_disabling_or_new_password_ends_open_sessions(client_app: Any, aeng: Engine) -> None:
    with aeng.begin() as conn:
        users.create_user(conn, "carol", "planner", T2, PW, actor="test")
    c = _client(client_app, "10.0.0.10")
    assert _login(c, "carol", PW).status_code == 302
    assert c.get("/").status_code == 200
    with aeng.begin() as conn:
        users.set_password(conn, "carol", PW + "2", actor="test")
    assert c.get("/").status_code == 302
    assert _login(c, "carol", PW + "2").status_code == 302
    with aeng.begin() as conn:
        users.disable_user(conn, "carol", actor="test")
    assert c.get("/").status_code == 302
    assert _login(c, "carol", PW + "2").status_code == 401


def test_secure_cookie_when_configured(auth_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "SECRET_KEY", "test-key-not-secret")
    monkeypatch.setattr(settings, "COOKIE_SECURE", True)
    c = _client(_auth_app(auth_url), "10.0.0.11")
    res = _login(c, "alice", PW)
    assert res.status_code == 302
    assert "Secure" in res.headers["Set-Cookie"]


def test_create_app_installs_the_login(auth_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from dashboard.app import AppConfig, create_app

    monkeypatch.setattr(settings, "SECRET_KEY", "test-key-not-secret")
    monkeypatch.setattr(settings, "AUTH_ENABLED", True)  # the default unless WANGGE_AUTH=0
    on = create_app(AppConfig(database_url=auth_url, escalation_interval_s=None))
    off = create_app(AppConfig(database_url=auth_url, escalation_interval_s=None, auth=False))
    assert _client(on, "10.0.0.12").get("/").status_code == 302
    assert 'name="csrf_token"' in _client(on, "10.0.0.12").get("/login").get_data(as_text=True)
    assert _client(off, "10.0.0.12").get("/").status_code == 200
    assert 'name="csrf_token"' not in _client(off, "10.0.0.12").get("/login").get_data(as_text=True)


# --- passwords, roles, tokens ----------------------------------------------------------------

def test_passwords_are_argon2id_hashes(aeng: Engine) -> None:
    with aeng.begin() as conn:
        u = users.create_user(conn, "dave", "admin", COUNTY, PW, actor="test")
        stored = conn.execute(sa.text("select password_hash from app_user where name = 'dave'"))\
            .scalar_one()
        ok = users.authenticate(conn, "dave", PW)
        reasons = []
        for name, pw in (("dave", PW + "x"), ("nobody", PW)):
            with pytest.raises(LoginFailed) as e:
                users.authenticate(conn, name, pw)
            reasons.append((e.value.reason, str(e.value)))
        users.disable_user(conn, "dave", actor="test")
        with pytest.raises(LoginFailed) as e:
            users.authenticate(conn, "dave", PW)
        reasons.append((e.value.reason, str(e.value)))
    assert stored.startswith("$argon2id$") and PW not in stored
    assert f"m={settings.ARGON2_MEMORY_KIB},t={settings.ARGON2_TIME_COST}" in stored
    assert ok.id == u.id and u.unit_level == "county" and u.may_publish
    assert reasons == [("password", users.LOGIN_REFUSED), ("unknown", users.LOGIN_REFUSED),
                       ("disabled", users.LOGIN_REFUSED)]


def test_bad_users_are_refused(aeng: Engine) -> None:
    with aeng.connect() as conn:
        for kwargs, match in (
                ({"name": "x", "role": "operator", "unit_code": A, "password": PW}, "not valid"),
                ({"name": "erin", "role": "boss", "unit_code": A, "password": PW}, "unknown role"),
                ({"name": "erin", "role": "operator", "unit_code": "620702999", "password": PW},
                 "neither a county"),
                ({"name": "erin", "role": "operator", "unit_code": A, "password": "short"},
                 "at least 10"),
                ({"name": "alice", "role": "operator", "unit_code": A, "password": PW},
                 "already exists")):
            with pytest.raises(AuthError, match=match):
                users.create_user(conn, actor="test", **kwargs)


def test_roles_and_what_they_may_do() -> None:
    op = users.User(1, "o", "operator", A, "village", COUNTY, True)
    lead = users.User(2, "l", "leader", T1, "township", COUNTY, True)
    admin_t = users.User(3, "a", "admin", T1, "township", COUNTY, True)
    roles.require(op, roles.INCIDENT_ACT, adcode=COUNTY, code=A + "001")
    with pytest.raises(PermissionDenied, match="outside"):
        roles.require(op, roles.INCIDENT_ACT, adcode=COUNTY, code=B)
    with pytest.raises(PermissionDenied, match="needs one of"):
        roles.require(op, roles.GRID_EDIT)
    roles.require(lead, roles.AUDIT_VIEW, adcode=COUNTY, code=B)
    with pytest.raises(PermissionDenied, match="publish"):
        roles.require(admin_t, roles.GRID_PUBLISH, adcode=COUNTY)
    assert not op.may_publish and not admin_t.may_publish
    assert [r for r in roles.ROLES if roles.can(r, roles.GRID_PUBLISH)] == ["admin"]


def test_tokens_are_stored_hashed_and_scoped(aeng: Engine) -> None:
    with aeng.begin() as conn:
        tok, secret = tokens.create_token(conn, "110 feed", "110", T1, actor="test", days=30)
        row = conn.execute(sa.text("select * from api_token where id = :i"), {"i": tok.id})\
            .mappings().one()
    assert secret.startswith("wgt_") and len(secret) >= 40
    assert secret not in json.dumps({k: str(v) for k, v in row.items()})
    assert row["token_hash"] == tokens.digest(secret) and row["prefix"] == secret[:12]
    got = tokens.verify_token(aeng, "Bearer " + secret, ip="10.1.1.1")
    assert got.id == tok.id and got.jurisdiction == (T1,)
    assert got.allows("110", COUNTY, A) and got.allows("110", COUNTY, B)
    assert not got.allows("110", COUNTY, C) and not got.allows("12345", COUNTY, A)
    assert not got.allows("110", COUNTY, None)
    with pytest.raises(PermissionDenied, match="only as source"):
        got.check("12345", COUNTY, A)
    with pytest.raises(PermissionDenied, match="limited to unit"):
        got.check("110", COUNTY, C)
    with scoped(aeng, got) as conn:  # the database holds it to the same unit
        seen = set(conn.execute(sa.text("select village_code from incident")).scalars())
    assert seen == {A, B}


def test_revoked_expired_and_unknown_tokens_are_refused(aeng: Engine) -> None:
    since = datetime.now(timezone.utc)
    with aeng.begin() as conn:
        t1, s1 = tokens.create_token(conn, "old", "12345", COUNTY, actor="test")
        t2, s2 = tokens.create_token(conn, "short", "12345", COUNTY, actor="test", days=1)
        conn.execute(sa.text("update api_token set expires_at = now() - interval '1 second' "
                             "where id = :i"), {"i": t2.id})
        tokens.revoke_token(conn, t1.prefix, actor="test")
    for s in (s1, s2, "wgt_" + "x" * 43, "", "Bearer nonsense"):
        with pytest.raises(AuthError, match="not accepted"):
            tokens.verify_token(aeng, s, ip="10.1.1.2")
    rows = _audit(aeng, since=since, action="token.")
    assert [r["action"] for r in rows] == ["token.add", "token.add", "token.revoke"] + \
        ["token.rejected"] * 5
    assert [r["details"].get("reason") for r in rows[3:]] == [
        "revoked", "expired", "unknown", "unknown", "unknown"]


# --- CLI ---------------------------------------------------------------------------------------

@pytest.fixture
def on_auth_db(monkeypatch: pytest.MonkeyPatch, auth_url: str) -> str:
    monkeypatch.setattr(settings, "DATABASE_URL", auth_url)
    return auth_url


def _json(output: str) -> Any:
    return json.loads(output.strip().splitlines()[-1])


def test_cli_users_add_list_disable_passwd(on_auth_db: str) -> None:
    from dashboard.cli import app

    add = runner.invoke(app, ["users", "add", "frank", "--role", "planner", "--unit", T2,
                              "--password-stdin", "--json"], input=PW + "\n")
    again = runner.invoke(app, ["users", "add", "frank", "--role", "planner", "--unit", T2,
                                "--password-stdin"], input=PW + "\n")
    weak = runner.invoke(app, ["users", "add", "gina", "--role", "planner", "--unit", T2,
                               "--password-stdin"], input="short\n")
    listed = runner.invoke(app, ["users", "list", "--json"])
    table = runner.invoke(app, ["users", "list"])
    disable = runner.invoke(app, ["users", "disable", "frank", "--json"])
    passwd = runner.invoke(app, ["users", "passwd", "frank", "--password-stdin", "--json"],
                           input=PW + "!\n")
    missing = runner.invoke(app, ["users", "disable", "nobody"])
    assert add.exit_code == 0, add.output
    assert {k: _json(add.output)[k] for k in ("name", "role", "unit_code", "unit_level",
                                              "active")} == {
        "name": "frank", "role": "planner", "unit_code": T2, "unit_level": "township",
        "active": True}
    assert "password_hash" not in add.output
    assert again.exit_code == 2 and "already exists" in again.output
    assert weak.exit_code == 2 and "at least 10" in weak.output
    assert weak.output.count("\n") == 1
    assert listed.exit_code == 0
    by_name = {u["name"]: u for u in _json(listed.output)}
    assert {"alice", "bob", "frank"} <= set(by_name) and "gina" not in by_name
    assert by_name["alice"]["unit_code"] == A and by_name["bob"]["role"] == "leader"
    assert table.exit_code == 0 and "frank" in table.output
    assert disable.exit_code == 0 and _json(disable.output)["active"] is False
    assert passwd.exit_code == 0, passwd.output
    assert missing.exit_code == 2 and "no user 'nobody'" in missing.output
    with connect(on_auth_db).connect() as conn:
        rows = audit.query(conn, action="user.", target="user:frank")
    assert [r["action"] for r in rows] == ["user.add", "user.disable", "user.passwd"]
    assert all(r["actor"].startswith("cli:") for r in rows)


def test_cli_tokens_and_audit(on_auth_db: str) -> None:
    from dashboard.cli import app

    add = runner.invoke(app, ["tokens", "add", "hotline", "--source", "12345", "--unit", A,
                              "--json"])
    assert add.exit_code == 0, add.output
    made = _json(add.output)
    listed = runner.invoke(app, ["tokens", "list", "--json"])
    revoke = runner.invoke(app, ["tokens", "revoke", made["prefix"], "--json"])
    log = runner.invoke(app, ["audit", "--json", "--action", "token.",
                              "--since", (datetime.now(timezone.utc) - timedelta(minutes=5))
                              .isoformat()])
    bad = runner.invoke(app, ["audit", "--since", "yesterday"])
    assert made["token"].startswith("wgt_") and made["status"] == "active"
    assert made["token"] not in listed.output
    mine = [t for t in _json(listed.output) if t["id"] == made["id"]]
    assert [(t["source"], t["unit_code"], t["status"]) for t in mine] == [("12345", A, "active")]
    assert revoke.exit_code == 0 and _json(revoke.output)["status"] == "revoked"
    assert log.exit_code == 0
    mine_log = [r for r in _json(log.output) if r["target"] == f"token:{made['prefix']}"]
    assert [r["action"] for r in mine_log] == ["token.add", "token.revoke"]
    assert bad.exit_code == 2 and "ISO" in bad.output


# --- in Debian's Chromium: log in, then a Dash callback goes through with the CSRF header ---

@pytest.mark.browser
def test_login_in_the_browser(auth_url: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    from pathlib import Path

    from tests.dashboard.test_browser import (
        CHROMIUM,
        CHROMIUM_ARGS,
        OUTPUT,
        VIEWPORT,
        run_server,
    )

    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} missing: apt-get install chromium")
    log = tmp_path_factory.mktemp("auth-server") / "server.log"
    env = {"WANGGE_AUTH": "1", "WANGGE_SECRET_KEY": "browser-test-key"}
    server = run_server(auth_url, log, "/login", env)
    base = next(server)
    errors: list[str] = []
    try:
        with sync_api.sync_playwright() as p:
            b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = b.new_page(viewport=VIEWPORT, locale="zh-CN")
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(base + "/")
            assert "/login" in page.url
            page.fill("#login-user", "alice")
            page.fill("#login-password", "wrong password!")
            page.click("#login-submit")
            assert page.locator("#login-message").inner_text() == "用户名或密码错误"
            OUTPUT.mkdir(exist_ok=True)
            page.screenshot(path=str(OUTPUT / "auth_login_refused.png"))
            page.fill("#login-password", PW)
            page.click("#login-submit")
            page.wait_for_selector("#app-brand", timeout=60_000)
            page.screenshot(path=str(OUTPUT / "auth_after_login.png"))
            assert page.locator("#app-brand").inner_text() == "网格"
            page.locator(".wg-lang-label", has_text="EN").click()  # a callback round trip
            page.wait_for_function("document.querySelector('#app-brand').innerText === 'Wangge'",
                                   timeout=30_000)
            page.click("#app-logout")
            page.wait_for_selector("#login-user")
            assert "/login" in page.url
            b.close()
    finally:
        server.close()
    assert errors == []
