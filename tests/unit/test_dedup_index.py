"""vhpi.act.content_index: an entry is valid only while inode, size, mtime and birth time
match; records last once committed, also across a kill of the writer (WAL)."""

import os
import signal
import subprocess
import sys

from tests.conftest import REPO
from vhpi.act import content_index
from vhpi.act.content_index import Facts

DIGEST = bytes(range(32))


def make_dest(tmp_path):
    (tmp_path / ".vhpi").mkdir()
    return str(tmp_path)


def test_an_entry_is_valid_only_while_size_mtime_and_birth_time_match(tmp_path):
    index = content_index.open_index(make_dest(tmp_path))
    facts = Facts(7, 100, 123, 456)
    content_index.record(index, facts, DIGEST, 1.0)
    content_index.commit(index)
    assert content_index.look_up(index, facts) == DIGEST
    assert content_index.look_up(index, facts._replace(size=101)) is None
    assert content_index.look_up(index, facts._replace(mtime_ns=124)) is None
    assert content_index.look_up(index, facts._replace(birth_ns=457)) is None  # reused inode
    assert content_index.look_up(index, facts._replace(birth_ns=None)) is None
    assert content_index.look_up(index, facts._replace(ino=8)) is None
    content_index.forget(index, 7)
    assert content_index.look_up(index, facts) is None
    content_index.close(index)
    assert oct(os.stat(tmp_path / ".vhpi" / "content.sqlite3").st_mode & 0o777) == "0o600"


def test_read_only_opens_nothing_when_there_is_no_index(tmp_path):
    assert content_index.open_index(make_dest(tmp_path), read_only=True) is None
    assert content_index.look_up(None, Facts(1, 1, 1, None)) is None


def test_committed_records_survive_a_kill_of_the_writer(tmp_path):
    dest = make_dest(tmp_path)
    script = (f"import os, signal; from vhpi.act import content_index as c\n"
              f"i = c.open_index({dest!r})\n"
              f"for n in range(100): c.record(i, c.Facts(n, 1, 1, None), bytes(32), 0.0)\n"
              f"c.commit(i)\n"
              f"for n in range(100, 200): c.record(i, c.Facts(n, 1, 1, None), bytes(32), 0.0)\n"
              f"os.kill(os.getpid(), signal.SIGKILL)\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert done.returncode == -signal.SIGKILL
    index = content_index.open_index(dest)
    assert index.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert index.execute("SELECT COUNT(*) FROM inodes").fetchone()[0] == 100
    content_index.close(index)
