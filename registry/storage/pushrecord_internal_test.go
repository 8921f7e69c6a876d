package storage

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/registry/storage/internal/times"
)

// TestPushedRecord: a manifest's push record is read in both of its
// forms, a time or the record of the tags pushed with it (one file with
// theirs), which counts only when it names the manifest; anything else
// is no record.
func TestPushedRecord(t *testing.T) {
	d := digest.FromString("m")
	at := time.Date(2026, 3, 1, 12, 0, 0, 5, time.UTC)
	tagRec := func(d digest.Digest) []byte {
		b, err := json.Marshal(tagPushRecord{Digest: d, Pushed: at})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for name, tc := range map[string]struct {
		b    []byte
		want time.Time
	}{
		"time":                {times.Encode(at), at},
		"tag record":          {tagRec(d), at},
		"another's record":    {tagRec(digest.FromString("other")), time.Time{}},
		"broken record":       {[]byte(`{"digest":`), time.Time{}},
		"neither":             {[]byte("yesterday"), time.Time{}},
		"empty (a torn file)": {nil, time.Time{}},
	} {
		if got := pushedRecord(tc.b, d); !got.Equal(tc.want) {
			t.Errorf("%s: %v, want %v", name, got, tc.want)
		}
	}
}
