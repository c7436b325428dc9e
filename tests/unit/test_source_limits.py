"""What a share as the source cannot give, given the rsync options that ask for it."""

import pytest

from vhpi.decide.filesystems import parse_mountinfo_line
from vhpi.decide.rsync_options import DEFAULT_RSYNC_OPTIONS
from vhpi.decide.source_limits import Keep, asked_to_keep, limits_words, source_limits

DEFAULT = tuple(DEFAULT_RSYNC_OPTIONS.split())


@pytest.mark.parametrize("words, as_root, asked", [
    (DEFAULT, False, {Keep.OWNERS, Keep.ACLS, Keep.XATTRS, Keep.HARD_LINKS}),
    (DEFAULT, True, {Keep.OWNERS, Keep.ACLS, Keep.XATTRS, Keep.HARD_LINKS, Keep.ROOT_READS}),
    (("-a", "--delete"), False, {Keep.OWNERS}),
    (("-rt",), False, set()),
    (("-rt", "--acls", "--xattrs", "--hard-links"), False, {Keep.ACLS, Keep.XATTRS, Keep.HARD_LINKS}),
    (("-aHAX", "--no-acls", "--no-X"), False, {Keep.OWNERS, Keep.HARD_LINKS}),
    (("--no-H", "-aH"), False, {Keep.OWNERS, Keep.HARD_LINKS}),  # the last word wins
    (("-a", "--no-owner", "--no-perms"), False, set()),
    (("-rlt", "-p"), False, {Keep.OWNERS}),
])
def test_asked_to_keep(words, as_root, asked):
    assert asked_to_keep(words, as_root) == frozenset(asked)


@pytest.mark.parametrize("mount_type, as_root, lost", [
    ("fuse.sshfs", False, [Keep.ACLS, Keep.XATTRS, Keep.HARD_LINKS]),
    ("fuse.sshfs", True, [Keep.ACLS, Keep.XATTRS, Keep.HARD_LINKS]),
    ("cifs", False, [Keep.OWNERS, Keep.ACLS, Keep.XATTRS, Keep.HARD_LINKS]),
    ("smb3", False, [Keep.OWNERS, Keep.ACLS, Keep.XATTRS, Keep.HARD_LINKS]),
    ("nfs", False, [Keep.XATTRS]),
    ("nfs", True, [Keep.XATTRS, Keep.ROOT_READS]),
    ("nfs4", True, [Keep.ACLS, Keep.XATTRS, Keep.ROOT_READS]),
    ("ext4", True, []),
    ("tmpfs", False, []),
    ("fuseblk", False, []),
])
def test_what_the_default_options_lose(mount_type, as_root, lost):
    found = source_limits(mount_type, asked_to_keep(DEFAULT, as_root))
    assert [keep for keep, _ in found] == lost
    assert all(words for _, words in found)


def test_nothing_asked_nothing_lost():
    assert source_limits("fuse.sshfs", asked_to_keep(("-rt",), True)) == ()
    assert source_limits("nfs4", asked_to_keep(("-a",), False)) == ()


def test_only_what_is_asked_is_named():
    found = source_limits("fuse.sshfs", asked_to_keep(("-aH",), False))
    assert limits_words(found) == ("-H: sshfs shows hard-linked files as separate files (each its own "
                                   "inode, one link), so each is copied in full and the links are lost")


def test_words_name_each_option():
    words = limits_words(source_limits("nfs4", asked_to_keep(("-aAX",), True)))
    assert words.startswith("-A: its ACLs are NFSv4 ACLs, which -A does not copy")
    assert "; -X: extended attributes come only over NFS 4.2 with Linux 5.9 or later" in words
    assert "; as root: the server maps root to nobody unless it exports with no_root_squash" in words


@pytest.mark.parametrize("line, mount_type", [
    (b"42 27 0:39 / /mnt/laptop rw,nosuid,nodev,relatime - fuse.sshfs alice@laptop:/home/alice rw,user_id=0,group_id=0",
     "fuse.sshfs"),
    (b"50 27 0:51 / /mnt/nas rw,relatime - cifs //nas/share rw,vers=3.1.1,cache=strict,uid=0,noforceuid,serverino",
     "cifs"),
    (b"51 27 0:52 / /mnt/smb\\040share rw,relatime - smb3 //nas/share rw,vers=3.0", "smb3"),
    (b"52 27 0:53 / /mnt/nfs rw,relatime shared:9 - nfs4 nas:/export rw,vers=4.2,sec=sys", "nfs4"),
    (b"53 27 0:54 / /mnt/old rw,relatime - nfs nas:/export rw,vers=3", "nfs"),
])
def test_mountinfo_lines_give_the_types_the_limits_know(line, mount_type):
    entry = parse_mountinfo_line(line)
    assert entry.mount_type == mount_type
    assert source_limits(entry.mount_type, asked_to_keep(DEFAULT, True))
