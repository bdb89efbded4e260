#!/usr/bin/env bash
# make bench: cgfs against the kernel's own cgroup2, measured in the same run.
#  1. file operations (bench/fsbench.c), one interleaved run over the kernel's cgroup2, the C libfuse
#     floor (../shared/bench/floorfs.c), cgfs on FUSE over io_uring and cgfs on /dev/fuse: p50/p99 and
#     the ratios cgfs/floor and cgfs/kernel per transport; 1c. throughput at 1-8 threads; 1d. latency per
#     FUSE request by opcode (kernel tracepoints), which separates a server's own cost from round trips;
#     overlay = cgfs in overlay mode (on /dev/fuse) over a scratch child of the kernel's cgroup2
#  2. time from `cgfs mount` exec to a ready mount
#  3. resident memory of the daemon at 100k cgroups (bytes per cgroup) and latency flatness
#  4. cgfs exec: trapped and untrapped system calls, process start-up, plain vs covered
#  5. engine and grammar micro-benchmarks (BenchmarkDotNet; ratios against a baseline)
# BENCH_SCALE (default 1) scales the file-operation counts; BENCH_CGROUPS (default 100000).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
scale=${BENCH_SCALE:-1}
count=${BENCH_CGROUPS:-100000}
work=$(mktemp -d /tmp/cgfs-bench.XXXXXX)
mnt=$work/mnt
mkdir -p "$mnt"
kernel=""
cleanup() {
  for d in "$mnt" "$work/uring" "$work/devfuse" "$work/overlay" "$work/floor" "$work/floordp"; do fusermount3 -u -z "$d" 2>/dev/null || true; done
  [[ -n ${uring_before:-} ]] && echo "$uring_before" > /sys/module/fuse/parameters/enable_uring || true
  [[ -n $kernel && -d $kernel ]] && find "$kernel" -depth -type d -exec rmdir {} + 2>/dev/null || true
  [[ -n ${overlaid:-} && -d $overlaid ]] && find "$overlaid" -depth -type d -exec rmdir {} + 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

gcc -O2 -pthread -o "$work/fsbench" "$top/bench/fsbench.c" -lm

overlaid=""
for m in $(awk '$3 == "cgroup2" { print $2 }' /proc/mounts); do
  if [[ -w $m/cgroup.procs ]]; then kernel=$m/cgfs-bench-$$; overlaid=$m/cgfs-bench-overlay-$$; mkdir "$kernel" "$overlaid"; break; fi
done

# FUSE over io_uring is off until root sets enable_uring; the bench sets it for its run and puts
# the old value back.
uring_switch=/sys/module/fuse/parameters/enable_uring
uring_before=""
if [[ -w $uring_switch ]]; then uring_before=$(cat "$uring_switch"); echo Y > "$uring_switch"; fi

targets=() labels=()
if [[ -n $kernel ]]; then targets+=("$kernel"); labels+=(kernel); fi
floor_src="$top/../shared/bench/floorfs.c"
floor=""
if [[ -f $floor_src ]] && gcc -O2 -o "$work/floorfs" "$floor_src" $(pkg-config fuse3 --cflags --libs) 2>/dev/null; then
  floor=$work/floor; mkdir -p "$floor"; "$work/floorfs" "$floor"
  targets+=("$floor"); labels+=(floor)
else
  echo "(no C floor: $floor_src or libfuse3-dev is missing)"
fi
mkdir -p "$work/uring" "$work/devfuse"
"$top/out/cgfs" mount "$work/uring" -o io_uring --control "$work/uring.sock"
uring_status=$("$top/out/cgfs" ctl --control "$work/uring.sock" status | grep '^transport ')
if [[ $uring_status == "transport io_uring" ]]; then
  targets+=("$work/uring"); labels+=(uring)
else
  echo "cgfs on io_uring: unavailable here ($uring_status); measuring the rest"
fi
"$top/out/cgfs" mount "$work/devfuse" -o no_io_uring --control "$work/devfuse.sock"
targets+=("$work/devfuse"); labels+=(devfuse)
if [[ -n $overlaid ]]; then
  mkdir -p "$work/overlay"
  "$top/out/cgfs" mount "$work/overlay" -o no_io_uring --control "$work/overlay.sock" --overlay "$overlaid"
  targets+=("$work/overlay"); labels+=(overlay)
fi
unmount_all() {
  for d in "$work/uring" "$work/devfuse" "$work/overlay" ${floor:+"$floor"}; do fusermount3 -u "$d" 2>/dev/null || true; done
  sleep 0.5
}

echo "== 1. file operations, one interleaved run (µs): $(IFS=,; echo "${labels[*]}")"
echo "   kernel = $(uname -r) cgroup2; floor = ../shared/bench/floorfs.c (C libfuse3, the fastest FUSE server of"
echo "   this tree shape); uring = cgfs on FUSE over io_uring; devfuse = cgfs on /dev/fuse; overlay = cgfs"
echo "   on /dev/fuse in overlay mode over a scratch child of the kernel's cgroup2 (every operation also the kernel's)"
ratios=""
for c in uring devfuse; do for b in floor kernel; do ratios+="$c/$b,"; done; done
ratios+="uring/devfuse,overlay/devfuse,overlay/kernel"
FSBENCH_LIMIT=cgroup.max.descendants FSBENCH_LABELS=$(IFS=,; echo "${labels[*]}") FSBENCH_RATIOS=$ratios \
  "$work/fsbench" "${targets[@]}" "$scale"

echo
echo "== 1c. throughput: open+read+close per second with 1, 2, 4 and 8 threads, same targets"
FSBENCH_LIMIT=cgroup.max.descendants "$work/fsbench" --throughput "${targets[@]}"

echo
echo "== 1d. per FUSE request, as the kernel's fuse tracepoints time it (send → end: queueing, wake-up, handler,"
echo "   reply); floor+dp = the C floor with -o default_permissions, the permission model cgfs needs (the"
echo "   kernel then re-reads a directory's attributes after each change in it: one GETATTR per mkdir/rmdir)"
lat_targets=()
[[ -n $floor ]] && lat_targets+=("floor=$floor")
if [[ -n $floor ]]; then
  mkdir -p "$work/floordp"; "$work/floorfs" -o default_permissions "$work/floordp" && lat_targets+=("floor+dp=$work/floordp")
fi
[[ $uring_status == "transport io_uring" ]] && lat_targets+=("uring=$work/uring")
lat_targets+=("devfuse=$work/devfuse")
FSBENCH_LIMIT=cgroup.max.descendants "$top/scripts/fuse-request-latency.sh" "$work/fsbench" 0.3 "${lat_targets[@]}"
fusermount3 -u "$work/floordp" 2>/dev/null || true
unmount_all

echo
echo "== 2. mount ready: exec of 'cgfs mount' until it returns with the mount answering (10 runs per transport)"
for transport in io_uring no_io_uring; do
  times=()
  for i in $(seq 10); do
    t0=$(date +%s%N)
    "$top/out/cgfs" mount "$mnt" -o $transport --control "$work/control.sock"
    t1=$(date +%s%N)
    times+=($(( (t1 - t0) / 1000000 )))
    fusermount3 -u "$mnt"; sleep 0.3
  done
  printf '%-16s' "-o $transport"
  printf '%s\n' "${times[@]}" | sort -n | awk '{ a[NR] = $1 } END { printf "median %d ms, min %d ms, max %d ms\n", a[int((NR + 1) / 2)], a[1], a[NR] }'
done
echo
echo "== 3. $count cgroups in one cgfs: resident memory and flatness"
"$top/out/cgfs" mount "$mnt" --control "$work/control.sock"
"$top/out/cgfs" ctl --control "$work/control.sock" status | grep "^transport "
pid=$(pgrep -f "cgfs mount $mnt" | head -n 1)
rss() { awk '/^VmRSS/ { print $2 * 1024 }' "/proc/$pid/status"; }
"$work/fsbench" --populate-and-remove "$mnt" 1000 >/dev/null   # warm up the daemon's code paths
before=$(rss)
"$work/fsbench" --populate "$mnt" "$count"
after=$(rss)
echo "daemon RSS: $((before / 1024)) KiB before, $((after / 1024)) KiB with $count cgroups: $(( (after - before) / count )) bytes per cgroup"
if [[ -n $kernel ]]; then
  echo "kernel, same operations at 10k cgroups:"
  "$work/fsbench" --populate-and-remove "$kernel" 10000
fi
fusermount3 -u "$mnt"; sleep 0.5

echo
echo "== 4. cgfs exec: per untrapped and trapped system call, and process start-up, plain and covered"
gcc -O2 -o "$work/execbench" "$top/bench/execbench.c"
"$top/out/cgfs" mount "$mnt" --control "$work/control.sock"
"$work/execbench" "$mnt" > "$work/plain.txt"
"$top/out/cgfs" exec --control "$work/control.sock" -- "$work/execbench" /sys/fs/cgroup > "$work/covered.txt"
paste "$work/plain.txt" "$work/covered.txt" | awk '
  BEGIN { printf "%-10s %12s %12s %8s\n", "measure", "plain", "cgfs exec", "ratio" }
  { printf "%-10s %9s %-2s %9s %-2s %7.2fx\n", $1, $2, $3, $5, $6, $5 / $2 }'
echo "(plain statfs is of the FUSE mount itself; covered statfs is answered CGROUP2_SUPER_MAGIC by the daemon)"
fusermount3 -u "$mnt"; sleep 0.5

echo
echo "== 5. engine and grammar micro-benchmarks (Ratio: against the baseline method, same run)"
dotnet build -c Release "$top/bench/CgFs.Benchmarks" --nologo -v quiet   # a build error stops the bench
dotnet run -c Release --no-build --project "$top/bench/CgFs.Benchmarks" -- --filter '*' 2>&1 | grep -E '^\|' || true
