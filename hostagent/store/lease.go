package store

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	digest "github.com/opencontainers/go-digest"
)

// Lease protects the blobs a pull or push is working with from a
// concurrent Remove or Prune, which delete blobs no image references: a
// pull writes its blobs before the index names them.
//
// A lease is a file under leases/ listing digests, flocked by its owner for
// as long as it lives. It is created under the store lock, and blobs are
// deleted only under the store lock, so a deleter sees every lease made
// before it looked and the lease's owner sees every deletion made before the
// lease existed. A lease whose flock can be taken belongs to a process that
// died; the deleter removes it.
type Lease struct {
	f *os.File
}

// NewLease records digests as in use until release.
func (s *Store) NewLease(ctx context.Context, digests []digest.Digest) (*Lease, error) {
	unlock, err := s.Lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	f, err := os.CreateTemp(s.Path(LeasesDir), "lease-*")
	if err != nil {
		return nil, fmt.Errorf("lease: %w", err)
	}
	if !TryLockFile(f) {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("lease %s: cannot lock a new file", f.Name())
	}
	w := bufio.NewWriter(f)
	for _, d := range digests {
		fmt.Fprintln(w, d)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("lease: %w", err)
	}
	return &Lease{f: f}, nil
}

// Release ends the lease. It is safe on a nil lease.
func (l *Lease) Release() {
	if l == nil {
		return
	}
	os.Remove(l.f.Name())
	l.f.Close()
}

// LeasedDigests returns the digests of live leases and removes dead ones.
// The caller holds the store lock.
func (s *Store) LeasedDigests() (map[digest.Digest]bool, error) {
	entries, err := os.ReadDir(s.Path(LeasesDir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("leases: %w", err)
	}
	live := map[digest.Digest]bool{}
	for _, e := range entries {
		p := s.Path(LeasesDir, e.Name())
		f, err := os.Open(p)
		if err != nil {
			continue // released meanwhile
		}
		if TryLockFile(f) {
			os.Remove(p) // its owner is gone
			f.Close()
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if d, err := digest.Parse(strings.TrimSpace(sc.Text())); err == nil {
				live[d] = true
			}
		}
		f.Close()
	}
	return live, nil
}
