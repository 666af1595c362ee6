#!/usr/bin/env python3
"""Turns bench/load/run.sh's measurements (one JSON object per line) into results/<name>.json and <name>.md:
every scenario's rows (nginx, dd, each gateway backend) and the ratio of ours to the baseline the issue's target names."""
import datetime
import json
import platform
import sys

results_path, json_path, md_path, duration, cores = sys.argv[1:6]
rows = [json.loads(line) for line in open(results_path) if line.strip()]
processes = {r["server"]: r["vm_hwm_mib"] for r in rows if r["scenario"] == "process"}
rows = [r for r in rows if r["scenario"] != "process"]
servers = sorted({r["server"] for r in rows if r["server"].startswith("flywheel-")})

# scenario: (title, load, baseline server, baseline scenario, compared metric, target check, target text)
SCENARIOS = [
    ("narinfo-hot", "hot narinfo GET", "wrk, 64 connections", "nginx", "narinfo-hot", "rps",
     lambda r, p99: r >= 1.0 and p99 <= 2.0, ">= 1.0x req/s, p99 <= 2x"),
    ("narinfo-miss", "narinfo miss (404)", "wrk, 64 connections", "nginx", "narinfo-miss", "rps", None, ""),
    ("nar-get-64m", "64 MiB NAR GET", "wrk, 4 connections", "nginx", "nar-get-64m", "mb_s",
     lambda r, p99: r >= 0.9, ">= 0.9x MB/s"),
    ("cas-get-64m", "64 MiB CAS GET", "wrk, 4 connections", "nginx", "cas-get-64m", "mb_s",
     lambda r, p99: r >= 0.9, ">= 0.9x MB/s"),
    ("cas-put-1m", "1 MiB CAS PUT (verified)", "load http-put, 1 caller, new blob per PUT", "dd", "cas-put-1m", "mb_s",
     lambda r, p99: r >= 0.8, ">= 0.8x dd MB/s"),
    ("cas-put-64m", "64 MiB CAS PUT (verified)", "load http-put, 1 caller, new blob per PUT", "dd", "cas-put-64m", "mb_s",
     lambda r, p99: r >= 0.8, ">= 0.8x dd MB/s"),
    ("findmissing-10k", "FindMissingBlobs, 10,000 digests", "gRPC driver, 1 caller", None, None, None, None, "p50 < 20 ms"),
    # Issue 15: against the same gateway's HTTP CAS GET of the same blob ("self": the row's own server).
    ("bytestream-read-64m", "ByteStream Read 64 MiB", "gRPC driver, 4 callers", "self", "cas-get-64m", "mb_s",
     lambda r, p99: r >= 0.9, ">= 0.9x our HTTP CAS GET MB/s"),
    ("bytestream-write-64m", "ByteStream Write 64 MiB (verified)", "gRPC driver, 1 caller", "dd", "cas-put-64m", "mb_s",
     lambda r, p99: r >= 0.8, ">= 0.8x dd MB/s"),
]


def find(scenario, server):
    return next((r for r in rows if r["scenario"] == scenario and r["server"] == server), None)


table = []
for key, title, load, base_server, base_scenario, metric, check, target in SCENARIOS:
    for extra in (["nginx"] if base_server == "dd" else ["s3rver"] if key == "cas-get-64m" else []):
        if (r := find(key, extra)):
            table.append(dict(r, title=title, load=load))
    if base_server and (b := find(base_scenario, base_server)) and base_scenario == key:
        table.append(dict(b, title=title, load=load if base_server != "dd" else "dd conv=fsync, new file per write, kept"))
    if base_server == "dd" and (b := find(key, "dd-rewrite")):
        table.append(dict(b, title=title, load="dd conv=fsync, one file deleted and rewritten (reference)"))
    for server in servers:
        r = find(key, server)
        if r is None:
            continue
        row = dict(r, title=title, load=load, target=target)
        base = server if base_server == "self" else base_server
        b = find(base_scenario, base) if base else None
        if b and b.get(metric):
            row["vs"] = base if base_scenario == key else f"{base} {base_scenario}"
            row["ratio"] = round(r[metric] / b[metric], 2)
            row["p99_ratio"] = round(r["p99_ms"] / b["p99_ms"], 2) if b.get("p99_ms") else None
            if base_server == "dd" and (n := find(key, "nginx")) and n.get(metric):
                row["ratio_nginx"] = round(r[metric] / n[metric], 2)
            if server == "flywheel-production" and (s3 := find(key, "s3rver")) and s3.get(metric):
                row["ratio_s3rver"] = round(r[metric] / s3[metric], 2)
            if base_server == "dd" and (w := find(base_scenario, "dd-rewrite")) and w.get(metric):
                row["ratio_rewrite"] = round(r[metric] / w[metric], 2)
        if key == "findmissing-10k":
            row["met"] = r["p50_ms"] < 20
        elif check and "ratio" in row:
            row["met"] = bool(check(row["ratio"], row.get("p99_ratio") or 0))
        table.append(row)

memory = [{"server": s, "vm_hwm_mib": processes.get(s), "target": "< 300 MiB" if s != "nginx" else "",
           "met": processes.get(s) is not None and processes[s] < 300} if s != "nginx" else
          {"server": s, "vm_hwm_mib": processes.get(s)} for s in servers + ["nginx"]]
meta = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "seconds_per_scenario": float(duration), "cores": int(cores), "machine": platform.platform()}
json.dump({"meta": meta, "rows": table, "memory": memory}, open(json_path, "w"), indent=2)
open(json_path, "a").write("\n")


def fmt(v, digits=1):
    return "" if v is None else (f"{v:,.{digits}f}" if isinstance(v, float) else f"{v:,}")


lines = [
    f"Measured {meta['date']} on {meta['cores']} cores (load generator, gateway and nginx share them), "
    f"{fmt(meta['seconds_per_scenario'], 0)} s per scenario.",
    "",
    "| scenario | load | server | req/s | MB/s | p50 ms | p99 ms | peak RSS MiB | ratio (vs) | target | met |",
    "|---|---|---|---:|---:|---:|---:|---:|---|---|---|",
]
for r in table:
    ratio = ""
    if "ratio" in r:
        ratio = f"{r['ratio']:.2f}x ({r['vs']})"
        if r.get("key") == "narinfo-hot" or r["scenario"] == "narinfo-hot":
            ratio += f", p99 {r['p99_ratio']:.2f}x"
        if "ratio_nginx" in r:
            ratio += f"; {r['ratio_nginx']:.2f}x nginx"
        if "ratio_s3rver" in r:
            ratio += f"; {r['ratio_s3rver']:.2f}x s3rver direct"
        if "ratio_rewrite" in r:
            ratio += f"; {r['ratio_rewrite']:.2f}x dd rewrite"
    met = {True: "yes", False: "**no**"}.get(r.get("met"), "")
    lines.append(f"| {r['title']} | {r['load']} | {r['server']} | {fmt(r['rps'])} | {fmt(r['mb_s'])} | "
                 f"{fmt(r['p50_ms'], 2)} | {fmt(r['p99_ms'], 2)} | {fmt(r.get('peak_rss_mib'))} | {ratio} | "
                 f"{r.get('target', '')} | {met} |")
lines += ["", "| process | peak RSS over the run (VmHWM, MiB) | target | met |", "|---|---:|---|---|"]
for m in memory:
    met = {True: "yes", False: "**no**"}.get(m.get("met"), "")
    lines.append(f"| {m['server']} | {fmt(m['vm_hwm_mib'])} | {m.get('target', '')} | {met} |")
open(md_path, "w").write("\n".join(lines) + "\n")
