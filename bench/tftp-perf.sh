#!/usr/bin/env bash
# Anvil's TFTP server vs tftpd-hpa, side by side, same client (atftp, blksize 1468), two paths:
#   bare  - a veth pair between a server namespace and a client namespace
#   delay - a point-to-point link with 1 ms one-way delay (server -> client) added by
#           bench/tftp-delay-relay.c (compiled with gcc at start), because this kernel has no sch_netem (`tc qdisc ... netem`
#           fails with "Specified qdisc kind is unknown"); where netem exists, DELAY_MODE=netem uses
#           `tc qdisc add dev VETH root netem delay 1ms` on the server's veth instead.
# Cases: one 1 MiB file, one 16 MiB file, 50 concurrent 1 MiB transfers. Anvil uses windowsize 16 on
# the delayed path (atftp --option "windowsize 16"); tftpd-hpa has no windowsize (RFC 7440) support.
# Every downloaded file is compared with the original. Needs root, atftp, tftpd-hpa (in.tftpd),
# gcc and node. Runs in about a minute and a half.
#
#   bash bench/tftp-perf.sh            # prints a markdown table
#   RUNS=9 RUNS_CONCURRENT=5 bash bench/tftp-perf.sh   # more repetitions (medians are reported)
set -euo pipefail

cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
RUNS_CONCURRENT=${RUNS_CONCURRENT:-3}
DELAY_MODE=${DELAY_MODE:-relay}
TAG=tb$$
NS_S=anvil-tftpbench-s-$$
NS_C=anvil-tftpbench-c-$$
VS=${TAG}s
VC=${TAG}c
WORK=$(mktemp -d /tmp/anvil-tftp-bench-XXXXXX)
chmod 755 "$WORK"
PIDS=()

cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  ip netns del "$NS_S" 2>/dev/null || true
  ip netns del "$NS_C" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

for tool in atftp in.tftpd gcc node; do
  command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 1; }
done

# --- topology -------------------------------------------------------------------------------------
ip netns add "$NS_S"
ip netns add "$NS_C"
ip link add "$VS" type veth peer name "$VC"
ip link set "$VS" netns "$NS_S"
ip link set "$VC" netns "$NS_C"
ip -n "$NS_S" addr add 10.77.0.1/24 dev "$VS"
ip -n "$NS_C" addr add 10.77.0.2/24 dev "$VC"
for ns in "$NS_S" "$NS_C"; do ip -n "$ns" link set lo up; done
ip -n "$NS_S" link set "$VS" up
ip -n "$NS_C" link set "$VC" up
ip netns exec "$NS_S" ethtool -K "$VS" tx off >/dev/null 2>&1 || true
ip netns exec "$NS_C" ethtool -K "$VC" tx off >/dev/null 2>&1 || true

BARE_IP=10.77.0.1
DELAY_IP=10.78.0.1
if [ "$DELAY_MODE" = netem ]; then
  echo "netem mode: delay is added to the veth itself when the delayed cases start" >&2
  DELAY_IP=$BARE_IP
else
  # The C relay keeps up with hundreds of thousands of packets per second; the Python twin
  # (bench/tftp-delay-relay.py, used by the integration test) would cap the concurrent case.
  gcc -O2 -o "$WORK/relay" bench/tftp-delay-relay.c
  ip netns exec "$NS_S" "$WORK/relay" "$NS_S" 10.78.0.1 "$NS_C" 10.78.0.2 1 0 >"$WORK/relay.log" 2>&1 &
  PIDS+=($!)
fi

# --- files and servers ----------------------------------------------------------------------------
mkdir -p "$WORK/root" "$WORK/out"
head -c $((1024 * 1024)) /dev/urandom >"$WORK/root/f1m"
head -c $((16 * 1024 * 1024)) /dev/urandom >"$WORK/root/f16m"
chmod -R a+rX "$WORK/root"

# The server runs from source through the project's module hooks (test/support/ts-register.mjs with
# @swc/core): files are transpiled once as they load, before anything is timed.
ROOT_DIR=$(pwd)
ip netns exec "$NS_S" node --import "$ROOT_DIR/test/support/ts-register.mjs" "$ROOT_DIR/bench/tftp-server.ts" "$WORK/root" 0.0.0.0 6969 1468 16 >"$WORK/anvil.log" 2>&1 &
ANVIL_PID=$!
PIDS+=("$ANVIL_PID")
# -L: foreground, -s: chroot to the root, -a: listen address; -u root because the files are root's
# (the bench runs as root; a production tftpd drops to the tftp user).
ip netns exec "$NS_S" in.tftpd -L -s "$WORK/root" -a 0.0.0.0:6970 -u root -B 1468 >"$WORK/hpa.log" 2>&1 &
HPA_PID=$!
PIDS+=("$HPA_PID")

for _ in $(seq 1 100); do
  if grep -q listening "$WORK/anvil.log" && { [ "$DELAY_MODE" = netem ] || grep -q ready "$WORK/relay.log"; }; then break; fi
  sleep 0.1
done
grep -q listening "$WORK/anvil.log" || { cat "$WORK/anvil.log" >&2; exit 1; }
sleep 0.3

# --- measurement ----------------------------------------------------------------------------------
now_ns() { date +%s%N; }

# get IP PORT FILE OUT [extra atftp options...]; exits non-zero when the copy differs.
get() {
  local ipaddr=$1 port=$2 file=$3 out=$4
  shift 4
  ip netns exec "$NS_C" atftp -g -r "$file" -l "$out" --option "blksize 1468" "$@" "$ipaddr" "$port" >/dev/null 2>&1
  cmp -s "$out" "$WORK/root/$file"
}

# once IP PORT FILE [options...] -> seconds for one download (0 on failure)
once() {
  local ipaddr=$1 port=$2 file=$3
  shift 3
  local t0 t1
  t0=$(now_ns)
  get "$ipaddr" "$port" "$file" "$WORK/out/single" "$@" || { echo "FAILED: $file from $ipaddr:$port $*" >&2; echo 0; return; }
  t1=$(now_ns)
  awk -v us=$(((t1 - t0) / 1000)) 'BEGIN {printf "%.4f\n", us/1e6}'
}

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {printf "%.4f\n", a[int((NR+1)/2)]}'; }

# pair IP FILE HPA_RUNS [anvil options...] -> "anvil_median hpa_median"; runs alternate between the two
# servers so that load from other jobs on the host hits both alike.
pair() {
  local ipaddr=$1 file=$2 hpa_runs=$3
  shift 3
  local a=() h=()
  for i in $(seq 1 "$RUNS"); do
    a+=("$(once "$ipaddr" 6969 "$file" "$@")")
    if [ "$i" -le "$hpa_runs" ]; then h+=("$(once "$ipaddr" 6970 "$file")"); fi
  done
  echo "$(median "${a[@]}") $(median "${h[@]}")"
}

# concurrent IP PORT N [options...] -> seconds for N parallel 1 MiB transfers
concurrent() {
  local ipaddr=$1 port=$2 n=$3
  shift 3
  local t0 t1 fail=0 pids=()
  t0=$(now_ns)
  for i in $(seq 1 "$n"); do
    get "$ipaddr" "$port" f1m "$WORK/out/c$i" "$@" &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid" || fail=$((fail + 1)); done
  t1=$(now_ns)
  if [ "$fail" -gt 0 ]; then echo "FAILED: $fail of $n concurrent transfers from $ipaddr:$port $*" >&2; fi
  awk -v us=$(((t1 - t0) / 1000)) 'BEGIN {printf "%.4f\n", us/1e6}'
}

mibps() { awk -v mib="$1" -v s="$2" 'BEGIN { if (s > 0) printf "%.1f", mib / s; else printf "fail" }'; }

# Warm-up, discarded: a long-running Anvil has its per-packet path JIT-compiled, a fresh node process
# has not; tftpd-hpa forks per transfer and has nothing to warm.
for _ in 1 2 3; do
  get "$BARE_IP" 6969 f1m "$WORK/out/warm" || true
  get "$BARE_IP" 6969 f1m "$WORK/out/warm" --option "windowsize 16" || true
  get "$BARE_IP" 6970 f1m "$WORK/out/warm" || true
done

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
ROWS=()
# Server CPU time (task-clock, ms) via perf stat attached to the server; counters follow forked children,
# so tftpd-hpa's per-transfer processes are counted. Unlike wall time it barely moves with the load other
# jobs put on the host. Skipped when perf is not installed.
HAVE_PERF=0
command -v perf >/dev/null && perf stat -e task-clock -p $$ -o /dev/null -- true 2>/dev/null && HAVE_PERF=1
cpu_start() { # PID OUTFILE; sets PERF_PID (0 without perf). Runs in this shell so it can be waited for.
  PERF_PID=0
  if [ "$HAVE_PERF" = 1 ]; then
    perf stat -x, -e task-clock -p "$1" -o "$2" >/dev/null 2>&1 &
    PERF_PID=$!
    PIDS+=("$PERF_PID")
  fi
}
cpu_read() { # OUTFILE; prints ms from a stopped perf (perf attached with -p and no workload stops on SIGINT)
  awk -F, '/task-clock/ {printf "%d\n", $1}' "$1"
}

CPU_ROWS=()
measure() { # label path ip extra-options...
  local label=$1 path=$2 ipaddr=$3
  shift 3
  local perf_a perf_h
  cpu_start "$ANVIL_PID" "$WORK/perf-anvil"; perf_a=$PERF_PID
  cpu_start "$HPA_PID" "$WORK/perf-hpa"; perf_h=$PERF_PID
  sleep 0.2
  local a1 a16 a50 h1 h16 h50 hpa_runs_16=$RUNS
  # Lock-step tftpd-hpa over the delayed link needs ~17 s for 16 MiB and varies little: one run.
  case "$path" in *delay*|*netem*) hpa_runs_16=1 ;; esac
  read -r a1 h1 < <(pair "$ipaddr" f1m "$RUNS" "$@")
  read -r a16 h16 < <(pair "$ipaddr" f16m "$hpa_runs_16" "$@")
  local ca=() ch=()
  for _ in $(seq 1 "$RUNS_CONCURRENT"); do
    ca+=("$(concurrent "$ipaddr" 6969 50 "$@")")
    ch+=("$(concurrent "$ipaddr" 6970 50)")
  done
  a50=$(median "${ca[@]}"); h50=$(median "${ch[@]}")
  local anvil_cpu hpa_cpu hpa_mib
  anvil_cpu=n/a; hpa_cpu=n/a
  if [ "$perf_a" != 0 ] && [ "$perf_h" != 0 ]; then
    kill -INT "$perf_a" "$perf_h" 2>/dev/null || true
    wait "$perf_a" "$perf_h" 2>/dev/null || true
    anvil_cpu=$(cpu_read "$WORK/perf-anvil"); hpa_cpu=$(cpu_read "$WORK/perf-hpa")
  fi
  hpa_mib=$((RUNS + hpa_runs_16 * 16 + RUNS_CONCURRENT * 50))
  CPU_ROWS+=("| $path | $label | $((RUNS * 17 + RUNS_CONCURRENT * 50)) MiB: $anvil_cpu ms ($(awk -v c="$anvil_cpu" -v m=$((RUNS * 17 + RUNS_CONCURRENT * 50)) 'BEGIN{printf "%.1f", c/m}') ms/MiB) | $hpa_mib MiB: $hpa_cpu ms ($(awk -v c="$hpa_cpu" -v m="$hpa_mib" 'BEGIN{printf "%.1f", c/m}') ms/MiB) |")
  ROWS+=("| $path | 1 MiB | $label | ${a1} s ($(mibps 1 "$a1") MiB/s) | ${h1} s ($(mibps 1 "$h1") MiB/s) | $(awk -v a="$a1" -v h="$h1" 'BEGIN{printf "%.2f", h/a}')x |")
  ROWS+=("| $path | 16 MiB | $label | ${a16} s ($(mibps 16 "$a16") MiB/s) | ${h16} s ($(mibps 16 "$h16") MiB/s) | $(awk -v a="$a16" -v h="$h16" 'BEGIN{printf "%.2f", h/a}')x |")
  ROWS+=("| $path | 50 x 1 MiB concurrent | $label | ${a50} s ($(mibps 50 "$a50") MiB/s) | ${h50} s ($(mibps 50 "$h50") MiB/s) | $(awk -v a="$a50" -v h="$h50" 'BEGIN{printf "%.2f", h/a}')x |")
}

# client_cpu IP PORT [options...] -> CPU seconds (user+sys) the 50 concurrent clients themselves used:
# bash's `times` in a subshell reports its waited-for descendants (atftp, cmp, ip netns exec). Half
# of it is a floor for the wall time on 2 CPUs, whatever the server does.
client_cpu() {
  ( concurrent "$1" "$2" 50 "${@:3}" >/dev/null; times ) | awk 'NR == 2 {
      split($1, u, /[ms]/); split($2, s, /[ms]/); printf "%.3f\n", u[1] * 60 + u[2] + s[1] * 60 + s[2] }'
}

measure "windowsize 1" "bare veth" "$BARE_IP"
measure "windowsize 16" "bare veth" "$BARE_IP" --option "windowsize 16"
if [ "$DELAY_MODE" = netem ]; then
  ip netns exec "$NS_S" tc qdisc add dev "$VS" root netem delay 1ms
  measure "windowsize 16" "veth + netem 1 ms" "$DELAY_IP" --option "windowsize 16"
else
  measure "windowsize 16" "1 ms delay link" "$DELAY_IP" --option "windowsize 16"
fi
CLIENT_CPU_ANVIL=$(client_cpu "$DELAY_IP" 6969 --option "windowsize 16")
CLIENT_CPU_HPA=$(client_cpu "$DELAY_IP" 6970)

echo "Anvil TFTP vs tftpd-hpa 5.2, client $(atftp -V 2>&1 | head -1 | awk '{print $1}'), blksize 1468, median of $RUNS (single files) and $RUNS_CONCURRENT (concurrent) alternating runs; node $(node -v); $(nproc) CPUs; load average before/after: $LOAD_BEFORE / $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| path | case | Anvil options | Anvil | tftpd-hpa | Anvil speed-up |"
echo "|---|---|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
echo
echo "Server CPU time (perf stat task-clock; tftpd-hpa including its forked children) over each path's cases:"
echo
echo "| path | Anvil options | Anvil | tftpd-hpa |"
echo "|---|---|---|---|"
printf '%s\n' "${CPU_ROWS[@]}"
echo
echo "Client CPU time (user+sys of the 50 atftp clients, one run each, delayed path): with Anvil ${CLIENT_CPU_ANVIL} s, with tftpd-hpa ${CLIENT_CPU_HPA} s on $(nproc) CPUs."
kill -TERM "$ANVIL_PID" 2>/dev/null || true
sleep 0.3
echo
echo "Anvil server stats: $(tail -1 "$WORK/anvil.log")"
