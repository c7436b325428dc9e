"""Is the job's source really there? A share that is not mounted is an empty folder, and
mirroring an empty folder with --delete would empty the backup; a share whose server died
(an NFS hard mount, a frozen sshfs) makes every look at it wait in the kernel for ever.

So every look at the source happens in a forked child (vhpi.act.processes.run_in_child)
that vhpi gives up on after the job's source_timeout: vhpi itself never touches the share,
and a look that hangs costs the job, not the run. The look lstats the `.backup_valid`
sentinel first, so a FIFO, device or folder in its place is refused at once (opening a
FIFO would wait for a writer), and resolves the source's real path (symlinks seen through)
for the nesting check against the destination."""

from __future__ import annotations

import errno
import os
import stat
from typing import List, Optional, Sequence, Tuple

from vhpi.act.layout import SOURCE_MARK
from vhpi.act.processes import ChildFailed, Ending, run_in_child, run_in_children
from vhpi.decide.paths import nesting_problem
from vhpi.decide.source_look import SourceLook, SourceState, kind_of_mode, source_message

_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
#: How many names `holds_files` reads at most from a source without its sentinel.
_NAMES_TO_LOOK_AT = 2


def _holds_files(source: str) -> bool:
    """True when the folder `source` holds anything at all (an unmounted share does not)."""
    with os.scandir(source) as names:
        return any(True for _, _ in zip(names, range(_NAMES_TO_LOOK_AT)))


def look_here(source: str) -> SourceLook:
    """Look at `source` in this process (run it in a child: it may hang); return what was
    found."""
    try:
        if not stat.S_ISDIR(os.stat(source).st_mode):
            return SourceLook(SourceState.MISSING)
        real_path = os.path.realpath(source)
        info = os.lstat(os.path.join(source, SOURCE_MARK))
    except FileNotFoundError:
        holds = _holds_files(source) if os.path.isdir(source) else None
        state = SourceState.NO_SENTINEL if holds is not None else SourceState.MISSING
        return SourceLook(state, holds_files=holds)
    except NotADirectoryError:
        return SourceLook(SourceState.MISSING)
    except OSError as error:
        return SourceLook(SourceState.UNREADABLE, detail=error.strerror or str(error))
    if not stat.S_ISREG(info.st_mode):
        return SourceLook(SourceState.NOT_A_FILE, real_path, detail=kind_of_mode(info.st_mode))
    try:
        os.close(os.open(os.path.join(source, SOURCE_MARK), _OPEN_FLAGS))
    except OSError as error:
        if error.errno == errno.ELOOP:
            return SourceLook(SourceState.NOT_A_FILE, real_path, detail="a symlink")
        return SourceLook(SourceState.UNREADABLE, real_path, detail=error.strerror or str(error))
    return SourceLook(SourceState.READY, real_path)


def look_at_source(source: str, timeout: float) -> SourceLook:
    """Look at `source` in a child, waiting at most `timeout` seconds; return what was
    found (NOT_ANSWERING when the child got no answer in time)."""
    try:
        answer = run_in_child(look_here, source, timeout=timeout)
    except ChildFailed as failure:
        return SourceLook(SourceState.UNREADABLE, detail=str(failure))
    if answer.ending is not Ending.EXITED:
        return SourceLook(SourceState.NOT_ANSWERING, detail=f"{timeout:g}")
    return answer.value


def source_problems(sources: Sequence[str], timeout: float) -> List[Optional[str]]:
    """Look at every source of `sources` at the same time (for commands that must answer
    at once); return, per source, why it must not be backed up now, or None. All answers
    are in after `timeout` seconds."""
    problems: List[Optional[str]] = []
    for source, answer in zip(sources, run_in_children(look_here, [(s,) for s in sources], timeout)):
        if isinstance(answer, ChildFailed):
            look = SourceLook(SourceState.UNREADABLE, detail=str(answer))
        elif answer.ending is not Ending.EXITED:
            look = SourceLook(SourceState.NOT_ANSWERING, detail=f"{timeout:g}")
        else:
            look = answer.value
        problems.append(None if look.state is SourceState.READY else source_message(look, source))
    return problems


def source_problem(source: str, timeout: float, destination: Optional[str] = None) -> Optional[str]:
    """Return why `source` must not be backed up now, or None when its sentinel is a
    readable regular file. With `destination`, also refuse a source and destination that,
    symlinks seen through, are the same folder or nested."""
    return examine_source(source, timeout, destination)[0]


def examine_source(source: str, timeout: float,
                   destination: Optional[str] = None) -> Tuple[Optional[str], Optional[str]]:
    """As source_problem, but return (problem or None, the source's real path or None):
    the real path, resolved in the child with the timeout, lets a caller find the mount
    holding the source without touching the share itself."""
    look = look_at_source(source, timeout)
    if look.state is not SourceState.READY:
        return source_message(look, source), None
    return _nesting_problem(look, destination), look.real_path


def _nesting_problem(look: SourceLook, destination: Optional[str]) -> Optional[str]:
    if destination is not None and look.real_path is not None:
        nested = nesting_problem(look.real_path, os.path.realpath(destination))
        if nested is not None:
            key, reason = nested
            return (f"{key + ' ' if key else ''}{reason} (through symlinks: the source is really "
                    f"{look.real_path}); nothing was copied. Fix rsync_src or rsync_dest")
    return None
