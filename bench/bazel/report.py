#!/usr/bin/env python3
"""bench/bazel/run.sh's report, and a /metrics diff for its profile.

  report.py report RESULTS.jsonl OUT.json OUT.md ACTIONS OUTPUT_BYTES CORES COMMIT
  report.py metrics-diff BEFORE.txt AFTER.txt
  report.py grpc-log FILE [WALL_MS]
  report.py profile-spans PROFILE.gz
  report.py h2-capture CAPTURE.pcap GRPC_PORT [WALL_MS]

report: one row per mode (disk, grpc, http): populate time, every timed rebuild, the median, and the median's ratio
to the --disk_cache median, checked against the issue's target (gRPC <= 1.2x, HTTP <= 1.3x). A rebuild in which
Bazel did not report every action as a cache hit is not a rebuild from the cache: the mode is marked incomplete and
its target not met.

grpc-log: Bazel's --experimental_remote_grpc_log (one length-delimited remote_logging.LogEntry per call, with start
and end time as Bazel's gRPC client saw them), summarised: calls per method with their latency (p50, p90, max,
sum), the calls made per action (grouped by the request metadata's action_id) and the time from an action's first
call's start to its last call's end, how many calls were in flight over the rebuild, and how much of the rebuild had
no call in flight at all (Bazel busy with something else: its own bookkeeping, writing and hashing outputs,
scheduling). profile-spans: from Bazel's --profile (JSON trace), per action the spans of the remote cache's two steps
as Bazel times them ("check cache hit": the action-cache lookup; "download outputs") and the whole action, with
their p50, p90 and sum. Decoded at the wire level (no protobuf library needed): the fields read are listed in GRPC_LOG_FIELDS."""
import datetime
import json
import statistics
import sys

MODES = [
    ("disk", "--disk_cache=DIR", None),
    ("grpc", "--remote_cache=grpc:// (flywheel, REAPI v2)", 1.2),
    ("http", "--remote_cache=http:// (flywheel, /ac /cas)", 1.3),
    ("nginx", "--remote_cache=http:// (reference: nginx WebDAV, a static file server)", None),
]


def report(results_path, json_path, md_path, actions, output_bytes, cores, commit):
    actions = int(actions)
    lines = [json.loads(line) for line in open(results_path) if line.strip()]
    rows = []
    for mode, flag, target in MODES:
        rebuilds = [r for r in lines if r["mode"] == mode and r["phase"] == "rebuild"]
        populate = next((r["ms"] for r in lines if r["mode"] == mode and r["phase"] == "populate"), None)
        if not rebuilds:
            continue
        times = [r["ms"] for r in rebuilds]
        rows.append({"mode": mode, "flag": flag, "populate_ms": populate, "rebuild_ms": times,
                     "median_ms": statistics.median(times), "all_hits": all(r["hits"] == actions for r in rebuilds),
                     "target": target})
    base = next((r for r in rows if r["mode"] == "disk"), None)
    for r in rows:
        r["ratio"] = round(r["median_ms"] / base["median_ms"], 2) if base else None
        r["met"] = None if r["target"] is None else bool(r["all_hits"] and r["ratio"] is not None and r["ratio"] <= r["target"])
    now = datetime.datetime.now(datetime.timezone.utc)
    doc = {"measured": now.isoformat(timespec="seconds"), "commit": commit, "cores": int(cores), "actions": actions,
           "output_bytes": int(output_bytes), "rows": rows}
    with open(json_path, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    reps = max((len(r["rebuild_ms"]) for r in rows), default=0)
    md = [f"Measured {now:%Y-%m-%d %H:%M} UTC on {cores} cores (Bazel, flywheel and the disk share them), commit {commit}: "
          f"{actions} genrules, {int(output_bytes) / 1e6:.1f} MB of outputs, {reps} rebuilds per mode after `bazel clean`.",
          "",
          "| cache | populate s | rebuilds s | median s | ratio to --disk_cache | every action a hit | target | met |",
          "|---|---:|---|---:|---:|---|---|---|"]
    for r in rows:
        md.append("| {} | {} | {} | {:.2f} | {} | {} | {} | {} |".format(
            r["flag"], f"{r['populate_ms'] / 1000:.1f}" if r["populate_ms"] is not None else "",
            ", ".join(f"{t / 1000:.2f}" for t in r["rebuild_ms"]), r["median_ms"] / 1000,
            f"{r['ratio']:.2f}x" if r["ratio"] is not None else "", "yes" if r["all_hits"] else "**no**",
            f"<= {r['target']}x" if r["target"] else "", "" if r["met"] is None else "yes" if r["met"] else "**no**"))
    with open(md_path, "w") as f:
        f.write("\n".join(md) + "\n")


def metrics(path):
    out = {}
    for line in open(path):
        if line.startswith("#") or not line.strip():
            continue
        name, _, value = line.rpartition(" ")
        try:
            out[name] = float(value)
        except ValueError:
            continue
    return out


def metrics_diff(before_path, after_path):
    before, after = metrics(before_path), metrics(after_path)
    for name in sorted(after):
        delta = after[name] - before.get(name, 0.0)
        if delta and ("_total" in name or "_count" in name or "_sum" in name) and not name.startswith(("process_", "dotnet_")):
            print(f"{name} {delta:g}")


PROFILE_SPANS = [("check cache hit", "action-cache lookup (check cache hit)"), ("download outputs", "download outputs"),
                 ("Executing", "whole action (Executing genrule)")]


def profile_spans(path):
    import gzip
    doc = json.load(gzip.open(path))
    events = doc["traceEvents"] if isinstance(doc, dict) else doc
    print("| span (Bazel's profile) | count | p50 ms | p90 ms | sum ms |")
    print("|---|---:|---:|---:|---:|")
    for prefix, label in PROFILE_SPANS:
        durations = [e["dur"] / 1e6 for e in events if e.get("ph") == "X" and e.get("name", "").startswith(prefix) and "dur" in e]
        print(f"| {label} | {len(durations)} | {_ms(durations, 0.5):.2f} | {_ms(durations, 0.9):.2f} | {sum(durations) * 1000:.0f} |")


# remote_logging.LogEntry (Bazel src/main/protobuf/remote_execution_log.proto) and the parts of it read here.
GRPC_LOG_FIELDS = """LogEntry: metadata = 1 (RequestMetadata: action_id = 2), status = 2 (google.rpc.Status: code = 1),
method_name = 3, details = 4 (RpcCallDetails: read = 5 (ReadDetails: request = 1 (ReadRequest: resource_name = 1),
num_reads = 2, bytes_read = 3), get_action_result = 8 (GetActionResultDetails: request = 1 (GetActionResultRequest:
inline_stdout = 3, inline_stderr = 4, inline_output_files = 5))), start_time = 5, end_time = 6 (Timestamp: seconds = 1, nanos = 2)"""


def _varint(data, pos):
    value = shift = 0
    while True:
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos
        shift += 7


def _fields(data):
    """(field number, wire type, value) of one protobuf message: ints for varints, bytes for length-delimited."""
    pos = 0
    while pos < len(data):
        tag, pos = _varint(data, pos)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 2:
            length, pos = _varint(data, pos)
            value, pos = data[pos:pos + length], pos + length
        elif wire == 1:
            value, pos = data[pos:pos + 8], pos + 8
        elif wire == 5:
            value, pos = data[pos:pos + 4], pos + 4
        else:
            raise ValueError(f"wire type {wire}")
        yield number, wire, value


def _first(data, number, default=None):
    return next((v for n, _, v in _fields(data) if n == number), default)


def _timestamp(data):
    return _first(data, 1, 0) + _first(data, 2, 0) / 1e9 if data else None


def grpc_log_entries(path):
    data = open(path, "rb").read()
    pos = 0
    while pos < len(data):
        length, pos = _varint(data, pos)
        entry, pos = data[pos:pos + length], pos + length
        fields = {}
        for n, _, v in _fields(entry):
            fields.setdefault(n, v)
        status = fields.get(2)
        read = _first(fields.get(4, b""), 5)
        lookup = _first(_first(fields.get(4, b""), 8, b""), 1)  # GetActionResultDetails.request
        yield {
            "method": fields.get(3, b"").decode().rsplit(".", 1)[-1],
            "action": _first(fields.get(1, b""), 2, b"").decode(),
            "code": _first(status, 1, 0) if status else 0,
            "start": _timestamp(fields.get(5)),
            "end": _timestamp(fields.get(6)),
            "bytes": _first(read, 3, 0) if read else None,
            "messages": _first(read, 2, 0) if read else None,
            # GetActionResultRequest: inline_stdout = 3, inline_stderr = 4, inline_output_files = 5
            "inlining": None if lookup is None else (bool(_first(lookup, 3, 0)), bool(_first(lookup, 4, 0)),
                                                     sum(1 for n, _, _ in _fields(lookup) if n == 5)),
        }


def _ms(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] * 1000 if values else 0.0


def grpc_log(path, wall_ms=None):
    entries = [e for e in grpc_log_entries(path) if e["start"] and e["end"]]
    if not entries:
        print("no calls logged")
        return
    t0 = min(e["start"] for e in entries)
    t1 = max(e["end"] for e in entries)
    print(f"{len(entries)} calls from first start to last end: {(t1 - t0) * 1000:.0f} ms"
          + (f" (the rebuild's wall clock: {float(wall_ms):.0f} ms)" if wall_ms else ""))
    print()
    print("| method | calls | not OK | p50 ms | p90 ms | max ms | sum ms | bytes | messages |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for method in sorted({e["method"] for e in entries}):
        calls = [e for e in entries if e["method"] == method]
        times = [e["end"] - e["start"] for e in calls]
        bytes_read = sum(e["bytes"] or 0 for e in calls)
        messages = sum(e["messages"] or 0 for e in calls)
        print(f"| {method} | {len(calls)} | {sum(1 for e in calls if e['code'])} | {_ms(times, 0.5):.2f} | {_ms(times, 0.9):.2f}"
              f" | {_ms(times, 1.0):.2f} | {sum(times) * 1000:.0f} | {bytes_read if bytes_read else ''} | {messages if messages else ''} |")
    asked = {}
    for e in entries:
        if e["inlining"] is not None:
            asked[e["inlining"]] = asked.get(e["inlining"], 0) + 1
    if asked:
        print()
        print("GetActionResult requests by (inline_stdout, inline_stderr, inline_output_files listed): "
              + ", ".join(f"{k}: {v}" for k, v in sorted(asked.items())))
    if any(e["bytes"] for e in entries):
        reads = [e for e in entries if e["bytes"]]
        print()
        print("ByteStream Read by size (as Bazel saw them):")
        print("| blob size | reads | p50 ms | sum ms | MB/s within the calls |")
        print("|---|---:|---:|---:|---:|")
        bounds = [(0, 64 << 10, "< 64 KiB"), (64 << 10, 1 << 20, "64 KiB - 1 MiB"), (1 << 20, 4 << 20, "1 - 4 MiB"), (4 << 20, 1 << 40, ">= 4 MiB")]
        for low, high, label in bounds:
            group = [e for e in reads if low <= e["bytes"] < high]
            if group:
                times = [e["end"] - e["start"] for e in group]
                print(f"| {label} | {len(group)} | {_ms(times, 0.5):.2f} | {sum(times) * 1000:.0f} | {sum(e['bytes'] for e in group) / 1e6 / max(sum(times), 1e-9):.0f} |")

    # Per action: which calls, and from the first call's start to the last call's end.
    by_action = {}
    for e in entries:
        if e["action"]:
            by_action.setdefault(e["action"], []).append(e)
    if by_action:
        patterns = {}
        spans = []
        gaps = []
        for calls in by_action.values():
            calls.sort(key=lambda e: e["start"])
            key = " + ".join(e["method"] for e in calls)
            patterns[key] = patterns.get(key, 0) + 1
            spans.append(calls[-1]["end"] - calls[0]["start"])
            gaps.extend(b["start"] - a["end"] for a, b in zip(calls, calls[1:]))
        print()
        print(f"{len(by_action)} actions; calls per action: " + "; ".join(f"{k}: {v}" for k, v in sorted(patterns.items(), key=lambda kv: -kv[1])))
        print(f"per action, first call start to last call end: p50 {_ms(spans, 0.5):.2f} ms, p90 {_ms(spans, 0.9):.2f} ms, sum {sum(spans) * 1000:.0f} ms")
        if gaps:
            print(f"between one call's end and the action's next call's start (Bazel's own work): p50 {_ms(gaps, 0.5):.2f} ms, p90 {_ms(gaps, 0.9):.2f} ms, sum {sum(gaps) * 1000:.0f} ms")

    # Calls in flight over time, and the time with none in flight.
    events = sorted([(e["start"], 1) for e in entries] + [(e["end"], -1) for e in entries])
    in_flight = 0
    last = t0
    time_at = {}
    for t, step in events:
        time_at[in_flight] = time_at.get(in_flight, 0.0) + (t - last)
        in_flight += step
        last = t
    total = t1 - t0
    print("calls in flight, share of the time from first call to last: " + ", ".join(
        f"{k}: {v / total * 100:.0f}%" for k, v in sorted(time_at.items())))
    print(f"time with no call in flight: {time_at.get(0, 0.0) * 1000:.0f} ms")


H2_FRAME_TYPES = {0: "DATA", 1: "HEADERS", 2: "PRIORITY", 3: "RST_STREAM", 4: "SETTINGS", 5: "PUSH_PROMISE", 6: "PING",
                  7: "GOAWAY", 8: "WINDOW_UPDATE", 9: "CONTINUATION"}


def _pcap_segments(path):
    """(time s, source port, destination port, sequence number, payload) of every TCP segment in a pcap file (tcpdump -w,
    IPv4 on loopback or any interface)."""
    import struct
    with open(path, "rb") as f:
        data = f.read()
    magic = data[:4]
    endian = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    nanos = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    link_header = {0: 4, 1: 14, 113: 16, 276: 20}.get(linktype)
    if link_header is None:
        raise SystemExit(f"pcap link type {linktype} not handled")
    pos = 24
    while pos + 16 <= len(data):
        sec, frac, captured, _ = struct.unpack(endian + "IIII", data[pos:pos + 16])
        packet = data[pos + 16:pos + 16 + captured]
        pos += 16 + captured
        ip = packet[link_header:]
        if len(ip) < 20 or ip[0] >> 4 != 4 or ip[9] != 6:
            continue
        ip_length = struct.unpack(">H", ip[2:4])[0]
        if ip_length == 0 or ip_length > len(ip):
            ip_length = len(ip)  # a GSO packet beyond 64 KiB on loopback (total length 0): all that was captured
        tcp = ip[(ip[0] & 0x0F) * 4:ip_length]
        source, destination, sequence = struct.unpack(">HHI", tcp[:8])
        payload = tcp[(tcp[12] >> 4) * 4:]
        if payload:
            yield sec + frac / (1e9 if nanos else 1e6), source, destination, sequence, payload


def _h2_frames(segments):
    """HTTP/2 frames of one direction of one connection, in order: (time the frame's last byte arrived, segment index,
    type, flags, stream, payload's first bytes, length). Segments are (time, sequence, payload); the client's preface is
    skipped; segments are put in sequence order first (a capture on loopback can record them out of order), and bytes
    seen already (retransmitted, or captured twice) are dropped."""
    if segments:
        base = segments[0][1]
        signed = lambda sequence: ((sequence - base + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)
        segments = sorted(segments, key=lambda segment: signed(segment[1]))
    buffer = bytearray()
    expected = None
    frames = []
    pending = []  # (end offset in the stream, time, segment index) per segment, to date each frame
    consumed = 0
    offset = 0
    preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
    for index, (time, sequence, payload) in enumerate(segments):
        if expected is not None:
            skip = (expected - sequence) & 0xFFFFFFFF
            if skip >= len(payload) or skip > 1 << 30:
                if skip < 1 << 30:
                    continue  # all of it seen already
                skip = 0  # a gap (capture dropped bytes): take it as it comes
            payload = payload[skip:]
            sequence = (sequence + skip) & 0xFFFFFFFF
        expected = (sequence + len(payload)) & 0xFFFFFFFF
        buffer += payload
        offset += len(payload)
        pending.append((offset, time, index))
        if consumed == 0 and buffer.startswith(preface[:len(buffer)]):
            if len(buffer) < len(preface):
                continue
            del buffer[:len(preface)]
            consumed = len(preface)
        while len(buffer) >= 9:
            length = int.from_bytes(buffer[:3], "big")
            if len(buffer) < 9 + length:
                break
            end = consumed + 9 + length
            when = next((t, i) for o, t, i in pending if o >= end)
            frames.append((when[0], when[1], buffer[3], buffer[4], int.from_bytes(buffer[5:9], "big") & 0x7FFFFFFF,
                           bytes(buffer[9:9 + min(length, 8)]), length))
            del buffer[:9 + length]
            consumed = end
            pending = [p for p in pending if p[0] > consumed] or pending[-1:]
    return frames


def h2_capture(path, server_port, wall_ms=None):
    """One gRPC connection's HTTP/2 traffic from a packet capture of the rebuild: frames per type and direction, and
    per call (stream) when its request had fully arrived, when the server's response headers, data and trailers left,
    and in how many TCP segments; the time with no call waiting on the server."""
    server_port = int(server_port)
    connections = {}
    for time, source, destination, sequence, payload in _pcap_segments(path):
        if server_port not in (source, destination):
            continue
        client_port = destination if source == server_port else source
        direction = "server" if source == server_port else "client"
        connections.setdefault(client_port, {"client": [], "server": []})[direction].append((time, sequence, payload))
    if not connections:
        print("no packets on the gRPC port")
        return
    for client_port, sides in sorted(connections.items()):
        frames = {side: _h2_frames(segments) for side, segments in sides.items()}
        print(f"connection from client port {client_port}: client sent {len(sides['client'])} TCP segments with data, "
              f"server {len(sides['server'])}")
        print("| frame type | client to server | server to client |")
        print("|---|---:|---:|")
        for code, name in H2_FRAME_TYPES.items():
            counts = [sum(1 for f in frames[side] if f[2] == code) for side in ("client", "server")]
            if any(counts):
                print(f"| {name} | {counts[0]} | {counts[1]} |")
        acks = sum(1 for f in frames["server"] if f[2] == 6 and f[3] & 1)
        pings = sum(1 for f in frames["client"] if f[2] == 6 and not f[3] & 1)
        print(f"client PINGs {pings} (answered by {acks} server PING ACKs); stream-level WINDOW_UPDATEs from the client: "
              f"{sum(1 for f in frames['client'] if f[2] == 8 and f[4])}, connection-level: {sum(1 for f in frames['client'] if f[2] == 8 and not f[4])}")
        calls = {}
        for side in ("client", "server"):
            for time, segment, kind, flags, stream, head, length in frames[side]:
                if not stream:
                    continue
                call = calls.setdefault(stream, {"segments": set(), "frames": 0, "bytes": 0})
                if side == "client":
                    call.setdefault("request_start", time)
                    if flags & 1 and kind in (0, 1):
                        call["request_end"] = time
                else:
                    call["segments"].add(segment)
                    call["frames"] += 1
                    if kind == 1:
                        call.setdefault("headers", time)
                    if kind == 0:
                        call["bytes"] += length
                        if "first_data" not in call:
                            call["first_data"] = time
                            call["first_tag"] = head[5] if len(head) > 5 else None
                    if flags & 1 and kind in (0, 1):
                        call["end"] = time
        done = [c for c in calls.values() if "request_end" in c and "end" in c]
        if not done:
            print("no complete calls")
            continue
        for c in done:
            c["kind"] = "ByteStream Read" if c.get("first_tag") == 0x52 else "other (GetActionResult, GetCapabilities)"
        print()
        print(f"{len(done)} complete calls. Server time on the wire: from the request's last frame arriving to the "
              "response's last frame (trailers) leaving; segments: TCP segments from the server carrying the call's frames.")
        print("| calls | count | server time p50 ms | p90 ms | sum ms | to first response byte p50 ms | segments per call p50 / max | frames p50 |")
        print("|---|---:|---:|---:|---:|---:|---|---:|")
        groups = [("all", done)] + [(k, [c for c in done if c["kind"] == k]) for k in sorted({c["kind"] for c in done})]
        groups.append(("ByteStream Read < 64 KiB", [c for c in done if c["kind"] == "ByteStream Read" and c["bytes"] < 64 << 10]))
        for name, group in groups:
            if not group:
                continue
            server = [c["end"] - c["request_end"] for c in group]
            first = [c.get("headers", c["end"]) - c["request_end"] for c in group]
            segments = sorted(len(c["segments"]) for c in group)
            frame_counts = sorted(c["frames"] for c in group)
            print(f"| {name} | {len(group)} | {_ms(server, 0.5):.2f} | {_ms(server, 0.9):.2f} | {sum(server) * 1000:.0f} | "
                  f"{_ms(first, 0.5):.2f} | {segments[len(segments) // 2]} / {segments[-1]} | {frame_counts[len(frame_counts) // 2]} |")
        # Time with at least one call waiting on the server (request complete, trailers not yet sent) against the span of
        # the calls: the rest is time in which every call was on the client's side (Bazel between calls or still sending).
        t0 = min(c["request_start"] for c in done)
        t1 = max(c["end"] for c in done)
        events = sorted([(c["request_end"], 1) for c in done] + [(c["end"], -1) for c in done])
        open_calls, last, busy = 0, t0, 0.0
        for t, step in events:
            if open_calls:
                busy += t - last
            open_calls += step
            last = t
        print()
        print(f"first request to last trailers: {(t1 - t0) * 1000:.0f} ms" + (f" (rebuild wall clock {float(wall_ms):.0f} ms)" if wall_ms else "")
              + f"; at least one call waiting on the server (request in, trailers not yet out): {busy * 1000:.0f} ms "
              f"({busy / max(t1 - t0, 1e-9) * 100:.0f}%); no call at the server: {(t1 - t0 - busy) * 1000:.0f} ms")
        ordered = sorted(done, key=lambda c: c["request_start"])
        gaps = []
        for c in ordered:
            before = [d["end"] for d in ordered if d["end"] <= c["request_start"]]
            if before:
                gaps.append(c["request_start"] - max(before))
        if gaps:
            print(f"from the latest trailers sent to the client's next request starting: p50 {_ms(gaps, 0.5):.2f} ms, "
                  f"p90 {_ms(gaps, 0.9):.2f} ms, sum {sum(gaps) * 1000:.0f} ms")
        sends = [c["request_end"] - c["request_start"] for c in done]
        print(f"client's request, first frame to last frame: p50 {_ms(sends, 0.5):.2f} ms, sum {sum(sends) * 1000:.0f} ms")


if __name__ == "__main__":
    if sys.argv[1] == "report":
        report(*sys.argv[2:9])
    elif sys.argv[1] == "metrics-diff":
        metrics_diff(*sys.argv[2:4])
    elif sys.argv[1] == "grpc-log":
        grpc_log(*sys.argv[2:4])
    elif sys.argv[1] == "h2-capture":
        h2_capture(*sys.argv[2:5])
    elif sys.argv[1] == "profile-spans":
        profile_spans(sys.argv[2])
    else:
        sys.exit("report.py: report, metrics-diff, grpc-log or profile-spans")
