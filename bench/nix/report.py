#!/usr/bin/env python3
"""bench/nix/run.sh's table: medians per scenario and server, each gateway row against its reference.

    report.py RESULTS.jsonl OUT.json OUT.md SEED REPS CORES
"""
import json
import statistics
import sys

results, out_json, out_md, seed, reps, cores = sys.argv[1:7]
rows = [json.loads(line) for line in open(results) if line.strip()]
# Each gateway row against each of its references (push: file://, then nginx-dav, an HTTP cache that only stores).
REFERENCES = {"push": ["file", "nginx-dav"], "pull": ["nginx"], "narinfo-seq": ["nginx"], "narinfo-hot": ["nginx"]}
WHAT = {
    "push": "`nix copy --to` the closure, cold (gateway: `/main?compression=zstd`, then new caches; reference: `file://…?compression=zstd`)",
    "push nginx-dav": "`nix copy --to` the closure, cold (reference: `http://nginx/dav/…?compression=zstd`, nginx WebDAV PUT: no verification, index or fsync)",
    "pull": "`nix copy --from` the whole closure into an empty `local?root=` store (reference: nginx serving the file:// cache)",
    "narinfo-seq": "300 narinfo GETs one after another on one keep-alive connection (curl)",
    "narinfo-hot": "hot narinfo GET, wrk 2 threads 64 connections (reference: nginx with open_file_cache)",
}
TARGET = {"push": "<= 1.5x", "push nginx-dav": "-", "pull": "<= 1.1x", "narinfo-seq": "<= 1.0x", "narinfo-hot": ">= 1.0x"}

groups = {}
for r in rows:
    groups.setdefault((r["scenario"], r["server"]), []).append(r)


def median(key, rs):
    vals = [r[key] for r in rs if key in r]
    return round(statistics.median(vals), 3) if vals else None


summary = []
lines = [f"# Nix side by side: {len(set(r['server'] for r in rows))} servers, seed {seed}, {reps} reps (medians), {cores} cores", "",
         "| what | server | gateway | reference | ratio | target | notes |", "|---|---|---|---|---|---|---|"]
for scenario in ["push", "pull", "narinfo-seq", "narinfo-hot"]:
    for reference in REFERENCES[scenario]:
        what = scenario if reference == REFERENCES[scenario][0] else f"{scenario} {reference}"
        ref = groups.get((scenario, reference))
        for (sc, server), rs in sorted(groups.items()):
            if sc != scenario or not server.startswith("flywheel"):
                continue
            entry = {"scenario": scenario, "server": server, "reference": reference, "reps": len(rs)}
            notes = []
            if scenario == "narinfo-hot":
                g, rf = median("rps", rs), median("rps", ref or [])
                entry.update(rps=g, reference_rps=rf, ratio=round(g / rf, 2) if rf else None)
                cells = (f"{g:,.0f} req/s", f"{rf:,.0f} req/s" if rf else "-", f"{entry['ratio']}x" if rf else "-")
            else:
                g, rf = median("seconds", rs), median("seconds", ref or [])
                entry.update(seconds=g, reference_seconds=rf, ratio=round(g / rf, 2) if rf else None,
                             all=[r["seconds"] for r in rs], reference_all=[r["seconds"] for r in ref or []])
                unit = "ms" if scenario == "narinfo-seq" else "s"
                f = (lambda v: f"{v * 1000:.0f} ms") if unit == "ms" else (lambda v: f"{v:.2f} s")
                cells = (f(g), f(rf) if rf else "-", f"{entry['ratio']}x" if rf else "-")
                for key, label in [("put_seconds", "PUT s"), ("store_commit_seconds", "of which store commit s"), ("peak_connections", "peak conns"), ("gateway_cpu_s", "gateway CPU s"),
                                   ("s3rver_cpu_s", "s3rver CPU s"), ("postgres_cpu_s", "PostgreSQL CPU s")]:
                    m = median(key, rs)
                    if m is not None:
                        entry[key] = m
                        notes.append(f"{label} {m}")
                if "put_seconds" in entry and g:
                    entry["uploads_in_flight"] = round(entry["put_seconds"] / g, 2)
                    notes.append(f"uploads in flight {entry['uploads_in_flight']}")
                if any("push_routes" in r for r in rs) and reference == REFERENCES[scenario][0]:
                    # the rep nearest the median: server ms per request for each route, against the wall ms per path
                    r = min(rs, key=lambda x: abs(x["seconds"] - g)).get("push_routes", {})
                    entry["push_routes"] = r
                    paths = max([v["requests"] for k, v in r.items() if k.startswith("PUT ") and "narinfo" in k] or [0])
                    per = ", ".join(f"{k} {v['requests']}x {1000 * v['seconds'] / v['requests']:.1f} ms" for k, v in sorted(r.items()))
                    if paths:
                        notes.append(f"wall per path {1000 * g / paths:.1f} ms; server per request: {per}")
            summary.append(entry)
            lines.append(f"| {WHAT[what]} | {server} | {cells[0]} | {cells[1]} | {cells[2]} | {TARGET[what]} | {', '.join(notes) if reference == REFERENCES[scenario][0] else 'the gateway row above'} |")

json.dump({"seed": seed, "reps": int(reps), "cores": int(cores), "rows": summary, "raw": rows}, open(out_json, "w"), indent=1)
open(out_md, "w").write("\n".join(lines) + "\n")
