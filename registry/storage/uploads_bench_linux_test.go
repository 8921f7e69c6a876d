package storage

import (
	"bytes"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/storagedriver/filesystem"
)

// BenchmarkChunkedUploadFilesystem pushes 64 MiB in 8 MiB chunks, then
// commits it (fsync included), on the filesystem driver in the test's
// temporary directory: the storage side of regbench's push-chunked,
// without HTTP. Besides the time it reports the process's CPU per upload
// (cpu-ms/op), which a loaded machine disturbs less than the time;
// compare runs of two builds alternated:
//
//	go test ./registry/storage/ -run '^$' -bench ChunkedUploadFilesystem -count 5
func BenchmarkChunkedUploadFilesystem(b *testing.B) {
	const size, chunk = 64 << 20, 8 << 20
	content := make([]byte, size)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range content {
		content[i] = byte(rng.Uint32())
	}
	drv, err := filesystem.New(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	s := New(drv)
	ctx := b.Context()
	b.SetBytes(size)
	cpu0 := cpuTime()
	for i := 0; b.Loop(); i++ {
		content[0] = byte(i) // a new blob each time
		content[1] = byte(i >> 8)
		d := digest.FromBytes(content)
		u, err := s.StartUpload(ctx, "bench/chunked")
		if err != nil {
			b.Fatal(err)
		}
		for off := 0; off < size; off += chunk {
			u, err := s.Upload("bench/chunked", u.ID())
			if err == nil {
				err = u.Append(ctx, bytes.NewReader(content[off:off+chunk]), int64(off))
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		if u, err = s.Upload("bench/chunked", u.ID()); err != nil {
			b.Fatal(err)
		}
		if _, err := u.Commit(ctx, d, nil, -1); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((cpuTime()-cpu0).Milliseconds())/float64(b.N), "cpu-ms/op")
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
