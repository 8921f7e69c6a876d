package layout

import (
	"testing"

	"github.com/opencontainers/go-digest"
)

// TestPaths pins every key of the layout to Distribution's: a change here
// breaks serving roots that Distribution wrote.
func TestPaths(t *testing.T) {
	d := digest.Digest("sha256:" + "ab" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd")
	hex := d.Encoded()
	r := "/docker/registry/v2/repositories/team/app"
	for _, c := range []struct{ got, want string }{
		{BlobDataPath(d), "/docker/registry/v2/blobs/sha256/ab/" + hex + "/data"},
		{LayerLinkPath("team/app", d), r + "/_layers/sha256/" + hex + "/link"},
		{RevisionLinkPath("team/app", d), r + "/_manifests/revisions/sha256/" + hex + "/link"},
		{TagCurrentPath("team/app", "v1.0"), r + "/_manifests/tags/v1.0/current/link"},
		{TagIndexPath("team/app", "v1.0", d), r + "/_manifests/tags/v1.0/index/sha256/" + hex + "/link"},
		{UploadDataPath("team/app", "u"), r + "/_uploads/u/data"},
		{UploadPendingPath("team/app", "u"), r + "/_uploads/u"},
		{UploadStartedAtPath("team/app", "u"), r + "/_uploads/u/startedat"},
		{UploadHashStatePath("team/app", "u", digest.SHA256, 42), r + "/_uploads/u/hashstates/sha256/42"},
		{ReferrerPath("team/app", d, d), "/berth/v1/repositories/team/app/_referrers/sha256/" + hex + "/sha256/" + hex},
		{UsedPath(d), "/berth/v1/gc/used/sha256/" + hex},
		{RelyingPath(d), "/berth/v1/gc/relying/sha256/" + hex},
		{DeletingPath(d, "run1"), "/berth/v1/gc/deleting/sha256/" + hex + "/run1"},
		{GCClockPath("run1"), "/berth/v1/gc/clock/run1"},
		{GCLeasePath(), "/berth/v1/gc/lease"},
	} {
		if c.got != c.want {
			t.Errorf("got %s\nwant %s", c.got, c.want)
		}
	}
}
