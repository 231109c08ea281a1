#!/usr/bin/env bash
# Build the Go oracle tools and (re)generate the bbolt fixtures and goldens.
#
# usage: tools/gen-bolt-fixtures.sh [--bin-dir DIR] COMMAND [ARG]
#
#   deps              apt-get install the Go toolchain and Go sources if missing
#   build             build DIR/gobolt (tools/gobolt) and, when its source is
#                     installed, the reference CLI DIR/bbolt (go.etcd.io/bbolt/cmd/bbolt)
#                     or else DIR/bolt (github.com/boltdb/bolt/cmd/bolt, v1.3.1).
#                     Prints nothing; skips binaries newer than their sources.
#   gen OUTDIR        build, then write the fixtures and OUTDIR/MANIFEST
#   golden FIXDIR     build, then write FIXDIR/golden/* and FIXDIR/golden/COMMANDS
#   all FIXDIR        gen FIXDIR then golden FIXDIR
#   verify FIXDIR     regenerate into a temp dir and compare every file's sha256
#                     with FIXDIR/MANIFEST, and every golden with FIXDIR/golden
#   big-freelist OUT  build, then write a file whose freelist holds > 65535 ids
#
# DIR defaults to target/go (relative to the repository root). Needs the Debian
# packages golang-go and golang-github-coreos-bbolt-dev (GOPATH sources under
# /usr/share/gocode); golang-github-boltdb-bolt-dev gives the v1.3.1 `bolt` CLI.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SCRIPT="$ROOT/tools/gen-bolt-fixtures.sh"

BIN_DIR="target/go"
if [[ "${1:-}" == "--bin-dir" ]]; then
	BIN_DIR="$2"
	shift 2
fi
CMD="${1:-}"
ARG="${2:-}"

GOPATH_DIR=/usr/share/gocode
export GO111MODULE=off
export GOPATH="$GOPATH_DIR"
export GOFLAGS=
mkdir -p "$BIN_DIR"
export GOCACHE="${GOCACHE:-$(cd "$BIN_DIR" && pwd)/.gocache}"

MILVUS_DIR="testdata/milvus-2.3.5"

die() {
	echo "gen-bolt-fixtures: $*" >&2
	exit 2
}

deps() {
	local missing=()
	command -v go >/dev/null 2>&1 || missing+=(golang-go)
	[[ -d "$GOPATH_DIR/src/go.etcd.io/bbolt" ]] || missing+=(golang-github-coreos-bbolt-dev)
	[[ -d "$GOPATH_DIR/src/github.com/boltdb/bolt/cmd/bolt" ]] || missing+=(golang-github-boltdb-bolt-dev)
	[[ -d "$GOPATH_DIR/src/go.etcd.io/etcd/mvcc/mvccpb" ]] || missing+=(golang-etcd-server-dev)
	if ((${#missing[@]})); then
		apt-get update -qq >/dev/null
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
	fi
}

# needs_build BIN SRC...: true if BIN is missing or older than any file in SRC.
needs_build() {
	local bin="$1"
	shift
	[[ -x "$bin" ]] || return 0
	[[ -n "$(find "$@" -newer "$bin" -print -quit 2>/dev/null)" ]]
}

CLI=""      # path of the reference CLI binary, if any
CLI_NAME="" # bbolt or bolt

build() {
	command -v go >/dev/null 2>&1 || die "go not found (run: tools/gen-bolt-fixtures.sh deps)"
	[[ -d "$GOPATH_DIR/src/go.etcd.io/bbolt" ]] || die "go.etcd.io/bbolt sources missing (run: tools/gen-bolt-fixtures.sh deps)"
	[[ -d "$GOPATH_DIR/src/go.etcd.io/etcd/mvcc/mvccpb" ]] || die "etcd's Go sources (mvccpb, package golang-etcd-server-dev) missing (run: tools/gen-bolt-fixtures.sh deps)"
	if needs_build "$BIN_DIR/gobolt" tools/gobolt "$SCRIPT"; then
		go build -o "$BIN_DIR/gobolt" ./tools/gobolt
	fi
	local src
	if [[ -d "$GOPATH_DIR/src/go.etcd.io/bbolt/cmd/bbolt" ]]; then
		src="$GOPATH_DIR/src/go.etcd.io/bbolt/cmd/bbolt"
		CLI_NAME=bbolt
		if needs_build "$BIN_DIR/bbolt" "$src"; then
			go build -o "$BIN_DIR/bbolt" go.etcd.io/bbolt/cmd/bbolt
		fi
	elif [[ -d "$GOPATH_DIR/src/github.com/boltdb/bolt/cmd/bolt" ]]; then
		src="$GOPATH_DIR/src/github.com/boltdb/bolt/cmd/bolt"
		CLI_NAME=bolt
		if needs_build "$BIN_DIR/bolt" "$src"; then
			go build -o "$BIN_DIR/bolt" github.com/boltdb/bolt/cmd/bolt
		fi
	fi
	[[ -n "$CLI_NAME" ]] && CLI="$BIN_DIR/$CLI_NAME"
	return 0
}

GOBOLT() { "$BIN_DIR/gobolt" "$@"; }

# freelist sentinel (NoFreelistSync) in the active meta: the v1.3.1 `bolt` CLI
# predates it and panics on such files.
has_freelist_sentinel() {
	python3 - "$1" <<'EOF'
import struct, sys
f = open(sys.argv[1], 'rb')
h = f.read(4096)
ps = struct.unpack('<I', h[24:28])[0]
f.seek(ps)
metas = [h[16:80], f.read(80)[16:80]]
m = max(metas, key=lambda m: struct.unpack('<Q', m[48:56])[0])
sys.exit(0 if struct.unpack('<Q', m[32:40])[0] == 0xFFFFFFFFFFFFFFFF else 1)
EOF
}

# golden_one GOLDENDIR STEM FILE CMDFIXTURE: CMDFIXTURE is what COMMANDS shows
# in place of the file (FIXTURE for testdata fixtures).
golden_one() {
	local gdir="$1" stem="$2" file="$3" shown="$4" rc
	run() { # run OUTNAME COMMAND-TEXT CMD...
		local out="$1" text="$2"
		shift 2
		rc=0
		"$@" >"$gdir/$out" || rc=$?
		printf '%s\t%s\t%d\n' "$out" "$text" "$rc" >>"$gdir/COMMANDS"
	}
	run "$stem.walk.jsonl" "gobolt walk $shown" GOBOLT walk "$file"
	run "$stem.check" "gobolt check $shown" GOBOLT check "$file"
	[[ -n "$CLI" ]] || return 0
	if [[ "$CLI_NAME" == bolt ]] && has_freelist_sentinel "$file"; then
		return 0
	fi
	local scratch
	scratch="$(mktemp -d)"
	# The v1.3.1 CLI opens read-write and `pages` even commits a transaction:
	# always run it on a fresh scratch copy.
	cli() {
		cp "$file" "$scratch/db" && chmod 600 "$scratch/db"
		"$CLI" "$1" "$scratch/db"
	}
	run "$stem.info" "$CLI_NAME info $shown" cli info
	run "$stem.pages" "$CLI_NAME pages $shown" cli pages
	run "$stem.stats" "$CLI_NAME stats $shown" cli stats
	run "$stem.check.cli" "$CLI_NAME check $shown" cli check
	cli_dump() {
		cp "$file" "$scratch/db" && chmod 600 "$scratch/db"
		"$CLI" dump "$scratch/db" 0 1 2 3
	}
	run "$stem.dump" "$CLI_NAME dump $shown 0 1 2 3" cli_dump
	rm -rf "$scratch"
}

golden() {
	local dir="$1" gdir f stem
	gdir="$dir/golden"
	rm -rf "$gdir"
	mkdir -p "$gdir"
	: >"$gdir/COMMANDS"
	for f in "$dir"/*.db; do
		stem="$(basename "$f" .db)"
		golden_one "$gdir" "$stem" "$f" FIXTURE
	done
	if [[ -d "$MILVUS_DIR" ]]; then
		for f in "$MILVUS_DIR"/small.db "$MILVUS_DIR"/two-databases.db; do
			[[ -f "$f" ]] || continue
			stem="milvus-$(basename "$f" .db)"
			golden_one "$gdir" "$stem" "$f" "$f"
		done
	fi
}

verify() {
	local dir="$1" tmp bad=0 name sum desc
	tmp="$(mktemp -d)"
	GOBOLT gen "$tmp"
	while IFS=$'\t' read -r name sum desc; do
		[[ "$sum" == "-" ]] && continue
		if [[ "$(sha256sum "$tmp/$name" | cut -d' ' -f1)" != "$sum" ]]; then
			echo "MISMATCH regenerated $name differs from MANIFEST" >&2
			bad=1
		fi
		if [[ -f "$dir/$name" && "$(sha256sum "$dir/$name" | cut -d' ' -f1)" != "$sum" ]]; then
			echo "MISMATCH $dir/$name differs from MANIFEST" >&2
			bad=1
		fi
	done <"$dir/MANIFEST"
	cmp -s "$tmp/MANIFEST" "$dir/MANIFEST" || {
		echo "MISMATCH MANIFEST" >&2
		bad=1
	}
	if [[ -d "$dir/golden" ]]; then
		golden "$tmp" >/dev/null
		if ! diff -r -q "$tmp/golden" "$dir/golden" >&2; then
			bad=1
		fi
	fi
	rm -rf "$tmp"
	((bad == 0)) || return 1
	echo "OK"
}

case "$CMD" in
deps) deps ;;
build) build ;;
gen)
	[[ -n "$ARG" ]] || die "gen needs OUTDIR"
	build
	GOBOLT gen "$ARG"
	;;
golden)
	[[ -n "$ARG" ]] || die "golden needs FIXDIR"
	build
	golden "$ARG"
	;;
all)
	[[ -n "$ARG" ]] || die "all needs FIXDIR"
	build
	GOBOLT gen "$ARG"
	golden "$ARG"
	;;
verify)
	[[ -n "$ARG" ]] || die "verify needs FIXDIR"
	build
	verify "$ARG"
	;;
big-freelist)
	[[ -n "$ARG" ]] || die "big-freelist needs OUT"
	build
	GOBOLT gen-big-freelist "$ARG"
	;;
*)
	sed -n '2,20p' "$SCRIPT" | sed 's/^# \{0,1\}//' >&2
	exit 2
	;;
esac
