"""Running child processes (rsync, cp) in one place, streaming their output line by line."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections import deque
from dataclasses import dataclass
from typing import IO, Callable, Deque, List, Sequence, Tuple

from vhpi.act.checkpoints import checkpoint

#: Exit code reported when the program itself cannot be started (as a shell would).
NOT_FOUND = 127


def split_output(data: bytes) -> Tuple[List[bytes], bytes]:
    """Given buffered output, return (complete lines, the unfinished rest). Lines end at a
    newline; a carriage return also ends one (rsync's progress line rewrites itself with
    them), and the blank pieces around carriage returns are dropped. Output without
    carriage returns comes out line for line, blank lines included."""
    *complete, rest = data.split(b"\n")
    lines: List[bytes] = []
    for line in complete:
        lines.extend([line] if b"\r" not in line else [p for p in line.split(b"\r") if p.strip()])
    if b"\r" in rest:
        pieces = rest.split(b"\r")
        rest = pieces.pop()
        if not rest:  # it ends with a carriage return, which a newline may still follow
            rest = pieces.pop() + b"\r"
        lines.extend(piece for piece in pieces if piece.strip())
    return lines, rest


def _take_line(line: bytes, program: str, tail: Deque[str], on_line: Callable[[bytes], None]) -> None:
    checkpoint(f"{program}-line")
    tail.append(line.decode("utf-8", "replace"))
    on_line(line)


def run_streaming(argv: Sequence[str], on_line: Callable[[bytes], None],
                  keep_fds: Sequence[int] = (), tail_lines: int = 20) -> Tuple[int, Tuple[str, ...]]:
    """Run `argv` (never through a shell), calling `on_line` for each line of its merged
    stdout and stderr as it comes; nothing is held in memory but the last `tail_lines`.

    `keep_fds` stay open in the child: vhpi passes its lock so that a child orphaned by a
    killed vhpi still holds the lock until it ends. Returns (exit code, last lines).
    """
    tail: Deque[str] = deque(maxlen=tail_lines)
    program = os.path.basename(argv[0])
    try:
        process = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, pass_fds=tuple(keep_fds))
    except FileNotFoundError:
        return NOT_FOUND, (f"{argv[0]}: command not found",)
    checkpoint(f"{program}-started")
    try:
        with process.stdout:
            pending = b""
            for chunk in iter(lambda: process.stdout.read1(1 << 16), b""):
                lines, pending = split_output(pending + chunk)
                for line in lines:
                    _take_line(line, program, tail, on_line)
            for line in split_output(pending + b"\n")[0] if pending else ():
                _take_line(line, program, tail, on_line)
    except BaseException:
        process.kill()
        process.wait()
        raise
    return process.wait(), tuple(tail)



@dataclass
class BackgroundProcess:
    """A child started by start_in_background, with the file its output goes to."""

    process: subprocess.Popen
    output: IO[bytes]


def start_in_background(argv: Sequence[str], keep_fds: Sequence[int] = ()) -> BackgroundProcess:
    """Start `argv` (never through a shell) with its merged output going to an anonymous
    temporary file; collect it with finish_background. Raises OSError when it cannot start."""
    output = tempfile.TemporaryFile()
    try:
        process = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=output,
                                   stderr=subprocess.STDOUT, pass_fds=tuple(keep_fds))
    except BaseException:
        output.close()
        raise
    checkpoint(f"{os.path.basename(argv[0])}-started")
    return BackgroundProcess(process, output)


def finish_background(child: BackgroundProcess, tail_lines: int = 20) -> Tuple[int, Tuple[str, ...]]:
    """Wait for a child from start_in_background; return (exit code, last output lines)."""
    code = child.process.wait()
    with child.output:
        child.output.seek(0)
        tail = deque((raw.rstrip(b"\n").decode("utf-8", "replace") for raw in child.output),
                     maxlen=tail_lines)
    return code, tuple(tail)


def stop_background(child: BackgroundProcess) -> None:
    """Kill a child from start_in_background if it still runs, and reap it."""
    if child.process.poll() is None:
        child.process.kill()
    child.process.wait()
    child.output.close()
