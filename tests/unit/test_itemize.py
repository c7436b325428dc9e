"""vhpi.decide.itemize: rsync's itemized lines, read back to exact byte names."""

import os
import shutil
import subprocess

import pytest

from vhpi.decide.rsync_argv import REPORTING

from vhpi.decide.itemize import (ITEM_MARK, Item, UnsafeItemPath, checked_relative_path,
                                 decode_rsync_name, link_splits, parse_item_line)


def line(code: str, name: bytes) -> bytes:
    return ITEM_MARK + code.encode() + b" " + name


# ---------------------------------------------------------------- synthetic lines

@pytest.mark.parametrize("raw, item", [
    (b"vhpi-item:*deleting   gone", Item(b"gone", True, False, True)),
    (b"vhpi-item:*deleting   sub/gone.txt", Item(b"sub/gone.txt", True, False, True)),
    (b"vhpi-item:*deleting   olddir/", Item(b"olddir", True, True, True)),
    (b"vhpi-item:*deleting   a/b/c/", Item(b"a/b/c", True, True, True)),
    (b"vhpi-item:*deleting   with space ", Item(b"with space ", True, False, True)),
])
def test_deletions(raw, item):
    parsed = parse_item_line(raw)
    assert parsed == item
    assert parsed.replaces_shared_inode is False


@pytest.mark.parametrize("code, name, item, replaces", [
    # new entries: nothing shared yet
    (">f+++++++++", b"new.txt", Item(b"new.txt", False, False, False), False),
    ("cd+++++++++", b"newdir/", Item(b"newdir", False, True, False), False),
    ("cL+++++++++", b"link", Item(b"link", False, False, False), False),
    ("cD+++++++++", b"dev", Item(b"dev", False, False, False), False),
    ("cS+++++++++", b"fifo", Item(b"fifo", False, False, False), False),
    ("hf+++++++++", b"hardlink", Item(b"hardlink", False, False, False, hard_link=True), False),
    ("hf...p.....", b"member", Item(b"member", False, False, True, hard_link=True), True),
    # attribute-only changes of existing files: the inode may be shared
    (".f...p.....", b"mode", Item(b"mode", False, False, True), True),
    (".f....o....", b"owner", Item(b"owner", False, False, True), True),
    (".f.....g...", b"group", Item(b"group", False, False, True), True),
    (".f..t......", b"mtime", Item(b"mtime", False, False, True), True),
    (".f........x", b"xattr", Item(b"xattr", False, False, True), True),
    (".f.......a.", b"acl", Item(b"acl", False, False, True), True),
    # content changes of existing files
    (">f.st......", b"changed.txt", Item(b"changed.txt", False, False, True), True),
    (">fcs.......", b"sum", Item(b"sum", False, False, True), True),
    ("cLc.T......", b"relinked", Item(b"relinked", False, False, True), True),
    # existing directories with changes: never a shared inode (snapshots hold their own dirs)
    (".d..t......", b"dir/", Item(b"dir", False, True, True), False),
    (".d...p.....", b"dir/sub/", Item(b"dir/sub", False, True, True), False),
    (".d..t......", b"./", Item(b".", False, True, True), False),
    ("cd+++++++++", b"./", Item(b".", False, True, False), False),
])
def test_changes(code, name, item, replaces):
    parsed = parse_item_line(line(code, name))
    assert parsed == item
    assert parsed.replaces_shared_inode is replaces


@pytest.mark.parametrize("raw", [
    b"vhpi-item:.f          unchanged.txt",
    b"vhpi-item:.d          dir/",
    b"vhpi-item:.f......... same",
    b"vhpi-item:.L          link",
])
def test_unchanged_lines(raw):
    assert parse_item_line(raw) is None


@pytest.mark.parametrize("raw", [
    b"",
    b"sending incremental file list",
    b"Number of files: 3 (reg: 2, dir: 1)",
    b">f+++++++++ not-marked",
    b" vhpi-item:>f+++++++++ indented",
    b"VHPI-ITEM:>f+++++++++ upper",
    b"rsync: [sender] link_stat \"/x\" failed: No such file or directory (2)",
])
def test_non_item_lines(raw):
    assert parse_item_line(raw) is None


@pytest.mark.parametrize("escaped, exact", [
    (b"new\\#012line\\#134#012", b"new\nline\\#012"),
    (b"plain", b"plain"),
    (b"bad\\#377\\#376name", b"bad\xff\xfename"),
    (b"back\\slash", b"back\\slash"),              # a backslash not before '#ddd' is literal
    (b"\\#", b"\\#"),
    (b"\\#12a", b"\\#12a"),
    (b"\\#134#999", b"\\#999"),
    (b"\\#\\#012", b"\\#\n"),
    (b"a\\\\#012", b"a\\\n"),
    (b"\\#015\\#001\\#177", b"\r\x01\x7f"),
    (b"tab\tname", b"tab\tname"),
    (b"\\#08x", b"\\#08x"),
])
def test_decode_rsync_name(escaped, exact):
    assert decode_rsync_name(escaped) == exact


def test_escaped_name_in_a_line():
    assert parse_item_line(b"vhpi-item:>f+++++++++ new\\#012line\\#134#012") == Item(
        b"new\nline\\#012", False, False, False)
    assert parse_item_line(b"vhpi-item:*deleting   bad\\#377/") == Item(b"bad\xff", True, True, True)


@pytest.mark.parametrize("name", [b"with space", b" leading space", b"-dash", b"--delete",
                                  b"-n", b"sub/-x y", b"..hidden", b"...", b"a..b", b"x/..y/z"])
def test_names_with_spaces_dashes_and_dots_are_kept(name):
    assert parse_item_line(line(">f+++++++++", name)) == Item(name, False, False, False)
    assert parse_item_line(line("*deleting  ", name)) == Item(name, True, False, True)


@pytest.mark.parametrize("name", [b"..", b"../x", b"a/../b", b"a/..", b"/etc/passwd", b"//x",
                                  b"../", b"a/../", b"\\#056\\#056/x"])
@pytest.mark.parametrize("code", [">f+++++++++", ".f...p.....", "cd+++++++++", "*deleting  "])
def test_unsafe_paths_raise(code, name):
    with pytest.raises(UnsafeItemPath):
        parse_item_line(line(code, name))


@pytest.mark.parametrize("path", [b"a", b"a/b", b".", b"..a", b"a..", b"a/.../b"])
def test_checked_relative_path_accepts(path):
    assert checked_relative_path(path) == path


def test_unsafe_item_path_is_a_value_error_naming_the_path():
    with pytest.raises(ValueError, match=r"rsync named a path outside the tree: b'\.\./x'"):
        checked_relative_path(b"../x")


# ---------------------------------------------------------------- real rsync

RSYNC = shutil.which("rsync")
needs_rsync = pytest.mark.skipif(RSYNC is None, reason="rsync is not installed")

#: Names chosen to exercise every escape rule: newline, a backslash before '#ddd' (rsync
#: escapes that backslash), a backslash before '#' without three digits (left alone),
#: invalid UTF-8, control characters, valid UTF-8, tabs, spaces and leading dashes.
TRICKY_NAMES = [
    "new\nline\\#012",
    "bad\udcff\udcfename",          # invalid UTF-8 bytes 0xff 0xfe (surrogateescape)
    "caf\u00e9",
    "tab\tname",
    "back\\slash",
    "\\#",
    "\\#1",
    "\\#12a",
    "\\#999",
    "\\#0778",
    "\\#\n",
    "\\#01\n",
    "a\\\n",
    "cr\rbell\x07del\x7f",
    "-dash name",
    "--delete",
    " lead and trail ",
    "\\#134",
]


def _run_rsync_dry(src, dst, *extra, locale="C", choose=None):
    """Run rsync's dry run with vhpi's own item format and parse every line."""
    result = subprocess.run(
        [RSYNC, "-a", *extra, "--dry-run", REPORTING[-1], f"{src}/", f"{dst}/"],
        capture_output=True, timeout=60, env=dict(os.environ, LC_ALL=locale))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.split(b"\n")
    parse = (lambda line: parse_item_line(line, choose)) if choose else parse_item_line
    return [item for item in map(parse, lines) if item is not None]


@needs_rsync
@pytest.mark.parametrize("locale", ["C", "C.UTF-8"])
def test_real_rsync_names_decode_to_the_exact_bytes(tmp_path, locale):
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    for name in TRICKY_NAMES:
        (src / name).write_bytes(b"x")
    (src / "dir\nwith\\#012").mkdir()
    (src / "dir\nwith\\#012" / "inner\udcff").write_bytes(b"y")
    items = _run_rsync_dry(src, dst, locale=locale)
    expected_files = {os.fsencode(name) for name in TRICKY_NAMES}
    expected_files.add(os.fsencode("dir\nwith\\#012") + b"/" + os.fsencode("inner\udcff"))
    files = {item.path for item in items if not item.is_dir}
    dirs = {item.path for item in items if item.is_dir}
    assert files == expected_files
    assert dirs == {b".", os.fsencode("dir\nwith\\#012")}
    assert all(not item.exists and not item.deleted for item in items)
    # the name with a newline and a backslash before '#012' is the documented example
    assert b"new\nline\\#012" in files


@needs_rsync
def test_real_rsync_deletions_and_changes(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    dst.mkdir()
    (dst / "gone\nfile\udcfe").write_bytes(b"old")
    (dst / "gone dir\\#012").mkdir()
    (dst / "gone dir\\#012" / "f").write_bytes(b"old")
    (src / "same").write_bytes(b"same")
    (dst / "same").write_bytes(b"same")
    (src / "changed").write_bytes(b"new content")
    (dst / "changed").write_bytes(b"old")
    (src / "mode").write_bytes(b"m")
    (dst / "mode").write_bytes(b"m")
    os.chmod(src / "mode", 0o600)
    os.chmod(dst / "mode", 0o644)
    for name in ("same", "mode"):
        st = os.stat(src / name)
        os.utime(dst / name, ns=(st.st_atime_ns, st.st_mtime_ns))
    items = _run_rsync_dry(src, dst, "--delete")
    by_path = {item.path: item for item in items}
    assert by_path[os.fsencode("gone\nfile\udcfe")] == Item(os.fsencode("gone\nfile\udcfe"), True, False, True)
    assert by_path[b"gone dir\\#012"] == Item(b"gone dir\\#012", True, True, True)
    assert by_path[b"gone dir\\#012/f"] == Item(b"gone dir\\#012/f", True, False, True)
    assert by_path[b"changed"].replaces_shared_inode is True
    assert by_path[b"mode"] == Item(b"mode", False, False, True)
    assert by_path[b"mode"].replaces_shared_inode is True
    assert b"same" not in by_path


# ---------------------------------------------------------------- link arrows (%L)

def test_link_splits_lists_every_reading():
    assert link_splits(b"a -> b -> c", b" -> ") == [(b"a", b"b -> c"), (b"a -> b", b"c")]
    assert link_splits(b"plain", b" -> ") == []


def test_symlink_target_is_not_part_of_the_path():
    item = parse_item_line(b"vhpi-item:cL+++++++++ link -> somewhere/else")
    assert item == Item(b"link", False, False, False)


def test_new_hard_link_carries_its_target():
    item = parse_item_line(b"vhpi-item:hf+++++++++ two/link.bin => one/original.bin")
    assert item == Item(b"two/link.bin", False, False, False, b"one/original.bin", True)


def test_ambiguous_split_is_settled_by_the_chooser():
    seen = []

    def choose(code, splits):
        seen.append((code, splits))
        return splits[1]
    item = parse_item_line(b"vhpi-item:cL+++++++++ a -> b -> c", choose)
    assert item.path == b"a -> b"
    assert seen == [(b"cL", [(b"a", b"b -> c"), (b"a -> b", b"c")])]


def test_hard_link_target_outside_the_tree_is_refused():
    with pytest.raises(UnsafeItemPath):
        parse_item_line(b"vhpi-item:hf+++++++++ x => ../../etc/passwd")


@needs_rsync
def test_real_rsync_links_with_arrows_in_their_names(tmp_path):
    from vhpi.act.transfer import link_split_chooser
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    (src / "file => x").write_bytes(b"data")
    os.link(src / "file => x", src / "link => y")
    os.symlink("t -> u", src / "sym -> v")
    items = _run_rsync_dry(src, dst, "-H", choose=link_split_chooser(str(src)))
    by_path = {item.path: item for item in items}
    assert set(by_path) == {b".", b"file => x", b"link => y", b"sym -> v"}
    linked = [item for item in items if item.link_target is not None]
    assert len(linked) == 1
    assert {linked[0].path, linked[0].link_target} == {b"file => x", b"link => y"}
