"""Files and folders moved or renamed in the share are linked in the new snapshot from the
inode vhpi already has, not copied again (vhpi.decide.moves, vhpi.act.transfer_moves)."""

from __future__ import annotations

import os

import pytest

from tests.integration.helpers import ino, manifest, vhpi, write_files


def _photos(count: int = 5, size: int = 4096):
    return {f"photos/2024/img{n}.jpg": os.urandom(size) for n in range(count)}


def test_a_renamed_folder_is_linked_not_copied(world):
    write_files(world.source, {**_photos(), "notes.txt": "notes"})
    vhpi(world, code=0)
    first = {n: ino(world.dest / "hourly.0" / f"photos/2024/img{n}.jpg") for n in range(5)}
    os.rename(world.source / "photos/2024", world.source / "photos/holiday-2024")

    vhpi(world, at="+1h", code=0)

    new = world.dest / "hourly.0"
    assert manifest(new) == manifest(world.source)
    for n, inode in first.items():
        assert ino(new / f"photos/holiday-2024/img{n}.jpg") == inode
    assert "5 moved or renamed files (20.0 KiB) linked, not copied" in world.info_log


def test_a_file_moved_to_another_folder_and_renamed_is_linked(world):
    write_files(world.source, {"a/report.odt": os.urandom(10000), "b/other.txt": "other"})
    vhpi(world, code=0)
    before = ino(world.dest / "hourly.0" / "a/report.odt")
    os.rename(world.source / "a/report.odt", world.source / "b/report-final.odt")

    vhpi(world, at="+1h", code=0)

    new = world.dest / "hourly.0"
    assert ino(new / "b/report-final.odt") == before
    assert not (new / "a/report.odt").exists()
    assert manifest(new) == manifest(world.source)
    assert os.path.exists(world.dest / "hourly.1" / "a/report.odt")


def _same_size_and_time(path, like_size: int, mtime_ns: int) -> None:
    with open(path, "wb") as handle:
        handle.write(b"N" * like_size)
    os.utime(path, ns=(mtime_ns, mtime_ns))


def test_a_look_alike_with_the_same_name_size_and_time_is_copied_not_linked(world):
    write_files(world.source, {"a/photo.jpg": b"O" * 5000, "b/keep.txt": "keep"})
    vhpi(world, code=0)
    old = os.stat(world.source / "a/photo.jpg")
    os.unlink(world.source / "a/photo.jpg")
    _same_size_and_time(world.source / "b/photo.jpg", 5000, old.st_mtime_ns)

    vhpi(world, at="+1h", code=0)

    new = world.dest / "hourly.0"
    assert (new / "b/photo.jpg").read_bytes() == b"N" * 5000
    assert ino(new / "b/photo.jpg") != ino(world.dest / "hourly.1" / "a/photo.jpg")
    assert "linked, not copied" not in world.info_log


def _reuse_inode(folder, inode: int, attempts: int = 200):
    """Make a new file in `folder` with the given inode number, if the file system gives
    it out again; return its path or None."""
    for attempt in range(attempts):
        path = folder / f"new-{attempt}"
        path.write_bytes(b"")
        if os.lstat(path).st_ino == inode:
            return path
    return None


def test_a_look_alike_that_got_the_deleted_files_inode_number_is_not_linked(world):
    """ext4 gives a freed inode number out again at once: a different file then has the
    deleted one's inode number, size and modification time; its birth time tells it apart."""
    from vhpi.act.birth_time import birth_time_ns
    if birth_time_ns(str(world.source)) is None:
        pytest.skip("the file system here keeps no birth times")
    write_files(world.source, {"a/photo.jpg": b"O" * 5000, "b/keep.txt": "keep"})
    vhpi(world, code=0)
    old = os.stat(world.source / "a/photo.jpg")
    os.unlink(world.source / "a/photo.jpg")
    reused = _reuse_inode(world.source / "a", old.st_ino)
    if reused is None:
        pytest.skip("this file system did not give the inode number out again")
    _same_size_and_time(reused, 5000, old.st_mtime_ns)
    os.rename(reused, world.source / "b/photo.jpg")
    for leftover in (world.source / "a").iterdir():
        leftover.unlink()
    assert os.stat(world.source / "b/photo.jpg")[:1] and os.stat(world.source / "b/photo.jpg").st_ino == old.st_ino

    vhpi(world, at="+1h", code=0)

    new = world.dest / "hourly.0"
    assert (new / "b/photo.jpg").read_bytes() == b"N" * 5000
    assert "linked, not copied" not in world.info_log


def test_a_moved_file_with_new_permissions_is_copied_from_the_backup_disk(world):
    write_files(world.source, {"a/script.sh": os.urandom(3000), "a/data.bin": os.urandom(3000)})
    os.chmod(world.source / "a/script.sh", 0o644)
    vhpi(world, code=0)
    old_snapshot = world.dest / "hourly.0"
    old_inode, old_mode = ino(old_snapshot / "a/script.sh"), os.lstat(old_snapshot / "a/script.sh").st_mode
    os.rename(world.source / "a", world.source / "b")
    os.chmod(world.source / "b/script.sh", 0o755)

    vhpi(world, at="+1h", code=0)

    new, old = world.dest / "hourly.0", world.dest / "hourly.1"
    assert manifest(new) == manifest(world.source)
    assert os.lstat(new / "b/script.sh").st_mode & 0o777 == 0o755
    assert ino(new / "b/script.sh") != old_inode
    assert os.lstat(old / "a/script.sh").st_mode == old_mode  # the old snapshot kept its mode
    assert ino(new / "b/data.bin") == ino(old / "a/data.bin")
    assert "2 moved or renamed files" in world.info_log
    assert "1 with new attributes, copied from the backup disk" in world.info_log


def test_a_moved_file_with_a_new_xattr_keeps_the_old_snapshots_xattrs(world):
    path = world.source / "a/tagged.txt"
    write_files(world.source, {"a/tagged.txt": os.urandom(2000)})
    try:
        os.setxattr(path, "user.colour", b"red")
    except OSError:
        pytest.skip("no user xattrs here")
    vhpi(world, code=0)
    os.rename(world.source / "a", world.source / "b")
    os.setxattr(world.source / "b/tagged.txt", "user.colour", b"blue")

    vhpi(world, at="+1h", code=0)

    assert os.getxattr(world.dest / "hourly.0/b/tagged.txt", "user.colour") == b"blue"
    assert os.getxattr(world.dest / "hourly.1/a/tagged.txt", "user.colour") == b"red"


def test_a_copy_replaced_since_it_was_recorded_is_never_linked(world):
    """The store says what backup.latest held; if that copy was replaced since (a run cut
    short after the copy, before the store learnt of it), the row must not be used."""
    write_files(world.source, {"a/file.bin": b"S" * 4000})
    vhpi(world, code=0)
    latest_copy = world.dest / "backup.latest/a/file.bin"
    info = os.lstat(latest_copy)
    os.unlink(latest_copy)
    latest_copy.write_bytes(b"W" * 4000)  # another inode, same size and time
    os.utime(latest_copy, ns=(info.st_atime_ns, info.st_mtime_ns))
    os.rename(world.source / "a/file.bin", world.source / "a/renamed.bin")

    vhpi(world, at="+1h", code=0)

    assert (world.dest / "hourly.0/a/renamed.bin").read_bytes() == b"S" * 4000


def test_a_disk_from_before_moves_were_recorded_learns_them_in_one_run(world):
    write_files(world.source, _photos())
    vhpi(world, code=0)
    os.unlink(world.dest / ".vhpi/source-ids.sqlite3")
    vhpi(world, at="+1h", code=0)  # nothing changed: records backup.latest
    inode = ino(world.dest / "hourly.0/photos/2024/img0.jpg")
    os.rename(world.source / "photos", world.source / "pictures")

    vhpi(world, at="+2h", code=0)

    assert ino(world.dest / "hourly.0/pictures/2024/img0.jpg") == inode
    assert "5 moved or renamed files" in world.info_log


def test_a_damaged_store_is_started_afresh_and_costs_only_the_gain(world):
    write_files(world.source, _photos())
    vhpi(world, code=0)
    (world.dest / ".vhpi/source-ids.sqlite3").write_bytes(b"not a database" * 100)
    os.rename(world.source / "photos", world.source / "pictures")

    vhpi(world, at="+1h", code=0)

    assert manifest(world.dest / "hourly.0") == manifest(world.source)
    os.rename(world.source / "pictures", world.source / "photos")
    inode = ino(world.dest / "hourly.0/pictures/2024/img0.jpg")
    vhpi(world, at="+2h", code=0)
    assert ino(world.dest / "hourly.0/photos/2024/img0.jpg") == inode


def test_names_that_rsync_would_read_as_comments_are_linked_too(world):
    write_files(world.source, {"#recycle/a.bin": os.urandom(3000), ";b.bin": os.urandom(3000)})
    vhpi(world, code=0)
    inodes = {name: ino(world.dest / "hourly.0" / name) for name in ("#recycle/a.bin", ";b.bin")}
    os.rename(world.source / "#recycle", world.source / "#trash")
    os.rename(world.source / ";b.bin", world.source / "#b.bin")

    vhpi(world, at="+1h", code=0)

    new = world.dest / "hourly.0"
    assert manifest(new) == manifest(world.source)
    assert ino(new / "#trash/a.bin") == inodes["#recycle/a.bin"]
    assert ino(new / "#b.bin") == inodes[";b.bin"]
