"""vhpi.act.file_hashes on real files: results in the order given, each fd closed, a file
changed while read gives no digest, a read error comes back as data."""

from __future__ import annotations

import hashlib
import os

from vhpi.act.file_hashes import hash_all, hash_open_file


def test_results_come_in_order_with_the_right_digests_and_every_fd_closed(tmp_path):
    contents = [os.urandom(n * 1000 + 1) for n in range(40)]
    paths = []
    for number, data in enumerate(contents):
        path = tmp_path / f"f{number}"
        path.write_bytes(data)
        paths.append(path)
    before = len(os.listdir("/proc/self/fd"))
    got = []
    hash_all(((os.open(path, os.O_RDONLY), number) for number, path in enumerate(paths)), got.append)
    assert [hashed.context for hashed in got] == list(range(40))
    assert [hashed.digest for hashed in got] == [hashlib.sha256(data).digest() for data in contents]
    assert [hashed.read for hashed in got] == [len(data) for data in contents]
    assert len(os.listdir("/proc/self/fd")) == before


def test_a_file_changed_while_read_gives_no_digest(tmp_path, monkeypatch):
    import vhpi.act.file_hashes as file_hashes
    path = tmp_path / "f"
    path.write_bytes(b"x" * 100)
    real = file_hashes.sha256_of

    def read_while_written(fd):
        with open(path, "ab") as writer:  # a writer between the two fstats
            writer.write(b"y")
        return real(fd)

    fd = os.open(path, os.O_RDONLY)
    try:
        assert hash_open_file(fd)[0] == hashlib.sha256(b"x" * 100).digest()
        monkeypatch.setattr(file_hashes, "sha256_of", read_while_written)
        assert hash_open_file(fd)[0] is None
    finally:
        os.close(fd)


def test_a_read_error_is_data_not_an_exception(tmp_path):
    folder = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)  # reading a folder: EISDIR
    got = []
    hash_all([(folder, "x")], got.append)
    assert got[0].digest is None and got[0].error is not None
