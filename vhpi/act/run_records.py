"""vhpi's own record of each job's last run that did something, for `vhpi status`.

Stored in ~/.very_hungry_pi/last-runs.json (not on the backup disk: a run that failed
because the disk was gone must be recorded too):
    {"<job name>": {"at": 1763856000.0, "outcome": "ok", "ok": true,
                    "summary": "due hourly; done: ..."}}
"outcome" is a vhpi.decide.outcome.Outcome value; "ok" says whether it left the run's exit
code 0 (records of older versions have only "ok"). Runs that found nothing due, or another
run at work, are not recorded: the record keeps the last real work.
"""

from __future__ import annotations

import json
import os
from typing import Dict, Optional

from vhpi.act.files import write_json_atomically
from vhpi.act.home_trouble import note
from vhpi.act.lock import held_briefly
from vhpi.decide.outcome import Outcome

RECORDS_NAME = "last-runs.json"
#: Held while a record of vhpi's folder is rewritten (also by vhpi.act.destination).
RECORDS_LOCK = "records.lock"


def read_run_records(home: str) -> Dict[str, dict]:
    """Return {job name: {"at", "ok", "summary"}}; empty when there is no usable record."""
    try:
        with open(os.path.join(home, RECORDS_NAME), encoding="utf-8") as handle:
            records = json.load(handle)
    except (OSError, ValueError):
        return {}
    return {name: record for name, record in records.items() if isinstance(record, dict)} \
        if isinstance(records, dict) else {}


def record_run(home: str, job_name: str, at: float, outcome: Outcome, summary: str) -> None:
    """Remember the `outcome` of `job_name`'s run at `at` (best effort: a full home disk
    must not turn a good backup into a failed one)."""
    path = os.path.join(home, RECORDS_NAME)
    try:
        with held_briefly(os.path.join(home, RECORDS_LOCK)):  # overlapping runs: no lost update
            records = read_run_records(home)
            before = records.get(job_name, {})
            first = before.get("first_run", before.get("at", at))
            records[job_name] = {"at": at, "outcome": outcome.value, "ok": outcome.fine,
                                 "summary": summary,
                                 "first_run": min(first, at) if _is_time(first) else at}
            write_json_atomically(path, records)
    except OSError as error:
        note(path, error)


def first_run(home: str, job_name: str) -> Optional[float]:
    """Return when vhpi first recorded a run of `job_name` (None: never, or unreadable)."""
    when = read_run_records(home).get(job_name, {}).get("first_run")
    return float(when) if _is_time(when) else None


def _is_time(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def clamp_run_records(home: str, now: float) -> bool:
    """Set every job's last-run time later than `now` to `now` (--trust-clock: the clock was
    wrong when they were written); return True when a record changed. Best effort, like
    record_run."""
    path = os.path.join(home, RECORDS_NAME)
    try:
        with held_briefly(os.path.join(home, RECORDS_LOCK)):
            records = read_run_records(home)
            later = {name for name, record in records.items()
                     if any(_is_time(record.get(key)) and record[key] > now for key in ("at", "first_run"))}
            for name in later:
                for key in ("at", "first_run"):
                    if _is_time(records[name].get(key)):
                        records[name][key] = min(records[name][key], now)
            if later:
                write_json_atomically(path, records)
            return bool(later)
    except OSError as error:
        note(path, error)
        return False
