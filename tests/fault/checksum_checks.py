"""What must hold of a destination's content index (DEST/.vhpi/content.sqlite3) after any
kill, written once, and a way to run vhpi on a file system that keeps no birth times.

The invariant: every record that describes a file present in a snapshot or backup.latest
the way vhpi.act.content_index.look_up matches (same inode number, size, mtime_ns and
birth time, as vhpi.act.birth_time tells it) holds that file's real sha256. A record of an
inode that is gone, or whose facts differ, is harmless (look_up passes over it). One
exception, by design: a record without a birth time while the index is marked "adding" (a
backup run was killed between its transfer and its recording) is not trusted by verify
and is dropped by the next run (vhpi.act.content_index.begin_adding); such a record is
counted as `distrusted`, not as wrong, while the mark is there.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
from typing import Dict, List, NamedTuple, Tuple

import pytest

from tests.fault.fault_helpers import Mounts, bare_mountpoint
from tests.integration.helpers import walk
from vhpi.act import content_index
from vhpi.act.birth_time import birth_time_ns

#: `python -c` that runs vhpi as on a file system that keeps no birth times: statx answers
#: without STATX_BTIME in its mask, for every caller of vhpi.act.birth_time.
NO_BIRTH_TIMES = """
import sys
import vhpi.act.birth_time as birth_time
birth_time._btime_of = lambda raw: None
from vhpi.main import main
sys.exit(main(sys.argv[1:]))
"""


def dest_on_ext4(world, mounts: Mounts, births: bool = True, size: str = "128m") -> None:
    """Put the world's destination on a fresh ext4 of its own (marked): one block group (4 KiB
    blocks, at most 128 MiB; the image on a tmpfs), so a freed inode number is the next one handed out; `births`
    False: 128-byte inodes, which have no room for a birth time (statx then has none)."""
    if shutil.which("mkfs.ext4") is None:
        pytest.skip("mkfs.ext4 is not installed (e2fsprogs)")
    images = world.root / "images"
    images.mkdir()
    mounts.tmpfs(images, size=size)  # the image in memory: the runs' syncs cost nothing
    image = images / "dest.img"
    subprocess.run(["truncate", "-s", size, str(image)], check=True)
    inodes = [] if births else ["-I", "128"]
    done = subprocess.run(["mkfs.ext4", "-q", "-F", "-b", "4096", *inodes, str(image)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    bare_mountpoint(world.dest)
    mounts.loop(image, world.dest)
    os.rmdir(world.dest / "lost+found")  # not a snapshot: the crash ledger allows no stranger
    (world.dest / ".backup_destination").write_text("")


class WrongChecksum(AssertionError):
    """A record that describes a present file holds another content's checksum."""


class FalseAlarm(AssertionError):
    """A verify reported damage that is not there."""


class Present(NamedTuple):
    """A regular file of the destination: its facts as look_up compares them, and a path."""

    facts: content_index.Facts
    path: bytes


class IndexCheck(NamedTuple):
    """What check_index found: records that matched a present file (and were compared),
    the wrong ones, the distrusted ones (see the module docstring), those whose number,
    size and mtime match a present file but not its birth time (a reused number told
    apart), and whether the "adding" mark is set."""

    compared: int
    wrong: List[str]
    distrusted: List[str]
    told_apart: int
    marked: bool


def present_files(dest, births: bool = True) -> Dict[int, Present]:
    """{inode: Present} of every regular file in the snapshots and backup.latest of `dest`
    (its entries not starting with "."); `births` False: as a file system without birth
    times shows them (None)."""
    root = os.fsencode(str(dest))
    found: Dict[int, Present] = {}
    for top in sorted(os.listdir(root)):
        if top.startswith(b".") or not os.path.isdir(os.path.join(root, top)):
            continue
        for folder, _, files in walk(os.path.join(root, top)):
            for name in files:
                path = os.path.join(folder, name)
                info = os.lstat(path)
                if stat.S_ISREG(info.st_mode) and info.st_ino not in found:
                    birth = birth_time_ns(path) if births else None
                    facts = content_index.Facts(info.st_ino, info.st_size, info.st_mtime_ns, birth)
                    found[info.st_ino] = Present(facts, path)
    return found


def sha256_file(path: bytes) -> bytes:
    """The sha256 of the file's bytes now."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.digest()


def records(dest) -> Tuple[List[tuple], bool]:
    """(every row (ino, size, mtime_ns, birth_ns, sha256) of the index, whether it is marked
    "adding"); ([], False) when there is no index."""
    index = content_index.open_index(str(dest), read_only=True)
    if index is None:
        return [], False
    try:
        rows = index.execute("SELECT ino, size, mtime_ns, birth_ns, sha256 FROM inodes").fetchall()
        marked = content_index.adding_since(index) is not None if _has_meta(index) else False
    finally:
        index.close()
    return rows, marked


def _has_meta(index) -> bool:
    return index.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone() is not None


def check_index(dest, births: bool = True) -> IndexCheck:
    """Compare every record of `dest`'s index that describes a present file with the file's
    real sha256 (see the module docstring)."""
    present = present_files(dest, births)
    rows, marked = records(dest)
    compared, told_apart, wrong, distrusted = 0, 0, [], []
    for ino, size, mtime_ns, birth_ns, sha256 in rows:
        file = present.get(ino)
        if file is None or (file.facts.size, file.facts.mtime_ns) != (size, mtime_ns):
            continue
        if file.facts.birth_ns != birth_ns:
            told_apart += 1
            continue
        compared += 1
        if sha256_file(file.path) == bytes(sha256):
            continue
        note = (f"{os.fsdecode(file.path)} (inode {ino}, {size} bytes, birth {birth_ns}): "
                f"recorded {bytes(sha256).hex()[:16]}, is {sha256_file(file.path).hex()[:16]}")
        (distrusted if birth_ns is None and marked else wrong).append(note)
    return IndexCheck(compared, wrong, distrusted, told_apart, marked)


def assert_no_wrong_checksum(dest, note: str, births: bool = True) -> IndexCheck:
    """check_index, raising WrongChecksum naming every wrong record."""
    found = check_index(dest, births)
    if found.wrong:
        raise WrongChecksum(f"{note}: {len(found.wrong)} wrong checksum(s) recorded in "
                            f"{content_index.index_path(str(dest))}:\n  " + "\n  ".join(found.wrong[:10]))
    return found


def unrecorded(dest, births: bool = True) -> List[str]:
    """The regular non-empty files of `dest` whose inode has no valid record (look_up's
    rule), as paths."""
    valid = {tuple(row[:4]) for row in records(dest)[0]}
    return sorted(os.fsdecode(file.path) for file in present_files(dest, births).values()
                  if file.facts.size and tuple(file.facts) not in valid)


def damaged_counts(verify_json: str) -> List[int]:
    """Given `vhpi verify --json` output, the number of damaged files per job."""
    return [len(job["damaged"]) for job in json.loads(verify_json)["jobs"]]
