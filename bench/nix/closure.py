#!/usr/bin/env python3
"""Deterministic Nix closure for benchmarks: N store paths (default 300, 230 MiB of NAR in total) imported into the
real Nix store with `nix-store --import`, their references forming a DAG whose top path's closure is every path.

    bench/nix/closure.py [--seed S] [--count 300] [--total-mib 230] [--paths-file FILE] [--dry-run]

Prints the top path (the one whose closure is all of them) on stdout; --paths-file writes every path, one a line,
references before referrers (the order `nix copy` uploads them in). The same seed gives the same store paths and the
same bytes (a second run imports nothing new); use a different seed for a cold set. --dry-run prints the size table
and imports nothing.

Shape, like a real closure (compare `nix path-info -rS` of a NixOS system or firefox): sizes drawn from a log-normal
and scaled to the total, so most paths are a few KiB (scripts, .pc files, small libraries), a few hundred KiB to a
few MiB, and 3 of tens of MiB (the big libraries). Contents mix incompressible bytes (machine code stand-in) with
repetitive text, so zstd saves about what it saves on real NARs (~2x). Every path is a directory (bin/, lib/,
share/) or a single file; a path's files mention the store paths it references, as Nix's reference scanner expects
of real outputs. Each path references 0-6 earlier ones, favouring recent ones (libc-like early paths get many
referrers); the top path references every path nothing else references, so the whole set is one closure.

How: the script writes the `nix-store --export` format (per path: 1, NAR, 'NIXE', path, references, deriver, 0;
then 0) to `nix-store --import`'s stdin, which checks the NAR and registers each path with its references. Store
path hashes come from the seed (input-addressed paths are not content-checked). Paths are never garbage: remove them
with `nix-store --delete $(cat FILE)`.
"""
import argparse
import math
import random
import struct
import subprocess
import sys

NIX_BASE32 = "0123456789abcdfghijklmnpqrsvwxyz"
STORE = "/nix/store"
WORDS = ("lib share bin include pkgconfig config static dynamic symbol version linker runtime module package "
         "export import function return const struct union enum typedef define ifdef endif extern inline").split()


def nix_str(b: bytes) -> bytes:
    return struct.pack("<Q", len(b)) + b + b"\0" * (-len(b) % 8)


def nar_file(out, data: bytes, executable: bool):
    out += nix_str(b"(") + nix_str(b"type") + nix_str(b"regular")
    if executable:
        out += nix_str(b"executable") + nix_str(b"")
    out += nix_str(b"contents") + nix_str(data) + nix_str(b")")


def nar(entries):
    """entries: None-named single file [(None, bytes, exe)] or a directory tree {name: subtree|(bytes, exe)}."""
    out = bytearray(nix_str(b"nix-archive-1"))

    def node(n):
        nonlocal out
        if isinstance(n, tuple):
            nar_file(out, n[0], n[1])
            return
        out += nix_str(b"(") + nix_str(b"type") + nix_str(b"directory")
        for name in sorted(n):
            out += nix_str(b"entry") + nix_str(b"(") + nix_str(b"name") + nix_str(name.encode())
            out += nix_str(b"node")
            node(n[name])
            out += nix_str(b")")
        out += nix_str(b")")

    node(entries)
    return bytes(out)


def content(rng: random.Random, size: int, mentions: bytes) -> bytes:
    """size bytes: runs of random bytes and of repeated words, the store paths in `mentions` near the start."""
    parts = [mentions]
    n = len(mentions)
    while n < size:
        run = min(size - n, rng.randint(512, 64 * 1024))
        if rng.random() < 0.45:
            chunk = rng.randbytes(run)
        else:
            words = " ".join(rng.choice(WORDS) for _ in range(64)).encode() + b"\n"
            chunk = (words * (run // len(words) + 1))[:run]
        parts.append(chunk)
        n += run
    return b"".join(parts)[:max(size, len(mentions))]


def plan(seed: int, count: int, total: int):
    rng = random.Random(f"flywheel-closure/{seed}")
    # log-normal sizes (median ~4 KiB), the 3 largest made tens of MiB (40% of the total) and what is left of the
    # total spread over the next 10% by size (hundreds of KiB to a few MiB), so most paths stay a few KiB
    raw = sorted(min(8 << 20, max(200, int(rng.lognormvariate(math.log(4 * 1024), 2.2)))) for _ in range(count))
    big = 3
    big_total = int(total * 0.40)
    sizes = raw[:-big]
    mid = len(sizes) - max(1, len(sizes) // 10)
    rest = total - big_total - sum(sizes)
    mid_sum = sum(sizes[mid:])
    if rest > 0:
        sizes[mid:] = [s + int(rest * s / mid_sum) for s in sizes[mid:]]
    sizes += [int(big_total * f) for f in (0.45, 0.33, 0.22)]
    sizes[-1] += total - sum(sizes)  # exact total of file bytes
    rng.shuffle(sizes)
    paths = []
    for i in range(count):
        h = "".join(rng.choice(NIX_BASE32) for _ in range(32))
        kind = rng.choice(["lib", "bin", "dev", "share", "script"])
        paths.append({"path": f"{STORE}/{h}-fwbench-s{seed}-{i:03d}-{kind}", "kind": kind, "size": sizes[i]})
    referenced = set()
    for i, p in enumerate(paths):
        refs = set()
        if i > 0:
            for _ in range(rng.randint(0, min(6, i))):
                # favour recent paths, but the first few (libc-like) get picked often too
                j = int(i * (1 - rng.random() ** 2)) if rng.random() < 0.7 else rng.randrange(min(i, 8))
                refs.add(min(j, i - 1))
        if i == count - 1:
            refs |= set(range(count - 1)) - referenced
        referenced |= refs
        if rng.random() < 0.3:
            refs.add(i)  # self-reference, as many real outputs have (rpath, scripts)
        p["refs"] = sorted(refs)
        p["rng"] = rng.getrandbits(64)
    return paths


def tree(p, paths):
    rng = random.Random(p["rng"])
    mentions = b"".join(paths[j]["path"].encode() + b"\n" for j in p["refs"])
    size = p["size"]
    if p["kind"] == "script" or size < 2048:
        return (content(rng, size, mentions), p["kind"] == "script")
    nfiles = max(1, min(12, size // (256 * 1024) + rng.randint(1, 4)))
    cuts = sorted(rng.randint(0, size) for _ in range(nfiles - 1))
    sizes = [b - a for a, b in zip([0] + cuts, cuts + [size])]
    top = {}
    sub = {"lib": "lib", "bin": "bin", "dev": "include", "share": "share"}[p["kind"]]
    top[sub] = {}
    for k, s in enumerate(sizes):
        name = {"lib": f"libfw{k}.so.{k}", "bin": f"fw-tool-{k}", "dev": f"fw{k}.h", "share": f"doc-{k}.txt"}[p["kind"]]
        top[sub][name] = (content(rng, s, mentions if k == 0 else b""), p["kind"] == "bin")
    if p["kind"] == "dev":
        top["lib"] = {"pkgconfig": {"fw.pc": (mentions + b"Name: fw\n", False)}}
    return top


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--count", type=int, default=300)
    ap.add_argument("--total-mib", type=float, default=230)
    ap.add_argument("--paths-file")
    ap.add_argument("--dry-run", action="store_true")
    a = ap.parse_args()
    paths = plan(a.seed, a.count, int(a.total_mib * 1024 * 1024))
    if a.dry_run:
        for p in sorted(paths, key=lambda p: p["size"]):
            print(f'{p["size"]:>10} {len(p["refs"]):>2} refs {p["path"]}')
        print(f'total {sum(p["size"] for p in paths)} bytes in {len(paths)} paths', file=sys.stderr)
        return
    proc = subprocess.Popen(["nix-store", "--import"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    nar_bytes = 0
    try:
        for p in paths:
            data = nar(tree(p, paths))
            nar_bytes += len(data)
            rec = struct.pack("<Q", 1) + data + struct.pack("<Q", 0x4558494E) + nix_str(p["path"].encode())
            rec += struct.pack("<Q", len(p["refs"])) + b"".join(nix_str(paths[j]["path"].encode()) for j in p["refs"])
            rec += nix_str(b"") + struct.pack("<Q", 0)
            proc.stdin.write(rec)
        proc.stdin.write(struct.pack("<Q", 0))
        proc.stdin.close()
    except BrokenPipeError:
        pass
    if proc.wait() != 0:
        sys.exit(f"closure.py: nix-store --import exited {proc.returncode}")
    if a.paths_file:
        with open(a.paths_file, "w") as f:
            f.writelines(p["path"] + "\n" for p in paths)
    print(f"closure.py: {len(paths)} paths, {nar_bytes} NAR bytes, seed {a.seed}", file=sys.stderr)
    print(paths[-1]["path"])


if __name__ == "__main__":
    main()
