#!/usr/bin/env bash
# Side-by-side load run: flywheel and nginx on this machine, serving the same bytes, driven by the same load
# generators; writes bench/load/results/latest.{md,json}.
#
#   bench/load/run.sh [--backend embedded|production|both] [--duration SECONDS] [--smoke] [--only LIST] [--keep]
#
# --backend    embedded (default: local disk + SQLite), production (s3rver + PostgreSQL started on loopback by
#              the benchmarks project's `backend` command, the tests' harness), or both, one after the other.
# --duration   seconds per scenario (default 10), each after 2 s of the same load that is not measured (warm-up);
#              --smoke is --duration 1 (1 s warm-up) and results/smoke.{md,json}.
#              Results go to results/latest.{md,json}, or results/production.{md,json} for --backend production.
# --only       run only these scenarios (comma-separated ids, e.g. cas-get-64m,bytestream-read-64m; the dd and nginx
#              rows of a listed scenario run with it); results then go to results/only.{md,json}.
# --keep       keep the temporary folder (logs, configs, nginx's directories) for a look afterwards.
#
# What runs: the gateway (Release build) and nginx (Debian's, unprivileged, with its own config and prefix in a
# temporary folder). Content: a small and a 64 MiB store path added to the real Nix store, `nix copy`-ed with
# compression=none to a file:// binary cache that nginx serves as /main/ and to the gateway's cache main (token
# from <data>/admin.token, through a netrc, as the integration tests push); a 64 MiB blob PUT to both /cas/
# (nginx: WebDAV PUT). Reads over HTTP/1.1 are driven by wrk, gRPC by the benchmarks project's `load` command
# (generated clients on Grpc.Net.Client), uploads by its `load http-put` (new bytes on every PUT, for nginx and us alike: a store that
# has a blob need not write it again). Peak RSS is sampled from /proc (gateway; nginx master + workers) every 100 ms.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT="$PWD"

BACKENDS=(embedded)
DURATION=10
WARMUP=2 # seconds of the same load before each measured scenario (gateway: JIT tiering; nginx: nothing to warm)
SMOKE=0
KEEP=0
ONLY=""
while [ $# -gt 0 ]; do
  case "$1" in
    --backend) case "$2" in
        embedded|production) BACKENDS=("$2") ;;
        both) BACKENDS=(embedded production) ;;
        *) echo "run.sh: --backend is embedded, production or both" >&2; exit 2 ;;
      esac; shift 2 ;;
    --duration) DURATION="$2"; shift 2 ;;
    --smoke) SMOKE=1; DURATION=1; WARMUP=1; shift ;;
    --only) ONLY=",$2,"; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

# --- tools (package lists: scripts/deps.sh, shared with scripts/test.sh) and a Release build -------------------------
source bench/lib.sh
bench_setup "${BACKENDS[@]}"

# --- temporary folder and cleanup ----------------------------------------------------------------------------
WORK="$(mktemp -d /tmp/flywheel-load.XXXXXX)"
chmod 755 "$WORK"
PIDS=()
STORE_PATHS=()
cleanup() {
  set +e
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
  if [ ${#STORE_PATHS[@]} -gt 0 ]; then nix-store --delete "${STORE_PATHS[@]}" >/dev/null 2>&1; fi
  if [ "$KEEP" -eq 1 ]; then echo "run.sh: kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT


# RSS sampler: "<ms> <pid> <VmRSS kB>" for every watched process (a file lists the pids of each server).
mkdir -p "$WORK/rss"
sample_rss() {
  while true; do
    local t; t=$(now_ms)
    for list in "$WORK"/rss/*.pids; do
      [ -f "$list" ] || continue
      local name total=0 pid kb
      name=$(basename "$list" .pids)
      for pid in $(cat "$list" 2>/dev/null) $(for p in $(cat "$list" 2>/dev/null); do pgrep -P "$p"; done); do
        kb=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
        total=$((total + ${kb:-0}))
      done
      echo "$t $name $total" >> "$WORK/rss/samples"
    done
    sleep 0.1
  done
}
peak_rss_mib() { # name from_ms to_ms
  awk -v n="$1" -v a="$2" -v b="$3" '$2 == n && $1 >= a && $1 <= b && $3 > m {m = $3} END {if (m != "") printf "%.1f", m / 1024}' "$WORK/rss/samples"
}

# --- content -------------------------------------------------------------------------------------------------
echo "run.sh: creating content in $WORK"
bench_nix_env
mkdir -p "$WORK/content"
NONCE="$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')"
printf 'flywheel load run %s\n' "$NONCE" > "$WORK/content/fw-bench-small-$NONCE"
head -c $((64 * 1024 * 1024)) /dev/urandom > "$WORK/content/fw-bench-large-$NONCE"
SMALL_PATH="$(nix-store --add "$WORK/content/fw-bench-small-$NONCE")"; STORE_PATHS+=("$SMALL_PATH")
LARGE_PATH="$(nix-store --add "$WORK/content/fw-bench-large-$NONCE")"; STORE_PATHS+=("$LARGE_PATH")
SMALL_HASH="$(basename "$SMALL_PATH" | cut -c1-32)"
LARGE_HASH="$(basename "$LARGE_PATH" | cut -c1-32)"
MISS_HASH="0123456789abcdfghijklmnpqrsvwxyz"   # valid Nix base32, never a real path
nix copy --to "file://$WORK/nix-cache?compression=none" "$SMALL_PATH" "$LARGE_PATH"
NAR_URL="$(sed -n 's/^URL: //p' "$WORK/nix-cache/$LARGE_HASH.narinfo")"
head -c $((1024 * 1024)) /dev/urandom > "$WORK/content/blob-1m"
cp "$WORK/content/fw-bench-large-$NONCE" "$WORK/content/blob-64m"
BLOB_64M_HASH="$(sha256sum "$WORK/content/blob-64m" | cut -d' ' -f1)"

# --- nginx ---------------------------------------------------------------------------------------------------
NGINX_PORT="$(free_port)"
mkdir -p "$WORK/webdav/cas"
[ "$(id -u)" -eq 0 ] && { chmod -R a+rX "$WORK/nix-cache" "$WORK/content"; chown -R nobody: "$WORK/webdav"; }
start_nginx "$WORK/nginx" "$NGINX_PORT" "  server {
    listen 127.0.0.1:$NGINX_PORT;
    location /main/ { alias $WORK/nix-cache/; }
    location /cas/ { root $WORK/webdav; dav_methods PUT; create_full_put_path on; }
  }"
echo "$NGINX_PID" > "$WORK/rss/nginx.pids"
wait_http "$NGINX_URL/main/nix-cache-info" "$NGINX_PID" nginx
curl -fsS -X PUT --data-binary @"$WORK/content/blob-64m" "$NGINX_URL/cas/$BLOB_64M_HASH" -o /dev/null

sample_rss &
PIDS+=("$!")

# --- measurement helpers -------------------------------------------------------------------------------------
# wanted <scenario>: whether --only (if given) lists it
wanted() { [ -z "$ONLY" ] || [[ "$ONLY" == *",$1,"* ]]; }

RESULTS="$WORK/results.jsonl"
: > "$RESULTS"
cat > "$WORK/report.lua" <<'EOF'
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{"requests":%d,"seconds":%.3f,"bytes_read":%d,"errors":%d,"non_2xx":%d,"p50_ms":%.3f,"p99_ms":%.3f}\n',
    summary.requests, summary.duration / 1e6, summary.bytes, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
EOF

# record <scenario> <server> <peak RSS MiB> <json with requests, seconds, ...> <bytes per request or "read">
record() {
  python3 - "$@" >> "$RESULTS" <<'PY'
import json, sys
scenario, server, rss, raw, per_request = sys.argv[1:6]
m = json.loads(raw)
if "calls" in m:  # the gRPC driver
    row = {"requests": m["calls"], "seconds": m["seconds"], "rps": m["calls_per_s"], "mb_s": m["mb_per_s"],
           "p50_ms": m["p50_ms"], "p99_ms": m["p99_ms"], "errors": 0}
else:             # wrk
    moved = m["bytes_read"] if per_request == "read" else m["requests"] * int(per_request)
    row = {"requests": m["requests"], "seconds": m["seconds"], "rps": round(m["requests"] / m["seconds"], 1),
           "mb_s": round(moved / 1e6 / m["seconds"], 1), "p50_ms": m["p50_ms"], "p99_ms": m["p99_ms"],
           "errors": m["errors"], "non_2xx": m["non_2xx"]}
row.update(scenario=scenario, server=server, peak_rss_mib=float(rss) if rss else None)
print(json.dumps(row))
PY
}

# wrk_run <scenario> <server> <rss name> <threads> <connections> <bytes per request|read> <url> [wrk args...]
wrk_run() {
  local scenario="$1" server="$2" rss="$3" threads="$4" conns="$5" per="$6" url="$7"; shift 7
  wanted "$scenario" || return 0
  local from to out
  wrk -t"$threads" -c"$conns" -d"${WARMUP}s" --timeout 60s "$url" > /dev/null # warm-up, not measured
  settle
  from=$(now_ms)
  out="$(wrk -t"$threads" -c"$conns" -d"${DURATION}s" --timeout 60s "$@" "$url" | tail -n 1)"
  to=$(now_ms)
  record "$scenario" "$server" "$(peak_rss_mib "$rss" "$from" "$to")" "$out" "$per"
  echo "  $scenario / $server: $out"
}

# drive <scenario> <server> <rss name> <load command arguments...>: the benchmarks project's load driver
drive() {
  local scenario="$1" server="$2" rss="$3" from to out; shift 3
  wanted "$scenario" || return 0
  settle
  from=$(now_ms)
  out="$(dotnet "$BENCH_DLL" load "$@" --duration "$DURATION" --warmup "$WARMUP" | tail -n 1)"
  to=$(now_ms)
  record "$scenario" "$server" "$(peak_rss_mib "$rss" "$from" "$to")" "$out" read
  echo "  $scenario / $server: $out"
}

# dd_run <scenario> <file> [rewrite]: sequential writes of the file's size (fsync) for the scenario's duration.
# By default every write is a new file, kept until the scenario ends, as a cache keeps what it stores (server "dd",
# the baseline). With "rewrite", one file is deleted and written again (server "dd-rewrite", shown for reference):
# the kernel then reuses the pages it just freed, which on this VM is about 2.5x faster than taking pages never
# used before (64 MiB: ~70 ms against ~180 ms), a speed no server that keeps its uploads can see.
dd_run() {
  local scenario="$1" file="$2" mode="${3:-keep}" size n=0 from to server=dd
  wanted "$scenario" || return 0
  [ "$mode" = rewrite ] && server=dd-rewrite
  size=$(stat -c %s "$file")
  mkdir -p "$WORK/dd"
  settle
  from=$(date +%s%N)
  to=$((from + DURATION * 1000000000))
  local lat=()
  while [ "$(date +%s%N)" -lt "$to" ] || [ "$n" -eq 0 ]; do
    local a b out_file="$WORK/dd/$n"
    if [ "$mode" = rewrite ]; then out_file="$WORK/dd/out"; rm -f "$out_file"; fi
    a=$(date +%s%N)
    dd if="$file" of="$out_file" bs=1M conv=fsync status=none
    b=$(date +%s%N)
    lat+=($(( (b - a) / 1000 )))
    n=$((n + 1))
  done
  local out
  out=$(python3 -c 'import json,sys; l=sorted(int(x) for x in sys.argv[3:]); n=len(l); s=sum(l)/1e6
print(json.dumps({"calls": n, "seconds": round(s,3), "calls_per_s": round(n/s,1), "mb_per_s": round(n*int(sys.argv[1])/1e6/s,1),
 "p50_ms": l[(n+1)//2-1]/1000, "p99_ms": l[max(0,-(-99*n//100)-1)]/1000}))' "$size" "$n" "${lat[@]}")
  rm -rf "$WORK/dd"
  record "$scenario" "$server" "" "$out" "$size"
  echo "  $scenario / $server: $out"
}

# --- nginx scenarios -----------------------------------------------------------------------------------------
echo "run.sh: nginx $(nginx -v 2>&1 | sed 's/.*\///'), $DURATION s per scenario"
wrk_run narinfo-hot nginx nginx 2 64 read "$NGINX_URL/main/$SMALL_HASH.narinfo" -s "$WORK/report.lua"
wrk_run narinfo-miss nginx nginx 2 64 read "$NGINX_URL/main/$MISS_HASH.narinfo" -s "$WORK/report.lua"
wrk_run nar-get-64m nginx nginx 2 4 read "$NGINX_URL/main/$NAR_URL" -s "$WORK/report.lua"
wrk_run cas-get-64m nginx nginx 2 4 read "$NGINX_URL/cas/$BLOB_64M_HASH" -s "$WORK/report.lua"
drive cas-put-1m nginx nginx http-put --url "$NGINX_URL/cas/" --size $((1024 * 1024))
drive cas-put-64m nginx nginx http-put --url "$NGINX_URL/cas/" --size $((64 * 1024 * 1024))
dd_run cas-put-1m "$WORK/content/blob-1m"
dd_run cas-put-64m "$WORK/content/blob-64m"
dd_run cas-put-64m "$WORK/content/blob-64m" rewrite

# --- gateway scenarios, per backend --------------------------------------------------------------------------
for backend in "${BACKENDS[@]}"; do
  server="flywheel-$backend"
  data="$WORK/gateway-$backend"
  echo "run.sh: gateway ($backend)"
  start_gateway "$backend" "$data" "$WORK/gateway-$backend.log"
  gw_pid="$GW_PID"; token="$GW_TOKEN"; grpc_port="$GW_GRPC_PORT"
  nix copy --to "$GW/main?compression=none" "$SMALL_PATH" "$LARGE_PATH"
  gw_nar_url="$(curl -fsS "$GW/main/$LARGE_HASH.narinfo" | sed -n 's/^URL: //p')"
  auth=(-H "Authorization: Bearer $token")
  curl -fsS "${auth[@]}" -X PUT --data-binary @"$WORK/content/blob-64m" "$GW/cas/$BLOB_64M_HASH" -o /dev/null
  echo "$gw_pid" > "$WORK/rss/$server.pids"
  sleep 0.3

  wrk_run narinfo-hot "$server" "$server" 2 64 read "$GW/main/$SMALL_HASH.narinfo" -s "$WORK/report.lua"
  wrk_run narinfo-miss "$server" "$server" 2 64 read "$GW/main/$MISS_HASH.narinfo" -s "$WORK/report.lua"
  wrk_run nar-get-64m "$server" "$server" 2 4 read "$GW/main/$gw_nar_url" -s "$WORK/report.lua"
  wrk_run cas-get-64m "$server" "$server" 2 4 read "$GW/cas/$BLOB_64M_HASH" -s "$WORK/report.lua"
  if [ "$backend" = production ]; then
    # The same object read from s3rver directly (it does not check signatures): the ceiling for the gateway's reads.
    s3_url="$S3_ENDPOINT/$S3_BUCKET/blobs/${BLOB_64M_HASH:0:2}/$BLOB_64M_HASH"
    if curl -fsS -o /dev/null "$s3_url"; then
      wrk_run cas-get-64m s3rver s3rver 2 4 read "$s3_url" -s "$WORK/report.lua"
    else
      echo "run.sh: s3rver refused an unsigned GET of $s3_url; no s3rver row" >&2
    fi
  fi
  drive cas-put-1m "$server" "$server" http-put --url "$GW/cas/" --token "$token" --size $((1024 * 1024))
  drive cas-put-64m "$server" "$server" http-put --url "$GW/cas/" --token "$token" --size $((64 * 1024 * 1024))
  grpc=(--grpc "http://127.0.0.1:$grpc_port" --token "$token")
  drive findmissing-10k "$server" "$server" findmissing --count 10000 "${grpc[@]}"
  drive bytestream-read-64m "$server" "$server" bytestream-read --size $((64 * 1024 * 1024)) --concurrency 4 "${grpc[@]}"
  drive bytestream-write-64m "$server" "$server" bytestream-write --size $((64 * 1024 * 1024)) "${grpc[@]}"
  hwm=$(awk '/^VmHWM:/ {printf "%.1f", $2 / 1024}' "/proc/$gw_pid/status")
  echo "{\"scenario\": \"process\", \"server\": \"$server\", \"vm_hwm_mib\": $hwm}" >> "$RESULTS"
  kill "$gw_pid"; wait "$gw_pid" 2>/dev/null || true
  rm -f "$WORK/rss/$server.pids"
done
nginx_hwm=0
for pid in "$NGINX_PID" $(pgrep -P "$NGINX_PID"); do
  kb=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0); nginx_hwm=$((nginx_hwm + kb))
done
echo "{\"scenario\": \"process\", \"server\": \"nginx\", \"vm_hwm_mib\": $(python3 -c "print(round($nginx_hwm / 1024, 1))")}" >> "$RESULTS"

# --- report --------------------------------------------------------------------------------------------------
OUT_DIR="$ROOT/bench/load/results"
# A production-only run writes production.{md,json}: latest.* holds the embedded (and --backend both) table.
NAME=latest; [ "${BACKENDS[*]}" = production ] && NAME=production
[ "$SMOKE" -eq 1 ] && NAME=smoke
[ -n "$ONLY" ] && NAME=only
mkdir -p "$OUT_DIR"
python3 "$ROOT/bench/load/report.py" "$RESULTS" "$OUT_DIR/$NAME.json" "$OUT_DIR/$NAME.md" "$DURATION" "$(nproc)"
cat "$OUT_DIR/$NAME.md"
