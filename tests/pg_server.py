"""A throw-away PostgreSQL server for the tests, started from the installed server binaries."""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


def find_bindir() -> Path | None:
    """The newest installed PostgreSQL server's bin folder, if any."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if candidates:
        return Path(candidates[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


PREFIX = "closeloop-pg-"
OWNER_FILE = "owner.pid"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_postgres(pid: int) -> bool:
    """Whether ``pid`` is still a PostgreSQL server process (not a process that reused the number)."""
    try:
        return b"postgres" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def reap_orphans(parent: Path | None = None) -> list[Path]:
    """Stop and remove the servers of test processes that died without stopping them (a SIGKILLed pytest):
    each folder names the process that started it, and its server is stopped by the postmaster's own pid."""
    reaped = []
    for root in Path(parent or tempfile.gettempdir()).glob(PREFIX + "*"):
        try:
            owner = int((root / OWNER_FILE).read_text())
        except (OSError, ValueError):
            continue  # not one of ours, or still being set up
        if _alive(owner):
            continue
        try:
            postmaster = int((root / "data" / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            postmaster = None
        if postmaster is not None and _is_postgres(postmaster):
            os.kill(postmaster, 9)  # its backends notice the postmaster's death and exit
        shutil.rmtree(root, ignore_errors=True)
        reaped.append(root)
    return reaped


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """initdb into a temp folder, start on a free loopback port, stop by the postmaster's process id."""

    def __init__(self, bindir: Path, *, host_auth: str = "trust", durable: bool = False) -> None:
        self.bindir = bindir
        # Over TCP; the socket in the server's folder always trusts (that is how a superuser gets in when
        # host_auth asks the roles for passwords).
        self.host_auth = host_auth
        reap_orphans()
        self.root = Path(tempfile.mkdtemp(prefix=PREFIX))
        (self.root / OWNER_FILE).write_text(str(os.getpid()))
        self.data = self.root / "data"
        self.port = _free_port()
        self.pid: int | None = None
        # PostgreSQL refuses to run as root: run it as the 'postgres' system user when we are root.
        self.run_as = "postgres" if os.geteuid() == 0 else None
        # The tests trade crash safety for speed; a soak or a benchmark runs PostgreSQL as production does.
        self.durable = durable

    def _cmd(self, *args: str) -> list[str]:
        return (["runuser", "-u", self.run_as, "--"] if self.run_as else []) + list(args)

    def start(self) -> str:
        """Start the server; return a SQLAlchemy URL for its 'postgres' database."""
        if self.run_as:
            user = pwd.getpwnam(self.run_as)
            os.chmod(self.root, 0o755)
            os.chown(self.root, user.pw_uid, user.pw_gid)
        subprocess.run(self._cmd(str(self.bindir / "initdb"), "-D", str(self.data), "-U", "closeloop",
                                 "--auth-local=trust", f"--auth-host={self.host_auth}", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"),
                       check=True, capture_output=True)
        speed = "" if self.durable else "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
        options = (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} {speed}-c max_connections=200")
        self.options = options
        subprocess.run(self._cmd(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-o", options, "-w",
                                 "-l", str(self.root / "server.log"), "start"), check=True, capture_output=True)
        self.pid = int((self.data / "postmaster.pid").read_text().split()[0])
        return f"postgresql+psycopg://closeloop@127.0.0.1:{self.port}/postgres"

    def migrated_database(self, name: str) -> str:
        """Create database ``name`` on the started server, migrate it, and return its URL (as the superuser)."""
        import sqlalchemy as sa

        from engine.store import Store
        from engine.store.migrate import migrate

        admin = sa.create_engine(f"postgresql+psycopg://closeloop@127.0.0.1:{self.port}/postgres",
                                 isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        url = f"postgresql+psycopg://closeloop@127.0.0.1:{self.port}/{name}"
        store = Store(url)
        try:
            migrate(store)
        finally:
            store.dispose()
        return url

    def halt(self) -> None:
        """Stop the server as an operator would (fast shutdown: sessions cut off), keeping its files."""
        subprocess.run(self._cmd(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"),
                       check=True, capture_output=True)

    def resume(self) -> None:
        """Start a halted server again, on the same port with the same data."""
        subprocess.run(self._cmd(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-o", self.options, "-w", "-l",
                                 str(self.root / "server.log"), "start"), check=True, capture_output=True)
        self.pid = int((self.data / "postmaster.pid").read_text().split()[0])

    @property
    def socket_dir(self) -> Path:
        """The folder of the server's Unix socket (psql -h takes it)."""
        return self.root

    def stop(self) -> None:
        """Stop the server by its process id and remove its files."""
        if self.pid is not None:
            subprocess.run(self._cmd(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"),
                           capture_output=True)
            try:
                os.kill(self.pid, 0)
                os.kill(self.pid, 9)
            except ProcessLookupError:
                pass
            self.pid = None
        shutil.rmtree(self.root, ignore_errors=True)
