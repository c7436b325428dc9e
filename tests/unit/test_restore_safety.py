"""vhpi.decide.restore_plan: which entries a restore refuses without --unsafe, the words of
that refusal, where a restore may write, and the refusal of an unmounted source."""

import stat

import pytest

from vhpi.decide.restore_plan import (EXIT_REFUSED, SHOWN_UNSAFE, RestoreRefused,
                                      refuse_target_folder, source_refusal, unsafe_entries,
                                      unsafe_reason, unsafe_refusal)

REG, DIR = stat.S_IFREG, stat.S_IFDIR


@pytest.mark.parametrize("mode, caps, reason", [
    (stat.S_IFCHR | 0o666, False, "a character device"),
    (stat.S_IFBLK | 0o660, False, "a block device"),
    (REG | 0o4755, False, "a setuid file"),
    (REG | 0o2755, False, "a setgid file"),
    (REG | 0o2644, False, "a setgid file"),  # no group execute: still refused, to be safe
    (REG | 0o6711, False, "a setuid and setgid file"),
    (REG | 0o755, True, "a file with file capabilities"),
    (REG | 0o644, True, "a file with file capabilities"),  # chmod +x would make it live
    (REG | 0o4755, True, "a setuid file with file capabilities"),
])
def test_devices_setid_and_capability_files_are_unsafe(mode, caps, reason):
    assert unsafe_reason(mode, caps) == reason


@pytest.mark.parametrize("mode", [
    REG | 0o644, REG | 0o755, REG | 0o1755,  # sticky: nothing runs with more rights
    DIR | 0o2775, DIR | 0o4755, DIR | 0o1777,  # setgid folders are common and harmless
    stat.S_IFIFO | 0o640, stat.S_IFSOCK | 0o777, stat.S_IFLNK | 0o777,
])
def test_plain_files_folders_fifos_sockets_and_symlinks_are_fine(mode):
    assert unsafe_reason(mode, False) is None


def test_capabilities_only_count_on_regular_files():
    assert unsafe_reason(DIR | 0o755, True) is None
    assert unsafe_reason(stat.S_IFLNK | 0o777, True) is None


def test_unsafe_entries_keep_the_first_few_and_count_all():
    records = [("a/plain", REG | 0o644, False)] + [
        (f"a/s{n}", REG | 0o4755, False) for n in range(SHOWN_UNSAFE + 3)]
    shown, total = unsafe_entries(iter(records))
    assert total == SHOWN_UNSAFE + 3
    assert shown == [(f"a/s{n}", "a setuid file") for n in range(SHOWN_UNSAFE)]


def test_nothing_unsafe_means_no_refusal():
    assert unsafe_entries([("x", REG | 0o644, False)]) == ([], 0)
    assert unsafe_refusal([], 0) is None


def test_the_refusal_says_why_names_entries_and_the_flag():
    refusal = unsafe_refusal([("dev/sda", "a block device"), ("bin/su", "a setuid file")], 7)
    text = str(refusal)
    assert isinstance(refusal, RestoreRefused) and refusal.code == EXIT_REFUSED
    assert "holds 7 entries" in text and "nothing was restored" in text
    assert "Add --unsafe to restore them as they were" in text
    assert "\n  dev/sda: a block device\n  bin/su: a setuid file\n  and 5 more" in text


def test_the_refusal_of_one_entry_speaks_of_it():
    text = str(unsafe_refusal([("null", "a character device")], 1))
    assert "holds an entry that hands" in text and "restore it as it was" in text
    assert "more" not in text.split("\n", 1)[1]


@pytest.mark.parametrize("folder, real, chosen, words", [
    ("/src/gone", None, False, "the folder /src/gone does not exist"),
    ("/out/x", "/dest/hourly.0", True, "is inside the backup destination /dest"),
    ("/src/docs", "/elsewhere", False, "leads outside the job's source /src"),
])
def test_target_folders_that_are_refused(folder, real, chosen, words):
    with pytest.raises(RestoreRefused) as refused:
        refuse_target_folder(folder, real, ["/dest"], ("/src", "/src"), chosen)
    assert words in str(refused.value)


@pytest.mark.parametrize("real, chosen", [("/src/docs", False), ("/src", False),
                                          ("/elsewhere", True)])
def test_target_folders_that_are_fine(real, chosen):
    refuse_target_folder("/x", real, ["/dest"], ("/src", "/src"), chosen)


def test_an_unmounted_source_refusal_suggests_mounting_or_to():
    text = str(source_refusal("source /s is empty and has no .backup_valid: the share is not "
                              "mounted. Nothing was touched. Mount it (and check it with: vhpi "
                              "check)"))
    assert text.startswith("source /s is empty")
    assert "needs it mounted, with its .backup_valid: nothing was restored" in text
    assert text.endswith("use --to DIR")
