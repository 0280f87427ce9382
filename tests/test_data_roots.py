"""The server reads only its data roots, and no folder is walked or decoded without limit.

The dashboard's "folder on this machine" box and checkpoint box are typed by whoever reaches the
page; both are tried here on the real page (AppTest) with paths outside the roots. The limits on
files walked and bytes decoded are tried through the real CLI.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from corpus import good_folder
from dashboard_fixtures import seed_throughput
from test_dashboard_pages import PAGES, render

from tlcompare.cli import main
from tlcompare.data.access import data_roots, require_inside_roots
from tlcompare.errors import UserError

REFUSED = "outside the folders this dashboard may read"


@pytest.fixture
def user_home(tmp_path, monkeypatch) -> Path:
    """A user whose home is a temporary folder (so /root is outside it), with the default roots."""
    home = tmp_path / "user"
    good_folder(home / "photos", per_class=6)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("TLCOMPARE_DATA_ROOTS", raising=False)
    seed_throughput()
    return home


def folder_box(path: str):
    at = render(PAGES[0])
    at.segmented_control(key="own_kind").set_value("folder").run()
    at.text_input(key="own_folder").input(path).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def shown(at) -> str:
    return "\n".join(e.value.replace("\\", "") for e in at.error)


@pytest.mark.parametrize("path", ["/", "/etc", "/proc/self", "/root", "~/escape", "~/photos/../../.."])
def test_the_folder_box_refuses_paths_outside_the_roots_without_listing_them(user_home, path):
    (user_home / "escape").symlink_to("/etc")  # inside home by name, outside once resolved
    at = folder_box(path)
    message = shown(at)
    assert REFUSED in message and "TLCOMPARE_DATA_ROOTS" in message
    assert "own_data" not in at.session_state  # nothing was scanned or decoded
    assert not at.dataframe  # no class table
    target = Path(path).expanduser().resolve()
    if target.is_dir() and os.access(target, os.R_OK):
        rest = message.replace(", ".join(str(r) for r in data_roots()), "")  # the roots themselves may be named
        listed = [n for n in os.listdir(target) if len(n) > 3 and n in rest]
        assert not listed, listed


def test_a_folder_inside_home_is_read(user_home):
    at = folder_box(str(user_home / "photos"))
    assert not at.error, shown(at)
    assert at.checkbox(key="use_own_data").value


def test_roots_from_the_environment_replace_home_but_uploads_stay_allowed(tmp_path, monkeypatch, tlcompare_home):
    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.setenv("TLCOMPARE_DATA_ROOTS", f"{data}{os.pathsep}{tmp_path / 'more'}")
    assert require_inside_roots(data / "x") == (data / "x").resolve()
    assert require_inside_roots(tlcompare_home / "uploads" / "abc") == (tlcompare_home / "uploads" / "abc").resolve()
    with pytest.raises(UserError, match=REFUSED):
        require_inside_roots(Path.home())
    assert (tlcompare_home / "uploads").resolve() in data_roots()


def test_the_checkpoint_box_refuses_files_outside_the_roots(user_home):
    at = render(PAGES[0])
    at.radio(key="f_weights_source").set_value("checkpoint").run()
    at.text_input(key="f_weights").input("/etc/passwd").run()
    assert not at.exception, [e.value for e in at.exception]
    assert REFUSED in shown(at)
    assert at.button(key="start").disabled


# -- limits, everywhere ------------------------------------------------------------------------------
def test_walking_stops_at_the_file_limit_with_one_line(tmp_path, monkeypatch, capsys):
    folder = good_folder(tmp_path / "many", per_class=12)
    monkeypatch.setenv("TLCOMPARE_MAX_FILES", "10")
    assert main(["inspect", f"imagefolder:{folder}"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "more than 10 files" in err and "TLCOMPARE_MAX_FILES" in err
    assert ".png" not in err and "cat" not in err  # nothing inside the folder is named


def test_decoding_stops_at_the_byte_limit_with_one_line(tmp_path, monkeypatch, capsys):
    folder = good_folder(tmp_path / "big", per_class=12, size=(64, 64))
    monkeypatch.setenv("TLCOMPARE_MAX_DECODED_GB", str(20 * 64 * 64 * 3 / 2**30))  # room for 20 of 24 images
    assert main(["inspect", f"imagefolder:{folder}"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "TLCOMPARE_MAX_DECODED_GB" in err and "of 24 images" in err
    assert not list((Path(os.environ["TLCOMPARE_HOME"]) / "cache").rglob("*.pt"))  # nothing cached


def test_a_bad_limit_is_named(tmp_path, monkeypatch, capsys):
    folder = good_folder(tmp_path / "few", per_class=4)
    monkeypatch.setenv("TLCOMPARE_MAX_FILES", "lots")
    assert main(["inspect", f"imagefolder:{folder}"]) == 2
    assert "TLCOMPARE_MAX_FILES=lots is not a positive number" in capsys.readouterr().err


def test_a_folder_inside_the_roots_whose_files_link_outside_is_refused(user_home, tmp_path):
    # Every file is checked after resolving links, not only the folder typed in the box.
    outside = good_folder(tmp_path / "elsewhere", per_class=2)
    linked = good_folder(user_home / "linked", per_class=6)
    (linked / "cat" / "0.png").unlink()
    (linked / "cat" / "0.png").symlink_to(outside / "cat" / "0.png")
    (linked / "dog" / "inside.png").symlink_to(user_home / "photos" / "dog" / "1.png")  # inside: fine
    at = folder_box(str(linked))
    message = shown(at)
    assert "holds 'cat/0.png', a link to a file outside the folders this dashboard may read" in message
    assert str(outside) not in message and "own_data" not in at.session_state  # nothing scanned or decoded
    with pytest.raises(UserError, match="a link to a file outside"):
        require_inside_roots(linked)
    (linked / "cat" / "0.png").unlink()
    assert require_inside_roots(linked) == linked.resolve()  # links that stay inside are allowed
