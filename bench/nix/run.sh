#!/usr/bin/env bash
# Nix side by side (issue 17): real Nix 2.8 pushes and pulls a 300-path, 230 MiB closure (bench/nix/closure.py) through
# the gateway and through the references, in one run; writes bench/nix/results/latest.{md,json}.
#
#   bench/nix/run.sh [--backend embedded|production|both] [--reps 3] [--seed N] [--duration 10] [--only push|reads] [--keep]
#
# Rows, each rep interleaved gateway / reference so drift hits both alike (medians reported):
#   push     `nix copy --to <gateway>/<cache>?compression=zstd` (cold: main, then a new cache per rep)
#            vs `nix copy --to file://<new folder>?compression=zstd`
#            and vs `nix copy --to http://<nginx>/dav/<rep>?compression=zstd`: nginx with WebDAV PUT into a folder it
#            also serves GET/HEAD from (nginx-dav), an HTTP binary cache that verifies nothing, keeps no index and
#            never fsyncs: what Nix 2.8's HTTP store protocol (per path narinfo GET, NAR HEAD, NAR PUT, narinfo PUT,
#            one path at a time) costs by itself
#   pull     `nix copy --from <gateway>/main --to local?root=<new folder>` (every path substituted, NARs unpacked; Nix
#            sends the netrc token, as a pushing CI would)
#            vs the same from nginx serving the file:// cache of the push
#   narinfo-seq  300 narinfo GETs one after another on one keep-alive connection (curl, anonymous: main is public
#                read, as substituters read it), gateway vs nginx
#   narinfo-hot  wrk, 2 threads, 64 connections, one narinfo, --duration seconds (after 10 s unmeasured) per rep, vs nginx with
#                open_file_cache max=1000 (and keepalive_requests 1000000, as an operator would set it). Needs wrk.
# During each push the gateway's time per route and method (seconds and requests, from /metrics) is recorded
# (push_routes in latest.json: where each path's server time goes, against the wall time Nix sees per path).
# The gateway's PUT time is summed from /metrics too, and the part of it spent in blob store commits
# (on production the wait for S3's PUT or CompleteMultipartUpload): PUT seconds / wall seconds is how many uploads Nix
# kept in flight on average; the peak of established connections is sampled too. The gateway's CPU seconds during each
# push and pull are recorded, and on production those of the s3rver and PostgreSQL this run started (found by the
# ports they listen on, with every process under them: PostgreSQL's per-connection backends, also those that exited),
# so the rows say how much of the time is theirs.
# --only push runs the push rows only; --only reads pushes the closure once (no row) and runs the read rows.
# --seed picks the closure (default: a fresh random one, so the local store's copies are new; the paths are deleted
# at the end). --keep keeps the temporary folder.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT="$PWD"

BACKENDS=(embedded)
REPS=3
SEED="$((RANDOM * 32768 + RANDOM))"
DURATION=10
ONLY=all
KEEP=0
while [ $# -gt 0 ]; do
  case "$1" in
    --backend) case "$2" in
        embedded|production) BACKENDS=("$2") ;;
        both) BACKENDS=(embedded production) ;;
        *) echo "run.sh: --backend is embedded, production or both" >&2; exit 2 ;;
      esac; shift 2 ;;
    --reps) REPS="$2"; shift 2 ;;
    --seed) SEED="$2"; shift 2 ;;
    --duration) DURATION="$2"; shift 2 ;;
    --only) case "$2" in
        push|reads) ONLY="$2" ;;
        *) echo "run.sh: --only is push or reads" >&2; exit 2 ;;
      esac; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

# --- tools (package lists: scripts/deps.sh, shared with scripts/test.sh) and a Release build -------------------------
source bench/lib.sh
bench_setup "${BACKENDS[@]}"

WORK="$(mktemp -d /tmp/flywheel-nix-bench.XXXXXX)"
chmod 755 "$WORK"
PIDS=()
S3_PID="" # production: s3rver's and PostgreSQL's processes (cpu_start)
PG_PID=""
cleanup() {
  set +e
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
  [ -s "$WORK/paths" ] && nix-store --delete $(cat "$WORK/paths") >/dev/null 2>&1
  if [ "$KEEP" -eq 1 ]; then echo "run.sh: kept $WORK"; else chmod -R u+w "$WORK" 2>/dev/null; rm -rf "$WORK"; fi
}
trap cleanup EXIT
bench_nix_env

echo "run.sh: closure (seed $SEED) into the Nix store"
TOP="$(python3 bench/nix/closure.py --seed "$SEED" --paths-file "$WORK/paths")"
HASHES=()
while read -r p; do HASHES+=("$(basename "$p" | cut -c1-32)"); done < "$WORK/paths"
TOP_HASH="$(basename "$TOP" | cut -c1-32)"

RESULTS="$WORK/results.jsonl"
: > "$RESULTS"
row() { # row <scenario> <server> <seconds> [extra json fields]
  echo "{\"scenario\": \"$1\", \"server\": \"$2\", \"seconds\": $3${4:+, $4}}" >> "$RESULTS"
  echo "  $1 / $2: $3 s${4:+ ($4)}"
}
timed() { # timed <command...>: runs it, prints its wall seconds
  local a b
  a=$(date +%s%N); "$@" > "$WORK/last.log" 2>&1 || { cat "$WORK/last.log" >&2; return 1; }; b=$(date +%s%N)
  python3 -c "print(round(($b - $a) / 1e9, 3))"
}
fresh_root() { local d="$WORK/root-$1"; [ -e "$d" ] && { chmod -R u+w "$d"; rm -rf "$d"; }; echo "$d"; }
commit_seconds() { # sum of the gateway's blob store commit seconds so far (on production: waiting for S3's PUT/complete)
  curl -fsS "$GW/metrics" | awk '/^flywheel_blob_store_operation_duration_seconds_sum\{op="commit"/ {s += $2} END {printf "%.3f", s}'
}
put_seconds() { # sum of the gateway's PUT seconds so far
  curl -fsS "$GW/metrics" | awk '/^flywheel_http_request_duration_seconds_sum\{method="PUT"/ {s += $2} END {printf "%.3f", s}'
}
route_totals() { # route_totals <file>: the gateway's request seconds and counts so far per "METHOD route", as JSON
  curl -fsS "$GW/metrics" | python3 -c '
import json, re, sys
t = {}
for line in sys.stdin:
    m = re.match(r"flywheel_http_request_duration_seconds_(sum|count)\{(.*)\} (\S+)", line)
    if m:
        labels = dict(re.findall(r"(\w+)=\"([^\"]*)\"", m.group(2)))
        k = labels["method"] + " " + labels["route"]
        t.setdefault(k, {"seconds": 0.0, "requests": 0})
        t[k]["seconds" if m.group(1) == "sum" else "requests"] += float(m.group(3))
print(json.dumps(t))' > "$1"
}
route_fields() { # route_fields <before file> <after file>: the difference, as a JSON field push_routes
  python3 - "$1" "$2" <<'PY'
import json, sys
a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
d = {k: {"seconds": round(v["seconds"] - a.get(k, {}).get("seconds", 0), 3), "requests": int(v["requests"] - a.get(k, {}).get("requests", 0))}
     for k, v in b.items()}
print('"push_routes": ' + json.dumps({k: v for k, v in d.items() if v["requests"] > 0}))
PY
}
cpu_seconds() { # cpu_seconds <pid...>: user+system seconds of the processes and everything under them so far
  # (utime+stime of each, plus cutime+cstime: the children it has reaped, e.g. PostgreSQL's exited backends)
  python3 - "$@" <<'PY'
import os, sys
stats, children = {}, {}
for d in os.listdir("/proc"):
    if d.isdigit():
        try:
            f = open(f"/proc/{d}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        stats[int(d)] = sum(int(x) for x in f[11:15])
        children.setdefault(int(f[1]), []).append(int(d))
todo, seen = [int(p) for p in sys.argv[1:]], set()
while todo:
    p = todo.pop()
    if p not in seen:
        seen.add(p)
        todo += children.get(p, [])
print(round(sum(stats.get(p, 0) for p in seen) / os.sysconf("SC_CLK_TCK"), 2))
PY
}
listener_pid() { # listener_pid <port>: the process listening on the loopback TCP port
  ss -Hltnp "( sport = :$1 )" | grep -o 'pid=[0-9]*' | head -n1 | cut -d= -f2
}
cpu_start() { # cpu_start: notes the CPU seconds so far of the gateway and, on production, s3rver and PostgreSQL
  cpu0_gw=$(cpu_seconds "$GW_PID")
  [ -n "$S3_PID" ] && { cpu0_s3=$(cpu_seconds "$S3_PID"); cpu0_pg=$(cpu_seconds "$PG_PID"); }
  return 0
}
cpu_fields() { # cpu_fields: the CPU seconds since cpu_start, as JSON fields
  local f="\"gateway_cpu_s\": $(python3 -c "print(round($(cpu_seconds "$GW_PID") - $cpu0_gw, 2))")"
  if [ -n "$S3_PID" ]; then
    f="$f, \"s3rver_cpu_s\": $(python3 -c "print(round($(cpu_seconds "$S3_PID") - $cpu0_s3, 2))")"
    f="$f, \"postgres_cpu_s\": $(python3 -c "print(round($(cpu_seconds "$PG_PID") - $cpu0_pg, 2))")"
  fi
  echo "$f"
}
peak_connections() { # peak_connections <port> <stop file>: samples established connections to the port every 50 ms
  local peak=0 n
  while [ ! -e "$2" ] && [ -d "$WORK" ]; do # and never past the run: the folder goes at exit
    n=$(ss -Htn state established "( sport = :$1 )" | wc -l); [ "$n" -gt "$peak" ] && peak=$n
    sleep 0.05
  done
  echo "$peak"
}

# --- nginx, serving the file:// cache of the last reference push (a symlink, switched per rep), and under /dav/ a
# WebDAV folder Nix pushes to with PUT (nginx-dav: GET/HEAD from the same folder; no verification, index or fsync)
NGINX_PORT="$(free_port)"
ln -sfn "$WORK/filecache-1" "$WORK/filecache"
mkdir -p "$WORK/nginx/davroot/dav"
echo ok > "$WORK/nginx/davroot/dav/ready"
start_nginx "$WORK/nginx" "$NGINX_PORT" "  open_file_cache max=1000;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location /main/ { alias $WORK/filecache/; }
    location /dav/ {
      root $WORK/nginx/davroot;
      dav_methods PUT;
      create_full_put_path on;
      dav_access user:rw group:r all:r;
    }
  }"
wait_http "$NGINX_URL/dav/ready" "$NGINX_PID" nginx

WRK=1
command -v wrk >/dev/null || { WRK=0; echo "run.sh: wrk is not installed (scripts/deps.sh lists it): no narinfo-hot rows" >&2; }

for backend in "${BACKENDS[@]}"; do
  server="flywheel-$backend"
  echo "run.sh: gateway ($backend)"
  start_gateway "$backend" "$WORK/gateway-$backend" "$WORK/gateway-$backend.log"
  port="${GW##*:}"
  admin=(--server "$GW" --token "$GW_TOKEN")
  [ "$backend" = production ] && { S3_PID="$(listener_pid "${S3_ENDPOINT##*:}")"; PG_PID="$(listener_pid "$(python3 -c \
    'import re, sys; print(re.search(r"Port=(\d+)", sys.argv[1]).group(1))' "$FLYWHEEL_POSTGRES")")"; }
  push_reps="$REPS"; [ "$ONLY" = reads ] && push_reps=1 # the read rows need main pushed once (gateway and file://)
  for rep in $(seq 1 "$push_reps"); do
    cache=main # public read, as the daemon creates it; later reps push to new caches (cold each time)
    if [ "$rep" -gt 1 ]; then cache="push$rep"; dotnet "$FLYWHEEL_DLL" cache create "$cache" "${admin[@]}" > /dev/null; fi
    settle
    put0=$(put_seconds); commit0=$(commit_seconds); rm -f "$WORK/stop"
    peak_connections "$port" "$WORK/stop" > "$WORK/peak" &
    route_totals "$WORK/routes0"
    cpu_start
    s=$(timed nix copy --to "$GW/$cache?compression=zstd" "$TOP")
    touch "$WORK/stop"; wait $!
    put1=$(put_seconds)
    route_totals "$WORK/routes1"
    extra="\"put_seconds\": $(python3 -c "print(round($put1 - $put0, 3))"), \"peak_connections\": $(cat "$WORK/peak"), $(cpu_fields)"
    extra="$extra, \"store_commit_seconds\": $(python3 -c "print(round($(commit_seconds) - $commit0, 3))")"
    extra="$extra, $(route_fields "$WORK/routes0" "$WORK/routes1")"
    if [ "$ONLY" = reads ]; then echo "  push / $server: $s s (not a row: --only reads)"; else row push "$server" "$s" "$extra"; fi
    if [ "$backend" = "${BACKENDS[0]}" ]; then
      settle
      s=$(timed nix copy --to "file://$WORK/filecache-$rep?compression=zstd" "$TOP")
      if [ "$ONLY" = reads ]; then echo "  push / file: $s s (not a row)"; else row push file "$s"; fi
      chmod -R a+rX "$WORK/filecache-$rep"
      if [ "$ONLY" != reads ]; then settle; row push nginx-dav "$(timed nix copy --to "$NGINX_URL/dav/$rep?compression=zstd" "$TOP")"; fi
    fi
  done
  [ "$backend" = "${BACKENDS[0]}" ] && ln -sfn "$WORK/filecache-1" "$WORK/filecache"
  if [ "$ONLY" = push ]; then kill "$GW_PID"; wait "$GW_PID" 2>/dev/null || true; S3_PID=""; continue; fi

  for rep in $(seq 1 "$REPS"); do
    settle
    root="$(fresh_root gw)"
    cpu_start
    s=$(timed nix copy --no-check-sigs --from "$GW/main" --to "local?root=$root" "$TOP")
    row pull "$server" "$s" "$(cpu_fields)"
    settle
    root="$(fresh_root nginx)"
    row pull nginx "$(timed nix copy --no-check-sigs --from "$NGINX_URL/main" --to "local?root=$root" "$TOP")"
  done
  fresh_root gw > /dev/null; fresh_root nginx > /dev/null

  # 300 narinfos one after another on one connection: one curl, keep-alive
  for target in gw nginx; do
    : > "$WORK/curl-$target"
    if [ "$target" = gw ]; then base="$GW/main"; else base="$NGINX_URL/main"; fi
    for h in "${HASHES[@]}"; do printf 'url = "%s/%s.narinfo"\noutput = "/dev/null"\n' "$base" "$h" >> "$WORK/curl-$target"; done
  done
  for rep in $(seq 1 "$REPS"); do
    cpu_start
    s=$(timed curl -fsS --http1.1 -K "$WORK/curl-gw")
    row narinfo-seq "$server" "$s" "$(cpu_fields)"
    row narinfo-seq nginx "$(timed curl -fsS --http1.1 -K "$WORK/curl-nginx")"
  done

  if [ "$WRK" -eq 1 ]; then
    for target in $(for rep in $(seq 1 "$REPS"); do echo "$server nginx"; done); do
      if [ "$target" = nginx ]; then url="$NGINX_URL/main/$TOP_HASH.narinfo"; else url="$GW/main/$TOP_HASH.narinfo"; fi
      wrk -t2 -c64 -d10s "$url" > /dev/null # unmeasured: the gateway's tier-1 JIT takes seconds on 2 loaded cores
      settle
      rps=$(wrk -t2 -c64 -d"${DURATION}s" "$url" | awk '/^Requests\/sec:/ {print $2}')
      row narinfo-hot "$target" "$DURATION" "\"rps\": $rps"
    done
  fi
  kill "$GW_PID"; wait "$GW_PID" 2>/dev/null || true; S3_PID=""
done

OUT_DIR="$ROOT/bench/nix/results"
mkdir -p "$OUT_DIR"
python3 "$ROOT/bench/nix/report.py" "$RESULTS" "$OUT_DIR/latest.json" "$OUT_DIR/latest.md" "$SEED" "$REPS" "$(nproc)"
cat "$OUT_DIR/latest.md"
