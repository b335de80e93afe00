"""Limits hold exactly when fifty requests arrive at once, spread over every instance: the day's uploads and
transformations of a plan, and the views of a share link. Each counter is one conditional statement in the
shared database, so no instance can give out what another already gave."""

from __future__ import annotations

import pytest

from tests.cluster.clients import BrowserSession
from tests.cluster.people import TIMEOUT, Account, admin_of, all_at_once, call, put_on_new_plan, sign_up
from tests.fixtures.accounts import csrf_token_from
from tests.fixtures.media import make_jpeg

RACERS = 50
DAILY_UPLOADS = 7
DAILY_TRANSFORMS = 6
MAX_VIEWS = 5


@pytest.fixture(scope="module")
def admin(cluster) -> Account:
    return admin_of(cluster)


def assert_refused_for_the_day(answers: list, code: str) -> None:
    """Every refusal is a 429 naming the limit, with Retry-After up to the next midnight UTC."""
    for answer in answers:
        assert answer.status_code == 429 and answer.json()["error"]["code"] == code, answer.text
        assert 0 < int(answer.headers["Retry-After"]) <= 24 * 3600


def test_fifty_uploads_spread_over_the_instances_store_exactly_the_days_limit(cluster, admin):
    person = sign_up(cluster.instances[0])
    put_on_new_plan(admin, cluster.instances[0], person, uploads_per_day=DAILY_UPLOADS)

    def upload(n: int):
        base = cluster.instances[n % len(cluster.instances)]
        return person.upload(base, make_jpeg((40 + n, 30), (n * 5, 80, 120)), f"race{n}.jpg")

    answers = all_at_once(RACERS, lambda n: n, upload)
    assert sorted(answer.status_code for answer in answers) == [201] * DAILY_UPLOADS + [429] * (RACERS - DAILY_UPLOADS)
    assert_refused_for_the_day([answer for answer in answers if answer.status_code != 201], "upload_quota_exceeded")
    for base in cluster.instances:
        quota = person.get(base, "/api/v1/quota").json()
        assert quota["uploads"] == {"used": DAILY_UPLOADS, "limit": DAILY_UPLOADS}, base
    listed = person.get(cluster.lb, "/api/v1/images", params={"limit": 100}).json()["items"]
    assert sorted(item["id"] for item in listed) == sorted(answer.json()["id"] for answer in answers
                                                           if answer.status_code == 201)


def test_fifty_transformations_spread_over_the_instances_make_exactly_the_days_limit(cluster, admin):
    person = sign_up(cluster.instances[1])
    put_on_new_plan(admin, cluster.instances[1], person, transforms_per_day=DAILY_TRANSFORMS)
    uploaded = person.upload(cluster.instances[1], make_jpeg((120, 90)))
    assert uploaded.status_code == 201, uploaded.text
    media_id = uploaded.json()["id"]

    def transform(n: int):
        base = cluster.instances[n % len(cluster.instances)]
        # A different width each time: asking for a transformation made before costs nothing.
        return person.post(base, f"/api/v1/images/{media_id}/transform",
                           json={"transformations": {"resize": {"width": 10 + n}}})

    answers = all_at_once(RACERS, lambda n: n, transform)
    assert sorted(answer.status_code for answer in answers) == \
        [201] * DAILY_TRANSFORMS + [429] * (RACERS - DAILY_TRANSFORMS)
    assert_refused_for_the_day([answer for answer in answers if answer.status_code != 201],
                               "transform_quota_exceeded")
    for base in cluster.instances:
        quota = person.get(base, "/api/v1/quota").json()
        assert quota["transforms"] == {"used": DAILY_TRANSFORMS, "limit": DAILY_TRANSFORMS}, base
    variants = person.get(cluster.lb, f"/api/v1/images/{media_id}/variants").json()["items"]
    assert len(variants) == DAILY_TRANSFORMS


def test_fifty_opens_spread_over_the_instances_take_exactly_the_links_views(cluster, admin):
    owner = sign_up(cluster.instances[0])
    uploaded = owner.upload(cluster.instances[0], make_jpeg())
    assert uploaded.status_code == 201, uploaded.text
    media_id = uploaded.json()["id"]
    link = owner.post(cluster.instances[0], "/api/v1/shares", json={"image_id": media_id, "max_views": MAX_VIEWS})
    assert link.status_code == 201, link.text
    page = f"/s/{link.json()['token']}"

    def arrive(n: int):
        """A recipient loads the Open button's page on one instance (which takes no view)..."""
        browser = BrowserSession()
        gate = browser.get(cluster.instances[n % 2] + page, timeout=TIMEOUT)
        assert gate.status_code == 200, gate.status_code
        return n, browser, csrf_token_from(gate.text)

    def press_open(ready):
        """...and presses Open, which reaches the other instance."""
        n, browser, csrf = ready
        return browser, browser.post(cluster.instances[(n + 1) % 2] + page, data={"csrf_token": csrf},
                                     allow_redirects=False, timeout=TIMEOUT)

    answers = all_at_once(RACERS, arrive, press_open)
    statuses = sorted(answer.status_code for _browser, answer in answers)
    assert statuses == [303] * MAX_VIEWS + [410] * (RACERS - MAX_VIEWS)
    shown = owner.get(cluster.instances[1], f"/api/v1/shares/{link.json()['id']}").json()
    assert (shown["views"], shown["status"]) == (MAX_VIEWS, "used_up")
    # Those who were let in see the photo on any instance; the others see the used-up page.
    for browser, answer in answers:
        for base in (cluster.lb, *cluster.instances):
            photo = browser.get(f"{base}{page}/p/{media_id}/small", allow_redirects=False, timeout=TIMEOUT)
            assert photo.status_code == (200 if answer.status_code == 303 else 410), base
    assert call(cluster.lb, "GET", page).status_code == 410
