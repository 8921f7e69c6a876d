package storage

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
		{blobDataPath(d), "/docker/registry/v2/blobs/sha256/ab/" + hex + "/data"},
		{layerLinkPath("team/app", d), r + "/_layers/sha256/" + hex + "/link"},
		{revisionLinkPath("team/app", d), r + "/_manifests/revisions/sha256/" + hex + "/link"},
		{tagCurrentPath("team/app", "v1.0"), r + "/_manifests/tags/v1.0/current/link"},
		{tagIndexPath("team/app", "v1.0", d), r + "/_manifests/tags/v1.0/index/sha256/" + hex + "/link"},
		{uploadDataPath("team/app", "u"), r + "/_uploads/u/data"},
		{uploadStartedAtPath("team/app", "u"), r + "/_uploads/u/startedat"},
		{uploadHashStatePath("team/app", "u", digest.SHA256, 42), r + "/_uploads/u/hashstates/sha256/42"},
		{referrerPath("team/app", d, d), "/berth/v1/repositories/team/app/_referrers/sha256/" + hex + "/sha256/" + hex},
		{usedPath(d), "/berth/v1/gc/used/sha256/" + hex},
		{relyingPath(d), "/berth/v1/gc/relying/sha256/" + hex},
		{deletingPath(d, "run1"), "/berth/v1/gc/deleting/sha256/" + hex + "/run1"},
		{gcClockPath("run1"), "/berth/v1/gc/clock/run1"},
		{gcLeasePath(), "/berth/v1/gc/lease"},
	} {
		if c.got != c.want {
			t.Errorf("got %s\nwant %s", c.got, c.want)
		}
	}
}

func TestCheckName(t *testing.T) {
	for name, ok := range map[string]bool{
		"a": true, "library/ubuntu": true, "a.b/c_d/e__f/g-h/i---j": true, "0": true,
		"": false, "A": false, "a/": false, "/a": false, "a//b": false, "a/../b": false,
		"..": false, ".a": false, "a.": false, "a..b": false, "a___b": false, "_a": false,
		"a/_layers": false, "a-": false, "-a": false, "a b": false, "a:b": false, "a%2fb": false,
		string(make([]byte, 256)): false,
	} {
		if err := CheckName(name); (err == nil) != ok {
			t.Errorf("CheckName(%q) = %v, want ok=%v", name, err, ok)
		}
	}
}

func TestCheckTag(t *testing.T) {
	long := make([]byte, 129)
	for i := range long {
		long[i] = 'a'
	}
	for tag, ok := range map[string]bool{
		"latest": true, "v1.0.0-rc_1": true, "_x": true, "A": true, string(long[:128]): true,
		"": false, ".x": false, "-x": false, "a/b": false, "a:b": false, "a b": false, string(long): false,
	} {
		if err := CheckTag(tag); (err == nil) != ok {
			t.Errorf("CheckTag(%q) = %v, want ok=%v", tag, err, ok)
		}
	}
}
