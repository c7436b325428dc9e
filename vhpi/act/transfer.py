"""Bringing backup.latest up to date with the source, without touching any inode that an
older snapshot shares (see vhpi.decide.rsync_argv for the two passes)."""

from __future__ import annotations

import logging
import os
import stat
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from vhpi.act.checkpoints import checkpoint
from vhpi.act.layout import Layout
from vhpi.act.processes import run_streaming
from vhpi.act.progress import TerminalProgress
from vhpi.act.source import source_problem
from vhpi.act.tree_edit import remove_entry, remove_tree
from vhpi.config.model import Job
from vhpi.decide.itemize import (Item, LinkSplit, SplitChooser, UnsafeItemPath, first_split,
                                 parse_item_line)
from vhpi.decide.rsync_argv import dry_run_argv, mirror_argv, transfer_argv
from vhpi.decide.rsync_result import (RsyncOutcome, classify_copy_pass, classify_exit, is_error_line,
                                     is_missing_source_line, parse_stats)


@dataclass
class TransferReport:
    """What the transfer did. ok: backup.latest is complete and may be snapshotted."""

    ok: bool = False
    warning: Optional[str] = None
    problem: Optional[str] = None
    changed: int = 0
    deleted: int = 0
    stats: Dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


class _ItemLists:
    """The dry run's findings, written to NUL-separated files in the work folder (a million
    changed files must not become a million Python objects)."""

    NAMES = ("delete", "unlink", "copy", "root")

    def __init__(self, work: str, stack: ExitStack):
        self.paths = {name: os.path.join(work, f"{name}.list") for name in self.NAMES}
        self.files = {name: stack.enter_context(open(path, "wb")) for name, path in self.paths.items()}
        self.counts = dict.fromkeys(self.NAMES, 0)

    def add(self, item: Item) -> None:
        if item.deleted:
            self._write("delete", (b"d" if item.is_dir else b"f") + item.path)
            return
        if item.path == b".":
            # never in the copy list: with --files-from rsync reads "." as "the top folder
            # and everything directly in it", and would update top-level files that are
            # shared with snapshots in place; the top folder gets a pass of its own
            self._write("root", item.path)
            return
        if item.replaces_shared_inode:
            self._write("unlink", item.path)
        self._write("copy", item.path)
        if item.link_target is not None:
            # rsync -H links only names that are in its file list: list the unchanged
            # target too, or the new name would be copied, again on every run
            self._write("copy", item.link_target)

    def _write(self, name: str, data: bytes) -> None:
        self.files[name].write(data + b"\0")
        self.counts[name] += 1

    def close(self) -> None:
        for handle in self.files.values():
            handle.close()


def _read_list(path: str) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        pending = b""
        for chunk in iter(lambda: handle.read(1 << 16), b""):
            pending += chunk
            *complete, pending = pending.split(b"\0")
            yield from complete


def link_split_chooser(source: str) -> SplitChooser:
    """Return a chooser that settles a name containing " -> " or " => " by looking at the
    source: the right split names a symlink, or a hard link to the same inode as its target."""
    root = os.fsencode(source)

    def is_right(code: bytes, name: bytes, target: bytes) -> bool:
        try:
            found = os.lstat(os.path.join(root, name))
            if code.startswith(b"h"):
                return os.path.samestat(found, os.lstat(os.path.join(root, target)))
            return stat.S_ISLNK(found.st_mode) and os.readlink(os.path.join(root, name)) == target
        except OSError:
            return False

    def choose(code: bytes, splits: List[LinkSplit]) -> LinkSplit:
        return next((split for split in splits if is_right(code, *split)), splits[0])
    return choose


@dataclass
class _RsyncRun:
    """One finished rsync pass: exit code, last lines, --stats figures, and its error lines
    counted as "a listed path is missing" or anything else."""

    code: int = 0
    tail: Tuple[str, ...] = ()
    stats: Dict[str, int] = field(default_factory=dict)
    missing: int = 0
    other_errors: int = 0


class LogBatch:
    """Lines for debug.log written as one record per BATCH_SIZE lines: one record per line
    cost 0.3 s of a 3.8 s run that listed 3,000 changed files (profiled at 100,000 files)."""

    BATCH_SIZE = 200

    def __init__(self, log: logging.Logger, prefix: str):
        self.log, self.prefix, self.lines = log, prefix, []

    def add(self, text: str) -> None:
        self.lines.append(text)
        if len(self.lines) >= self.BATCH_SIZE:
            self.flush()

    def flush(self) -> None:
        if self.lines:
            self.log.debug("%s", "\n".join(self.prefix + line for line in self.lines))
            self.lines = []


def _run_rsync(argv: Sequence[str], log: logging.Logger, keep_fds: Sequence[int],
               on_item=None, choose: SplitChooser = first_split,
               progress: Optional[TerminalProgress] = None) -> _RsyncRun:
    """Run one rsync pass, logging its output to debug.log (progress lines go to
    `progress` instead, when given); return what it did."""
    log.debug("running: %r", list(argv))
    result = _RsyncRun()
    stat_lines = []
    batch = LogBatch(log, "rsync: ")

    def on_line(line: bytes) -> None:
        if progress is not None and progress.show_rsync(line):
            return
        item = parse_item_line(line, choose) if on_item is not None else None
        if item is not None:
            on_item(item)
        text = line.decode("utf-8", "backslashreplace")
        if text.startswith(("Number of ", "Total ")):
            stat_lines.append(text)
        elif is_missing_source_line(text):
            result.missing += 1
        elif is_error_line(text) and not text.startswith("rsync error: some files"):
            result.other_errors += 1
        batch.add(text)

    try:
        result.code, result.tail = run_streaming(argv, on_line, keep_fds)
    finally:
        batch.flush()
    result.stats = parse_stats(stat_lines)
    log.debug("rsync exit code %s", result.code)
    checkpoint("rsync-done")
    return result


def _apply_deletions_and_unlinks(lists: _ItemLists, latest: str) -> None:
    for entry in _read_list(lists.paths["delete"]):
        remove_entry(latest, entry[1:], is_dir=entry[:1] == b"d")
    for path in _read_list(lists.paths["unlink"]):
        remove_entry(latest, path, is_dir=False)


def _temp_dir(job: Job, layout: Layout) -> Optional[str]:
    """Return an empty folder for rsync's temporary files, for every job: a killed rsync
    leaves its half-written copy there, not as `.name.XXXXXX` in backup.latest, where
    --delete does not remove it when an exclude (such as `.*`) matches it, so that every
    later snapshot would hold it."""
    temp_dir = os.path.join(layout.work, "rsync-tmp")
    remove_tree(temp_dir)
    os.mkdir(temp_dir)
    return temp_dir


def _count_item(report: TransferReport, item: Item) -> None:
    if item.deleted:
        report.deleted += 1
    else:
        report.changed += 1


def _mirror_in_one_pass(job: Job, layout: Layout, log: logging.Logger, keep_fds: Sequence[int],
                        report: TransferReport, before_changes: Callable[[], None],
                        progress: Optional[TerminalProgress]) -> RsyncOutcome:
    """One plain rsync, for a backup.latest that no snapshot shares inodes with."""
    before_changes()
    argv = mirror_argv(job.rsync_options, job.excludes, job.source, layout.latest,
                       _temp_dir(job, layout), progress=progress is not None)
    copied = _run_rsync(argv, log, keep_fds, lambda item: _count_item(report, item), progress=progress)
    report.stats = copied.stats
    return classify_exit(copied.code, copied.tail)


#: An exclude rule matching everything directly inside the source: with it, a pass whose
#: --files-from list holds only "." updates the top folder's own attributes and nothing else.
TOP_LEVEL_ENTRIES = "/*"


def _copy_pass(argv: Sequence[str], log: logging.Logger, keep_fds: Sequence[int],
               report: Optional[TransferReport], outcome: RsyncOutcome,
               progress: Optional[TerminalProgress]) -> RsyncOutcome:
    """Run one pass that copies listed paths; return the transfer's outcome so far, made
    worse by this pass's problem or warning. Its --stats go to `report`, when given."""
    copied = _run_rsync(argv, log, keep_fds, progress=progress)
    if report is not None:
        report.stats = copied.stats
    result = classify_copy_pass(copied.code, copied.tail, copied.missing, copied.other_errors)
    return result if not result.ok or result.warning else outcome


def _mirror_in_two_passes(job: Job, layout: Layout, log: logging.Logger, keep_fds: Sequence[int],
                          report: TransferReport, before_changes: Callable[[], None],
                          progress: Optional[TerminalProgress]) -> RsyncOutcome:
    """List the differences, free shared inodes, then copy exactly the listed paths."""
    with ExitStack() as stack:
        lists = _ItemLists(layout.work, stack)
        listed = _run_rsync(dry_run_argv(job.rsync_options, job.excludes, job.source,
                                         layout.latest), log, keep_fds, lists.add,
                            link_split_chooser(job.source))
        lists.close()
    outcome = classify_exit(listed.code, listed.tail)
    report.deleted = lists.counts["delete"]
    report.changed = lists.counts["copy"] + lists.counts["root"]
    vanished = source_problem(job.source)
    if vanished:
        # an unmounted share looks like a source whose files were all deleted
        outcome = RsyncOutcome(False, problem=f"the source vanished during the run: {vanished}")
    before_changes()
    if outcome.ok:
        _apply_deletions_and_unlinks(lists, layout.latest)
        checkpoint("unlinked")
        if lists.counts["copy"]:
            argv = transfer_argv(job.rsync_options, job.excludes, job.source, layout.latest,
                                 lists.paths["copy"], _temp_dir(job, layout), progress=progress is not None)
            outcome = _copy_pass(argv, log, keep_fds, report, outcome, progress)
        if lists.counts["root"] and outcome.ok:
            argv = transfer_argv(job.rsync_options, (*job.excludes, TOP_LEVEL_ENTRIES), job.source,
                                 layout.latest, lists.paths["root"], _temp_dir(job, layout))
            outcome = _copy_pass(argv, log, keep_fds, None, outcome, None)
    for path in lists.paths.values():
        os.unlink(path)
    return outcome


def update_latest(job: Job, layout: Layout, log: logging.Logger, keep_fds: Sequence[int] = (),
                  shared: bool = True, before_changes: Callable[[], None] = lambda: None,
                  progress: Optional[TerminalProgress] = None) -> TransferReport:
    """Make backup.latest a complete copy of the job's source; return what happened.

    `shared` says whether snapshots may share inodes with backup.latest; only then are the
    two careful passes needed (a first backup is one plain rsync). `before_changes` is
    called once before anything in backup.latest changes (see vhpi.act.head_start).
    `progress`, on a terminal, shows the copying pass's progress.
    """
    started = time.monotonic()
    report = TransferReport()
    if not os.path.isdir(layout.latest):
        os.mkdir(layout.latest)
    mirror = _mirror_in_two_passes if shared else _mirror_in_one_pass
    try:
        outcome = mirror(job, layout, log, keep_fds, report, before_changes, progress)
    except UnsafeItemPath as error:
        outcome = RsyncOutcome(False, problem=str(error))
    vanished = None if outcome.ok else source_problem(job.source)
    if vanished:
        outcome = RsyncOutcome(False, problem=f"the source vanished during the run: {vanished}")
    report.ok, report.warning, report.problem = outcome.ok, outcome.warning, outcome.problem
    report.seconds = time.monotonic() - started
    return report
