"""Hostile and odd input, each with a defined outcome: backed up exactly, or refused clearly
with nothing lost. Beyond tests/integration (test_vhpi_tree_changes, test_vhpi_config_cli,
test_vhpi_guards, test_vhpi_rsync_failures): names that contain rsync's own link arrows,
paths of thousands of bytes, symlinks aimed at the backup itself, an unreadable folder, a
file deleted between vhpi's two rsync passes, FIFOs, sockets and device nodes, nested
source and destination, damaged state files in many ways, odd config files (including one
that is a FIFO), and interval names with regular-expression characters."""

import os
import socket
import stat
import subprocess

import pytest
import yaml

from tests.conftest import needs_root
from tests.fault.fault_helpers import (assert_history_kept, assert_no_work_left, build_history,
                                       paused_vhpi, snapshot_record)
from tests.integration.conftest import nobody_world
from tests.integration.helpers import (NOBODY, assert_same_listing, debug_log, ino, job_line,
                                       listing, manifest, numbers, python_for_nobody, read,
                                       snapshot_dirs, vhpi, walk, write_files)

_ = nobody_world  # the fixture
AS_NOBODY = ("setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups")


def _b(path) -> bytes:
    return os.fsencode(str(path))


def _readlink(root, name: bytes) -> bytes:
    return os.readlink(os.path.join(_b(root), name))


# ------------------------------------------------------------------ names with rsync's arrows

ARROW_FILES = {
    b"plain -> arrow.txt": b"a file whose name has the symlink arrow",
    b"plain => arrow.txt": b"a file whose name has the hard-link arrow",
    b"-> leading": b"leading arrow",
    b"trailing ->": b"trailing arrow",
    b" -> ": b"nothing but the arrow",
    b"dir -> x/inner => y.txt": b"arrows in a folder and a file name",
    b"new\nline -> and => both": b"newline and both arrows",
    b"\xff\xfe -> not utf-8": b"invalid UTF-8 and an arrow",
    b"--delete": b"looks like an option",
    b"-e sh -c 'touch pwned'": b"looks like an injected command",
}
ARROW_SYMLINKS = {  # name: target
    b"link -> with arrow": b"target -> with arrow",
    b"link2": b"a => b",
    b"hl => ": b"plain -> arrow.txt",
}
ARROW_HARDLINKS = {  # new name: existing name
    b"hard => link.txt": b"plain => arrow.txt",
    b"hard -> link.txt": b"plain -> arrow.txt",
}


def test_names_with_link_arrows_and_option_lookalikes(world, campaign):
    src = _b(world.source)
    write_files(world.source, ARROW_FILES, mtime=1_700_000_000)
    for name, target in ARROW_SYMLINKS.items():
        os.symlink(target, os.path.join(src, name))
    vhpi(world, code=0)
    assert manifest(world.dest / "hourly.0") == manifest(world.source)
    first = {name: ino(os.path.join(_b(world.dest / "hourly.0"), name)) for name in ARROW_FILES}

    # second state: rewrite some, delete some, retarget the symlinks, add hard links
    write_files(world.source, {b"plain -> arrow.txt": b"changed", b" -> ": b"changed too"},
                mtime=1_700_000_100)
    os.unlink(os.path.join(src, b"trailing ->"))
    os.unlink(os.path.join(src, b"\xff\xfe -> not utf-8"))
    for name in ARROW_SYMLINKS:
        os.unlink(os.path.join(src, name))
        os.symlink(b"new -> " + name, os.path.join(src, name))
    for new, existing in ARROW_HARDLINKS.items():
        os.link(os.path.join(src, existing), os.path.join(src, new))
    vhpi(world, at="+2h", code=0)
    campaign.add("hostile inputs", len(ARROW_FILES) + len(ARROW_SYMLINKS) + len(ARROW_HARDLINKS))

    new, old = world.dest / "hourly.0", world.dest / "hourly.1"
    assert manifest(new) == manifest(world.source)
    for name, target in ARROW_SYMLINKS.items():
        assert _readlink(old, name) == target
        assert _readlink(new, name) == b"new -> " + name
    for new_name, existing in ARROW_HARDLINKS.items():
        assert ino(os.path.join(_b(new), new_name)) == ino(os.path.join(_b(new), existing))
    with open(os.path.join(_b(old), b"plain -> arrow.txt"), "rb") as handle:
        assert handle.read() == ARROW_FILES[b"plain -> arrow.txt"]
    assert os.path.exists(os.path.join(_b(old), b"\xff\xfe -> not utf-8"))
    for name in (b"plain => arrow.txt", b"-> leading", b"--delete", b"-e sh -c 'touch pwned'"):
        assert ino(os.path.join(_b(new), name)) == first[name], f"{name!r} was copied again"
    assert not any(os.path.exists(os.path.join(folder, "pwned"))
                   for folder in (world.root, world.source, world.dest, "/"))
    assert "Traceback" not in world.info_log and "FAILED" not in world.info_log


def test_a_symlink_named_like_another_symlink_plus_arrow(world, campaign):
    """rsync prints the retargeted 'a -> b' as "a -> b -> d"; with a symlink 'a' in the tree
    too, only the link's real target tells the two readings apart."""
    src = _b(world.source)
    os.symlink(b"x", os.path.join(src, b"a"))
    os.symlink(b"c", os.path.join(src, b"a -> b"))
    vhpi(world, code=0)
    os.unlink(os.path.join(src, b"a -> b"))
    os.symlink(b"d", os.path.join(src, b"a -> b"))
    campaign.add("hostile inputs")

    vhpi(world, at="+2h", code=0)

    assert _readlink(world.dest / "hourly.1", b"a -> b") == b"c"
    assert _readlink(world.dest / "hourly.0", b"a -> b") == b"d"
    assert manifest(world.dest / "hourly.0") == manifest(world.source)


# ------------------------------------------------------------------ very long paths


def _deep_path(root, depth: int, component: int = 200) -> bytes:
    """Make `depth` nested folders of `component`-byte names (with dir fds, so the total may
    exceed PATH_MAX); return the relative path of a file at the bottom."""
    fd = os.open(_b(root), os.O_RDONLY | os.O_DIRECTORY)
    parts = []
    try:
        for level in range(depth):
            name = (b"%02d-" % level) + b"\xc3\xa9" * ((component - 3) // 2)
            os.mkdir(name, dir_fd=fd)
            parts.append(name)
            next_fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = next_fd
        handle = os.open(b"deep file.txt", os.O_CREAT | os.O_WRONLY, 0o644, dir_fd=fd)
        os.write(handle, b"at the bottom")
        os.close(handle)
    finally:
        os.close(fd)
    return b"/".join(parts + [b"deep file.txt"])


def test_a_path_of_three_thousand_bytes(world, campaign):
    deep = _deep_path(world.source, 15)
    assert 3000 <= len(deep) < 4000
    vhpi(world, code=0)
    new = os.path.join(_b(world.dest / "hourly.0"), deep)
    assert open(new, "rb").read() == b"at the bottom"
    first_ino = ino(new)

    with open(os.path.join(_b(world.source), deep), "wb") as handle:
        handle.write(b"rewritten at the bottom")
    os.utime(os.path.join(_b(world.source), deep), (1_700_000_000, 1_700_000_000))
    write_files(world.source, {"top.txt": "top"})
    vhpi(world, at="+2h", code=0)
    campaign.add("hostile inputs")

    assert open(os.path.join(_b(world.dest / "hourly.0"), deep), "rb").read() == b"rewritten at the bottom"
    assert open(os.path.join(_b(world.dest / "hourly.1"), deep), "rb").read() == b"at the bottom"
    assert ino(os.path.join(_b(world.dest / "hourly.1"), deep)) == first_ino
    assert manifest(world.dest / "hourly.0") == manifest(world.source)

    os.unlink(os.path.join(_b(world.source), deep))  # and deleted
    vhpi(world, at="+4h", code=0)
    assert not os.path.exists(os.path.join(_b(world.dest / "hourly.0"), deep))
    assert ino(os.path.join(_b(world.dest / "hourly.2"), deep)) == first_ino
    assert_no_work_left(world)


def test_a_path_longer_than_path_max_fails_the_job_and_loses_nothing(world, campaign):
    write_files(world.source, {"a.txt": "a"})
    vhpi(world, code=0)
    before = snapshot_record(world)
    deep = _deep_path(world.source, 22)
    assert len(deep) > 4096
    result = vhpi(world, at="+2h")
    campaign.add("hostile inputs")

    assert result.returncode == 1, result
    line = job_line(world)
    assert "FAILED" in line and "code 23" in line and "nothing was rotated" in line, line
    assert "max-path" in debug_log(world) or "too long" in debug_log(world).lower()
    assert_history_kept(world, before, campaign=campaign)
    assert sorted(before) == world.snapshots()


# ------------------------------------------------------------------ symlinks aimed anywhere


def test_symlinks_out_of_the_source_and_into_the_backup_are_kept_as_symlinks(world, campaign):
    outside = world.root / "outside"
    write_files(outside, {"canary.txt": "must survive"})
    canary = listing(outside)
    links = {
        "to-etc": "/etc/passwd",
        "to-outside": str(outside),
        "relative-out": "../outside/canary.txt",
        "to-dest": str(world.dest),
        "to-latest": str(world.dest / "backup.latest"),
        "to-a-snapshot": str(world.dest / "hourly.0"),
        "relative-dest": "../dest/backup.latest/a.txt",
        "to-source-root": str(world.source),
        "dot-dot": "..",
        "dangling": "/no/such/place",
        "loop": "loop",
        "folder/up": "../../dest",
    }
    write_files(world.source, {"a.txt": "a", "folder/b.txt": "b"})
    for name, target in links.items():
        os.symlink(target, world.source / name)
    vhpi(world, code=0)
    vhpi(world, at="+2h", code=0)  # a second pass, with two snapshots sharing inodes
    campaign.add("hostile inputs", len(links))

    for snapshot in ("hourly.0", "hourly.1", "daily.0", "backup.latest"):
        root = world.dest / snapshot
        for name, target in links.items():
            assert stat.S_ISLNK(os.lstat(root / name).st_mode), (snapshot, name)
            assert os.readlink(root / name) == target, (snapshot, name)
        entries = sum(len(folders) + len(files) for _, folders, files in walk(root))
        assert entries == len(links) + 4, f"{snapshot}: a symlink was followed"
    assert manifest(world.dest / "hourly.0") == manifest(world.source)
    assert_same_listing(canary, listing(outside))

    # retargeted: the older snapshot keeps the old target
    before = snapshot_record(world)
    os.unlink(world.source / "to-dest")
    os.symlink(str(world.dest / "hourly.1"), world.source / "to-dest")
    vhpi(world, at="+4h", code=0)
    assert os.readlink(world.dest / "hourly.1" / "to-dest") == str(world.dest)
    assert os.readlink(world.dest / "hourly.0" / "to-dest") == str(world.dest / "hourly.1")
    assert_history_kept(world, before, may_drop=("hourly.2",), campaign=campaign)
    assert_same_listing(canary, listing(outside))


# ------------------------------------------------------------------ unreadable and vanishing


def test_an_unreadable_folder_as_a_normal_user_fails_without_rotating(nobody_world, campaign):
    world = nobody_world
    python, env = python_for_nobody()
    if python is None:
        pytest.skip("no python that user nobody can run with vhpi's dependencies")
    write_files(world.source, {"a.txt": "a", "private/old.txt": "old"})
    for path in (world.source / "a.txt", world.source / "private", world.source / "private/old.txt"):
        os.lchown(path, NOBODY, NOBODY)
    vhpi(world, prefix=AS_NOBODY, python=python, env=env, code=0)
    before = snapshot_record(world)

    # the folder is taken away from nobody (chown root, mode 700): rsync cannot list it,
    # and must not take its absence for a deletion
    write_files(world.source, {"a.txt": "a, changed"}, mtime=1_700_000_000)
    os.lchown(world.source / "a.txt", NOBODY, NOBODY)
    os.lchown(world.source / "private", 0, 0)
    os.chmod(world.source / "private", 0o700)
    result = vhpi(world, at="+2h", prefix=AS_NOBODY, python=python, env=env)
    campaign.add("hostile inputs")

    assert result.returncode == 1, (result.stderr, world.info_log)
    line = job_line(world)
    assert "FAILED" in line and "code 23" in line and "nothing was rotated" in line, line
    assert "code 23" in result.stderr and "Traceback" not in result.stderr
    assert sorted(before) == world.snapshots()
    assert_history_kept(world, before, campaign=campaign)  # link counts may move, nothing else
    assert read(world.dest / "backup.latest" / "private/old.txt") == "old"
    assert "private" in debug_log(world) and "Permission denied" in debug_log(world)


def _delete_between_the_passes(world):
    """Back up, change goes.txt and add brand-new.txt, then run vhpi and delete both from
    the source after its dry run listed them for copying. Returns (exit code, output,
    the snapshots as they were)."""
    write_files(world.source, {"stays.txt": "stays", "goes.txt": "goes, v1"})
    vhpi(world, code=0)
    before = snapshot_record(world)
    write_files(world.source, {"goes.txt": "goes, v2 (changed)", "brand-new.txt": "new"},
                mtime=1_700_000_000)
    with paused_vhpi(world, "unlinked", at="+2h") as run:
        os.unlink(world.source / "goes.txt")
        os.unlink(world.source / "brand-new.txt")
        code = run.resume()
    return code, run.output(), before


def test_a_file_deleted_during_the_copy_is_not_a_failure(world, campaign):
    code, output, before = _delete_between_the_passes(world)
    campaign.add("hostile inputs")

    assert code == 0, (output, world.info_log)
    assert "FAILED" not in world.info_log and "Traceback" not in output
    assert numbers(world, "hourly") == [0, 1]
    assert sorted(os.listdir(world.dest / "hourly.0")) == [".backup_valid", "stays.txt"]
    assert manifest(world.dest / "hourly.0") == manifest(world.source)
    assert read(world.dest / "hourly.1" / "goes.txt") == "goes, v1"
    assert_history_kept(world, before, campaign=campaign)
    assert_no_work_left(world)


def test_a_file_deleted_during_the_copy_is_reported_as_a_warning(world, campaign):
    code, output, _ = _delete_between_the_passes(world)
    campaign.add("hostile inputs")
    assert code == 0, (output, world.info_log)
    warnings = [line for line in world.info_log.splitlines() if "WARNING" in line]
    assert any("vanished" in line for line in warnings), world.info_log


# ------------------------------------------------------------------ special files


@needs_root("creates a device node")
def test_fifos_sockets_and_devices_are_backed_up_as_such(world, campaign):
    write_files(world.source, {"a.txt": "a"})
    os.mkfifo(world.source / "fifo", 0o640)
    os.mkfifo(world.source / "fifo -> arrow", 0o600)
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(world.source / "socket"))
    os.mknod(world.source / "null-device", 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    try:
        vhpi(world, code=0)
        kinds = {"fifo": stat.S_ISFIFO, "fifo -> arrow": stat.S_ISFIFO, "socket": stat.S_ISSOCK,
                 "null-device": stat.S_ISCHR}
        for snapshot in ("hourly.0", "daily.0"):
            for name, check in kinds.items():
                found = os.lstat(world.dest / snapshot / name)
                assert check(found.st_mode), (snapshot, name, oct(found.st_mode))
                assert stat.S_IMODE(found.st_mode) == stat.S_IMODE(os.lstat(world.source / name).st_mode)
        assert os.lstat(world.dest / "hourly.0" / "null-device").st_rdev == os.makedev(1, 3)

        before = snapshot_record(world)
        os.chmod(world.source / "fifo", 0o604)
        vhpi(world, at="+2h", code=0)  # a FIFO is never opened: this would hang
    finally:
        server.close()
    campaign.add("hostile inputs", 3)
    assert stat.S_IMODE(os.lstat(world.dest / "hourly.0" / "fifo").st_mode) == 0o604
    assert stat.S_IMODE(os.lstat(world.dest / "hourly.1" / "fifo").st_mode) == 0o640
    assert_history_kept(world, before, campaign=campaign)
    assert manifest(world.dest / "hourly.0") == manifest(world.source)


# ------------------------------------------------------------------ configs refused


def _run_config(world, text: str, timeout: float = 60) -> subprocess.CompletedProcess:
    if text is not None:
        world.config.write_text(text)
    return vhpi(world, timeout=timeout)


def _job_config(world, source, dest) -> str:
    return yaml.safe_dump({"app_cfg": {"intervals": {"hourly": 3600}},
                           "jobs_cfg": [{"source_ip": "127.0.0.1", "rsync_src": str(source),
                                         "rsync_dest": str(dest), "snapshots": {"hourly": 2}}]})


def _assert_refused_untouched(world, result, before, *fragments):
    assert result.returncode == 2, result
    assert result.stderr.startswith("vhpi: the config cannot be used"), result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, (fragment, result.stderr)
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert not world.vhpi_home.exists()
    assert_same_listing(before, listing(world.root))


NESTING = {
    "same-folder": (lambda w: (w.source, w.source), "are the same folder"),
    "same-with-dots": (lambda w: (w.source, w.source / "sub" / ".."), "are the same folder"),
    "dest-inside-source": (lambda w: (w.source, w.source / "backups"), "lies inside rsync_src"),
    "source-inside-dest": (lambda w: (w.dest / "share", w.dest), "lies inside rsync_dest"),
    "source-is-root": (lambda w: ("/", w.dest), "lies inside rsync_src"),
}
#: Nested only through symlinks: the config is read without looking at the disks (a share
#: may hang), so the run refuses these once the source's real path is known.
NESTING_THROUGH_SYMLINKS = {
    "same-through-a-symlink": (lambda w: (w.source, w.root / "source-link"), "are the same folder"),
    "dest-inside-through-a-symlink": (lambda w: (w.root / "source-link", w.source / "backups"),
                                      "lies inside rsync_src"),
}


def _nest(world, case: str, cases: dict) -> str:
    os.symlink(world.source, world.root / "source-link")
    (world.source / "backups").mkdir()
    (world.source / "backups" / ".backup_destination").write_text("")
    (world.source / ".backup_destination").write_text("")
    (world.dest / "share").mkdir()
    (world.dest / "share" / ".backup_valid").write_text("")
    make, fragment = cases[case]
    world.config.write_text(_job_config(world, *make(world)))
    return fragment


@pytest.mark.parametrize("case", list(NESTING))
def test_nested_source_and_destination_are_refused(world, case, campaign):
    fragment = _nest(world, case, NESTING)
    before = listing(world.root)
    result = _run_config(world, None)
    campaign.add("hostile inputs")
    _assert_refused_untouched(world, result, before, fragment)


@pytest.mark.parametrize("case", list(NESTING_THROUGH_SYMLINKS))
def test_nesting_through_symlinks_is_refused_by_the_run(world, case, campaign):
    fragment = _nest(world, case, NESTING_THROUGH_SYMLINKS)
    before = listing(world.source)
    result = _run_config(world, None)
    campaign.add("hostile inputs")
    assert result.returncode == 1, result
    line = job_line(world)
    assert "FAILED" in line and fragment in line and "(through symlinks: the source is really " \
        f"{world.source})" in line, line
    assert "Traceback" not in result.stderr and fragment in result.stderr
    assert_same_listing(before, listing(world.source))


INTERVAL_NAMES = ["da.ly", "hourly.*", "[hourly]", "hourly+", "(x)", "^x$", "x|y", "x?", r"a\d",
                  "x{2}", "hourly.0", ".hidden", "-dash", "a/b", "a b", "ähourly"]


@pytest.mark.parametrize("name", INTERVAL_NAMES)
def test_interval_names_with_pattern_characters_are_refused(world, name, campaign):
    text = yaml.safe_dump({"app_cfg": {"intervals": {name: 3600}},
                           "jobs_cfg": [{"source_ip": "127.0.0.1", "rsync_src": str(world.source),
                                         "rsync_dest": str(world.dest), "snapshots": {name: 2}}]},
                          allow_unicode=True)
    world.config.write_text(text, encoding="utf-8")
    before = listing(world.root)
    result = _run_config(world, None)
    campaign.add("hostile inputs")
    _assert_refused_untouched(world, result, before,
                              f"app_cfg.intervals.{name}: interval names may hold only letters")


# ------------------------------------------------------------------ odd config files


def test_a_config_that_is_a_symlink_to_a_folder(world, campaign):
    world.config.unlink()
    os.symlink(world.source, world.config)
    before = listing(world.root)
    result = _run_config(world, None)
    campaign.add("hostile inputs")
    _assert_refused_untouched(world, result, before, "is a folder, not a config file")


@pytest.mark.parametrize("text", ["\n\n   \n\t\n", "\ufeff", "---\n...\n"],
                         ids=["only-whitespace", "only-a-bom", "an-empty-document"])
def test_a_config_with_nothing_in_it(world, text, campaign):
    world.config.write_text(text, encoding="utf-8")
    before = listing(world.root)
    result = _run_config(world, None)
    campaign.add("hostile inputs")
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr
    assert ("the file is empty" in result.stderr or "holds no settings" in result.stderr
            or "must be a mapping" in result.stderr), result.stderr
    assert not world.vhpi_home.exists()
    assert_same_listing(before, listing(world.root))


def test_a_config_that_is_a_dangling_symlink(world, campaign):
    world.config.unlink()
    os.symlink(world.root / "nowhere.yaml", world.config)
    before = listing(world.root)
    result = _run_config(world, None)
    campaign.add("hostile inputs")
    _assert_refused_untouched(world, result, before, "no such config file")


def test_an_unreadable_config_as_a_normal_user(nobody_world, campaign):
    world = nobody_world
    python, env = python_for_nobody()
    if python is None:
        pytest.skip("no python that user nobody can run with vhpi's dependencies")
    os.lchown(world.config, 0, 0)
    os.chmod(world.config, 0o600)
    before = listing(world.root)
    result = vhpi(world, prefix=AS_NOBODY, python=python, env=env)
    campaign.add("hostile inputs")
    _assert_refused_untouched(world, result, before, "not allowed to read it")


def test_a_config_that_is_a_fifo_is_refused_at_once(world, campaign):
    world.config.unlink()
    os.mkfifo(world.config)
    before = listing(world.root)
    campaign.add("hostile inputs")
    try:
        result = _run_config(world, None, timeout=4)
    except subprocess.TimeoutExpired:
        pytest.fail("vhpi hung reading a FIFO as its config")
    _assert_refused_untouched(world, result, before, "is not a regular file")


# ------------------------------------------------------------------ damaged state files

DAMAGED_STATE = {
    "garbage-bytes": (b"\x00\x13\xff\xfe binary garbage \x89PNG", ("cannot read", "damaged")),
    "empty-file": (b"", ("damaged",)),
    "cut-mid-number": (b'{"format": 1, "snapshots": {"hourly": 17000', ("damaged",)),
    "a-json-list": (b"[1, 2, 3]", ("not a vhpi state file",)),
    "format-2": (b'{"format": 2, "snapshots": {}}', ("not a vhpi state file",)),
    "no-snapshots": (b'{"format": 1}', ("no valid 'snapshots' record",)),
    "time-as-text": (b'{"format": 1, "snapshots": {"hourly": "yesterday"}}', ("no valid",)),
    "time-as-bool": (b'{"format": 1, "snapshots": {"hourly": true}}', ("no valid",)),
    "times-as-list": (b'{"format": 1, "snapshots": [1700000000]}', ("no valid",)),
    "a-folder": (None, ("cannot read",)),
}
NONFINITE_STATE = {  # json.loads takes NaN and Infinity; a time must be a believable one
    "nan": b'{"format": 1, "snapshots": {"hourly": NaN, "daily": 1700000000}}',
    "infinity": b'{"format": 1, "snapshots": {"hourly": Infinity, "daily": 1700000000}}',
    "1e300": b'{"format": 1, "snapshots": {"hourly": 1e300, "daily": 1700000000}}',
    "-infinity": b'{"format": 1, "snapshots": {"hourly": -Infinity, "daily": 1700000000}}',
    "before-1970": b'{"format": 1, "snapshots": {"hourly": -86400, "daily": 1700000000}}',
}


def _damage_state_and_run(world, content):
    path = world.dest / ".vhpi" / "state.json"
    if content is None:
        path.unlink()
        path.mkdir()
    else:
        path.write_bytes(content)
    before = listing(world.dest)
    result = vhpi(world, at="+2h")
    return before, result


@pytest.mark.parametrize("case", [*DAMAGED_STATE, *NONFINITE_STATE])
def test_a_damaged_state_file_is_refused_and_nothing_is_deleted(world, case, campaign):
    build_history(world, offsets=("-2h",))
    dirs = snapshot_dirs(world)
    content, fragments = DAMAGED_STATE.get(case, (NONFINITE_STATE.get(case), ("no valid",)))
    before, result = _damage_state_and_run(world, content)
    campaign.add("hostile inputs")

    line = job_line(world)
    assert result.returncode == 1, (result.returncode, result.stderr, world.info_log)
    assert "Traceback" not in result.stderr + world.info_log
    assert "FAILED" in line and "Move the file aside" in line and "--trust-clock" in line, line
    assert any(fragment in line for fragment in fragments), (fragments, line)
    assert "FAILED" in result.stderr
    assert snapshot_dirs(world) == dirs
    assert_same_listing(before, listing(world.dest))
