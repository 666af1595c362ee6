#!/usr/bin/env python3
"""Writes the Bazel rebuild benchmark's workspace: WORKSPACE (empty) and BUILD with ACTIONS genrules in LAYERS layers.

  workspace.py DIR [--actions 200] [--layers 8] [--nonce TEXT]

Deterministic (a fixed seed): genrule g<L>_<i> of layer L > 0 depends on up to three genrules of layer L-1. Its output
is a line naming it and the nonce, the SHA-256 of its inputs, then `seq` cut to its size, so every output differs
(a CAS that dedups cannot serve two actions from one blob). Sizes are log-uniform from 8 bytes to 8 MiB, and the
first genrule of every other layer is exactly 8 MiB (two gRPC messages' worth: ByteStream has to stream it).
The nonce gives a fresh set of action keys; the run uses one per run, so no cache saw them before."""
import argparse
import math
import os
import random

MIN_BYTES, MAX_BYTES = 8, 8 * 1024 * 1024


def sizes(actions, layers, rng):
    out = []
    for n in range(actions):
        if n % (actions // layers) == 0 and (n // (actions // layers)) % 2 == 0:
            out.append(MAX_BYTES)
        else:
            out.append(int(math.exp(rng.uniform(math.log(MIN_BYTES), math.log(MAX_BYTES)))))
    return out


def build_file(actions, layers, nonce):
    rng = random.Random(15)
    per_layer = actions // layers
    names = [[f"g{layer}_{i}" for i in range(per_layer + (1 if layer < actions % layers else 0))] for layer in range(layers)]
    flat = [name for layer in names for name in layer]
    size = dict(zip(flat, sizes(len(flat), layers, rng)))
    rules = [f"# Flywheel.Cache Bazel rebuild benchmark: {len(flat)} genrules in {layers} layers, nonce {nonce}.\n"]
    for layer, layer_names in enumerate(names):
        for name in layer_names:
            deps = sorted(rng.sample(names[layer - 1], min(3, len(names[layer - 1])))) if layer else []
            srcs = ", ".join(f'":{d}"' for d in deps)
            inputs = "cat $(SRCS) | sha256sum" if deps else "echo no inputs"
            # seq prints at least ~7 bytes per number; truncate cuts (or pads) to the exact size. No `| head`:
            # genrules run under pipefail, and SIGPIPE would fail the action.
            count = size[name] // 6 + 1
            rules.append(f"""genrule(
    name = "{name}",
    srcs = [{srcs}],
    outs = ["{name}.out"],
    cmd = "{{ echo '{name} {nonce}'; {inputs}; seq 1 {count}; }} > $@ && truncate -s {size[name]} $@",
)
""")
    return "\n".join(rules), len(flat), sum(size.values())


def main():
    p = argparse.ArgumentParser()
    p.add_argument("dir")
    p.add_argument("--actions", type=int, default=200)
    p.add_argument("--layers", type=int, default=8)
    p.add_argument("--nonce", default="bench")
    a = p.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    text, count, total = build_file(a.actions, a.layers, a.nonce)
    open(os.path.join(a.dir, "WORKSPACE"), "w").close()
    with open(os.path.join(a.dir, "BUILD"), "w") as f:
        f.write(text)
    print(f"{count} {total}")


if __name__ == "__main__":
    main()
