package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	digest "github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/internal/iox"
)

// Problem is one finding of a verification of the store.
type Problem struct {
	Digest digest.Digest `json:"digest"`
	// What is wrong: "corrupt" (content hashes to another digest, or the
	// size differs from what a manifest says), "missing" (an image needs
	// it), "unreadable".
	Kind   string   `json:"kind"`
	Detail string   `json:"detail"`
	Images []string `json:"images,omitempty"` // names of the images that need it
}

// BlobCheck is what CheckBlobFile found.
type BlobCheck struct {
	Problem
	N int64 // bytes hashed, -1 when the file was not hashed
}

// CheckBlobFile hashes the file name of blobs/sha256 and compares it with
// its name and with the size the images expect (need). A file that is not a
// blob, or that is gone, gives N < 0 and no problem.
func (s *Store) CheckBlobFile(ctx context.Context, name string, need map[digest.Digest]v1.Descriptor) BlobCheck {
	dir := s.Path(BlobsDir, "sha256")
	d := digest.NewDigestFromEncoded(digest.SHA256, name)
	if d.Validate() != nil {
		return BlobCheck{N: -1} // not a blob: a stray file
	}
	f, err := os.Open(dir + "/" + name)
	if errors.Is(err, fs.ErrNotExist) {
		return BlobCheck{N: -1} // pruned meanwhile
	}
	if err != nil {
		return BlobCheck{Problem: Problem{Digest: d, Kind: "unreadable", Detail: err.Error()}, N: -1}
	}
	defer f.Close()
	h := digest.SHA256.Hash()
	n, err := io.Copy(h, iox.ContextReader(ctx, f))
	if err != nil {
		return BlobCheck{Problem: Problem{Digest: d, Kind: "unreadable", Detail: err.Error()}, N: n}
	}
	if got := digest.NewDigest(digest.SHA256, h); got != d {
		return BlobCheck{Problem: Problem{Digest: d, Kind: "corrupt", Detail: "content hashes to " + got.String()}, N: n}
	}
	if want, ok := need[d]; ok && want.Size != n {
		return BlobCheck{Problem: Problem{Digest: d, Kind: "corrupt", Detail: fmt.Sprintf("%d bytes, manifest says %d", n, want.Size)}, N: n}
	}
	return BlobCheck{N: n}
}
