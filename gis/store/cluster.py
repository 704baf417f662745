"""The embedded PostgreSQL + PostGIS cluster that wangge creates and runs by itself.

With no ``DATABASE_URL`` the project keeps a private cluster under ``var/pg/`` of the checkout
(initdb / pg_ctl from Debian's postgresql-15, PostGIS from postgresql-15-postgis-3). As root,
the server runs as the ``postgres`` user; when ``postgres`` cannot reach the checkout (a checkout
under a 0700 home), the cluster goes to ``/var/lib/wangge/<checkout>-<hash>`` instead (or
``/var/tmp`` when /var/lib is not writable). The server listens on a unix socket only
(``listen_addresses=''``), so it never clashes with a system PostgreSQL on port 5432.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from gis import settings
from gis._errors import StoreError

PORT: int = 54329
"""Port number of the embedded cluster (it names the unix socket; TCP is off)."""

REPO_ROOT: Path = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Cluster:
    """Where the embedded cluster lives.

    Attributes
    ----------
    base : folder holding ``data/`` (PGDATA), ``run/`` (socket) and ``log``.
    """

    base: Path

    @property
    def data(self) -> Path:
        return self.base / "data"

    @property
    def sock(self) -> Path:
        return self.base / "run"

    @property
    def log(self) -> Path:
        return self.base / "postgresql.log"

    def url(self, db: str | None = None) -> str:
        """SQLAlchemy URL of database ``db`` (default settings.DB_NAME) over the socket."""
        return f"postgresql+psycopg://postgres@/{db or settings.DB_NAME}?host={self.sock}&port={PORT}"


def _is_root() -> bool:
    return os.geteuid() == 0


def _postgres_can_reach(path: Path) -> bool:
    """True when the ``postgres`` user can traverse every parent of ``path``."""
    probe = path
    while not probe.exists():
        probe = probe.parent
    res = subprocess.run(["runuser", "-u", "postgres", "--", "test", "-x", str(probe)],
                         capture_output=True)
    return res.returncode == 0


def locate() -> Cluster:
    """Choose the cluster folder for this checkout (see module docstring)."""
    preferred = REPO_ROOT / "var" / "pg"
    short = len(str(Cluster(preferred).sock)) < 80  # unix socket paths are limited to 107 bytes
    if short and (not _is_root() or _postgres_can_reach(preferred.parent.parent)):
        return Cluster(preferred)
    tag = hashlib.sha1(str(REPO_ROOT).encode()).hexdigest()[:8]
    name = f"{REPO_ROOT.name[:32]}-{tag}"
    for parent in (Path("/var/lib/wangge"), Path("/var/tmp/wangge")):
        try:
            parent.mkdir(parents=True, exist_ok=True)
            parent.chmod(0o755)
            return Cluster(parent / name)
        except OSError:
            continue
    msg = f"no folder for the embedded cluster: {preferred} is not reachable by 'postgres' " \
          "and /var/lib, /var/tmp are not writable; set DATABASE_URL to a PostGIS server"
    raise StoreError(msg)


def _run(args: list[str], what: str) -> subprocess.CompletedProcess[str]:
    if _is_root():
        args = ["runuser", "-u", "postgres", "--", *args]
    res = subprocess.run(args, capture_output=True, text=True)
    if res.returncode != 0:
        msg = f"{what} failed (exit {res.returncode}): {res.stderr.strip() or res.stdout.strip()}"
        raise StoreError(msg)
    return res


def _bin(name: str) -> str:
    path = Path(settings.PG_BIN) / name
    if not path.exists():
        msg = f"{path} not found: install Debian's postgresql-15 and postgresql-15-postgis-3 " \
              "(make demo does it) or set DATABASE_URL"
        raise StoreError(msg)
    return str(path)


def is_running(cluster: Cluster | None = None) -> bool:
    """True when the embedded server answers on its socket."""
    cluster = cluster or locate()
    if not (cluster.data / "PG_VERSION").exists():
        return False
    res = subprocess.run([_bin("pg_isready"), "-h", str(cluster.sock), "-p", str(PORT), "-q"],
                         capture_output=True)
    return res.returncode == 0


def _init(cluster: Cluster) -> None:
    cluster.base.mkdir(parents=True, exist_ok=True)
    cluster.sock.mkdir(exist_ok=True)
    if _is_root():
        pw = pwd.getpwnam("postgres")
        for p in (cluster.base, cluster.sock):
            os.chown(p, pw.pw_uid, pw.pw_gid)
        cluster.base.chmod(0o700)
    _run([_bin("initdb"), "-D", str(cluster.data), "-A", "trust", "-U", "postgres",
          "-E", "UTF8", "--locale=C.UTF-8"], "initdb")


def start(cluster: Cluster | None = None, timeout_s: float = 60.0) -> Cluster:
    """Create (first time) and start the embedded cluster; return it. Idempotent."""
    cluster = cluster or locate()
    if is_running(cluster):
        return cluster
    if not (cluster.data / "PG_VERSION").exists():
        _init(cluster)
    opts = f"-p {PORT} -k {cluster.sock} -c listen_addresses='' -c max_connections=200 " \
           "-c shared_buffers=512MB -c max_wal_size=4GB -c checkpoint_timeout=30min"
    _run([_bin("pg_ctl"), "-D", str(cluster.data), "-l", str(cluster.log), "-w",
          "-t", str(int(timeout_s)), "-o", opts, "start"], "pg_ctl start")
    deadline = time.monotonic() + timeout_s
    while not is_running(cluster):
        if time.monotonic() > deadline:
            msg = f"the embedded PostgreSQL did not answer within {timeout_s} s; see {cluster.log}"
            raise StoreError(msg)
        time.sleep(0.2)
    return cluster


def stop(cluster: Cluster | None = None, mode: str = "fast") -> bool:
    """Stop the embedded cluster; False when it was not running.

    ``mode`` is pg_ctl's shutdown mode: ``fast`` (roll back open transactions, clean
    shutdown) or ``immediate`` (like a crash: recovery from the WAL at the next start).
    """
    cluster = cluster or locate()
    if not is_running(cluster):
        return False
    _run([_bin("pg_ctl"), "-D", str(cluster.data), "-m", mode, "-w", "stop"], "pg_ctl stop")
    return True


def reset(cluster: Cluster | None = None) -> Cluster:
    """Stop the cluster, delete all its data and start an empty one."""
    cluster = cluster or locate()
    stop(cluster)
    shutil.rmtree(cluster.base, ignore_errors=True)
    return start(cluster)
