"""The README's first command ends in `python -m vhpi.demo`: two real backups of a small
demo source, the snapshots with their shared inodes, info.log, `vhpi status` and a diff."""

import os
import subprocess
import sys


def test_the_demo_backs_up_twice_and_shows_the_shared_inodes(tmp_path):
    root = tmp_path / "demo"
    result = subprocess.run([sys.executable, "-m", "vhpi.demo", str(root)], capture_output=True,
                            text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    backups = root / "backups"
    cat = [os.stat(backups / name / "photos" / "cat.jpg").st_ino for name in ("quick.0", "quick.1", "hourly.0")]
    assert len(set(cat)) == 1, cat  # one inode for the unchanged file in every snapshot
    assert os.stat(backups / "quick.0" / "notes.txt").st_ino != os.stat(backups / "quick.1" / "notes.txt").st_ino
    assert f"{cat[0]:>10}   4  quick.0/photos/cat.jpg" in out, out  # 3 snapshots + backup.latest
    assert out.count("INFO    job demo: due") == 2, out
    assert "$ vhpi status" in out and "  quick           3    2" in out, out
    assert "M notes.txt" in out and "1 changed (+11 B)" in out, out


def test_the_demo_refuses_a_folder_that_is_not_empty(tmp_path):
    (tmp_path / "something").write_text("x")
    result = subprocess.run([sys.executable, "-m", "vhpi.demo", str(tmp_path)], capture_output=True,
                            text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 2 and "is not empty" in result.stderr
    assert os.listdir(tmp_path) == ["something"]
