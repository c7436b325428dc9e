#!/usr/bin/env bash
# Sets up vhpi from this checkout on Debian / Raspberry Pi OS:
#   - Debian packages: rsync (the one runtime dependency), and for the tests faketime,
#     iputils-ping, attr, acl, and fuse3, libfuse2, sshfs, e2fsprogs and mount for the FUSE
#     fault stand-ins (apt-get; needs root or sudo; skipped when present);
#   - a virtual environment .venv with vhpi installed (editable), pytest and fusepy.
# Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(rsync faketime iputils-ping attr acl util-linux fuse3 libfuse2 sshfs e2fsprogs mount exfatprogs exfat-fuse dosfstools fusefat btrfs-progs)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
    missing+=(python3-venv)
fi
if [ "${#missing[@]}" -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "setup: installing Debian packages: ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
echo "setup: done ($(.venv/bin/vhpi --version), $(rsync --version | head -n 1))"
