"""What Shoebox says about itself is true today: no page, README line or config comment promises
backups or anything else that is not built."""

from __future__ import annotations

from tests.fixtures import ROOT


def test_setup_page_says_what_the_administrator_can_do(client):
    page = client.get("/setup").get_data(as_text=True)
    assert "who decides who may sign up" in page
    assert "backup" not in page.lower() and "storage" not in page.lower()


def test_account_deletion_names_only_what_exists(client, make_user, auth):
    make_user(username="kim")
    auth.login("kim")
    page = client.get("/settings/").get_data(as_text=True)
    assert "Deleting your account removes your photos, albums, share links and API keys." in page
    assert "backup" not in page.lower()


def test_readme_promises_no_backups():
    readme = (ROOT / "README.md").read_text()
    assert "backup archives" not in readme.lower()
    assert "editable" not in readme  # plans are seeded; nothing edits them


def test_example_config_says_the_backup_keys_do_nothing_yet():
    example = (ROOT / "config.example.toml").read_text()
    section = example.split("[backups]")[1].split("\n[")[0]
    assert "makes no backups, and nothing reads these" in " ".join(section.replace("#", " ").split())
    assert "Where backup archives are written" not in example
    assert "(backups," not in example and "files, backups" not in example
