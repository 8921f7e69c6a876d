package hostagent

import (
	"errors"
	"testing"

	digest "github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/registry/client"
)

func TestLocalRefResolve(t *testing.T) {
	d1, d2 := digest.FromString("one"), digest.FromString("two")
	src := digest.FromString("registry's")
	ref := func(s string) client.Reference { r, _ := client.ParseReference(s); return r }
	idx := &v1.Index{Manifests: []v1.Descriptor{
		newEntry(ref("ubuntu:22.04"), v1.Descriptor{MediaType: v1.MediaTypeImageManifest, Digest: d1}, src),
		newEntry(ref("localhost:5000/team/app:1"), v1.Descriptor{MediaType: v1.MediaTypeImageManifest, Digest: d2}, ""),
		{MediaType: v1.MediaTypeImageManifest, Digest: d2, Annotations: map[string]string{v1.AnnotationRefName: "bare"}},
	}}
	for _, tc := range []struct {
		in   string
		want digest.Digest
		err  error
	}{
		{"ubuntu:22.04", d1, nil},
		{"docker.io/library/ubuntu:22.04", d1, nil},
		{"ubuntu", "", ErrNotFound},
		{"localhost:5000/team/app:1", d2, nil},
		{"localhost:5000/team/app@" + d2.String(), d2, nil},
		{"docker.io/library/ubuntu@" + src.String(), d1, nil},
		{d1.String(), d1, nil},
		{src.String(), d1, nil},
		{d2.Encoded()[:12], d2, nil},
		{"bare", d2, nil},
		{"sha256:abc", "", ErrNotFound},
	} {
		got, _, err := parseLocalRef(tc.in).resolve(idx)
		if !errors.Is(err, tc.err) || got.Digest != tc.want {
			t.Errorf("resolve(%q) = %s, %v; want %s, %v", tc.in, got.Digest, err, tc.want, tc.err)
		}
	}
}
