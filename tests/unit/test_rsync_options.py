"""vhpi.decide.rsync_options: which raw rsync options a job may use."""

import pytest

from vhpi.decide.rsync_options import (DEFAULT_RSYNC_OPTIONS, DELETE_OPTIONS, FORBIDDEN_LONG,
                                       FORBIDDEN_SHORT, LONG_WITH_ARGUMENT, CheckedOptions,
                                       check_rsync_options, long_option_name, short_option_letters,
                                       without_delete_options)

NO_DELETE = "no --delete: files deleted from the source stay in every new snapshot"
THROUGH_LINKS = ("writes into existing files in place, and so through the hard links into every "
                 "older snapshot")
VHPI_OWNS = "vhpi sets this itself to keep its snapshot layout"


def test_default_options_pass_without_warning():
    assert DEFAULT_RSYNC_OPTIONS == "-aHAXS --delete --numeric-ids"
    assert check_rsync_options(DEFAULT_RSYNC_OPTIONS) == CheckedOptions(
        ("-aHAXS", "--delete", "--numeric-ids"), (), ())


def test_example_config_options_pass():
    assert check_rsync_options("-aAHSvX --delete") == CheckedOptions(("-aAHSvX", "--delete"), (), ())


@pytest.mark.parametrize("text, problem", [
    ("-a --delete --inplace", f"--inplace is not allowed: {THROUGH_LINKS}"),
    ("-a --delete --append", f"--append is not allowed: {THROUGH_LINKS}"),
    ("-a --delete --append-verify", f"--append-verify is not allowed: {THROUGH_LINKS}"),
    ("-a --delete --write-devices", f"--write-devices is not allowed: {THROUGH_LINKS}"),
    ("-a --delete --link-dest=x", "--link-dest is not allowed: vhpi makes the hard links itself; "
                                  "a second link tree would fight its rotation"),
    ("-a --delete --link-dest x", "--link-dest is not allowed: vhpi makes the hard links itself; "
                                  "a second link tree would fight its rotation"),
    ("-a --delete --compare-dest x", "--compare-dest is not allowed: it leaves files out of "
                                     "backup.latest, so snapshots would be incomplete"),
    ("-a --delete --copy-dest=/x", f"--copy-dest is not allowed: {VHPI_OWNS}"),
    ("-a --delete --remove-source-files", "--remove-source-files is not allowed: it deletes files "
                                          "from the source"),
    ("-a --delete --dry-run", "--dry-run is not allowed: use `vhpi --dry-run` instead"),
    ("-anv --delete", "-n (--dry-run) is not allowed: use `vhpi --dry-run` instead"),
    ("-a --delete -b", "-b (--backup) is not allowed: it scatters renamed copies through the snapshot"),
    ("-a --delete --backup-dir=old", "--backup-dir is not allowed: it scatters renamed copies "
                                     "through the snapshot"),
    ("-a --delete --suffix=~", "--suffix is not allowed: it belongs to --backup, which vhpi does "
                               "not allow"),
    ("-a --delete -R", "-R (--relative) is not allowed: it changes where files land inside "
                       "backup.latest"),
    ("-a --delete --relative", "--relative is not allowed: it changes where files land inside "
                               "backup.latest"),
    ("-a --delete -e ssh", "-e (--rsh) is not allowed: vhpi copies from a mounted or local folder, "
                           "not over a remote shell"),
    ("-a --delete -essh", "-e (--rsh) is not allowed: vhpi copies from a mounted or local folder, "
                          "not over a remote shell"),
    ("-a --delete --rsh=ssh", "--rsh is not allowed: vhpi copies from a mounted or local folder, "
                              "not over a remote shell"),
    ("-a --delete -0", f"-0 (--from0) is not allowed: {VHPI_OWNS}"),
    ("-a --delete -T /tmp", f"-T (--temp-dir) is not allowed: {VHPI_OWNS}"),
    ("-a --delete --temp-dir /tmp", f"--temp-dir is not allowed: {VHPI_OWNS}"),
    ("-a --delete --files-from=list", f"--files-from is not allowed: {VHPI_OWNS}"),
    ("-a --delete --out-format=%n", f"--out-format is not allowed: {VHPI_OWNS}"),
    ("-a --delete --log-format %n", f"--log-format is not allowed: {VHPI_OWNS}"),
    ("-a --delete --partial-dir=.p", f"--partial-dir is not allowed: {VHPI_OWNS}"),
    ("-a --delete --only-write-batch=b", "--only-write-batch is not allowed: it writes nothing "
                                         "into the backup"),
    ("-a --delete --list-only", "--list-only is not allowed: it copies nothing"),
    ("-a --delete --server", "--server is not allowed: it is internal to rsync"),
    ("-a --delete --daemon", "--daemon is not allowed: it is internal to rsync"),
])
def test_each_forbidden_option_is_named_with_its_reason(text, problem):
    checked = check_rsync_options(text)
    assert checked.problems == (problem,)
    assert checked.warnings == ()


def test_every_forbidden_long_option_is_reported():
    for name, reason in FORBIDDEN_LONG.items():
        checked = check_rsync_options(f"-a --delete {name}=1" if name in LONG_WITH_ARGUMENT
                                      else f"-a --delete {name}")
        assert checked.problems == (f"{name} is not allowed: {reason}",), name


def test_every_forbidden_short_option_is_reported_inside_a_bundle():
    for letter, long_name in FORBIDDEN_SHORT.items():
        checked = check_rsync_options(f"--delete -av{letter}")
        assert checked.problems == (f"-{letter} ({long_name}) is not allowed: "
                                    f"{FORBIDDEN_LONG[long_name]}",), letter


def test_several_problems_in_order():
    checked = check_rsync_options("-anb --inplace stray --delete")
    assert checked.problems == (
        "-n (--dry-run) is not allowed: use `vhpi --dry-run` instead",
        "-b (--backup) is not allowed: it scatters renamed copies through the snapshot",
        f"--inplace is not allowed: {THROUGH_LINKS}",
        "'stray' is not an option; give source and destination as rsync_src and rsync_dest",
    )


@pytest.mark.parametrize("text, words", [
    ("-a --delete --exclude foo", ("-a", "--delete", "--exclude", "foo")),
    ("-a --delete --exclude -n", ("-a", "--delete", "--exclude", "-n")),          # a pattern, not -n
    ("-a --delete --filter '- *.tmp'", ("-a", "--delete", "--filter", "- *.tmp")),
    ("-a --delete -B 1024", ("-a", "--delete", "-B", "1024")),
    ("-a --delete -aB 1024", ("-a", "--delete", "-aB", "1024")),
    ("-a --delete -B1024", ("-a", "--delete", "-B1024")),
    ("-a --delete -Bn", ("-a", "--delete", "-Bn")),                                # n is B's argument
    ("-a --delete -f '- x'", ("-a", "--delete", "-f", "- x")),
    ("-a --delete -@ -1", ("-a", "--delete", "-@", "-1")),
    ("-a --delete --chmod D755 --timeout 60", ("-a", "--delete", "--chmod", "D755", "--timeout", "60")),
    ("-a --delete --max-size=10M x", None),                                        # '=' form: x is stray
    ("-a --delete --exclude", ("-a", "--delete", "--exclude")),                    # argument missing
])
def test_arguments_of_options_are_not_options_or_stray_words(text, words):
    checked = check_rsync_options(text)
    if words is None:
        assert checked.problems == ("'x' is not an option; give source and destination as "
                                    "rsync_src and rsync_dest",)
    else:
        assert checked == CheckedOptions(words, (), ())


@pytest.mark.parametrize("text, word", [
    ("-a --delete /home/", "/home/"),
    ("-a /src/ --delete", "/src/"),
    ("-a --delete -", "-"),
    ("-a --delete 'two words'", "two words"),
])
def test_stray_words_are_reported(text, word):
    assert check_rsync_options(text).problems == (
        f"{word!r} is not an option; give source and destination as rsync_src and rsync_dest",)


@pytest.mark.parametrize("text, error", [
    ("-a --delete --exclude 'foo", "No closing quotation"),
    ('-a --delete --exclude "foo', "No closing quotation"),
    ("-a --delete --exclude foo\\", "No escaped character"),
])
def test_unbalanced_quotes(text, error):
    assert check_rsync_options(text) == CheckedOptions((), (f"cannot split into words: {error}",), ())


@pytest.mark.parametrize("text", ["-a", "-aHAX --numeric-ids", "-a --delete-excluded-not", "-a --no-delete"])
def test_missing_delete_warns(text):
    checked = check_rsync_options(text)
    assert checked.problems == ()
    assert checked.warnings == (NO_DELETE,)


@pytest.mark.parametrize("option", sorted(DELETE_OPTIONS))
def test_every_delete_variant_counts_as_delete(option):
    assert check_rsync_options(f"-a {option}").warnings == ()


def test_delete_variants_are_the_whole_family():
    assert DELETE_OPTIONS == {"--delete", "--del", "--delete-before", "--delete-during",
                              "--delete-delay", "--delete-after", "--delete-excluded",
                              "--delete-missing-args"}


def test_without_delete_options_drops_every_variant_and_keeps_order():
    words = ("-aHAX", "--delete", "--del", "--numeric-ids", "--delete-before", "--delete-during",
             "--delete-delay", "--delete-after", "--delete-excluded", "--delete-missing-args",
             "--exclude=--delete", "-v", "--delete=x")
    assert without_delete_options(words) == ("-aHAX", "--numeric-ids", "--exclude=--delete", "-v")


def test_without_delete_options_of_nothing():
    assert without_delete_options(()) == ()


@pytest.mark.parametrize("word, name", [("--link-dest=/a=b", "--link-dest"), ("--inplace", "--inplace")])
def test_long_option_name(word, name):
    assert long_option_name(word) == name


@pytest.mark.parametrize("word, letters", [
    ("-aHAX", "aHAX"), ("-ave", "ave"), ("-aessh", "ae"), ("-B1024n", "B"), ("-", ""),
])
def test_short_option_letters(word, letters):
    assert short_option_letters(word) == letters


def test_old_name_of_remove_source_files_is_forbidden():
    assert check_rsync_options("-a --delete --remove-sent-files").problems != ()


def test_words_after_double_dash_are_stray():
    assert check_rsync_options("-a --delete -- -v").problems != ()


@pytest.mark.parametrize("words, deletes", [
    (("-a", "--delete"), True), (("-a", "--delete-after"), True), (("-a", "--del"), True),
    (("-a",), False), (("-a", "--delete-excluded"), True), (("-a", "--deleted"), False),
])
def test_deletes_extraneous(words, deletes):
    from vhpi.decide.rsync_options import deletes_extraneous
    assert deletes_extraneous(words) is deletes
