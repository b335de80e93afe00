"""What Shoebox says about itself is true today: pages, the README and the config comments describe
the backups that exist and promise nothing that is not built."""

from __future__ import annotations

from tests.fixtures import ROOT


def test_account_deletion_names_everything_it_removes(client, make_user, auth):
    make_user(username="kim")
    auth.login("kim")
    page = client.get("/settings/").get_data(as_text=True)
    assert "Deleting your account removes your photos, albums, share links, API keys and backups." in page


def test_readme_says_plans_are_editable_in_admin_plans(app):
    readme = (ROOT / "README.md").read_text()
    assert "Plans are editable in Admin → Plans" in readme
    assert "admin.plans" in app.view_functions and "api.create_plan" in app.view_functions


def test_readme_names_every_backup_command_that_exists(app):
    readme = (ROOT / "README.md").read_text()
    for command in ("backup", "verify", "restore"):
        assert f"flask --app webapp {command}" in readme
        assert command in app.cli.commands, f"the README names flask {command}, which is missing"


def test_example_config_names_only_backup_keys_that_are_read():
    from webapp.config import DEFAULTS

    example = (ROOT / "config.example.toml").read_text()
    section = example.split("[backups]")[1].split("\n[")[0]
    keys = {line.split("=")[0].strip("# ").strip() for line in section.splitlines() if "=" in line}
    assert keys == set(DEFAULTS["backups"])
    assert "makes no backups" not in section
