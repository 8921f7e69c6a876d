package registrytest

import (
	"context"
	"errors"
	"path"
	"strings"
	"testing"

	"github.com/berth-registry/berth/storagedriver"
)

// Usage is what a namespace's repositories hold, found by WalkUsage.
type Usage struct {
	Bytes int64
	Blobs map[string]int64 // digest -> size of its blob
	Tags  map[string]int   // repository -> number of tags
}

// WalkUsage walks drv's repositories of namespace ns (ns itself and
// those below ns/) with List, Stat and GetContent only, independently of
// the registry's code: every digest a _layers or _manifests/revisions link
// names counts once at its blob's size, and every tags/<tag>/current/link
// is a tag. Tests compare the registry's usage figures with it.
func WalkUsage(t testing.TB, drv storagedriver.Driver, ns string) Usage {
	t.Helper()
	ctx := context.Background()
	root := "/docker/registry/v2/repositories/" + strings.TrimSuffix(ns, "/")
	u := Usage{Blobs: map[string]int64{}, Tags: map[string]int{}}
	var walk func(dir string)
	walk = func(dir string) {
		children, err := drv.List(ctx, dir)
		if errors.Is(err, storagedriver.ErrPathNotFound) {
			return
		}
		if err != nil {
			t.Fatalf("walk usage: list %s: %v", dir, err)
		}
		for _, c := range children {
			base := path.Base(c)
			repo := strings.TrimPrefix(dir, "/docker/registry/v2/repositories/")
			switch base {
			case "_layers", "_manifests":
				if _, ok := u.Tags[repo]; !ok {
					u.Tags[repo] = 0
				}
				links(t, drv, c, func(p string, content []byte) {
					switch {
					case strings.Contains(p, "/_manifests/tags/"):
						if strings.HasSuffix(p, "/current/link") {
							u.Tags[repo]++
						}
					case strings.Contains(p, "/_manifests/revisions/") || base == "_layers":
						d := string(content)
						fi, err := drv.Stat(ctx, "/docker/registry/v2/blobs/sha256/"+d[7:9]+"/"+d[7:]+"/data")
						if err == nil {
							u.Blobs[d] = fi.Size
						}
					}
				})
			case "_uploads":
			default:
				walk(c)
			}
		}
	}
	walk(root)
	for _, n := range u.Blobs {
		u.Bytes += n
	}
	return u
}

// links calls fn with every file named link below dir and its content.
func links(t testing.TB, drv storagedriver.Driver, dir string, fn func(p string, content []byte)) {
	ctx := context.Background()
	children, err := drv.List(ctx, dir)
	if err != nil {
		t.Fatalf("walk usage: list %s: %v", dir, err)
	}
	for _, c := range children {
		if path.Base(c) == "link" {
			b, err := drv.GetContent(ctx, c)
			if err != nil {
				t.Fatalf("walk usage: %s: %v", c, err)
			}
			fn(c, b)
			continue
		}
		links(t, drv, c, fn)
	}
}
