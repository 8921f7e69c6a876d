package storage

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/registry/storage/internal/layout"
	"github.com/berth-registry/berth/registry/storage/internal/repoindex"
	"github.com/berth-registry/berth/registry/storage/internal/walk"
	"github.com/berth-registry/berth/storagedriver"
)

// catalogBenchRepos is how many repositories BenchmarkCatalog lists, as
// in the catalog workload of issue 14 (names as internal/bench makes them).
const catalogBenchRepos = 10000

// catalogBenchRoot writes a filesystem root of catalogBenchRepos
// repositories, each with a layer link, a manifest revision and a tag,
// and their index markers.
func catalogBenchRoot(b *testing.B) string {
	root := b.TempDir()
	cfg := digest.FromString("catalog config")
	m := digest.FromString("catalog manifest")
	for i := range catalogBenchRepos {
		name := fmt.Sprintf("catalog/r%05d", i)
		writeScaleFile(b, root, layout.LayerLinkPath(name, cfg), []byte(cfg))
		writeScaleFile(b, root, layout.RevisionLinkPath(name, m), []byte(m))
		writeScaleFile(b, root, layout.TagCurrentPath(name, "latest"), []byte(m))
		writeScaleFile(b, root, repoindex.MarkerPath(name), []byte(name))
	}
	writeScaleFile(b, root, repoindex.CompletePath(), []byte(`{}`))
	writeScaleFile(b, root, repoindex.GenerationPath(), []byte("1"))
	return root
}

// BenchmarkCatalog lists a catalog of 10,000 repositories on the
// filesystem, every page of 1000 as GET /v2/_catalog serves them: from the
// repository index as a node serves it (index: the first page lists the
// index, the others reuse that listing while the generation holds), from
// the index listed afresh for each page (index-relist: the node's listing
// dropped before every page, as when new repositories come in between), and
// by the walk the index replaces.
func BenchmarkCatalog(b *testing.B) {
	s := New(mustFS(b, catalogBenchRoot(b)))
	list := map[string]func(n int, last string) ([]string, error){
		"index": func(n int, last string) ([]string, error) { return s.Catalog(b.Context(), n, last) },
		"index-relist": func(n int, last string) ([]string, error) {
			s.index.ForgetSnapshot()
			return s.Catalog(b.Context(), n, last)
		},
		"walk": func(n int, last string) ([]string, error) { return walkCatalog(b, s, n, last) },
	}
	for _, kind := range []string{"index", "index-relist", "walk"} {
		b.Run(kind, func(b *testing.B) {
			for b.Loop() {
				got, last := 0, ""
				for {
					page, err := list[kind](1000, last)
					if err != nil {
						b.Fatal(err)
					}
					got += len(page)
					if len(page) < 1000 {
						break
					}
					last = page[len(page)-1]
				}
				if got != catalogBenchRepos {
					b.Fatalf("listed %d repositories, want %d", got, catalogBenchRepos)
				}
			}
		})
	}
}

// walkCatalog is the catalog as it was before the index: a walk of every
// repository for each page.
func walkCatalog(b *testing.B, s *Store, n int, last string) ([]string, error) {
	var all []string
	err := walk.Repositories(b.Context(), s.driver, layout.RepositoriesRoot(), &all)
	if err != nil && !errors.Is(err, storagedriver.ErrPathNotFound) {
		return nil, err
	}
	sort.Strings(all)
	return repoindex.Page(slices.Clip(all), n, last), nil
}
