"""The README's example outputs are what the commands print: scripts/readme_examples.py
runs them on a fixed world at fixed fake times, and every `$ vhpi ...` block in the README
must match its output. Only what differs from machine to machine is masked: free space
figures, how long rsync took, how many bytes it sent (its file lists carry nanosecond
times, which take more or fewer bytes), the way the host check reached 127.0.0.1, the
rsync version (Debian 12 has 3.2.7 and 3.5.0) and the type and mount point of the file
system the example lives on."""

import re
import sys

from tests.conftest import LIBFAKETIME, REPO

import pytest

sys.path.insert(0, str(REPO / "scripts"))
import readme_examples  # noqa: E402

MACHINE_FIGURES = re.compile(r"\d[\d,.]*")
HOST_CHECK = re.compile(r"\(checked with .*\)$")
RSYNC_SECONDS = re.compile(r"rsync \d+\.\d s")
BYTES_SENT = re.compile(r"\d+(\.\d)? (B|KiB|MiB|GiB) sent")
RSYNC_VERSION = re.compile(r"(rsync: version )\d+\.\d+\.\d+")
HARD_LINKS = re.compile(r"(hard links work) \(.*\)$")
SOURCE_FS = re.compile(r"(source file system: )\S+, mounted at \S+$")
DEDUP_SECONDS = re.compile(r"(from the index, )\d+\.\d s")
VERIFY_SPEED = re.compile(r"read in \d+\.\d s \(\d+(\.\d)? (B|KiB|MiB|GiB)/s\)")


def _masked(text: str) -> str:
    lines = []
    for line in text.splitlines():
        if "free" in line:
            line = MACHINE_FIGURES.sub("#", line)
        line = RSYNC_SECONDS.sub("rsync # s", line)
        line = BYTES_SENT.sub("# sent", line)
        line = RSYNC_VERSION.sub(r"\1#", line)
        line = HARD_LINKS.sub(r"\1 (…)", line)
        line = SOURCE_FS.sub(r"\1…", line)
        line = DEDUP_SECONDS.sub(r"\1# s", line)
        line = VERIFY_SPEED.sub("read in # s (#/s)", line)
        lines.append(HOST_CHECK.sub("(checked with …)", line))
    return "\n".join(lines)


def readme_examples_shown() -> list:
    """Return [(command line, output)] of every `$ vhpi` example in the README."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    shown = []
    for block in re.findall(r"```\n(\$ vhpi .*?)```", text, flags=re.S):
        for part in re.split(r"\n\n(?=\$ vhpi )", block.strip("\n")):
            command, _, output = part.partition("\n")
            shown.append((command[2:], output))
    return shown


@pytest.mark.skipif(LIBFAKETIME is None, reason="needs libfaketime (Debian package faketime)")
def test_every_readme_example_is_what_the_command_prints():
    """Every example counts, in order: the same command line may be shown twice with
    different outputs (a restore, then the same restore again), so they are compared as
    lists, never looked up by command line."""
    made = list(readme_examples.examples())
    shown = readme_examples_shown()
    assert len(shown) >= 10, shown
    assert [command for command, _ in shown] == [command for command, _ in made], \
        "the README must show the script's examples, each once, in the script's order"
    for (command, output), (_, printed) in zip(shown, made):
        assert _masked(output) == _masked(printed), command

