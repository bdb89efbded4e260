#!/usr/bin/env bash
# make bench: cgfs against the kernel's own cgroup2, measured in the same run.
#  1. file operations (bench/fsbench.c), interleaved between the two targets: p50/p99 and ratios;
#     1b. the same against the C libfuse floor (../shared/bench/floorfs.c); 1c. throughput at 1-8 threads
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
  fusermount3 -u -z "$mnt" 2>/dev/null || true
  [[ -n $kernel && -d $kernel ]] && find "$kernel" -depth -type d -exec rmdir {} + 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

gcc -O2 -pthread -o "$work/fsbench" "$top/bench/fsbench.c"

for m in $(awk '$3 == "cgroup2" { print $2 }' /proc/mounts); do
  if [[ -w $m/cgroup.procs ]]; then kernel=$m/cgfs-bench-$$; mkdir "$kernel"; break; fi
done

echo "== 1. file operations (µs; kernel = $(uname -r) cgroup2, cgfs = FUSE), interleaved"
"$top/out/cgfs" mount "$mnt" --control "$work/control.sock"
if [[ -n $kernel ]]; then
  "$work/fsbench" "$kernel" "$mnt" "$scale"
else
  echo "skipped: no writable cgroup2 hierarchy on this machine, so there is no kernel to compare with"
fi
fusermount3 -u "$mnt"; sleep 0.5

echo
echo "== 1b. file operations against the C libfuse floor (../shared/bench/floorfs.c: the fastest FUSE server of"
echo "       this tree shape), interleaved, both orders (the first-listed target gets a bias on mkdir/rmdir here)"
floor_src="$top/../shared/bench/floorfs.c"
if [[ -f $floor_src ]] && gcc -O2 -o "$work/floorfs" "$floor_src" $(pkg-config fuse3 --cflags --libs) 2>/dev/null; then
  mkdir -p "$work/floor"
  "$work/floorfs" "$work/floor"
  "$top/out/cgfs" mount "$mnt" --control "$work/control.sock"
  echo "-- floor first, cgfs second (ratio = cgfs/floor)"
  FSBENCH_LIMIT=cgroup.max.descendants "$work/fsbench" "$work/floor" "$mnt" "$scale"
  echo "-- cgfs first, floor second (ratio = floor/cgfs)"
  FSBENCH_LIMIT=cgroup.max.descendants "$work/fsbench" "$mnt" "$work/floor" "$scale"
  echo
  echo "== 1c. throughput: open+read+close per second with 1, 2, 4 and 8 threads (kernel, floor, cgfs)"
  FSBENCH_LIMIT=cgroup.max.descendants "$work/fsbench" --throughput ${kernel:+"$kernel"} "$work/floor" "$mnt"
  fusermount3 -u "$work/floor"; fusermount3 -u "$mnt"; sleep 0.5
else
  echo "skipped: $floor_src or libfuse3-dev is missing"
fi

echo
echo "== 2. mount ready: exec of 'cgfs mount' until it returns with the mount answering (10 runs)"
times=()
for i in $(seq 10); do
  t0=$(date +%s%N)
  "$top/out/cgfs" mount "$mnt" --control "$work/control.sock"
  t1=$(date +%s%N)
  times+=($(( (t1 - t0) / 1000000 )))
  fusermount3 -u "$mnt"; sleep 0.3
done
printf '%s\n' "${times[@]}" | sort -n | awk '{ a[NR] = $1 } END { printf "median %d ms, min %d ms, max %d ms\n", a[int((NR + 1) / 2)], a[1], a[NR] }'

echo
echo "== 3. $count cgroups in one cgfs: resident memory and flatness"
"$top/out/cgfs" mount "$mnt" --control "$work/control.sock"
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
