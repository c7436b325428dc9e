"""The shipped example config works as written with the relative-path rule: paths start at
the folder that holds the config file. Its source host (192.168.178.20) cannot exist here,
so the one thing replaced is the host check, at its boundary, and it must be asked about
exactly that host; no packet is sent."""

import shutil

from tests.conftest import REPO


def test_example_config_backs_up_relative_paths(tmp_path, monkeypatch):
    folder = tmp_path / "config"
    folder.mkdir()
    shutil.copy(REPO / "example" / "config" / "config.yaml", folder / "config.yaml")
    source = folder / "tests" / "dummy_src" / "src1"
    destination = folder / "tests" / "dummy_dest" / "dest1"
    (source / "downloads").mkdir(parents=True)
    (source / "some_dir").mkdir()
    destination.mkdir(parents=True)
    (source / ".backup_valid").write_text("")
    (source / "letter.txt").write_text("dear grandma")
    (source / "downloads" / "big.iso").write_text("excluded")
    (source / "some_dir" / "x").write_text("excluded through another_list")
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
    for interval in ("daily", "weekly", "monthly", "yearly"):
        snapshot = destination / f"{interval}.0"
        assert (snapshot / "letter.txt").read_text() == "dear grandma"
        assert not (snapshot / "downloads").exists()
        assert not (snapshot / "some_dir").exists()
    assert not (destination / "hourly.0").exists()
    assert not (destination / "six-hourly.0").exists()
