"""With the database server unreachable, pages and the API answer 503 naming the database, and
`python -m webapp serve` refuses to start with one sentence instead of a traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading

import pytest
import sqlalchemy as sa

from tests.fixtures import ROOT
from tests.fixtures.accounts import STRONG_PASSWORD, AuthActions

MESSAGE = "The database cannot be reached right now; try again in a moment."


class TcpRelay:
    """A TCP relay to PostgreSQL that the test can cut, like a network failure or a stopped server."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # cut
            server = socket.create_connection(self.target)
            self.sockets += [client, server]
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source, sink):
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self):
        """Refuse new connections and drop the open ones."""
        for sock in [self.listener, *self.sockets]:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()


@pytest.fixture
def app_with_cuttable_database(database_url, make_app):
    """(app, cut): an app whose PostgreSQL connections go through a relay; cut() makes the database unreachable."""
    if database_url.startswith("sqlite"):
        pytest.skip("an unreachable database needs a database server (TEST_DATABASE_URL)")
    url = sa.make_url(database_url)
    relay = TcpRelay((url.host or "127.0.0.1", url.port or 5432))
    app = make_app(database={"url": url.set(host="127.0.0.1", port=relay.port).render_as_string(hide_password=False)})
    yield app, relay.cut
    relay.cut()


def test_pages_answer_503_naming_the_database_when_it_is_unreachable(app_with_cuttable_database, make_user):
    app, cut = app_with_cuttable_database
    make_user(username="kim")
    client = app.test_client()
    assert AuthActions(client).login("kim", STRONG_PASSWORD).status_code in (302, 303)
    cut()
    response = client.get("/")
    assert response.status_code == 503
    assert MESSAGE in response.get_data(as_text=True)
    assert int(response.headers["Retry-After"]) > 0

    fragment = client.get("/", headers={"HX-Request": "true"})
    assert fragment.status_code == 503 and MESSAGE in fragment.get_data(as_text=True)
    assert fragment.headers["HX-Retarget"] == "#flashes"


def test_the_api_answers_503_database_unavailable_when_it_is_unreachable(app_with_cuttable_database):
    app, cut = app_with_cuttable_database
    cut()
    response = app.test_client().post("/api/v1/auth/login", json={"identifier": "kim", "password": STRONG_PASSWORD})
    assert response.status_code == 503
    assert response.json == {"error": {"code": "database_unavailable", "message": MESSAGE}}
    assert int(response.headers["Retry-After"]) > 0


def test_start_up_with_an_unreachable_database_says_so_in_one_sentence(tmp_path):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    (tmp_path / "empty.toml").touch()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOEBOX_")}
    env.update(SHOEBOX_CONFIG=str(tmp_path / "empty.toml"), SHOEBOX_DATA_DIR=str(tmp_path / "data"),
               SHOEBOX_DATABASE__URL=f"postgresql://nobody:secret@127.0.0.1:{port}/shoebox")
    result = subprocess.run([sys.executable, "-m", "webapp", "serve"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.strip() == (
        f"shoebox: Cannot connect to the database at postgresql+psycopg://nobody:***@127.0.0.1:{port}/shoebox: "
        f'connection to server at "127.0.0.1", port {port} failed: Connection refused.')


def test_start_up_against_a_database_host_that_never_answers_gives_up_within_seconds(tmp_path):
    from webapp import DATABASE_CONNECT_SECONDS

    silent = socket.create_server(("127.0.0.1", 0))  # accepts connections, never says a word
    port = silent.getsockname()[1]
    (tmp_path / "empty.toml").touch()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOEBOX_")}
    env.update(SHOEBOX_CONFIG=str(tmp_path / "empty.toml"), SHOEBOX_DATA_DIR=str(tmp_path / "data"),
               SHOEBOX_DATABASE__URL=f"postgresql://nobody:secret@127.0.0.1:{port}/shoebox")
    try:
        result = subprocess.run([sys.executable, "-m", "webapp", "serve"], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=DATABASE_CONNECT_SECONDS * 4 + 20)
    finally:
        silent.close()
    assert result.returncode == 1
    assert result.stderr.startswith("shoebox: Cannot connect to the database at postgresql+psycopg://nobody:***@")
    assert "timeout" in result.stderr.lower() and len(result.stderr.strip().splitlines()) == 1
