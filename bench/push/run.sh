#!/usr/bin/env bash
# flywheel push benchmark (issue 17, the client): a 300-path, 230 MiB closure (bench/nix/closure.py) pushed by
# `flywheel push` side by side with `nix copy --to file://`, in one run; writes bench/push/results/latest.{md,json}.
#
#   bench/push/run.sh [--reps 3] [--seed N] [--big-mib 1024] [--jobs N] [--keep] [--no-build]
#
# Rows, each rep interleaved (reference, then ours) so drift hits both alike; medians reported:
#   cold   `flywheel push --cache <new cache> TOP` (zstd; the whole closure is uploaded)
#          vs `nix copy --to file://<new folder>?compression=zstd TOP`             target <= 1.2x
#   jit    the same cold push with the `dotnet build` output (IL only, everything JIT-compiled): what ReadyToRun saves
#   warm   `flywheel push` of the same closure again (the cache holds every path)  target < 1 s
#   rss    peak RSS of the client (/usr/bin/time %M) in the cold push, and in a push of one path of --big-mib MiB of
#          random bytes (memory must not grow with the NAR)
# `flywheel` is what a user installs: the `dotnet publish` output (ReadyToRun, as nix/package.nix builds it), its
# apphost for the client and its flywheel.dll for the gateway. Every time is the wall clock of the whole command as a
# user runs it (`flywheel push …`: process start, nix path-info, the missing-paths call, uploads). Beside it: the CPU seconds of the command (user + sys, with its
# child processes: nix path-info) and of the gateway during it (/proc/<pid>/stat), the load average before each
# command, and the cold pushes' --verbose phase lines (where the wall clock went). The gateway is `flywheel serve` on the embedded default (local
# disk + SQLite), Release build, loopback. --seed picks the closure (default: a fresh random one, deleted at the end).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT="$PWD"

REPS=3
SEED="$((RANDOM * 32768 + RANDOM))"
BIG_MIB=1024
JOBS=""
KEEP=0
BUILD=1
while [ $# -gt 0 ]; do
  case "$1" in
    --reps) REPS="$2"; shift 2 ;;
    --seed) SEED="$2"; shift 2 ;;
    --big-mib) BIG_MIB="$2"; shift 2 ;;
    --jobs) JOBS="$2"; shift 2 ;;
    --keep) KEEP=1; shift ;;
    --no-build) BUILD=0; shift ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

source bench/lib.sh
if [ "$BUILD" = 1 ]; then publish_flywheel; else flywheel_paths; fi
PUBLISHED="$(dirname "$FLYWHEEL_DLL")"

WORK="$(mktemp -d /tmp/flywheel-push-bench.XXXXXX)"
PIDS=()
BIG=""
cleanup() {
  set +e
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
  [ -s "$WORK/paths" ] && nix-store --delete $(cat "$WORK/paths") >/dev/null 2>&1
  [ -n "$BIG" ] && nix-store --delete "$BIG" >/dev/null 2>&1
  if [ "$KEEP" = 1 ]; then echo "run.sh: kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

# Nix isolated as the other benches run it (bench/lib.sh): no substituters, no sandbox, builds as root.
bench_nix_env
export CI=true # plain progress lines

echo "run.sh: closure (seed $SEED)" >&2
TOP="$(python3 bench/nix/closure.py --seed "$SEED" --paths-file "$WORK/paths")"
head -c "$((BIG_MIB * 1024 * 1024))" /dev/urandom > "$WORK/big-$SEED.bin"
BIG="$(nix-store --add "$WORK/big-$SEED.bin")"
rm -f "$WORK/big-$SEED.bin"

start_gateway embedded "$WORK/data" "$WORK/daemon.log"
SERVER="$GW/"
TOKEN="$GW_TOKEN"
flywheel() { "$PUBLISHED/flywheel" "$@"; }

# gateway_cpu: the gateway's CPU seconds so far (user + sys)
gateway_cpu() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$GW_PID/stat"; }

# timed NAME CMD…: wall seconds, peak RSS (KiB), CPU seconds of CMD (user + sys, children included), the gateway's CPU
# seconds meanwhile and the 1-minute load average before it, appended to $WORK/times as "NAME seconds kib cpu gwcpu load"
timed() {
  local name="$1"; shift
  local start end gw0 load
  load="$(cut -d' ' -f1 /proc/loadavg)"
  gw0="$(gateway_cpu)"
  start="$(date +%s.%N)"
  /usr/bin/time -f '%M %U %S' -o "$WORK/rss" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" || { cat "$WORK/$name.err" >&2; exit 1; }
  end="$(date +%s.%N)"
  read -r kib user sys < <(tail -1 "$WORK/rss")
  echo "$name $(echo "$end - $start" | bc) $kib $(echo "$user + $sys" | bc) $(echo "$(gateway_cpu) - $gw0" | bc) $load" >> "$WORK/times"
}

PUSH=(push --server "$SERVER" --token "$TOKEN" --json)
[ -n "$JOBS" ] && PUSH+=(--jobs "$JOBS")
: > "$WORK/times"
for rep in $(seq 1 "$REPS"); do
  echo "run.sh: rep $rep/$REPS" >&2
  sync
  timed "file-$rep" nix copy --to "file://$WORK/file-$rep?compression=zstd" "$TOP"
  flywheel cache create "push$rep" --server "$SERVER" --token "$TOKEN" >/dev/null
  sync
  flywheel cache create "jit$rep" --server "$SERVER" --token "$TOKEN" >/dev/null
  # the published and the JIT cold push take turns going first (right after the file:// copy)
  if [ $((rep % 2)) = 1 ]; then
    timed "cold-$rep" "$PUBLISHED/flywheel" "${PUSH[@]}" --verbose --cache "push$rep" "$TOP"
    sync
    timed "jit-$rep" dotnet "$BUILT_DLL" "${PUSH[@]}" --verbose --cache "jit$rep" "$TOP"
  else
    timed "jit-$rep" dotnet "$BUILT_DLL" "${PUSH[@]}" --verbose --cache "jit$rep" "$TOP"
    sync
    timed "cold-$rep" "$PUBLISHED/flywheel" "${PUSH[@]}" --verbose --cache "push$rep" "$TOP"
  fi
  timed "warm-$rep" "$PUBLISHED/flywheel" "${PUSH[@]}" --cache "push$rep" "$TOP"
done
flywheel cache create big --server "$SERVER" --token "$TOKEN" >/dev/null
sync
timed "big-1" "$PUBLISHED/flywheel" "${PUSH[@]}" --cache big "$BIG"

mkdir -p bench/push/results
python3 bench/push/report.py "$WORK" "$REPS" "$BIG_MIB" "$(git rev-parse --short HEAD)" bench/push/results/latest
cat bench/push/results/latest.md
