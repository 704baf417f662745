"""Exception classes of wangge, one place for all of them.

Every message says what is wrong, where (file, row, feature, field) and how to fix it.
The CLI turns any :class:`WanggeError` into a one-line message and exit code 2.
"""

from __future__ import annotations


class WanggeError(Exception):
    """Base class of every error the application reports to a user."""


class ConfigError(WanggeError):
    """A setting or an environment variable has a value that cannot be used."""


class StoreError(WanggeError):
    """The database cannot be reached, created or migrated."""


class CrsError(WanggeError):
    """A coordinate reference system is unknown, missing or not supported."""


class InputFileError(WanggeError):
    """An input file cannot be read at all (format, encoding, missing layer or field)."""


class FeatureRejected(WanggeError):
    """One or more features / rows of an input were rejected.

    ``rejects`` is a list of ``(feature_id, field, reason)`` tuples; ``path`` is the file
    the rejected rows were written to, if any.
    """

    def __init__(self, msg: str, rejects: list[tuple[object, str, str]] | None = None,
                 path: str | None = None) -> None:
        super().__init__(msg)
        self.rejects = rejects or []
        self.path = path


class GeocodeError(WanggeError):
    """Points cannot be geocoded (no grids loaded, bad columns, bad coordinates)."""


class NotFoundError(WanggeError):
    """A grid, version, unit or incident that was asked for does not exist."""


class WorkflowError(WanggeError):
    """An incident workflow action is not allowed in the incident's state, or lacks details.

    ``status`` is the incident's state, ``action`` the refused action and ``allowed`` the
    actions allowed in that state.
    """

    def __init__(self, msg: str, status: str | None = None, action: str | None = None,
                 allowed: tuple[str, ...] = ()) -> None:
        super().__init__(msg)
        self.status = status
        self.action = action
        self.allowed = allowed


class AnalysisError(WanggeError):
    """An analysis (hotspots, density, emerging hotspots, response rings) cannot run on the
    given input: missing or non-numeric column, negative or missing values, no points, no
    posts, bad parameters. The message names the input and how to fix it."""


class AddressError(WanggeError):
    """A gazetteer cannot be built from the given units, or addresses cannot be matched."""


class PatrolError(WanggeError):
    """A patrol question cannot be answered as asked: a week not in ``YYYY-Www`` form, no
    county, key areas / sections referring to unknown villages (the message says which)."""


class ReportError(WanggeError):
    """A review period, area or briefing cannot be built (bad ISO week, unknown area code,
    Chromium missing or failing to print the PDF)."""


class KpiError(WanggeError):
    """A KPI period, level, area or setting cannot be used (bad period string, unknown level,
    unknown area code, bad rank weights). The message lists the accepted forms."""


class AuthError(WanggeError):
    """A user, password, role, jurisdiction or API token cannot be used as given (unknown
    user, weak password, unknown role or unit, revoked token). The message says which and
    how to fix it."""


class LoginFailed(AuthError):
    """A login was refused. The message is the same for every cause (no user enumeration);
    ``reason`` (``unknown``, ``disabled``, ``password``) is for the audit log only."""

    def __init__(self, msg: str, reason: str) -> None:
        super().__init__(msg)
        self.reason = reason


class PermissionDenied(AuthError):
    """The user's role or jurisdiction does not allow the action (or the API token's source
    or jurisdiction does not cover the item)."""
