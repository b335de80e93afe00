"""Backups end to end, without HTTP: an account's archive holds its photos, albums and links and restores
into an account (twice adds nothing); an instance archive restores into an empty instance."""

from __future__ import annotations

import json
import zipfile

import pytest

from tests.fixtures.media import make_jpeg


@pytest.fixture
def library(app, kim):
    """kim with three photos, an album of two and a share link; yields kim's id and the photo ids."""
    from webapp.albums import service as albums
    from webapp.extensions import db
    from webapp.media import service as media_service
    from webapp.models import User
    from webapp.shares import service as shares

    ids = [kim.upload(make_jpeg(colour=(n * 60, 20, 20))).get_json()["id"] for n in range(3)]
    with app.app_context():
        user = db.session.get(User, kim.id)
        album = albums.create_album(user, "Holidays")
        albums.add_photos(album, media_service.get_many_for(user, ids[:2]))
        shares.create_share(user, shares.Target(album_id=album.id), shares.Options())
    return kim.id, ids


def make_backup(app, user_id: int, scope: str = "account"):
    from webapp import jobs
    from webapp.backups import service
    from webapp.extensions import db
    from webapp.models import Backup, User

    with app.app_context():
        backup_id = service.start_backup(db.session.get(User, user_id), scope).id
    assert jobs.work_until_idle(app) >= 1
    with app.app_context():
        backup = db.session.get(Backup, backup_id)
        db.session.expunge(backup)
        return backup


def archive_of(app, backup) -> zipfile.ZipFile:
    import io

    from webapp.backups import making

    with app.app_context():
        with making.backup_store().open(backup.storage_key) as stream:
            return zipfile.ZipFile(io.BytesIO(stream.read()))


def test_an_account_backup_holds_the_photos_rows_and_a_manifest_with_every_checksum(app, library):
    user_id, ids = library
    backup = make_backup(app, user_id)

    assert backup.status == "done", backup.error
    assert backup.verified_at is not None and backup.size > 0 and len(backup.sha256) == 64
    assert backup.counts["media"] == 3 and backup.counts["albums"] == 1 and backup.counts["share_links"] == 1
    zipped = archive_of(app, backup)
    manifest = json.loads(zipped.read("manifest.json"))
    assert manifest["format"] == "shoebox-backup" and manifest["scope"] == "account"
    names = set(zipped.namelist()) - {"manifest.json"}
    assert names == set(manifest["entries"])
    users = [json.loads(line) for line in zipped.read("data/users.jsonl").splitlines()]
    assert len(users) == 1 and "password_hash" not in users[0] and "totp_secret" not in users[0]
    originals = [name for name in names if name.startswith("blobs/originals/")]
    assert len(originals) == 3
    assert all(zipped.getinfo(name).compress_type == zipfile.ZIP_STORED for name in originals)


def test_an_account_archive_restores_into_another_account_once(app, library, make_user):
    from webapp import jobs
    from webapp.backups import making, service
    from webapp.extensions import db
    from webapp.extensions import blob_store
    from webapp.models import Album, Backup, Job, Media, ShareLink, User

    user_id, ids = library
    backup = make_backup(app, user_id)
    other = make_user(email="lee@example.com", username="lee")
    with app.app_context():
        with making.backup_store().open(backup.storage_key) as stream:
            uploaded = service.receive_archive(db.session.get(User, other), "account", stream)
        uploaded_id = uploaded.id
        preview = service.preview(db.session.get(User, other), uploaded)
        assert (preview.photos, preview.photos_new, preview.albums_new) == (3, 3, 1)
        service.start_restore(db.session.get(User, other), uploaded)
    jobs.work_until_idle(app)
    with app.app_context():
        mine = db.session.scalars(db.select(Media).where(Media.user_id == other)).all()
        assert len(mine) == 3 and not set(m.id for m in mine) & set(ids)  # kim's ids stay kim's
        assert db.session.get(User, other).media_count == 3
        assert db.session.scalar(db.select(db.func.count()).select_from(Album).where(Album.user_id == other)) == 1
        # The link's secret is kim's: it is not copied into lee's account.
        assert db.session.scalar(db.select(db.func.count()).select_from(ShareLink)
                                 .where(ShareLink.user_id == other)) == 0
        assert all(blob_store().exists(m.storage_key) for m in mine)
        service.start_restore(db.session.get(User, other), db.session.get(Backup, uploaded_id))
    jobs.work_until_idle(app)
    with app.app_context():
        assert {job.state for job in db.session.scalars(db.select(Job))} == {"done"}
        assert db.session.scalar(db.select(db.func.count()).select_from(Media).where(Media.user_id == other)) == 3
        assert db.session.get(User, other).media_count == 3


def test_an_instance_archive_restores_into_an_empty_instance(app, library, make_user, make_app, tmp_path):
    from webapp import jobs
    from webapp.backups import making, service
    from webapp.extensions import blob_store, db
    from webapp.models import Media, User

    admin = make_user(email="admin@example.com", username="admin", role="admin")
    backup = make_backup(app, admin, "instance")
    assert backup.status == "done", backup.error
    with app.app_context():
        with making.backup_store().open(backup.storage_key) as stream:
            data = stream.read()
        originals = {m.storage_key: blob_store().open(m.storage_key).read()
                     for m in db.session.scalars(db.select(Media))}
        users = {u.username: u.password_hash for u in db.session.scalars(db.select(User))}

    import io
    fresh = _empty_instance(tmp_path, app)
    with fresh.app_context():
        uploaded = service.receive_archive(None, "instance", io.BytesIO(data), setup=True)
        service.start_restore(None, uploaded, setup=True)
    jobs.work_until_idle(fresh)
    with fresh.app_context():
        assert {u.username: u.password_hash for u in db.session.scalars(db.select(User))} == users
        assert {m.storage_key: blob_store().open(m.storage_key).read()
                for m in db.session.scalars(db.select(Media))} == originals


def _empty_instance(tmp_path, app):
    from tests.fixtures.database import app_settings
    from webapp import create_app

    url = app.config["SQLALCHEMY_DATABASE_URI"]
    if url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path / 'fresh.db'}"
    else:
        pytest.skip("the PostgreSQL drill is in test_backup_restore_drill")
    return create_app(app_settings(tmp_path / "fresh", url))


def _rewrite(data: bytes, change) -> bytes:
    """The archive with its media rows changed by `change(rows)`, manifest checksums made to match (a
    careful forger's archive)."""
    import hashlib
    import io

    source = zipfile.ZipFile(io.BytesIO(data))
    manifest = json.loads(source.read("manifest.json"))
    rows = [json.loads(line) for line in source.read("data/media.jsonl").splitlines()]
    body = ("\n".join(json.dumps(row) for row in change(rows)) + "\n").encode()
    manifest["entries"]["data/media.jsonl"] = {"size": len(body), "sha256": hashlib.sha256(body).hexdigest()}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            if info.filename == "manifest.json":
                target.writestr("manifest.json", json.dumps(manifest))
            elif info.filename == "data/media.jsonl":
                target.writestr(info.filename, body)
            else:
                target.writestr(info, source.read(info))
    return out.getvalue()


def test_a_forged_account_archive_cannot_overwrite_anothers_file_or_understate_its_size(app, library, make_user):
    import io

    from webapp import jobs
    from webapp.backups import making, service
    from webapp.extensions import blob_store, db
    from webapp.models import Media, User

    user_id, ids = library
    backup = make_backup(app, user_id)
    with app.app_context():
        victim = db.session.get(Media, ids[0])
        victim_key, victim_bytes = victim.storage_key, blob_store().open(victim.storage_key).read()
        with making.backup_store().open(backup.storage_key) as stream:
            data = stream.read()

    def forge(rows):
        for n, row in enumerate(rows):
            row["id"] = f"forged{n:016d}"
            row["size"] = 1
            row["mime_type"] = "text/html"
        return rows

    mallory = make_user(email="mallory@example.com", username="mallory")
    with app.app_context():
        uploaded = service.receive_archive(db.session.get(User, mallory), "account", io.BytesIO(_rewrite(data, forge)))
        service.start_restore(db.session.get(User, mallory), uploaded)
    jobs.work_until_idle(app)
    with app.app_context():
        assert blob_store().open(victim_key).read() == victim_bytes
        hers = db.session.scalars(db.select(Media).where(Media.user_id == mallory)).all()
        assert len(hers) == 3
        assert all(m.storage_key.startswith(f"originals/{m.id[:2]}/{m.id}") for m in hers)
        assert all(m.size == blob_store().size(m.storage_key) > 1 for m in hers)
        assert all(m.kind == "file" and m.mime_type == "text/html" for m in hers)
        assert db.session.get(User, mallory).storage_used == sum(m.size for m in hers)
