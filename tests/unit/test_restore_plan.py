"""vhpi.decide.restore_plan: PATH parsing, symlink resolution inside a snapshot, targets,
overwrite decisions, the rsync argv and the summary."""

import pytest

from vhpi.decide.restore_plan import (EXIT_REFUSED, EXIT_USAGE, FILE, FOLDER, KEPT_EXTRAS, MERGE,
                                      MISSING, NEW, REPLACE, SYMLINK, Entry, RestoreCounts,
                                      RestoreRefused, choose_write, describe_counts, is_inside,
                                      parse_restore_stats, readable_message, refuse_destination,
                                      resolve_in_snapshot, restore_argv, restore_target,
                                      rsync_problem, split_restore_path, staging_name, summary_line)


@pytest.mark.parametrize("typed, parts", [
    ("docs", ("docs",)),
    ("/docs/a.txt", ("docs", "a.txt")),
    ("//docs//./a.txt/", ("docs", "a.txt")),
    ("./x", ("x",)),
    ("..hidden/...", ("..hidden", "...")),
])
def test_paths_are_split_relative_to_the_snapshot_root(typed, parts):
    assert split_restore_path(typed) == parts


@pytest.mark.parametrize("typed", ["..", "../etc", "docs/../../etc", "/a/..", "a/b/.."])
def test_dot_dot_is_refused_as_usage(typed):
    with pytest.raises(RestoreRefused) as refused:
        split_restore_path(typed)
    assert refused.value.code == EXIT_USAGE and "'..'" in str(refused.value)


@pytest.mark.parametrize("typed", ["", "/", "./", "//."])
def test_the_snapshot_root_itself_is_refused(typed):
    with pytest.raises(RestoreRefused) as refused:
        split_restore_path(typed)
    assert refused.value.code == EXIT_USAGE and "whole snapshot" in str(refused.value)


def test_nul_is_refused():
    with pytest.raises(RestoreRefused):
        split_restore_path("a\0b")


def _tree(entries):
    """A `look` over {"a/b": Entry}: anything not listed is missing."""
    def look(names):
        return entries.get("/".join(names), Entry(MISSING))
    return look


TREE = _tree({
    "docs": Entry(FOLDER), "docs/a.txt": Entry(FILE), "docs/sub": Entry(FOLDER),
    "docs/sub/b.txt": Entry(FILE),
    "alias": Entry(SYMLINK, "docs"), "deep": Entry(SYMLINK, "docs/sub/../sub"),
    "up": Entry(SYMLINK, "docs/../.."), "abs": Entry(SYMLINK, "/etc"),
    "docs/back": Entry(SYMLINK, "../docs"), "chain": Entry(SYMLINK, "alias"),
    "loop": Entry(SYMLINK, "loop"), "file-link": Entry(SYMLINK, "docs/a.txt"),
})


@pytest.mark.parametrize("typed, resolved, kind", [
    ("docs/a.txt", ("docs", "a.txt"), FILE),
    ("docs", ("docs",), FOLDER),
    ("alias/a.txt", ("docs", "a.txt"), FILE),
    ("chain/sub/b.txt", ("docs", "sub", "b.txt"), FILE),
    ("deep/b.txt", ("docs", "sub", "b.txt"), FILE),
    ("docs/back/back/a.txt", ("docs", "a.txt"), FILE),
    ("alias", ("alias",), SYMLINK),      # the item itself is never followed
    ("abs", ("abs",), SYMLINK),          # restoring the symlink is fine
    ("up", ("up",), SYMLINK),
])
def test_symlinked_parents_are_resolved_inside_the_snapshot(typed, resolved, kind):
    item, entry = resolve_in_snapshot(split_restore_path(typed), TREE)
    assert item == resolved and entry.kind == kind


@pytest.mark.parametrize("typed", ["abs/passwd", "up/etc/passwd", "loop/x"])
def test_symlinks_leading_out_are_refused(typed):
    with pytest.raises(RestoreRefused) as refused:
        resolve_in_snapshot(split_restore_path(typed), TREE)
    assert refused.value.code == EXIT_REFUSED and "outside the snapshot" in str(refused.value)


@pytest.mark.parametrize("typed, says", [
    ("nothing", "'nothing' does not exist"),
    ("docs/nothing/x", "'docs/nothing' does not exist"),
    ("docs/a.txt/x", "'docs/a.txt' is not a folder"),
    ("file-link/x", "'docs/a.txt' is not a folder"),
])
def test_missing_items_and_files_as_folders_are_refused(typed, says):
    with pytest.raises(RestoreRefused) as refused:
        resolve_in_snapshot(split_restore_path(typed), TREE)
    assert says in str(refused.value) and "is not in this snapshot" in str(refused.value)


def test_look_is_only_asked_about_real_folders_and_the_item():
    asked = []

    def look(names):
        asked.append("/".join(names))
        return TREE(names)
    resolve_in_snapshot(("alias", "sub", "b.txt"), look)
    assert asked == ["alias", "docs", "docs/sub", "docs/sub/b.txt"]


@pytest.mark.parametrize("path, folder, inside", [
    ("/mnt/backup", "/mnt/backup", True),
    ("/mnt/backup/hourly.0/x", "/mnt/backup", True),
    ("/mnt/backup2", "/mnt/backup", False),
    ("/mnt", "/mnt/backup", False),
    ("/anything", "/", True),
    ("/mnt/backup/x", "/mnt/backup/", True),
])
def test_is_inside(path, folder, inside):
    assert is_inside(path, folder) is inside


def test_targets():
    assert restore_target(("docs", "a.txt"), "/home/pi", None) == "/home/pi/docs/a.txt"
    assert restore_target(("docs", "a.txt"), "/home/pi", "/tmp/out") == "/tmp/out/a.txt"
    assert restore_target(("docs",), "/home/pi", "/tmp/out") == "/tmp/out/docs"


def test_a_target_in_a_destination_is_refused():
    refuse_destination("/tmp/out", ["/mnt/backup", "/mnt/other"])
    for folder in ("/mnt/backup", "/mnt/other/hourly.0/docs"):
        with pytest.raises(RestoreRefused) as refused:
            refuse_destination(folder, ["/mnt/backup", "/mnt/other"])
        assert "inside the backup destination" in str(refused.value)


@pytest.mark.parametrize("item, existing, overwrite, mode", [
    (FILE, MISSING, False, NEW),
    (FOLDER, MISSING, True, NEW),
    (FILE, FILE, True, REPLACE),
    (SYMLINK, FILE, True, REPLACE),
    (FILE, SYMLINK, True, REPLACE),
    (FOLDER, FOLDER, True, MERGE),
])
def test_write_modes(item, existing, overwrite, mode):
    assert choose_write("/t", item, existing, overwrite) == mode


@pytest.mark.parametrize("item, existing", [(FILE, FILE), (FOLDER, FOLDER), (SYMLINK, FILE)])
def test_something_there_is_refused_without_overwrite(item, existing):
    with pytest.raises(RestoreRefused) as refused:
        choose_write("/home/pi/docs", item, existing, False)
    message = str(refused.value)
    assert "/home/pi/docs already exists" in message
    assert "--overwrite" in message and "--to" in message


@pytest.mark.parametrize("item, existing", [(FILE, FOLDER), (FOLDER, FILE), (FOLDER, SYMLINK)])
def test_a_folder_and_a_non_folder_never_replace_one_another(item, existing):
    with pytest.raises(RestoreRefused) as refused:
        choose_write("/t", item, existing, True)
    assert "Move /t away first" in str(refused.value)


def test_rsync_argv_copies_everything_about_a_file_and_never_deletes():
    argv = restore_argv("/proc/7/fd/3/docs/", "/home/pi")
    assert argv == ("rsync", "-aHAXS", "--numeric-ids", "--stats", "--no-human-readable", "--",
                    "/proc/7/fd/3/docs", "/home/pi/")
    assert not any(word.startswith(("--delete", "--link-dest", "--remove")) for word in argv)


def test_staging_name_is_hidden_and_per_process():
    assert staging_name(42) == ".vhpi-restore.42"


STATS = """
Number of files: 1,234 (reg: 1,200, dir: 30, link: 3, dev: 1)
Number of created files: 1,234 (reg: 1,200, dir: 30, link: 3, dev: 1)
Number of deleted files: 0
Number of regular files transferred: 1,200
Total file size: 5,242,880 bytes
Total transferred file size: 5,242,880 bytes
""".splitlines()


def test_stats_are_parsed():
    assert parse_restore_stats(STATS) == RestoreCounts(1200, 30, 3, 1, 5242880)
    assert parse_restore_stats(["Number of files: 1 (reg: 1)", "Total file size: 6 bytes"]) \
        == RestoreCounts(files=1, size=6)
    assert parse_restore_stats(["Number of files: 1", "Total file size: 6 bytes"]) \
        == RestoreCounts(files=1, size=6)
    assert parse_restore_stats([]) == RestoreCounts()


def test_summary():
    counts = RestoreCounts(files=2, folders=1, symlinks=1, size=3 * 1024 * 1024)
    assert describe_counts(counts) == "2 files, 1 folder, 1 symlink, 3.0 MiB"
    assert describe_counts(RestoreCounts(files=1, size=6)) == "1 file, 6 B"
    line = summary_line("docs", "home", "hourly.1", "2024-05-01 10:00:00", "/home/pi/docs",
                        counts, NEW)
    assert line == ("restored docs from hourly.1 of job home, taken 2024-05-01 10:00:00, to "
                    "/home/pi/docs: 2 files, 1 folder, 1 symlink, 3.0 MiB")
    merged = summary_line("docs", "home", "backup.latest", None, "/x/docs", counts, MERGE)
    assert merged.startswith("restored docs from backup.latest of job home to /x/docs")
    assert merged.endswith(KEPT_EXTRAS)


def test_rsync_messages_name_the_snapshot_not_proc():
    line = 'rsync: [sender] link_stat "/proc/7/fd/3/docs" failed: No such file or directory (2)'
    assert readable_message(line, "/proc/7/fd/3", "/mnt/b/hourly.2") == \
        'rsync: [sender] link_stat "/mnt/b/hourly.2/docs" failed: No such file or directory (2)'


def test_rsync_problems_name_the_disk_restored_to():
    assert rsync_problem(11, ["rsync: write failed: No space left on device (28)"]) == \
        "the disk restored to is full (rsync code 11)"
    assert rsync_problem(23, ["rsync: x"]).startswith("rsync failed with code 23: some files")
    assert rsync_problem(127, []) == "rsync failed with code 127: rsync is not installed"
