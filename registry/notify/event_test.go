package notify_test

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/registry/notify"
)

// keys lists the JSON paths of v's object keys, with their value types.
func keys(prefix string, v any) []string {
	var out []string
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			out = append(out, prefix+"."+k)
			out = append(out, keys(prefix+"."+k, e)...)
		}
	case []any:
		for _, e := range x {
			out = append(out, keys(prefix+"[]", e)...)
		}
	default:
		out = append(out, prefix+": "+strings.TrimPrefix(strings.Split(jsonType(v), ".")[0], "*"))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func jsonType(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "bool"
	}
	return "null"
}

// The envelope of a manifest pull has exactly the fields, names and types
// of Distribution's documented example (testdata, from its
// notifications.md).
func TestEnvelopeMatchesDistribution(t *testing.T) {
	fixture, err := os.ReadFile("testdata/distribution-pull-event.json")
	if err != nil {
		t.Fatal(err)
	}
	d := digest.Digest("sha256:fea8895f450959fa676bcc1df0611ea93823a735a01205fd8622846041d0c7cf")
	ev := notify.Event{
		ID:        notify.NewID(),
		Timestamp: time.Now(),
		Action:    notify.ActionPull,
		Target: notify.Target{
			Length:     708,
			Repository: "hello-world",
			URL:        "http://192.168.100.227:5000/v2/hello-world/manifests/" + d.String(),
			Tag:        "latest",
		},
		Request: notify.RequestRecord{ID: "6df24a34", Addr: "192.168.64.11:42961", Host: "192.168.100.227:5000", Method: "GET", UserAgent: "curl/7.38.0"},
		Source:  notify.SourceRecord{Addr: "xtal.local:5000", InstanceID: notify.NewID()},
	}
	ev.Target.MediaType = "application/vnd.docker.distribution.manifest.v2+json"
	ev.Target.Digest = d
	ev.Target.Size = 708
	ours, err := json.Marshal(notify.Envelope{Events: []notify.Event{ev}})
	if err != nil {
		t.Fatal(err)
	}
	var want, got any
	if err := json.Unmarshal(fixture, &want); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(ours, &got); err != nil {
		t.Fatal(err)
	}
	if w, g := keys("", want), keys("", got); !slices.Equal(w, g) {
		t.Errorf("fields differ from Distribution's\n got %v\nwant %v", g, w)
	}
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(ev.ID) {
		t.Errorf("id %q is not a UUID v4", ev.ID)
	}
}
