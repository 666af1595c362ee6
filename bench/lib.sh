# Sourced by the side-by-side benchmarks (bench/load/run.sh, bench/bazel/run.sh, bench/nix/run.sh, bench/push/run.sh): the helpers they
# share. Callers set ROOT (repository root) and WORK (their temporary folder) and keep PIDS, an array of processes to
# stop at exit (the gateway and backend helpers append to it).

# bench_setup <backend...>: the Debian packages and, when production is among the backends, s3rver (scripts/deps.sh,
# shared with scripts/test.sh); the gateway as a user installs it (publish_flywheel) and a Release build of the
# benchmarks project. Sets FLYWHEEL_DLL, BENCH_DLL.
bench_setup() {
  source scripts/deps.sh
  ensure_debian_packages run.sh "${BENCH_DEBIAN_PACKAGES[@]}"
  if [[ " $* " == *" production "* ]]; then
    ensure_debian_packages run.sh "${BENCH_PRODUCTION_DEBIAN_PACKAGES[@]}"
    ensure_s3rver run.sh "$ROOT"
  fi
  publish_flywheel
  dotnet build bench/Flywheel.Cache.Benchmarks -c Release --nologo -v quiet >/dev/null
  BENCH_DLL="$ROOT/bench/Flywheel.Cache.Benchmarks/bin/Release/net10.0/Flywheel.Cache.Benchmarks.dll"
}

# publish_flywheel: `flywheel` as a user installs it, the `dotnet publish -c Release` output (ReadyToRun code, as
# nix/package.nix builds it: no gateway row measures the JIT compiling it), plus the Release build beside it. Sets
# FLYWHEEL_DLL (published) and BUILT_DLL (the build output, IL only).
publish_flywheel() {
  echo "run.sh: building and publishing (Release, ReadyToRun)" >&2
  dotnet build src/Flywheel.Cache.Server -c Release --nologo -v quiet >/dev/null
  dotnet publish src/Flywheel.Cache.Server -c Release --nologo -v quiet -o "$ROOT/src/Flywheel.Cache.Server/bin/Release/publish" >/dev/null
  flywheel_paths
}

# flywheel_paths: FLYWHEEL_DLL and BUILT_DLL of the last publish_flywheel, without building (--no-build).
flywheel_paths() {
  FLYWHEEL_DLL="$ROOT/src/Flywheel.Cache.Server/bin/Release/publish/flywheel.dll"
  BUILT_DLL="$ROOT/src/Flywheel.Cache.Server/bin/Release/net10.0/flywheel.dll"
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now_ms() { date +%s%3N; }

# wait_http <url> <pid> <what>: until the URL answers 2xx, failing if the process exits or 60 s pass.
wait_http() {
  for _ in $(seq 1 600); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || { echo "bench: $3 exited" >&2; return 1; }
    sleep 0.1
  done
  echo "bench: $3 did not answer $1" >&2; return 1
}

# settle: every scenario starts with no dirty pages waiting for writeback. PUT scenarios and dd leave up to gigabytes
# behind (nginx does not fsync), and the kernel's flusher threads then compete for the two cores (and throttle
# writers) during whichever scenario comes next.
settle() {
  sync
  for _ in $(seq 1 50); do
    [ "$(awk '/^(Dirty|Writeback):/ {s += $2} END {print s}' /proc/meminfo)" -lt 16384 ] && break
    sleep 0.1
  done
  sleep 0.5
}

# bench_nix_env: an isolated Nix configuration in $WORK (no substituters, no signatures required, the netrc at
# $WORK/netrc for the gateway's token, no narinfo disk cache so every run asks the server).
bench_nix_env() {
  export NIX_CONF_DIR="$WORK/nix-conf" XDG_CACHE_HOME="$WORK/xdg-cache" TMPDIR="$WORK/tmp"
  unset NIX_REMOTE NIX_CONFIG || true
  mkdir -p "$NIX_CONF_DIR" "$XDG_CACHE_HOME" "$TMPDIR"
  cat > "$NIX_CONF_DIR/nix.conf" <<EOF
experimental-features = nix-command
sandbox = false
build-users-group =
substituters =
require-sigs = false
netrc-file = $WORK/netrc
narinfo-cache-negative-ttl = 0
narinfo-cache-positive-ttl = 0
EOF
}

# start_nginx <prefix dir> <port> <http block lines>: Debian's nginx, unprivileged (as nobody when we are root), with
# its own prefix and the settings an operator would give a static file server (sendfile, keep-alive without a request
# limit). Sets NGINX_PID and NGINX_URL. The caller makes the served folders readable (a+rX) first.
start_nginx() {
  local ngx="$1" port="$2" body="$3"
  mkdir -p "$ngx"/{logs,body,proxy,fastcgi,uwsgi,scgi}
  cat > "$ngx/nginx.conf" <<EOF
daemon off;
worker_processes auto;
pid $ngx/nginx.pid;
error_log $ngx/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  log_not_found off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  client_max_body_size 0;
  client_body_temp_path $ngx/body;
  proxy_temp_path $ngx/proxy;
  fastcgi_temp_path $ngx/fastcgi;
  uwsgi_temp_path $ngx/uwsgi;
  scgi_temp_path $ngx/scgi;
  types { text/x-nix-narinfo narinfo; text/plain nix-cache-info; }
  default_type application/octet-stream;
$body
}
EOF
  local run=(nginx -p "$ngx" -c "$ngx/nginx.conf" -e "$ngx/logs/error.log")
  if [ "$(id -u)" -eq 0 ]; then
    chown -R nobody: "$ngx"
    run=(setpriv --reuid=nobody --regid=nogroup --clear-groups "${run[@]}")
  fi
  "${run[@]}" &
  NGINX_PID=$!; PIDS+=("$NGINX_PID")
  NGINX_URL="http://127.0.0.1:$port"
}

# start_gateway <embedded|production> <data dir> <log file>: `flywheel serve` (FLYWHEEL_DLL) on free loopback ports;
# production first starts s3rver + PostgreSQL through the benchmarks project's `backend` command (BENCH_DLL, the
# tests' harness) and exports its S3_*/PG settings. Sets GW (URL), GW_PID, GW_GRPC_PORT, GW_TOKEN (admin token) and
# writes $WORK/netrc with it.
start_gateway() {
  local backend="$1" data="$2" log="$3" http_port
  http_port="$(free_port)"; GW_GRPC_PORT="$(free_port)"
  local args=(serve --http "127.0.0.1:$http_port" --grpc "127.0.0.1:$GW_GRPC_PORT" --data "$data")
  if [ "$backend" = production ]; then
    dotnet "$BENCH_DLL" backend > "$WORK/backend.env" 2> "$WORK/backend.log" &
    PIDS+=("$!")
    for _ in $(seq 1 900); do grep -q '^READY' "$WORK/backend.env" && break; sleep 0.1; done
    grep -q '^READY' "$WORK/backend.env" || { cat "$WORK/backend.log" >&2; echo "bench: backends did not start" >&2; return 1; }
    set -a; eval "$(grep -v '^READY' "$WORK/backend.env")"; set +a
    args+=(--storage s3 --s3-endpoint "$S3_ENDPOINT" --s3-bucket "$S3_BUCKET" --s3-path-style --index postgres)
  fi
  dotnet "$FLYWHEEL_DLL" "${args[@]}" > "$log" 2>&1 &
  GW_PID=$!; PIDS+=("$GW_PID")
  GW="http://127.0.0.1:$http_port"
  wait_http "$GW/healthz" "$GW_PID" "gateway ($backend)"
  for _ in $(seq 1 100); do [ -s "$data/admin.token" ] && break; sleep 0.1; done
  GW_TOKEN="$(cat "$data/admin.token")"
  printf 'machine 127.0.0.1\nlogin bench\npassword %s\n' "$GW_TOKEN" > "$WORK/netrc"
}
