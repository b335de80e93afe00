"""Attack: deletion links from the outside. HEAD and GET never delete, near-misses of a secret delete nothing,
a link deletes its own upload only, and every answer on /delete/ (the refusal of the rate limit too) stays out
of caches, search engines and Referer headers."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from tests.fixtures.media import make_jpeg, media_count


@pytest.fixture
def two_uploads(kim):
    """kim's two uploads through the API: [(id, path of its deletion link)]."""
    made = []
    for n in range(2):
        body = kim.upload(make_jpeg((64 + n, 48)), name=f"shot{n}.jpg").get_json()
        made.append((body["id"], urlsplit(body["deletion_url"]).path))
    return made


def test_head_and_get_never_delete(app, client, two_uploads):
    _id, path = two_uploads[0]
    for _ in range(3):
        assert client.head(path).status_code == 200
        assert client.get(path).status_code == 200
    assert media_count(app) == 2


@pytest.mark.parametrize("mangle", [lambda s: s[:-1], lambda s: s + "A", lambda s: s.upper(), lambda s: s[::-1],
                                    lambda s: s + "%00", lambda s: s.replace(s[0], "%2F", 1)],
                         ids=["shorter", "longer", "upper", "reversed", "nul", "slash"])
def test_a_near_miss_of_a_secret_deletes_nothing(app, client, two_uploads, mangle):
    _id, path = two_uploads[0]
    secret = path.rsplit("/", 1)[1]
    answer = client.post(f"/delete/{mangle(secret)}")
    assert answer.status_code in (404, 308) and media_count(app) == 2  # 308: "//" merged, to a 42-character path


def test_a_link_deletes_its_own_upload_and_nothing_else_then_is_gone_for_every_method(app, client, kim, two_uploads):
    (first_id, first_link), (second_id, _second_link) = two_uploads
    assert client.post(first_link).status_code == 200
    assert kim.get(f"/api/v1/images/{first_id}").status_code == 404
    assert kim.get(f"/api/v1/images/{second_id}").status_code == 200
    for method in ("GET", "HEAD", "POST"):
        assert client.open(first_link, method=method).status_code == 404


def test_the_link_works_without_the_owners_session_and_ignores_anyone_elses(app, client, kim, two_uploads, make_user,
                                                                           auth):
    make_user(username="mallory", email="mallory@example.com")
    auth.login("mallory")
    first_id, first_link = two_uploads[0]
    page = client.get(first_link)
    assert page.status_code == 200 and "shot0.jpg" in page.get_data(as_text=True)
    assert client.post(first_link).status_code == 200
    assert kim.get(f"/api/v1/images/{first_id}").status_code == 404


def test_every_answer_under_delete_is_private_the_rate_limits_refusal_too(app, client, two_uploads):
    _id, path = two_uploads[0]
    answers = [client.get(path), client.get("/delete/" + "x" * 43)]
    answers += [client.get("/delete/" + "y" * 43) for _ in range(70)]
    assert answers[-1].status_code == 429
    for answer in (answers[0], answers[1], answers[-1]):
        assert "no-store" in answer.headers.get("Cache-Control", ""), answer.status_code
        assert answer.headers.get("Referrer-Policy") == "no-referrer", answer.status_code
        assert "noindex" in answer.headers.get("X-Robots-Tag", ""), answer.status_code


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_other_methods_are_refused_privately_and_delete_nothing(app, client, two_uploads, method):
    _id, path = two_uploads[0]
    answer = client.open(path, method=method)
    assert answer.status_code == 405 and media_count(app) == 2
    assert answer.headers.get("Referrer-Policy") == "no-referrer" and "no-store" in answer.headers["Cache-Control"]


def test_a_photo_deleted_by_its_link_and_restored_from_a_backup_is_back_once_and_the_old_link_stays_dead(
        app, client, kim, two_uploads):
    from webapp import jobs
    from webapp.extensions import db
    from webapp.models import Media, User

    api = kim.test_client
    started = api.post("/api/v1/backups", headers=kim.headers, json={"scope": "account"})
    assert started.status_code == 202
    jobs.work_until_idle(app)
    with app.app_context():
        storage_before = db.session.get(User, kim.id).storage_used
    first_id, first_link = two_uploads[0]
    assert client.post(first_link).status_code == 200
    restored = api.post(f"/api/v1/backups/{started.get_json()['id']}/restore", headers=kim.headers)
    assert restored.status_code == 202
    jobs.work_until_idle(app)
    with app.app_context():
        photos = db.session.scalars(db.select(Media).where(Media.user_id == kim.id)).all()
        restored_photo = [photo for photo in photos if photo.id != two_uploads[1][0]]
        assert len(photos) == 2 and restored_photo[0].deletion_key_hash is None
        assert db.session.get(User, kim.id).storage_used == storage_before
    for method in ("GET", "POST"):
        assert client.open(first_link, method=method).status_code == 404
    assert media_count(app) == 2


def test_guessing_secrets_from_forged_addresses_is_still_limited(app, client, two_uploads):
    statuses = [client.post(f"/delete/{'G' * 42}{n % 10}", headers={"X-Forwarded-For": f"198.51.100.{n}",
                                                                    "X-Real-IP": f"198.51.100.{n}"}).status_code
                for n in range(61)]
    assert statuses[:60] == [404] * 60 and statuses[60] == 429
    assert media_count(app) == 2
