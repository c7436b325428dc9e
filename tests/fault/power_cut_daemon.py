"""The FUSE daemon behind tests/fault/power_cut_disk.py: one file, /disk.img, that behaves
like a disk with a volatile write cache. Run as its own process:

    python power_cut_daemon.py IMAGE MOUNTPOINT --control SOCKET [--parent PID]

IMAGE is the real file that holds what the disk has made durable. A write is only kept in
memory (a map of dirty 4 KiB blocks, read back through it); the dirty blocks are written
to IMAGE and fdatasync'ed when a flush reaches the daemon: FUSE_FSYNC (which the loop
driver sends for every REQ_OP_FLUSH, that is for every cache flush and FUA write ext4
asks for), and FUSE_FLUSH / FUSE_RELEASE (a close of the file).

A cut (the line "cut" on the control socket, or SIGUSR1) drops every dirty block at once;
from then on the daemon accepts writes and flushes and throws them away, so IMAGE stays
exactly as it was at the last flush before the cut, while the file system above goes on
believing its writes succeeded. Reads after a cut return IMAGE's content.

The control socket (a Unix socket, a line in, a JSON line out) also answers "stats":
counters of writes, flushes, persisted and dropped blocks, and whether it was cut.

Mounted with direct_io: the kernel then keeps no page cache for disk.img, so every read
and write the loop driver makes reaches the daemon at once, and reads come from the
daemon's view (dirty map over IMAGE), never from a second copy in the host's page cache.
Without it, FUSE (libfuse 2, no writeback cache) would still pass each write through at
once, but would also keep the pages in its own cache and serve reads from there, a
cache layer a real disk does not have. Flushes are the same either way (the loop
driver's vfs_fsync becomes FUSE_FSYNC)."""

import argparse
import ctypes
import errno
import json
import os
import signal
import socket
import stat
import sys
import threading
import time
from collections import Counter

from fuse import FUSE, FuseOSError

BLOCK = 4096
NAME = "/disk.img"


class Disk:
    """The disk's state: durable IMAGE plus a dirty block map, and the cut switch."""

    def __init__(self, image: str):
        self.fd = os.open(image, os.O_RDWR)
        self.size = os.fstat(self.fd).st_size
        self.dirty = {}
        self.cut = False
        self.stats = Counter()
        self.lock = threading.Lock()

    def _block(self, index: int) -> bytearray:
        """The current content of block `index`: dirty copy, else from IMAGE."""
        if index in self.dirty:
            return self.dirty[index]
        data = os.pread(self.fd, BLOCK, index * BLOCK)
        return bytearray(data.ljust(BLOCK, b"\0"))

    def read(self, size: int, offset: int) -> bytes:
        size = max(0, min(size, self.size - offset))
        with self.lock:
            out = bytearray(os.pread(self.fd, size, offset).ljust(size, b"\0"))
            first, last = offset // BLOCK, (offset + size - 1) // BLOCK
            for index in range(first, last + 1) if size else ():
                if index in self.dirty:
                    start = max(offset, index * BLOCK)
                    end = min(offset + size, (index + 1) * BLOCK)
                    out[start - offset:end - offset] = \
                        self.dirty[index][start - index * BLOCK:end - index * BLOCK]
            self.stats["reads"] += 1
        return bytes(out)

    def write(self, data: bytes, offset: int) -> int:
        if offset + len(data) > self.size:
            raise FuseOSError(errno.ENOSPC)
        with self.lock:
            if self.cut:
                self.stats["writes after cut"] += 1
                return len(data)
            position = offset
            while position < offset + len(data):
                index = position // BLOCK
                inner = position - index * BLOCK
                take = min(BLOCK - inner, offset + len(data) - position)
                block = self._block(index)
                block[inner:inner + take] = data[position - offset:position - offset + take]
                self.dirty[index] = block
                position += take
            self.stats["writes"] += 1
            self.stats["bytes written"] += len(data)
        return len(data)

    def persist(self, reason: str) -> None:
        """Make every dirty block durable (unless cut), counting the flush as `reason`."""
        with self.lock:
            if self.cut:
                self.stats[f"{reason} after cut"] += 1
                return
            for index in sorted(self.dirty):
                end = min(BLOCK, self.size - index * BLOCK)  # the last block may be short
                os.pwrite(self.fd, bytes(self.dirty[index][:end]), index * BLOCK)
            if self.dirty:
                os.fdatasync(self.fd)
            self.stats[reason] += 1
            self.stats["blocks persisted"] += len(self.dirty)
            self.dirty.clear()

    def power_cut(self) -> None:
        with self.lock:
            if not self.cut:
                self.stats["blocks dropped"] += len(self.dirty)
                self.dirty.clear()
                self.cut = True

    def report(self) -> dict:
        with self.lock:
            found = dict(self.stats)
            found.update(cut=self.cut, dirty_blocks=len(self.dirty), size=self.size)
        return found


class DiskFile:
    """fusepy operations for a root folder holding the one file disk.img."""

    use_ns = True

    def __init__(self, disk: Disk):
        self.disk = disk
        self.started = time.time_ns()

    def __call__(self, op, *args):
        handler = getattr(self, "op_" + op, None)
        if handler is None:
            raise FuseOSError(errno.ENOSYS)
        return handler(*args)

    def __getattr__(self, name):
        if "op_" + name in type(self).__dict__:
            return True
        raise AttributeError(name)

    def op_getattr(self, path, fh=None):
        times = dict(st_atime=self.started, st_mtime=self.started, st_ctime=self.started)
        if path == "/":
            return dict(st_mode=stat.S_IFDIR | 0o755, st_nlink=2, **times)
        if path == NAME:
            return dict(st_mode=stat.S_IFREG | 0o600, st_nlink=1, st_size=self.disk.size,
                        st_blocks=(self.disk.size + 511) // 512, st_blksize=BLOCK, **times)
        raise FuseOSError(errno.ENOENT)

    def op_readdir(self, path, fh):
        return [".", "..", NAME[1:]]

    def op_open(self, path, flags):
        if path != NAME:
            raise FuseOSError(errno.ENOENT)
        return 0

    def op_create(self, path, mode, fi=None):
        raise FuseOSError(errno.EROFS)

    def op_truncate(self, path, length, fh=None):
        if length != self.disk.size:
            raise FuseOSError(errno.EPERM)

    def op_read(self, path, size, offset, fh):
        return self.disk.read(size, offset)

    def op_write(self, path, data, offset, fh):
        return self.disk.write(data, offset)

    def op_fsync(self, path, datasync, fh):
        self.disk.persist("fsyncs")

    def op_flush(self, path, fh):
        self.disk.persist("flushes")

    def op_release(self, path, fh):
        self.disk.persist("releases")

    def op_statfs(self, path):
        return dict(f_bsize=BLOCK, f_frsize=BLOCK, f_blocks=self.disk.size // BLOCK, f_namemax=255)


def serve_control(disk: Disk, path: str) -> None:
    """Answer control lines on the Unix socket `path`, for ever (a daemon thread)."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(4)
    while True:
        connection, _ = server.accept()
        with connection, connection.makefile("rwb") as stream:
            for line in stream:
                command = line.strip().decode()
                if command == "cut":
                    disk.power_cut()
                elif command != "stats":
                    stream.write(json.dumps({"error": f"unknown command {command!r}"}).encode()
                                 + b"\n")
                    stream.flush()
                    continue
                stream.write(json.dumps(disk.report()).encode() + b"\n")
                stream.flush()


def cut_on_sigusr1(disk: Disk) -> None:
    """Cut when SIGUSR1 arrives (blocked in every thread and taken here by sigwait, since
    Python handlers would wait for the main thread, which sits in libfuse's loop)."""
    while True:
        signal.sigwait({signal.SIGUSR1})
        disk.power_cut()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("image")
    parser.add_argument("mountpoint")
    parser.add_argument("--control", required=True, help="the control socket to make")
    parser.add_argument("--parent", type=int, default=0, help="die when this pid dies")
    args = parser.parse_args(argv)
    if args.parent:
        ctypes.CDLL(None).prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
        if os.getppid() != args.parent:
            sys.exit("power_cut_daemon: parent already gone")
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
    disk = Disk(args.image)
    for target, extra in ((serve_control, (args.control,)), (cut_on_sigusr1, ())):
        threading.Thread(target=target, args=(disk, *extra), daemon=True).start()
    FUSE(DiskFile(disk), args.mountpoint, foreground=True, nothreads=True, direct_io=True,
         allow_other=True, big_writes=True, max_write=131072, attr_timeout=3600,
         entry_timeout=3600, fsname=f"power-cut:{args.image}", subtype="power_cut")


if __name__ == "__main__":
    main()
