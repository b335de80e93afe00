"""Serving preset sizes: public ones answered from memory, without ever serving what is private or gone."""

from __future__ import annotations

import time

from tests.fixtures.media import make_jpeg


def test_a_public_thumbnail_made_private_is_404_at_once(app, kim):
    body = kim.upload(make_jpeg(), is_public="true").get_json()
    anyone = app.test_client()
    assert anyone.get(f"/i/{body['id']}?size=thumb").status_code == 200  # now remembered
    assert kim.test_client.patch(f"/api/v1/images/{body['id']}", headers=kim.headers,
                            json={"is_public": False}).status_code == 200
    assert anyone.get(f"/i/{body['id']}?size=thumb").status_code == 404
    assert kim.get(f"/i/{body['id']}?size=thumb").status_code == 200


def test_a_deleted_public_thumbnail_is_404_at_once(app, kim):
    body = kim.upload(make_jpeg(), is_public="true").get_json()
    anyone = app.test_client()
    assert anyone.get(f"/i/{body['id']}?size=thumb").status_code == 200
    assert kim.delete(f"/api/v1/images/{body['id']}").status_code == 204
    assert anyone.get(f"/i/{body['id']}?size=thumb").status_code == 404


def test_a_remembered_thumbnail_still_answers_revalidation_and_ranges(app, kim):
    body = kim.upload(make_jpeg(), is_public="true", name='Sun "set" <é>.jpg').get_json()
    anyone = app.test_client()
    first = anyone.get(f"/i/{body['id']}?size=thumb")
    second = anyone.get(f"/i/{body['id']}?size=thumb")  # from memory
    assert second.data == first.data and second.headers["ETag"] == first.headers["ETag"]
    assert second.headers["Content-Type"] == "image/webp"
    assert second.headers["Cache-Control"] == "public, max-age=86400"
    assert "sandbox" in second.headers["Content-Security-Policy"]
    assert second.headers["Content-Disposition"] == \
        """inline; filename="Sun set <e>.webp"; filename*=UTF-8''Sun%20%22set%22%20%3C%C3%A9%3E.webp"""
    assert anyone.get(f"/i/{body['id']}?size=thumb",
                      headers={"If-None-Match": first.headers["ETag"]}).status_code == 304
    part = anyone.get(f"/i/{body['id']}?size=thumb", headers={"Range": "bytes=2-5"})
    assert part.status_code == 206 and part.data == first.data[2:6]
    download = anyone.get(f"/i/{body['id']}?size=thumb&download=1")
    assert download.headers["Content-Disposition"].startswith("attachment;")


def test_private_thumbnails_are_never_answered_from_memory(app, kim):
    body = kim.upload(make_jpeg()).get_json()
    assert kim.get(f"/i/{body['id']}?size=thumb").status_code == 200
    with app.app_context():
        from webapp.media import service

        assert service.memory().get((body["id"], "thumb")) is None
    assert app.test_client().get(f"/i/{body['id']}?size=thumb").status_code == 404


def test_remembered_entries_expire_and_stay_within_their_byte_budget():
    from webapp.media.service import ShortLived

    memory = ShortLived(0.05, max_entries=3, max_weight=100)
    memory.put(("a", "thumb"), 1, weight=60)
    memory.put(("b", "thumb"), 2, weight=60)  # over budget: "a" goes
    assert memory.get(("a", "thumb")) is None and memory.get(("b", "thumb")) == 2
    for name in "cdef":
        memory.put((name, "thumb"), name)
    assert memory.get(("c", "thumb")) is None and memory.get(("f", "thumb")) == "f"  # at most 3
    memory.forget("f")
    assert memory.get(("f", "thumb")) is None
    time.sleep(0.06)
    assert memory.get(("e", "thumb")) is None
