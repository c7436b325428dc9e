"""The top folder's own copy pass (vhpi.act.transfer: "." with every top-level entry left
out) gets none of the job's filter rules. rsync takes the first rule that matches, so an
include (a `+ name` among the excludes, --include, or -F reading a .rsync-filter that the
share holds) ahead of the rule that leaves the top-level entries out would let that pass
set attributes, in place, on a top-level inode that every snapshot shares, when the share
changes it after the dry run (a live share, or a compromised laptop racing vhpi)."""

import os
import stat

import pytest

from tests.fault.fault_helpers import paused_vhpi
from tests.fault.test_between_passes import _assert_unchanged, _snapshots
from tests.integration.helpers import manifest, vhpi, write_config, write_files

OLD = 1_700_000_000
DEFAULT = "-aHAXS --delete --numeric-ids"
FILTERS = {
    "an include among the excludes": {"excludes": ["+ victim*"]},
    "--include in rsync_options": {"rsync_options": DEFAULT + " --include=victim*"},
    "-F and the share's .rsync-filter": {"rsync_options": DEFAULT + " -F"},
}


@pytest.mark.parametrize("keys", list(FILTERS.values()), ids=list(FILTERS))
def test_no_filter_rule_lets_the_top_folder_pass_touch_a_shared_inode(world, keys, campaign):
    write_config(world, **keys)
    write_files(world.source, {"victim.txt": "v", "other.txt": "o", ".rsync-filter": "+ victim*\n"},
                mtime=OLD)
    for name in ("victim.txt", "other.txt"):
        os.chmod(world.source / name, 0o644)
    vhpi(world, code=0)
    before = _snapshots(world)
    write_files(world.source, {"new.txt": "n"}, mtime=OLD)
    os.utime(world.source, (OLD + 3600, OLD + 3600))  # the top folder changed: its pass runs
    # held after the copy pass (rsync's 2nd run), before the top folder's own pass
    with paused_vhpi(world, "rsync-done:2", at="+2h") as run:
        os.chmod(world.source / "victim.txt", 0o600)
        code = run.resume()
    assert code == 0, world.info_log
    campaign.add("between-pass changes")
    assert "--exclude=/*" in (world.vhpi_home / "debug.log").read_text(errors="replace")
    _assert_unchanged(before, world, "after the top folder's pass")
    for snapshot in ("hourly.1", "daily.0"):
        assert stat.S_IMODE(os.lstat(world.dest / snapshot / "victim.txt").st_mode) == 0o644
    vhpi(world, at="+4h", code=0)
    _assert_unchanged(before, world, "after the next run")
    assert manifest(world.dest / "hourly.0") == manifest(world.source)
