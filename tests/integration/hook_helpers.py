"""Shared by test_hooks.py and test_healthcheck.py: a recorder hook (a real process that
writes its VHPI_* environment, working folder, stdin and open files to a JSON-lines file)
and a config writer that knows app_cfg.hooks and app_cfg.healthcheck_url."""

import json
import shlex
import sys

import yaml

RECORDER = r'''
import json, os, sys
fds = {fd: os.readlink(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd")
       if os.path.exists(f"/proc/self/fd/{fd}")}
entry = {"tag": sys.argv[2], "cwd": os.getcwd(), "stdin": sys.stdin.read(), "fds": fds,
         "env": {k: v for k, v in os.environ.items() if k.startswith("VHPI_")}}
with open(sys.argv[1], "a") as out:
    out.write(json.dumps(entry) + "\n")
print(f"{sys.argv[2]} says hello")
sys.exit(int(sys.argv[3]) if len(sys.argv) > 3 else 0)
'''


def recorder(world):
    """Return a function making recorder hook commands (`record("job-before", 75)`);
    `record.entries()` reads what they wrote, `record.tags()` their tags in order."""
    script = world.root / "recorder.py"
    script.write_text(RECORDER)
    path = world.root / "hooks.jsonl"

    def command(tag: str, code: int = 0, then: str = "") -> str:
        line = shlex.join([sys.executable, str(script), str(path), tag, str(code)])
        return f"{then}{line}"

    def entries():
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines()]

    command.entries = entries
    command.tags = lambda: [entry["tag"] for entry in entries()]
    return command


def write_config(world, app=None, **job_keys):
    """The world's config with extra app_cfg keys (hooks, healthcheck_url) and job keys."""
    job = {"source_ip": "127.0.0.1", "rsync_src": str(world.source), "rsync_dest": str(world.dest),
           "snapshots": {"hourly": 3, "daily": 2}, **job_keys}
    config = {"app_cfg": {"intervals": {"hourly": 3600, "daily": 86400}, **(app or {})},
              "jobs_cfg": [job]}
    world.config.write_text(yaml.safe_dump(config))
