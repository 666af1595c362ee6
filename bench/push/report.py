#!/usr/bin/env python3
"""Writes bench/push/results/latest.{md,json} from a bench/push/run.sh work folder.

    report.py WORK REPS BIG_MIB COMMIT OUT_PREFIX
"""
import datetime
import json
import os
import statistics
import sys

work, reps, big_mib, commit, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
times = {}
cpu = {}
for line in open(os.path.join(work, "times")):
    name, seconds, kib, client_cpu, gateway_cpu, load = line.split()
    times[name] = (float(seconds), int(kib))
    cpu[name] = (float(client_cpu), float(gateway_cpu), float(load))


def runs(kind):
    return [times[f"{kind}-{i}"] for i in range(1, reps + 1) if f"{kind}-{i}" in times]


def summary(name):
    with open(os.path.join(work, name + ".out")) as f:
        return json.load(f)


file_s = [t for t, _ in runs("file")]
cold_s = [t for t, _ in runs("cold")]
jit_s = [t for t, _ in runs("jit")]
warm_s = [t for t, _ in runs("warm")]
cold_rss = max(k for _, k in runs("cold")) / 1024
big_s, big_kib = times["big-1"]
cold = summary("cold-1")
warm = summary("warm-1")
big = summary("big-1")
med = statistics.median
ratio = med(cold_s) / med(file_s)
rows = [
    {"row": "cold push of the closure", "what": "`nix copy --to file://…?compression=zstd`", "runs": file_s, "median": med(file_s)},
    {"row": "cold push of the closure", "what": "`flywheel push` (zstd, new cache)", "runs": cold_s, "median": med(cold_s),
     "ratio": ratio, "target": "<= 1.2x file://", "met": ratio <= 1.2,
     "pushed": cold["pushed"], "narBytes": cold["narBytes"], "uploadedBytes": cold["uploadedBytes"]},
    {"row": "cold push of the closure", "what": "`flywheel push` from `dotnet build` (IL, all JIT; before ReadyToRun)", "runs": jit_s,
     "median": med(jit_s), "ratio": med(jit_s) / med(file_s)},
    {"row": "push of a closure the cache holds", "what": "`flywheel push` again", "runs": warm_s, "median": med(warm_s),
     "target": "< 1 s", "met": med(warm_s) < 1.0, "alreadyPresent": warm["alreadyPresent"]},
]
memory = [
    {"what": f"`flywheel push`, cold closure ({cold['paths']} paths)", "peakRssMiB": round(cold_rss, 1)},
    {"what": f"`flywheel push`, one {big_mib} MiB path", "peakRssMiB": round(big_kib / 1024, 1), "seconds": big_s, "narBytes": big["narBytes"]},
]
cpu_rows = []
for kind, what in (("file", "`nix copy --to file://`"), ("cold", "`flywheel push`, cold"),
                   ("jit", "`flywheel push`, cold, `dotnet build` output (JIT)"), ("warm", "`flywheel push`, held closure")):
    names = [f"{kind}-{i}" for i in range(1, reps + 1) if f"{kind}-{i}" in cpu]
    cpu_rows.append({"what": what, "commandCpu": med([cpu[n][0] for n in names]), "gatewayCpu": med([cpu[n][1] for n in names]),
                     "load": [cpu[n][2] for n in names]})
# the cold push's own account of its wall clock (--verbose), from the rep with the median time
def median_rep(values):
    return sorted(range(1, len(values) + 1), key=lambda i: values[i - 1])[len(values) // 2]


def phase_lines(name):
    return [l.strip() for l in open(os.path.join(work, name + ".err")) if l.startswith("phase ")]


median_cold, median_jit = median_rep(cold_s), median_rep(jit_s)
phases, jit_phases = phase_lines(f"cold-{median_cold}"), phase_lines(f"jit-{median_jit}")
now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
with open(out + ".json", "w") as f:
    json.dump({"measured": now, "commit": commit, "reps": reps, "rows": rows, "memory": memory, "cpu": cpu_rows,
               "coldPhases": phases, "jitPhases": jit_phases}, f, indent=2)


def secs(values):
    return ", ".join(f"{v:.2f}" for v in values)


lines = [
    f"Measured {now}, commit {commit}, {reps} reps interleaved; {cold['paths']} paths, "
    f"{cold['narBytes'] / 2**20:.0f} MiB of NAR ({cold['uploadedBytes'] / 2**20:.0f} MiB zstd).",
    "",
    "| what a user waits for | command | runs s | median s | ratio | target | met |",
    "|---|---|---|---:|---:|---|---|",
]
for r in rows:
    ratio_text = f"{r['ratio']:.2f}x" if "ratio" in r else ""
    met = "" if "met" not in r else ("yes" if r["met"] else "**no**")
    lines.append(f"| {r['row']} | {r['what']} | {secs(r['runs'])} | {r['median']:.2f} | {ratio_text} | {r.get('target', '')} | {met} |")
lines += ["", "| client | peak RSS MiB |", "|---|---:|"]
for m in memory:
    lines.append(f"| {m['what']} | {m['peakRssMiB']} |")
lines += ["", "| command (medians) | its CPU s (user+sys, with children) | gateway CPU s meanwhile | load average before each rep |",
          "|---|---:|---:|---|"]
for c in cpu_rows:
    lines.append(f"| {c['what']} | {c['commandCpu']:.2f} | {c['gatewayCpu']:.2f} | {', '.join(f'{x:.1f}' for x in c['load'])} |")
lines += ["", f"Cold push rep {median_cold} (the median), `--verbose`:", "", "```"] + phases + ["```"]
lines += ["", f"The same from the `dotnet build` output (JIT), rep {median_jit} (the median):", "", "```"] + jit_phases + ["```"]
with open(out + ".md", "w") as f:
    f.write("\n".join(lines) + "\n")
