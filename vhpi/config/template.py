"""The commented config file, from one source: `vhpi init` writes it, and the shipped
example (example/config/config.yaml) is the same text with the example's values (a test
keeps the two equal). Defaults shown in it come from the validator's own constants.

The one job it makes copies everything: its example exclude lists and patterns are
comments, so a user who fills in only the host, source and destination loses nothing from
the backup. The `vhpi init` host is a name in the reserved `.invalid` domain (RFC 6761),
which validates but can never be a real host: an untouched config checks as "does not
answer", never as somebody's real LAN address."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict

from vhpi.config.model import DEFAULT_SOURCE_TIMEOUT, DEFAULT_STALE_AFTER
from vhpi.decide.rsync_options import DEFAULT_RSYNC_OPTIONS

#: The intervals a new config offers (seconds); a job turns each on with a keep count.
STANDARD_INTERVALS: Dict[str, int] = {
    "hourly": 3600, "six-hourly": 21600, "daily": 86400, "weekly": 604800,
    "monthly": 2592000, "yearly": 31536000,
}


@dataclass(frozen=True)
class TemplateValues:
    """What differs between the example and a fresh `vhpi init` config."""

    header: str
    source_ip: str
    source: str
    destination: str
    rsync_options: str
    keep_counts: Dict[str, int]


INIT_VALUES = TemplateValues(
    header="# vhpi configuration, written by `vhpi init`. Edit the job below, then run `vhpi check`.",
    source_ip="replace-me.invalid", source="/mnt/laptop/home/", destination="/media/backup/laptop/",
    rsync_options=DEFAULT_RSYNC_OPTIONS,
    keep_counts={"hourly": 24, "six-hourly": 0, "daily": 7, "weekly": 4, "monthly": 6, "yearly": 2},
)

EXAMPLE_VALUES = TemplateValues(
    header="# vhpi example configuration. Copy it to ~/.very_hungry_pi/config.yaml and edit.",
    source_ip="192.168.178.20", source="tests/dummy_src/src1/", destination="tests/dummy_dest/dest1/",
    rsync_options="-aAHSvX --delete",
    keep_counts={"hourly": 0, "six-hourly": 0, "daily": 7, "weekly": 4, "monthly": 6, "yearly": 6},
)


def _flow_mapping(values: Dict[str, int]) -> str:
    return "{" + ", ".join(f"{name}: {value}" for name, value in values.items()) + "}"


def _commented(text: str, comment: str, width: int = 42) -> str:
    """Return `text` with `# comment` starting at column `width` (or one space after)."""
    return f"{text.ljust(width - 1)} # {comment}"


def render_config(values: TemplateValues) -> str:
    """Return the commented YAML config text for `values`."""
    return f"""{values.header}
# Relative paths are taken relative to the folder that holds this file.
# Check it with `vhpi check`; see what a run would do with `vhpi --dry-run`.

app_cfg:
  # Named exclude lists that jobs can refer to with `exclude_lists`; a list excludes
  # nothing until a job names it.
  exclude_lib:
    standard_list: [lost+found/*, .cache/chromium/*, .mozilla/firefox/*/Cache, .cache/thumbnails/*, .local/share/Trash/*]
    # another_list: [some_dir]
  # Every interval a job may snapshot, with its length in seconds.
  intervals: {_flow_mapping(STANDARD_INTERVALS)}
  # Optional, for the whole run (each cron start). Commands run with /bin/sh -c; a
  # `before` command that exits 75 skips the run quietly.
  # hooks: {{before: 'mount /mnt/laptop', after_success: 'true', after_failure: 'mail -s vhpi me < /dev/null'}}
  # healthcheck_url: 'https://hc-ping.com/your-uuid'   # pinged at start, on success (URL) and failure (URL/fail)
  # Seconds a source may go without answering (a hung NFS or SMB share, a frozen sshfs)
  # before its job gives up on it and the run goes on; also per job.
  # source_timeout: {DEFAULT_SOURCE_TIMEOUT}
  # Seconds after which a job whose newest snapshot is older makes every run fail loudly
  # (a laptop away for weeks); also per job. Default {DEFAULT_STALE_AFTER} (3 days).
  # stale_after: {DEFAULT_STALE_AFTER}
  # The scrub: after the backup runs, in small steps at idle priority, vhpi re-reads every
  # byte of the backups once in this many seconds and compares it with its checksum (a
  # USB disk that rots is found before you need the file); also per job; 0 = no scrub.
  scrub_every: 2592000  # 30 days

jobs_cfg:
{_commented("  - name: laptop", "a short name for logs and commands (default: the destination's folder name)")}
{_commented(f"    source_ip: '{values.source_ip}'", "host (IP or name) that owns the share; 127.0.0.1 for a local source")}
{_commented(f"    rsync_src: {values.source}", "the mounted (or local) source folder; must hold .backup_valid")}
{_commented(f"    rsync_dest: {values.destination}", "where backup.latest and the snapshots live; must hold .backup_destination")}
{_commented(f"    rsync_options: '{values.rsync_options}'", f"raw rsync options (default: {DEFAULT_RSYNC_OPTIONS})")}
    snapshots: {_flow_mapping(values.keep_counts)}  # keep counts; 0 = off
    # Optional: what to leave out (rsync exclude patterns, relative to rsync_src). As
    # written the job copies everything; uncomment to exclude:
    # exclude_lists: [standard_list]        # lists from app_cfg.exclude_lib
    # excludes: [downloads, tmp]            # more patterns for this job only
    # Optional, this job's own source_timeout and stale_after, and a group whose members
    # may read its snapshots (otherwise only the account that runs vhpi can):
    # source_timeout: {DEFAULT_SOURCE_TIMEOUT}
    # stale_after: {DEFAULT_STALE_AFTER}
    # scrub_every: 0                        # this job's scrub period (0: none)
    # snapshot_group: backup-readers
    # Optional, only when an interval is due (exit 75 from `before` skips this job):
    # hooks: {{before: 'wakeonlan 00:11:22:33:44:55 && sleep 60', after_failure: 'logger vhpi failed'}}
    # healthcheck_url: 'https://hc-ping.com/another-uuid'
"""
