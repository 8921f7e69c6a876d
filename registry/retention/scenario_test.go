package retention_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/registry/client"
	"github.com/berth-registry/berth/registry/config"
	"github.com/berth-registry/berth/registry/policy"
)

// The scenario: repository team/app receives semver tags (with -rc
// prereleases), date tags, latest, indexes, untagged manifests and
// signatures (referrers with a subject) over simulated months, pulled here
// and there; other/keep, which no rule names, gets a little of the same.
// What the rules must delete is worked out by construction, from the
// numbers used to build it, never by asking the engine.

// rulesYAML is the policies file of the scenario.
const rulesYAML = `
retention:
  rules:
    - repositories: ["team/**"]
      newest: 10
      by: semver
    - repositories: ["team/**"]
      newest: 3
      tags: "^20"
    - repositories: ["team/**"]
      matching: "^latest$"
    - repositories: ["team/**"]
      recent: 90d
    - repositories: ["team/**"]
      untagged: 30d
`

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func day(n int) time.Time { return epoch.Add(time.Duration(n) * 24 * time.Hour) }

// now is when the rules judge: day 200, so "within 90d" is after day 110
// and "within 30d" after day 170.
var now = day(200)

// clock is a node's simulated clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

// node is one registry serving the shared storage, with its own clock.
type node struct {
	host  string
	clock *clock
}

// image is a manifest the scenario pushed and the fate it must meet.
type image struct {
	repo   string
	digest digest.Digest
	blobs  map[digest.Digest]int64 // its own blobs, the manifest included
	gone   bool
}

type scenario struct {
	t       *testing.T
	c       *client.Client
	images  map[digest.Digest]*image
	tags    map[string]digest.Digest // team/app
	goneTag map[string]bool
	follows map[digest.Digest]digest.Digest // a referrer or child -> its subject or index
	seq     int
}

func compileRules(t testing.TB) *policy.Set {
	set, err := config.ParsePolicies([]byte(rulesYAML))
	if err != nil {
		t.Fatalf("rules: %v", err)
	}
	return set
}

// semverNames lists the semver tags in ascending precedence, by
// construction: per minor m, v1.m.0-rc.1 < v1.m.0 < v1.m.1 < v1.m.2 <
// v1.m.3; then the release candidate of the next minor.
func semverNames(minors int) []string {
	var out []string
	for m := range minors {
		out = append(out, fmt.Sprintf("v1.%d.0-rc.1", m))
		for p := range 4 {
			out = append(out, fmt.Sprintf("v1.%d.%d", m, p))
		}
	}
	return append(out, fmt.Sprintf("v1.%d.0-rc.1", minors))
}

func newScenario(t *testing.T) *scenario {
	return &scenario{t: t, c: client.New(), images: map[digest.Digest]*image{}, tags: map[string]digest.Digest{},
		goneTag: map[string]bool{}, follows: map[digest.Digest]digest.Digest{}}
}

// build pushes the scenario through nodes (alternately) and returns it
// with its expectation. minors and dates size it: 20 and 98 make 200 tags.
func build(t *testing.T, nodes []node, minors, dates int) *scenario {
	s := newScenario(t)
	pick := func(i int) node { return nodes[i%len(nodes)] }
	recent := func(pushed, pulled int) bool { return pushed > 110 || pulled > 110 }

	// Semver tags: pushed on days 60..160 in an order unrelated to their
	// precedence; every 17th pulled on day 170. Kept: the ten of highest
	// precedence, and the recent ones.
	names := semverNames(minors)
	newest10 := map[string]bool{}
	for _, n := range names[len(names)-10:] {
		newest10[n] = true
	}
	last := fmt.Sprintf("v1.%d.3", minors-1)
	for k, name := range names {
		n := pick(k)
		pushed, pulled := 60+(k*37)%101, 0
		var d digest.Digest
		if strings.HasSuffix(name, ".2") && (name == "v1.5.2" || name == fmt.Sprintf("v1.%d.2", minors-1)) {
			d = s.pushIndex(n, "team/app", name, day(pushed))
		} else {
			d = s.pushImage(n, "team/app", name, nil, day(pushed))
		}
		if k%17 == 0 {
			pulled = 170
			s.pull(n, "team/app", name, day(pulled))
		}
		s.goneTag[name] = !newest10[name] && !recent(pushed, pulled)
		if k == 0 || k == 28 || name == last {
			sig := s.pushImage(n, "team/app", "", s.desc(d), day(1))
			if name == last {
				s.pushImage(n, "team/app", "", s.desc(sig), day(2)) // a signature's signature
			}
		}
	}
	// latest: the manifest of the last release, tagged again on day 199.
	s.tag(pick(1), "team/app", "latest", s.tags[last], day(199))

	// Date tags: pushed on day j; every 10th pulled on day 180. Kept: the
	// three pushed last (newest 3 of ^20), and the pulled ones.
	for j := range dates {
		n := pick(j)
		name := fmt.Sprintf("2025-%02d-%02d", 1+j/28, 1+j%28)
		d := s.pushImage(n, "team/app", name, nil, day(j))
		pulled := 0
		if j%10 == 0 {
			pulled = 180
			s.pull(pick(j+1), "team/app", name, day(pulled))
		}
		s.goneTag[name] = j < dates-3 && !recent(j, pulled)
		if j == 0 || j == dates-1 {
			s.pushImage(n, "team/app", "", s.desc(d), day(1))
		}
	}
	// Untagged: kept when pushed or pulled after day 170.
	for i, pushed := range []int{100, 150, 160, 171, 185, 195, 120} {
		n := pick(i)
		d := s.pushImage(n, "team/app", "", nil, day(pushed))
		pulled := 0
		if pushed == 120 {
			pulled = 190
			s.pull(n, "team/app", d.String(), day(pulled))
		}
		s.images[d].gone = pushed <= 170 && pulled <= 170
		if pushed == 100 || pushed == 195 {
			s.pushImage(n, "team/app", "", s.desc(d), day(1))
		}
	}
	// other/keep: no rule names it; old, untagged, never pulled, all stays.
	s.pushImage(pick(0), "other/keep", "v0.0.1", nil, day(0))
	s.pushImage(pick(1), "other/keep", "", nil, day(0))

	// Tagged manifests go when every tag of theirs goes; referrers and
	// index children follow their subject or index (set when pushed).
	for tag, d := range s.tags {
		if !s.goneTag[tag] {
			s.images[d].gone = false
		}
	}
	s.follow()
	return s
}

func (s *scenario) follow() {
	for changed := true; changed; {
		changed = false
		for d, parent := range s.follows {
			if img, p := s.images[d], s.images[parent]; img != nil && p != nil && img.gone != p.gone {
				img.gone = p.gone
				changed = true
			}
		}
	}
}

func (s *scenario) desc(d digest.Digest) *v1.Descriptor {
	return &v1.Descriptor{MediaType: v1.MediaTypeImageManifest, Digest: d, Size: int64(len(s.payloadOf(d)))}
}

var payloads sync.Map // digest -> []byte

func (s *scenario) payloadOf(d digest.Digest) []byte {
	b, _ := payloads.Load(d)
	return b.([]byte)
}

func (s *scenario) ref(n node, repo, tag string) client.Reference {
	r := client.Reference{Registry: n.host, Repository: repo}
	if strings.Contains(tag, ":") {
		r.Digest = digest.Digest(tag)
	} else {
		r.Tag = tag
	}
	return r
}

// pushImage pushes an image of its own config and layer on day at, tagged
// tag (or untagged), with subject when a referrer.
func (s *scenario) pushImage(n node, repo, tag string, subject *v1.Descriptor, at time.Time) digest.Digest {
	s.t.Helper()
	n.clock.set(at)
	s.seq++
	img := &image{blobs: map[digest.Digest]int64{}, gone: true}
	blob := func(mediaType string, b []byte) v1.Descriptor {
		desc := v1.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(b), Size: int64(len(b))}
		if err := s.c.BlobPut(s.t.Context(), s.ref(n, repo, ""), desc, bytes.NewReader(b)); err != nil {
			s.t.Fatalf("push blob: %v", err)
		}
		img.blobs[desc.Digest] = desc.Size
		return desc
	}
	cfg := blob(v1.MediaTypeImageConfig, fmt.Appendf(nil, `{"architecture":"amd64","os":"linux","seq":%d}`, s.seq))
	layer := blob(v1.MediaTypeImageLayer, bytes.Repeat(fmt.Appendf(nil, "layer %d;", s.seq), 100+s.seq%50))
	m := v1.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: v1.MediaTypeImageManifest,
		Config: cfg, Layers: []v1.Descriptor{layer}, Subject: subject}
	if subject != nil {
		m.ArtifactType = "application/vnd.example.signature"
	}
	d := s.putManifest(n, repo, tag, v1.MediaTypeImageManifest, m, img)
	if subject != nil {
		s.follows[d] = subject.Digest
	}
	return d
}

// pushIndex pushes an index of two fresh images, untagged, under tag.
func (s *scenario) pushIndex(n node, repo, tag string, at time.Time) digest.Digest {
	s.t.Helper()
	var children []v1.Descriptor
	for range 2 {
		d := s.pushImage(n, repo, "", nil, at)
		children = append(children, *s.desc(d))
	}
	n.clock.set(at)
	ix := v1.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: v1.MediaTypeImageIndex, Manifests: children}
	d := s.putManifest(n, repo, tag, v1.MediaTypeImageIndex, ix, &image{blobs: map[digest.Digest]int64{}, gone: true})
	for _, c := range children {
		s.follows[c.Digest] = d
	}
	return d
}

func (s *scenario) putManifest(n node, repo, tag, mediaType string, m any, img *image) digest.Digest {
	s.t.Helper()
	payload, err := json.Marshal(m)
	if err != nil {
		s.t.Fatal(err)
	}
	d := digest.FromBytes(payload)
	payloads.Store(d, payload)
	ref := tag
	if ref == "" {
		ref = d.String()
	}
	if _, err := s.c.ManifestPut(s.t.Context(), s.ref(n, repo, ref), mediaType, payload); err != nil {
		s.t.Fatalf("push manifest %s:%s: %v", repo, ref, err)
	}
	img.digest, img.repo = d, repo
	img.blobs[d] = int64(len(payload))
	if repo != "team/app" {
		img.gone = false
	}
	s.images[d] = img
	if tag != "" && repo == "team/app" {
		s.tags[tag] = d
	}
	return d
}

// tag points tag at the existing manifest d on day at.
func (s *scenario) tag(n node, repo, tag string, d digest.Digest, at time.Time) {
	s.t.Helper()
	n.clock.set(at)
	if _, err := s.c.ManifestPut(s.t.Context(), s.ref(n, repo, tag), v1.MediaTypeImageManifest, s.payloadOf(d)); err != nil {
		s.t.Fatalf("tag %s: %v", tag, err)
	}
	s.tags[tag] = d
	s.goneTag[tag] = false
}

// pull fetches ref (a tag or digest) on day at.
func (s *scenario) pull(n node, repo, ref string, at time.Time) {
	s.t.Helper()
	n.clock.set(at)
	if _, err := s.c.ManifestGet(s.t.Context(), s.ref(n, repo, ref)); err != nil {
		s.t.Fatalf("pull %s:%s: %v", repo, ref, err)
	}
}

// want is the expected deletions, as the run prints them.
func (s *scenario) want() (tags, manifests []string) {
	for tag, gone := range s.goneTag {
		if gone {
			tags = append(tags, tag)
		}
	}
	for d, img := range s.images {
		if img.gone {
			manifests = append(manifests, d.String())
		}
	}
	sort.Strings(tags)
	sort.Strings(manifests)
	return tags, manifests
}

// deletions parses a run's output: the tags and manifests it deletes.
func deletions(out string) (tags, manifests []string) {
	for _, line := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(line, "  delete tag "); ok {
			tags = append(tags, strings.Fields(rest)[0])
		}
		if rest, ok := strings.CutPrefix(line, "  delete manifest "); ok {
			manifests = append(manifests, strings.TrimSuffix(strings.Fields(rest)[0], ":"))
		}
	}
	sort.Strings(tags)
	sort.Strings(manifests)
	return tags, manifests
}
