"""`vhpi init`: writes a commented config (mode 0600, in a folder of mode 0700) at the path
--config names, ~/.very_hungry_pi/config.yaml by default; never overwrites anything; says
what to do next. The text comes from vhpi.config.template, which also is the shipped example;
the written config validates as it is (its made-up paths need not exist) and, with the job's
host and paths filled in, passes `vhpi check` and backs up."""

import ipaddress
import os
import re
import stat

import yaml

from tests.conftest import REPO
from tests.integration.helpers import describe, manifest, vhpi, write_files
from vhpi.config.template import EXAMPLE_VALUES, INIT_VALUES, STANDARD_INTERVALS, render_config
from vhpi.decide.rsync_options import DEFAULT_RSYNC_OPTIONS
from vhpi.main import load_config


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def fill_in_the_job(text, host, source, destination):
    """Return the config `text` with only the job's host, source and destination replaced,
    as a user who edits nothing else would leave it."""
    for old, new in ((f"'{INIT_VALUES.source_ip}'", f"'{host}'"),
                     (INIT_VALUES.source, f"{source}/"),
                     (INIT_VALUES.destination, f"{destination}/")):
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


def test_init_writes_the_default_config_privately_and_says_what_next(world):
    target = world.home / ".very_hungry_pi" / "config.yaml"
    assert not (world.home / ".very_hungry_pi").exists()

    result = vhpi(world, "init", config=False, umask=0)  # a umask of 0 must not open the file up

    assert result.returncode == 0, describe(result, world)
    assert target.read_text() == render_config(INIT_VALUES)
    assert mode(target) == 0o600
    assert mode((world.home / ".very_hungry_pi")) == 0o700
    assert result.stderr == ""
    out = result.stdout
    assert out.startswith(f"wrote {target}\n"), out
    for hint in (".backup_valid", ".backup_destination", "vhpi check", "source", "destination"):
        assert hint in out, (hint, out)


def test_init_writes_where_config_points_before_or_after_the_command(world):
    before = world.root / "new" / "before.yaml"
    after = world.root / "other" / "after.yaml"
    ignored = world.root / "ignored.yaml"

    first = vhpi(world, "init", config=before)
    second = vhpi(world, "init", "--config", str(after), config=ignored)

    assert first.returncode == 0 and second.returncode == 0, (first.stderr, second.stderr)
    assert before.read_text() == after.read_text() == render_config(INIT_VALUES)
    assert mode(before.parent) == mode(after.parent) == 0o700
    assert mode(before) == mode(after) == 0o600
    assert not ignored.exists(), "the --config after the command wins"
    assert not (world.home / ".very_hungry_pi").joinpath("config.yaml").exists()
    assert f"wrote {after}" in second.stdout


def test_init_keeps_an_existing_folder_as_it_is(world):
    folder = world.root / "shared"
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o755)

    result = vhpi(world, "init", config=folder / "c.yaml")

    assert result.returncode == 0, result.stderr
    assert mode(folder) == 0o755
    assert mode(folder / "c.yaml") == 0o600


def test_init_never_overwrites_a_config(world):
    target = world.home / ".very_hungry_pi" / "config.yaml"
    (world.home / ".very_hungry_pi").mkdir()
    target.write_text("# mine, carefully edited\n")
    os.chmod(target, 0o640)

    result = vhpi(world, "init", config=False)

    assert result.returncode == 1, describe(result, world)
    assert target.read_text() == "# mine, carefully edited\n"
    assert mode(target) == 0o640
    assert result.stdout == ""
    assert str(target) in result.stderr and "already exists" in result.stderr
    assert "vhpi check" in result.stderr
    assert "Traceback" not in result.stderr


def test_init_does_not_write_through_a_symlink(world):
    elsewhere = world.root / "elsewhere.yaml"
    dangling = world.root / "dangling.yaml"
    dangling.symlink_to(elsewhere)
    existing_target = world.root / "target.yaml"
    existing_target.write_text("keep me\n")
    link = world.root / "link.yaml"
    link.symlink_to(existing_target)

    for path in (dangling, link):
        result = vhpi(world, "init", config=path)
        assert result.returncode == 1, describe(result, world)
        assert "already exists" in result.stderr
        assert os.path.islink(path)
    assert not elsewhere.exists(), "init created a file through a dangling symlink"
    assert existing_target.read_text() == "keep me\n"


def test_init_reports_a_path_it_cannot_create(world):
    blocker = world.root / "a-file"
    blocker.write_text("not a folder")

    result = vhpi(world, "init", config=blocker / "config.yaml")

    assert result.returncode == 1, describe(result, world)
    assert result.stderr.startswith(f"vhpi init: cannot write {blocker / 'config.yaml'}: "), result.stderr
    assert "Traceback" not in result.stderr
    assert blocker.read_text() == "not a folder"


def test_init_does_not_need_or_read_a_config(world):
    world.config.write_text("this: [is not: a valid config\n")
    target = world.root / "fresh.yaml"

    result = vhpi(world, "init", "--config", str(target), code=0)

    assert target.read_text() == render_config(INIT_VALUES)
    assert result.stderr == ""


# ---------------------------------------------------------------- the template itself

def test_the_shipped_example_is_the_template_with_the_example_values():
    shipped = (REPO / "example" / "config" / "config.yaml").read_text(encoding="utf-8")
    assert shipped == render_config(EXAMPLE_VALUES)


def test_the_init_config_validates_although_its_paths_do_not_exist(tmp_path):
    path = tmp_path / "config.yaml"
    text = render_config(INIT_VALUES)
    path.write_text(text)
    assert not os.path.exists(INIT_VALUES.source) and not os.path.exists(INIT_VALUES.destination)

    config = load_config(str(path))

    assert config.intervals == STANDARD_INTERVALS
    (job,) = config.jobs
    assert job.name == "laptop"
    assert job.source_ip == INIT_VALUES.source_ip
    assert job.source == INIT_VALUES.source.rstrip("/")
    assert job.destination == INIT_VALUES.destination.rstrip("/")
    assert job.keep_counts == INIT_VALUES.keep_counts
    assert set(job.keep_counts) == set(STANDARD_INTERVALS), "every interval is offered"
    assert job.rsync_options == tuple(DEFAULT_RSYNC_OPTIONS.split())
    assert job.warnings == ()
    assert job.excludes == (), "the job excludes nothing the user did not uncomment"
    assert DEFAULT_RSYNC_OPTIONS in text
    assert text.count(DEFAULT_RSYNC_OPTIONS) == 2, "the option line and its comment naming the default"
    intervals_line = re.search(r"^  intervals: (\{.*\})$", text, re.M).group(1)
    assert yaml.safe_load(intervals_line) == STANDARD_INTERVALS


def test_the_example_config_validates_too(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(render_config(EXAMPLE_VALUES))
    config = load_config(str(path))
    assert config.intervals == STANDARD_INTERVALS
    (job,) = config.jobs
    assert job.source == str(tmp_path / "tests" / "dummy_src" / "src1")  # relative to the file
    assert job.keep_counts == EXAMPLE_VALUES.keep_counts


def test_the_commented_out_settings_validate_once_uncommented(tmp_path):
    text = render_config(INIT_VALUES)
    uncommented, count = re.subn(r"^(\s*)# ((?:hooks|healthcheck_url|another_list|exclude_lists|excludes|"
                                 r"source_timeout|stale_after|snapshot_group): )",
                                 r"\1\2", text, flags=re.M)
    assert count == 12, uncommented
    path = tmp_path / "config.yaml"
    path.write_text(uncommented)

    config = load_config(str(path))

    assert config.hooks.before == "mount /mnt/laptop"
    assert config.hooks.after_failure == "mail -s vhpi me < /dev/null"
    assert config.healthcheck_url == "https://hc-ping.com/your-uuid"
    (job,) = config.jobs
    assert job.hooks.before == "wakeonlan 00:11:22:33:44:55 && sleep 60"
    assert job.healthcheck_url == "https://hc-ping.com/another-uuid"
    assert set(job.excludes) == {"lost+found/*", ".cache/chromium/*", ".mozilla/firefox/*/Cache",
                                 ".cache/thumbnails/*", ".local/share/Trash/*", "downloads", "tmp"}


def test_the_init_job_with_only_host_source_and_destination_filled_in_excludes_nothing(tmp_path):
    """A user who edits only the host, source and destination loses nothing from the backup:
    the example exclude lists and patterns are comments until uncommented."""
    text = fill_in_the_job(render_config(INIT_VALUES), "127.0.0.1", tmp_path / "share", tmp_path / "disk")
    path = tmp_path / "config.yaml"
    path.write_text(text)

    (job,) = load_config(str(path)).jobs

    assert job.excludes == ()
    assert job.warnings == ()
    template = render_config(INIT_VALUES)
    live = [line.split(" #")[0] for line in template.splitlines() if not line.lstrip().startswith("#")]
    for placeholder in ("downloads", "tmp", "some_dir", "another_list", "exclude_lists:", "excludes:"):
        assert not any(placeholder in line for line in live), placeholder
        assert placeholder in template, f"{placeholder} is still shown, as a comment"


def test_the_init_host_is_a_placeholder_that_cannot_be_a_real_host():
    """Not a real-looking LAN address: a name in the reserved .invalid domain (RFC 6761),
    which can never be a real host, and says it is to be replaced."""
    host = INIT_VALUES.source_ip
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        raise AssertionError(f"{host} looks like a real address")
    assert host.endswith(".invalid") and "replace" in host.lower(), host


def test_an_init_config_with_the_job_filled_in_checks_and_backs_up(world):
    world.config.unlink()
    vhpi(world, "init", code=0)
    text = fill_in_the_job(world.config.read_text(), "127.0.0.1", world.source, world.dest)
    assert "192.168." not in text and ".invalid" not in text  # no packet may go anywhere but 127.0.0.1
    world.config.write_text(text)
    write_files(world.source, {"letter.txt": "dear grandma", "downloads/big.iso": "kept",
                               "tmp/x": "kept", "some_dir/x": "kept"})

    checked = vhpi(world, "check", code=0)
    assert "FAIL" not in checked.stdout
    assert "ok    job laptop: source: " in checked.stdout, checked.stdout
    vhpi(world, code=0)

    active = [name for name, keep in INIT_VALUES.keep_counts.items() if keep > 0]
    assert world.snapshots() == sorted(f"{name}.0" for name in active)
    for name in active:
        assert (world.dest / f"{name}.0" / "letter.txt").read_text() == "dear grandma"
        for kept in ("downloads/big.iso", "tmp/x", "some_dir/x"):  # nothing excluded unasked
            assert (world.dest / f"{name}.0" / kept).read_text() == "kept"
    assert manifest(world.dest / "hourly.0") == manifest(world.dest / "backup.latest")
