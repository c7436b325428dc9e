"""vhpi.decide.rsync_argv: the two rsync passes of a transfer."""

import pytest

from vhpi.decide.rsync_argv import (dry_run_argv, exclude_arguments, mirror_argv, source_argument,
                                    transfer_argv)

OPTIONS = ("-aHAXS", "--delete", "--numeric-ids", "--exclude", "cache", "--delete-after", "-v")
EXCLUDES = ["lost+found/*", ".cache/chromium/*", "with space", "--not-an-option"]
ITEM_FORMAT = "--out-format=vhpi-item:%i %n%L"
DELETE_WORDS = ("--delete", "--del", "--delete-before", "--delete-during", "--delete-delay",
                "--delete-after", "--delete-excluded", "--delete-missing-args")


def dry(options=OPTIONS, excludes=EXCLUDES, source="/mnt/src", latest="/backup/backup.latest"):
    return dry_run_argv(options, excludes, source, latest)


def transfer(options=OPTIONS, excludes=EXCLUDES, source="/mnt/src", latest="/backup/backup.latest"):
    return transfer_argv(options, excludes, source, latest, "/backup/.vhpi/work/copy.list",
                         "/backup/.vhpi/work/rsync-tmp")


def test_dry_run_argv_exactly():
    assert dry() == (
        "rsync", "-aHAXS", "--delete", "--numeric-ids", "--exclude", "cache", "--delete-after", "-v",
        "--exclude=lost+found/*", "--exclude=.cache/chromium/*", "--exclude=with space",
        "--exclude=--not-an-option", "--dry-run", "--stats", "--no-human-readable", ITEM_FORMAT,
        "/mnt/src/", "/backup/backup.latest/")


def test_transfer_argv_exactly():
    assert transfer() == (
        "rsync", "-aHAXS", "--numeric-ids", "--exclude", "cache", "-v",
        "--exclude=lost+found/*", "--exclude=.cache/chromium/*", "--exclude=with space",
        "--exclude=--not-an-option", "--no-recursive", "--no-implied-dirs",
        "--files-from=/backup/.vhpi/work/copy.list", "--from0", "--temp-dir=/backup/.vhpi/work/rsync-tmp", "--stats", "--no-human-readable", ITEM_FORMAT,
        "/mnt/src/", "/backup/backup.latest/")


@pytest.mark.parametrize("build", [dry, transfer])
def test_argv_is_a_tuple_of_plain_strings(build):
    argv = build()
    assert isinstance(argv, tuple)
    assert all(type(word) is str for word in argv)
    assert argv[0] == "rsync"


def test_dry_run_has_dry_run_and_item_format_once():
    argv = dry()
    assert argv.count("--dry-run") == 1
    assert argv.count(ITEM_FORMAT) == 1
    assert "--stats" in argv


def test_dry_run_keeps_the_delete_family():
    # the dry run must see deletions so that vhpi can apply them itself
    argv = dry(options=("-a",) + DELETE_WORDS)
    assert argv[1:1 + 1 + len(DELETE_WORDS)] == ("-a",) + DELETE_WORDS


def test_transfer_drops_every_delete_word_and_is_never_a_dry_run():
    argv = transfer(options=("-a",) + DELETE_WORDS + ("--numeric-ids",))
    assert not any(word.split("=")[0] in DELETE_WORDS for word in argv)
    assert "--dry-run" not in argv and "-n" not in argv
    assert argv[1:3] == ("-a", "--numeric-ids")
    assert "--no-recursive" in argv
    assert "--from0" in argv


def test_no_recursive_comes_after_the_user_options():
    # '-a' implies -r; the later --no-recursive must win
    argv = transfer()
    assert argv.index("--no-recursive") > argv.index("-aHAXS")


@pytest.mark.parametrize("source, expected", [
    ("/mnt/src", "/mnt/src/"),
    ("/mnt/src/", "/mnt/src/"),
    ("/mnt/src///", "/mnt/src/"),
    ("/", "/"),
    ("relative/dir", "relative/dir/"),
])
def test_source_has_exactly_one_trailing_slash(source, expected):
    assert source_argument(source) == expected
    assert dry(source=source)[-2] == expected
    assert transfer(source=source)[-2] == expected


@pytest.mark.parametrize("latest, expected", [
    ("/b/backup.latest", "/b/backup.latest/"),
    ("/b/backup.latest//", "/b/backup.latest/"),
])
def test_latest_has_exactly_one_trailing_slash(latest, expected):
    assert dry(latest=latest)[-1] == expected
    assert transfer(latest=latest)[-1] == expected


def test_exclude_arguments_one_word_each_in_order():
    assert exclude_arguments(["b", "a", "x y", "*.tmp"]) == (
        "--exclude=b", "--exclude=a", "--exclude=x y", "--exclude=*.tmp")
    assert exclude_arguments([]) == ()
    assert exclude_arguments(iter(("z",))) == ("--exclude=z",)


def test_no_excludes_and_no_options():
    assert dry(options=(), excludes=()) == (
        "rsync", "--dry-run", "--stats", "--no-human-readable", ITEM_FORMAT, "/mnt/src/", "/backup/backup.latest/")



def test_mirror_argv_is_one_plain_pass_with_the_users_deletes():
    argv = mirror_argv(("-a", "--delete"), ["tmp"], "/mnt/src", "/backup/backup.latest")
    assert argv == ("rsync", "-a", "--delete", "--exclude=tmp", "--stats", "--no-human-readable",
                    ITEM_FORMAT, "/mnt/src/", "/backup/backup.latest/")
    assert "--dry-run" not in argv and not any(w.startswith("--files-from") for w in argv)


def test_temp_dir_is_added_only_when_given():
    with_temp = mirror_argv(("-a",), [], "/s", "/d", "/d/.vhpi/work/rsync-tmp")
    assert "--temp-dir=/d/.vhpi/work/rsync-tmp" in with_temp
    plain = transfer_argv(("-a",), [], "/s", "/d", "/l")
    assert not any(w.startswith("--temp-dir") for w in plain)
