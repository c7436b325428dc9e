"""What a verify (the `vhpi verify` command or a scrub step) found, as data, and the words
for it: the summary line, the JSON, and the advice for each damaged file. Pure."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence

from vhpi.decide.snapshot_names import LATEST_NAME
from vhpi.decide.units import human_bytes


class Finding(enum.Enum):
    """What one inode turned out to be."""

    INTACT = "intact"          # its bytes match the recorded checksum
    RECORDED = "recorded"      # no checksum was known (a disk from before them): now recorded
    DAMAGED = "damaged"        # other bytes than recorded, or the disk could not read them
    CHANGED = "changed"        # gone or replaced while verify ran (backup.latest, a rotation)


def finding_of(recorded: Optional[bytes], digest: Optional[bytes], read_error: bool) -> Finding:
    """Given the recorded checksum (None: none known), the digest just read (None: the file
    changed while it was read) and whether the disk failed to read it (EIO), return the
    Finding."""
    if read_error:
        return Finding.DAMAGED
    if digest is None:
        return Finding.CHANGED
    if recorded is None:
        return Finding.RECORDED
    return Finding.INTACT if recorded == digest else Finding.DAMAGED


@dataclass
class Damaged:
    """One damaged inode: its size, every path that names it (snapshot/path, sorted), the
    snapshots holding it, why (other bytes, or unreadable) and the advice for it."""

    size: int
    paths: List[str]
    snapshots: List[str]
    unreadable: bool = False
    advice: str = ""


@dataclass
class VerifyReport:
    """The figures of one verify of a job (or of a scrub step)."""

    job: str
    scope: str                              # "every snapshot", "daily.3", "scrub step"
    counts: Dict[str, int] = field(default_factory=lambda: {f.value: 0 for f in Finding})
    bytes_read: int = 0
    seconds: float = 0.0
    damaged: List[Damaged] = field(default_factory=list)
    problems: List[str] = field(default_factory=list)

    def add(self, finding: Finding, read: int) -> None:
        """Count one inode's finding and the bytes read for it."""
        self.counts[finding.value] += 1
        self.bytes_read += read

    @property
    def files(self) -> int:
        """Inodes looked at (each read once, whatever number of snapshots share it)."""
        return sum(self.counts.values())

    @property
    def fine(self) -> bool:
        """True when nothing is damaged and nothing stood in the way."""
        return not self.damaged and not self.problems


def summary_line(report: VerifyReport) -> str:
    """Return e.g. "job home: every snapshot: 12,034 files (3.1 GiB) read in 41.0 s (76.4
    MiB/s): 12,000 intact, 34 had no checksum (now recorded), 0 damaged"."""
    counts = report.counts
    speed = report.bytes_read / report.seconds if report.seconds > 0 else 0.0
    line = (f"job {report.job}: {report.scope}: {report.files:,} files "
            f"({human_bytes(report.bytes_read)}) read in {report.seconds:.1f} s "
            f"({human_bytes(int(speed))}/s): {counts[Finding.INTACT.value]:,} intact, "
            f"{counts[Finding.RECORDED.value]:,} had no checksum (now recorded), "
            f"{len(report.damaged):,} damaged")
    if counts[Finding.CHANGED.value]:
        line += f", {counts[Finding.CHANGED.value]:,} changed or gone while read (not checked)"
    return line


def damage_words(report: VerifyReport, limit: int = 3) -> str:
    """Return the words for the damage found, naming the first `limit` files."""
    names = [item.paths[0] for item in report.damaged[:limit]]
    more = len(report.damaged) - len(names)
    listed = ", ".join(names) + (f" and {more} more" if more > 0 else "")
    return (f"{len(report.damaged)} damaged file(s) in the backups ({listed}); see vhpi "
            f"verify {report.job} for the snapshots that share them and how to get a good copy")


def advice(good_copy: Optional[str], share_same: Optional[str], second_job: Optional[str],
           job: str, relative: str) -> str:
    """Return how to get a good copy of a damaged file back, given a snapshot holding an
    intact copy of it (another inode), the share's path when the share still has a file of
    the same size and time, and another job that backs up the same share. The damaged
    file is never overwritten by vhpi: its snapshots keep what they hold."""
    if good_copy is not None:
        return (f"snapshot {good_copy} holds an intact copy (another inode, matching its "
                f"checksum): vhpi restore {job} {good_copy} {relative} --to DIR")
    if share_same is not None:
        return (f"the share still has a file of the same size and time ({share_same}); if it "
                f"was not changed since, it is a good copy: check it with vhpi verify --source "
                f"{job}, then touch it on the share so that the next backup stores it afresh")
    if second_job is not None:
        return f"job {second_job} backs up the same share: look for it with vhpi versions {second_job} {relative}"
    return ("no other copy is known: the snapshots keep the damaged file as it is; copy the "
            "file from the share by hand if it still has it")


def as_json(report: VerifyReport) -> dict:
    """Return the report as plain data for --json."""
    return {"job": report.job, "scope": report.scope, "files": report.files,
            "counts": dict(report.counts), "bytes_read": report.bytes_read,
            "seconds": round(report.seconds, 3),
            "damaged": [{"size": item.size, "paths": item.paths, "snapshots": item.snapshots,
                         "unreadable": item.unreadable, "advice": item.advice}
                        for item in report.damaged],
            "problems": list(report.problems), "ok": report.fine}


def sort_paths(paths: Iterable[str]) -> List[str]:
    """Given paths as snapshot/path, return them sorted, those in backup.latest last (the
    snapshots are what a user restores from)."""
    return sorted(paths, key=lambda path: (path.startswith(LATEST_NAME + "/"), path))


def snapshots_of(paths: Sequence[str]) -> List[str]:
    """Given paths as snapshot/path, return the snapshots, each once, backup.latest last."""
    return sorted({path.split("/", 1)[0] for path in paths}, key=lambda name: (name == LATEST_NAME, name))
