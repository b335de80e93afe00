"""server.accel_redirect: Shoebox checks who may see a file and answers with its headers and X-Accel-Redirect,
and nginx sends the bytes. Tested behind a real nginx configured with the location block README.md gives,
plus what Shoebox itself answers (and meters) with the setting on.

Needs nginx (Debian: apt-get install nginx-light); skipped without it, except under REQUIRE_BROWSER=1
(CI), where a missing nginx fails the run.
"""

from __future__ import annotations

import grp
import hashlib
import http.client
import json
import os
import pwd
import re
import shutil
import socket
import subprocess
import time

import pytest
from sqlalchemy import func, select

from tests.fixtures import ROOT
from tests.fixtures.media import make_jpeg, multipart
from tests.test_originals_serving import noisy_jpeg
from webapp import metering

PREFIX = "/_shoebox/files/"

NGINX_CONF = """
user {user} {group};
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log off;
    sendfile on;
    client_body_temp_path {folder}/body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://127.0.0.1:{app_port};
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
        }}
{internal_location}
    }}
}}
"""


def readme_location(files: str) -> str:
    """The internal location block of README.md, pointed at `files` (so the documented block is the tested one)."""
    found = re.search(r"```nginx\n(location /_shoebox/files/ \{.*?\n\})\n```", (ROOT / "README.md").read_text(),
                      re.DOTALL)
    assert found, "README.md has no nginx block for the /_shoebox/files/ location"
    block, count = re.subn(r"alias /data/files/;", f"alias {files}/;", found.group(1))
    assert count == 1, "the README's block no longer aliases /data/files/"
    return block


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def nginx_with_accel(tmp_path):
    """start(app_url, files_folder) -> port of an nginx proxying to the Shoebox at app_url with README's location."""
    binary = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.path.exists(p)), None)
    if binary is None:
        message = "nginx is not installed (apt-get install nginx-light); X-Accel-Redirect tests need it"
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(message + " and REQUIRE_BROWSER=1 is set", pytrace=False)
        pytest.skip(message)
    folder = tmp_path / "nginx"
    folder.mkdir()
    processes = []

    def start(app_url: str, files) -> int:
        port = _free_port()
        conf = folder / "nginx.conf"
        # Stored files are readable by Shoebox's user alone: nginx's workers run as that user, as README says.
        conf.write_text(NGINX_CONF.format(
            user=pwd.getpwuid(os.geteuid()).pw_name, group=grp.getgrgid(os.getegid()).gr_name, folder=folder,
            port=port, app_port=app_url.rsplit(":", 1)[1], internal_location=readme_location(str(files))))
        process = subprocess.Popen([binary, "-p", str(folder), "-e", str(folder / "error.log"), "-c", str(conf),
                                    "-g", "daemon off;"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        processes.append(process)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return port
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    process.kill()
                    log = (folder / "error.log").read_text() if (folder / "error.log").exists() else ""
                    raise AssertionError(f"nginx did not start: {process.stdout.read()} {log}") from None
                time.sleep(0.05)

    yield start
    for process in processes:
        process.terminate()
        process.wait(timeout=10)
        process.stdout.close()


def ask(port: int, path: str, method: str = "GET", body: bytes | None = None, **headers) -> tuple[int, dict, bytes]:
    """(status, headers with lower-case names, body) of one request; repeated headers keep every value."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    connection.request(method, path, body=body, headers={k.replace("_", "-"): v for k, v in headers.items()})
    response = connection.getresponse()
    data = response.read()
    connection.close()
    found: dict = {}
    for name, value in response.getheaders():
        found.setdefault(name.lower(), []).append(value)
    return response.status, {name: values[0] if len(values) == 1 else values for name, values in found.items()}, data


@pytest.fixture
def behind_nginx(make_app, database_url, start_instance, nginx_with_accel, tmp_path):
    """(nginx port, kim's API key, a public photo's JSON and bytes, a private photo's JSON and bytes)."""
    from tests.fixtures.accounts import STRONG_PASSWORD
    from webapp.auth import service

    with make_app().app_context():
        service.create_user("kim@example.com", "kim", STRONG_PASSWORD, verified=True)
    app_url = start_instance(SHOEBOX_DATABASE__URL=database_url, SHOEBOX_SERVER__TRUSTED_PROXIES="1",
                             SHOEBOX_SERVER__ACCEL_REDIRECT=PREFIX)
    port = nginx_with_accel(app_url, tmp_path / "data" / "files")
    status, _, body = ask(port, "/api/v1/auth/login", "POST", json.dumps(
        {"identifier": "kim", "password": STRONG_PASSWORD}).encode(), Content_Type="application/json")
    assert status == 200, body
    token = json.loads(body)["access_token"]
    status, _, body = ask(port, "/api/v1/api-keys", "POST", b'{"name": "test"}', Content_Type="application/json",
                          Authorization=f"Bearer {token}")
    assert status == 201, body
    key = json.loads(body)["key"]
    photos = []
    for data, public in [(noisy_jpeg(), "true"), (make_jpeg((300, 200)), "false")]:
        form, content_type = multipart({"file": (data, "Beach day.jpg"), "is_public": public})
        status, _, body = ask(port, "/api/v1/images", "POST", form, Content_Type=content_type, X_API_Key=key)
        assert status == 201, body
        photos.append(json.loads(body))
    return port, key, photos[0], photos[1]


def test_nginx_sends_a_public_original_with_shoeboxs_headers(behind_nginx):
    port, _key, photo, _private = behind_nginx
    for path in (f"/i/{photo['id']}", f"/i/{photo['id']}.jpg"):
        status, headers, data = ask(port, path)
        assert status == 200 and hashlib.sha256(data).hexdigest() == photo["sha256"]
        assert "x-accel-redirect" not in headers
        assert headers["content-type"] == "image/jpeg" and headers["content-length"] == str(photo["size"])
        assert headers["etag"] == f'"{photo["sha256"]}"'
        assert headers["content-disposition"] == \
            """inline; filename="Beach day.jpg"; filename*=UTF-8''Beach%20day.jpg"""
        assert headers["cache-control"] == "public, max-age=86400" and headers["accept-ranges"] == "bytes"
        assert "sandbox" in headers["content-security-policy"] and headers["x-content-type-options"] == "nosniff"
        assert headers["cross-origin-resource-policy"] == "cross-origin" and headers["vary"] == "Cookie"
    status, headers, _ = ask(port, f"/i/{photo['id']}?download=1")
    assert status == 200 and headers["content-disposition"].startswith("attachment;")


def test_nginx_answers_ranges_and_shoebox_answers_revalidation(behind_nginx):
    port, _key, photo, _private = behind_nginx
    _, whole_headers, whole = ask(port, f"/i/{photo['id']}")
    status, headers, part = ask(port, f"/i/{photo['id']}", Range="bytes=1000-20999")
    assert status == 206 and part == whole[1000:21000]
    assert headers["content-range"] == f"bytes 1000-20999/{photo['size']}"
    status, _, part = ask(port, f"/i/{photo['id']}", Range="bytes=0-99", If_Range=whole_headers["etag"])
    assert status == 206 and part == whole[:100]
    status, _, part = ask(port, f"/i/{photo['id']}", Range="bytes=0-99", If_Range='"an-old-version"')
    assert status == 200 and part == whole
    status, _, part = ask(port, f"/i/{photo['id']}", If_None_Match=whole_headers["etag"])
    assert status == 304 and part == b""
    status, _, part = ask(port, f"/i/{photo['id']}", If_Modified_Since=whole_headers["last-modified"])
    assert status == 304 and part == b""
    assert ask(port, f"/i/{photo['id']}", Range=f"bytes={photo['size']}-")[0] == 416


def test_a_private_original_reaches_its_owner_alone(behind_nginx):
    port, key, _public, photo = behind_nginx
    assert ask(port, f"/i/{photo['id']}")[0] == 404
    assert ask(port, f"/i/{photo['id']}.jpg", Range="bytes=0-9")[0] == 404
    status, headers, data = ask(port, f"/i/{photo['id']}", X_API_Key=key)
    assert status == 200 and hashlib.sha256(data).hexdigest() == photo["sha256"]
    assert headers["cache-control"] == "private, max-age=3600"
    assert headers["cross-origin-resource-policy"] == "same-origin"


def test_the_internal_location_cannot_be_asked_for_directly(behind_nginx):
    port, key, public, private = behind_nginx
    for photo in (public, private):
        key_path = f"originals/{photo['id'][:2]}/{photo['id']}.jpg"
        assert ask(port, PREFIX + key_path)[0] == 404
        assert ask(port, PREFIX + key_path, X_API_Key=key)[0] == 404


# --- Shoebox's side, without nginx ------------------------------------------------------------------

@pytest.fixture
def accel_app(make_app, tmp_path):
    return make_app(storage={"url": (tmp_path / "files").as_uri()}, server={"accel_redirect": PREFIX})


def bytes_out(app, user_id: int) -> int:
    from webapp.extensions import db
    from webapp.models import DailyUsage

    metering.flush(app)
    with app.app_context():
        return db.session.scalar(select(func.coalesce(func.sum(DailyUsage.bytes_out), 0))
                                 .where(DailyUsage.user_id == user_id))


def kim_uploads(app, data: bytes) -> dict:
    """The JSON of a public photo that kim (made with make_user) uploads through `app`."""
    from tests.fixtures.accounts import STRONG_PASSWORD

    client = app.test_client()
    token = client.post("/api/v1/auth/login", json={"identifier": "kim", "password": STRONG_PASSWORD}) \
        .get_json()["access_token"]
    form, content_type = multipart({"file": (data, "noise.jpg"), "is_public": "true"})
    answer = client.post("/api/v1/images", headers={"Authorization": f"Bearer {token}"}, data=form,
                         content_type=content_type)
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()


def test_with_the_setting_shoebox_sends_headers_and_meters_what_nginx_sends(accel_app, make_user):
    owner = make_user(email="kim@example.com", username="kim")
    photo = kim_uploads(accel_app, noisy_jpeg())
    before = bytes_out(accel_app, owner)
    anyone = accel_app.test_client()
    whole = anyone.get(f"/i/{photo['id']}")
    assert whole.status_code == 200 and whole.data == b""
    assert whole.headers["X-Accel-Redirect"] == f"{PREFIX}originals/{photo['id'][:2]}/{photo['id']}.jpg"
    assert whole.headers["ETag"] == f'"{photo["sha256"]}"' and "Accept-Ranges" not in whole.headers
    part = anyone.get(f"/i/{photo['id']}", headers={"Range": "bytes=100-1099"})
    assert part.status_code == 200 and "X-Accel-Redirect" in part.headers  # nginx makes the 206
    assert anyone.get(f"/i/{photo['id']}", headers={"Range": "bytes=-500"}).status_code == 200
    assert anyone.get(f"/i/{photo['id']}", headers={"Range": "bytes=0-9", "If-Range": '"old"'}).status_code == 200
    revalidated = anyone.get(f"/i/{photo['id']}", headers={"If-None-Match": whole.headers["ETag"]})
    assert revalidated.status_code == 304 and "X-Accel-Redirect" not in revalidated.headers
    assert anyone.head(f"/i/{photo['id']}").status_code == 200
    assert bytes_out(accel_app, owner) - before == photo["size"] + 1000 + 500 + photo["size"]


def test_the_setting_is_ignored_for_a_store_that_is_not_a_folder(make_app, make_user):
    make_user(email="kim@example.com", username="kim")
    app = make_app(server={"accel_redirect": PREFIX})  # files in memory://, as with S3: no folder for nginx
    photo = kim_uploads(app, make_jpeg())
    served = app.test_client().get(f"/i/{photo['id']}")
    assert served.status_code == 200 and "X-Accel-Redirect" not in served.headers
    assert hashlib.sha256(served.data).hexdigest() == photo["sha256"]


@pytest.mark.parametrize("value", ["_shoebox/files/", "/", "/files?x=1", "/my files/", 5])
def test_a_wrong_accel_redirect_setting_stops_start_up_naming_the_key(value):
    from webapp.config import ConfigError, load_settings

    with pytest.raises(ConfigError, match="server.accel_redirect"):
        load_settings({"server": {"accel_redirect": value}}, environ={}, config_file=False)


def test_the_accel_redirect_setting_is_a_path_ending_in_a_slash():
    from webapp.config import load_settings

    assert load_settings({"server": {"accel_redirect": "/_shoebox/files"}}, environ={},
                         config_file=False)["server"]["accel_redirect"] == "/_shoebox/files/"
    assert load_settings(environ={"SHOEBOX_SERVER__ACCEL_REDIRECT": "/internal/"},
                         config_file=False)["server"]["accel_redirect"] == "/internal/"
    assert load_settings(environ={}, config_file=False)["server"]["accel_redirect"] == ""
