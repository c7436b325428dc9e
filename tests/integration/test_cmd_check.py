"""`vhpi check [--json]`: one line per check, `ok|note|FAIL  job NAME: what: detail`; exit 0
only when nothing FAILs (an offline host and a destination on the root file system are
notes). Real rsync, a real host check of 127.0.0.1, real mounts where the case needs one.

The destinations here are made 0700 first (a run makes them so; check only looks, and a
folder others can enter is a FAIL): see the `world` fixture below."""

import grp
import json
import os
import pwd
import re
import shutil
import socket
import stat
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import needs_root
from tests.fault.fault_helpers import dest_on_tmpfs, mounts
from tests.integration.helpers import NOBODY, describe, python_for_nobody, vhpi, write_files

_ = mounts  # the fixture (nobody_world comes from tests/integration/conftest.py)
LINE = re.compile(r"(ok|note|FAIL) {2,4}(?:job (\S+): )?([a-z][a-z ]*): (.*)")
AS_NOBODY = (shutil.which("setpriv") or "setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups")
METHODS = ("pythonping (raw ICMP socket)", "system ping command", "a TCP probe of ports")


JOB_CHECKS = ["host", "source", "source file system", "destination", "destination mode",
              "hard links", "free space"]


@pytest.fixture
def world(world):
    """The shared world, its destination 0700 as the first run makes it."""
    os.chmod(world.dest, 0o700)
    return world


@pytest.fixture
def nobody_world(nobody_world):
    os.chmod(nobody_world.dest, 0o700)
    return nobody_world


def private_dest_on_tmpfs(world, mounts, **sizes):
    """dest_on_tmpfs, and the tmpfs's root (1777 when mounted) made 0700 as a run makes it."""
    dest_on_tmpfs(world, mounts, **sizes)
    os.chmod(world.dest, 0o700)


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


def fs_type_of(path):
    return subprocess.run(["findmnt", "-n", "-o", "FSTYPE", "-T", str(path)], capture_output=True,
                          text=True, check=True).stdout.strip()


def me():
    """Who check says can reach a 0700 folder of the running user: "alice (and root)"."""
    name = pwd.getpwuid(os.geteuid()).pw_name
    return "root" if name == "root" else f"{name} (and root)"


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
    assert list(job) == JOB_CHECKS
    host = job["host"][1]
    assert host.startswith("127.0.0.1 answers (checked with "), host
    assert any(f"(checked with {method}" in host for method in METHODS), host
    if raw_icmp_allowed():  # then the first way works, and check must say it used it
        assert host == "127.0.0.1 answers (checked with pythonping (raw ICMP socket))"
    assert job["source"] == ("ok", f"{world.source} (sentinel present)")
    assert job["source file system"] == ("ok", f"{fs_type_of(world.source)}, mounted at {mount_point_of(world.source)}")
    assert job["destination mode"] == ("ok", f"{world.dest} is 0700: only {me()} can reach the snapshots")
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
    private_dest_on_tmpfs(world, mounts, size="1g")  # tmpfs takes memory only for what is written

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
    assert by_what(checks(result))["destination mode"] == (
        "note", f"{world.dest} does not exist yet; the first run into it makes it 0700, for its owner only")
    assert not world.dest.exists(), "check must never create the destination"


def test_a_read_only_destination_fails(world, mounts):
    # a file system of its own, remounted read-only (a bind mount on the same file system
    # would not be seen by os.path.ismount, so the mounts fixture could not clean it up)
    private_dest_on_tmpfs(world, mounts, size="1g")
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

    os.chmod(world.dest, 0o700)
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
    private_dest_on_tmpfs(world, mounts, size="8m")

    result = vhpi(world, "check", code=1)

    job = by_what(checks(result))
    assert job["destination"][0] == "ok"
    status, detail = job["free space"]
    assert status == "FAIL"
    assert detail.startswith("8.0 MiB free of 8.0 MiB, "), detail
    assert detail.endswith(": nearly full (vhpi wants at least 64.0 MiB and 4,096 inodes)"), detail


def test_a_destination_nearly_out_of_inodes_fails(world, mounts):
    private_dest_on_tmpfs(world, mounts, size="1g", nr_inodes=200)

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
    other_dest.mkdir(mode=0o700)
    (other_dest / ".backup_destination").write_text("")  # but no .backup_valid in its source
    jobs = [{"name": name, "source_ip": "127.0.0.1", "rsync_src": str(src), "rsync_dest": str(dst),
             "snapshots": {"hourly": 2}}
            for name, src, dst in (("fine", world.source, world.dest), ("broken", other_source, other_dest))]
    world.config.write_text(yaml.safe_dump({"app_cfg": {"intervals": {"hourly": 3600}}, "jobs_cfg": jobs}))

    result = vhpi(world, "check", code=1)

    found = checks(result)
    assert found[0][3] == f"{world.config}: valid, 2 job(s)"
    fine, broken = by_what(found, "fine"), by_what(found, "broken")
    assert list(fine) == JOB_CHECKS
    assert list(broken) == [what for what in JOB_CHECKS if what != "source file system"], "no look at a source that is not there"
    assert "FAIL" not in {status for status, _ in fine.values()}
    assert broken["source"][0] == "FAIL" and str(other_source) in broken["source"][1]
    assert [status for status, *_ in found].count("FAIL") == 1
    assert Path(world.dest).exists() and os.listdir(other_dest) == [".backup_destination"]


# ---------------------------------------------------------------- who can reach the snapshots


def mode_of(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def backed_up(world):
    """The world after one backup: its destination holds snapshots."""
    write_files(world.source, {"a.txt": "a"})
    vhpi(world, code=0)
    return world


def test_a_destination_others_can_enter_fails_naming_its_mode(world):
    backed_up(world)
    os.chmod(world.dest, 0o755)

    result = vhpi(world, "check", code=1)

    job = by_what(checks(result))
    assert job["destination mode"] == (
        "FAIL", f"{world.dest} is 0755: every account of this Pi can reach the snapshots; a run "
                f"makes it 0700, or now: chmod 700 {world.dest}")
    assert [what for status, _, what, _ in checks(result) if status == "FAIL"] == ["destination mode"]
    assert mode_of(world.dest) == 0o755, "check only looks: a run makes the destination private"


def test_others_with_only_the_x_bit_can_enter_too(world):
    backed_up(world)
    os.chmod(world.dest, 0o711)
    status, detail = by_what(checks(vhpi(world, "check", code=1)))["destination mode"]
    assert status == "FAIL" and detail.startswith(f"{world.dest} is 0711: every account"), detail


def test_a_private_destination_is_ok(world):
    assert mode_of(world.dest) == 0o700

    result = vhpi(world, "check", code=0)

    assert by_what(checks(result))["destination mode"] == (
        "ok", f"{world.dest} is 0700: only {me()} can reach the snapshots")


def test_a_group_that_is_not_the_snapshot_group_fails_and_the_snapshot_group_is_ok(world):
    backed_up(world)
    os.chmod(world.dest, 0o750)
    group = grp.getgrgid(os.stat(world.dest).st_gid).gr_name

    status, detail = by_what(checks(vhpi(world, "check", code=1)))["destination mode"]
    assert status == "FAIL"
    assert detail == (f"{world.dest} is 0750, group {group}: every member of {group} can reach the "
                      f"snapshots; a run makes it 0700, or now: chmod 700 {world.dest}")

    world.write_config(snapshot_group=group)
    status, detail = by_what(checks(vhpi(world, "check", code=0)))["destination mode"]
    assert status == "ok"
    who = "root and the members" if me() == "root" else f"{pwd.getpwuid(os.geteuid()).pw_name}, root and the members"
    assert detail == (f"{world.dest} is 0750, group {group}: only {who} of {group} can reach the "
                      f"snapshots (the group to read)")
    assert mode_of(world.dest) == 0o750


def test_a_new_empty_destination_that_others_can_enter_is_a_note_the_first_run_fixes(world):
    """A new user's `mkdir` gives 0755: their first `vhpi check` must not fail on what the
    first run fixes before anything is backed up there."""
    os.chmod(world.dest, 0o755)
    assert os.listdir(world.dest) == [".backup_destination"]

    status, detail = by_what(checks(vhpi(world, "check", code=0)))["destination mode"]

    assert status == "note", detail
    assert detail == (f"{world.dest} is 0755: every account of this Pi can reach the snapshots; "
                      f"nothing is backed up there yet, and the first run makes it private")
    write_files(world.source, {"a.txt": "a"})

    vhpi(world, code=0)

    assert mode_of(world.dest) == 0o700
    assert by_what(checks(vhpi(world, "check", code=0)))["destination mode"][0] == "ok"


# ---------------------------------------------------------------- a config others can read

URL = "http://127.0.0.1:9/ping/0c1b2a"


def config_mode_checks(result):
    return [(status, detail) for status, job, what, detail in checks(result) if what == "config mode"]


def test_a_config_others_can_read_with_a_healthcheck_url_is_a_note(world):
    world.write_config(healthcheck_url=URL)
    os.chmod(world.config, 0o644)

    result = vhpi(world, "check", code=0)

    assert config_mode_checks(result) == [
        ("note", f"{world.config} is 0644 and holds a healthcheck URL: every account of this Pi can "
                 f"read it; chmod 600 {world.config}")]
    assert checks(result)[1][2] == "config mode", "right after the config line"
    assert mode_of(world.config) == 0o644, "check changes nothing"


def test_a_config_its_group_can_read_with_a_hook_is_a_note(world):
    world.write_config(hooks={"after_failure": "true"})
    os.chmod(world.config, 0o640)
    group = grp.getgrgid(os.stat(world.config).st_gid).gr_name

    assert config_mode_checks(vhpi(world, "check", code=0)) == [
        ("note", f"{world.config} is 0640 and holds hooks: every member of group {group} can read "
                 f"it; chmod 600 {world.config}")]


def test_a_private_config_with_a_healthcheck_url_says_nothing(world):
    world.write_config(healthcheck_url=URL)
    os.chmod(world.config, 0o600)
    assert config_mode_checks(vhpi(world, "check", code=0)) == []


def test_a_readable_config_without_url_or_hook_says_nothing(world):
    os.chmod(world.config, 0o644)
    assert config_mode_checks(vhpi(world, "check", code=0)) == []


def test_a_config_others_can_change_fails(world):
    os.chmod(world.config, 0o666)

    result = vhpi(world, "check", code=1)

    assert config_mode_checks(result) == [
        ("FAIL", f"{world.config} is 0666: every account of this Pi can change it, and so add a hook "
                 f"that vhpi runs as its own user; chmod 600 {world.config}")]


# ---------------------------------------------------------------- the source's file system


def test_the_source_file_system_is_named(world, mounts):
    share = world.root / "share"
    share.mkdir()
    mounts.tmpfs(share, size="1m")
    (share / ".backup_valid").write_text("")
    world.write_config(rsync_src=str(share))

    result = vhpi(world, "check", code=0)

    assert by_what(checks(result))["source file system"] == ("ok", f"tmpfs, mounted at {share}")


def test_a_source_through_a_symlink_is_seen_where_it_really_is(world, mounts):
    share = world.root / "share"
    share.mkdir()
    mounts.tmpfs(share, size="1m")
    (share / ".backup_valid").write_text("")
    (world.root / "link").symlink_to(share)
    world.write_config(rsync_src=str(world.root / "link"))

    result = vhpi(world, "check", code=0)

    assert by_what(checks(result))["source file system"] == ("ok", f"tmpfs, mounted at {share}")


def _free_loopback_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def sshfs_share(world):
    """A real sshfs mount of a folder of this machine over ssh to 127.0.0.1 (an sshd of the
    test's own on a free loopback port), holding a .backup_valid; unmounted afterwards.
    Root only, and only where sshfs and sshd are installed."""
    sshd = "/usr/sbin/sshd"
    if os.geteuid() != 0:
        pytest.skip("needs root: starts an sshd and mounts sshfs")
    if shutil.which("sshfs") is None or not os.path.exists(sshd) or shutil.which("ssh-keygen") is None:
        pytest.skip("sshfs and openssh-server are not installed")
    keys = world.root / "ssh"
    keys.mkdir(mode=0o700)
    for name in ("host", "user"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(keys / name)], check=True)
    shutil.copy(keys / "user.pub", keys / "authorized_keys")
    port = _free_loopback_port()
    (keys / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {keys / 'host'}\nPermitRootLogin prohibit-password\n"
        f"AuthorizedKeysFile {keys / 'authorized_keys'}\nPasswordAuthentication no\nUsePAM no\n"
        f"StrictModes no\nPidFile none\nSubsystem sftp internal-sftp\n")
    os.makedirs("/run/sshd", exist_ok=True)  # sshd's privilege separation folder
    server = subprocess.Popen([sshd, "-D", "-e", "-f", str(keys / "sshd_config")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    remote, share = world.root / "laptop-home", world.root / "share"
    remote.mkdir()
    share.mkdir()
    (remote / ".backup_valid").write_text("")
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    pytest.skip(f"sshd did not start: {server.stderr.read1().decode(errors='replace')[-300:]}")
                time.sleep(0.1)
        mounted = subprocess.run(
            ["sshfs", "-o", f"port={port},IdentityFile={keys / 'user'},BatchMode=yes,"
             "StrictHostKeyChecking=no,UserKnownHostsFile=/dev/null",
             f"root@127.0.0.1:{remote}", str(share)], capture_output=True, text=True, timeout=30)
        if mounted.returncode != 0:
            pytest.skip(f"cannot mount sshfs here: {mounted.stderr.strip()}")
        try:
            yield share
        finally:
            subprocess.run(["fusermount", "-u", "-z", str(share)], capture_output=True)
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_an_sshfs_source_gets_a_note_naming_what_the_options_lose(world, sshfs_share):
    world.write_config(rsync_src=str(sshfs_share))  # the default options: -aHAXS
    assert fs_type_of(sshfs_share) == "fuse.sshfs"

    result = vhpi(world, "check", code=0)

    status, detail = by_what(checks(result))["source file system"]
    assert status == "note"
    assert detail.startswith(f"sshfs, mounted at {sshfs_share}; the copies lack what the rsync "
                             f"options ask for: -A: sshfs carries no ACLs"), detail
    assert "; -X: sshfs carries no extended attributes" in detail
    assert "; -H: sshfs shows hard-linked files as separate files" in detail
    assert by_what(checks(result))["source"][0] == "ok"


def test_an_sshfs_source_whose_options_ask_for_nothing_it_loses_is_ok(world, sshfs_share):
    world.write_config(rsync_src=str(sshfs_share), rsync_options="-a --delete")

    result = vhpi(world, "check", code=0)

    assert by_what(checks(result))["source file system"] == ("ok", f"sshfs, mounted at {sshfs_share}")
