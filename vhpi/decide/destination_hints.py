"""What to tell a user whose destination lost vhpi's records: the advice must never make
things worse. `--trust-clock` starts new records in the folder, so it is only offered when
the folder really is a backup disk: it holds snapshots, or it is on a file system of its
own. An empty, marked folder on the root file system (a mark left on the mount point of a
disk that is not mounted, on the SD card) gets "mount the disk" instead."""

from __future__ import annotations

TRUST_CLOCK = "run once with --trust-clock to start new records from now"


def lost_records_message(root: str, state: str, has_snapshots: bool, on_root_fs: bool) -> str:
    """Given the destination folder, its records file, whether the folder holds snapshot
    folders and whether it lies on the root file system (vhpi made snapshots for this
    destination before), return the message of the refused job."""
    if has_snapshots:
        return (f"vhpi's records ({state}) are missing, but snapshots were made here before. "
                f"Nothing was written. If the disk is the right one, {TRUST_CLOCK}.")
    gone = (f"vhpi made snapshots in {root} before, but it holds neither snapshots nor vhpi's "
            f"records now, only its .backup_destination mark: this is probably not the backup "
            f"disk. Nothing was written.")
    if on_root_fs:
        return (f"{gone} It is on the root file system (the SD card): mount the backup disk "
                f"there (`findmnt --target {root}` shows what is mounted) and remove the mark "
                f"the mount point holds.")
    return (f"{gone} Mount the backup disk (`findmnt --target {root}` shows what is mounted); "
            f"only if this is a new, empty backup disk on purpose, {TRUST_CLOCK}.")
