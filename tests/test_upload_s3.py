"""Photos kept in S3 (over the real protocol, against a local moto server): stored, streamed, presigned."""

from __future__ import annotations

import io
import urllib.request

import pytest
from PIL import Image

from tests.fixtures.accounts import STRONG_PASSWORD
from tests.fixtures.media import multipart
from tests.fixtures.s3server import ACCESS_KEY, REGION, SECRET_KEY

pytestmark = pytest.mark.s3


def s3_app(make_app, moto_server, s3_bucket, **storage):
    return make_app(storage={"url": f"s3://{s3_bucket}/shoebox", "endpoint_url": moto_server, "key": ACCESS_KEY,
                             "secret": SECRET_KEY, "region": REGION, **storage})


def upload_public_photo(app):
    from webapp.auth import service

    with app.app_context():
        service.create_user("kim@example.com", "kim", STRONG_PASSWORD, verified=True)
    client = app.test_client()
    token = client.post("/api/v1/auth/login", json={"identifier": "kim", "password": STRONG_PASSWORD}).get_json()["access_token"]
    buffer = io.BytesIO()
    Image.new("RGB", (300, 200), (10, 120, 200)).save(buffer, "JPEG")
    body, content_type = multipart({"file": (buffer.getvalue(), "sky.jpg"), "is_public": "true"})
    response = client.post("/api/v1/images", headers={"Authorization": f"Bearer {token}"}, data=body,
                           content_type=content_type)
    assert response.status_code == 201, response.get_json()
    return client, token, response.get_json()


def test_photos_in_s3_stream_with_ranges_and_revalidation(make_app, moto_server, s3_bucket, s3):
    app = s3_app(make_app, moto_server, s3_bucket)
    client, token, image = upload_public_photo(app)
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=s3_bucket)["Contents"]}
    assert any(k.startswith("shoebox/originals/") for k in keys) and any("/thumb.webp" in k for k in keys)
    anyone = app.test_client()
    full = anyone.get(f"/i/{image['id']}")
    assert full.status_code == 200 and full.content_length == image["size"] and len(full.data) == image["size"]
    part = anyone.get(f"/i/{image['id']}", headers={"Range": "bytes=10-19"})
    assert part.status_code == 206 and part.data == full.data[10:20]
    assert anyone.get(f"/i/{image['id']}", headers={"If-None-Match": full.headers["ETag"]}).status_code == 304
    assert Image.open(io.BytesIO(anyone.get(f"/i/{image['id']}?size=small").data)).format == "WEBP"
    assert client.delete(f"/api/v1/images/{image['id']}", headers={"Authorization": f"Bearer {token}"}).status_code == 204
    assert "Contents" not in s3.list_objects_v2(Bucket=s3_bucket)


def test_public_photos_can_redirect_to_a_presigned_url(make_app, moto_server, s3_bucket):
    app = s3_app(make_app, moto_server, s3_bucket, redirect_to_presigned=True, presign_seconds=60)
    client, _token, image = upload_public_photo(app)
    response = app.test_client().get(f"/i/{image['id']}")
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith(moto_server) and "X-Amz-Signature" in location
    with urllib.request.urlopen(location) as presigned:
        assert len(presigned.read()) == image["size"]
