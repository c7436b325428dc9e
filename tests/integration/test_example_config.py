"""The shipped example config works as written with the relative-path rule: paths start at
the folder that holds the config file. Its source host (192.168.178.20) cannot exist here,
so the one thing replaced is the host check, at its boundary, and it must be asked about
exactly that host; no packet is sent. As shipped it excludes nothing (its example exclude
lists and patterns are comments); uncommented, they work."""

import re

from tests.conftest import REPO

#: The commented-out example exclude lines of the template, as a user would uncomment them.
EXCLUDE_LINES = re.compile(r"^(\s*)# ((?:another_list|exclude_lists|excludes): )", re.M)


def back_up_the_example(tmp_path, monkeypatch, edit=lambda text: text):
    """Copy the example (through `edit`) next to its relative source and destination, fill the
    source, run vhpi once; return the destination folder."""
    folder = tmp_path / "config"
    folder.mkdir()
    text = (REPO / "example" / "config" / "config.yaml").read_text(encoding="utf-8")
    (folder / "config.yaml").write_text(edit(text), encoding="utf-8")
    source = folder / "tests" / "dummy_src" / "src1"
    destination = folder / "tests" / "dummy_dest" / "dest1"
    (source / "downloads").mkdir(parents=True)
    (source / "some_dir").mkdir()
    destination.mkdir(parents=True)
    (source / ".backup_valid").write_text("")
    (source / "letter.txt").write_text("dear grandma")
    (source / "downloads" / "big.iso").write_text("an example exclude")
    (source / "some_dir" / "x").write_text("an example exclude through another_list")
    (destination / ".backup_destination").write_text("")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    asked = []

    def host_answers(host, log, timeout=1.0):
        asked.append(host)
        return True

    from vhpi.actions import copy_and_rotate
    monkeypatch.setattr(copy_and_rotate, "host_answers", host_answers)
    from vhpi.main import main
    assert main(["--config", str(folder / "config.yaml")]) == 0
    assert asked == ["192.168.178.20"]
    assert not (destination / "hourly.0").exists()
    assert not (destination / "six-hourly.0").exists()
    return destination


def test_example_config_backs_up_relative_paths_and_excludes_nothing_unasked(tmp_path, monkeypatch):
    destination = back_up_the_example(tmp_path, monkeypatch)
    for interval in ("daily", "weekly", "monthly", "yearly"):
        snapshot = destination / f"{interval}.0"
        assert (snapshot / "letter.txt").read_text() == "dear grandma"
        assert (snapshot / "downloads" / "big.iso").exists(), "a commented exclude must not exclude"
        assert (snapshot / "some_dir" / "x").exists(), "a commented exclude list must not exclude"


def test_example_config_excludes_once_its_exclude_lines_are_uncommented(tmp_path, monkeypatch):
    def uncomment(text):
        edited, count = EXCLUDE_LINES.subn(r"\1\2", text)
        assert count == 3, edited
        edited = edited.replace("exclude_lists: [standard_list]", "exclude_lists: [standard_list, another_list]")
        assert "exclude_lists: [standard_list, another_list]" in edited
        return edited

    destination = back_up_the_example(tmp_path, monkeypatch, uncomment)
    for interval in ("daily", "weekly", "monthly", "yearly"):
        snapshot = destination / f"{interval}.0"
        assert (snapshot / "letter.txt").read_text() == "dear grandma"
        assert not (snapshot / "downloads").exists()
        assert not (snapshot / "some_dir").exists()
