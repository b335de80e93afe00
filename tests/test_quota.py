"""Quota counters: one conditional statement each, exact under concurrency, new every UTC day."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

import pytest

from webapp import quota
from webapp.errors import TooLarge

JUST_BEFORE_MIDNIGHT = datetime(2026, 11, 22, 23, 59, 59, 900000, tzinfo=timezone.utc)
JUST_AFTER_MIDNIGHT = datetime(2026, 11, 23, 0, 0, 0, 100000, tzinfo=timezone.utc)


def in_app(app, func, *args, **kwargs):
    with app.app_context():
        return func(*args, **kwargs)


def test_fifty_concurrent_takes_against_a_limit_of_twenty_give_exactly_twenty(app, make_user):
    user_id = make_user()

    def attempt(_):
        try:
            in_app(app, quota.take, user_id, "transforms", 20)
            return "ok"
        except quota.QuotaExceeded:
            return "refused"

    with ThreadPoolExecutor(max_workers=10) as pool:
        outcomes = list(pool.map(attempt, range(50)))
    assert outcomes.count("ok") == 20 and outcomes.count("refused") == 30
    assert in_app(app, quota.used_today, user_id).transforms == 20


def test_exceeding_says_which_limit_and_when_it_resets(app, make_user):
    user_id = make_user()
    with app.app_context():
        for _ in range(3):
            quota.take(user_id, "uploads", 3, now=JUST_BEFORE_MIDNIGHT)
        with pytest.raises(quota.QuotaExceeded) as refused:
            quota.take(user_id, "uploads", 3, now=JUST_BEFORE_MIDNIGHT)
    error = refused.value
    assert error.status == 429 and error.code == "upload_quota_exceeded" and error.retry_after == 1
    assert "today's 3 uploads" in error.message


def test_a_new_utc_day_starts_at_zero_without_any_job(app, make_user):
    user_id = make_user()
    with app.app_context():
        assert quota.take(user_id, "transforms", 1, now=JUST_BEFORE_MIDNIGHT) == 1
        with pytest.raises(quota.QuotaExceeded):
            quota.take(user_id, "transforms", 1, now=JUST_BEFORE_MIDNIGHT)
        assert quota.take(user_id, "transforms", 1, now=JUST_AFTER_MIDNIGHT) == 1


def test_two_users_never_share_a_counter(app, make_user):
    kim, lee = make_user(), make_user()
    with app.app_context():
        quota.take(kim, "uploads", 1)
        assert quota.take(lee, "uploads", 1) == 1


def test_zero_means_unlimited(app, make_user):
    user_id = make_user()
    with app.app_context():
        for _ in range(5):
            quota.take(user_id, "uploads", 0)
        assert quota.used_today(user_id).uploads == 5


def test_give_back_returns_a_unit_but_never_below_zero(app, make_user):
    user_id = make_user()
    with app.app_context():
        quota.take(user_id, "uploads", 1)
        quota.give_back(user_id, "uploads")
        quota.give_back(user_id, "uploads")
        assert quota.used_today(user_id).uploads == 0
        assert quota.take(user_id, "uploads", 1) == 1


def test_storage_reservations_never_exceed_the_allowance_under_concurrency(app, make_user):
    user_id = make_user()

    def attempt(_):
        try:
            in_app(app, quota.reserve_storage, user_id, 100, 1000)
            return True
        except TooLarge:
            return False

    with ThreadPoolExecutor(max_workers=10) as pool:
        outcomes = list(pool.map(attempt, range(30)))
    assert outcomes.count(True) == 10
    assert in_app(app, quota.storage_used, user_id) == 1000
    with app.app_context():
        quota.release_storage(user_id, 100)
        assert quota.storage_used(user_id) == 900


def test_seconds_to_midnight():
    assert quota.seconds_to_midnight(datetime(2026, 1, 1, 23, 0, tzinfo=timezone.utc)) == 3600
    assert quota.seconds_to_midnight(JUST_BEFORE_MIDNIGHT) == 1
