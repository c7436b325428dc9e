"""What a network share as the source cannot give rsync, given the options that ask for it.

rsync copies only what the source's file system shows it. A share mounted with sshfs, cifs
(SMB) or NFS loses some of what the default options (-aHAXS) ask for, silently: the
copies simply lack it. The known limits, from sshfs(1), mount.cifs(8), nfs(5) and
exports(5):

    fuse.sshfs  SFTP carries no ACLs and no extended attributes; hard links always appear
                as separate files (each its own inode, one link), so -H finds none.
    cifs, smb3  without the Unix extensions (a Windows server, most NAS set-ups) owners
                and modes are the mount's uid=/gid=/file_mode=/dir_mode=; POSIX ACLs
                only from a Samba server with the Unix extensions; only user.* extended
                attributes; hard links show only with the server's inode numbers
                (serverino, the default), not with noserverino.
    nfs4        its ACLs are NFSv4 ACLs, which -A (POSIX ACLs) does not copy.
    nfs, nfs4   extended attributes only over NFS 4.2 with Linux 5.9 or later (user.*
                only); the server maps root to nobody (root_squash, its default), so
                vhpi run as root cannot read files only root may read.
"""

from __future__ import annotations

from enum import Enum
from typing import FrozenSet, Tuple

from vhpi.decide.rsync_options import _last_says


class Keep(Enum):
    """Something the rsync options ask to keep that a share may not give."""

    OWNERS = "-o/-g/-p"
    ACLS = "-A"
    XATTRS = "-X"
    HARD_LINKS = "-H"
    ROOT_READS = "as root"  # not an option: vhpi run as root reads everything


def asked_to_keep(words: Tuple[str, ...], as_root: bool) -> FrozenSet[Keep]:
    """Given the job's rsync option words and whether vhpi runs as root, return what the
    options ask rsync to keep (the last word that sets or clears an option wins)."""
    asked = {
        Keep.OWNERS: any(_last_says(words, letters, longs, offs) for letters, longs, offs in (
            ("ao", ("--owner", "--archive"), ("--no-owner", "--no-o")),
            ("ap", ("--perms", "--archive"), ("--no-perms", "--no-p")))),
        Keep.ACLS: _last_says(words, "A", ("--acls",), ("--no-acls", "--no-A")),
        Keep.XATTRS: _last_says(words, "X", ("--xattrs",), ("--no-xattrs", "--no-X")),
        Keep.HARD_LINKS: _last_says(words, "H", ("--hard-links",), ("--no-hard-links", "--no-H")),
        Keep.ROOT_READS: as_root,
    }
    return frozenset(keep for keep, wanted in asked.items() if wanted)


_SSHFS = {
    Keep.ACLS: "sshfs carries no ACLs, so the copies get none",
    Keep.XATTRS: "sshfs carries no extended attributes, so the copies get none",
    Keep.HARD_LINKS: ("sshfs shows hard-linked files as separate files (each its own inode, one "
                      "link), so each is copied in full and the links are lost"),
}
_SMB = {
    Keep.OWNERS: ("unless the server has the Unix extensions, every file shows the mount's "
                  "uid=/gid= and file_mode=/dir_mode=, not its real owner and mode"),
    Keep.ACLS: "POSIX ACLs come only from a Samba server with the Unix extensions; Windows ACLs are not copied",
    Keep.XATTRS: "only user.* extended attributes come through, where the server keeps them",
    Keep.HARD_LINKS: ("hard links show only with the server's inode numbers (serverino, the "
                      "default); with noserverino each link is copied as a separate file"),
}
_NFS = {
    Keep.XATTRS: "extended attributes come only over NFS 4.2 with Linux 5.9 or later, and only user.* ones",
    Keep.ROOT_READS: ("the server maps root to nobody unless it exports with no_root_squash, so "
                      "vhpi run as root cannot read files only root may read (rsync code 23)"),
}
_NFS4 = {**_NFS, Keep.ACLS: "its ACLs are NFSv4 ACLs, which -A does not copy (it copies POSIX ACLs only)"}

#: The limits of each mount type (as /proc/self/mountinfo names it) known to lose something.
LIMITS = {"fuse.sshfs": _SSHFS, "cifs": _SMB, "smb3": _SMB, "nfs": _NFS, "nfs4": _NFS4}


def source_limits(mount_type: str, asked: FrozenSet[Keep]) -> Tuple[Tuple[Keep, str], ...]:
    """Given the source's mount type ("fuse.sshfs", "cifs", "nfs4", "ext4") and what the
    options ask to keep (see asked_to_keep), return what that file system will not give,
    each with its words, in Keep's order; () when nothing is lost."""
    known = LIMITS.get(mount_type, {})
    return tuple((keep, known[keep]) for keep in Keep if keep in asked and keep in known)


def limits_words(limits: Tuple[Tuple[Keep, str], ...]) -> str:
    """Given source_limits' answer, return it as one text: "-A: ...; -H: ..."."""
    return "; ".join(f"{keep.value}: {words}" for keep, words in limits)
