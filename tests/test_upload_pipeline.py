"""What an upload does before it answers, and what it leaves for afterwards (issue 15).

The answer needs the original and the gallery thumbnail, made from one scaled decode that also
refuses damaged pixels; the 1600 px preview is a job run after the answer, on a thread of the lowest
priority; a page that asks for the preview first makes it on the spot.
"""

from __future__ import annotations

import io
import os
import re
import threading

import pytest
from PIL import ExifTags, Image

from tests.fixtures.media import corpus_file, decode, make_jpeg, media_count, stored_keys
from webapp import allocator, imaging, jobs


def photo(size=(2400, 1600)) -> bytes:
    """A JPEG with detail in it (noise), so that every part of its data stream matters."""
    buffer = io.BytesIO()
    Image.merge("RGB", [Image.effect_noise(size, 40) for _ in range(3)]).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def preview_jobs(app) -> list:
    from webapp.extensions import db
    from webapp.models import Job

    with app.app_context():
        return [(job.state, job.payload["media_id"]) for job in
                db.session.scalars(db.select(Job).where(Job.name == "make_preview").order_by(Job.id))]


def test_an_upload_stores_the_original_and_its_thumbnail_and_queues_the_preview(app, kim):
    body = kim.upload(photo((3000, 2000)), "wide.jpg").get_json()
    assert sorted(stored_keys(app)) == sorted([f"originals/{body['id'][:2]}/{body['id']}.jpg",
                                               f"variants/{body['id']}/thumb.webp"])
    assert preview_jobs(app) == [("queued", body["id"])]

    assert jobs.work_until_idle(app) == 1
    assert f"variants/{body['id']}/medium.webp" in stored_keys(app)
    assert preview_jobs(app) == [("done", body["id"])]
    preview = decode(kim.get(f"/i/{body['id']}?size=medium").data)
    assert preview.size == (1600, 1067)


def test_the_preview_asked_for_before_its_job_ran_is_made_on_the_spot_and_the_job_adds_nothing(app, kim):
    body = kim.upload(photo(), "early.jpg").get_json()
    response = kim.get(f"/i/{body['id']}?size=medium")
    assert response.status_code == 200 and decode(response.data).size == (1600, 1067)
    keys = sorted(stored_keys(app))
    jobs.work_until_idle(app)
    assert sorted(stored_keys(app)) == keys
    assert preview_jobs(app) == [("done", body["id"])]


def test_the_preview_job_of_a_photo_deleted_meanwhile_does_nothing(app, kim):
    body = kim.upload(photo(), "gone.jpg").get_json()
    assert kim.delete(f"/api/v1/images/{body['id']}").status_code == 204
    jobs.work_until_idle(app)
    assert stored_keys(app) == [] and preview_jobs(app) == [("done", body["id"])]


def test_a_refused_upload_queues_no_preview(app, kim):
    whole = photo((800, 600))
    response = kim.upload(whole[: len(whole) // 2], "cut.jpg")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "corrupt_image"
    assert media_count(app) == 0 and stored_keys(app) == [] and preview_jobs(app) == []


def test_previews_are_made_on_a_thread_of_the_lowest_priority(app, kim):
    from webapp.media import previews

    kim.upload(photo(), "nice.jpg")
    jobs.work_until_idle(app)
    seen = previews._idle_thread().submit(lambda: os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
    assert seen.result() == 19
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == 0  # the caller's own thread is untouched


def test_the_placeholder_is_the_thumbnails_average_colour(app, kim):
    body = kim.upload(make_jpeg(size=(1200, 900), colour=(200, 30, 40)), "red.jpg").get_json()
    from webapp.extensions import db
    from webapp.models import Media

    with app.app_context():
        placeholder = db.session.get(Media, body["id"]).placeholder
    red, green, blue = (int(placeholder[i:i + 2], 16) for i in (1, 3, 5))
    assert abs(red - 200) < 4 and abs(green - 30) < 4 and abs(blue - 40) < 4


@pytest.mark.parametrize("folder, name", [("photos", "DSCN0010.jpg"), ("photos", "Canon_40D.jpg"),
                                          ("photos", "Nikon_D70.jpg"), ("photos", "HMD_Nokia_8.3_5G.jpg"),
                                          ("photos", "iphone_hdr_YES.jpg"), ("photos", "45-gps_ifd.jpg"),
                                          ("photos", "IMG_5195.HEIC"), ("formats", "exif_gps.jpg")])
def test_an_uploaded_photo_loses_its_location_and_keeps_every_pixel(app, kim, tmp_path, folder, name):
    source = corpus_file(folder, name)
    body = kim.upload(source.read_bytes(), name).get_json()
    stored = tmp_path / "stored"
    stored.write_bytes(kim.get(f"/i/{body['id']}").data)
    assert not imaging.probe(stored).has_location
    with Image.open(source) as before, Image.open(stored) as after:
        assert set(after.getexif().get_ifd(ExifTags.IFD.GPSInfo)) <= {0}  # at most the version number
        if imaging.probe(source).orientation == 1:  # turned photos are re-encoded upright, on purpose
            assert (after.format, after.mode, after.size) == (before.format, before.mode, before.size)
            assert after.tobytes() == before.tobytes()


def test_the_server_gives_big_blocks_back_to_the_system():
    if not re.search(r"glibc", os.confstr("CS_GNU_LIBC_VERSION") or ""):
        pytest.skip("the C library is not glibc")
    assert allocator.give_memory_back()


def test_finished_preview_jobs_are_pruned_after_a_day_and_failed_ones_kept(app, kim):
    from datetime import timedelta

    from webapp.extensions import db
    from webapp.media import previews
    from webapp.models import Job, utcnow

    for n in range(3):
        kim.upload(photo((600, 400)), f"{n}.jpg")
    jobs.work_until_idle(app)
    with app.app_context():
        old, recent, failed = db.session.scalars(db.select(Job).where(Job.name == "make_preview")).all()
        old.finished_at = utcnow() - timedelta(days=1, minutes=1)
        failed.state, failed.finished_at = "failed", utcnow() - timedelta(days=3)
        db.session.commit()
        assert previews.prune_finished() == 1
        left = db.session.scalars(db.select(Job.state).where(Job.name == "make_preview").order_by(Job.id)).all()
    assert left == ["done", "failed"]
