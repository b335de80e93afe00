"""`flask backup`, `flask verify` and `flask restore`: the restore drill from the command line. An instance
backed up with --out, verified, and restored into an empty instance (its own data folder and database) has
the same rows and byte-identical originals; a damaged, foreign or encrypted-without-passphrase archive, or
an instance that is not empty, exits 1 with one sentence and changes nothing."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import uuid
import zipfile
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.fixtures import ROOT
from tests.fixtures.database import TEST_DATABASE_URL, postgres_url
from tests.fixtures.media import make_jpeg

PASSPHRASE = "correct horse battery staple backup"


@pytest.fixture
def populated(app, kim, make_user):
    """An instance with an admin (2FA on), kim with three photos, a saved version, an album and a share link."""
    from webapp.albums import service as albums
    from webapp.extensions import db
    from webapp.media import service as media_service
    from webapp.models import User
    from webapp.shares import service as shares

    admin = make_user(email="boss@example.com", username="boss", role="admin")
    ids = [kim.upload(make_jpeg(colour=(n * 70, 20, 20))).get_json()["id"] for n in range(3)]
    kim.test_client.post(f"/api/v1/images/{ids[0]}/transform", headers=kim.headers,
                         json={"transformations": {"rotate": 90}})
    with app.app_context():
        db.session.get(User, admin).totp_secret = "JBSWY3DPEHPK3PXP"
        user = db.session.get(User, kim.id)
        album = albums.create_album(user, "Holidays")
        albums.add_photos(album, media_service.get_many_for(user, ids[:2]))
        shares.create_share(user, shares.Target(album_id=album.id), shares.Options())
        db.session.commit()
    return app


@pytest.fixture
def empty_instance(make_app, database_url, tmp_path):
    """empty_instance(kind=None, **settings) -> a second, empty instance with its own data folder and database
    (of this test's kind, or "sqlite" / "postgresql")."""
    from webapp.extensions import db

    made, schemas = [], []

    def make(kind: str | None = None, **settings):
        kind = kind or ("sqlite" if database_url.startswith("sqlite") else "postgresql")
        name = f"fresh-{len(made)}"
        if kind == "sqlite":
            url = f"sqlite:///{tmp_path / f'{name}.db'}"
        else:
            schemas.append(f"test_{uuid.uuid4().hex[:12]}")
            url = _new_schema(schemas[-1])
        made.append(make_app(data_dir=str(tmp_path / name), database={"url": url}, **settings))
        return made[-1]

    yield make
    for app in made:  # its connections go before its schema does
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    for schema in schemas:
        _drop_schema(schema)


def _new_schema(schema: str) -> str:
    admin = sa.create_engine(postgres_url(TEST_DATABASE_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    base = sa.make_url(postgres_url(TEST_DATABASE_URL))
    return base.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)


def _drop_schema(schema: str) -> None:
    admin = sa.create_engine(postgres_url(TEST_DATABASE_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def flask(app, *args):
    """Run a `flask` command on `app` and return click's result."""
    return app.test_cli_runner().invoke(args=list(args))


def rows(app) -> dict[str, list[dict]]:
    """Every row of every table an instance backup holds, by primary key (the audit events that the backup
    and the restore themselves add left out)."""
    from webapp.backups import contents
    from webapp.extensions import db

    with app.app_context():
        found = {}
        for table in contents.tables("instance"):
            statement = sa.select(table).order_by(*table.primary_key.columns)
            if table.name == "audit_events":
                statement = statement.where(table.c.action.notin_(("backup_made", "backup_restored")))
            found[table.name] = [dict(row) for row in db.session.execute(statement).mappings()]
        return found


def originals(app) -> dict[str, bytes]:
    from webapp.extensions import blob_store, db
    from webapp.models import Media, Variant

    with app.app_context():
        keys = list(db.session.scalars(sa.select(Media.storage_key))) + \
            list(db.session.scalars(sa.select(Variant.storage_key)))
        found = {}
        for key in keys:
            with blob_store().open(key) as stream:
                found[key] = stream.read()
        return found


def backed_up(app, out) -> str:
    """Back the instance up with --out; returns the command's output."""
    result = flask(app, "backup", "--scope", "instance", "--out", str(out))
    assert result.exit_code == 0, result.output
    return result.output


# --- the drill ---------------------------------------------------------------------------------

def test_backup_verify_and_restore_into_an_empty_instance_gives_the_same_rows_and_files(
        populated, empty_instance, tmp_path):
    out = tmp_path / "instance.zip"
    printed = backed_up(populated, out)
    data = out.read_bytes()
    assert f"sha256    {hashlib.sha256(data).hexdigest()}" in printed
    assert f"({len(data)} bytes)" in printed and f"copied    {out}" in printed
    stored = printed.split("stored    ", 1)[1].split("\n", 1)[0]
    assert Path(stored).read_bytes() == data  # the copy is the archive in the backup folder
    before, files = rows(populated), originals(populated)
    assert sum(key.startswith("originals/") for key in files) == 3 and len(before["users"]) == 2

    verified = flask(populated, "verify", str(out))
    assert verified.exit_code == 0, verified.output
    assert "a backup of the instance" in verified.output and "match their size and SHA-256" in verified.output
    assert "media                        3 rows" in verified.output

    fresh = empty_instance()
    restored = flask(fresh, "restore", str(out))

    assert restored.exit_code == 0, restored.output
    assert "users                        2 rows" in restored.output
    assert rows(fresh) == before
    assert originals(fresh) == files


def test_an_instance_made_on_sqlite_restores_into_postgresql(populated, empty_instance, tmp_path, database_url):
    from webapp.auth import service

    if not (TEST_DATABASE_URL and database_url.startswith("sqlite")):
        pytest.skip("needs TEST_DATABASE_URL, and runs from the SQLite variant")
    out = tmp_path / "instance.zip"
    backed_up(populated, out)

    fresh = empty_instance("postgresql")
    restored = flask(fresh, "restore", str(out))

    assert restored.exit_code == 0, restored.output
    assert rows(fresh) == rows(populated)
    assert originals(fresh) == originals(populated)
    with fresh.app_context():  # the sequences moved past the restored ids: the next account gets a new one
        assert service.create_user("new@example.com", "newcomer", "correct horse battery staple").id == 3


def test_backup_out_into_a_folder_uses_the_archives_name(populated, tmp_path):
    folder = tmp_path / "copies"
    folder.mkdir()

    printed = backed_up(populated, folder)

    copies = list(folder.iterdir())
    assert len(copies) == 1 and copies[0].name.startswith("shoebox-instance-") and copies[0].suffix == ".zip"
    assert f"copied    {copies[0]}" in printed


def test_an_account_backup_names_its_account(populated, tmp_path):
    from webapp.extensions import db
    from webapp.models import Backup

    result = flask(populated, "backup", "--user", "kim")

    assert result.exit_code == 0, result.output
    with populated.app_context():
        backup = db.session.scalars(sa.select(Backup)).one()
        assert (backup.scope, backup.status, backup.counts["media"]) == ("account", "done", 3)


@pytest.mark.parametrize("args, sentence", [
    (["backup"], "Name the account to back up with --user USERNAME (or use --scope instance)."),
    (["backup", "--user", "nobody"], "There is no account called nobody."),
    (["backup", "--scope", "instance", "--user", "kim"],
     "kim is not an admin; an instance backup is made by an admin."),
])
def test_a_backup_nobody_can_make_exits_1_with_a_sentence(populated, args, sentence):
    result = flask(populated, *args)

    assert result.exit_code == 1 and sentence in result.output


def test_an_instance_backup_needs_an_admin(app, kim):
    result = flask(app, "backup", "--scope", "instance")

    assert result.exit_code == 1
    assert "This instance has no admin yet; create one with flask create-admin." in result.output


# --- archives that are refused -----------------------------------------------------------------

def _damaged(source, target) -> None:
    """A copy of the archive with one byte of a stored photo changed (its size stays right)."""
    data = bytearray(source.read_bytes())
    with zipfile.ZipFile(source) as archive:
        start = next(i for i in archive.infolist() if i.filename.startswith("blobs/originals/")).header_offset
    name_length, extra_length = (int.from_bytes(data[start + n:start + n + 2], "little") for n in (26, 28))
    data[start + 30 + name_length + extra_length + 20] ^= 0xFF
    target.write_bytes(bytes(data))


def test_verify_finds_a_changed_byte(populated, tmp_path):
    out, damaged = tmp_path / "instance.zip", tmp_path / "damaged.zip"
    backed_up(populated, out)
    _damaged(out, damaged)

    result = flask(populated, "verify", str(damaged))

    assert result.exit_code == 1
    assert "The archive is damaged: blobs/originals/" in result.output


def test_verify_refuses_a_cut_short_file(populated, tmp_path):
    out, cut = tmp_path / "instance.zip", tmp_path / "cut.zip"
    backed_up(populated, out)
    cut.write_bytes(out.read_bytes()[:-1000])

    result = flask(populated, "verify", str(cut))

    assert result.exit_code == 1
    assert "This file is not a Shoebox backup: it is not a zip archive, or it is cut short." in result.output


def test_restore_into_an_instance_with_accounts_exits_1_and_changes_nothing(populated, tmp_path):
    out = tmp_path / "instance.zip"
    backed_up(populated, out)
    before = rows(populated)

    result = flask(populated, "restore", str(out))

    assert result.exit_code == 1
    assert ("An instance backup restores only into an empty instance, and this one has accounts already."
            in result.output)
    assert rows(populated) == before


def test_a_damaged_or_account_archive_is_refused_and_the_instance_stays_empty(populated, empty_instance, tmp_path):
    from webapp.backups import making
    from webapp.extensions import db
    from webapp.models import Backup

    out, damaged = tmp_path / "instance.zip", tmp_path / "damaged.zip"
    backed_up(populated, out)
    _damaged(out, damaged)
    assert flask(populated, "backup", "--user", "kim", "--out", str(tmp_path / "kim.zip")).exit_code == 0
    fresh = empty_instance()

    broken = flask(fresh, "restore", str(damaged))
    foreign = flask(fresh, "restore", str(tmp_path / "kim.zip"))

    assert broken.exit_code == 1 and "The archive is damaged: blobs/originals/" in broken.output
    assert foreign.exit_code == 1
    assert ("This is a backup of one account; restore it from that account's Settings → Backups."
            in foreign.output)
    assert not any(rows(fresh)[name] for name in ("users", "media", "albums", "share_links"))
    assert originals(fresh) == {}
    with fresh.app_context():
        assert db.session.scalars(sa.select(Backup)).all() == []
        assert list(making.backup_store().keys()) == []


# --- encrypted archives ------------------------------------------------------------------------

@pytest.fixture
def app(make_app, request):
    """The app under test; `@pytest.mark.parametrize("app", [settings], indirect=True)` gives it settings."""
    return make_app(**getattr(request, "param", {}))


ENCRYPTING = pytest.mark.parametrize("app", [{"backups": {"passphrase": PASSPHRASE}}], indirect=True)


@pytest.mark.slow  # age's scrypt (calibrated to about a second) several times
@ENCRYPTING
def test_an_encrypted_instance_backup_restores_with_its_passphrase_only(populated, empty_instance, tmp_path):
    out = tmp_path / "encrypted.zip"
    backed_up(populated, out)
    with zipfile.ZipFile(out) as outer:
        assert set(outer.namelist()) == {"README.txt", "key.age", "archive.zip.age"}

    without = flask(empty_instance(), "restore", str(out))
    wrong = flask(empty_instance(backups={"passphrase": "not the passphrase"}), "restore", str(out))
    fresh = empty_instance(backups={"passphrase": PASSPHRASE})
    right = flask(fresh, "restore", str(out))

    assert without.exit_code == 1
    assert "This backup is encrypted, and no backups.passphrase is set to open it." in without.output
    assert wrong.exit_code == 1 and "The passphrase does not open this backup." in wrong.output
    assert right.exit_code == 0, right.output
    assert rows(fresh) == rows(populated)
    assert originals(fresh) == originals(populated)


@pytest.mark.slow  # two Python start-ups and an scrypt each
@ENCRYPTING
def test_verify_takes_the_passphrase_from_the_environment(populated, tmp_path):
    """`flask --app webapp verify` as a cron job runs it: SHOEBOX_BACKUPS__PASSPHRASE opens the archive."""
    out = tmp_path / "encrypted.zip"
    backed_up(populated, out)

    def verify(passphrase: str) -> subprocess.CompletedProcess:
        config = tmp_path / "empty.toml"
        config.touch()
        env = {k: v for k, v in os.environ.items() if not k.startswith("SHOEBOX_")}
        env.update(SHOEBOX_CONFIG=str(config), SHOEBOX_DATA_DIR=str(tmp_path / "cron"),
                   SHOEBOX_SCHEDULER__ENABLED="false", SHOEBOX_BACKUPS__PASSPHRASE=passphrase)
        return subprocess.run([sys.executable, "-m", "flask", "--app", "webapp", "verify", str(out)], cwd=ROOT,
                              env=env, capture_output=True, text=True, timeout=120)

    right, wrong = verify(PASSPHRASE), verify("not the passphrase")

    assert right.returncode == 0, right.stderr
    assert "users                        2 rows" in right.stdout
    assert wrong.returncode == 1 and "The passphrase does not open this backup." in wrong.stderr
