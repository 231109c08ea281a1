// Command gobolt is the Go "oracle" for boltsnap: it uses the real Go bbolt
// library (go.etcd.io/bbolt, Debian golang-github-coreos-bbolt-dev) to write
// deterministic fixtures and to print reference views of bbolt files that the
// Rust implementation is compared against.
//
// Build (from the repository root):
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o target/go/gobolt ./tools/gobolt
//
// Exit codes: 0 success, 1 check/verification failure, 2 usage or open error.
package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

const usageText = `usage: gobolt COMMAND [ARGS]

commands:
  gen OUTDIR                      write the deterministic fixture set and OUTDIR/MANIFEST
  gen-big-freelist OUT            write a file whose freelist holds more than 65535 ids
  gen-etcd OUT --revisions N --keys K [--page-size P] [--seed S] [--batch B] [--no-grow-sync]
                                  write an etcd-shaped bbolt file (OUT must not exist)
  walk FILE                       print every bucket and key/value as JSON lines
  check FILE                      run tx.Check(); print errors and "N errors found", or "OK"
  rwtest FILE                     read-write round trip on a temporary copy of FILE
  bench-scan [--no-touch] FILE    time a full cursor scan summing every byte (best of 5); --no-touch: lengths only
  bench-check FILE                time tx.Check() (best of 3)
  bench-compact SRC DST [--tx-max-size N] [--no-sync]
                                  time bolt.Compact (DST must not exist)
  bench-live FILE [--prefix-skip P]...
                                  time an etcd live-key export (best of 3): scan bucket key,
                                  decode each value as mvccpb.KeyValue, keep the latest per
                                  user key (tombstone = 18-byte key ending 't' deletes it),
                                  drop keys under any P (default by-dev/meta/session/) and
                                  leased keys, sort; prints one JSON line with heap stats
  live-json FILE [--prefix-skip P]...
                                  print bench-live's kept keys as JSON lines sorted by key:
                                  key, create_revision, mod_revision, version, value (base64;
                                  value omitted when empty)
`

// ---------------------------------------------------------------------------
// small helpers

func usageExit(msg string) {
	if msg != "" {
		fmt.Fprintln(os.Stderr, "gobolt: "+msg)
	}
	fmt.Fprint(os.Stderr, usageText)
	os.Exit(2)
}

// die prints an error to stderr and exits with code.
func die(code int, format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "gobolt: "+format+"\n", args...)
	os.Exit(code)
}

func must(err error) {
	if err != nil {
		die(2, "%v", err)
	}
}

// openRO opens an existing file read-only; any failure exits with code 2.
func openRO(path string) *bolt.DB {
	if _, err := os.Stat(path); err != nil {
		die(2, "%v", err)
	}
	db, err := bolt.Open(path, 0400, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		die(2, "open %s: %v", path, err)
	}
	return db
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return -1
	}
	return fi.Size()
}

func sha256File(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func copyFile(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// collectCheck runs tx.Check() and returns all error strings.
func collectCheck(tx *bolt.Tx) []string {
	var errs []string
	for err := range tx.Check() {
		errs = append(errs, err.Error())
	}
	return errs
}

// ---------------------------------------------------------------------------
// walk

type hexWriter struct {
	w   *bufio.Writer
	buf []byte
}

func (h *hexWriter) hex(b []byte) {
	n := hex.EncodedLen(len(b))
	if cap(h.buf) < n {
		h.buf = make([]byte, n*2)
	}
	hex.Encode(h.buf[:n], b)
	h.w.Write(h.buf[:n])
}

func (h *hexWriter) path(p [][]byte) {
	h.w.WriteString(`{"bucket":[`)
	for i, name := range p {
		if i > 0 {
			h.w.WriteByte(',')
		}
		h.w.WriteByte('"')
		h.hex(name)
		h.w.WriteByte('"')
	}
	h.w.WriteByte(']')
}

func (h *hexWriter) bucketLine(p [][]byte, seq uint64) {
	h.path(p)
	h.w.WriteString(`,"seq":`)
	h.w.WriteString(strconv.FormatUint(seq, 10))
	h.w.WriteString("}\n")
}

func (h *hexWriter) kvLine(p [][]byte, k, v []byte) {
	h.path(p)
	h.w.WriteString(`,"key":"`)
	h.hex(k)
	h.w.WriteString(`","value":"`)
	h.hex(v)
	h.w.WriteString("\"}\n")
}

// visitor receives every bucket (with its path) and every plain key/value.
type visitor struct {
	bucket func(path [][]byte, b *bolt.Bucket)
	kv     func(path [][]byte, k, v []byte)
}

func visitBucket(b *bolt.Bucket, path [][]byte, vis *visitor) {
	vis.bucket(path, b)
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if v == nil {
			if sb := b.Bucket(k); sb != nil {
				np := make([][]byte, len(path)+1)
				copy(np, path)
				np[len(path)] = k
				visitBucket(sb, np, vis)
				continue
			}
		}
		vis.kv(path, k, v)
	}
}

func visitTx(tx *bolt.Tx, vis *visitor) {
	c := tx.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if v == nil {
			if b := tx.Bucket(k); b != nil {
				visitBucket(b, [][]byte{k}, vis)
				continue
			}
		}
		// A plain value in the root bucket cannot be made through the API,
		// but show it rather than hide it.
		vis.kv(nil, k, v)
	}
}

func cmdWalk(args []string) {
	if len(args) != 1 {
		usageExit("walk needs FILE")
	}
	db := openRO(args[0])
	defer db.Close()
	out := bufio.NewWriterSize(os.Stdout, 1<<20)
	hw := &hexWriter{w: out}
	err := db.View(func(tx *bolt.Tx) error {
		visitTx(tx, &visitor{
			bucket: func(p [][]byte, b *bolt.Bucket) { hw.bucketLine(p, b.Sequence()) },
			kv:     func(p [][]byte, k, v []byte) { hw.kvLine(p, k, v) },
		})
		return nil
	})
	if err != nil {
		die(2, "walk: %v", err)
	}
	if err := out.Flush(); err != nil {
		die(2, "write: %v", err)
	}
}

// ---------------------------------------------------------------------------
// check

func cmdCheck(args []string) {
	if len(args) != 1 {
		usageExit("check needs FILE")
	}
	db := openRO(args[0])
	var errs []string
	if err := db.View(func(tx *bolt.Tx) error {
		errs = collectCheck(tx)
		return nil
	}); err != nil {
		die(2, "check: %v", err)
	}
	db.Close()
	if len(errs) > 0 {
		for _, e := range errs {
			fmt.Println(e)
		}
		fmt.Printf("%d errors found\n", len(errs))
		os.Exit(1)
	}
	fmt.Println("OK")
}

// ---------------------------------------------------------------------------
// rwtest

// digest is an order-independent multiset hash of walk entries: the sum
// (mod 2^64, per lane) of sha256 of each entry's canonical encoding.
type digest [4]uint64

func entryHash(kind byte, path [][]byte, k, v []byte, seq uint64) [4]uint64 {
	h := sha256.New()
	var n [8]byte
	h.Write([]byte{kind})
	binary.BigEndian.PutUint64(n[:], uint64(len(path)))
	h.Write(n[:])
	for _, p := range path {
		binary.BigEndian.PutUint64(n[:], uint64(len(p)))
		h.Write(n[:])
		h.Write(p)
	}
	binary.BigEndian.PutUint64(n[:], uint64(len(k)))
	h.Write(n[:])
	h.Write(k)
	binary.BigEndian.PutUint64(n[:], uint64(len(v)))
	h.Write(n[:])
	h.Write(v)
	binary.BigEndian.PutUint64(n[:], seq)
	h.Write(n[:])
	s := h.Sum(nil)
	var r [4]uint64
	for i := 0; i < 4; i++ {
		r[i] = binary.BigEndian.Uint64(s[8*i:])
	}
	return r
}

func (d *digest) add(x [4]uint64) {
	for i := range d {
		d[i] += x[i]
	}
}

func (d *digest) sub(x [4]uint64) {
	for i := range d {
		d[i] -= x[i]
	}
}

func dbDigest(db *bolt.DB) (digest, int, error) {
	var d digest
	n := 0
	err := db.View(func(tx *bolt.Tx) error {
		visitTx(tx, &visitor{
			bucket: func(p [][]byte, b *bolt.Bucket) { d.add(entryHash('b', p, nil, nil, b.Sequence())); n++ },
			kv:     func(p [][]byte, k, v []byte) { d.add(entryHash('k', p, k, v, 0)); n++ },
		})
		return nil
	})
	return d, n, err
}

func bucketAt(tx *bolt.Tx, path [][]byte) *bolt.Bucket {
	if len(path) == 0 {
		return nil
	}
	b := tx.Bucket(path[0])
	for _, name := range path[1:] {
		if b == nil {
			return nil
		}
		b = b.Bucket(name)
	}
	return b
}

func cloneB(b []byte) []byte { return append([]byte{}, b...) }

func clonePath(p [][]byte) [][]byte {
	r := make([][]byte, len(p))
	for i := range p {
		r[i] = cloneB(p[i])
	}
	return r
}

type kvRef struct {
	path [][]byte
	k, v []byte
}

func cmdRWTest(args []string) {
	if len(args) != 1 {
		usageExit("rwtest needs FILE")
	}
	src := args[0]
	if _, err := os.Stat(src); err != nil {
		die(2, "%v", err)
	}
	tmpf, err := os.CreateTemp("", "gobolt-rwtest-*.db")
	must(err)
	tmp := tmpf.Name()
	tmpf.Close()
	defer os.Remove(tmp)
	must(copyFile(tmp, src))

	var failures []string
	fail := func(format string, a ...interface{}) { failures = append(failures, fmt.Sprintf(format, a...)) }
	finish := func() {
		if len(failures) > 0 {
			for _, f := range failures {
				fmt.Println(f)
			}
			os.Remove(tmp)
			os.Exit(1)
		}
		fmt.Println("OK")
	}

	db, err := bolt.Open(tmp, 0600, nil)
	if err != nil {
		os.Remove(tmp)
		die(2, "open %s (copy of %s): %v", tmp, src, err)
	}
	var errs []string
	db.View(func(tx *bolt.Tx) error { errs = collectCheck(tx); return nil })
	if len(errs) > 0 {
		for _, e := range errs {
			fail("check before modification: %s", e)
		}
		db.Close()
		finish()
	}
	before, _, err := dbDigest(db)
	must(err)
	expect := before

	// Choose targets.
	var topPath, nestedPath [][]byte
	var toDelete []kvRef
	db.View(func(tx *bolt.Tx) error {
		c := tx.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if v == nil && tx.Bucket(k) != nil {
				topPath = [][]byte{cloneB(k)}
				break
			}
		}
		// First sub-bucket in depth-first key order, anywhere.
		var find func(b *bolt.Bucket, p [][]byte) bool
		find = func(b *bolt.Bucket, p [][]byte) bool {
			cc := b.Cursor()
			for k, v := cc.First(); k != nil; k, v = cc.Next() {
				if v == nil {
					if sb := b.Bucket(k); sb != nil {
						nestedPath = append(clonePath(p), cloneB(k))
						return true
					}
				}
			}
			return false
		}
		c = tx.Cursor()
		for k, v := c.First(); k != nil && nestedPath == nil; k, v = c.Next() {
			if v == nil {
				if b := tx.Bucket(k); b != nil {
					// breadth within this top-level bucket, then deeper levels
					// are not needed: one nested bucket is enough.
					find(b, [][]byte{k})
				}
			}
		}
		// Up to 5 plain keys from each target, spread over the bucket.
		pick := func(path [][]byte) {
			b := bucketAt(tx, path)
			if b == nil {
				return
			}
			var all []kvRef
			cc := b.Cursor()
			for k, v := cc.First(); k != nil; k, v = cc.Next() {
				if v != nil {
					all = append(all, kvRef{path, cloneB(k), cloneB(v)})
				}
			}
			if len(all) == 0 {
				return
			}
			step := len(all)/5 + 1
			for i := 0; i < len(all); i += step {
				toDelete = append(toDelete, all[i])
			}
		}
		if topPath != nil {
			pick(topPath)
		}
		if nestedPath != nil {
			pick(nestedPath)
		}
		return nil
	})

	created := false
	if topPath == nil {
		topPath = [][]byte{[]byte("gobolt-rwtest")}
		created = true
	}
	var added []kvRef
	newKV := func(path [][]byte, i int) kvRef {
		k := []byte(fmt.Sprintf("gobolt-rwtest-%04d", i))
		v := []byte(fmt.Sprintf("value-%d-%s", i, strings.Repeat("x", i%97)))
		return kvRef{path, k, v}
	}

	// Tx: 200 puts into the top-level bucket (creating it if needed).
	err = db.Update(func(tx *bolt.Tx) error {
		var b *bolt.Bucket
		if created {
			var err error
			if b, err = tx.CreateBucket(topPath[0]); err != nil {
				return err
			}
		} else {
			b = bucketAt(tx, topPath)
		}
		for i := 0; i < 200; i++ {
			r := newKV(topPath, i)
			if b.Get(r.k) != nil {
				return fmt.Errorf("key %q already exists", r.k)
			}
			if err := b.Put(r.k, r.v); err != nil {
				return err
			}
			added = append(added, r)
		}
		return nil
	})
	if err != nil {
		fail("put into %x: %v", topPath, err)
	}
	if created {
		expect.add(entryHash('b', topPath, nil, nil, 0))
	}
	// Tx: 200 puts into the nested bucket.
	if nestedPath != nil {
		err = db.Update(func(tx *bolt.Tx) error {
			b := bucketAt(tx, nestedPath)
			for i := 1000; i < 1200; i++ {
				r := newKV(nestedPath, i)
				if b.Get(r.k) != nil {
					return fmt.Errorf("key %q already exists", r.k)
				}
				if err := b.Put(r.k, r.v); err != nil {
					return err
				}
				added = append(added, r)
			}
			return nil
		})
		if err != nil {
			fail("put into nested %x: %v", nestedPath, err)
		}
	}
	for _, r := range added {
		expect.add(entryHash('k', r.path, r.k, r.v, 0))
	}
	// Tx: delete existing keys.
	err = db.Update(func(tx *bolt.Tx) error {
		for _, r := range toDelete {
			if err := bucketAt(tx, r.path).Delete(r.k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		fail("delete: %v", err)
	}
	for _, r := range toDelete {
		expect.sub(entryHash('k', r.path, r.k, r.v, 0))
	}
	// Tx: create a bucket (with a nested one), then delete it in another tx.
	tmpName := []byte("gobolt-rwtest-tmp-bucket")
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket(tmpName)
		if err != nil {
			return err
		}
		for i := 0; i < 300; i++ {
			if err := b.Put([]byte(fmt.Sprintf("t%05d", i)), []byte(strings.Repeat("y", 50))); err != nil {
				return err
			}
		}
		sb, err := b.CreateBucket([]byte("inner"))
		if err != nil {
			return err
		}
		return sb.Put([]byte("k"), []byte("v"))
	})
	if err != nil {
		fail("create bucket: %v", err)
	}
	err = db.Update(func(tx *bolt.Tx) error { return tx.DeleteBucket(tmpName) })
	if err != nil {
		fail("delete bucket: %v", err)
	}
	must(db.Close())

	// Reopen and verify.
	db, err = bolt.Open(tmp, 0600, nil)
	if err != nil {
		fail("reopen: %v", err)
		finish()
	}
	db.View(func(tx *bolt.Tx) error {
		for _, e := range collectCheck(tx) {
			fail("check after modification: %s", e)
		}
		for _, r := range added {
			b := bucketAt(tx, r.path)
			if b == nil {
				fail("bucket %x missing after reopen", r.path)
				continue
			}
			if got := b.Get(r.k); string(got) != string(r.v) {
				fail("added key %q in %x: got %q", r.k, r.path, got)
			}
		}
		for _, r := range toDelete {
			if b := bucketAt(tx, r.path); b != nil && b.Get(r.k) != nil {
				fail("deleted key %x in %x still present", r.k, r.path)
			}
		}
		if tx.Bucket(tmpName) != nil {
			fail("deleted bucket still present")
		}
		return nil
	})
	after, _, err := dbDigest(db)
	must(err)
	if after != expect {
		fail("content digest mismatch: other keys or sequences changed")
	}
	db.Close()
	finish()
}

// ---------------------------------------------------------------------------
// benchmarks

func jsonLine(v interface{}) {
	b, err := json.Marshal(v)
	must(err)
	fmt.Println(string(b))
}

type orderedJSON []struct {
	k string
	v interface{}
}

func (o orderedJSON) MarshalJSON() ([]byte, error) {
	var sb strings.Builder
	sb.WriteByte('{')
	for i, e := range o {
		if i > 0 {
			sb.WriteByte(',')
		}
		kb, _ := json.Marshal(e.k)
		vb, err := json.Marshal(e.v)
		if err != nil {
			return nil, err
		}
		sb.Write(kb)
		sb.WriteByte(':')
		sb.Write(vb)
	}
	sb.WriteByte('}')
	return []byte(sb.String()), nil
}

func obj(kv ...interface{}) orderedJSON {
	var o orderedJSON
	for i := 0; i+1 < len(kv); i += 2 {
		o = append(o, struct {
			k string
			v interface{}
		}{kv[i].(string), kv[i+1]})
	}
	return o
}

func bestOf(runs []float64) float64 {
	best := runs[0]
	for _, r := range runs {
		if r < best {
			best = r
		}
	}
	return best
}

type scanResult struct {
	keys, bytes, buckets uint64
	sum                  uint64
}

// touchBytes selects whether a scan reads every byte of every key and value
// (sum mode) or only visits them (cursor mode: lengths only).
var touchBytes = true

func sumBytes(b []byte, acc uint64) uint64 {
	if !touchBytes {
		return acc + uint64(len(b))
	}
	for _, c := range b {
		acc += uint64(c)
	}
	return acc
}

func scanBucket(b *bolt.Bucket, r *scanResult) {
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		r.sum = sumBytes(k, r.sum)
		if v == nil {
			if sb := b.Bucket(k); sb != nil {
				r.buckets++
				scanBucket(sb, r)
				continue
			}
		}
		r.keys++
		r.bytes += uint64(len(k) + len(v))
		r.sum = sumBytes(v, r.sum)
	}
}

func cmdBenchScan(args []string) {
	if len(args) == 2 && args[0] == "--no-touch" {
		touchBytes = false
		args = args[1:]
	}
	if len(args) != 1 {
		usageExit("bench-scan needs [--no-touch] FILE")
	}
	db := openRO(args[0])
	defer db.Close()
	var runs []float64
	var res scanResult
	for i := 0; i < 5; i++ {
		var r scanResult
		start := time.Now()
		err := db.View(func(tx *bolt.Tx) error {
			c := tx.Cursor()
			for k, _ := c.First(); k != nil; k, _ = c.Next() {
				r.sum = sumBytes(k, r.sum)
				if b := tx.Bucket(k); b != nil {
					r.buckets++
					scanBucket(b, &r)
				}
			}
			return nil
		})
		if err != nil {
			die(2, "scan: %v", err)
		}
		runs = append(runs, time.Since(start).Seconds())
		res = r
	}
	op := "scan"
	if !touchBytes {
		op = "scan-no-touch"
	}
	jsonLine(obj("op", op, "seconds", bestOf(runs), "keys", res.keys, "bytes", res.bytes,
		"buckets", res.buckets, "bytesum", res.sum, "runs", runs))
}

func cmdBenchCheck(args []string) {
	if len(args) != 1 {
		usageExit("bench-check needs FILE")
	}
	db := openRO(args[0])
	defer db.Close()
	var runs []float64
	nerr := 0
	for i := 0; i < 3; i++ {
		start := time.Now()
		db.View(func(tx *bolt.Tx) error { nerr = len(collectCheck(tx)); return nil })
		runs = append(runs, time.Since(start).Seconds())
	}
	jsonLine(obj("op", "check", "seconds", bestOf(runs), "errors", nerr, "runs", runs))
}

func cmdBenchCompact(args []string) {
	fs := flag.NewFlagSet("bench-compact", flag.ContinueOnError)
	txMax := fs.Int64("tx-max-size", 65536, "commit every N bytes of key+value (0 = one tx)")
	noSync := fs.Bool("no-sync", false, "open DST with NoSync")
	pos, err := parseMixed(fs, args)
	if err != nil || len(pos) != 2 {
		usageExit("bench-compact needs SRC DST")
	}
	srcPath, dstPath := pos[0], pos[1]
	if _, err := os.Stat(dstPath); err == nil {
		die(2, "%s already exists", dstPath)
	}
	src := openRO(srcPath)
	defer src.Close()
	start := time.Now()
	// Default options, as the bbolt CLI: DST gets the OS page size.
	dst, err := bolt.Open(dstPath, 0600, &bolt.Options{NoSync: *noSync})
	if err != nil {
		die(2, "open %s: %v", dstPath, err)
	}
	if err := bolt.Compact(dst, src, *txMax); err != nil {
		die(2, "compact: %v", err)
	}
	must(dst.Close())
	secs := time.Since(start).Seconds()
	jsonLine(obj("op", "compact", "seconds", secs, "src_bytes", fileSize(srcPath),
		"dst_bytes", fileSize(dstPath), "tx_max_size", *txMax, "no_sync", *noSync))
}

// parseMixed parses flags that may appear before or after positional args.
func parseMixed(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// ---------------------------------------------------------------------------
// fixture generation helpers

type gen struct {
	db   *bolt.DB
	path string
}

func create(path string, opts *bolt.Options) *gen {
	os.Remove(path)
	if opts == nil {
		opts = &bolt.Options{}
	}
	db, err := bolt.Open(path, 0644, opts)
	must(err)
	return &gen{db: db, path: path}
}

func (g *gen) update(fn func(tx *bolt.Tx) error) {
	if err := g.db.Update(fn); err != nil {
		die(2, "%s: %v", g.path, err)
	}
}

func (g *gen) close() { must(g.db.Close()) }

func bk(tx *bolt.Tx, names ...string) *bolt.Bucket {
	b := tx.Bucket([]byte(names[0]))
	for _, n := range names[1:] {
		b = b.Bucket([]byte(n))
	}
	if b == nil {
		panic(fmt.Sprintf("bucket %q missing", names))
	}
	return b
}

func mk(tx *bolt.Tx, parent *bolt.Bucket, name string) *bolt.Bucket {
	var b *bolt.Bucket
	var err error
	if parent == nil {
		b, err = tx.CreateBucket([]byte(name))
	} else {
		b, err = parent.CreateBucket([]byte(name))
	}
	must(err)
	return b
}

func put(b *bolt.Bucket, k, v []byte) { must(b.Put(k, v)) }

func randBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	r.Read(b)
	return b
}

const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./"

func randText(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = letters[r.Intn(len(letters))]
	}
	return b
}

func u64be(v uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return b[:]
}

// stats summary of one bucket path, used in MANIFEST descriptions.
func bucketDepth(path string, names ...string) (depth, branches, leaves, keys int) {
	db := openRO(path)
	defer db.Close()
	db.View(func(tx *bolt.Tx) error {
		s := bk(tx, names...).Stats()
		depth, branches, leaves, keys = s.Depth, s.BranchPageN, s.LeafPageN, s.KeyN
		return nil
	})
	return
}

type meta struct {
	txid, pgid, freelist uint64
	nfree                int
}

// readMeta returns the active meta fields and the number of free ids (for
// descriptions only).
func readMeta(path string) meta {
	f, err := os.ReadFile(path)
	must(err)
	var best meta
	var ps uint64
	for slot := 0; slot < 2; slot++ {
		off := 0
		if slot == 1 {
			off = int(binary.LittleEndian.Uint32(f[24:28]))
		}
		m := f[off+16:]
		if slot == 0 {
			ps = uint64(binary.LittleEndian.Uint32(m[8:12]))
		}
		t := binary.LittleEndian.Uint64(m[48:56])
		if slot == 0 || t > best.txid {
			best = meta{txid: t, pgid: binary.LittleEndian.Uint64(m[40:48]), freelist: binary.LittleEndian.Uint64(m[32:40])}
		}
	}
	if best.freelist != ^uint64(0) {
		p := f[best.freelist*ps:]
		c := int(binary.LittleEndian.Uint16(p[10:12]))
		if c == 0xFFFF {
			c = int(binary.LittleEndian.Uint64(p[16:24]))
		}
		best.nfree = c
	} else {
		best.nfree = -1
	}
	return best
}

func (m meta) String() string {
	fl := fmt.Sprintf("freelist page %d with %d ids", m.freelist, m.nfree)
	if m.freelist == ^uint64(0) {
		fl = "freelist not persisted (0xFFFFFFFFFFFFFFFF)"
	}
	return fmt.Sprintf("txid %d, HWM %d, %s", m.txid, m.pgid, fl)
}

// ---------------------------------------------------------------------------
// fixtures
//
// Determinism: Go bbolt spills the child buckets of a bucket in map order and
// allocates pages while spilling, so in every transaction at most ONE child
// bucket per parent may need new pages (i.e. be modified and not inline).
// Inline children are written into the parent's node without allocating.
// Rebalancing also walks a map, so deletions are arranged so that merges do
// not depend on order (whole runs of emptied leaves or no underfilled leaves).

type fixture struct {
	name string
	desc func(path string) string
	make func(path string)
}

func fxEmpty(path string) {
	g := create(path, &bolt.Options{PageSize: 4096})
	g.close()
}

func fxEmptyBucket(path string) {
	g := create(path, &bolt.Options{PageSize: 4096})
	g.update(func(tx *bolt.Tx) error { mk(tx, nil, "empty"); return nil })
	g.update(func(tx *bolt.Tx) error {
		p := mk(tx, nil, "parent")
		mk(tx, p, "empty-child")
		put(p, []byte("k"), []byte("v"))
		return nil
	})
	g.close()
}

func fxNested(path string) {
	r := rand.New(rand.NewSource(101))
	g := create(path, &bolt.Options{PageSize: 4096})
	// tx: top-level "a" with printable keys
	g.update(func(tx *bolt.Tx) error {
		a := mk(tx, nil, "a")
		for i := 0; i < 20; i++ {
			put(a, []byte(fmt.Sprintf("a-key-%02d", i)), randText(r, 10+r.Intn(30)))
		}
		return nil
	})
	// tx: a/b/c/d chain; d holds binary keys and empty values
	g.update(func(tx *bolt.Tx) error {
		b := mk(tx, bk(tx, "a"), "b")
		put(b, []byte("b-key"), []byte("b-value"))
		c := mk(tx, b, "c")
		put(c, []byte("c-key"), []byte("c-value"))
		d := mk(tx, c, "d")
		put(d, []byte{0x00}, []byte("zero byte key"))
		put(d, []byte{0x00, 0x00, 0x01}, []byte{})
		put(d, []byte{0xff}, []byte{0xff, 0x00, 0xff})
		put(d, []byte{0xff, 0xff, 0xff, 0xff}, []byte{})
		put(d, []byte("printable key"), []byte("printable value"))
		put(d, []byte("empty-value"), []byte{})
		put(d, []byte("tab\tnewline\n"), []byte("not printable per Go unicode.IsPrint"))
		return nil
	})
	// tx: sequences on a (top) and d (depth 4)
	g.update(func(tx *bolt.Tx) error {
		must(bk(tx, "a").SetSequence(42))
		d := bk(tx, "a", "b", "c", "d")
		for i := 0; i < 3; i++ {
			_, err := d.NextSequence()
			must(err)
		}
		return nil
	})
	// tx: d grows beyond P/4 so it stops being inline; c gets binary keys
	g.update(func(tx *bolt.Tx) error {
		c := bk(tx, "a", "b", "c")
		for i := 0; i < 10; i++ {
			put(c, append([]byte{0x01, byte(i)}, 0xfe), randBytes(r, 8))
		}
		d := c.Bucket([]byte("d"))
		for i := 0; i < 100; i++ {
			put(d, []byte(fmt.Sprintf("d-%03d", i)), randText(r, 40))
		}
		return nil
	})
	// tx: top-level inline bucket with a sequence
	g.update(func(tx *bolt.Tx) error {
		z := mk(tx, nil, "z-inline")
		put(z, []byte("one"), []byte("1"))
		put(z, []byte("two"), []byte("2"))
		put(z, []byte("empty"), []byte{})
		must(z.SetSequence(1<<40 + 5))
		return nil
	})
	// tx: "m" with two inline sub-buckets (one with a sequence), binary keys
	g.update(func(tx *bolt.Tx) error {
		m := mk(tx, nil, "m")
		put(m, []byte{0x00}, []byte("m zero"))
		put(m, []byte{0xff, 0xff}, []byte("m ff"))
		put(m, []byte("m-printable"), []byte{})
		m1 := mk(tx, m, "m1")
		put(m1, []byte("x"), []byte("y"))
		must(m1.SetSequence(7))
		m2 := mk(tx, m, "m2")
		put(m2, []byte{0x80, 0x81}, randBytes(r, 20))
		return nil
	})
	// tx: delete some keys in d, and one NextSequence on m2
	g.update(func(tx *bolt.Tx) error {
		d := bk(tx, "a", "b", "c", "d")
		for i := 0; i < 100; i += 7 {
			must(d.Delete([]byte(fmt.Sprintf("d-%03d", i))))
		}
		return nil
	})
	g.update(func(tx *bolt.Tx) error {
		_, err := bk(tx, "m", "m2").NextSequence()
		return err
	})
	g.close()
}

func fxOverflow(path string) {
	r := rand.New(rand.NewSource(202))
	g := create(path, &bolt.Options{PageSize: 4096})
	g.update(func(tx *bolt.Tx) error {
		l := mk(tx, nil, "large")
		put(l, []byte("empty"), []byte{})
		put(l, []byte("small"), []byte("0123456789"))
		put(l, []byte("v05000"), randBytes(r, 5000))
		put(l, []byte("v20000"), randBytes(r, 20000))
		return nil
	})
	g.update(func(tx *bolt.Tx) error {
		m := mk(tx, nil, "maxkey")
		for i := 0; i < 5; i++ {
			put(m, []byte(fmt.Sprintf("a%d", i)), []byte(fmt.Sprintf("small %d", i)))
		}
		key := append([]byte("m"), randText(r, bolt.MaxKeySize-1)...)
		put(m, key, []byte("value of the 32768-byte key"))
		for i := 0; i < 3; i++ {
			put(m, []byte(fmt.Sprintf("z%d", i)), []byte{})
		}
		return nil
	})
	g.update(func(tx *bolt.Tx) error {
		h := mk(tx, nil, "huge")
		put(h, []byte("v100k"), randBytes(r, 100*1024))
		put(h, []byte("w"), []byte("after the huge value"))
		return nil
	})
	g.update(func(tx *bolt.Tx) error {
		put(bk(tx, "large"), []byte("v05000"), randBytes(r, 6000))
		return nil
	})
	g.close()
}

// standard content used for the page-size and freelist-option fixtures.
func standardContent(g *gen, seed int64, pageSize int) {
	r := rand.New(rand.NewSource(seed))
	g.update(func(tx *bolt.Tx) error {
		a := mk(tx, nil, "alpha")
		for i := 0; i < 300; i++ {
			put(a, []byte(fmt.Sprintf("key-%05d", i)), randText(r, 10+r.Intn(190)))
		}
		return nil
	})
	g.update(func(tx *bolt.Tx) error {
		b := mk(tx, nil, "beta")
		put(b, []byte("beta-key"), []byte("beta-value"))
		c := mk(tx, b, "gamma")
		put(c, []byte("gamma-key"), []byte{})
		d := mk(tx, c, "delta")
		for i := 0; i < 50; i++ {
			put(d, []byte(fmt.Sprintf("delta-%03d", i)), randBytes(r, 20+r.Intn(40)))
		}
		must(d.SetSequence(1234))
		return nil
	})
	g.update(func(tx *bolt.Tx) error {
		a := bk(tx, "alpha")
		put(a, []byte("big-value"), randBytes(r, 3*pageSize+100))
		must(a.SetSequence(99))
		return nil
	})
	g.update(func(tx *bolt.Tx) error {
		a := bk(tx, "alpha")
		for i := 0; i < 300; i += 6 {
			must(a.Delete([]byte(fmt.Sprintf("key-%05d", i))))
		}
		return nil
	})
	g.update(func(tx *bolt.Tx) error {
		b := bk(tx, "beta")
		put(b, []byte{0x00, 0x01}, []byte{0xff})
		put(b, []byte{0xff, 0xfe}, []byte{})
		_, err := b.NextSequence()
		return err
	})
}

func fxPageSize(ps int) func(string) {
	return func(path string) {
		g := create(path, &bolt.Options{PageSize: ps})
		standardContent(g, int64(ps), ps)
		g.close()
	}
}

func fxNoFreelistSync(path string) {
	g := create(path, &bolt.Options{PageSize: 4096, NoFreelistSync: true})
	standardContent(g, 7, 4096)
	g.close()
}

func fxHashmap(path string) {
	r := rand.New(rand.NewSource(303))
	// Readers below hold the mmap lock, so the map must never need to grow.
	g := create(path, &bolt.Options{PageSize: 4096, FreelistType: bolt.FreelistMapType, InitialMmapSize: 256 * 1024})
	g.update(func(tx *bolt.Tx) error {
		h := mk(tx, nil, "h")
		for i := 0; i < 200; i++ {
			put(h, []byte(fmt.Sprintf("h%04d", i)), randText(r, 20+r.Intn(20)))
		}
		return nil
	})
	// Only one free span (pages 2-3) exists here, so the hashmap allocator's
	// choice is deterministic.
	g.update(func(tx *bolt.Tx) error {
		put(bk(tx, "h"), []byte("h0100"), []byte("updated"))
		return nil
	})
	// From now on keep a reader per txid open, so nothing freed is reusable
	// and every allocation comes from the end of the file (deterministic).
	var readers []*bolt.Tx
	for step := 0; step < 3; step++ {
		rt, err := g.db.Begin(false)
		must(err)
		readers = append(readers, rt)
		g.update(func(tx *bolt.Tx) error {
			h := bk(tx, "h")
			for i := step; i < 200; i += 9 {
				must(h.Delete([]byte(fmt.Sprintf("h%04d", i))))
			}
			put(h, []byte(fmt.Sprintf("step-%d", step)), randText(r, 30))
			return nil
		})
	}
	for _, rt := range readers {
		must(rt.Rollback())
	}
	g.close()
}

func fxFreedPages(path string) {
	r := rand.New(rand.NewSource(404))
	g := create(path, &bolt.Options{PageSize: 4096})
	g.update(func(tx *bolt.Tx) error {
		d := mk(tx, nil, "data")
		d.FillPercent = 1.0
		for i := 0; i < 2000; i++ {
			put(d, []byte(fmt.Sprintf("k%06d", i)), randText(r, 40))
		}
		return nil
	})
	// Every other key: leaves stay above the rebalance threshold.
	g.update(func(tx *bolt.Tx) error {
		d := bk(tx, "data")
		for i := 0; i < 2000; i += 2 {
			must(d.Delete([]byte(fmt.Sprintf("k%06d", i))))
		}
		return nil
	})
	g.update(func(tx *bolt.Tx) error {
		b := mk(tx, nil, "bulk")
		for i := 0; i < 40; i++ {
			put(b, []byte(fmt.Sprintf("b%03d", i)), randBytes(r, 3000))
		}
		put(b, []byte("overflow"), randBytes(r, 10000))
		return nil
	})
	g.update(func(tx *bolt.Tx) error { return tx.DeleteBucket([]byte("bulk")) })
	// A contiguous range: emptied leaves are removed whatever the order.
	g.update(func(tx *bolt.Tx) error {
		d := bk(tx, "data")
		for i := 501; i < 1500; i += 2 {
			must(d.Delete([]byte(fmt.Sprintf("k%06d", i))))
		}
		return nil
	})
	g.update(func(tx *bolt.Tx) error {
		d := bk(tx, "data")
		for i := 0; i < 10; i++ {
			put(d, []byte(fmt.Sprintf("new%03d", i)), randText(r, 100))
		}
		return nil
	})
	g.close()
}

func fxManyKeys(path string) {
	r := rand.New(rand.NewSource(505))
	g := create(path, &bolt.Options{PageSize: 4096})
	g.update(func(tx *bolt.Tx) error { mk(tx, nil, "many"); return nil })
	const n = 6000
	perm := r.Perm(n)
	for t := 0; t < 6; t++ {
		g.update(func(tx *bolt.Tx) error {
			b := bk(tx, "many")
			for _, i := range perm[t*1000 : (t+1)*1000] {
				// 8 binary bytes (with 0x00 and 0xff) then a printable suffix: 24 bytes
				k := make([]byte, 0, 24)
				k = append(k, u64be(uint64(i)*0x0101010101+0xff)...)
				k = append(k, []byte(fmt.Sprintf("/item-%09d", i))...)
				put(b, k, randText(r, 8+r.Intn(17)))
			}
			return nil
		})
	}
	g.close()
}

// ---------------------------------------------------------------------------
// etcd-shaped generator

type etcdOpts struct {
	revisions, keys, pageSize, batch int
	seed                             int64
	noGrowSync                       bool
}

func appendVarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func appendBytesField(b []byte, field int, v []byte) []byte {
	b = append(b, byte(field<<3|2))
	b = appendVarint(b, uint64(len(v)))
	return append(b, v...)
}

func appendIntField(b []byte, field int, v int64) []byte {
	if v == 0 {
		return b
	}
	b = append(b, byte(field<<3))
	return appendVarint(b, uint64(v))
}

// encodeKV hand-encodes mvccpb.KeyValue.
func encodeKV(dst, key []byte, create, mod, version, lease int64, value []byte) []byte {
	dst = appendBytesField(dst, 1, key)
	dst = appendIntField(dst, 2, create)
	dst = appendIntField(dst, 3, mod)
	dst = appendIntField(dst, 4, version)
	if len(value) > 0 {
		dst = appendBytesField(dst, 5, value)
	}
	dst = appendIntField(dst, 6, lease)
	return dst
}

func revKey(main, sub uint64, tomb bool) []byte {
	k := make([]byte, 17, 18)
	binary.BigEndian.PutUint64(k[0:8], main)
	k[8] = '_'
	binary.BigEndian.PutUint64(k[9:17], sub)
	if tomb {
		k = append(k, 't')
	}
	return k
}

// milvusKey makes the i-th distinct Milvus-like etcd key.
func milvusKey(r *rand.Rand, i int) []byte {
	id := func() int64 { return 440000000000000000 + r.Int63n(10000000000000000) }
	switch i % 8 {
	case 0:
		return []byte(fmt.Sprintf("by-dev/meta/root-coord/database/collection-info/1/%d", id()+int64(i)))
	case 1, 2:
		return []byte(fmt.Sprintf("by-dev/meta/datacoord-meta/s/%d/%d/%d", id(), id(), id()+int64(i)))
	case 3:
		return []byte(fmt.Sprintf("by-dev/meta/datacoord-meta/binlog/%d/%d/%d/%d", id(), id(), id(), 100+i))
	case 4:
		return []byte(fmt.Sprintf("by-dev/meta/datacoord-meta/statslog/%d/%d/%d/%d", id(), id(), id(), 100+i))
	case 5:
		return []byte(fmt.Sprintf("by-dev/meta/root-coord/fields/%d/%d", id(), 100+i))
	case 6:
		return []byte(fmt.Sprintf("by-dev/meta/session/querynode-%d", i))
	default:
		return []byte(fmt.Sprintf("by-dev/kv/gid/%d/timestamp-%d", id(), i))
	}
}

type etcdKeyState struct {
	key     []byte
	create  int64
	version int64
	alive   bool
	lease   int64
}

func genEtcd(path string, o etcdOpts) {
	if o.pageSize == 0 {
		o.pageSize = 4096
	}
	if o.batch <= 0 {
		o.batch = 100000
	}
	r := rand.New(rand.NewSource(o.seed))
	g := create(path, &bolt.Options{PageSize: o.pageSize, NoSync: true, NoGrowSync: o.noGrowSync})
	names := []string{"key", "meta", "lease", "members", "members_removed", "cluster", "alarm", "auth", "authUsers", "authRoles"}
	leases := []int64{7587869540123456001, 7587869540123456002, 7587869540123456003}
	g.update(func(tx *bolt.Tx) error {
		for _, n := range names {
			mk(tx, nil, n)
		}
		put(bk(tx, "members"), []byte("8e9e05c52164694d"),
			[]byte(`{"id":10276657743932975437,"peerURLs":["http://localhost:2380"],"name":"default","clientURLs":["http://localhost:2379"]}`))
		put(bk(tx, "cluster"), []byte("clusterVersion"), []byte("3.5.0"))
		put(bk(tx, "auth"), []byte("authEnabled"), []byte{0})
		put(bk(tx, "auth"), []byte("authRevision"), u64be(1))
		for _, id := range leases {
			// leasepb.Lease{ID: 1, TTL: 2}
			var v []byte
			v = appendIntField(v, 1, id)
			v = appendIntField(v, 2, 10)
			put(bk(tx, "lease"), u64be(uint64(id)), v)
		}
		m := bk(tx, "meta")
		put(m, []byte("consistent_index"), u64be(1))
		put(m, []byte("term"), u64be(2))
		return nil
	})

	states := make([]etcdKeyState, 0, o.keys)
	rev := int64(2)
	last := int64(o.revisions + 1)
	val := make([]byte, 600)
	for rev <= last {
		g.update(func(tx *bolt.Tx) error {
			b := bk(tx, "key")
			b.FillPercent = 0.9
			for n := 0; n < o.batch && rev <= last; n++ {
				remainingRevs := last - rev + 1
				remainingKeys := int64(o.keys - len(states))
				var idx int
				if remainingKeys > 0 && (len(states) == 0 || r.Int63n(remainingRevs) < remainingKeys) {
					k := milvusKey(r, len(states))
					st := etcdKeyState{key: k}
					if len(states)%8 == 6 {
						st.lease = leases[len(states)%len(leases)]
					}
					states = append(states, st)
					idx = len(states) - 1
				} else {
					idx = r.Intn(len(states))
				}
				st := &states[idx]
				if st.alive && r.Intn(50) == 0 { // ~2% of revisions are deletes
					// bbolt keeps references to key and value until commit:
					// every Put gets its own buffers.
					kv := encodeKV(make([]byte, 0, len(st.key)+8), st.key, 0, 0, 0, 0, nil)
					put(b, revKey(uint64(rev), 0, true), kv)
					st.alive = false
				} else {
					if !st.alive {
						st.alive = true
						st.create = rev
						st.version = 0
					}
					st.version++
					vl := 200 + r.Intn(401)
					r.Read(val[:vl])
					kv := encodeKV(make([]byte, 0, len(st.key)+vl+48), st.key, st.create, rev, st.version, st.lease, val[:vl])
					put(b, revKey(uint64(rev), 0, false), kv)
				}
				rev++
			}
			put(bk(tx, "meta"), []byte("consistent_index"), u64be(uint64(rev+5)))
			return nil
		})
	}
	g.close()
}

func cmdGenEtcd(args []string) {
	fs := flag.NewFlagSet("gen-etcd", flag.ContinueOnError)
	var o etcdOpts
	fs.IntVar(&o.revisions, "revisions", 0, "number of revisions")
	fs.IntVar(&o.keys, "keys", 0, "number of distinct keys")
	fs.IntVar(&o.pageSize, "page-size", 4096, "page size")
	fs.Int64Var(&o.seed, "seed", 1, "random seed")
	fs.IntVar(&o.batch, "batch", 100000, "puts per transaction")
	fs.BoolVar(&o.noGrowSync, "no-grow-sync", false, "Options.NoGrowSync: file length stays HWM*P instead of being padded")
	pos, err := parseMixed(fs, args)
	if err != nil || len(pos) != 1 || o.revisions <= 0 || o.keys <= 0 || o.keys > o.revisions {
		usageExit("gen-etcd needs OUT --revisions N --keys K (0 < K <= N)")
	}
	if _, err := os.Stat(pos[0]); err == nil {
		die(2, "%s already exists", pos[0])
	}
	genEtcd(pos[0], o)
}

// ---------------------------------------------------------------------------
// big freelist

func genBigFreelist(path string) {
	g := create(path, &bolt.Options{PageSize: 1024, NoSync: true, NoGrowSync: true})
	// Each value spans 64 pages (one overflow run); 1030 of them free 65920+ pages.
	val := make([]byte, 64*1024-100)
	for t := 0; t < 2; t++ {
		g.update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("fill"))
			must(err)
			for i := t * 515; i < (t+1)*515; i++ {
				put(b, u64be(uint64(i)), val)
			}
			return nil
		})
	}
	g.update(func(tx *bolt.Tx) error {
		mk(tx, nil, "keep")
		put(bk(tx, "keep"), []byte("k"), []byte("v"))
		return tx.DeleteBucket([]byte("fill"))
	})
	g.close()
	m := readMeta(path)
	if m.nfree <= 65535 {
		die(2, "big freelist has only %d ids", m.nfree)
	}
}

func cmdGenBigFreelist(args []string) {
	if len(args) != 1 {
		usageExit("gen-big-freelist needs OUT")
	}
	genBigFreelist(args[0])
	fmt.Fprintf(os.Stderr, "%s: %s\n", args[0], readMeta(args[0]))
}

// ---------------------------------------------------------------------------
// gen

func fixtures() []fixture {
	plain := func(s string) func(string) string {
		return func(p string) string { return s + "; " + readMeta(p).String() }
	}
	fs := []fixture{
		{"empty.db", plain("bolt.Open(PageSize 4096) then Close, nothing else (init pages only)"), fxEmpty},
		{"empty-bucket.db", plain("P=4096; tx1 CreateBucket(empty); tx2 bucket parent{k=v, empty sub-bucket empty-child}"), fxEmptyBucket},
		{"nested.db", plain("P=4096; 8 txs: a/b/c/d 4-level nesting (a,b,c non-inline, d inline then non-inline), binary keys 00/ff, empty values, sequences a=42 d=3 z-inline=2^40+5 m/m1=7 m/m2=1, inline top-level z-inline, bucket m with inline sub-buckets m1,m2, deletes in d"), fxNested},
		{"overflow.db", plain("P=4096; large{empty, small, v05000 (rewritten to 6000 B in tx4), v20000}, maxkey{a0..a4, one 32768-byte key 'm...', z0..z2 empty values; branch with the max key}, huge{v100k=102400 B, w}"), fxOverflow},
	}
	for _, ps := range []int{1024, 4096, 8192, 16384, 65536} {
		fs = append(fs, fixture{fmt.Sprintf("pagesize-%d.db", ps),
			plain(fmt.Sprintf("Options.PageSize=%d; standard content (5 txs): alpha 300 keys + value of 3P+100 B + seq 99, 50 deleted; beta/gamma/delta nested, delta 50 keys seq 1234, beta binary keys + NextSequence", ps)),
			fxPageSize(ps)})
	}
	fs = append(fs,
		fixture{"nofreelistsync.db", plain("Options.NoFreelistSync=true, P=4096; standard content (5 txs, seed 7)"), fxNoFreelistSync},
		fixture{"hashmap.db", plain("FreelistType=hashmap, P=4096, InitialMmapSize 256 KiB; h 200 keys, update, then 3 delete txs while readers stay open (pending pages kept)"), fxHashmap},
		fixture{"freed-pages.db", plain("P=4096; data 2000 keys (FillPercent 1.0), every other deleted, bucket bulk (40x3000 B + 10000 B) created then deleted, range deletes, 10 new keys reusing free pages"), fxFreedPages},
		fixture{"many-keys.db", func(p string) string {
			d, br, lf, k := bucketDepth(p, "many")
			return fmt.Sprintf("P=4096; bucket many: %d keys (24 B: 8 binary + '/item-N'), 6 txs of 1000 keys in random order; depth %d, %d branch pages, %d leaf pages; %s", k, d, br, lf, readMeta(p))
		}, fxManyKeys},
		fixture{"etcd-small.db", plain("gobolt gen-etcd etcd-small.db --revisions 3000 --keys 800 --page-size 4096 --seed 1 --batch 1000 --no-grow-sync (etcd buckets, key bucket FillPercent 0.9, NoSync)"), func(p string) {
			genEtcd(p, etcdOpts{revisions: 3000, keys: 800, pageSize: 4096, seed: 1, batch: 1000, noGrowSync: true})
		}},
	)
	return fs
}

func cmdGen(args []string) {
	if len(args) != 1 {
		usageExit("gen needs OUTDIR")
	}
	dir := args[0]
	must(os.MkdirAll(dir, 0755))
	var lines []string
	for _, f := range fixtures() {
		p := filepath.Join(dir, f.name)
		f.make(p)
		sum, err := sha256File(p)
		must(err)
		lines = append(lines, fmt.Sprintf("%s\t%s\t%s", f.name, sum, f.desc(p)))
	}
	sort.Strings(lines)
	must(os.WriteFile(filepath.Join(dir, "MANIFEST"), []byte(strings.Join(lines, "\n")+"\n"), 0644))
}

// ---------------------------------------------------------------------------

func main() {
	if len(os.Args) < 2 {
		usageExit("")
	}
	args := os.Args[2:]
	switch os.Args[1] {
	case "gen":
		cmdGen(args)
	case "gen-big-freelist":
		cmdGenBigFreelist(args)
	case "gen-etcd":
		cmdGenEtcd(args)
	case "walk":
		cmdWalk(args)
	case "check":
		cmdCheck(args)
	case "rwtest":
		cmdRWTest(args)
	case "bench-scan":
		cmdBenchScan(args)
	case "bench-check":
		cmdBenchCheck(args)
	case "bench-compact":
		cmdBenchCompact(args)
	case "bench-live":
		cmdBenchLive(args)
	case "live-json":
		cmdLiveJSON(args)
	case "-h", "--help", "help":
		fmt.Print(usageText)
	default:
		usageExit(fmt.Sprintf("unknown command %q", os.Args[1]))
	}
}
