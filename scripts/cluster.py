"""Shoebox as several instances on one machine: PostgreSQL, S3, Redis and nginx in front. Run by scripts/cluster.

    scripts/cluster                       # 2 instances, load balancer on http://127.0.0.1:8080
    INSTANCES=3 PORT=0 scripts/cluster    # 3 instances, load balancer on a free port

Environment (each optional):
  INSTANCES         how many app instances (default 2)
  PORT              the load balancer's port (default 8080; 0 picks a free one)
  DATABASE_URL      PostgreSQL to use (default: database shoebox_cluster on 127.0.0.1:5432, made if missing)
  REDIS_URL         Redis to use (default: a redis-server of its own on a free port, nothing saved to disk)
  S3_ENDPOINT_URL, S3_BUCKET, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION
                    an S3 store to keep the files in (default: moto's S3 server on a free port, in memory,
                    with buckets `shoebox` and `shoebox-alt`); S3_ALT_BUCKET names a second bucket for
                    [stores.alt] there
  CLUSTER_DIR       where the shared secrets, each instance's data folder and the logs live (default
                    data/cluster)

Every instance runs `python -m webapp serve` on 127.0.0.1 with the scheduler on, the same secret keys,
`server.base_url` = the load balancer and `server.trusted_proxies = 1`. nginx sends requests round-robin,
tries the next instance when one refuses or fails (502), and this supervisor polls each instance's
/health/ready every 2 s, marking an unready one `down` in nginx's configuration (and back up) with a reload.
When no instance is ready (a dependency they share is down), those that still answer stay in.

Tests drive the same class: `Cluster(...).up()`, then `restart(i)`, `kill(i)`, `start(i)`, `leader()`,
`flask(...)`, `env(i)`, and `down()` (tests/cluster/conftest.py). The supervisor is the only implementation.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else "")
REDIS_SERVER = shutil.which("redis-server") or ""
DEFAULT_DATABASE = "postgresql+psycopg://postgres@127.0.0.1:5432/shoebox_cluster"
HEALTH_EVERY = 2.0  # seconds between the supervisor's /health/ready polls
MOTO_KEY = MOTO_SECRET = "testing"  # moto accepts any credentials
MOTO_REGION = "us-east-1"


class ClusterError(Exception):
    """Something the cluster needs is missing or did not start; str() says what."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def ready(url: str, timeout: float = 2.0) -> dict | None:
    """The /health/ready answer of an instance when it is 200, else None."""
    try:
        with urllib.request.urlopen(url + "/health/ready", timeout=timeout) as answer:
            return json.load(answer) if answer.status == 200 else None
    except (OSError, ValueError):
        return None


def alive(url: str, timeout: float = 2.0) -> bool:
    """Whether an instance answers /health (it runs, whatever its dependencies say)."""
    try:
        with urllib.request.urlopen(url + "/health", timeout=timeout) as answer:
            return answer.status == 200
    except OSError:
        return False


def in_rotation(ready_now: dict[int, bool], is_alive) -> dict[int, bool]:
    """Which instances nginx should send requests to: the ready ones; when none is ready (a dependency they
    share is down, S3 say), every one that still answers, so that what can still work does (pages render,
    uploads are refused with 503) rather than nginx refusing everything."""
    if any(ready_now.values()):
        return ready_now
    return {index: is_alive(index) for index in ready_now}


def postgres_url(url: str) -> str:
    """The URL with the psycopg driver, whichever postgres:// spelling it was given in."""
    import re

    return re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql+psycopg://", url)


def create_database(url: str, *, fresh: bool = False) -> None:
    """Make the database `url` names if it is missing (or drop and make it again when `fresh`)."""
    import sqlalchemy as sa

    target = sa.make_url(postgres_url(url))
    name = target.database
    admin = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).scalar()
            if exists and fresh:
                conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
                exists = False
            if not exists:
                conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as error:
        reason = str(error.orig).splitlines()[0]
        raise ClusterError(f"Cannot reach PostgreSQL at {target.set(database='postgres').render_as_string()}: "
                           f"{reason}") from None
    finally:
        admin.dispose()


def drop_database(url: str) -> None:
    import sqlalchemy as sa

    target = sa.make_url(postgres_url(url))
    admin = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
    finally:
        admin.dispose()


@dataclass
class S3:
    endpoint: str
    bucket: str
    key: str
    secret: str
    region: str
    alt_bucket: str = ""


@dataclass
class Instance:
    index: int
    port: int
    process: subprocess.Popen | None = None
    up: bool = False  # what nginx is told

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Cluster:
    """The supervisor: starts the services it was not given, the instances and nginx; stops all it started."""

    count: int = 2
    lb_port: int = 0
    directory: Path = field(default_factory=lambda: ROOT / "data" / "cluster")
    database_url: str = ""  # empty: DEFAULT_DATABASE
    fresh_database: bool = False
    redis_url: str = ""  # empty: start redis-server
    s3: S3 | None = None  # None: start moto
    settings: dict[str, str] = field(default_factory=dict)  # more SHOEBOX_* for every instance
    quiet: bool = True  # False: say on stdout when nginx is told an instance is down or up again
    own_moto: bool = field(default=False, init=False)

    def __post_init__(self):
        self.directory = Path(self.directory)
        self.instances = [Instance(i, free_port()) for i in range(self.count)]
        self._services: list[tuple[str, subprocess.Popen]] = []  # redis, moto, nginx: stopped in reverse
        self._nginx: subprocess.Popen | None = None
        self._nginx_dir: Path | None = None
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._poller: threading.Thread | None = None
        self._logs: list = []
        self.changes: list[tuple[float, int, bool]] = []  # (time, instance, up) as nginx was told

    # --- the whole cluster -----------------------------------------------------------------------------

    @property
    def lb(self) -> str:
        return f"http://127.0.0.1:{self.lb_port}"

    def up(self, timeout: float = 90) -> None:
        """Start everything; return once every instance answers /health/ready. Stops what it started on failure."""
        try:
            self._up(timeout)
        except BaseException:
            self.down()
            raise

    def _up(self, timeout: float) -> None:
        if not NGINX:
            raise ClusterError("nginx is not installed (apt-get install nginx); the load balancer needs it.")
        self.directory.mkdir(parents=True, exist_ok=True)
        self.lb_port = self.lb_port or free_port()
        self._check_port_free(self.lb_port)
        own_moto = self.s3 is None
        if not self.database_url:
            self.database_url = DEFAULT_DATABASE
            # moto keeps files in memory only, so a database kept from last time would name missing files.
            self.fresh_database = self.fresh_database or own_moto
            create_database(self.database_url, fresh=self.fresh_database)
        else:
            self.database_url = postgres_url(self.database_url)
            create_database(self.database_url, fresh=self.fresh_database)
        if not self.redis_url:
            self.redis_url = self._start_redis()
        if own_moto:
            self.s3, self.own_moto = self._start_moto(), True
        self._secrets = self._shared_secrets()
        for instance in self.instances:  # all at once: the migrations' advisory lock lets one migrate
            self._spawn(instance)
        deadline = time.monotonic() + timeout
        for instance in self.instances:
            self._wait_ready(instance, deadline)
            instance.up = True
        self._start_nginx()
        self._wait(lambda: ready(self.lb) is not None, deadline, "the load balancer did not answer /health/ready")
        self._poller = threading.Thread(target=self._poll, name="cluster-health", daemon=True)
        self._poller.start()

    def down(self) -> None:
        """Stop every instance gracefully, then nginx and the services this supervisor started."""
        self._stopping.set()
        if self._poller is not None:
            self._poller.join(timeout=HEALTH_EVERY + 3)
        threads = [threading.Thread(target=self.stop, args=(i.index,)) for i in self.instances if i.process]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for name, process in reversed(self._services):
            _end(process, signal.SIGTERM, 10)
        self._services.clear()
        for log in self._logs:
            log.close()
        self._logs.clear()
        if self._nginx_dir is not None:
            shutil.rmtree(self._nginx_dir, ignore_errors=True)
            self._nginx_dir = None

    # --- one instance ----------------------------------------------------------------------------------

    def env(self, index: int = 0) -> dict[str, str]:
        """The SHOEBOX_* settings of instance `index`."""
        instance = self.instances[index]
        s3 = self.s3
        env = {
            "SHOEBOX_CONFIG": str(self.directory / "cluster.toml"),
            "SHOEBOX_DATA_DIR": str(self.directory / f"instance-{index}"),
            "SHOEBOX_DATABASE__URL": self.database_url,
            "SHOEBOX_STORAGE__URL": f"s3://{s3.bucket}/files",
            "SHOEBOX_STORAGE__ENDPOINT_URL": s3.endpoint,
            "SHOEBOX_STORAGE__KEY": s3.key,
            "SHOEBOX_STORAGE__SECRET": s3.secret,
            "SHOEBOX_STORAGE__REGION": s3.region,
            "SHOEBOX_CLUSTER__REDIS_URL": self.redis_url,
            "SHOEBOX_SCHEDULER__ENABLED": "true",
            "SHOEBOX_SERVER__HOST": "127.0.0.1",
            "SHOEBOX_SERVER__PORT": str(instance.port),
            "SHOEBOX_SERVER__BASE_URL": self.lb,
            "SHOEBOX_SERVER__TRUSTED_PROXIES": "1",
            "SHOEBOX_SECURITY__SECRET_KEY": self._secrets["secret_key"],
            "SHOEBOX_SECURITY__TOKEN_KEY": self._secrets["token_key"],
        }
        if s3.alt_bucket:
            env.update({"SHOEBOX_STORES__ALT__URL": f"s3://{s3.alt_bucket}/files",
                        "SHOEBOX_STORES__ALT__ENDPOINT_URL": s3.endpoint, "SHOEBOX_STORES__ALT__KEY": s3.key,
                        "SHOEBOX_STORES__ALT__SECRET": s3.secret, "SHOEBOX_STORES__ALT__REGION": s3.region})
        env.update(self.settings)
        return env

    def start(self, index: int, timeout: float = 60) -> None:
        """Start instance `index` (stopped or killed) on its port again; return once it is ready."""
        instance = self.instances[index]
        if instance.process is not None and instance.process.poll() is None:
            raise ClusterError(f"Instance {index} is already running.")
        self._spawn(instance)
        self._wait_ready(instance, time.monotonic() + timeout)

    def stop(self, index: int) -> int | None:
        """SIGTERM instance `index` (a graceful stop) and wait for it; returns its exit status."""
        instance = self.instances[index]
        if instance.process is None:
            return None
        drain = int(self.env(index).get("SHOEBOX_SERVER__DRAIN_SECONDS", 30))
        return _end(instance.process, signal.SIGTERM, drain + 20)

    def restart(self, index: int) -> None:
        """A graceful stop, then a start; returns once the instance answers /health/ready again."""
        status = self.stop(index)
        if status not in (0, None):
            raise ClusterError(f"Instance {index} exited with status {status} on SIGTERM; see "
                               f"{self.log_path(index)}.")
        self.start(index)

    def kill(self, index: int, sig: int = signal.SIGKILL) -> None:
        """Send `sig` to instance `index` (SIGKILL: its whole process group) and wait until it has gone."""
        process = self.instances[index].process
        if process is None or process.poll() is not None:
            return
        if sig == signal.SIGKILL:
            _signal_group(process, sig)
        else:
            process.send_signal(sig)
        process.wait()

    def leader(self) -> int | None:
        """The index of the instance whose /health/ready says it leads the scheduler, or None."""
        for instance in self.instances:
            if instance.process is not None and instance.process.poll() is None:
                answer = ready(instance.url)
                if answer and answer["checks"]["scheduler"].get("leader"):
                    return instance.index
        return None

    def flask(self, *args: str, index: int = 0) -> subprocess.CompletedProcess:
        """`flask --app webapp <args>` with instance `index`'s settings (e.g. create-admin)."""
        env = {**_clean_environ(), **self.env(index)}
        return subprocess.run([sys.executable, "-m", "flask", "--app", "webapp", *args], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120)

    def log_path(self, index: int) -> Path:
        return self.directory / f"instance-{index}.log"

    # --- how ---------------------------------------------------------------------------------------------

    def _spawn(self, instance: Instance) -> None:
        (self.directory / "cluster.toml").touch()
        log = open(self.log_path(instance.index), "a", buffering=1)
        self._logs.append(log)
        env = {**_clean_environ(), **self.env(instance.index), "PYTHONUNBUFFERED": "1"}
        instance.process = subprocess.Popen(
            [sys.executable, "-m", "webapp", "serve", "--host", "127.0.0.1", "--port", str(instance.port)],
            cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)  # its own process group: Ctrl-C reaches the supervisor only

    def _wait_ready(self, instance: Instance, deadline: float) -> None:
        while time.monotonic() < deadline:
            if ready(instance.url, timeout=1) is not None:
                return
            if instance.process.poll() is not None:
                raise ClusterError(f"Instance {instance.index} exited with status {instance.process.returncode}:\n"
                                   + _tail(self.log_path(instance.index)))
            time.sleep(0.2)
        raise ClusterError(f"Instance {instance.index} did not answer /health/ready in time:\n"
                           + _tail(self.log_path(instance.index)))

    @staticmethod
    def _wait(condition, deadline: float, failure: str) -> None:
        while not condition():
            if time.monotonic() >= deadline:
                raise ClusterError(failure + ".")
            time.sleep(0.2)

    def _shared_secrets(self) -> dict[str, str]:
        """secret_key and token_key, made once into the cluster folder (mode 600) and given to every instance."""
        values = {}
        for name in ("secret_key", "token_key"):
            path = self.directory / name
            if not path.exists():
                descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(descriptor, "w") as handle:
                    handle.write(secrets.token_urlsafe(48))
            os.chmod(path, 0o600)
            values[name] = path.read_text().strip()
        return values

    def _start_redis(self) -> str:
        if not REDIS_SERVER:
            raise ClusterError("redis-server is not installed (apt-get install redis-server); set REDIS_URL to "
                               "use another Redis.")
        port = free_port()
        process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.directory), "--logfile", str(self.directory / "redis.log")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        self._services.append(("redis", process))
        self._wait_port(port, process, "redis-server")
        return f"redis://127.0.0.1:{port}/0"

    def _start_moto(self) -> S3:
        port = free_port()
        log = open(self.directory / "moto.log", "a")
        self._logs.append(log)
        process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                   stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        self._services.append(("moto", process))
        self._wait_port(port, process, "moto's S3 server")
        endpoint = f"http://127.0.0.1:{port}"
        for bucket in ("shoebox", "shoebox-alt"):
            urllib.request.urlopen(urllib.request.Request(f"{endpoint}/{bucket}", method="PUT"), timeout=10).close()
        return S3(endpoint, "shoebox", MOTO_KEY, MOTO_SECRET, MOTO_REGION, alt_bucket="shoebox-alt")

    def _wait_port(self, port: int, process: subprocess.Popen, what: str, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                if process.poll() is not None:
                    raise ClusterError(f"{what} exited with status {process.returncode}.") from None
                time.sleep(0.1)
        raise ClusterError(f"{what} did not listen on port {port} within {seconds:.0f} s.")

    def _check_port_free(self, port: int) -> None:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                raise ClusterError(f"Port {port} is taken; set PORT to another (0 picks a free one).") from None

    # --- nginx -------------------------------------------------------------------------------------------

    def _start_nginx(self) -> None:
        self._nginx_dir = Path(tempfile.mkdtemp(prefix="shoebox-nginx-"))
        self._write_nginx_config()
        test = subprocess.run([NGINX, "-t", "-q", "-p", str(self._nginx_dir), "-c", "nginx.conf"],
                              capture_output=True, text=True)
        if test.returncode:
            raise ClusterError(f"nginx refused its configuration: {test.stderr.strip()}")
        log = open(self.directory / "nginx.log", "a")
        self._logs.append(log)
        self._nginx = subprocess.Popen([NGINX, "-p", str(self._nginx_dir), "-c", "nginx.conf"],
                                       stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                       start_new_session=True)
        self._services.append(("nginx", self._nginx))
        self._wait_port(self.lb_port, self._nginx, "nginx")

    def _write_nginx_config(self) -> None:
        upstream = "\n".join(f"    server 127.0.0.1:{i.port} max_fails=1 fail_timeout=2s{'' if i.up else ' down'};"
                             for i in self.instances)
        text = NGINX_TEMPLATE.format(
            user="user root;" if os.geteuid() == 0 else "", dir=self._nginx_dir, port=self.lb_port,
            upstream=upstream, body_limit=_body_limit(self.env(0)))
        (self._nginx_dir / "nginx.conf.new").write_text(text)
        os.replace(self._nginx_dir / "nginx.conf.new", self._nginx_dir / "nginx.conf")

    def _reload_nginx(self) -> None:
        self._write_nginx_config()
        if self._nginx is not None and self._nginx.poll() is None:
            self._nginx.send_signal(signal.SIGHUP)  # what `nginx -s reload` sends

    def _poll(self) -> None:
        """Every HEALTH_EVERY seconds: ask each instance /health/ready; tell nginx of any that changed."""
        while not self._stopping.wait(HEALTH_EVERY):
            states = in_rotation({i.index: ready(i.url) is not None for i in self.instances},
                                 lambda index: alive(self.instances[index].url))
            with self._lock:
                changed = [i for i in self.instances if i.up != states[i.index]]
                if not changed or self._stopping.is_set():
                    continue
                for instance in changed:
                    instance.up = states[instance.index]
                    self.changes.append((time.time(), instance.index, instance.up))
                    if not self.quiet:
                        print(f"Instance {instance.index + 1}: {'ready again' if instance.up else 'not ready'}; "
                              f"nginx {'sends it requests' if instance.up else 'leaves it out'}.", flush=True)
                self._reload_nginx()


NGINX_TEMPLATE = """# Generated by scripts/cluster; rewritten when an instance turns unready or comes back.
{user}
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log stderr warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {dir}/client_body;
  proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fastcgi;
  uwsgi_temp_path {dir}/uwsgi;
  scgi_temp_path {dir}/scgi;
  client_max_body_size {body_limit};
  # No keepalive to the instances: a stopping instance's refused connection is retried on another.
  upstream shoebox {{
{upstream}
  }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://shoebox;
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_next_upstream error timeout http_502;
      proxy_connect_timeout 2s;
      proxy_read_timeout 300s;
      proxy_send_timeout 300s;
    }}
  }}
}}
"""


def _body_limit(env: dict[str, str]) -> int:
    """The request body size Shoebox accepts with these settings, for nginx's client_max_body_size."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from webapp.config import load_settings, request_body_limit

    return request_body_limit(load_settings(environ=env, config_file=False))  # the instances read an empty file


def _clean_environ() -> dict[str, str]:
    """This process's environment without SHOEBOX_* settings (each instance gets its own)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("SHOEBOX_")}


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass


def _end(process: subprocess.Popen, sig: int, seconds: float) -> int:
    """Send `sig`, wait up to `seconds`, then SIGKILL the process group; returns the exit status."""
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            _signal_group(process, signal.SIGKILL)
            process.wait()
    _signal_group(process, signal.SIGKILL)  # anything it started and left behind
    return process.returncode


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _s3_from_environ(environ) -> S3 | None:
    if not environ.get("S3_ENDPOINT_URL"):
        return None
    missing = [n for n in ("S3_BUCKET", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY") if not environ.get(n)]
    if missing:
        raise ClusterError(f"S3_ENDPOINT_URL is set, so {', '.join(missing)} must be too.")
    return S3(environ["S3_ENDPOINT_URL"], environ["S3_BUCKET"], environ["AWS_ACCESS_KEY_ID"],
              environ["AWS_SECRET_ACCESS_KEY"], environ.get("AWS_DEFAULT_REGION", "us-east-1"),
              alt_bucket=environ.get("S3_ALT_BUCKET", ""))


def _whole(environ, name: str, default: int, low: int) -> int:
    raw = environ.get(name, "") or str(default)
    if not raw.isdigit() or int(raw) < low:
        raise ClusterError(f"{name} must be a whole number of at least {low}, not {raw!r}.")
    return int(raw)


def main() -> int:
    environ = os.environ
    stop = threading.Event()
    # Ctrl-C and SIGTERM stop everything; from here on, not half-way through starting something.
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        cluster = Cluster(count=_whole(environ, "INSTANCES", 2, 1), lb_port=_whole(environ, "PORT", 8080, 0),
                          directory=Path(environ.get("CLUSTER_DIR") or ROOT / "data" / "cluster"),
                          database_url=environ.get("DATABASE_URL", ""), redis_url=environ.get("REDIS_URL", ""),
                          s3=_s3_from_environ(environ), quiet=False)
    except ClusterError as error:
        print(f"cluster: {error}", file=sys.stderr)
        return 2
    print(f"Starting {cluster.count} instance(s); logs in {cluster.directory}.", flush=True)
    starting = threading.Thread(target=_start_in_background, args=(cluster, stop), daemon=True)
    starting.start()
    while starting.is_alive() and not stop.is_set():
        starting.join(0.2)
    if getattr(cluster, "failure", None):
        print(f"cluster: {cluster.failure}", file=sys.stderr)
        return 1
    if not stop.is_set():
        if cluster.own_moto:
            emptied = f"; database {cluster.database_url.rsplit('/', 1)[-1]} emptied to match" \
                if cluster.fresh_database else ""
            print(f"S3: moto at {cluster.s3.endpoint}, in memory: files last until Ctrl-C{emptied}. "
                  "Set S3_ENDPOINT_URL and S3_BUCKET for a lasting store.", flush=True)
        print(f"Load balancer: {cluster.lb}", flush=True)
        for instance in cluster.instances:
            print(f"Instance {instance.index + 1}: {instance.url}", flush=True)
        print("Press Ctrl-C to stop.", flush=True)
        stop.wait()
    print("Stopping...", flush=True)
    starting.join()  # a start under way finishes (or fails) first, so that everything it started is known
    cluster.down()
    print("Stopped.", flush=True)
    return 0


def _start_in_background(cluster: Cluster, stop: threading.Event) -> None:
    try:
        cluster.up()
    except Exception as error:  # noqa: BLE001 - said to the person, then the supervisor ends
        cluster.failure = str(error)
        stop.set()


if __name__ == "__main__":
    sys.exit(main())
