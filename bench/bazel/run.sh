#!/usr/bin/env bash
# Bazel rebuild benchmark (issue 15): real Bazel 4.2.3 rebuilds a generated workspace after `bazel clean`, every action
# a cache hit, from --disk_cache, over our gRPC and over our HTTP /ac /cas, in one run; writes
# bench/bazel/results/latest.{md,json} (median wall clock per mode and its ratio to --disk_cache).
#
#   bench/bazel/run.sh [--reps 5] [--actions 200] [--profile] [--keep]
#
# --reps      timed rebuilds per mode (default 5), interleaved (disk, grpc, http, nginx, disk, ...) so drift hits all alike.
# --actions   genrules in the workspace (default 200, in 8 layers; outputs 8 bytes to 8 MiB: bench/bazel/workspace.py).
# --profile   after the timed rebuilds, one more rebuild per mode with --profile (the gRPC one also with
#             --experimental_remote_grpc_log): `bazel analyze-profile` of each, the cache lookup and download spans
#             per action from the profile, every gRPC call with its latency as Bazel saw it, and the server's /metrics
#             before and after go to results/profile-*.txt.
# --keep      keep the temporary folder (workspace, caches, logs).
#
# What runs: `flywheel serve` (published as a user installs it, ReadyToRun; embedded default: local disk + SQLite) on
# loopback free ports, nginx with WebDAV PUT as the reference HTTP cache (mode nginx: a static file server that checks
# nothing, the floor of Bazel's HTTP cache client), and one
# Bazel server (offline, isolated the way tests/…/BazelEnvironment.cs runs it: own output root and HOME, no rc files,
# Debian's install base). For each mode: `bazel clean`, a full build that executes every action and fills the cache
# (populate), then per repetition `bazel clean` and the timed `bazel build //...`. The Bazel server and flywheel keep
# running between clean and rebuild, as they do for users; only the client command is timed (wall clock). A rebuild
# counts only when Bazel reports every action as a cache hit.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT="$PWD"

REPS=5
ACTIONS=200
PROFILE=0
KEEP=0
while [ $# -gt 0 ]; do
  case "$1" in
    --reps) REPS="$2"; shift 2 ;;
    --actions) ACTIONS="$2"; shift 2 ;;
    --profile) PROFILE=1; shift ;;
    --keep) KEEP=1; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

source scripts/deps.sh
ensure_debian_packages run.sh "${BENCH_BAZEL_DEBIAN_PACKAGES[@]}"

source bench/lib.sh
publish_flywheel

WORK="$(mktemp -d /tmp/flywheel-bazel-bench.XXXXXX)"
PIDS=()
BAZEL_STARTED=0
cleanup() {
  set +e
  [ "$BAZEL_STARTED" -eq 1 ] && (cd "$WS" && bazel_cmd shutdown >/dev/null 2>&1)
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
  if [ "$KEEP" -eq 1 ]; then echo "run.sh: kept $WORK"; else chmod -R u+w "$WORK" 2>/dev/null; rm -rf "$WORK"; fi
}
trap cleanup EXIT


# --- Bazel, offline and isolated (as BazelEnvironment) ---------------------------------------------------------
mkdir -p "$WORK"/{output-user-root,home,tmp,disk-cache,logs}
STARTUP=(--nosystem_rc --nohome_rc --noworkspace_rc)
[ -f /usr/share/bazel/install_base_key ] && STARTUP+=(--install_base=/usr/share/bazel --trust_install_base)
STARTUP+=("--output_user_root=$WORK/output-user-root" --host_jvm_args=-Xmx1g --max_idle_secs=600)
BUILD_OPTS=(--symlink_prefix=/ --color=no --curses=no --noshow_progress)
bazel_cmd() {
  env -u TEST_TMPDIR -u USE_BAZEL_VERSION -u BAZELISK_HOME -u BAZEL_REAL HOME="$WORK/home" TMPDIR="$WORK/tmp" \
    bazel "${STARTUP[@]}" "$@"
}

NONCE="$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')"
WS="$WORK/workspace"
read -r N_ACTIONS OUT_BYTES < <(python3 "$ROOT/bench/bazel/workspace.py" "$WS" --actions "$ACTIONS" --nonce "$NONCE")
echo "run.sh: workspace $WS: $N_ACTIONS genrules, $OUT_BYTES output bytes"

# --- flywheel --------------------------------------------------------------------------------------------------
HTTP_PORT="$(free_port)"; GRPC_PORT="$(free_port)"
DATA="$WORK/flywheel"
dotnet "$FLYWHEEL_DLL" serve --http "127.0.0.1:$HTTP_PORT" --grpc "127.0.0.1:$GRPC_PORT" --data "$DATA" > "$WORK/logs/flywheel.log" 2>&1 &
FW_PID=$!; PIDS+=("$FW_PID")
GW="http://127.0.0.1:$HTTP_PORT"
for _ in $(seq 1 600); do
  curl -fsS -o /dev/null "$GW/healthz" 2>/dev/null && break
  kill -0 "$FW_PID" 2>/dev/null || { cat "$WORK/logs/flywheel.log" >&2; echo "run.sh: flywheel exited" >&2; exit 1; }
  sleep 0.1
done
for _ in $(seq 1 100); do [ -s "$DATA/admin.token" ] && break; sleep 0.1; done
TOKEN="$(cat "$DATA/admin.token")"
# gRPC uses the default instance (main); HTTP gets a cache of its own, so its populate build uploads everything
# itself instead of finding what the gRPC populate stored (each cache serves only the blobs it owns).
dotnet "$FLYWHEEL_DLL" cache create bench-http --server "$GW" --token "$TOKEN" > "$WORK/logs/cache-create.log"
echo "run.sh: flywheel on $GW, gRPC 127.0.0.1:$GRPC_PORT"

# The reference for Bazel's HTTP cache client: nginx with WebDAV PUT into the folder it serves /ac/ and /cas/ from
# (a static file server that checks nothing), the floor of what any HTTP cache costs Bazel per action.
chmod 755 "$WORK"
mkdir -p "$WORK/nginx-cache"
NGINX_PORT="$(free_port)"
start_nginx "$WORK/nginx" "$NGINX_PORT" "  server {
    listen 127.0.0.1:$NGINX_PORT;
    location / { root $WORK/nginx-cache; dav_methods PUT; create_full_put_path on; dav_access user:rw group:r all:r; }
  }"
[ "$(id -u)" -eq 0 ] && chown nobody: "$WORK/nginx-cache"
for _ in $(seq 1 100); do curl -s -o /dev/null "$NGINX_URL/" && break; sleep 0.1; done

MODES=(disk grpc http nginx)
mode_flags() {
  case "$1" in
    disk) echo "--disk_cache=$WORK/disk-cache" ;;
    grpc) echo "--remote_cache=grpc://127.0.0.1:$GRPC_PORT" ;;
    http) echo "--remote_cache=$GW/bench-http" ;;
    nginx) echo "--remote_cache=$NGINX_URL" ;;
  esac
}
RESULTS="$WORK/results.jsonl"
: > "$RESULTS"

# build <mode> <label> [extra flags...]: one `bazel build //...`; prints "<ms> <cache hits>"; fails on a failed build.
# cpu_ms <pid>: the process's user + system CPU time so far, in ms (0 when it is gone).
cpu_ms() { awk -v hz="$(getconf CLK_TCK)" '{print int(($14 + $15) * 1000 / hz)}' "/proc/$1/stat" 2>/dev/null || echo 0; }
BAZEL_PID=0
# build <mode> <label> [bazel flags...]: prints "<wall ms> <cache hits> <flywheel CPU ms> <Bazel server CPU ms>".
build() {
  local mode="$1" label="$2" from to log="$WORK/logs/$1-$2.log"; shift 2
  local flags=("$(mode_flags "$mode")")
  [ "$mode" = disk ] || flags+=("--remote_header=Authorization=Bearer $TOKEN")
  local fw0 bz0
  fw0=$(cpu_ms "$FW_PID"); bz0=$(cpu_ms "$BAZEL_PID")
  from=$(now_ms)
  if ! (cd "$WS" && bazel_cmd build "${BUILD_OPTS[@]}" "${flags[@]}" "$@" //... > "$log" 2>&1); then
    tail -n 30 "$log" >&2; echo "run.sh: $mode $label build failed" >&2; return 1
  fi
  to=$(now_ms)
  # Bazel 4.2.3: "INFO: 201 processes: 1 internal, 200 remote cache hit." (disk cache hits count as remote too)
  local hits
  hits=$(sed -n 's/.*[^0-9]\([0-9][0-9]*\) \(remote\|disk\) cache hit.*/\1/p' "$log" | tail -n 1)
  echo "$((to - from)) ${hits:-0} $(( $(cpu_ms "$FW_PID") - fw0 )) $(( $(cpu_ms "$BAZEL_PID") - bz0 ))"
}
clean() { (cd "$WS" && bazel_cmd clean --color=no --curses=no > "$WORK/logs/clean.log" 2>&1); }

BAZEL_STARTED=1
# Debian's bazel-bootstrap reports "no_version": the package's version says which Bazel it is.
echo "run.sh: Bazel $(dpkg-query -W -f='${Version}' bazel-bootstrap 2>/dev/null), load average $(cut -d' ' -f1-3 /proc/loadavg);" \
  "populating each cache (every action executed)"
for mode in "${MODES[@]}"; do
  clean
  out="$(build "$mode" populate)"; read -r ms hits _ _ <<< "$out"
  echo "  populate $mode: $ms ms ($hits cache hits)"
  echo "{\"mode\": \"$mode\", \"phase\": \"populate\", \"ms\": $ms, \"hits\": $hits}" >> "$RESULTS"
  # The Bazel server (one JVM for every mode), so each rebuild can report its CPU time next to flywheel's.
  [ "$BAZEL_PID" -ne 0 ] || BAZEL_PID="$(cd "$WS" && bazel_cmd info server_pid 2>/dev/null || echo 0)"
done

echo "run.sh: $REPS timed rebuilds per mode after bazel clean (servers kept running)"
for rep in $(seq 1 "$REPS"); do
  for mode in "${MODES[@]}"; do
    clean
    sync
    out="$(build "$mode" "rebuild-$rep")"; read -r ms hits fw_cpu bazel_cpu <<< "$out"
    echo "  rebuild $rep $mode: $ms ms ($hits of $N_ACTIONS cache hits; CPU: flywheel $fw_cpu ms, Bazel server $bazel_cpu ms)"
    echo "{\"mode\": \"$mode\", \"phase\": \"rebuild\", \"rep\": $rep, \"ms\": $ms, \"hits\": $hits, \"flywheel_cpu_ms\": $fw_cpu, \"bazel_cpu_ms\": $bazel_cpu}" >> "$RESULTS"
  done
done

OUT_DIR="$ROOT/bench/bazel/results"
mkdir -p "$OUT_DIR"
if [ "$PROFILE" -eq 1 ]; then
  echo "run.sh: one profiled rebuild per mode"
  for mode in "${MODES[@]}"; do
    clean
    curl -fsS "$GW/metrics" > "$WORK/logs/metrics-$mode-before.txt"
    extra=("--profile=$WORK/logs/$mode.profile.gz" --experimental_profile_include_target_label)
    capture=0
    if [ "$mode" = grpc ]; then
      extra+=("--experimental_remote_grpc_log=$WORK/logs/grpc-calls.log")
      # The gRPC connection's packets (loopback, whole segments): HTTP/2 frames and their timing per call.
      tcpdump -i lo -s 0 -B 65536 -U -w "$WORK/logs/grpc.pcap" "tcp port $GRPC_PORT" 2> "$WORK/logs/tcpdump.log" &
      capture=$!
      for _ in $(seq 1 50); do grep -q listening "$WORK/logs/tcpdump.log" && break; sleep 0.1; done
    fi
    out="$(build "$mode" profile "${extra[@]}")"; read -r ms hits fw_cpu bazel_cpu <<< "$out"
    if [ "$capture" -ne 0 ]; then kill -INT "$capture"; wait "$capture" 2>/dev/null || true; fi
    curl -fsS "$GW/metrics" > "$WORK/logs/metrics-$mode-after.txt"
    echo "  profiled $mode: $ms ms ($hits hits; CPU: flywheel $fw_cpu ms, Bazel server $bazel_cpu ms)"
    { echo "# $mode rebuild with --profile: $ms ms, $hits of $N_ACTIONS cache hits, load average $(cut -d' ' -f1-3 /proc/loadavg)"
      echo "# CPU during the rebuild: flywheel $fw_cpu ms, Bazel server (JVM) $bazel_cpu ms"
      (cd "$WS" && bazel_cmd analyze-profile "$WORK/logs/$mode.profile.gz" 2>/dev/null)
      echo; echo "# Per action, the remote cache's steps as Bazel's profile times them"
      python3 "$ROOT/bench/bazel/report.py" profile-spans "$WORK/logs/$mode.profile.gz"
      if [ "$mode" = grpc ]; then
        echo; echo "# Every gRPC call as Bazel's client saw it (--experimental_remote_grpc_log)"
        python3 "$ROOT/bench/bazel/report.py" grpc-log "$WORK/logs/grpc-calls.log" "$ms"
        echo; echo "# The gRPC connection on the wire (tcpdump of the rebuild; $(grep -o '[0-9]* packets dropped by kernel' "$WORK/logs/tcpdump.log" || echo 'drops unknown'))"
        python3 "$ROOT/bench/bazel/report.py" h2-capture "$WORK/logs/grpc.pcap" "$GRPC_PORT" "$ms"
      fi
      echo; echo "# flywheel /metrics counters that moved during the rebuild"
      python3 "$ROOT/bench/bazel/report.py" metrics-diff "$WORK/logs/metrics-$mode-before.txt" "$WORK/logs/metrics-$mode-after.txt"
    } > "$OUT_DIR/profile-$mode.txt"
  done
fi

python3 "$ROOT/bench/bazel/report.py" report "$RESULTS" "$OUT_DIR/latest.json" "$OUT_DIR/latest.md" "$N_ACTIONS" "$OUT_BYTES" "$(nproc)" "$(git rev-parse --short HEAD)"
cat "$OUT_DIR/latest.md"
