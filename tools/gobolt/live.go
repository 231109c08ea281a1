package main

// bench-live / live-json: the Go baseline and reference for "export the live
// keys of an etcd db": cursor scan of the `key` bucket, decode every value
// into etcd's generated mvccpb.KeyValue (gogo code from Debian's
// golang-etcd-server-dev), keep the latest KeyValue per user key (a tombstone
// revision, an 18-byte bucket key ending in 't', deletes it), drop keys under
// any --prefix-skip prefix and keys with a lease, sort the rest.

import (
	"bufio"
	"encoding/json"
	"flag"
	"os"
	"runtime"
	"sort"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.etcd.io/etcd/mvcc/mvccpb"
)

const defaultPrefixSkip = "by-dev/meta/session/"

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

type liveResult struct {
	revisions int                        // entries in the key bucket
	live      map[string]mvccpb.KeyValue // user key -> latest KeyValue
	kept      []string                   // sorted, filtered user keys
}

// liveKeys builds the user key -> latest KeyValue map from the key bucket.
// A file whose length % 512 == 32 is an etcd snapshot with a 32-byte trailer:
// bbolt ignores bytes past the last page, so nothing special is needed.
func liveKeys(db *bolt.DB) (map[string]mvccpb.KeyValue, int) {
	m := make(map[string]mvccpb.KeyValue)
	n := 0
	err := db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("key"))
		if b == nil {
			die(2, "no key bucket")
		}
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			n++
			var kv mvccpb.KeyValue // fresh: Unmarshal copies Key/Value into it
			if err := kv.Unmarshal(v); err != nil {
				die(2, "revision %x: %v", k, err)
			}
			if len(k) == 18 && k[17] == 't' {
				delete(m, string(kv.Key))
			} else {
				m[string(kv.Key)] = kv
			}
		}
		return nil
	})
	must(err)
	return m, n
}

func keepKey(key string, kv *mvccpb.KeyValue, skips []string) bool {
	if kv.Lease != 0 {
		return false
	}
	for _, p := range skips {
		if strings.HasPrefix(key, p) {
			return false
		}
	}
	return true
}

func heapSample(peak *uint64, ms *runtime.MemStats) {
	runtime.ReadMemStats(ms)
	if ms.HeapAlloc > *peak {
		*peak = ms.HeapAlloc
	}
}

// runLive does one full export; peak/ms (optional) collect MemStats samples
// after the map is built and after sorting.
func runLive(db *bolt.DB, skips []string, peak *uint64, ms *runtime.MemStats) liveResult {
	m, n := liveKeys(db)
	if peak != nil {
		heapSample(peak, ms)
	}
	kept := make([]string, 0, len(m))
	for k, kv := range m {
		if keepKey(k, &kv, skips) {
			kept = append(kept, k)
		}
	}
	sort.Strings(kept)
	if peak != nil {
		heapSample(peak, ms)
	}
	return liveResult{revisions: n, live: m, kept: kept}
}

func parseLiveArgs(name string, args []string) (string, []string) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	var skips stringList
	fs.Var(&skips, "prefix-skip", "drop keys starting with this prefix (repeatable)")
	pos, err := parseMixed(fs, args)
	if err != nil || len(pos) != 1 {
		usageExit(name + " needs FILE [--prefix-skip P]...")
	}
	if len(skips) == 0 {
		skips = stringList{defaultPrefixSkip}
	}
	return pos[0], skips
}

func cmdBenchLive(args []string) {
	path, skips := parseLiveArgs("bench-live", args)
	db := openRO(path)
	defer db.Close()
	var runs []float64
	var peak uint64
	var ms runtime.MemStats
	var revisions, live, kept int
	for i := 0; i < 3; i++ {
		runtime.GC() // previous run's garbage must not count against this one
		start := time.Now()
		r := runLive(db, skips, &peak, &ms)
		runs = append(runs, time.Since(start).Seconds())
		revisions, live, kept = r.revisions, len(r.live), len(r.kept)
	}
	jsonLine(obj("op", "live", "seconds", bestOf(runs), "runs", runs, "revisions", revisions,
		"live_keys", live, "kept", kept, "heap_peak_bytes", peak, "sys_bytes", ms.Sys))
}

func cmdLiveJSON(args []string) {
	path, skips := parseLiveArgs("live-json", args)
	db := openRO(path)
	defer db.Close()
	r := runLive(db, skips, nil, nil)
	w := bufio.NewWriterSize(os.Stdout, 1<<20)
	for _, k := range r.kept {
		kv := r.live[k]
		o := obj("key", kv.Key, "create_revision", kv.CreateRevision, "mod_revision", kv.ModRevision,
			"version", kv.Version)
		if len(kv.Value) > 0 {
			o = append(o, obj("value", kv.Value)...)
		}
		b, err := json.Marshal(o)
		must(err)
		w.Write(b)
		w.WriteByte('\n')
	}
	must(w.Flush())
}
