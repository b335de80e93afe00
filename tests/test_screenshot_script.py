"""The Flameshot / shell script from Settings → Integrations, run for real with dash against a live server,
with fake screenshot and clipboard tools on a PATH that holds nothing else but the basics it may use."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
import requests

from tests.fixtures.accounts import csrf_token_from
from tests.fixtures.media import make_flat_png
from tests.test_sharex import browser_session

# What the script may expect on any system besides the tools it names.
BASICS = ("curl", "sed", "tr", "mktemp", "date", "uname", "rm", "cat")


def fake_tool(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


@pytest.fixture
def desktop(tmp_path):
    """A bin folder with the basics and room for fakes; a PNG the fake screenshot tools hand over."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for name in BASICS:
        os.symlink(shutil.which(name), folder / name)
    shot = tmp_path / "region.png"
    shot.write_bytes(make_flat_png(120, 80))

    class Desktop:
        bin = folder
        png = shot
        clipboard = tmp_path / "clipboard"
        calls = tmp_path / "calls"

        def add(self, name, body):
            fake_tool(folder, name, body)

        def add_flameshot(self):
            self.add("flameshot", f'echo "flameshot $*" >>"{self.calls}"\n'
                                  f'[ "$1 $2" = "gui --raw" ] && cat "{self.png}"\n')

        def add_clipboard(self, name):
            self.add(name, f'echo "{name} $*" >>"{self.calls}"\ncat >"{self.clipboard}"\n')

        def remove(self, name):
            (folder / name).unlink()
    return Desktop()


def download_script(live_server, session, visibility="public") -> str:
    token = csrf_token_from(session.get(f"{live_server.url}/settings/integrations").text)
    response = session.post(f"{live_server.url}/settings/integrations/script",
                            data={"csrf_token": token, "script-uploads_public": visibility})
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].endswith('-screenshot.sh"')
    assert response.headers["Cache-Control"] == "no-store"
    return response.text


def run(script: str, tmp_path: Path, desktop, **env) -> subprocess.CompletedProcess:
    path = tmp_path / "shoebox-screenshot.sh"
    path.write_text(script)
    path.chmod(0o700)
    return subprocess.run(["/bin/sh", str(path)], capture_output=True, text=True, timeout=60,
                          env={"PATH": str(desktop.bin), "HOME": str(tmp_path), "TMPDIR": str(tmp_path), **env})


@pytest.fixture
def script(live_server):
    return download_script(live_server, browser_session(live_server))


def leftovers(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("shoebox-") and not p.name.endswith(".sh"))


def test_the_script_is_posix_and_holds_an_upload_only_key(live_server, script):
    assert script.startswith("#!/bin/sh\n")
    assert subprocess.run(["/bin/sh", "-n"], input=script, text=True).returncode == 0
    key = next(line.split("=", 1)[1] for line in script.splitlines() if line.startswith("SHOEBOX_KEY="))
    listed = requests.get(f"{live_server.url}/api/v1/images", headers={"X-API-Key": key})
    assert listed.status_code == 403 and listed.json()["error"]["code"] == "insufficient_scope"


def test_flameshot_on_x11_uploads_the_region_and_puts_the_link_on_the_clipboard(live_server, script, tmp_path,
                                                                               desktop):
    desktop.add_flameshot()
    desktop.add_clipboard("xclip")
    done = run(script, tmp_path, desktop, DISPLAY=":0")
    assert done.returncode == 0, done.stderr
    link = done.stdout.strip()
    assert link.startswith(f"{live_server.url}/i/") and "The link is on the clipboard" in done.stderr
    assert desktop.clipboard.read_text() == link
    assert desktop.calls.read_text().splitlines() == ["flameshot gui --raw", "xclip -selection clipboard"]
    served = requests.get(link)  # public, as chosen on the page: it works for whoever it is pasted to
    assert served.status_code == 200 and served.content.startswith(b"\x89PNG")
    deletion = next(word for word in done.stderr.split() if "/delete/" in word)
    assert requests.post(deletion).status_code == 200 and requests.get(link).status_code == 404
    assert leftovers(tmp_path) == []


def test_on_wayland_it_falls_back_to_grim_and_slurp_and_copies_with_wl_copy(live_server, script, tmp_path, desktop):
    desktop.add("slurp", f'echo "slurp" >>"{desktop.calls}"\necho "10,20 300x200"\n')
    desktop.add("grim", f'echo "grim $*" >>"{desktop.calls}"\ncat "{desktop.png}" >"$3"\n')
    desktop.add_clipboard("wl-copy")
    desktop.add_clipboard("xclip")  # present too, but on Wayland wl-copy is the one to use
    done = run(script, tmp_path, desktop, WAYLAND_DISPLAY="wayland-0", DISPLAY=":0")
    assert done.returncode == 0, done.stderr
    calls = desktop.calls.read_text().splitlines()
    assert calls[0] == "slurp" and calls[1].startswith("grim -g 10,20 300x200 ") and calls[2] == "wl-copy "
    assert desktop.clipboard.read_text() == done.stdout.strip()
    assert requests.get(done.stdout.strip()).status_code == 200


def test_without_a_clipboard_tool_it_still_prints_the_link(live_server, script, tmp_path, desktop):
    desktop.add_flameshot()
    done = run(script, tmp_path, desktop)
    assert done.returncode == 0
    assert "No clipboard tool was found" in done.stderr and done.stdout.startswith(f"{live_server.url}/i/")


@pytest.mark.parametrize("missing, env, sentence", [
    ("screenshot tool", {"DISPLAY": ":0"}, "No screenshot tool found. Install Flameshot."),
    ("screenshot tool", {"WAYLAND_DISPLAY": "wayland-0"}, "No screenshot tool found. Install Flameshot, or grim"),
    ("curl", {"DISPLAY": ":0"}, "curl is not installed."),
])
def test_a_missing_tool_is_named_and_nothing_is_uploaded(live_server, script, tmp_path, desktop, missing, env,
                                                          sentence):
    if missing == "curl":
        desktop.add_flameshot()
        desktop.remove("curl")
    done = run(script, tmp_path, desktop, **env)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith("shoebox: " + sentence)
    assert media_rows(live_server) == 0 and leftovers(tmp_path) == []


def test_a_cancelled_selection_uploads_nothing(live_server, script, tmp_path, desktop):
    desktop.add("flameshot", "exit 0\n")  # Escape pressed: Flameshot hands over nothing
    done = run(script, tmp_path, desktop, DISPLAY=":0")
    assert done.returncode == 1 and "No screenshot was taken" in done.stderr
    assert media_rows(live_server) == 0


def test_a_refused_upload_says_why(live_server, script, tmp_path, desktop):
    from webapp.extensions import db
    from webapp.models import ApiKey, utcnow

    with live_server.app.app_context():
        for key in db.session.scalars(db.select(ApiKey)):
            key.revoked_at = utcnow()
        db.session.commit()
    desktop.add_flameshot()
    desktop.add_clipboard("xclip")
    done = run(script, tmp_path, desktop, DISPLAY=":0")
    assert done.returncode == 1 and done.stdout == "" and not desktop.clipboard.exists()
    assert done.stderr == "shoebox: Shoebox refused the upload: The API key is not valid or has been revoked.\n"


def test_an_unreachable_server_is_named(live_server, script, tmp_path, desktop):
    desktop.add_flameshot()
    elsewhere = script.replace(f"SHOEBOX_UPLOAD_URL={live_server.url}/", "SHOEBOX_UPLOAD_URL=http://127.0.0.1:9/")
    assert elsewhere != script
    done = run(elsewhere, tmp_path, desktop, DISPLAY=":0")
    assert done.returncode == 1 and f"Could not reach Shoebox at {live_server.url}." in done.stderr


def media_rows(live_server) -> int:
    from webapp.extensions import db
    from webapp.models import Media

    with live_server.app.app_context():
        return db.session.scalar(db.select(db.func.count()).select_from(Media))
