"""Serving a photo's original (/i/<id>): every view is counted exactly though none is written per request,
and ranges come straight from the file, through the Flask test client and through waitress alike."""

from __future__ import annotations

import hashlib
import io
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from PIL import Image
from werkzeug.test import EnvironBuilder

from tests.fixtures.media import make_jpeg, multipart
from webapp import metering
from webapp.media import views


def noisy_jpeg(width=900, height=700) -> bytes:
    """A photo that compresses badly: a few hundred kilobytes, so a range is a real slice of a real file."""
    image = Image.frombytes("RGB", (width, height), hashlib.shake_256(b"shoebox").digest(width * height * 3))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


def views_of(app, media_id: str) -> int:
    """media.views as the database holds it, after writing the views that wait."""
    from webapp.extensions import db
    from webapp.models import Media

    views.flush(app)
    with app.app_context():
        return db.session.get(Media, media_id).views


@pytest.fixture
def disk_app(make_app, tmp_path):
    """An app whose files are on local disk (file://), as in a real installation."""
    return make_app(storage={"url": (tmp_path / "files").as_uri()})


@pytest.fixture
def on_disk(disk_app, make_user):
    """(app, owner's headers, id and bytes of a public photo on disk)."""
    make_user(email="kim@example.com", username="kim")
    client = disk_app.test_client()
    from tests.fixtures.accounts import STRONG_PASSWORD

    token = client.post("/api/v1/auth/login", json={"identifier": "kim", "password": STRONG_PASSWORD}) \
        .get_json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    body, content_type = multipart({"file": (noisy_jpeg(), "noise.jpg"), "is_public": "true"})
    created = client.post("/api/v1/images", headers=headers, data=body, content_type=content_type).get_json()
    data = client.get(f"/i/{created['id']}", headers=headers, buffered=True).data
    assert hashlib.sha256(data).hexdigest() == created["sha256"]
    return disk_app, headers, created["id"], data


# --- views ------------------------------------------------------------------------------------------

def test_each_anonymous_look_at_an_original_is_one_view(app, kim):
    media_id = kim.upload(make_jpeg(), is_public="true").get_json()["id"]
    anyone = app.test_client()
    for _ in range(3):
        assert anyone.get(f"/i/{media_id}").status_code == 200
    assert anyone.get(f"/i/{media_id}.jpg").status_code == 200
    assert views_of(app, media_id) == 4


def test_the_owner_head_requests_and_resumed_downloads_are_not_views(app, kim):
    media_id = kim.upload(make_jpeg(), is_public="true").get_json()["id"]
    anyone = app.test_client()
    assert kim.get(f"/i/{media_id}").status_code == 200
    assert anyone.head(f"/i/{media_id}").status_code == 200
    assert anyone.get(f"/i/{media_id}", headers={"Range": "bytes=10-"}).status_code == 206
    assert anyone.get(f"/i/{media_id}?size=thumb").status_code == 200
    assert views_of(app, media_id) == 0


def test_views_arriving_together_are_all_counted(app, kim):
    media_id = kim.upload(make_jpeg(), is_public="true").get_json()["id"]

    def look(_):
        return app.test_client().get(f"/i/{media_id}").status_code

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(look, range(60))) == [200] * 60
    assert views_of(app, media_id) == 60


def test_views_reach_the_database_within_seconds_without_being_asked(app, kim):
    media_id = kim.upload(make_jpeg(), is_public="true").get_json()["id"]
    assert app.test_client().get(f"/i/{media_id}").status_code == 200
    deadline = time.monotonic() + 5 * views.FLUSH_SECONDS
    while kim.get(f"/api/v1/images/{media_id}").get_json()["views"] != 1:
        assert time.monotonic() < deadline, "the view was not written by the counter's thread"
        time.sleep(0.05)


def test_views_that_could_not_be_written_wait_for_the_next_flush(app, kim, monkeypatch):
    media_id = kim.upload(make_jpeg(), is_public="true").get_json()["id"]
    anyone = app.test_client()
    assert anyone.get(f"/i/{media_id}").status_code == 200
    assert anyone.get(f"/i/{media_id}").status_code == 200
    counter = views.counter_of(app)
    real_write = counter._write

    def database_gone(batch):
        raise ConnectionError("database unreachable")

    monkeypatch.setattr(counter, "_write", database_gone)
    assert views.flush(app) == 0
    monkeypatch.setattr(counter, "_write", real_write)
    assert anyone.get(f"/i/{media_id}").status_code == 200
    assert views_of(app, media_id) == 3


def test_views_still_waiting_are_written_when_the_app_stops(app, kim):
    media_id = kim.upload(make_jpeg(), is_public="true").get_json()["id"]
    assert app.test_client().get(f"/i/{media_id}").status_code == 200
    views.stop(app)
    from webapp.extensions import db
    from webapp.models import Media

    with app.app_context():
        assert db.session.get(Media, media_id).views == 1


# --- a public original remembered for a few seconds ---------------------------------------------------

def test_a_public_original_made_private_is_404_at_once(app, kim):
    media_id = kim.upload(make_jpeg(), is_public="true").get_json()["id"]
    anyone = app.test_client()
    assert anyone.get(f"/i/{media_id}").status_code == 200  # now remembered
    assert kim.test_client.patch(f"/api/v1/images/{media_id}", headers=kim.headers,
                                 json={"is_public": False}).status_code == 200
    assert anyone.get(f"/i/{media_id}").status_code == 404
    assert anyone.get(f"/i/{media_id}.jpg").status_code == 404
    assert kim.get(f"/i/{media_id}").status_code == 200
    assert views_of(app, media_id) == 1


def test_a_deleted_public_original_is_404_at_once(app, kim):
    media_id = kim.upload(make_jpeg(), is_public="true").get_json()["id"]
    anyone = app.test_client()
    assert anyone.get(f"/i/{media_id}").status_code == 200
    assert kim.delete(f"/api/v1/images/{media_id}").status_code == 204
    assert anyone.get(f"/i/{media_id}").status_code == 404


def test_a_remembered_original_still_checks_the_credentials_sent(app, kim):
    media_id = kim.upload(make_jpeg(), is_public="true").get_json()["id"]
    assert app.test_client().get(f"/i/{media_id}").status_code == 200
    assert app.test_client().get(f"/i/{media_id}", headers={"X-API-Key": "sbx_not-a-key"}).status_code == 401


def test_private_originals_are_never_remembered(app, kim):
    media_id = kim.upload(make_jpeg()).get_json()["id"]
    assert kim.get(f"/i/{media_id}").status_code == 200
    with app.app_context():
        from webapp.media import service

        assert service.memory().get((media_id, "original")) is None
    assert app.test_client().get(f"/i/{media_id}").status_code == 404


# --- ranges and revalidation from disk --------------------------------------------------------------

def test_an_original_on_disk_answers_ranges_and_revalidation(on_disk):
    app, _headers, media_id, data = on_disk
    anyone = app.test_client()
    whole = anyone.get(f"/i/{media_id}.jpg", buffered=True)
    assert whole.status_code == 200 and whole.data == data and whole.headers["Accept-Ranges"] == "bytes"
    assert whole.headers["ETag"] == f'"{hashlib.sha256(data).hexdigest()}"'
    part = anyone.get(f"/i/{media_id}.jpg", headers={"Range": "bytes=1000-1999"}, buffered=True)
    assert part.status_code == 206 and part.data == data[1000:2000]
    assert part.headers["Content-Range"] == f"bytes 1000-1999/{len(data)}"
    tail = anyone.get(f"/i/{media_id}", headers={"Range": "bytes=-100"}, buffered=True)
    assert tail.status_code == 206 and tail.data == data[-100:]
    past = anyone.get(f"/i/{media_id}", headers={"Range": f"bytes={len(data)}-"})
    assert past.status_code == 416 and past.headers["Content-Range"] == f"bytes */{len(data)}"
    stale = anyone.get(f"/i/{media_id}", headers={"Range": "bytes=0-9", "If-Range": '"an-old-version"'}, buffered=True)
    assert stale.status_code == 200 and stale.data == data
    fresh = anyone.get(f"/i/{media_id}", headers={"If-None-Match": whole.headers["ETag"]}, buffered=True)
    assert fresh.status_code == 304


def test_a_range_counts_its_length_against_the_owners_bandwidth(on_disk):
    app, _headers, media_id, data = on_disk
    from webapp.extensions import db
    from webapp.models import DailyUsage, Media

    with app.app_context():
        owner = db.session.get(Media, media_id).user_id
    anyone = app.test_client()
    assert anyone.get(f"/i/{media_id}", headers={"Range": "bytes=1000-1999"}, buffered=True).status_code == 206
    assert anyone.get(f"/i/{media_id}", buffered=True).status_code == 200
    metering.flush(app)
    with app.app_context():
        sent = db.session.scalar(db.select(db.func.sum(DailyUsage.bytes_out)).where(DailyUsage.user_id == owner))
    assert sent == 1000 + len(data) + len(data)  # the range, the whole file, and the owner's own look first


def waitress_answer(app, path: str, headers: dict) -> tuple[str, dict, bytes]:
    """Run one request as waitress does: its file wrapper in the environ, the body taken from the
    wrapper with prepare(Content-Length), get() and skip(), as its channel sends a file."""
    from waitress.buffers import ReadOnlyFileBasedBuffer

    environ = EnvironBuilder(path=path, headers=headers).get_environ()
    environ["wsgi.file_wrapper"] = ReadOnlyFileBasedBuffer
    answer = {}

    def start_response(status, response_headers, exc_info=None):
        answer["status"], answer["headers"] = status, dict(response_headers)

    body = app.wsgi_app(environ, start_response)
    assert isinstance(body, ReadOnlyFileBasedBuffer), "waitress would copy this body block by block"
    try:
        body.prepare(int(answer["headers"]["Content-Length"]))
        sent = bytearray()
        while len(body):
            chunk = body.get(4096)
            sent += chunk
            body.skip(len(chunk), True)
    finally:
        body.close()
    return answer["status"], answer["headers"], bytes(sent)


def test_under_waitress_a_range_is_sent_from_the_file_itself(on_disk):
    app, _headers, media_id, data = on_disk
    status, headers, sent = waitress_answer(app, f"/i/{media_id}", {"Range": "bytes=5000-17999"})
    assert status.startswith("206") and sent == data[5000:18000]
    assert headers["Content-Range"] == f"bytes 5000-17999/{len(data)}"
    status, _headers, sent = waitress_answer(app, f"/i/{media_id}.jpg", {})
    assert status.startswith("200") and sent == data


def test_a_real_waitress_server_sends_originals_and_ranges_byte_for_byte(make_app, database_url, start_instance):
    from tests.fixtures.accounts import STRONG_PASSWORD
    from webapp.auth import service

    with make_app().app_context():
        service.create_user("kim@example.com", "kim", STRONG_PASSWORD, verified=True)
    base = start_instance(SHOEBOX_DATABASE__URL=database_url)
    photo = noisy_jpeg()
    body, content_type = multipart({"file": (photo, "noise.jpg"), "is_public": "true"})
    token = _json(urllib.request.Request(base + "/api/v1/auth/login", headers={"Content-Type": "application/json"},
                                         data=b'{"identifier": "kim", "password": "%s"}' % STRONG_PASSWORD.encode()))
    created = _json(urllib.request.Request(base + "/api/v1/images", data=body, headers={
        "Content-Type": content_type, "Authorization": f"Bearer {token['access_token']}"}))
    with urllib.request.urlopen(f"{base}/i/{created['id']}.jpg", timeout=10) as whole:
        data = whole.read()
    assert hashlib.sha256(data).hexdigest() == created["sha256"]
    for first, last in [(0, 0), (1, 65536), (100_000, len(data) - 1)]:
        asked = urllib.request.Request(f"{base}/i/{created['id']}", headers={"Range": f"bytes={first}-{last}"})
        with urllib.request.urlopen(asked, timeout=10) as part:
            assert part.status == 206 and part.read() == data[first:last + 1]
            assert part.headers["Content-Length"] == str(last + 1 - first)


def _json(request: urllib.request.Request) -> dict:
    import json

    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)
