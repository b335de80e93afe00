"""The upload pipeline and serving, end to end through the API, with real photos and broken files."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor

import pytest
from PIL import Image, ImageOps

from tests.fixtures.accounts import STRONG_PASSWORD
from tests.fixtures.media import (CORPUS, corpus_file, decode, make_flat_png, make_jpeg, make_sparse_webp, media_count,
                                  multipart, stored_keys)

FORMATS = ["hopper.jpg", "hopper.png", "hopper.gif", "hopper.webp", "hopper.avif", "hopper.bmp", "hopper.tif",
           "animated-5-frames.gif", "animated-42-frames.webp"]
BROKEN = ["broken.png", "broken_data_stream.png", "truncated_image.png", "decompression_bomb.gif"]


# --- accepted formats ------------------------------------------------------------------------

@pytest.mark.parametrize("name", FORMATS)
def test_every_format_is_accepted_and_served_with_thumbnails(app, kim, name):
    data = corpus_file("formats", name).read_bytes()
    response = kim.upload(data, name)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    with Image.open(corpus_file("formats", name)) as original:
        assert (body["width"], body["height"]) == original.size
    assert body["url"].startswith("http://shoebox.test/i/") and body["thumbnail_url"].endswith("?size=thumb")
    served = kim.get(f"/i/{body['id']}")
    assert served.status_code == 200 and served.mimetype == body["mime_type"]
    thumb = decode(kim.get(f"/i/{body['id']}?size=thumb").data)
    assert max(thumb.size) <= 400 and thumb.format == "WEBP"


def test_heic_from_an_iphone_is_accepted(app, kim):
    body = kim.upload(corpus_file("photos", "IMG_5195.HEIC").read_bytes(), "IMG_5195.HEIC").get_json()
    assert body["width"] and body["height"]
    assert decode(kim.get(f"/i/{body['id']}?size=medium").data).format == "WEBP"


def test_animation_is_kept(app, kim):
    body = kim.upload(corpus_file("formats", "animated-5-frames.gif").read_bytes(), "a.gif").get_json()
    assert getattr(decode(kim.get(f"/i/{body['id']}").data), "n_frames", 1) == 5


@pytest.mark.parametrize("orientation", range(9))
def test_every_exif_orientation_comes_back_upright(app, kim, orientation):
    """Sizes are made upright; the original JPEG keeps its EXIF orientation, which browsers apply."""
    body = kim.upload(corpus_file("orientation", f"Landscape_{orientation}.jpg").read_bytes(), "l.jpg").get_json()
    assert (body["width"], body["height"]) == (1800, 1200)
    for size in ("thumb", "medium"):
        image = decode(kim.get(f"/i/{body['id']}?size={size}").data)
        assert image.width > image.height and image.getexif().get(0x0112, 1) == 1, size
    original = decode(kim.get(f"/i/{body['id']}").data)
    assert ImageOps.exif_transpose(original).width > ImageOps.exif_transpose(original).height


@pytest.mark.parametrize("name", ["DSCN0010.jpg", "IMG_5195.HEIC"])
def test_gps_is_removed_by_default(app, kim, name):
    if not CORPUS.is_dir():
        pytest.skip("corpus missing")
    body = kim.upload(corpus_file("photos", name).read_bytes(), name).get_json()
    served = decode(kim.get(f"/i/{body['id']}").data)
    assert not served.getexif().get_ifd(0x8825)
    assert "GPS" not in str(served.info.get("exif", b""))


def test_camera_and_date_are_extracted(app, kim):
    body = kim.upload(corpus_file("photos", "Canon_40D.jpg").read_bytes(), "Canon_40D.jpg").get_json()
    assert "Canon" in body["metadata"]["camera"] and body["metadata"]["taken_at"].startswith("2008")


def test_corrupt_exif_is_accepted(app, kim):
    assert kim.upload(corpus_file("oddexif", "corrupted-exif.jpg").read_bytes(), "odd.jpg").status_code == 201


# --- refused input leaves nothing behind -------------------------------------------------------

@pytest.mark.parametrize("name", BROKEN)
def test_broken_files_are_refused_with_a_sentence_and_nothing_stored(app, kim, name):
    response = kim.upload(corpus_file("broken", name).read_bytes(), name)
    assert response.status_code in (400, 413, 415)
    assert response.get_json()["error"]["message"].endswith(".")
    assert media_count(app) == 0 and stored_keys(app) == []


@pytest.mark.parametrize("data, name", [
    (b"", "empty.jpg"),
    (b"<!doctype html><script>alert(1)</script>", "photo.jpg"),
    (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "photo.svg"),
    (b"%PDF-1.4\n1 0 obj\n", "photo.jpg"),
    (b"#!/bin/sh\nrm -rf /\n", "photo.jpg"),
])
def test_non_images_are_refused_whatever_their_name(app, kim, data, name):
    response = kim.upload(data, name)
    assert response.status_code in (400, 415)
    assert media_count(app) == 0 and stored_keys(app) == []


def test_missing_file_field_is_a_clear_400(kim):
    response = kim.upload(make_jpeg(), field="picture")
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "missing_file"


def test_the_image_field_name_works_too(kim):
    assert kim.upload(make_jpeg(), field="image").status_code == 201


def test_over_the_plan_size_is_413_before_the_body_is_read(app, kim):
    from webapp.extensions import db
    from webapp.models import Plan

    with app.app_context():
        db.session.scalar(db.select(Plan).where(Plan.name == "free")).max_upload_bytes = 1000
        db.session.commit()
    response = kim.upload(make_jpeg((400, 400), (1, 2, 3)) + b"\0" * 200_000)
    assert response.status_code == 413 and response.get_json()["error"]["code"] == "file_too_large"
    assert stored_keys(app) == []


def test_animation_that_would_need_too_much_memory_is_413_with_one_sentence_and_charges_nothing(app, kim):
    # 20 KB uploaded; 400 frames of 1000x1000, turned upright, once decoded.
    response = kim.upload(make_sparse_webp((1000, 1000), 400, orientation=6), "attack.webp")
    assert response.status_code == 413
    assert response.get_json()["error"] == {
        "code": "image_too_large",
        "message": "The animation would need 1.5 GB of memory to process; Shoebox accepts up to 256 MB."}
    assert media_count(app) == 0 and stored_keys(app) == []
    quota = kim.get("/api/v1/quota").get_json()
    assert quota["uploads"]["used"] == 0 and quota["storage"]["used"] == 0


def test_88_megapixel_png_of_a_few_hundred_kilobytes_is_413(app, kim):
    data = make_flat_png(9380, 9380)
    assert len(data) < 400_000
    response = kim.upload(data, "huge.png")
    assert response.status_code == 413
    assert response.get_json()["error"]["message"] == \
        "The image would need 335.6 MB of memory to process; Shoebox accepts up to 256 MB."
    assert media_count(app) == 0 and stored_keys(app) == []


def test_the_memory_bound_is_the_configured_one(make_app):
    app = make_app(limits={"max_image_memory": "16 MiB"})
    with app.app_context():
        from webapp.auth import service

        service.create_user("kim@example.com", "kim", STRONG_PASSWORD, verified=True)
    client = app.test_client()
    token = client.post("/api/v1/auth/login", json={"identifier": "kim", "password": STRONG_PASSWORD}) \
        .get_json()["access_token"]

    def upload(data: bytes):
        body, content_type = multipart({"file": (data, "photo.png")})
        return client.post("/api/v1/images", headers={"Authorization": f"Bearer {token}"}, data=body,
                           content_type=content_type)

    assert upload(make_flat_png(2000, 2000)).status_code == 201  # 15.3 MiB once decoded
    refused = upload(make_flat_png(2100, 2100))  # 16.8 MiB
    assert refused.status_code == 413
    assert refused.get_json()["error"]["message"].endswith("Shoebox accepts up to 16 MB.")


@pytest.mark.parametrize("name", ["../../etc/passwd.jpg", "a\x00b.jpg", "evil\r\nX-Header: 1.jpg",
                                  'quote".jpg', "<img src=x onerror=alert(1)>.jpg", "photo\u202egnp.jpg"])
def test_hostile_filenames_are_display_text_only(app, kim, name):
    body = kim.upload(make_jpeg(), name).get_json()
    assert "/" not in body["original_name"] and "\x00" not in body["original_name"]
    assert "\r" not in body["original_name"] and "\u202e" not in body["original_name"]
    download = kim.get(f"/i/{body['id']}?download=1")
    disposition = download.headers["Content-Disposition"]
    assert disposition.startswith("attachment;") and "\r" not in disposition and "\n" not in disposition
    assert all(key.startswith(("originals/", "variants/")) and ".." not in key for key in stored_keys(app))


def test_parallel_uploads_never_exceed_the_daily_limit(app, kim):
    from webapp.extensions import db
    from webapp.models import Plan

    with app.app_context():
        db.session.scalar(db.select(Plan).where(Plan.name == "free")).uploads_per_day = 5
        db.session.commit()
    data = make_jpeg()

    def attempt(n):
        with app.test_client() as client:
            return client.post("/api/v1/images", headers=kim.headers, content_type="multipart/form-data",
                               data={"file": (io.BytesIO(data), f"{n}.jpg")}).status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = list(pool.map(attempt, range(12)))
    assert statuses.count(201) == 5 and statuses.count(429) == 7
    assert media_count(app) == 5
    limited = kim.upload(data)
    assert limited.get_json()["error"]["code"] == "upload_quota_exceeded" and int(limited.headers["Retry-After"]) > 0


def test_storage_down_is_503_and_leaves_nothing(make_app, make_user):
    app = make_app(storage={"url": "s3://shoebox/x", "endpoint_url": "http://127.0.0.1:9", "key": "k", "secret": "s"})
    with app.app_context():
        from webapp.auth import service

        service.create_user("kim@example.com", "kim", STRONG_PASSWORD, verified=True)
    client = app.test_client()
    token = client.post("/api/v1/auth/login", json={"identifier": "kim", "password": STRONG_PASSWORD}) \
        .get_json()["access_token"]
    response = client.post("/api/v1/images", headers={"Authorization": f"Bearer {token}"},
                           data={"file": (io.BytesIO(make_jpeg()), "a.jpg")}, content_type="multipart/form-data")
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "storage_unavailable"
    quota = client.get("/api/v1/quota", headers={"Authorization": f"Bearer {token}"}).get_json()
    assert quota["uploads"]["used"] == 0 and quota["storage"]["used"] == 0
    assert media_count(app) == 0


def test_a_database_failure_after_the_blobs_were_written_removes_them(app, kim, monkeypatch):
    from webapp import audit

    def broken(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(audit, "record", broken)
    response = kim.upload(make_jpeg())
    assert response.status_code == 500
    assert stored_keys(app) == [] and media_count(app) == 0
    quota = kim.get("/api/v1/quota").get_json()
    assert quota["uploads"]["used"] == 0 and quota["storage"]["used"] == 0


# --- serving ---------------------------------------------------------------------------------

def test_private_images_are_404_to_everyone_else_on_every_route(app, kim, make_user):
    body = kim.upload(make_jpeg()).get_json()
    assert body["is_public"] is False
    stranger = app.test_client()
    for path in (f"/i/{body['id']}", f"/i/{body['id']}.jpg", f"/i/{body['id']}?size=thumb",
                 f"/i/{body['id']}?size=large", f"/i/{body['id']}?download=1", f"/info/{body['id']}",
                 f"/embed/{body['id']}"):
        assert stranger.get(path).status_code == 404, path
        assert kim.get(path).status_code == 200, path
    make_user(username="lee")
    lee = app.test_client()
    token = lee.post("/api/v1/auth/login", json={"identifier": "lee", "password": STRONG_PASSWORD}).get_json()["access_token"]
    for path in (f"/i/{body['id']}", f"/api/v1/images/{body['id']}"):
        assert lee.get(path, headers={"Authorization": f"Bearer {token}"}).status_code == 404
    assert lee.delete(f"/api/v1/images/{body['id']}", headers={"Authorization": f"Bearer {token}"}).status_code == 404


def test_public_images_are_served_to_anyone_with_caching_and_ranges(app, kim):
    body = kim.upload(make_jpeg(), is_public="true").get_json()
    anyone = app.test_client()
    first = anyone.get(f"/i/{body['id']}")
    assert first.status_code == 200 and "public" in first.headers["Cache-Control"]
    assert first.headers["ETag"] and first.headers["Last-Modified"]
    assert first.headers["X-Content-Type-Options"] == "nosniff"
    again = anyone.get(f"/i/{body['id']}", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    part = anyone.get(f"/i/{body['id']}", headers={"Range": "bytes=0-9"})
    assert part.status_code == 206 and len(part.data) == 10
    assert anyone.get(f"/info/{body['id']}").get_json()["id"] == body["id"]


def test_private_images_are_cached_privately(kim):
    body = kim.upload(make_jpeg()).get_json()
    assert "private" in kim.get(f"/i/{body['id']}").headers["Cache-Control"]


def test_unknown_size_is_a_clear_400(kim):
    body = kim.upload(make_jpeg()).get_json()
    response = kim.get(f"/i/{body['id']}?size=9000x9000", headers={"Accept": "application/json"})
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "unknown_size"


def test_embed_page_offers_codes_and_previews(app, kim):
    body = kim.upload(make_jpeg(), is_public="true", title='Sun "set" <b>').get_json()
    page = app.test_client().get(f"/embed/{body['id']}").get_data(as_text=True)
    assert 'property="og:image"' in page and "[img]" in page and "![Sun" in page
    assert "<b>" not in page


def test_delete_removes_row_blobs_and_gives_storage_back(app, kim):
    body = kim.upload(make_jpeg()).get_json()
    kim.get(f"/i/{body['id']}?size=small")
    assert kim.get("/api/v1/quota").get_json()["storage"]["used"] == body["size"]
    assert kim.delete(f"/api/v1/images/{body['id']}").status_code == 204
    assert stored_keys(app) == [] and kim.get(f"/i/{body['id']}").status_code == 404
    assert kim.get("/api/v1/quota").get_json()["storage"]["used"] == 0


def test_quota_reports_plan_counters_and_reset(kim):
    kim.upload(make_jpeg())
    body = kim.get("/api/v1/quota").get_json()
    assert body["plan"] == "free" and body["uploads"]["used"] == 1 and body["uploads"]["limit"] == 200
    assert body["transforms"]["limit"] == 20 and body["resets_at"].endswith("+00:00")


def test_list_pages_with_a_cursor(kim):
    ids = [kim.upload(make_jpeg(colour=(n, n, n))).get_json()["id"] for n in range(5)]
    first = kim.get("/api/v1/images?limit=2").get_json()
    second = kim.get(f"/api/v1/images?limit=2&cursor={first['next_cursor']}").get_json()
    third = kim.get(f"/api/v1/images?limit=2&cursor={second['next_cursor']}").get_json()
    seen = [i["id"] for page in (first, second, third) for i in page["items"]]
    assert seen == list(reversed(ids)) and third["next_cursor"] is None
    assert kim.get("/api/v1/images?limit=0").status_code == 400
    assert kim.get("/api/v1/images?cursor=nonsense!").status_code == 400


# --- from a URL ------------------------------------------------------------------------------

@pytest.fixture
def picture_server():
    """A local HTTP server with one JPEG at /photo.jpg."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    data = make_jpeg((120, 80))

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if self.path == "/photo.jpg" else 404)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(data) if self.path == "/photo.jpg" else 0))
            self.end_headers()
            if self.path == "/photo.jpg":
                self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_upload_from_a_url_goes_through_the_same_pipeline(make_app, make_user, picture_server):
    app = make_app(security={"allow_private_fetch": True})
    from webapp.auth import service

    with app.app_context():
        service.create_user("kim@example.com", "kim", STRONG_PASSWORD, verified=True)
    client = app.test_client()
    token = client.post("/api/v1/auth/login", json={"identifier": "kim", "password": STRONG_PASSWORD}).get_json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    response = client.post("/api/v1/images", headers=headers, json={"url": picture_server + "/photo.jpg"})
    assert response.status_code == 201
    assert (response.get_json()["width"], response.get_json()["original_name"]) == (120, "photo.jpg")
    missing = client.post("/api/v1/images", headers=headers, json={"url": picture_server + "/nothing.jpg"})
    assert missing.status_code == 400 and missing.get_json()["error"]["code"] == "url_status"


def test_upload_from_a_private_address_is_refused(kim, picture_server):
    for url in (picture_server + "/photo.jpg", "http://169.254.169.254/latest/meta-data/", "file:///etc/passwd"):
        response = kim.upload_json({"url": url})
        assert response.status_code == 400, url
        assert response.get_json()["error"]["code"] in {"url_forbidden", "url_invalid"}


def test_any_file_setting_stores_non_images_as_downloads_only(app, kim):
    from webapp import instance
    from webapp.extensions import db

    svg = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script></svg>'
    assert kim.upload(svg, "drawing.svg").status_code == 415
    with app.app_context():
        instance.put("allow_any_file", True)
        db.session.commit()
    body = kim.upload(svg, "drawing.svg").get_json()
    assert body["kind"] == "file" and body["mime_type"] == "application/octet-stream"
    assert body["thumbnail_url"] is None
    served = kim.get(f"/i/{body['id']}")
    assert served.data == svg
    assert served.headers["Content-Disposition"].startswith("attachment;")
    assert served.mimetype == "application/octet-stream"
    assert "sandbox" in served.headers["Content-Security-Policy"]
    assert served.headers["X-Content-Type-Options"] == "nosniff"


PHOTOS = ["45-gps_ifd.jpg", "Canon_40D.jpg", "DSCN0010.jpg", "HMD_Nokia_8.3_5G.jpg", "IMG_5195.HEIC",
          "Nikon_D70.jpg", "iphone_hdr_YES.jpg", "no_exif.jpg"]


@pytest.mark.parametrize("name", PHOTOS)
def test_every_corpus_photo_comes_back_upright_without_location_and_with_thumbnails(app, kim, name):
    from webapp import imaging

    source = corpus_file("photos", name)
    body = kim.upload(source.read_bytes(), name)
    assert body.status_code == 201, body.get_json()
    image = body.get_json()
    served = kim.get(f"/i/{image['id']}").data
    with Image.open(io.BytesIO(served)) as stored:
        assert stored.getexif().get(0x0112, 1) == 1
        gps = stored.getexif().get_ifd(0x8825)
        assert set(gps) <= {0}, f"GPS position left in the stored original: {gps}"  # 0 is only the version
    with open(app.config["SHOEBOX"]["data_dir"] + "/served", "wb") as fh:
        fh.write(served)
    assert imaging.probe(app.config["SHOEBOX"]["data_dir"] + "/served").has_location is False
    upright = imaging.probe(source)
    assert (image["width"], image["height"]) == (upright.width, upright.height)
    for size, side in (("thumb", 400), ("medium", 1600)):
        thumb = decode(kim.get(f"/i/{image['id']}?size={size}").data)
        assert max(thumb.size) <= side
        assert (thumb.width >= thumb.height) == (upright.width >= upright.height)
