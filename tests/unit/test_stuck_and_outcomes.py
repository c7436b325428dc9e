"""Pure decisions of vhpi.decide.stuck (a busy run or a stuck one), vhpi.decide.outcome (a
job's result as data) and vhpi.decide.source_look (the words for a source that is not
ready, which never lead into a trap)."""

import pytest

from vhpi.decide.outcome import JobResult, Outcome, run_is_fine
from vhpi.decide.paths import destination_clashes, nesting_problem
from vhpi.decide.source_look import SourceLook, SourceState, source_message
from vhpi.decide.stuck import Busy, busy_verdict, silence_limit

HOUR = 3600


@pytest.mark.parametrize("running_for, silent_for, timeout, longest, verdict", [
    (600, 10, 300, HOUR, Busy.WORKING),
    (600, 779, 300, HOUR, Busy.WORKING),            # 2 x 300 + 180 = 780 s of silence allowed
    (600, 781, 300, HOUR, Busy.SILENT),
    (900, 300, 30, HOUR, Busy.SILENT),              # 2 x 30 + 180 = 240
    (900, 300, 600, HOUR, Busy.WORKING),
    (HOUR + 1, 5, 300, HOUR, Busy.OVERDUE),
    (HOUR - 1, 5, 300, HOUR, Busy.WORKING),
    (25 * HOUR, 5, 300, 24 * HOUR, Busy.OVERDUE),
    (25 * HOUR, 5000, 300, 24 * HOUR, Busy.SILENT),  # silence is the stronger finding
    (None, None, 300, HOUR, Busy.WORKING),          # another user's run: nothing known
    (10 * HOUR, 5, 300, None, Busy.WORKING),        # no active interval
])
def test_busy_verdict(running_for, silent_for, timeout, longest, verdict):
    assert busy_verdict(running_for, silent_for, timeout, longest) is verdict


def test_silence_limit_grows_with_the_source_timeout():
    assert [silence_limit(t) for t in (1, 300, 3600)] == [182, 780, 7380]


@pytest.mark.parametrize("outcome, fine, recorded", [
    (Outcome.OK, True, True), (Outcome.NOTHING_DUE, True, False), (Outcome.OFFLINE, True, True),
    (Outcome.SKIPPED, True, True), (Outcome.BUSY, True, False), (Outcome.FAILED, False, True),
    (Outcome.INTERRUPTED, False, True)])
def test_outcomes(outcome, fine, recorded):
    assert (outcome.fine, outcome.recorded) == (fine, recorded)


def test_a_run_is_fine_unless_a_job_failed_or_was_interrupted():
    fine = [JobResult(Outcome.OK, "done"), JobResult(Outcome.OFFLINE, "offline, skipped"),
            JobResult(Outcome.BUSY, "skipped")]
    assert run_is_fine(fine) and run_is_fine([])
    assert not run_is_fine([*fine, JobResult(Outcome.FAILED, "FAILED: x")])
    assert not run_is_fine([JobResult(Outcome.INTERRUPTED, "INTERRUPTED: y")])


@pytest.mark.parametrize("look, words", [
    (SourceLook(SourceState.MISSING), "source /mnt/s does not exist or is not a folder: is the share mounted?"),
    (SourceLook(SourceState.NO_SENTINEL, holds_files=False),
     "source /mnt/s is empty and has no .backup_valid: the share is not mounted. Nothing was "
     "touched. Mount it (and check it with: vhpi check)"),
    (SourceLook(SourceState.NO_SENTINEL, holds_files=True),
     "source /mnt/s has no .backup_valid: the share is probably not mounted, or this folder was "
     "never marked. Nothing was touched. If it really is the source, mark it once: touch "
     "/mnt/s/.backup_valid"),
    (SourceLook(SourceState.NOT_A_FILE, detail="a FIFO (named pipe)"),
     "/mnt/s/.backup_valid is a FIFO (named pipe), not a regular file: vhpi refuses it (a FIFO "
     "would make every look wait for ever). Nothing was touched. Replace it with an empty file"),
    (SourceLook(SourceState.NOT_ANSWERING, detail="300"),
     "source /mnt/s stopped answering: no answer within 300 s (source_timeout; a hung NFS or "
     "SMB share, a frozen sshfs?)"),
    (SourceLook(SourceState.UNREADABLE, detail="Permission denied"),
     "cannot read /mnt/s/.backup_valid: Permission denied"),
])
def test_source_messages(look, words):
    assert source_message(look, "/mnt/s") == words


def test_only_a_folder_that_holds_files_is_offered_a_sentinel():
    """Marking an empty mountpoint would make the next run mirror an empty folder."""
    for state in SourceState:
        if state is SourceState.READY:
            continue
        for holds in (None, False):
            assert "touch" not in source_message(SourceLook(state, holds_files=holds), "/mnt/s").replace(
                "Nothing was touched", "")


@pytest.mark.parametrize("source, destination, found", [
    ("/a", "/a", ("", "rsync_src and rsync_dest are the same folder")),
    ("/a", "/a/b", ("rsync_dest", "lies inside rsync_src: every backup would copy the backups again")),
    ("/a/b", "/a", ("rsync_src", "lies inside rsync_dest, among the snapshots")),
    ("/a", "/ab", None), ("/ab", "/a", None), ("/", "/mnt", ("rsync_dest", "lies inside rsync_src: "
                                                           "every backup would copy the backups again")),
])
def test_nesting_problem(source, destination, found):
    assert nesting_problem(source, destination) == found


def test_destination_clashes_name_the_later_job():
    assert destination_clashes(["/d1", "/d2", "/d1/", "/d2"]) == [
        "jobs_cfg[2].rsync_dest: is also the destination of jobs_cfg[0]",
        "jobs_cfg[3].rsync_dest: is also the destination of jobs_cfg[1]"]
    assert destination_clashes(["/d1", "/d2"], [4, 7]) == []
