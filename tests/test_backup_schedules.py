"""Scheduled backups: when they are due, that each slot is queued once whoever leads, what retention
keeps, and that a failed one reaches the admins."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from tests.fixtures.media import make_jpeg

UTC = timezone.utc


def schedule(**values):
    from webapp.models import BackupSchedule

    base = dict(scope="account", frequency="daily", hour=3, weekday=0, keep_daily=7, keep_weekly=4, keep_monthly=6)
    return BackupSchedule(**{**base, **values})


@pytest.mark.parametrize("frequency, weekday, after, expected", [
    ("daily", 0, datetime(2026, 12, 2, 2, 59, tzinfo=UTC), datetime(2026, 12, 2, 3, 0, tzinfo=UTC)),
    ("daily", 0, datetime(2026, 12, 2, 3, 0, tzinfo=UTC), datetime(2026, 12, 3, 3, 0, tzinfo=UTC)),
    ("daily", 0, datetime(2026, 12, 31, 23, 0, tzinfo=UTC), datetime(2027, 1, 1, 3, 0, tzinfo=UTC)),
    ("weekly", 0, datetime(2026, 12, 2, 12, 0, tzinfo=UTC), datetime(2026, 12, 7, 3, 0, tzinfo=UTC)),  # a Monday
    ("weekly", 2, datetime(2026, 12, 2, 2, 0, tzinfo=UTC), datetime(2026, 12, 2, 3, 0, tzinfo=UTC)),  # today
    ("weekly", 2, datetime(2026, 12, 2, 4, 0, tzinfo=UTC), datetime(2026, 12, 9, 3, 0, tzinfo=UTC)),
    ("off", 0, datetime(2026, 12, 2, 2, 0, tzinfo=UTC), None),
])
def test_the_next_run_is_the_first_matching_hour_after_now(frequency, weekday, after, expected):
    from webapp.backups import service

    assert service.next_run(schedule(frequency=frequency, weekday=weekday), after) == expected


def _made(days_ago: float, now: datetime, status="done"):
    return SimpleNamespace(id=f"b{days_ago}", created_at=now - timedelta(days=days_ago), status=status)


def test_retention_keeps_the_newest_of_each_recent_day_week_and_month():
    from webapp.backups import service

    now = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
    backups = [_made(day, now) for day in range(0, 400)] + [_made(0.05, now)]  # two on one day
    kept = service.to_keep(backups, schedule(keep_daily=7, keep_weekly=4, keep_monthly=6))

    days = {f"b{day}" for day in range(7)}
    assert days <= kept and "b0.05" not in kept  # the newer of the two on that day
    months = {(now - timedelta(days=float(b[1:]))).strftime("%Y-%m") for b in kept}
    assert len(months) == 6  # this month and the five before
    assert len(kept) <= 7 + 4 + 6
    assert "b399" not in kept


def test_retention_ignores_failed_backups_and_keeps_nothing_when_told_to_keep_nothing():
    from webapp.backups import service

    now = datetime(2026, 12, 2, tzinfo=UTC)
    failed = _made(0, now, status="failed")
    assert service.to_keep([failed, _made(1, now)], schedule(keep_weekly=0, keep_monthly=0, keep_daily=1)) == {"b1"}
    assert service.to_keep([_made(1, now)], schedule(keep_daily=0, keep_weekly=0, keep_monthly=0)) == set()


def test_a_schedule_is_checked_and_each_error_names_its_field(app, kim):
    from webapp.backups import service
    from webapp.errors import InvalidInput
    from webapp.extensions import db
    from webapp.models import User

    good = dict(frequency="daily", hour=3, weekday=0, keep_daily=7, keep_weekly=4, keep_monthly=6)
    with app.app_context():
        user = db.session.get(User, kim.id)
        for field, value in (("frequency", "hourly"), ("hour", 24), ("weekday", 7), ("keep_daily", -1)):
            with pytest.raises(InvalidInput) as error:
                service.save_schedule(user, "account", service.ScheduleInput(**{**good, field: value}))
            assert error.value.field == field
        with pytest.raises(InvalidInput) as error:
            service.save_schedule(user, "account", service.ScheduleInput(
                **{**good, "keep_daily": 0, "keep_weekly": 0, "keep_monthly": 0}))
        assert error.value.field == "keep_daily"
        saved = service.save_schedule(user, "account", service.ScheduleInput(**good))
        assert saved.next_run_at is not None and saved.next_run_at.hour == 3


def test_a_due_schedule_is_queued_once_whoever_asks_and_moves_on(app, make_app, kim):
    from webapp import jobs
    from webapp.backups import service
    from webapp.extensions import db
    from webapp.models import BackupSchedule, Job, User

    with app.app_context():
        user = db.session.get(User, kim.id)
        saved = service.save_schedule(user, "account", service.ScheduleInput("daily", 3, 0, 7, 4, 6))
        due_at = saved.next_run_at
        saved.next_run_at = due_at  # as saved; now pretend the clock reached it
    other = make_app()  # a second instance on the same database: an old and a new leader
    for each in (app, other, app):
        with each.app_context():
            service.queue_due_schedules(due_at + timedelta(minutes=1))
            db.session.execute(db.update(BackupSchedule).values(next_run_at=due_at))  # a stale read elsewhere
            db.session.commit()
    with app.app_context():
        queued = db.session.scalars(db.select(Job).where(Job.name == "scheduled_backup")).all()
        assert len(queued) == 1 and queued[0].slot.startswith(f"backup:account:{kim.id}@")
    assert jobs.work_until_idle(app) == 1
    with app.app_context():
        from webapp.models import Backup

        made = db.session.scalars(db.select(Backup)).all()
        assert [(b.origin, b.status, b.user_id) for b in made] == [("scheduled", "done", kim.id)]


def test_retention_deletes_the_archives_of_scheduled_backups_it_does_not_keep_and_never_manual_ones(app, kim):
    from webapp import jobs
    from webapp.backups import making, service
    from webapp.extensions import db
    from webapp.models import Backup, User

    kim.upload(make_jpeg())
    with app.app_context():
        user = db.session.get(User, kim.id)
        service.save_schedule(user, "account", service.ScheduleInput("daily", 3, 0, 1, 0, 0))
        manual = service.start_backup(user, "account").id
    jobs.work_until_idle(app)
    made = []
    for days_ago in (3, 2, 1):
        with app.app_context():
            job_id = jobs.enqueue("scheduled_backup", {"scope": "account", "user_id": kim.id}, user_id=kim.id).id
            db.session.commit()
        jobs.work_until_idle(app)
        with app.app_context():
            backup = db.session.scalars(db.select(Backup).where(Backup.job_id == job_id)).one()
            backup.created_at = backup.created_at - timedelta(days=days_ago)
            made.append((backup.id, backup.storage_key))
            db.session.commit()
    with app.app_context():
        service.apply_retention("account", kim.id)
        left = {b.id for b in db.session.scalars(db.select(Backup))}
        assert left == {manual, made[-1][0]}
        store = making.backup_store()
        assert not store.exists(made[0][1]) and not store.exists(made[1][1]) and store.exists(made[2][1])


def test_a_failed_scheduled_backup_emails_the_admins_and_shows_until_a_later_one_succeeds(app, kim, make_user,
                                                                                      monkeypatch):
    from webapp import jobs
    from webapp.backups import making, service
    from webapp.extensions import db
    from webapp.models import Backup, OutboxMessage

    make_user(email="root@example.com", username="root", role="admin")
    kim.upload(make_jpeg())

    def broken(*args, **kwargs):
        raise OSError("No space left on device")

    with monkeypatch.context() as patched:
        patched.setattr(making, "_write", broken)
        with app.app_context():
            jobs.enqueue("scheduled_backup", {"scope": "account", "user_id": kim.id}, user_id=kim.id)
            db.session.commit()
        jobs.work_until_idle(app)
    with app.app_context():
        failed = db.session.scalars(db.select(Backup)).one()
        assert failed.status == "failed" and "No space left on device" in failed.error
        assert not making.backup_store().exists(making.pending_key(failed))
        assert service.latest_failure()["id"] == failed.id
        mail = db.session.scalars(db.select(OutboxMessage).where(OutboxMessage.to == "root@example.com")).all()
        assert [m.subject for m in mail] == ["A scheduled backup failed"]
        assert "No space left on device" in mail[0].text_body
        jobs.enqueue("scheduled_backup", {"scope": "account", "user_id": kim.id}, user_id=kim.id)
        db.session.commit()
    jobs.work_until_idle(app)
    with app.app_context():
        assert service.latest_failure() is None
