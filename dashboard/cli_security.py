"""CLI commands ``wangge users …``, ``wangge tokens …`` and ``wangge audit``.

They run as the database owner (no row-level security) and write every change to the audit
log with the actor ``cli:<operating-system user>``. Passwords are read from a hidden prompt
(asked twice) or, with ``--password-stdin``, from the first line of standard input; they are
never command-line arguments (those end up in shell history and ``ps``).
"""

from __future__ import annotations

import getpass
import json
import sys
from datetime import datetime, timezone
from typing import Annotated, Any

import typer
from rich.table import Table

from dashboard.cli import JsonOpt, app, domain_errors, engine, err, out, summary
from gis._errors import AuthError

users_app = typer.Typer(help="Dashboard users: add, list, disable, enable, passwd.",
                        no_args_is_help=True)
tokens_app = typer.Typer(help="API tokens for machine intake: add, list, revoke.",
                         no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(tokens_app, name="tokens")

PasswordStdin = Annotated[bool, typer.Option(
    "--password-stdin", help="Read the password from the first line of standard input.")]

DEMO_USERS: tuple[tuple[str, str, str], ...] = (
    ("demo_operator", "operator", "village"),
    ("demo_planner", "planner", "township"),
    ("demo_leader", "leader", "county"),
    ("demo_admin", "admin", "county"),
)
"""(name, role, level of its unit) of the users ``wangge users demo`` makes."""


def cli_actor() -> str:
    """Actor of CLI changes in the audit log."""
    try:
        who = getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some containers
        who = "unknown"
    return f"cli:{who}"


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        if not line:
            raise AuthError("--password-stdin: standard input is empty; pipe the password in")
        return line.rstrip("\r\n")
    return typer.prompt("password", hide_input=True, confirmation_prompt=True)


def _iso(v: Any) -> Any:
    return v.isoformat() if isinstance(v, datetime) else v


def _user_row(u: Any) -> dict[str, Any]:
    return {k: _iso(v) for k, v in u.to_dict().items()}


# --- users -------------------------------------------------------------------------------

@users_app.command("add")
@domain_errors
def users_add(
    name: Annotated[str, typer.Argument(help="Login name (2–64 letters, digits, _ . @ -).")],
    role: Annotated[str, typer.Option(help="operator, planner, leader or admin.")],
    unit: Annotated[str, typer.Option(help="Unit code: county adcode, township or village.")],
    password_stdin: PasswordStdin = False,
    as_json: JsonOpt = False,
) -> None:
    """Add a user of ROLE belonging to UNIT (sees that unit and everything below it)."""
    from gis.auth.users import create_user

    password = _read_password(password_stdin)
    with engine().begin() as conn:
        u = create_user(conn, name, role, unit, password, actor=cli_actor())
    summary("user added", _user_row(u), as_json)


@users_app.command("list")
@domain_errors
def users_list(as_json: JsonOpt = False) -> None:
    """List users with role, unit, state and last login."""
    from gis.auth.users import list_users

    with engine().connect() as conn:
        users = list_users(conn)
    if as_json:
        print(json.dumps([_user_row(u) for u in users], ensure_ascii=False))
        return
    table = Table("name", "role", "unit", "level", "active", "last login", "created")
    for u in users:
        table.add_row(u.name, u.role, u.unit_code, u.unit_level, "yes" if u.active else "NO",
                      str(_iso(u.last_login_at) or ""), str(_iso(u.created_at) or ""))
    out.print(table)


@users_app.command("disable")
@domain_errors
def users_disable(name: Annotated[str, typer.Argument(help="Login name.")],
                  as_json: JsonOpt = False) -> None:
    """Disable a user: logins are refused, open sessions end at their next request."""
    from gis.auth.users import disable_user

    with engine().begin() as conn:
        u = disable_user(conn, name, actor=cli_actor())
    summary("user disabled", _user_row(u), as_json)


@users_app.command("enable")
@domain_errors
def users_enable(name: Annotated[str, typer.Argument(help="Login name.")],
                 as_json: JsonOpt = False) -> None:
    """Enable a disabled user again."""
    from gis.auth.users import enable_user

    with engine().begin() as conn:
        u = enable_user(conn, name, actor=cli_actor())
    summary("user enabled", _user_row(u), as_json)


@users_app.command("passwd")
@domain_errors
def users_passwd(name: Annotated[str, typer.Argument(help="Login name.")],
                 password_stdin: PasswordStdin = False, as_json: JsonOpt = False) -> None:
    """Set a user's password (its open sessions end)."""
    from gis.auth.users import get_user, set_password

    with engine().connect() as conn:
        get_user(conn, name)  # fail before asking for a password
    password = _read_password(password_stdin)
    with engine().begin() as conn:
        u = set_password(conn, name, password, actor=cli_actor())
    summary("password changed", {"name": u.name,
                                 "password_changed_at": _iso(u.password_changed_at)}, as_json)


@users_app.command("demo")
@domain_errors
def users_demo(as_json: JsonOpt = False) -> None:
    """Create (or reset) one demo user per role and print their logins once.

    Units: the first village, the first township and the county of the grid version in
    force. Passwords are random; running it again gives new ones.
    """
    rows = demo_users()
    if as_json:
        print(json.dumps(rows, ensure_ascii=False))
        return
    table = Table("name", "role", "unit", "password", title="demo logins (synthetic data)")
    for r in rows:
        table.add_row(r["name"], r["role"], f"{r['unit']} {r['unit_name']}", r["password"])
    out.print(table)


def demo_users() -> list[dict[str, str]]:
    """Create or reset the users of :data:`DEMO_USERS`; their names, units and passwords."""
    import sqlalchemy as sa

    from gis._errors import NotFoundError
    from gis.auth.jurisdiction import below
    from gis.auth.users import create_user, generate_password, get_user, set_password
    from gis.grids import versions

    actor = cli_actor()
    with engine().begin() as conn:
        vid = versions.in_force(conn)
        if vid is None:
            raise AuthError("no grid version in force: run 'wangge demo --no-serve' first")
        adcode = str(conn.execute(sa.text("select adcode from grid_version where id = :v"),
                                  {"v": vid}).scalar_one())
        units = below(conn, adcode)
        first = {lvl: next((u for u in units if u.level == lvl), None)
                 for lvl in ("county", "township", "village")}
        first["county"] = first["county"] or next(iter(units), None)
        rows = []
        for name, role, level in DEMO_USERS:
            unit = first[level] or first["county"]
            code = unit.code if unit else adcode
            password = generate_password()
            try:
                get_user(conn, name)
                set_password(conn, name, password, actor=actor)
            except NotFoundError:
                create_user(conn, name, role, code, password, actor=actor)
            rows.append({"name": name, "role": role, "unit": code,
                         "unit_name": unit.name if unit else code, "password": password})
    return rows


# --- tokens ------------------------------------------------------------------------------

@tokens_app.command("add")
@domain_errors
def tokens_add(
    name: Annotated[str, typer.Argument(help="What the token is for (a label).")],
    source: Annotated[str, typer.Option(help="Intake source the token submits as.")],
    unit: Annotated[str, typer.Option(help="Unit code the token may write into.")],
    days: Annotated[float | None, typer.Option(
        help="Days until it expires (default from settings; 0: never).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Make an API token for POST /api/incidents; the secret is printed once."""
    from gis.auth.tokens import create_token

    with engine().begin() as conn:
        tok, secret = create_token(conn, name, source, unit, actor=cli_actor(), days=days)
    rows = {**{k: _iso(v) for k, v in tok.to_dict().items()}, "token": secret}
    summary("API token (shown once: store it now)", rows, as_json)


@tokens_app.command("list")
@domain_errors
def tokens_list(as_json: JsonOpt = False) -> None:
    """List tokens (prefix, source, unit, status); never the secrets."""
    from gis.auth.tokens import list_tokens

    with engine().connect() as conn:
        toks = list_tokens(conn)
    if as_json:
        print(json.dumps([{k: _iso(v) for k, v in t.to_dict().items()} for t in toks],
                         ensure_ascii=False))
        return
    table = Table("id", "prefix", "name", "source", "unit", "status", "expires", "last used")
    for t in toks:
        table.add_row(str(t.id), t.prefix + "…", t.name, t.source, t.unit_code, t.status(),
                      str(_iso(t.expires_at) or "never"), str(_iso(t.last_used_at) or ""))
    out.print(table)


@tokens_app.command("revoke")
@domain_errors
def tokens_revoke(ref: Annotated[str, typer.Argument(help="Token id or prefix (wgt_…).")],
                  as_json: JsonOpt = False) -> None:
    """Revoke a token: its next request is refused."""
    from gis.auth.tokens import revoke_token

    with engine().begin() as conn:
        tok = revoke_token(conn, ref, actor=cli_actor())
    summary("API token revoked", {k: _iso(v) for k, v in tok.to_dict().items()}, as_json)


# --- audit -------------------------------------------------------------------------------

def _parse_since(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        msg = f"--since {value!r} is not an ISO date or time (e.g. 2026-11-25 or " \
              "2026-11-25T08:00+08:00)"
        raise typer.BadParameter(msg, param_hint="--since") from None
    if when.tzinfo is None:
        from zoneinfo import ZoneInfo

        from gis import settings
        when = when.replace(tzinfo=ZoneInfo(settings.WALL_TIMEZONE))
    return when.astimezone(timezone.utc)


@app.command("audit")
@domain_errors
def audit_cmd(
    since: Annotated[str | None, typer.Option(
        help="From this ISO date / time (no offset: Asia/Shanghai).")] = None,
    actor: Annotated[str | None, typer.Option(help="Only this actor (user name, cli:…).")] = None,
    action: Annotated[str | None, typer.Option(
        help="Only this action; 'user.' or 'user*' for a family.")] = None,
    limit: Annotated[int | None, typer.Option(help="Newest N rows (default from settings).")] = None,
    trails: Annotated[bool, typer.Option(
        "--trails/--log-only", help="Include incident transitions and grid edits.")] = True,
    as_json: JsonOpt = False,
) -> None:
    """Show the audit trail: logins, users, tokens, publishes, incident transitions, edits."""
    from gis import audit

    with engine().connect() as conn:
        rows = audit.query(conn, _parse_since(since), actor, action=action, limit=limit,
                           trails=trails)
    if as_json:
        print(json.dumps([{k: _iso(v) for k, v in r.items()} for r in rows],
                         ensure_ascii=False, default=str))
        return
    table = Table(title=f"audit log: {len(rows)} row(s)")
    for col in ("at", "actor", "action", "target", "scope", "ip"):
        table.add_column(col, no_wrap=col in ("at", "action"))
    table.add_column("details", no_wrap=True, overflow="ellipsis", max_width=60)
    for r in rows:
        table.add_row(str(_iso(r["at"]))[:19], r["actor"], r["action"], r["target"] or "",
                      r["scope_code"] or "", r["ip"] or "",
                      json.dumps(r["details"], ensure_ascii=False)[:80])
    out.print(table)
    if not rows:
        err.print("no audit rows match")
