"""Serve the dashboard with a production WSGI server (gunicorn), one app per worker process.

``wangge serve --workers N`` (N > 1) runs :func:`serve_gunicorn`. Each worker builds its own
Dash app with :func:`dashboard.app.create_app` after the fork, so no database connection is
shared between processes; the escalation scheduler runs in every worker but only one of them
works at a time (it holds a PostgreSQL advisory lock).
"""

from __future__ import annotations

from typing import Any

from gunicorn.app.base import BaseApplication

from dashboard.app import AppConfig


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, config: AppConfig, options: dict[str, Any]) -> None:
        self._config = config
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            if key in self.cfg.settings and value is not None:
                self.cfg.set(key, value)

    def load(self) -> Any:
        from dashboard.app import create_app

        return create_app(self._config).server


def gunicorn_options(host: str, port: int, workers: int, threads: int = 4,
                     timeout_s: int = 120) -> dict[str, Any]:
    """Options of the gunicorn server: ``gthread`` workers, access log off, graceful restarts.

    Parameters
    ----------
    host, port : address to listen on.
    workers : worker processes.
    threads : threads per worker (Dash callbacks wait on the database, threads overlap them).
    timeout_s : seconds before a silent worker is restarted.
    """
    return {"bind": f"{host}:{port}", "workers": workers, "threads": threads,
            "worker_class": "gthread", "timeout": timeout_s, "graceful_timeout": 10,
            "accesslog": None, "errorlog": "-", "loglevel": "warning"}


def serve_gunicorn(config: AppConfig, host: str, port: int, workers: int,
                   threads: int = 4) -> None:
    """Run gunicorn in the foreground until interrupted."""
    _Gunicorn(config, gunicorn_options(host, port, workers, threads)).run()
