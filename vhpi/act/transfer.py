"""Bringing backup.latest up to date with the source, without touching any inode that an
older snapshot shares (see vhpi.decide.rsync_argv for the two passes)."""

from __future__ import annotations

import errno
import logging
import os
import stat
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import BinaryIO, Callable, Dict, List, Optional, Sequence, Tuple

from vhpi.act.checkpoints import checkpoint
from vhpi.act.latest_names import (entry_facts, folder_times, link_name, make_folder,
                                   restore_folder_times)
from vhpi.act.layout import Layout
from vhpi.act.pinned import (build_shadow, depth_of, parent_of, passes, pin_parents, read_facts,
                             read_list, read_pairs, root_reader)
from vhpi.act.processes import ChildFailed, Ending, Limits, run_in_child
from vhpi.act.rsync_pass import RsyncRun, run_rsync
from vhpi.act.progress import TerminalProgress
from vhpi.act.source import source_problem
from vhpi.act.tree_edit import remove_entry, remove_tree
from vhpi.act.transfer_moves import (Changes, MovedFiles, after_room_is_made, clear_leftovers,
                                     close_identities, find_and_link, open_identities, remember)
from vhpi.act.moves import write_identity
from vhpi.act.new_checksums import keep_everything, new_files_path
from vhpi.config.model import Job
from vhpi.decide.itemize import (Item, LinkSplit, SplitChooser, UnsafeItemPath)
from vhpi.decide.copy_check import copied_from_elsewhere
from vhpi.decide.rsync_argv import dry_run_argv, mirror_argv, transfer_argv
from vhpi.decide.rsync_options import follows_symlinks, keeps_times, without_filter_options
from vhpi.decide.rsync_result import (RsyncOutcome, classify_copy_pass, classify_exit)


@dataclass
class TransferReport:
    """What the transfer did. ok: backup.latest is complete and may be snapshotted."""

    ok: bool = False
    warning: Optional[str] = None
    problem: Optional[str] = None
    changed: int = 0
    deleted: int = 0
    moved: MovedFiles = field(default_factory=MovedFiles)
    stats: Dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


class _ItemLists:
    """The dry run's findings, written to NUL-separated files in the work folder (a million
    changed files must not become a million Python objects):

    delete  b'd' or b'f' + path: what the source no longer has
    copy    b'd' or b'f' + path: what rsync must copy (every non-folder is removed from
            backup.latest first, so rsync only ever writes new inodes)
    links   name, target: new names of hard-linked groups, linked by vhpi afterwards
    root    the top folder, when its own attributes changed
    """

    NAMES = ("delete", "copy", "links", "root")

    def __init__(self, work: str, stack: ExitStack):
        self.paths = {name: os.path.join(work, f"{name}.list") for name in self.NAMES}
        self.files = {name: stack.enter_context(open(path, "wb")) for name, path in self.paths.items()}
        self.counts = dict.fromkeys(self.NAMES, 0)
        self.group_members = 0

    def add(self, item: Item) -> None:
        kind = b"d" if item.is_dir else b"f"
        if item.deleted:
            self._write("delete", kind + item.path)
        elif item.path == b".":
            # never in a copy list: with --files-from rsync reads "." as "the top folder
            # and everything directly in it"; the top folder gets a pass of its own
            self._write("root", item.path)
        elif item.link_target is not None:
            # rsync -H would set attributes on the target's inode, which snapshots share
            self._write("links", item.path + b"\0" + item.link_target)
        else:
            self.group_members += item.hard_link
            self._write("copy", kind + item.path)

    def _write(self, name: str, data: bytes) -> None:
        self.files[name].write(data + b"\0")
        self.counts[name] += 1

    def close(self) -> None:
        for handle in self.files.values():
            handle.close()


def _choose_in_child(source: bytes, code: bytes, splits: List[LinkSplit]) -> int:
    """In a child: return the index of the split of a " -> " or " => " name that names a
    symlink, or a hard link to the same inode as its target (0 when none does)."""
    for index, (name, target) in enumerate(splits):
        try:
            found = os.lstat(os.path.join(source, name))
            if code.startswith(b"h"):
                if os.path.samestat(found, os.lstat(os.path.join(source, target))):
                    return index
            elif stat.S_ISLNK(found.st_mode) and os.readlink(os.path.join(source, name)) == target:
                return index
        except OSError:
            continue
    return 0


def link_split_chooser(source: str, timeout: float = 60.0) -> SplitChooser:
    """Return a chooser that settles a name containing " -> " or " => " by looking at the
    source (in a child, given up after `timeout` s: the first split then)."""
    root = os.fsencode(source)

    def choose(code: bytes, splits: List[LinkSplit]) -> LinkSplit:
        try:
            answer = run_in_child(_choose_in_child, root, code, splits, timeout=timeout)
        except ChildFailed:
            return splits[0]
        return splits[answer.value or 0] if answer.ending is Ending.EXITED else splits[0]
    return choose


def _limits(job: Job) -> Limits:
    """How long an rsync pass over the job's source may go without progress."""
    return Limits(stall_after=job.source_timeout)


def _stalled(job: Job, run: RsyncRun) -> Optional[RsyncOutcome]:
    """The outcome of a pass that vhpi stopped because the source stopped answering."""
    if run.ending is Ending.STALLED:
        return RsyncOutcome(False, problem=(
            f"source {job.source} stopped answering: rsync made no progress (read and wrote "
            f"nothing) for {job.source_timeout:g} s (source_timeout; a hung NFS or SMB share, "
            f"a frozen sshfs?)"))
    return None


def _temp_dir(layout: Layout) -> str:
    """Return an empty folder for rsync's temporary files: a killed rsync leaves its
    half-written copy there, not as `.name.XXXXXX` in backup.latest, where --delete does
    not remove it when an exclude (such as `.*`) matches it, so that every later snapshot
    would hold it."""
    temp_dir = os.path.join(layout.work, "rsync-tmp")
    remove_tree(temp_dir)
    os.mkdir(temp_dir)
    return temp_dir


def _count_item(report: TransferReport, item: Item) -> None:
    if item.deleted:
        report.deleted += 1
    else:
        report.changed += 1


def _mirror_in_one_pass(job: Job, layout: Layout, log: logging.Logger, report: TransferReport,
                        before_changes: Callable[[], None],
                        progress: Optional[TerminalProgress]) -> RsyncOutcome:
    """One plain rsync, for a backup.latest that no snapshot shares inodes with."""
    before_changes()
    argv = mirror_argv(job.rsync_options, job.excludes, job.source, layout.latest,
                       _temp_dir(layout), progress=progress is not None)
    copied = run_rsync(argv, log, _limits(job), lambda item: _count_item(report, item),
                        progress=progress)
    report.stats = copied.stats
    outcome = _stalled(job, copied) or classify_exit(copied.code, copied.tail,
                                                     copied.failed(job.source, layout.latest))
    remember(job, layout, log, None, outcome.ok)
    if outcome.ok:
        keep_everything(layout)
    return outcome


#: An exclude rule matching everything directly inside the source: with it, a pass whose
#: --files-from list holds only "." updates the top folder's own attributes and nothing else.
TOP_LEVEL_ENTRIES = "/*"


@dataclass
class _Copying:
    """What the copy passes of one transfer share and gather."""

    job: Job
    layout: Layout
    log: logging.Logger
    report: TransferReport
    progress: Optional[TerminalProgress]
    groups: Optional[BinaryIO] = None
    identities: Optional[BinaryIO] = None
    missing: int = 0
    problem: Optional[RsyncOutcome] = None


def _no_room_for_work_files(copying: _Copying, error: OSError) -> None:
    """A work file of the copy could not be written: a full disk fails the transfer (and
    so the job, before anything is rotated); any other error is raised."""
    if error.errno not in (errno.ENOSPC, errno.EDQUOT):
        raise error
    copying.problem = RsyncOutcome(False, problem=f"the destination disk is full (no room for "
                                                  f"vhpi's work files: {error.strerror})")


def _pinned_pass(copying: _Copying, parents: Tuple[bytes, ...], list_path: str,
                 excludes: Sequence[str], shown: bool = True,
                 options: Optional[Sequence[str]] = None) -> None:
    """Run one pinned pass (vhpi.act.pinned) over the entries listed in `list_path`, whose
    parents are `parents`, adding its trouble and, when `shown` (not the top folder's own
    pass), its figures and progress. `options`: the rsync options (the job's by default)."""
    job, layout = copying.job, copying.layout
    reader = root_reader()
    if parents:
        reader = os.path.join(layout.work, "pinned") + "/"
        try:
            build_shadow(reader.rstrip("/"), parents)
        except OSError as error:
            _no_room_for_work_files(copying, error)
            return
    progress = copying.progress if shown else None
    argv = transfer_argv(tuple(job.rsync_options if options is None else options), excludes,
                         reader, layout.latest, list_path,
                         _temp_dir(layout), progress=progress is not None)
    facts = os.path.join(layout.work, "pinned.facts")
    prepare = pin_parents(job.source, parents, list_path, facts)
    copied = run_rsync(argv, copying.log, _limits(job), progress=progress, prepare=prepare)
    if shown:
        for name, value in copied.stats.items():
            copying.report.stats[name] = copying.report.stats.get(name, 0) + value
    result = _stalled(job, copied) or classify_copy_pass(
        copied.code, copied.tail, copied.missing, copied.other_errors,
        copied.failed(reader, job.source, layout.latest))
    if not result.ok and copying.problem is None:
        copying.problem = result
    elif result.warning:
        copying.missing += copied.missing
    if result.ok and os.path.exists(facts):
        copying.missing += _check_copies(copying, facts)
    remove_tree(os.path.join(layout.work, "pinned"))
    if os.path.exists(facts):
        os.unlink(facts)


def _check_copies(copying: _Copying, facts: str) -> int:
    """Take out of backup.latest every copy of the pass that cannot have come from the
    entry its child pinned (vhpi.decide.copy_check), and note the names of hard-linked
    groups for _link_groups and what each copy is on the share (vhpi.act.source_ids);
    return how many copies were taken out."""
    latest, options = copying.layout.latest, copying.job.rsync_options
    times_kept, links_followed = keeps_times(options), follows_symlinks(options)
    taken_out = 0
    for pinned in read_facts(facts):
        entry, pinned_facts = pinned.entry, pinned.facts
        copied = entry_facts(latest, entry)
        if copied is None:
            continue  # not copied: rsync counted it as vanished
        if copied_from_elsewhere(pinned_facts, copied, times_kept, links_followed):
            copying.log.warning("job %s: %s changed while it was copied (or the share led "
                                "rsync elsewhere); it is left out of this snapshot",
                                copying.job.name, entry.decode("utf-8", "backslashreplace"))
            remove_entry(latest, entry, is_dir=copied.kind == "d")
            taken_out += 1
            continue
        if pinned.group is not None and copying.groups is not None:
            copying.groups.write(pinned.group + b" " + entry + b"\0")
        if pinned.identity is not None and copying.identities is not None:
            copying.identities = write_identity(copying.identities, entry, pinned.identity)
    return taken_out


def _entries_by_depth(path: str, work: str) -> Dict[int, str]:
    """Split the copy list's paths into one list file per depth (vhpi.act.pinned.depth_of);
    return {depth: list file}. At most 64 files are open at once (a very deep tree)."""
    files: Dict[int, str] = {}
    handles: Dict[int, BinaryIO] = {}
    try:
        for entry in read_list(path):
            depth = depth_of(entry[1:])
            if depth not in handles:
                if len(handles) >= 64:
                    handles.pop(next(iter(handles))).close()
                mode = "ab" if depth in files else "wb"
                files[depth] = os.path.join(work, f"depth-{depth}.list")
                handles[depth] = open(files[depth], mode)
            handles[depth].write(entry[1:] + b"\0")
    finally:
        for handle in handles.values():
            handle.close()
    return files


def _untouched_parents(lists: _ItemLists) -> set:
    """Return the folders that the copy changes names in but whose own attributes it does
    not copy (they are not listed): they must keep their times (b'' is the top folder)."""
    parents = {parent_of(entry[1:]) for name in ("delete", "copy")
               for entry in read_list(lists.paths[name])}
    parents.update(parent_of(name) for name, _ in read_pairs(lists.paths["links"]))
    parents.difference_update(entry[1:] for entry in read_list(lists.paths["copy"])
                              if entry[:1] == b"d")
    if lists.counts["root"]:
        parents.discard(b"")
    return parents


def _prepare_names(lists: _ItemLists, latest: str) -> None:
    """Apply the listed deletions; make room for rsync: every non-folder name it will write
    is removed from backup.latest (so it only ever creates new inodes, never sets content or
    attributes on one a snapshot shares), and every folder it will fill is made."""
    for entry in read_list(lists.paths["delete"]):
        remove_entry(latest, entry[1:], is_dir=entry[:1] == b"d")
    for entry in read_list(lists.paths["copy"]):
        if entry[:1] == b"d":
            make_folder(latest, entry[1:])
        else:
            remove_entry(latest, entry[1:], is_dir=False)
    for name, _ in read_pairs(lists.paths["links"]):
        remove_entry(latest, name, is_dir=False)


def _link_names(lists: _ItemLists, latest: str) -> int:
    """Give the new names of hard-linked groups the inode their target has in backup.latest;
    return how many targets were not there (they vanished from the copy)."""
    missing = 0
    for name, target in read_pairs(lists.paths["links"]):
        missing += not link_name(latest, name, target)
    return missing


def _link_groups(groups: str, latest: str) -> None:
    """Make the copied names of each hard-linked group of the source (same device and
    inode there, as the passes' children saw them) one inode again in backup.latest: each
    name was copied in the pass of its own folder depth."""
    found: Dict[bytes, List[bytes]] = {}
    for record in read_list(groups):
        device, inode, entry = record.split(b" ", 2)
        found.setdefault(device + b" " + inode, []).append(entry)
    for first, *others in found.values():
        for other in others:
            link_name(latest, other, first)


def _copy_listed(copying: _Copying, lists: _ItemLists) -> None:
    """Copy the listed paths: one pinned pass per parent depth, deepest first (so a
    folder's attributes, set in the pass of its own parent's depth, come after everything
    written into it), then the names of hard-linked groups, then the top folder."""
    job, latest, work = copying.job, copying.layout.latest, copying.layout.work
    list_path, groups = os.path.join(work, "pass.list"), os.path.join(work, "groups.list")
    try:
        depth_files = _entries_by_depth(lists.paths["copy"], work)
        with ExitStack() as stack:
            if lists.group_members:
                copying.groups = stack.enter_context(open(groups, "wb"))
            for depth in sorted(depth_files, reverse=True):
                for parents in passes(read_list(depth_files[depth]), list_path):
                    if copying.problem is None:
                        _pinned_pass(copying, parents, list_path, job.excludes)
                os.unlink(depth_files[depth])
        copying.groups = None
        if copying.problem is None:
            copying.missing += _link_names(lists, latest)
            if lists.group_members:
                _link_groups(groups, latest)
        if lists.counts["root"] and copying.problem is None:
            with open(list_path, "wb") as handle:
                handle.write(b".\0")
            # its one filter rule leaves out every top-level entry (see FILTER_OPTIONS)
            _pinned_pass(copying, (), list_path, (TOP_LEVEL_ENTRIES,), shown=False,
                         options=without_filter_options(job.rsync_options))
    except OSError as error:  # a work file that the disk had no room for
        _no_room_for_work_files(copying, error)
    for leftover in (list_path, groups):
        if os.path.exists(leftover):
            os.unlink(leftover)


def _copy_outcome(copying: _Copying, listed: RsyncOutcome) -> RsyncOutcome:
    """The transfer's outcome: the dry run's, made worse by the copy passes' trouble."""
    if copying.problem is not None:
        return copying.problem
    if copying.missing:
        return RsyncOutcome(True, warning=f"{copying.missing} file(s) vanished from the source "
                                          f"(or changed kind) while they were being copied")
    return listed


def _mirror_in_two_passes(job: Job, layout: Layout, log: logging.Logger, report: TransferReport,
                          before_changes: Callable[[], None],
                          progress: Optional[TerminalProgress]) -> RsyncOutcome:
    """List the differences, make room in backup.latest, then copy exactly the listed paths."""
    with ExitStack() as stack:
        lists = _ItemLists(layout.work, stack)
        listed = run_rsync(dry_run_argv(job.rsync_options, job.excludes, job.source,
                                         layout.latest), log, _limits(job), lists.add,
                            link_split_chooser(job.source, job.source_timeout))
        lists.close()
    outcome = _stalled(job, listed) or classify_exit(listed.code, listed.tail,
                                                     listed.failed(job.source, layout.latest))
    report.deleted = lists.counts["delete"]
    report.changed = lists.counts["copy"] + lists.counts["links"] + lists.counts["root"]
    vanished = source_problem(job.source, job.source_timeout) if outcome.ok else None
    if vanished:
        # an unmounted share looks like a source whose files were all deleted
        outcome = RsyncOutcome(False, problem=f"the source vanished during the run: {vanished}")
    before_changes()
    if outcome.ok:
        outcome = _apply_lists(job, layout, log, report, progress, lists, outcome)
    if outcome.ok:  # the names rsync wrote: their inodes get checksums (vhpi.act.new_checksums)
        os.replace(lists.paths["copy"], new_files_path(layout))
    for path in lists.paths.values():
        if os.path.exists(path):
            os.unlink(path)
    return outcome


def _apply_lists(job: Job, layout: Layout, log: logging.Logger, report: TransferReport,
                 progress: Optional[TerminalProgress], lists: _ItemLists,
                 listed: RsyncOutcome) -> RsyncOutcome:
    """Bring backup.latest to what the dry run listed: link the moved files, make room,
    copy, put folder times back, record what the copies were on the share; return the
    outcome."""
    times = folder_times(layout.latest, _untouched_parents(lists))
    report.moved = find_and_link(job, layout, log, lists.paths["delete"], lists.paths["copy"])
    _prepare_names(lists, layout.latest)
    checkpoint("unlinked")
    after_room_is_made(layout, log, report.moved, lists.paths["copy"])
    copying = _Copying(job, layout, log, report, progress, identities=open_identities(layout))
    try:
        _copy_listed(copying, lists)
    finally:
        identities = close_identities(copying.identities)
    restore_folder_times(layout.latest, times)
    outcome = _copy_outcome(copying, listed)
    checkpoint("copied")
    changes = Changes(lists.paths, identities, report.moved,
                      any(lists.counts[name] for name in ("delete", "copy", "links")))
    remember(job, layout, log, changes, outcome.ok)
    return outcome


def update_latest(job: Job, layout: Layout, log: logging.Logger, shared: bool = True,
                  before_changes: Callable[[], None] = lambda: None,
                  progress: Optional[TerminalProgress] = None) -> TransferReport:
    """Make backup.latest a complete copy of the job's source; return what happened.

    `shared` says whether snapshots may share inodes with backup.latest; only then are the
    careful passes needed (a first backup is one plain rsync). `before_changes` is called
    once before anything in backup.latest changes (see vhpi.act.head_start). `progress`,
    on a terminal, shows the copying passes' progress.
    """
    started = time.monotonic()
    report = TransferReport()
    if not os.path.isdir(layout.latest):
        os.mkdir(layout.latest)
    clear_leftovers(layout)
    mirror = _mirror_in_two_passes if shared else _mirror_in_one_pass
    try:
        outcome = mirror(job, layout, log, report, before_changes, progress)
    except UnsafeItemPath as error:
        outcome = RsyncOutcome(False, problem=str(error))
    vanished = None if outcome.ok else source_problem(job.source, job.source_timeout)
    if vanished:
        outcome = RsyncOutcome(False, problem=f"the source vanished during the run: {vanished}")
    report.ok, report.warning, report.problem = outcome.ok, outcome.warning, outcome.problem
    report.seconds = time.monotonic() - started
    return report
