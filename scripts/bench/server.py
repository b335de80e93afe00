"""A real Shoebox: `python -m webapp serve` in a subprocess, plus its account, uploads and memory."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import urlsplit

from common import ROOT, free_port, say, stop, track

PASSWORD = "correct horse battery staple"
# Run inside the server's own configuration: an account on the 'unlimited' plan and an API key.
ACCOUNT_SNIPPET = f"""
from sqlalchemy import select
from webapp import create_app
from webapp.auth import api_keys, service
from webapp.extensions import db
from webapp.models import Plan
app = create_app()
with app.app_context():
    user = service.create_user("bench@example.com", "bench", {PASSWORD!r}, verified=True)
    user.plan = db.session.scalar(select(Plan).where(Plan.name == "unlimited"))
    db.session.commit()
    print(api_keys.create_api_key(user, "bench")[1])
"""


class Shoebox:
    """One server process on a free loopback port, with its data dir under `home`."""

    def __init__(self, home: Path, threads: int = 8, settings: dict | None = None):
        self.home = home
        self.settings = settings or {}  # more SHOEBOX_* variables, e.g. {"SERVER__ACCEL_REDIRECT": "true"}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.threads = threads
        self.process: subprocess.Popen | None = None
        self.api_key = ""
        self.start_rss_mb = 0.0

    def env(self) -> dict:
        """The environment of spawn_shoebox in tests/fixtures/processes.py: no SHOEBOX_* from outside.

        The logging level is the config's default, as scripts/run leaves it: each request costs what it costs
        in use."""
        config = self.home / "empty.toml"
        config.touch()
        environment = {k: v for k, v in os.environ.items() if not k.startswith("SHOEBOX_")}
        environment.update({
            "SHOEBOX_CONFIG": str(config), "SHOEBOX_DATA_DIR": str(self.home / "data"),
            "SHOEBOX_SCHEDULER__ENABLED": "false",
            "SHOEBOX_SERVER__PORT": str(self.port), "SHOEBOX_SERVER__HOST": "127.0.0.1",
            "SHOEBOX_SERVER__THREADS": str(self.threads), "SHOEBOX_SERVER__BASE_URL": self.url})
        environment.update({f"SHOEBOX_{name}": value for name, value in self.settings.items()})
        return environment

    def start(self) -> None:
        """Spawn the server and wait until /health answers."""
        self.home.mkdir(parents=True, exist_ok=True)
        log = open(self.home / "server.log", "w")
        self.process = track(subprocess.Popen([sys.executable, "-m", "webapp", "serve"], cwd=ROOT, env=self.env(),
                                              stdout=log, stderr=subprocess.STDOUT))
        log.close()
        self._wait_until_healthy()
        self.start_rss_mb = self.memory_kb("VmRSS") * 1024 / 1e6
        say(f"Shoebox serving at {self.url} (pid {self.process.pid}, {self.threads} threads)")

    def _wait_until_healthy(self, seconds: float = 60) -> None:
        """Poll /health until it answers; fail with the server's output if it dies or never does."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(self.url + "/health", timeout=1).read()
                return
            except OSError:
                if self.process.poll() is not None:
                    break
                time.sleep(0.1)
        raise RuntimeError(f"Shoebox did not start:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        """The end of the server's output, for error messages."""
        text = (self.home / "server.log").read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL)."""
        if self.process is not None:
            stop(self.process)

    def create_account(self) -> str:
        """Make the 'bench' account on the unlimited plan through the app itself; keep its API key."""
        done = subprocess.run([sys.executable, "-c", ACCOUNT_SNIPPET], cwd=ROOT, env=self.env(),
                              capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"could not create the bench account:\n{done.stderr[-3000:]}")
        self.api_key = done.stdout.strip().splitlines()[-1]
        return self.api_key

    def upload(self, path: Path, body: bytes | None = None, public: bool | None = True) -> dict:
        """POST one image to /api/v1/images (public, private, or None: the account's default); the API's JSON."""
        body, content_type = multipart_body(path, public) if body is None else body
        status, data = post(self.url + "/api/v1/images", body, content_type, self.api_key)
        if status != 201:
            raise RuntimeError(f"upload of {path.name} answered {status}: {data[:500]!r}")
        return json.loads(data)

    def get(self, path: str) -> tuple[int, str, bytes]:
        """GET a path: (status, content type, body)."""
        with urllib.request.urlopen(self.url + path, timeout=60) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read()

    def memory_kb(self, field: str = "VmRSS") -> int:
        """A memory figure of the server process from /proc/<pid>/status, in kB."""
        with open(f"/proc/{self.process.pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        raise RuntimeError(f"{field} missing from /proc/{self.process.pid}/status")

    def reset_peak(self) -> bool:
        """Start VmHWM again from the current RSS (writing 5 to clear_refs); False if not allowed."""
        try:
            Path(f"/proc/{self.process.pid}/clear_refs").write_text("5")
            return True
        except OSError:
            return False


def multipart_body(path: Path, public: bool | None = True) -> tuple[bytes, str]:
    """A multipart/form-data body with the file and is_public (left out for None), and its content type."""
    boundary = uuid.uuid4().hex
    flag = "" if public is None else \
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"is_public\"\r\n\r\n{str(public).lower()}\r\n"
    head = (f"{flag}--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{path.name}\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode()
    return head + path.read_bytes() + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def post(url: str, body: bytes, content_type: str, api_key: str, timeout: float = 300) -> tuple[int, bytes]:
    """One POST on its own connection: (status, response body)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        connection.request("POST", parts.path, body=body, headers={"Content-Type": content_type, "X-API-Key": api_key})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()
