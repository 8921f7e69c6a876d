package retention_test

import (
	"slices"
	"sort"
	"testing"

	"github.com/berth-registry/berth/internal/testutil/s3test"
	"github.com/berth-registry/berth/registry/client"
	berths3 "github.com/berth-registry/berth/storagedriver/s3"
)

// Two nodes on one S3 bucket (versitygw): the scenario is pushed and
// pulled through both, and the rules decide the same whichever node runs
// them; the run on one node shows on the other.
func TestTwoNodesS3(t *testing.T) {
	srv, root := s3test.NewRoot(t)
	var drvs []*berths3.Driver
	for range 2 {
		d, err := berths3.New(t.Context(), srv.Params(s3test.Bucket, root))
		if err != nil {
			t.Fatal(err)
		}
		drvs = append(drvs, d)
	}
	nodes, s, wantTags, wantManifests := setup(t, drvs[0], drvs[1], 3, 5)

	outA, _ := run(t, drvs[0], true)
	outB, _ := run(t, drvs[1], true)
	if outA != outB {
		t.Fatalf("the dry runs differ:\nnode A:\n%s\nnode B:\n%s", outA, outB)
	}
	dryRunDeletes(t, outA, wantTags, wantManifests)
	if len(wantTags) == 0 || len(wantManifests) == 0 {
		t.Fatal("the scenario deletes nothing")
	}

	settle()
	out, _ := run(t, drvs[1], false)
	if gotTags, gotManifests := deletions(out); !slices.Equal(gotTags, wantTags) || !slices.Equal(gotManifests, wantManifests) {
		t.Fatalf("the run on node B deleted tags %v, manifests %v:\n%s", gotTags, gotManifests, out)
	}
	tags, err := client.New().Tags(t.Context(), client.Reference{Registry: nodes[0].host, Repository: "team/app"})
	if err != nil {
		t.Fatal(err)
	}
	want := s.keptTags()
	sort.Strings(tags)
	if !slices.Equal(tags, want) {
		t.Errorf("node A lists tags %v, want %v", tags, want)
	}
	if out, rep := run(t, drvs[0], true); rep.TagsDeleted != 0 || rep.ManifestsDeleted != 0 {
		t.Errorf("node A after node B's run still deletes: %s", out)
	}
}
