#!/usr/bin/env bash
# fuse-request-latency.sh FSBENCH SCALE LABEL=DIR...
# Runs fsbench against each FUSE mount in turn with the kernel's fuse tracepoints on and prints, per
# opcode, how many requests each server got and their median and mean latency from
# fuse_request_send to fuse_request_end (queueing, the server's wake-up, read, handler, reply write):
# the part of an operation a FUSE server is responsible for, without the caller's own syscall cost.
# Needs root and tracefs (mounted here when missing); prints why and returns 0 when it cannot run.
set -euo pipefail
fsbench=$1 scale=$2; shift 2
tr=/sys/kernel/tracing
if [[ ! -d $tr/events/fuse ]]; then
  mountpoint -q "$tr" || mount -t tracefs nodev "$tr" 2>/dev/null || true
fi
if [[ ! -d $tr/events/fuse/fuse_request_send ]]; then
  echo "(no fuse tracepoints here: kernel < 6.15 or no tracefs; skipped)"
  exit 0
fi
out=$(mktemp -d)
trap 'echo 0 > $tr/events/fuse/enable 2>/dev/null || true; rm -rf "$out"' EXIT
labels=()
for spec in "$@"; do
  label=${spec%%=*} dir=${spec#*=}
  labels+=("$label")
  echo > "$tr/trace"
  echo 65536 > "$tr/buffer_size_kb"
  echo 1 > "$tr/events/fuse/fuse_request_send/enable"
  echo 1 > "$tr/events/fuse/fuse_request_end/enable"
  "$fsbench" "$dir" "$scale" > /dev/null
  echo 0 > "$tr/events/fuse/enable"
  # "... 1234.567890: fuse_request_send: connection N req U opcode 3 (FUSE_GETATTR) len L"
  awk -v label="$label" '
    { for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+\.[0-9]+:$/) { ts = substr($i, 1, length($i) - 1); ev = $(i + 1) } }
    ev == "fuse_request_send:" { for (i = 1; i <= NF; i++) { if ($i == "req") u = $(i + 1); if ($i == "opcode") op = $(i + 2) }
                                 start[u] = ts; name[u] = op }
    ev == "fuse_request_end:"  { for (i = 1; i <= NF; i++) if ($i == "req") u = $(i + 1)
                                 if (u in start) { gsub(/[()]|FUSE_/, "", name[u]); print label, name[u], (ts - start[u]) * 1e6; delete start[u] } }
  ' "$tr/trace" > "$out/$label"
done
printf '%-14s' "request"
for l in "${labels[@]}"; do printf '%28s' "$l: n p50 mean µs"; done
echo
cat "$out"/* | awk '{ print $2 }' | sort | uniq -c | sort -rn | awk '$1 >= 5 { print $2 }' | while read -r op; do
  printf '%-14s' "$op"
  for l in "${labels[@]}"; do
    awk -v op="$op" '$2 == op { print $3 }' "$out/$l" | sort -g |
      awk '{ v[NR] = $1; s += $1 } END { if (NR) printf "%12d %7.1f %7.1f", NR, v[int((NR + 1) / 2)], s / NR; else printf "%28s", "-" }'
  done
  echo
done
