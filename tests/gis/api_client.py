"""A Flask test client for ``POST /api/incidents`` that sends an API token.

``POST /api/incidents`` needs ``Authorization: Bearer <token>`` (issue #8), and a token is
scoped to one source and one unit. :class:`TokenClient` makes (once) a token for the source
of each request — the ``source`` query parameter, else the first item's ``source`` — scoped
to the county, so the intake tests exercise intake, not tokens (those are in
tests/dashboard/test_isolation.py and tests/dashboard/test_auth.py).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from gis.auth.tokens import create_token


def county_of(engine: Engine) -> str:
    """Adcode of the newest grid version of the store."""
    with engine.connect() as conn:
        return str(conn.execute(sa.text(
            "select adcode from grid_version order by id desc limit 1")).scalar_one())


class TokenClient:
    """Wraps a Flask test client; :meth:`post` adds a token for the request's source."""

    def __init__(self, client: Any, engine: Engine, unit: str | None = None,
                 default_source: str = "t-api") -> None:
        self.client = client
        self.engine = engine
        self.unit = unit or county_of(engine)
        self.default_source = default_source
        self.tokens: dict[str, str] = {}

    def token(self, source: str) -> str:
        """The secret of this client's token for ``source`` (made on first use)."""
        if source not in self.tokens:
            with self.engine.begin() as conn:
                _, secret = create_token(conn, f"test {source}", source, self.unit,
                                         actor="test")
            self.tokens[source] = secret
        return self.tokens[source]

    def source_of(self, url: str, body: Any) -> str:
        """The source a request submits as (query parameter, else the first item's)."""
        src = parse_qs(urlsplit(url).query).get("source", [None])[0]
        first = body[0] if isinstance(body, list) and body else body
        if not src and isinstance(first, dict) and first.get("source"):
            src = str(first["source"])
        return src or self.default_source

    def post(self, url: str, **kw: Any) -> Any:
        """``client.post`` with ``Authorization: Bearer <token of the source>``."""
        headers = {"Authorization": "Bearer " + self.token(self.source_of(url, kw.get("json"))),
                   **(kw.pop("headers", None) or {})}
        return self.client.post(url, headers=headers, **kw)
