"""`flask check`: orphan blobs are found (and removed once old), rows with missing blobs are reported."""

from __future__ import annotations

import io
from datetime import timedelta

from PIL import Image

from tests.fixtures.accounts import STRONG_PASSWORD
from tests.fixtures.media import multipart


def upload(app, client, token):
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), "blue").save(buffer, "PNG")
    body, content_type = multipart({"file": (buffer.getvalue(), "a.png")})
    return client.post("/api/v1/images", headers={"Authorization": f"Bearer {token}"}, data=body,
                       content_type=content_type).get_json()


def test_check_finds_orphans_and_missing_blobs_and_removes_only_old_orphans(app, runner, make_user):
    from webapp.extensions import blob_store
    from webapp.media import integrity

    make_user(username="kim")
    client = app.test_client()
    token = client.post("/api/v1/auth/login", json={"identifier": "kim", "password": STRONG_PASSWORD}).get_json()["access_token"]
    image = upload(app, client, token)
    with app.app_context():
        store = blob_store()
        store.put("originals/zz/left-behind-by-a-crash", b"half an upload")
        media_key = next(k for k in store.keys("originals") if image["id"] in k)
        store.delete(media_key)

        report = integrity.check()
        assert report.orphans == ["originals/zz/left-behind-by-a-crash"]
        assert report.missing == [f"media:{image['id']}"]

        young = integrity.check(remove_orphans=True)
        assert young.removed == []  # might be an upload still in flight
        old = integrity.check(remove_orphans=True, grace=timedelta(seconds=-1))
        assert old.removed == ["originals/zz/left-behind-by-a-crash"]
        assert not store.exists("originals/zz/left-behind-by-a-crash")

    result = runner.invoke(args=["check"])
    assert result.exit_code == 1
    assert f"missing  media:{image['id']}" in result.output and "1 rows with missing blobs" in result.output


def test_a_clean_instance_checks_clean(app, runner):
    result = runner.invoke(args=["check", "--remove-orphans"])
    assert result.exit_code == 0 and "0 users' counters repaired, 0 orphan blobs (0 removed), 0 rows with missing blobs." in result.output
