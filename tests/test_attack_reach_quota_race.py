"""Attack: fifty uploads at once through every upload door issue 16 opened (the upload page's client POST, the
compatible /api/images, and /api/v1/images), with the account a few uploads short of its daily limit. However the
requests interleave, no more than the limit are stored, counted or charged."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import requests

from tests.fixtures.accounts import STRONG_PASSWORD
from tests.fixtures.media import make_jpeg, media_count

DAILY_LIMIT = 12
ALREADY_TODAY = 4


def _limit_daily_uploads(app, user_id: int, per_day: int) -> None:
    from webapp.extensions import db
    from webapp.models import Plan, User

    with app.app_context():
        user = db.session.get(User, user_id)
        plan = Plan(name="attack-tight", uploads_per_day=per_day, max_upload_bytes=0, transforms_per_day=0,
                    storage_bytes=0, api_requests_per_hour=0)
        db.session.add(plan)
        db.session.flush()
        user.plan_id = plan.id
        db.session.commit()


def _facts(app, user_id: int) -> tuple[int, int]:
    from webapp import quota
    from webapp.extensions import db
    from webapp.models import Media, User

    with app.app_context():
        stored = db.session.scalar(db.select(db.func.sum(Media.size)).where(Media.user_id == user_id)) or 0
        return quota.used_today(user_id).uploads, db.session.get(User, user_id).storage_used - stored


def test_fifty_mixed_uploads_at_the_daily_limit_store_exactly_the_limit(live_server):
    from webapp.auth import service

    app, url = live_server.app, live_server.url
    with app.app_context():
        kim_id = service.create_user("kim@example.com", "kim", STRONG_PASSWORD, verified=True).id
    _limit_daily_uploads(app, kim_id, DAILY_LIMIT)
    token = requests.post(f"{url}/api/v1/auth/login", json={"identifier": "kim", "password": STRONG_PASSWORD},
                          timeout=30).json()["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    key = requests.post(f"{url}/api/v1/api-keys", headers=bearer, json={"name": "shot", "scope": "upload"},
                        timeout=30).json()["key"]
    for n in range(ALREADY_TODAY):
        assert requests.post(f"{url}/api/v1/images", headers=bearer, files={"file": (f"{n}.jpg", make_jpeg())},
                             timeout=30).status_code == 201
    doors = [("/upload", {"X-API-Key": key}, "file"), ("/api/images", bearer, "image"),
             ("/api/v1/images", {"X-API-Key": key}, "file"), ("/upload", bearer, "file")]
    start = threading.Barrier(50)

    def attempt(n: int) -> int:
        path, headers, field = doors[n % len(doors)]
        photo = make_jpeg((40 + n, 30), (n * 5 % 255, 80, 120))
        start.wait()
        return requests.post(url + path, headers=headers, files={field: (f"race{n}.jpg", photo)},
                             timeout=60).status_code

    with ThreadPoolExecutor(50) as pool:
        statuses = list(pool.map(attempt, range(50)))
    allowed = DAILY_LIMIT - ALREADY_TODAY
    assert statuses.count(201) == allowed and statuses.count(429) == 50 - allowed, statuses
    assert media_count(app) == DAILY_LIMIT
    used_today, unaccounted_bytes = _facts(app, kim_id)
    assert used_today == DAILY_LIMIT and unaccounted_bytes == 0
    quota = requests.get(f"{url}/upload/quota", headers={"X-API-Key": key}, timeout=30).json()["quota"]
    assert quota["used_today"] == DAILY_LIMIT and quota["remaining_today"] == 0
