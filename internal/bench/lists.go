package bench

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/opencontainers/go-digest"
)

// setupCatalog creates the catalog's repositories: each gets the config
// blob of bench/catalog by a cross-repository mount and a manifest of it.
func setupCatalog(e *env, t *target) error {
	cfg, err := pushBase(t, "bench/catalog", "catalog")
	if err != nil {
		return err
	}
	m := newManifest(cfg, "catalog")
	d := digest.FromBytes(cfg)
	return parallel(e.sz.catalog, seedClients, func(i int) error {
		repo := fmt.Sprintf("catalog/r%05d", i)
		if err := t.c.mount(repo, "bench/catalog", d); err != nil {
			return err
		}
		return t.c.putManifest(repo, "latest", m)
	})
}

// setupTags tags one manifest of bench/tags e.sz.tags times.
func setupTags(e *env, t *target) error {
	cfg, err := pushBase(t, "bench/tags", "tags")
	if err != nil {
		return err
	}
	m := newManifest(cfg, "tags")
	return parallel(e.sz.tags, seedClients, func(i int) error {
		return t.c.putManifest("bench/tags", fmt.Sprintf("v%05d", i), m)
	})
}

// runList lists path (every page) at least once and for at least a tenth
// of the options' duration, and returns the mean time of one listing. The catalog
// holds the workloads' other repositories too, hence at least want.
func runList(path, key string, want int) func(e *env, t *target, round int) ([]float64, error) {
	return func(e *env, t *target, _ int) ([]float64, error) {
		start := time.Now()
		n := 0
		for n == 0 || time.Since(start) < e.o.Duration/10 {
			got, err := t.c.list(path, key)
			if err != nil {
				return nil, err
			}
			if got < want || key == "tags" && got != want {
				return nil, fmt.Errorf("%s listed %d %s, want %d", path, got, key, want)
			}
			n++
		}
		return []float64{float64(time.Since(start)) / float64(time.Millisecond) / float64(n)}, nil
	}
}

// setupBig pushes the blob that range and pull read, once per target.
func setupBig(e *env, t *target) error {
	if t.big != nil {
		return nil
	}
	b, err := e.sharedBlob("big", e.sz.big)
	if err != nil {
		return err
	}
	if err := t.c.pushMonolithic("bench/big", b.dgst, b.size, b.reader()); err != nil {
		return err
	}
	t.big = b
	return nil
}

// rangeGet reads random 4 KiB ranges of the big blob from rangeClients
// clients: the rate.
var rangeGet = &rateWork{clients: rangeClients,
	op: func(_ *env, t *target) func(r *rand.Rand) error {
		bufs := make(chan []byte, rangeClients)
		for range rangeClients {
			bufs <- make([]byte, 32<<10)
		}
		return func(r *rand.Rand) error {
			buf := <-bufs
			defer func() { bufs <- buf }()
			off := r.Int64N(t.big.size - rangeSize + 1)
			return t.c.getBlob("bench/big", t.big.dgst, off, rangeSize, t.big.size, buf)
		}
	},
	values: func(_ *env, rate float64, _ []time.Duration) []float64 { return []float64{rate} }}

// setupHeads pushes headBlobs small blobs to bench/heads.
func setupHeads(e *env, t *target) error {
	e.mu.Lock()
	if e.heads == nil {
		for i := range headBlobs {
			b := fmt.Appendf(nil, "regbench head %d %d", i, e.nonce.Add(1))
			e.heads = append(e.heads, b)
		}
	}
	heads := e.heads
	e.mu.Unlock()
	return parallel(len(heads), seedClients, func(i int) error {
		return t.c.pushMonolithic("bench/heads", digest.FromBytes(heads[i]), int64(len(heads[i])), bytes.NewReader(heads[i]))
	})
}

// blobHead HEADs random blobs of bench/heads from getClients clients:
// the rate and the median latency.
var blobHead = &rateWork{clients: getClients,
	op: func(e *env, t *target) func(r *rand.Rand) error {
		ds := make([]string, len(e.heads))
		for i, b := range e.heads {
			ds[i] = "/v2/bench/heads/blobs/" + digest.FromBytes(b).String()
		}
		return func(r *rand.Rand) error {
			_, err := t.c.call(http.MethodHead, ds[r.IntN(len(ds))], nil, nil, 0, http.StatusOK)
			return err
		}
	},
	values: func(_ *env, rate float64, lat []time.Duration) []float64 { return []float64{rate, quantile(lat, 0.50)} }}

// pull reads the whole big blob, one GET after another, for a fifth of
// the options' duration (in slices, like every rate workload): the bytes
// over the time. One GET lasts a few tenths of a second at most here,
// short enough that a single one measured the host more than the server
// (the ceiling's own rate swung 3× between rounds).
var pull = &rateWork{clients: 1, part: 5,
	op: func(_ *env, t *target) func(*rand.Rand) error {
		buf := make([]byte, 1<<20)
		return func(*rand.Rand) error { return t.c.getBlob("bench/big", t.big.dgst, 0, 0, t.big.size, buf) }
	},
	values: func(e *env, rate float64, _ []time.Duration) []float64 {
		return []float64{rate * float64(e.sz.big) / 1e6}
	}}

// measureDisk writes size bytes to a new file in dir, in 1 MiB writes,
// fsyncs it and returns the rate (MB/s) of the whole; the file is removed.
func measureDisk(dir string, b *content) (float64, error) {
	f, err := os.CreateTemp(dir, "disk-")
	if err != nil {
		return 0, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := make([]byte, 1<<20)
	start := time.Now()
	for off := int64(0); off < b.size; off += int64(len(buf)) {
		n, _ := b.ReadAt(buf, off)
		if _, err := f.Write(buf[:n]); err != nil {
			return 0, fmt.Errorf("disk: %w", err)
		}
	}
	if err := f.Sync(); err != nil {
		return 0, fmt.Errorf("disk: fsync %s: %w", filepath.Base(f.Name()), err)
	}
	return mbps(b.size, time.Since(start)), nil
}
