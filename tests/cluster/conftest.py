"""A real cluster for the tests in this folder: 2 Shoebox instances on PostgreSQL, moto's S3 server and Redis,
behind nginx, started by the same supervisor as scripts/cluster (scripts/cluster.py).

    def test_something(cluster):
        requests.get(cluster.lb + "/health/ready")
        cluster.kill(cluster.leader())

One cluster per test module, on a fresh database `shoebox_cluster_<module>`; a module may override the
`cluster_settings` fixture (module scope) to give its instances more SHOEBOX_* settings.

Needs nginx, redis-server and PostgreSQL (TEST_DATABASE_URL, else postgres@127.0.0.1:5432). Without them the
tests skip, saying what is missing, unless CI or REQUIRE_BROWSER=1 is set: then they fail.
"""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass, field

import pytest

from tests.fixtures import ROOT
from tests.fixtures.database import TEST_DATABASE_URL

LOCAL_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
# Short leases and heartbeats, so that failover and job takeover are seen within a test's patience.
FAST_SETTINGS = {
    "SHOEBOX_JOBS__LEASE_SECONDS": "10",
    "SHOEBOX_JOBS__POLL_SECONDS": "1",
    "SHOEBOX_SCHEDULER__HEARTBEAT_SECONDS": "5",
    "SHOEBOX_SERVER__DRAIN_SECONDS": "15",
}


def load_supervisor():
    """scripts/cluster.py as a module (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location("shoebox_cluster_supervisor", ROOT / "scripts" / "cluster.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


supervisor = load_supervisor()


@dataclass
class Cluster:
    lb: str  # "http://127.0.0.1:<port>", nginx
    instances: list[str]  # each instance's base URL, index 0..N-1
    database_url: str
    redis_url: str
    s3_endpoint: str
    _supervisor: object = field(repr=False)

    def restart(self, index: int) -> None:
        """SIGTERM (graceful) then start again; returns once /health/ready is 200."""
        self._supervisor.restart(index)

    def kill(self, index: int, sig=signal.SIGKILL) -> None:
        """Send `sig` (SIGKILL: to the instance's process group) and wait until the process has gone."""
        self._supervisor.kill(index, sig)

    def start(self, index: int) -> None:
        """Start a killed or stopped instance again on its port; returns once it is ready."""
        self._supervisor.start(index)

    def leader(self) -> int | None:
        """The index whose /health/ready says checks.scheduler.leader is true, or None."""
        return self._supervisor.leader()

    def flask(self, *args: str) -> subprocess.CompletedProcess:
        """`flask --app webapp <args>` with the cluster's settings (e.g. create-admin)."""
        return self._supervisor.flask(*args)

    def env(self, index: int = 0) -> dict:
        """The SHOEBOX_* settings of instance `index`."""
        return self._supervisor.env(index)

    def pid(self, index: int) -> int | None:
        """The process id of instance `index` while it runs (job lease owners name it), else None."""
        process = self._supervisor.instances[index].process
        return process.pid if process is not None and process.poll() is None else None

    def log(self, index: int) -> str:
        """What instance `index` has written so far (for assertion messages)."""
        return self._supervisor.log_path(index).read_text(errors="replace")


def services_required() -> bool:
    return bool(os.environ.get("CI")) or os.environ.get("REQUIRE_BROWSER") == "1"


def missing_services(postgres_url: str) -> list[str]:
    """What the cluster needs and this machine lacks, each as a short phrase."""
    missing = []
    if not supervisor.NGINX:
        missing.append("nginx is not installed")
    if not supervisor.REDIS_SERVER:
        missing.append("redis-server is not installed")
    if importlib.util.find_spec("moto") is None:
        missing.append("moto is not installed (requirements/dev.lock)")
    import sqlalchemy as sa

    engine = sa.create_engine(supervisor.postgres_url(postgres_url))
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as error:  # noqa: BLE001 - any failure means no PostgreSQL to test on
        missing.append(f"PostgreSQL at {sa.make_url(postgres_url).render_as_string()} cannot be reached "
                       f"({type(error).__name__})")
    finally:
        engine.dispose()
    return missing


def cluster_database(server: str, name: str) -> str:
    """The URL of database shoebox_cluster_<name> on `server` (one per pytest-xdist worker, which may run
    tests of the same module at once)."""
    import sqlalchemy as sa

    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    database = f"shoebox_cluster_{name}" + (f"_{worker}" if worker else "")
    return sa.make_url(supervisor.postgres_url(server)).set(database=database[:63], query={}) \
        .render_as_string(hide_password=False)


@pytest.fixture(scope="module")
def cluster_settings() -> dict[str, str]:
    """More SHOEBOX_* settings for every instance of this module's cluster; override it in a module."""
    return {}


@pytest.fixture(scope="module")
def cluster(request, tmp_path_factory, cluster_settings):
    """A running cluster of 2 instances on a database of this module's own, stopped after the module."""
    server = TEST_DATABASE_URL or LOCAL_POSTGRES
    missing = missing_services(server)
    if missing:
        message = "the cluster cannot start: " + "; ".join(missing)
        if services_required():
            pytest.fail(message + " (CI or REQUIRE_BROWSER=1 is set)", pytrace=False)
        pytest.skip(message)
    module = re.sub(r"[^a-z0-9_]", "_", request.module.__name__.rsplit(".", 1)[-1].lower())
    database_url = cluster_database(server, module)
    running = supervisor.Cluster(count=2, directory=tmp_path_factory.mktemp(f"cluster-{module}"),
                                 database_url=database_url, fresh_database=True,
                                 settings={**FAST_SETTINGS, **cluster_settings})
    running.up()
    try:
        yield Cluster(lb=running.lb, instances=[i.url for i in running.instances],
                      database_url=running.database_url, redis_url=running.redis_url,
                      s3_endpoint=running.s3.endpoint, _supervisor=running)
    finally:
        running.down()
        supervisor.drop_database(database_url)


def pytest_collection_modifyitems(config, items):
    """Every test in this folder is a cluster test, and slow."""
    for item in items:
        if "tests/cluster/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.cluster)
            item.add_marker(pytest.mark.slow)
