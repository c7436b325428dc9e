"""The rules of `vhpi verify --source JOB`: which files of the snapshot to compare with the
share (a uniform random sample, or all), how the files go to the share in batches, what
each pair of files means, and the words and JSON that say it.

rsync's quick check copies a file again only when its size or modification time changed.
A file changed in place on the share with its old time kept (some programs do that, and
so do disks and file systems that corrupt data) is never copied again: the newest
snapshot and the share then hold different content under the same size and time. That
pair is DIFFERS, the finding; a new time or size is CHANGED_SINCE (normal)."""

from __future__ import annotations

import enum
import shlex
from dataclasses import dataclass, field
from typing import Dict, Iterable, Iterator, List, NamedTuple, Optional, Sequence, Tuple, TypeVar

#: Files compared when neither --all nor --sample is given.
DEFAULT_SAMPLE = 200
#: At most this many files and bytes go to the share in one child (one timeout each).
BATCH_FILES = 64
BATCH_BYTES = 64 << 20
#: The slowest share vhpi waits for without calling it hung: each batch may take the
#: job's source_timeout plus its bytes at this rate.
SLOWEST_BYTES_PER_SECOND = 1 << 20
#: Paths of each kind the text output names before it says "and N more".
SHOWN = 10

Item = TypeVar("Item")


class Verdict(enum.Enum):
    """What one pair of files (the snapshot's copy, the share's file) shows."""

    SAME = "same"                    # same content
    CHANGED_SINCE = "changed since"  # other size or modification time: changed after the snapshot
    GONE = "gone"                    # no regular file at that path on the share any more
    DIFFERS = "differs"              # same size and time, other content: the finding
    UNREADABLE = "unreadable"        # one side could not be read


class Copy(enum.Enum):
    """The snapshot's copy against the checksum the content index holds for its inode."""

    INTACT = "intact"
    DAMAGED = "damaged"
    NOT_RECORDED = "not recorded"


class Look(NamedTuple):
    """One side of a pair: size, mtime (ns) and sha256 of a regular file; or `error` (why it
    could not be read); `absent`: no regular file there (missing, a symlink, another kind);
    `moving`: it changed while it was read (no sha256 then)."""

    size: int = 0
    mtime_ns: int = 0
    sha256: Optional[bytes] = None
    error: Optional[str] = None
    absent: bool = False
    moving: bool = False


class Compared(NamedTuple):
    """A compared path (relative, bytes), its verdict, the state of the snapshot's copy
    and, for GONE and UNREADABLE, what was seen."""

    path: bytes
    verdict: Verdict
    copy: Copy = Copy.NOT_RECORDED
    detail: Optional[str] = None


@dataclass
class Report:
    """Everything `verify --source` found for one job: counts per verdict, the pairs worth
    naming (all but SAME with an intact or unrecorded copy) and the problems that kept
    files from being compared (a share that stopped answering, unreadable folders)."""

    job: str
    snapshot: str
    source: str
    whole: bool = False
    files_in_snapshot: int = 0
    chosen: int = 0
    counts: Dict[Verdict, int] = field(default_factory=lambda: {verdict: 0 for verdict in Verdict})
    named: List[Compared] = field(default_factory=list)
    problems: List[str] = field(default_factory=list)

    def add(self, compared: Compared) -> None:
        """Count one compared pair (and keep it when it is worth naming)."""
        self.counts[compared.verdict] += 1
        if compared.verdict is not Verdict.SAME or compared.copy is Copy.DAMAGED:
            self.named.append(compared)

    @property
    def compared(self) -> int:
        """How many pairs got a verdict."""
        return sum(self.counts.values())


# ---------------------------------------------------------------- choosing and batching

def reservoir_sample(items: Iterable[Item], count: Optional[int], randrange) -> Tuple[List[Item], int]:
    """Given the items (read once), how many to keep (None: all) and `randrange(n)` (a
    random integer 0 <= r < n), return (a uniform random sample of `count` items, in the
    order they came, and how many items there were). Memory: the sample only."""
    if count is None:
        kept = list(items)
        return kept, len(kept)
    picked: List[Tuple[int, Item]] = []
    seen = 0
    for seen, item in enumerate(items, 1):
        if len(picked) < count:
            picked.append((seen, item))
            continue
        slot = randrange(seen)
        if slot < count:
            picked[slot] = (seen, item)
    picked.sort(key=lambda pair: pair[0])
    return [item for _, item in picked], seen


def in_groups(items: Iterable[Item], size: int = BATCH_FILES) -> Iterator[List[Item]]:
    """Yield the items in lists of `size` (the last may be shorter), reading them lazily."""
    group: List[Item] = []
    for item in items:
        group.append(item)
        if len(group) >= size:
            yield group
            group = []
    if group:
        yield group


def share_batches(sizes: Sequence[int], max_files: int = BATCH_FILES,
                  max_bytes: int = BATCH_BYTES) -> List[range]:
    """Given the sizes of files in order, return consecutive index ranges holding at most
    `max_files` files and `max_bytes` bytes each (a bigger file alone)."""
    batches: List[range] = []
    start, total = 0, 0
    for index, size in enumerate(sizes):
        if index > start and (index - start >= max_files or total + size > max_bytes):
            batches.append(range(start, index))
            start, total = index, 0
        total += size
    if start < len(sizes):
        batches.append(range(start, len(sizes)))
    return batches


def batch_timeout(source_timeout: float, batch_bytes: int) -> float:
    """Return the seconds a batch of `batch_bytes` bytes may take on the share."""
    return source_timeout + batch_bytes / SLOWEST_BYTES_PER_SECOND


# ---------------------------------------------------------------- judging a pair

def copy_state(recorded: Optional[bytes], actual: Optional[bytes]) -> Copy:
    """Given the checksum recorded for the snapshot's inode (None: none) and the one just
    read from it, return whether the copy is intact."""
    if recorded is None or actual is None:
        return Copy.NOT_RECORDED
    return Copy.INTACT if recorded == actual else Copy.DAMAGED


def classify(snapshot: Look, share: Look) -> Tuple[Verdict, Optional[str]]:
    """Given both sides of a pair, return its verdict and, for GONE and UNREADABLE, the
    words for what was seen. Same size and time is what rsync's quick check calls
    unchanged (times compared to the nanosecond, as rsync does)."""
    if snapshot.error is not None or snapshot.sha256 is None:
        return Verdict.UNREADABLE, f"in the snapshot: {snapshot.error or 'not read'}"
    if share.absent:
        return Verdict.GONE, share.error
    if share.error is not None:
        return Verdict.UNREADABLE, f"on the share: {share.error}"
    if share.moving or (share.size, share.mtime_ns) != (snapshot.size, snapshot.mtime_ns):
        return Verdict.CHANGED_SINCE, None
    return (Verdict.SAME if share.sha256 == snapshot.sha256 else Verdict.DIFFERS), None


def needs_telling(report: Report) -> bool:
    """True when the report holds damage to tell as a failure: a pair that DIFFERS, or a
    snapshot copy that no longer matches its checksum."""
    return any(item.verdict is Verdict.DIFFERS or item.copy is Copy.DAMAGED for item in report.named)


def exit_code(report: Report) -> int:
    """0 when nothing differs and every chosen file was compared; 1 otherwise."""
    unfinished = report.problems or report.counts[Verdict.UNREADABLE] or report.compared < report.chosen
    return 1 if needs_telling(report) or unfinished else 0


# ---------------------------------------------------------------- words

def _plural(count: int, one: str, many: str) -> str:
    return f"{count:,} {one if count == 1 else many}"


def summary_line(report: Report) -> str:
    """Return the one line for the job, e.g. "job home: compared 200 of 12,345 files of
    daily.0 with the share: 197 same, 2 changed since, 1 gone, 0 differ"."""
    return f"job {report.job}: {comparison(report)}"


def comparison(report: Report) -> str:
    """Return summary_line without its "job NAME: "."""
    counts = report.counts
    line = (f"compared {report.compared:,} of "
            f"{_plural(report.files_in_snapshot, 'file', 'files')} of {report.snapshot} with the "
            f"share: {counts[Verdict.SAME]:,} same, {counts[Verdict.CHANGED_SINCE]:,} changed "
            f"since, {counts[Verdict.GONE]:,} gone, {counts[Verdict.DIFFERS]:,} differ")
    if counts[Verdict.UNREADABLE]:
        line += f", {counts[Verdict.UNREADABLE]:,} unreadable"
    damaged = sum(1 for item in report.named if item.copy is Copy.DAMAGED)
    if damaged:
        line += f"; {_plural(damaged, 'snapshot copy', 'snapshot copies')} damaged"
    return line


def log_line(report: Report) -> str:
    """Return info.log's line for a report with no damage (INFO, or WARNING when something
    could not be compared)."""
    problems = f" ({'; '.join(report.problems)})" if report.problems else ""
    return f"job {report.job}: verify --source: {comparison(report)}{problems}"


def damage_summary(report: Report) -> str:
    """Return the words for info.log's DAMAGED line: what was compared and the paths."""
    paths = [_shown(item.path) for item in report.named
             if item.verdict is Verdict.DIFFERS or item.copy is Copy.DAMAGED]
    more = f" and {len(paths) - SHOWN:,} more" if len(paths) > SHOWN else ""
    return (f"verify --source: {comparison(report)} "
            f"({', '.join(paths[:SHOWN])}{more})")


def _shown(path: bytes) -> str:
    """A path as the output shows it (bytes that are not UTF-8 escaped, never an error)."""
    return path.decode("utf-8", "backslashreplace")


def _restore(job: str, snapshot: str, path: bytes) -> str:
    return f"vhpi restore {shlex.quote(job)} {snapshot} {shlex.quote(_shown(path))} --overwrite"


def _differs_advice(report: Report, item: Compared) -> List[str]:
    """The lines under a DIFFERS pair: what the copy's checksum says, and what to do."""
    snapshot = report.snapshot
    if item.copy is Copy.DAMAGED:
        return [f"    {snapshot}'s copy no longer matches its recorded checksum: the backup disk "
                f"damaged it, and the share's file is probably the good one. The next backup "
                f"will not replace it (same size and time); `vhpi verify {report.job}` names "
                f"every snapshot that shares it."]
    if item.copy is Copy.INTACT:
        why = (f"    {snapshot}'s copy matches its recorded checksum, so the share's file changed "
               f"without a new modification time.")
    else:
        why = (f"    {snapshot}'s copy has no recorded checksum: vhpi cannot tell which side "
               f"changed; compare the two.")
    return [why,
            f"    Not intended (damage on the share)? Put the backed-up copy back: "
            f"{_restore(report.job, snapshot, item.path)}",
            "    Intended? The next backups will not copy it (rsync's quick check sees the same "
            "size and time): touch the file on the share, or add --checksum to the job's "
            "rsync_options."]


def finding_lines(report: Report) -> List[str]:
    """Return the lines after the summary: every pair that DIFFERS with its advice, every
    damaged copy, the unreadable files (the first SHOWN), and the problems."""
    lines: List[str] = []
    for item in report.named:
        if item.verdict is Verdict.DIFFERS:
            lines.append(f"  DIFFERS {_shown(item.path)}: same size and modification time as "
                         f"{report.snapshot}'s copy, other content.")
            lines.extend(_differs_advice(report, item))
        elif item.copy is Copy.DAMAGED:
            lines.append(f"  DAMAGED COPY {_shown(item.path)}: {report.snapshot}'s copy no longer "
                         f"matches its recorded checksum; run `vhpi verify {report.job}`.")
    unreadable = [item for item in report.named if item.verdict is Verdict.UNREADABLE]
    for item in unreadable[:SHOWN]:
        lines.append(f"  unreadable {_shown(item.path)}: {item.detail}")
    if len(unreadable) > SHOWN:
        lines.append(f"  ... and {len(unreadable) - SHOWN:,} more unreadable")
    lines.extend(f"  problem: {problem}" for problem in report.problems)
    return lines


def as_json(report: Report) -> dict:
    """Return the report as the JSON object `--json` prints."""
    return {
        "job": report.job, "snapshot": report.snapshot, "source": report.source,
        "all": report.whole, "files_in_snapshot": report.files_in_snapshot,
        "chosen": report.chosen, "compared": report.compared,
        "counts": {verdict.name.lower(): report.counts[verdict] for verdict in Verdict},
        "files": [{"path": _shown(item.path), "result": item.verdict.name.lower(),
                   "copy": item.copy.name.lower(), "detail": item.detail}
                  for item in report.named],
        "problems": list(report.problems),
        "ok": exit_code(report) == 0,
    }
