#!/usr/bin/env bash
# Mount cgfs in the background at the given mount point (default ./mnt), building it first if
# needed. Extra arguments go to `cgfs mount` (e.g. --rdma-device rxe0 --misc sev=10).
# Unmount with: fusermount3 -u MOUNTPOINT   (or umount, or SIGTERM to the daemon)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
mnt=${1:-./mnt}
[[ $# -gt 0 ]] && shift
[[ -x $top/out/cgfs ]] || make -C "$top" build
mkdir -p "$mnt"
exec "$top/out/cgfs" mount "$mnt" "$@"
