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
from typing import Dict

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
            records[job_name] = {"at": at, "outcome": outcome.value, "ok": outcome.fine,
                                 "summary": summary}
            write_json_atomically(path, records)
    except OSError as error:
        note(path, error)
