"""`vhpi check [--json]`: one line per check, `ok|note|FAIL  job NAME: what: detail`; exit 0
only when nothing FAILs (an offline host and a destination on the root file system are
notes). Real rsync, a real host check of 127.0.0.1, real mounts where the case needs one."""

import json
import os
import re
import shutil
import socket
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import needs_root
from tests.fault.fault_helpers import dest_on_tmpfs, mounts  # noqa: F401  (mounts: a fixture)
from tests.integration.conftest import nobody_world  # noqa: F401  (a fixture)
from tests.integration.helpers import NOBODY, describe, python_for_nobody, vhpi, write_files

LINE = re.compile(r"(ok|note|FAIL) {2,4}(?:job (\S+): )?([a-z][a-z ]*): (.*)")
AS_NOBODY = (shutil.which("setpriv") or "setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups")
METHODS = ("pythonping (raw ICMP socket)", "system ping command", "a TCP probe of ports")


def checks(result):
    """[(status, job, what, detail)] from check's text output; every line must be a check."""
    found = []
    for line in result.stdout.splitlines():
        match = LINE.fullmatch(line)
        assert match, f"not a check line: {line!r}\n{result.stdout}"
        status, job, what, detail = match.groups()
        assert line.startswith(f"{status:<5} "), line  # the status column is 5 wide
        found.append((status, job or "", what, detail))
    return found


def by_what(found, job="dest"):
    return {what: (status, detail) for status, name, what, detail in found if name == job}


def installed_rsync_version():
    out = subprocess.run(["rsync", "--version"], capture_output=True, text=True, check=True).stdout
    return re.search(r"version\s+v?(\d+\.\d+\.\d+)", out).group(1)


def mount_point_of(path):
    return subprocess.run(["findmnt", "-n", "-o", "TARGET", "-T", str(path)], capture_output=True,
                          text=True, check=True).stdout.strip()


def raw_icmp_allowed():
    try:
        socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP).close()
        return True
    except OSError:
        return False


def test_all_fine(world):
    result = vhpi(world, "check", code=0)

    found = checks(result)
    assert [(status, job, what) for status, job, what, _ in found][:4] == [
        ("ok", "", "config"), ("ok", "", "rsync"), ("ok", "dest", "host"), ("ok", "dest", "source")], found
    assert found[0][3] == f"{world.config}: valid, 1 job(s)"
    assert found[1][3] == f"version {installed_rsync_version()}"
    job = by_what(found)
    assert list(job) == ["host", "source", "destination", "hard links", "free space"]
    host = job["host"][1]
    assert host.startswith("127.0.0.1 answers (checked with "), host
    assert any(f"(checked with {method}" in host for method in METHODS), host
    if raw_icmp_allowed():  # then the first way works, and check must say it used it
        assert host == "127.0.0.1 answers (checked with pythonping (raw ICMP socket))"
    assert job["source"] == ("ok", f"{world.source} (sentinel present)")
    status, detail = job["destination"]
    mount = mount_point_of(world.dest)
    if mount == "/":
        assert status == "note" and detail == (f"{world.dest} marked, writable, on the root file "
                                               f"system (/): is that really the backup disk?")
    else:
        assert status == "ok" and detail == f"{world.dest} marked, writable, on the file system mounted at {mount}"
    status, detail = job["free space"]
    assert status == "ok"
    assert re.fullmatch(r"[\d.]+ (MiB|GiB|TiB) free of [\d.]+ (MiB|GiB|TiB), "
                        r"(no inode limit|[\d,]+ free inodes)", detail), detail
    assert result.stderr == ""
    assert not (world.dest / ".vhpi").exists(), "check must not write into the destination"


def test_all_ok_on_a_backup_disk_of_its_own(world, mounts):
    dest_on_tmpfs(world, mounts, size="1g")  # tmpfs takes memory only for what is written

    result = vhpi(world, "check", code=0)

    found = checks(result)
    assert {status for status, *_ in found} == {"ok"}, result.stdout
    job = by_what(found)
    assert job["destination"] == ("ok", f"{world.dest} marked, writable, on the file system "
                                        f"mounted at {world.dest}")
    assert job["free space"][1].startswith("1.0 GiB free of 1.0 GiB, "), job["free space"]


def test_an_empty_source_without_its_sentinel_is_an_unmounted_share(world):
    """An empty folder is a share that is not mounted: marking it would make the next run
    mirror an empty folder with --delete, so the hint is to mount it, never to touch."""
    (world.source / ".backup_valid").unlink()

    result = vhpi(world, "check", code=1)

    status, detail = by_what(checks(result))["source"]
    assert status == "FAIL"
    assert detail == (f"source {world.source} is empty and has no .backup_valid: the share is "
                      f"not mounted. Nothing was touched. Mount it (and check it with: vhpi check)")
    assert "touch " not in result.stdout


def test_a_source_without_its_sentinel_fails(world):
    (world.source / ".backup_valid").unlink()
    (world.source / "photo.jpg").write_text("a file: this folder is not an empty mountpoint")

    result = vhpi(world, "check", code=1)

    job = by_what(checks(result))
    status, detail = job["source"]
    assert status == "FAIL"
    assert detail.startswith(f"source {world.source} has no .backup_valid"), detail
    assert f"touch {world.source / '.backup_valid'}" in detail
    assert job["host"][0] == "ok" and job["free space"][0] == "ok", "the other checks still run"
    assert f"FAIL  job dest: source: source {world.source} has no .backup_valid" in result.stdout


def test_a_missing_source_fails(world):
    shutil.rmtree(world.source)
    status, detail = by_what(checks(vhpi(world, "check", code=1)))["source"]
    assert status == "FAIL" and "does not exist" in detail and str(world.source) in detail


def test_an_unmarked_destination_fails_with_the_touch_hint(world):
    (world.dest / ".backup_destination").unlink()

    result = vhpi(world, "check", code=1)

    job = by_what(checks(result))
    assert job["destination"][0] == "FAIL"
    assert job["destination"][1].endswith(f"mark it once with: touch {world.dest / '.backup_destination'}")
    assert "free space" not in job, "no free space figure for a destination that is not usable"
    assert job["source"][0] == "ok"
    assert os.listdir(world.dest) == []


def test_a_destination_used_before_that_lost_its_mark_fails_as_unmounted(world):
    write_files(world.source, {"a.txt": "a"})
    vhpi(world, code=0)
    (world.dest / ".backup_destination").unlink()

    result = vhpi(world, "check", code=1)

    status, detail = by_what(checks(result))["destination"]
    assert status == "FAIL"
    assert detail.startswith(f"vhpi has made snapshots in {world.dest} before, but its "
                             f".backup_destination is missing"), detail
    assert "not mounted" in detail


def test_a_missing_destination_fails(world):
    shutil.rmtree(world.dest)

    result = vhpi(world, "check", code=1)

    status, detail = by_what(checks(result))["destination"]
    assert status == "FAIL"
    assert detail.startswith(f"destination {world.dest} does not exist: is the backup disk mounted?")
    assert not world.dest.exists(), "check must never create the destination"


def test_a_read_only_destination_fails(world, mounts):
    # a file system of its own, remounted read-only (a bind mount on the same file system
    # would not be seen by os.path.ismount, so the mounts fixture could not clean it up)
    dest_on_tmpfs(world, mounts, size="1g")
    remount = subprocess.run(["mount", "-o", "remount,ro", str(world.dest)], capture_output=True, text=True)
    if remount.returncode != 0:
        pytest.skip(f"cannot remount read-only here: {remount.stderr.strip()}")
    with pytest.raises(OSError):
        (world.dest / "probe").write_text("")

    result = vhpi(world, "check", code=1)

    job = by_what(checks(result))
    assert job["destination"] == (
        "FAIL", f"destination {world.dest} is not writable for this user (or is mounted read-only)")
    assert "free space" not in job


def test_a_destination_the_user_cannot_write_fails(nobody_world):
    world = nobody_world
    python, env = python_for_nobody()
    if python is None:
        pytest.skip("no python that user nobody can run with vhpi's dependencies")
    os.chmod(world.dest, 0o555)

    result = vhpi(world, "check", prefix=AS_NOBODY, python=python, env=env, code=1)

    status, detail = by_what(checks(result))["destination"]
    assert status == "FAIL", result.stdout
    assert detail == f"destination {world.dest} is not writable for this user (or is mounted read-only)"

    os.chmod(world.dest, 0o755)
    vhpi(world, "check", prefix=AS_NOBODY, python=python, env=env, code=0)


def test_without_raw_sockets_or_ping_the_host_check_says_it_used_a_tcp_probe(nobody_world):
    world = nobody_world
    python, env = python_for_nobody()
    if python is None:
        pytest.skip("no python that user nobody can run with vhpi's dependencies")
    bin_dir = world.root / "bin"
    bin_dir.mkdir()
    (bin_dir / "rsync").symlink_to(shutil.which("rsync"))  # rsync, but no ping

    result = vhpi(world, "check", prefix=AS_NOBODY, python=python, env={**env, "PATH": str(bin_dir)}, code=0)

    assert by_what(checks(result))["host"] == (
        "ok", "127.0.0.1 answers (checked with a TCP probe of ports (445, 2049, 22, 139))")


@needs_root("an offline host is simulated with a network namespace (unshare --net)")
def test_an_offline_host_is_a_note_not_a_failure(world):
    result = vhpi(world, "check", prefix=("unshare", "--net"))

    assert result.returncode == 0, describe(result, world)
    status, detail = by_what(checks(result))["host"]
    assert status == "note"
    assert detail.startswith("127.0.0.1 does not answer now (checked with "), detail
    assert detail.endswith("a run skips the job while it is offline")
    assert any(f"(checked with {method}" in detail for method in METHODS), detail


def test_a_nearly_full_destination_fails(world, mounts):
    dest_on_tmpfs(world, mounts, size="8m")

    result = vhpi(world, "check", code=1)

    job = by_what(checks(result))
    assert job["destination"][0] == "ok"
    status, detail = job["free space"]
    assert status == "FAIL"
    assert detail.startswith("8.0 MiB free of 8.0 MiB, "), detail
    assert detail.endswith(": nearly full (vhpi wants at least 64.0 MiB and 4,096 inodes)"), detail


def test_a_destination_nearly_out_of_inodes_fails(world, mounts):
    dest_on_tmpfs(world, mounts, size="1g", nr_inodes=200)

    result = vhpi(world, "check", code=1)

    status, detail = by_what(checks(result))["free space"]
    assert status == "FAIL"
    free_inodes = int(re.search(r"([\d,]+) free inodes", detail).group(1).replace(",", ""))
    assert 0 < free_inodes < 200
    assert detail.startswith("1.0 GiB free of 1.0 GiB, "), detail
    assert "nearly full" in detail


def test_rsync_missing_from_path_fails(world):
    empty = world.root / "empty-bin"
    empty.mkdir()

    result = vhpi(world, "check", env={"PATH": str(empty)}, code=1)

    found = checks(result)
    status, job, what, detail = found[1]
    assert (status, job, what) == ("FAIL", "", "rsync"), found
    assert detail.startswith("cannot run rsync (") and detail.endswith("install it: apt-get install rsync")
    assert "Traceback" not in result.stderr
    assert by_what(found)["source"][0] == "ok"


def test_an_old_rsync_fails(world):
    bin_dir = world.root / "old-bin"
    bin_dir.mkdir()
    fake = bin_dir / "rsync"
    fake.write_text("#!/bin/sh\necho 'rsync  version 3.0.9  protocol version 30'\n")
    fake.chmod(0o755)

    result = vhpi(world, "check", env={"PATH": f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}"}, code=1)

    assert checks(result)[1] == ("FAIL", "", "rsync", "version 3.0.9 is too old; vhpi needs 3.1.0 or newer")

    fake.write_text("#!/bin/sh\necho 'this is not rsync'\n")
    result = vhpi(world, "check", env={"PATH": f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}"}, code=1)
    assert checks(result)[1] == ("FAIL", "", "rsync", "rsync --version did not say its version")


def test_an_invalid_config_exits_2_with_the_problems(world):
    world.config.write_text(yaml.safe_dump({
        "app_cfg": {"intervals": {"hourly": 3600}},
        "jobs_cfg": [{"source_ip": "127.0.0.1", "rsync_src": str(world.source),
                      "snapshots": {"hourly": 3, "fortnightly": 2}}]}))

    result = vhpi(world, "check", code=2)
    backup = vhpi(world, code=2)

    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0] == "vhpi: the config cannot be used (2 problems); nothing was done:"
    assert "  jobs_cfg[0].rsync_dest: missing" in lines
    assert "  jobs_cfg[0].snapshots.fortnightly: no such interval in app_cfg.intervals" in lines
    assert result.stderr == backup.stderr, "check reports the problems as a backup run does"


def test_a_missing_config_exits_2(world):
    world.config.unlink()
    result = vhpi(world, "check", code=2)
    assert result.stdout == ""
    assert f"{world.config}: no such config file" in result.stderr


def test_config_after_the_command_is_used(world):
    other = world.root / "other.yaml"
    world.config.rename(other)
    result = vhpi(world, "check", "--config", str(other), code=0)
    assert checks(result)[0][3] == f"{other}: valid, 1 job(s)"


def test_json_has_the_same_checks(world):
    (world.source / ".backup_valid").unlink()
    text = vhpi(world, "check", code=1)
    data = json.loads(vhpi(world, "check", "--json", code=1).stdout)

    assert isinstance(data, list) and all(set(item) == {"status", "job", "what", "detail"} for item in data)
    found = checks(text)
    assert [(i["status"], i["job"], i["what"]) for i in data] == [f[:3] for f in found]
    for item, line in zip(data, found):
        if item["what"] != "free space":  # free figures may move between the two runs
            assert item["detail"] == line[3]
    assert [i["what"] for i in data if i["status"] == "FAIL"] == ["source"]


def test_two_jobs_each_checked_on_its_own(world):
    other_source, other_dest = world.root / "other-source", world.root / "other-dest"
    other_source.mkdir()
    other_dest.mkdir()
    (other_dest / ".backup_destination").write_text("")  # but no .backup_valid in its source
    jobs = [{"name": name, "source_ip": "127.0.0.1", "rsync_src": str(src), "rsync_dest": str(dst),
             "snapshots": {"hourly": 2}}
            for name, src, dst in (("fine", world.source, world.dest), ("broken", other_source, other_dest))]
    world.config.write_text(yaml.safe_dump({"app_cfg": {"intervals": {"hourly": 3600}}, "jobs_cfg": jobs}))

    result = vhpi(world, "check", code=1)

    found = checks(result)
    assert found[0][3] == f"{world.config}: valid, 2 job(s)"
    fine, broken = by_what(found, "fine"), by_what(found, "broken")
    assert list(fine) == list(broken) == ["host", "source", "destination", "hard links", "free space"]
    assert "FAIL" not in {status for status, _ in fine.values()}
    assert broken["source"][0] == "FAIL" and str(other_source) in broken["source"][1]
    assert [status for status, *_ in found].count("FAIL") == 1
    assert Path(world.dest).exists() and os.listdir(other_dest) == [".backup_destination"]
