#!/usr/bin/env python3
"""Makes damaged copies of bbolt files for the salvage tests.

    tools/damage-corpus.py OUTDIR SRC.db [SRC.db ...]

For every source it writes OUTDIR/<stem>.<damage>.db and one line per file
to OUTDIR/MANIFEST (name, damage, details). Damages, deterministic:

  truncate-25 / -50 / -90   the first 25/50/90 % of the file
  truncate-2p               the first two pages only
  zero-leaf-mid / -last     a leaf page of the largest bucket zeroed
  cycle                     a branch's first child pointing at the branch itself
  child-out-of-range        a branch child pointing past the end
  count-65535               a leaf's element count set to 65535
  pos-past-end              a leaf's first element offset pointing past the page
  unknown-flags             a leaf's flags set to 0x20
  newest-meta-bad           the newest meta page's checksum broken (torn last write)
  header-flips              single-bit flips in page headers and element arrays,
                            one per 16 tree pages (at least 2)
  random                    1 MiB of random bytes
"""
import os
import random
import struct
import sys

P_DEFAULT = 4096


def page_size(b):
    return struct.unpack_from("<I", b, 24)[0] or P_DEFAULT


def pages(b, p):
    out = []
    for i in range(2, len(b) // p):
        pid, flags, count, ovf = struct.unpack_from("<QHHI", b, i * p)
        if pid == i:
            out.append((i, flags, count, ovf))
    return out


def main():
    out, srcs = sys.argv[1], sys.argv[2:]
    os.makedirs(out, exist_ok=True)
    manifest = []
    for src in srcs:
        b = open(src, "rb").read()
        stem = os.path.splitext(os.path.basename(src))[0]
        p = page_size(b)
        ps = pages(b, p)
        leaves = [x for x in ps if x[1] == 2 and x[2] > 8]
        branches = [x for x in ps if x[1] == 1 and x[2] > 1]
        rnd = random.Random(stem)

        def put(damage, data, detail=""):
            name = f"{stem}.{damage}.db"
            with open(os.path.join(out, name), "wb") as f:
                f.write(data)
            manifest.append(f"{name}\t{damage}\t{detail}")

        for pct in (25, 50, 90):
            put(f"truncate-{pct}", b[: len(b) * pct // 100], f"{len(b) * pct // 100} bytes")
        put("truncate-2p", b[: 2 * p])
        if leaves:
            for label, (pid, _, _, _) in (("mid", leaves[len(leaves) // 2]), ("last", leaves[-1])):
                d = bytearray(b)
                d[pid * p:(pid + 1) * p] = bytes(p)
                put(f"zero-leaf-{label}", d, f"page {pid}")
            pid = leaves[len(leaves) // 2][0]
            d = bytearray(b)
            struct.pack_into("<H", d, pid * p + 10, 0xFFFF)
            put("count-65535", d, f"page {pid}")
            d = bytearray(b)
            struct.pack_into("<I", d, pid * p + 16 + 4, 0xFFFFFF00)
            put("pos-past-end", d, f"page {pid}")
            d = bytearray(b)
            struct.pack_into("<H", d, pid * p + 8, 0x20)
            put("unknown-flags", d, f"page {pid}")
        if branches:
            pid = branches[0][0]
            d = bytearray(b)
            struct.pack_into("<Q", d, pid * p + 16 + 8, pid)
            put("cycle", d, f"page {pid}")
            d = bytearray(b)
            struct.pack_into("<Q", d, pid * p + 16 + 8, 0xFFFFFFFF)
            put("child-out-of-range", d, f"page {pid}")
        txids = [struct.unpack_from("<Q", b, i * p + 64)[0] for i in (0, 1)]
        newest = 0 if txids[0] >= txids[1] else 1
        d = bytearray(b)
        d[newest * p + 72] ^= 0xFF
        put("newest-meta-bad", d, f"meta {newest}")
        d = bytearray(b)
        targets = [x[0] for x in ps if x[1] in (1, 2)]
        flips = []
        for _ in range(max(2, len(targets) // 16)):
            pid = rnd.choice(targets)
            off = pid * p + rnd.randrange(0, 48)
            bit = rnd.randrange(8)
            d[off] ^= 1 << bit
            flips.append(f"{off}:{bit}")
        put("header-flips", d, " ".join(flips))
        put("random", bytes(rnd.getrandbits(8) for _ in range(1 << 20)))
    with open(os.path.join(out, "MANIFEST"), "w") as f:
        f.write("\n".join(manifest) + "\n")


if __name__ == "__main__":
    main()
