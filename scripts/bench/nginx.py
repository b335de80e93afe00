"""The reference for originals: nginx serving the same file straight from disk, on a free loopback port."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from common import SCRATCH, free_port, say, stop, track

CONFIG = """
worker_processes auto;
pid {home}/nginx.pid;
error_log {home}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    client_body_temp_path {home}/body;
    proxy_temp_path {home}/proxy;
    fastcgi_temp_path {home}/fastcgi;
    uwsgi_temp_path {home}/uwsgi;
    scgi_temp_path {home}/scgi;
    types {{ image/png png; image/jpeg jpg; }}
    server {{
        listen 127.0.0.1:{port};
        root {root};
{locations}
    }}
}}
"""


def binary() -> str | None:
    """The nginx executable, if installed (it usually lives in /usr/sbin)."""
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx")
                                          if Path(p).exists()), None)


class Nginx:
    """nginx in the foreground with a minimal config in `home`, serving files under `home`/www."""

    def __init__(self, home: Path):
        self.home = home
        self.www = home / "www"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def publish(self, source: Path) -> str:
        """Copy a file into the web root (readable by nginx's unprivileged workers); its URL."""
        self.www.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, self.www / source.name)
        (self.www / source.name).chmod(0o644)
        self._let_workers_through()
        return f"{self.url}/{source.name}"

    def _let_workers_through(self) -> None:
        """Add o+x to our own directories above the web root (mkdtemp makes them 0700)."""
        let_workers_through(self.www)

    def start(self, locations: str = "") -> None:
        """Write the config (with more `location` blocks, if given) and start nginx; wait until it answers."""
        self.home.mkdir(parents=True, exist_ok=True)
        config = self.home / "nginx.conf"
        config.write_text(CONFIG.format(home=self.home, port=self.port, root=self.www, locations=locations))
        command = [binary(), "-p", str(self.home), "-e", str(self.home / "error.log"), "-c", str(config),
                   "-g", "daemon off;"]
        self.process = track(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT))
        self._wait()
        say(f"nginx serving at {self.url} (pid {self.process.pid})")

    def _wait(self, seconds: float = 15) -> None:
        """Poll until nginx answers; fail with its error log if it dies or never does."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(self.url + "/", timeout=1)
                return
            except urllib.error.HTTPError:
                return  # it answers (403/404 for the bare root is fine)
            except OSError:
                if self.process.poll() is not None:
                    break
                time.sleep(0.1)
        log = self.home / "error.log"
        raise RuntimeError(f"nginx did not start: {log.read_text() if log.exists() else 'no log'}")

    def stop(self) -> None:
        """Stop nginx (SIGTERM to the master stops its workers too)."""
        if self.process is not None:
            stop(self.process)

    def version(self) -> str:
        """'nginx/1.x.y'."""
        done = subprocess.run([binary(), "-v"], capture_output=True, text=True)
        return (done.stderr or done.stdout).strip().split(": ")[-1]


def let_workers_through(path: Path) -> None:
    """Let nginx's unprivileged workers reach `path`: o+x on our own directories above it, o+r on a file."""
    if path.is_file():
        path.chmod(path.stat().st_mode | 0o044)
    for folder in (path, *path.parents):
        if folder == SCRATCH.parent or folder.stat().st_uid != os.geteuid():
            break
        if folder.is_dir():
            folder.chmod(folder.stat().st_mode | 0o011)
