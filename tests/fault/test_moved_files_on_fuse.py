"""A share served by FUSE (sshfs, a FUSE daemon of the NAS) may make its inode numbers up
per mount: vhpi cannot tell a renamed file there from a different one, so it copies moved
files from such a share instead of linking them (vhpi.decide.moves.identity_is_stable)."""

from __future__ import annotations

import os

from tests.fault.fuse_share import fuse_share  # noqa: F401  (a fixture)
from tests.integration.helpers import debug_log, ino, manifest, vhpi, write_files


def test_files_moved_on_a_fuse_share_are_copied_not_linked(world, fuse_share):  # noqa: F811
    backing = world.root / "share-backing"
    backing.mkdir()
    (backing / ".backup_valid").write_text("")
    write_files(backing, {"a/one.bin": os.urandom(3000), "a/two.bin": os.urandom(3000)})
    (world.source / ".backup_valid").unlink()
    fuse_share(backing, world.source)
    vhpi(world, code=0)
    before = ino(world.dest / "hourly.0/a/one.bin")
    os.rename(backing / "a", backing / "b")

    vhpi(world, at="+1h", code=0)

    assert manifest(world.dest / "hourly.0") == manifest(backing)
    assert ino(world.dest / "hourly.0/b/one.bin") != before
    assert "linked, not copied" not in world.info_log
    assert "inode numbers do not last" in debug_log(world)
