"""vhpi.decide.rsync_result: rsync exit codes and --stats figures."""

import pytest

from vhpi.decide.rsync_result import RsyncOutcome, classify_exit, disk_full_in, failed_files, parse_stats

ENOSPC = 'rsync: [receiver] write failed on "/backup/backup.latest/big": No space left on device (28)'
EDQUOT = 'rsync: [receiver] mkstemp "/b/x" failed: Disk quota exceeded (122)'
EMLINK = 'rsync: [receiver] link "/b/a" => b failed: Too many links (31)'


def test_zero_is_success():
    assert classify_exit(0) == RsyncOutcome(True, None, None)
    # messages do not turn success into failure
    assert classify_exit(0, [ENOSPC]) == RsyncOutcome(True)


def test_24_is_success_with_a_warning():
    assert classify_exit(24, ["file has vanished: \"/src/tmp\""]) == RsyncOutcome(
        True, warning="some files vanished while they were copied (rsync code 24)")


def test_23_is_a_failure():
    assert classify_exit(23, ['rsync: [sender] send_files failed to open "/src/x": Permission denied (13)']) \
        == RsyncOutcome(False, problem="rsync failed with code 23: some files could not be copied "
                                       "(unreadable files or attribute errors)")


@pytest.mark.parametrize("code", [11, 23, 12])
@pytest.mark.parametrize("message", [ENOSPC, EDQUOT])
def test_disk_full_is_a_plain_problem(code, message):
    messages = ["sending incremental file list", message, "rsync error: ..."]
    assert classify_exit(code, messages) == RsyncOutcome(
        False, problem=f"the destination disk is full (rsync code {code})")


def test_disk_full_wins_over_the_link_limit():
    assert classify_exit(11, [EMLINK, ENOSPC]).problem == "the destination disk is full (rsync code 11)"


def test_too_many_links():
    assert classify_exit(23, ["x", EMLINK]) == RsyncOutcome(
        False, problem="a file has reached the file system's hard-link limit (rsync code 23)")


@pytest.mark.parametrize("code, signal", [(-9, 9), (-15, 15), (-2, 2)])
def test_negative_codes_are_signals(code, signal):
    assert classify_exit(code) == RsyncOutcome(False, problem=f"rsync was killed by signal {signal}")


def test_negative_code_with_disk_full_messages_says_disk_full():
    assert classify_exit(-9, [ENOSPC]).problem == "the destination disk is full (rsync code -9)"


@pytest.mark.parametrize("code, meaning", [
    (1, "rsync rejected the options (syntax or usage error)"),
    (2, "protocol incompatibility"),
    (3, "errors selecting input/output files or folders"),
    (5, "error starting the client-server protocol"),
    (10, "error in socket I/O"),
    (11, "error in file I/O"),
    (12, "error in the rsync protocol data stream"),
    (13, "errors with program diagnostics"),
    (14, "error in IPC code"),
    (20, "rsync was interrupted (signal)"),
    (22, "rsync could not allocate memory"),
    (25, "rsync stopped at its --max-delete limit"),
    (30, "timeout in data send/receive"),
    (35, "timeout waiting for daemon connection"),
    (127, "rsync is not installed"),
    (4, "unknown error"),
    (21, "unknown error"),
    (99, "unknown error"),
    (255, "unknown error"),
])
def test_other_codes_are_failures_with_their_meaning(code, meaning):
    assert classify_exit(code, ["something else"]) == RsyncOutcome(
        False, problem=f"rsync failed with code {code}: {meaning}")


def test_messages_may_be_a_generator_used_twice():
    # classify_exit looks at the messages for disk-full and then for the link limit
    assert classify_exit(23, (m for m in ["ok", EMLINK])).problem.startswith("a file has reached")


@pytest.mark.parametrize("lines, full", [
    ([], False),
    (["all fine"], False),
    ([ENOSPC], True),
    ([EDQUOT], True),
    ([EMLINK], False),
    (["no space left on device"], False),   # rsync prints strerror exactly; case matters
])
def test_disk_full_in(lines, full):
    assert disk_full_in(lines) is full


REAL_STATS = """\
Number of files: 1,202 (reg: 1,201, dir: 1)
Number of created files: 1,201 (reg: 1,201)
Number of deleted files: 0
Number of regular files transferred: 1,201
Total file size: 3,000,000 bytes
Total transferred file size: 3,000,000 bytes
Literal data: 3,000,000 bytes
Matched data: 0 bytes
File list size: 0
File list generation time: 0.001 seconds
File list transfer time: 0.000 seconds
Total bytes sent: 3,066,500
Total bytes received: 22,838

sent 3,066,500 bytes  received 22,838 bytes  6,178,676.00 bytes/sec
total size is 3,000,000  speedup is 0.97
"""


def test_parse_stats_of_real_output_with_commas():
    assert parse_stats(REAL_STATS.splitlines()) == {
        "Number of files": 1202,
        "Number of created files": 1201,
        "Number of deleted files": 0,
        "Number of regular files transferred": 1201,
        "Total file size": 3000000,
        "Total transferred file size": 3000000,
        "Total bytes sent": 3066500,
        "Total bytes received": 22838,
    }


@pytest.mark.parametrize("line, stats", [
    ("Total bytes sent: 12", {"Total bytes sent": 12}),
    ("  Total bytes sent: 1,234,567  ", {"Total bytes sent": 1234567}),
    ("Total bytes sent: 1.234.567", {}),    # not a plain number: left out, never misread
    ("Number of deleted files: 5 (reg: 4, dir: 1)", {"Number of deleted files": 5}),
    ("Literal data: 5 bytes", {}),
    ("Total bytes sent:", {}),
    ("total size is 5  speedup is 1.00", {}),
])
def test_parse_stats_lines(line, stats):
    assert parse_stats([line]) == stats


def test_parse_stats_later_line_wins_and_empty_input():
    assert parse_stats(["Total bytes sent: 1", "Total bytes sent: 2"]) == {"Total bytes sent": 2}
    assert parse_stats([]) == {}


def test_parse_stats_of_human_readable_figures_is_not_wrong():
    stats = parse_stats(["Total file size: 3.00M bytes", "Total bytes received: 22.84K"])
    assert stats.get("Total file size") in (None, 3_000_000)
    assert stats.get("Total bytes received") in (None, 22_840)


# ---------------------------------------------------------------- naming what rsync could not copy

#: what rsync 3.2.7 and 3.5.0 print for a file and a folder it cannot read (run as a user
#: without permission), and the summary line, which names no file
UNREADABLE = [
    'rsync: [sender] opendir "/proc/self/fd/4/closed" failed: Permission denied (13)',
    'rsync: [sender] send_files failed to open "/mnt/laptop/dir/se\\"cret.txt": Permission denied (13)',
    'rsync: send_files failed to open "/mnt/laptop/dir/secret.txt": Permission denied (13)',
    "rsync error: some files/attrs were not transferred (see previous errors) (code 23) at main.c(1394) [sender=3.5.0]",
]


def test_failed_files_names_each_file_once_below_the_folders_rsync_was_given():
    found = failed_files(UNREADABLE, ("/proc/self/fd/4/", "/mnt/laptop"))
    assert found == [("closed", "Permission denied"), ('dir/se\\"cret.txt', "Permission denied"),
                     ("dir/secret.txt", "Permission denied")]


def test_a_code_23_names_the_first_files_and_points_to_debug_log():
    found = [(f"f{number}", "Permission denied") for number in range(5)]
    problem = classify_exit(23, [], found).problem
    assert problem == ("rsync failed with code 23: some files could not be copied: f0 (Permission "
                       "denied), f1 (Permission denied), f2 (Permission denied) and 2 more (all of "
                       "rsync's messages are in debug.log)")
    assert classify_exit(23, []).problem.endswith("(unreadable files or attribute errors)")
