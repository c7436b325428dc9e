"""What must hold after any crash, written once: a ledger of the source states vhpi really
backed up, the snapshots each interval must hold because of them, and the checks.

    every `<interval>.<n>` equals exactly one recorded source state (content, mode, mtime)
    per interval the states are in order, `.0` the newest finished run's state
    the numbering has no gap and the count is min(keep, completed rotations): no snapshot
        lost other than the one each rotation was meant to drop
    no `.vhpi/work/building.*`, `ready.*` or `trash.*` left after a finished run
    a file in a snapshot keeps its inode, mode and mtime for as long as the snapshot lives

(With a keep count lowered below what an interval holds, a rotation still drops only one
snapshot, so the count stays where it was: the ledger models that too.)

Two weaker forms: on the state a crash left, before the recovery run ("crashed"), minus
what a crash may leave half done (a gap in the middle of a rotation, a snapshot still in
the trash or in `ready.*`, backup.latest half updated): still, nothing is ever named
`<interval>.<n>` before it is complete, and the states are in order. After a recovery run
that then failed (e.g. the source share not mounted yet: "failed"), each interval holds
either what it held or that plus the interrupted run's state (its rotation finished), with
no gap and no work folder left; an interval whose rotation the crash cut between its drop
and its new tree being ready (the recycle path of vhpi.act.snapshots: the dropped snapshot
was being turned into the new one) may instead hold what it held minus exactly the one that
rotation drops, and only when it was at its keep count (the test names such intervals:
`cut`). The next finished run must then make the interrupted run's snapshot itself, and
the count is again min(keep, completed rotations).
"""

from __future__ import annotations

import os
import re
from collections import Counter
from typing import Dict, List, Optional, Tuple

from tests.integration.helpers import manifest, walk, work_leftovers

TOP_LEVEL = {".backup_destination", ".vhpi", "backup.latest"}
Manifest = Dict[bytes, tuple]


def tree_manifest(root) -> Manifest:
    """{relative path: entry} as tests.integration.helpers.manifest gives it (kind, mode,
    content digest, symlink target), plus the mtime (ns) of every regular file."""
    root_b = os.fsencode(str(root))
    found = manifest(root)
    for relative, entry in found.items():
        if entry[0] == "f":
            found[relative] = entry + (os.lstat(os.path.join(root_b, relative)).st_mtime_ns,)
    return found


def file_inodes(root) -> Dict[bytes, Tuple[int, int, int]]:
    """{relative path: (inode, mode, mtime ns)} of everything below `root` but folders."""
    root_b = os.fsencode(str(root))
    found = {}
    for folder, subfolders, files in walk(root_b):
        for name in files + [n for n in subfolders if os.path.islink(os.path.join(folder, n))]:
            full = os.path.join(folder, name)
            st = os.lstat(full)
            found[os.path.relpath(full, root_b)] = (st.st_ino, st.st_mode, st.st_mtime_ns)
    return found


def _diff(expected: Manifest, found: Manifest) -> str:
    missing = sorted(set(expected) - set(found))[:5]
    extra = sorted(set(found) - set(expected))[:5]
    changed = [(k, expected[k], found[k]) for k in sorted(set(expected) & set(found))
               if expected[k] != found[k]][:5]
    return f"missing {missing}, extra {extra}, changed {changed}"


class Ledger:
    """The source states that runs started with, and what each interval must hold."""

    def __init__(self, keep: Dict[str, int]):
        self.keep = dict(keep)
        self.states: List[Manifest] = []
        self.expected: Dict[str, List[int]] = {interval: [] for interval in keep}  # .0 first
        self.rotations: Counter = Counter()
        self.inodes: Dict[Tuple[str, int], Dict[bytes, tuple]] = {}
        self.current: Optional[int] = None
        self.lowered = False

    def set_keep(self, keep: Dict[str, int]) -> None:
        """The config's keep counts changed (for the runs from now on)."""
        self.lowered |= any(keep[interval] < self.keep[interval] for interval in keep)
        self.keep = dict(keep)

    def run_starts(self, source) -> int:
        """Record the source as a run starts; return its state id (the same id again when
        the source has not changed since the last state, e.g. for a recovery run)."""
        found = tree_manifest(source)
        if not self.states or self.states[-1] != found:
            self.states.append(found)
        self.current = len(self.states) - 1
        return self.current

    def run_finished(self, intervals=None) -> None:
        """A run over the current state finished: each due interval holds it as `.0` and
        has dropped its oldest snapshot if it was at its keep count."""
        for interval in intervals or self.keep:
            self.expected[interval] = self._rotated(interval)
            self.rotations[interval] += 1

    def _rotated(self, interval: str) -> List[int]:
        """What `interval` holds once the current state's rotation is done: the oldest one
        dropped if it is at (or above) its keep count, never more than one."""
        held = self.expected[interval]
        if len(held) >= self.keep[interval]:
            held = held[:-1]
        return [self.current, *held]

    def _which_state(self, found: Manifest) -> List[int]:
        return [number for number, state in enumerate(self.states) if state == found]

    def _dropped_only(self, interval: str) -> Optional[List[int]]:
        """What `interval` holds when its rotation dropped its oldest snapshot and a crash
        lost the new tree: None when the rotation drops nothing (below its keep count)."""
        held = self.expected[interval]
        return held[:-1] if held and len(held) >= self.keep[interval] else None

    def check(self, world, campaign, note: str, mode: str = "finished",
              cut: Tuple[str, ...] = ()) -> None:
        """Check every invariant on the destination; tally; raise one AssertionError that
        names every violation. `mode`: "finished" after a run that went fine, "crashed" on
        the state a crash left, "failed" after a recovery run that failed later on. `cut`
        ("failed" only): intervals whose rotation the crash cut after their drop and
        before their new tree was ready (see the module docstring)."""
        assert mode in ("finished", "crashed", "failed"), mode
        assert not cut or mode == "failed", (mode, cut)
        dest = world.dest
        violations: List[str] = []
        checked = 0
        pattern = re.compile(r"(.+)\.(0|[1-9][0-9]*)")
        present: Dict[str, Dict[int, str]] = {interval: {} for interval in self.keep}
        for name in sorted(os.listdir(dest)):
            match = pattern.fullmatch(name)
            if name in TOP_LEVEL:
                continue
            if match and match.group(1) in present:
                present[match.group(1)][int(match.group(2))] = name
            else:
                violations.append(f"unexpected entry {name!r} in the destination")

        seen_keys = set()
        for interval, keep in self.keep.items():
            by_number = present[interval]
            numbers = sorted(by_number)
            expected = self.expected[interval]
            ids: List[Optional[int]] = []
            for number in numbers:
                path = dest / by_number[number]
                found = tree_manifest(path)
                checked += 1
                matches = self._which_state(found)
                if len(matches) != 1:
                    closest = expected[number] if number < len(expected) else (self.current or 0)
                    violations.append(
                        f"{by_number[number]} is not exactly one backed-up source state (matches "
                        f"{matches}); against state {closest}: {_diff(self.states[closest], found)}")
                    ids.append(None)
                    continue
                ids.append(matches[0])
                key = (interval, matches[0])
                seen_keys.add(key)
                violations += self._same_inodes(key, path, by_number[number],
                                                record=mode == "finished")
            known = [i for i in ids if i is not None]
            if known != sorted(known, reverse=True) or len(set(known)) != len(known):
                violations.append(f"{interval}: states out of order or repeated (.0 first): {ids}")
            if mode == "crashed":
                allowed = set(expected) | {self.current}
                stray = [i for i in known if i not in allowed]
                if stray:
                    violations.append(f"{interval}: holds states {stray}, never due for it "
                                      f"(allowed {sorted(allowed)})")
                continue
            if numbers != list(range(len(numbers))):
                violations.append(f"{interval}: numbering has gaps: {numbers}")
            if mode == "failed":
                allowed = [expected, self._rotated(interval)]
                if interval in cut and self._dropped_only(interval) is not None:
                    allowed.append(self._dropped_only(interval))
                if ids not in allowed:
                    violations.append(f"{interval}: holds states {ids} (.0 first), expected "
                                      f"{expected} or, rotated, {self._rotated(interval)}"
                                      + (f" or, its drop done and its new tree lost, "
                                         f"{allowed[2]}" if len(allowed) > 2 else ""))
                continue
            count = min(keep, self.rotations[interval])
            if self.lowered:
                count = len(expected)  # the count it had: one drop per rotation at most
            if len(numbers) != count:
                violations.append(f"{interval}: {len(numbers)} snapshots, expected {count} "
                                  f"(keep {keep}, {self.rotations[interval]} rotations)")
            if expected and ids[:1] != expected[:1]:
                violations.append(f"{interval}.0 holds state {ids[:1]}, not the newest finished "
                                  f"run's state {expected[0]}")
            if ids != expected:
                lost = [i for i in expected if i not in ids]
                violations.append(f"{interval}: holds states {ids} (.0 first), expected {expected}"
                                  + (f"; lost {lost}" if lost else ""))

        if mode != "crashed":
            # after a failed run, an interval cut after its recycled drop keeps one empty
            # trash.<interval>.recycled@<time> folder: the sign that its next rotation must
            # drop nothing (vhpi.act.snapshots.pending_recycled_drops); nothing else may stay
            pending = [name for name in work_leftovers(world)
                       if mode == "failed" and any(name.startswith(f"trash.{i}.recycled@") for i in cut)
                       and not os.listdir(world.dest / ".vhpi" / "work" / name)]
            left = [name for name in work_leftovers(world) if name not in pending]
            if left:
                violations.append(f"work folder left after a {mode} run: {left}")
        if mode == "finished":
            for key in set(self.inodes) - seen_keys:
                del self.inodes[key]  # dropped by a rotation, as it should be
            if self.current is not None:
                latest = tree_manifest(dest / "backup.latest")
                if latest != self.states[self.current]:
                    violations.append(f"backup.latest is not the last state: "
                                      f"{_diff(self.states[self.current], latest)}")

        campaign.add("snapshots checked", checked)
        if violations:
            campaign.add("snapshots lost", len(violations))
            raise AssertionError(f"{note}:\n  " + "\n  ".join(violations)
                                 + f"\n  destination: {sorted(os.listdir(dest))}"
                                 + f"\n  work: {work_leftovers(world)}")

    def _same_inodes(self, key, path, name: str, record: bool) -> List[str]:
        """Compare a snapshot's files with what was recorded for it after an earlier run."""
        now = file_inodes(path)
        before = self.inodes.get(key)
        if before is None:
            if record:
                self.inodes[key] = now
            return []
        changed = [(relative, before[relative], now.get(relative)) for relative in sorted(before)
                   if now.get(relative) != before[relative]]
        if not changed:
            return []
        return [f"{name} (state {key[1]}): {len(changed)} file(s) changed inode, mode or mtime "
                f"since an earlier run, e.g. {changed[:3]}"]
