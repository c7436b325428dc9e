"""The FUSE daemon behind tests/fault/fuse_share.py: a passthrough file system that serves a
real backing folder read-write, as a network share would. Run as its own process:

    python fuse_share_daemon.py BACKING MOUNTPOINT --state FILE [--slow-name NAME ...]

It is what a test freezes (SIGSTOP) to play a dead NFS server on a hard mount.

How it looks like NFS:
  - `use_ino`: the backing files' inode numbers and link counts are passed through, so
    hard links (rsync -H) and inode identity look as they do on the server;
  - no attribute, entry or negative caching (timeouts 0) and no kept page cache, so a
    change made in the backing folder behind the share's back is seen at once;
  - `allow_other` and `default_permissions`: every user may use the share and the kernel
    checks modes (and ACLs, which pass through as xattrs) as NFS clients do; files a user
    creates belong to that user;
  - names are passed byte for byte (also names that are not UTF-8);
  - a file deleted while open stays readable and shows as .fuse_hidden* until closed
    (libfuse's equivalent of NFS's .nfs* silly rename).

Not implemented on purpose: FUSE_FLUSH (close). The kernel sends FUSE_FLUSH as a "forced"
request that the closing process waits for uninterruptibly, so a process killed while the
daemon is stopped would hang in its exit closing its files (unlike NFS, whose waits are
killable). Answering ENOSYS makes the kernel stop sending FLUSH; the harness provokes that
first FLUSH right after mounting by opening and closing the hidden, never listed probe
file /.fuse-share-probe. Writes go straight to the backing file, so nothing is lost by
this.

The state FILE holds one 8-byte little-endian counter (mmap'd): how many requests the
daemon has taken into its handlers and not yet answered. The harness reads it to freeze
the daemon at a moment when no request is half answered.

`--slow-name NAME` (test hook): a lookup (getattr) of an entry called NAME answers only
after `--slow-seconds` seconds, to hold a request inside the daemon on purpose."""

import argparse
import ctypes
import errno
import mmap
import os
import signal
import stat
import struct
import sys
import threading
import time

from fuse import FUSE, FuseOSError, fuse_get_context

# Paths reach the handlers as str decoded as latin-1, which maps each byte to one
# character and back, so any name (UTF-8 or not) survives the round trip exactly.
WIRE = "latin-1"
PROBE = "/.fuse-share-probe"
PROBE_FH = 2 ** 62
_STAT_FIELDS = ("st_mode", "st_ino", "st_nlink", "st_uid", "st_gid", "st_size", "st_rdev",
                "st_blocks", "st_blksize")


def wire(name: bytes) -> str:
    """A byte name as the handlers return it to fusepy."""
    return name.decode(WIRE)


def stat_dict(st: os.stat_result) -> dict:
    """What fusepy wants from getattr (times in nanoseconds, as `use_ns` says)."""
    found = {field: getattr(st, field) for field in _STAT_FIELDS}
    found.update(st_atime=st.st_atime_ns, st_mtime=st.st_mtime_ns, st_ctime=st.st_ctime_ns)
    return found


class InFlight:
    """The shared counter of requests in the handlers, in an mmap'd file."""

    def __init__(self, path: str):
        with open(path, "wb") as handle:
            handle.write(b"\0" * 8)
        self._fd = os.open(path, os.O_RDWR)
        self._map = mmap.mmap(self._fd, 8)
        self._lock = threading.Lock()
        self._count = 0

    def add(self, step: int) -> None:
        with self._lock:
            self._count += step
            self._map[0:8] = struct.pack("<q", self._count)


class Share:
    """fusepy operations passing every call through to the folder `backing` (bytes)."""

    use_ns = True

    def __init__(self, backing: bytes, inflight: InFlight, slow_names=(), slow_seconds=0.0):
        self.backing = backing
        self.inflight = inflight
        self.slow_names = {name.encode() for name in slow_names}
        self.slow_seconds = slow_seconds
        self.as_root = os.geteuid() == 0

    def __call__(self, op, *args):
        handler = getattr(self, "op_" + op, None)
        if handler is None:
            raise FuseOSError(errno.ENOSYS)
        self.inflight.add(1)
        try:
            return handler(*args)
        finally:
            self.inflight.add(-1)

    def __getattr__(self, name):
        # fusepy registers an operation when the attribute exists and is not None.
        if "op_" + name in type(self).__dict__:
            return True
        raise AttributeError(name)

    def real(self, path: str) -> bytes:
        return self.backing + path.encode(WIRE)

    def _own(self, real: bytes) -> None:
        """Give a new entry to the user who made it (the daemon runs as root), and its
        group, or the folder's when the folder is set-group-ID."""
        if not self.as_root:
            return
        uid, gid, _ = fuse_get_context()
        parent = os.lstat(os.path.dirname(real))
        if parent.st_mode & stat.S_ISGID:
            gid = parent.st_gid
        os.chown(real, uid, gid, follow_symlinks=False)

    # -- attributes and names

    def op_getattr(self, path, fh=None):
        if path == PROBE:
            return {"st_mode": stat.S_IFREG | 0o444, "st_nlink": 1, "st_ino": 1}
        real = self.real(path)
        if self.slow_names and os.path.basename(real) in self.slow_names:
            time.sleep(self.slow_seconds)
        return stat_dict(os.lstat(real))

    def op_readdir(self, path, fh):
        found = [(".", None, 0), ("..", None, 0)]
        with os.scandir(self.real(path)) as entries:
            for entry in entries:
                if entry.is_symlink():
                    kind = stat.S_IFLNK
                elif entry.is_dir(follow_symlinks=False):
                    kind = stat.S_IFDIR
                elif entry.is_file(follow_symlinks=False):
                    kind = stat.S_IFREG
                else:
                    kind = stat.S_IFMT(entry.stat(follow_symlinks=False).st_mode)
                found.append((wire(entry.name), {"st_ino": entry.inode(), "st_mode": kind}, 0))
        return found

    def op_readlink(self, path):
        return wire(os.readlink(self.real(path)))

    def op_statfs(self, path):
        found = os.statvfs(self.real(path))
        return {key: getattr(found, key) for key in
                ("f_bsize", "f_frsize", "f_blocks", "f_bfree", "f_bavail", "f_files", "f_ffree",
                 "f_favail", "f_namemax")}

    def op_chmod(self, path, mode):
        os.chmod(self.real(path), mode)

    def op_chown(self, path, uid, gid):
        os.chown(self.real(path), uid, gid, follow_symlinks=False)

    def op_utimens(self, path, times=None):
        if times is None:
            os.utime(self.real(path), follow_symlinks=False)
        else:
            os.utime(self.real(path), ns=times, follow_symlinks=False)

    def op_truncate(self, path, length, fh=None):
        if fh is not None:
            os.ftruncate(fh, length)
        else:
            os.truncate(self.real(path), length)

    # -- making and removing entries

    def op_mkdir(self, path, mode):
        os.mkdir(self.real(path), mode)
        self._own(self.real(path))

    def op_rmdir(self, path):
        os.rmdir(self.real(path))

    def op_mknod(self, path, mode, dev):
        os.mknod(self.real(path), mode, dev)
        self._own(self.real(path))

    def op_symlink(self, path, target):
        os.symlink(target.encode(WIRE), self.real(path))
        self._own(self.real(path))

    def op_link(self, path, existing):
        os.link(self.real(existing), self.real(path), follow_symlinks=False)

    def op_unlink(self, path):
        os.unlink(self.real(path))

    def op_rename(self, old, new):
        os.rename(self.real(old), self.real(new))

    # -- file contents

    def op_create(self, path, mode, fi=None):
        fd = os.open(self.real(path), os.O_RDWR | os.O_CREAT, mode)
        self._own(self.real(path))
        return fd

    def op_open(self, path, flags):
        if path == PROBE:
            return PROBE_FH
        return os.open(self.real(path), flags & ~(os.O_CREAT | os.O_EXCL | os.O_NOCTTY))

    def op_read(self, path, size, offset, fh):
        return os.pread(fh, size, offset)

    def op_write(self, path, data, offset, fh):
        return os.pwrite(fh, data, offset)

    def op_fsync(self, path, datasync, fh):
        if datasync:
            os.fdatasync(fh)
        else:
            os.fsync(fh)

    def op_fsyncdir(self, path, datasync, fh):
        fd = os.open(self.real(path), os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def op_release(self, path, fh):
        if fh != PROBE_FH:
            os.close(fh)

    # -- extended attributes (POSIX ACLs arrive here too, as system.posix_acl_*)

    def op_getxattr(self, path, name, *position):
        return os.getxattr(self.real(path), name.encode(WIRE), follow_symlinks=False)

    def op_listxattr(self, path):
        return [wire(os.fsencode(name))
                for name in os.listxattr(self.real(path), follow_symlinks=False)]

    def op_setxattr(self, path, name, value, options, *position):
        os.setxattr(self.real(path), name.encode(WIRE), value, options, follow_symlinks=False)

    def op_removexattr(self, path, name):
        os.removexattr(self.real(path), name.encode(WIRE), follow_symlinks=False)


def die_with_parent(parent: int) -> None:
    """Be killed when the test process that started us dies (PR_SET_PDEATHSIG): a daemon
    left behind would keep a mount that blocks whoever looks at it."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
    if os.getppid() != parent:
        sys.exit("fuse_share_daemon: parent already gone")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("backing")
    parser.add_argument("mountpoint")
    parser.add_argument("--state", required=True, help="the in-flight counter file")
    parser.add_argument("--parent", type=int, default=0, help="die when this pid dies")
    parser.add_argument("--slow-name", action="append", default=[])
    parser.add_argument("--slow-seconds", type=float, default=3600.0)
    args = parser.parse_args(argv)
    if args.parent:
        die_with_parent(args.parent)
    os.umask(0)  # the kernel already applied the caller's umask to every mode we get
    backing = os.fsencode(os.path.realpath(args.backing)).rstrip(b"/")
    share = Share(backing, InFlight(args.state), args.slow_name, args.slow_seconds)
    FUSE(share, os.fsencode(args.mountpoint).decode(WIRE), encoding=WIRE, foreground=True,
         allow_other=True, default_permissions=True, use_ino=True, attr_timeout=0,
         entry_timeout=0, negative_timeout=0, big_writes=True, max_write=131072,
         fsname=f"fuse-share:{args.backing}", subtype="fuse_share")


if __name__ == "__main__":
    main()
