"""`python -m webapp serve`, the process scripts/run and Docker start."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import urllib.request

from tests.fixtures import ROOT
from tests.fixtures.processes import spawn_shoebox, wait_until_healthy


def test_server_creates_its_secrets_once(start_instance, tmp_path):
    url = start_instance()
    assert json.load(urllib.request.urlopen(url + "/health"))["status"] == "OK"
    data = tmp_path / "data"
    for name in ("secret_key", "token_key"):
        assert stat.S_IMODE(os.stat(data / name).st_mode) == 0o600
    first = (data / "secret_key").read_text()
    assert (data / "shoebox.db").exists() and (data / "files").is_dir()
    start_instance()  # a second start on the same data directory
    assert (data / "secret_key").read_text() == first


def test_sigterm_stops_the_server_cleanly(tmp_path):
    process, url = spawn_shoebox(tmp_path, SHOEBOX_LOGGING__LEVEL="info")
    wait_until_healthy(process, url)
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=15)
    assert process.returncode == 0, output
    assert f"Shoebox is running at {url}/" in output and "Shoebox stopped." in output
    assert "Traceback" not in output


def test_ctrl_c_stops_the_server_even_when_sigint_was_ignored(tmp_path):
    # A shell's background job starts with SIGINT ignored; the server must still stop on Ctrl-C.
    process, url = spawn_shoebox(tmp_path, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    wait_until_healthy(process, url)
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=15)
    assert process.returncode == 0 and "Shoebox stopped." in output, output


def test_bad_configuration_stops_start_up_with_one_sentence(tmp_path):
    (tmp_path / "empty.toml").touch()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOEBOX_")}
    env.update(SHOEBOX_CONFIG=str(tmp_path / "empty.toml"), SHOEBOX_DATA_DIR=str(tmp_path / "data"),
               SHOEBOX_LIMITS__MAX_UPLOAD_BYTES="-1")
    result = subprocess.run([sys.executable, "-m", "webapp", "serve"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert result.stderr.strip() == "shoebox: Configuration key limits.max_upload_bytes must not be negative, not -1."


def test_the_port_flag_is_the_port_links_are_built_with(tmp_path):
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    (tmp_path / "empty.toml").touch()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOEBOX_")}
    env.update(SHOEBOX_CONFIG=str(tmp_path / "empty.toml"), SHOEBOX_DATA_DIR=str(tmp_path / "data"),
               SHOEBOX_SCHEDULER__ENABLED="false")
    process = subprocess.Popen([sys.executable, "-m", "webapp", "serve", "--host", "127.0.0.1", "--port", str(port)],
                               cwd=ROOT, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_healthy(process, url)
        document = json.load(urllib.request.urlopen(url + "/api/v1/openapi.json", timeout=10))
        assert document["servers"] == [{"url": f"http://localhost:{port}"}]
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stdout.close()
