#!/usr/bin/env python3
"""bench/bazel/run.sh's report, and a /metrics diff for its profile.

  report.py report RESULTS.jsonl OUT.json OUT.md ACTIONS OUTPUT_BYTES CORES COMMIT
  report.py metrics-diff BEFORE.txt AFTER.txt

report: one row per mode (disk, grpc, http): populate time, every timed rebuild, the median, and the median's ratio
to the --disk_cache median, checked against the issue's target (gRPC <= 1.2x, HTTP <= 1.3x). A rebuild in which
Bazel did not report every action as a cache hit is not a rebuild from the cache: the mode is marked incomplete and
its target not met."""
import datetime
import json
import statistics
import sys

MODES = [
    ("disk", "--disk_cache=DIR", None),
    ("grpc", "--remote_cache=grpc:// (flywheel, REAPI v2)", 1.2),
    ("http", "--remote_cache=http:// (flywheel, /ac /cas)", 1.3),
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


if __name__ == "__main__":
    if sys.argv[1] == "report":
        report(*sys.argv[2:9])
    elif sys.argv[1] == "metrics-diff":
        metrics_diff(*sys.argv[2:4])
    else:
        sys.exit("report.py: report or metrics-diff")
