"""The rsync argument lists vhpi runs. One transfer is two passes:

1. a dry run that itemizes what differs between the source and backup.latest;
2. vhpi applies the listed deletions and removes from backup.latest every non-directory
   name the copy will write (those inodes may be shared with older snapshots), then runs
   rsync on exactly the listed paths, reading them through folders it pinned
   (vhpi.act.pinned) so that the share cannot lead it elsewhere. rsync therefore only ever
   writes new inodes, and never chmods, chowns or touches an inode that an older snapshot
   holds. Unchanged files are not visited twice.

A path that vanishes from the source between the two passes makes the copy pass report
"link_stat failed" (exit 23); vhpi counts that as success with a warning (see
vhpi.decide.rsync_result.classify_copy_pass): the snapshot holds the source as copied.

A backup.latest that no snapshot shares yet (the first backup) gets one plain pass.
"""

from __future__ import annotations

from typing import Iterable, Optional, Tuple

from vhpi.decide.itemize import ITEM_MARK
from vhpi.decide.rsync_options import without_delete_options

RSYNC = "rsync"


def exclude_arguments(excludes: Iterable[str]) -> Tuple[str, ...]:
    """Return one `--exclude=PATTERN` word per pattern."""
    return tuple(f"--exclude={pattern}" for pattern in excludes)


def source_argument(source: str) -> str:
    """Return the source folder with a trailing slash: vhpi copies its contents."""
    return source.rstrip("/") + "/"


#: How vhpi wants rsync to report: item lines it can parse, and --stats in plain numbers
#: (a user's -h would otherwise print "3.00M").
REPORTING = ("--stats", "--no-human-readable", "--out-format=" + ITEM_MARK.decode() + "%i %n%L")


#: Added to the copying passes on a terminal: one overall progress line (see vhpi.decide.progress).
PROGRESS = ("--info=progress2",)


def dry_run_argv(options: Tuple[str, ...], excludes: Iterable[str], source: str,
                 latest: str) -> Tuple[str, ...]:
    """Return the argv of the pass that lists what differs, changing nothing."""
    return (RSYNC, *options, *exclude_arguments(excludes), "--dry-run", *REPORTING,
            source_argument(source), latest.rstrip("/") + "/")


def _temp_dir_argument(temp_dir: Optional[str]) -> Tuple[str, ...]:
    return (f"--temp-dir={temp_dir}",) if temp_dir else ()


def transfer_argv(options: Tuple[str, ...], excludes: Iterable[str], source: str,
                  latest: str, files_from: str, temp_dir: Optional[str] = None,
                  progress: bool = False) -> Tuple[str, ...]:
    """Return the argv of the pass that copies exactly the paths listed in `files_from`
    (their parent folders are not sent: they exist in backup.latest, and `source` may reach
    them through links to pinned folders, see vhpi.act.pinned)."""
    return (RSYNC, *without_delete_options(options), *exclude_arguments(excludes),
            "--no-recursive", "--no-implied-dirs", f"--files-from={files_from}", "--from0",
            *_temp_dir_argument(temp_dir), *REPORTING, *(PROGRESS if progress else ()),
            source_argument(source), latest.rstrip("/") + "/")


def check_argv(options: Tuple[str, ...], excludes: Iterable[str], source: str, latest: str,
               files_from: str) -> Tuple[str, ...]:
    """Return the argv of a dry run over exactly the paths listed in `files_from`: it
    itemizes those whose copy in backup.latest differs from the source (in content by
    rsync's quick check, or in any attribute the options keep)."""
    return (RSYNC, "--dry-run", *transfer_argv(options, excludes, source, latest, files_from)[1:])


def mirror_argv(options: Tuple[str, ...], excludes: Iterable[str], source: str, latest: str,
                temp_dir: Optional[str] = None, progress: bool = False) -> Tuple[str, ...]:
    """Return the argv of a plain one-pass mirror, for a backup.latest that shares no inode
    with any snapshot (a first backup)."""
    return (RSYNC, *options, *exclude_arguments(excludes), *_temp_dir_argument(temp_dir),
            *REPORTING, *(PROGRESS if progress else ()), source_argument(source),
            latest.rstrip("/") + "/")
