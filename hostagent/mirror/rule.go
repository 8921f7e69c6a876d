package mirror

import (
	"errors"
	"fmt"
	"math"
	"path"
	"regexp"
	"strings"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/hostagent/errdefs"
	"github.com/berth-registry/berth/internal/oci"
	"github.com/berth-registry/berth/registry/client"
)

// endpointKind says what a source or destination names.
type endpointKind int

const (
	epImage  endpointKind = iota // one tag or digest
	epRepo                       // a repository: its tags
	epPrefix                     // repositories under a path prefix
)

// endpoint is a parsed source or destination.
type endpoint struct {
	local bool // the host's store
	kind  endpointKind
	// ref is the registry and repository (for a prefix, the path prefix,
	// "" for a whole registry; a local prefix with no registry is every
	// image of the store), with the tag or digest of an image.
	ref client.Reference
}

func (e endpoint) String() string {
	var s string
	switch e.kind {
	case epImage:
		s = e.ref.String()
	case epRepo:
		s = e.ref.Name()
	case epPrefix:
		s = strings.TrimSuffix(e.ref.Registry+"/"+e.ref.Repository, "/") + "/*"
	}
	if e.local {
		if e.ref.Registry == "" {
			return "local"
		}
		return "local:" + s
	}
	return s
}

// parseEndpoint reads a rule's source or destination.
func parseEndpoint(s string, dest bool) (endpoint, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return endpoint{}, fmt.Errorf("required")
	case s == "local":
		return endpoint{local: true, kind: epPrefix}, nil
	case strings.HasPrefix(s, "local:"):
		if dest {
			return endpoint{}, fmt.Errorf("%q: the store as destination keeps the source's names: write local", s)
		}
		e, err := parseRemote(strings.TrimPrefix(s, "local:"))
		e.local = true
		return e, err
	}
	e, err := parseRemote(s)
	if err == nil && dest && e.ref.Digest != "" {
		return endpoint{}, fmt.Errorf("%q: a destination names a tag, not a digest", s)
	}
	return e, err
}

func parseRemote(s string) (endpoint, error) {
	if strings.Contains(s, "*") {
		p, ok := strings.CutSuffix(s, "/*")
		if !ok || strings.Contains(p, "*") {
			return endpoint{}, fmt.Errorf("%q: a wildcard may only end a prefix, as in registry.example.com/team/*", s)
		}
		host, repo, _ := strings.Cut(p, "/")
		if !looksLikeRegistry(host) {
			return endpoint{}, fmt.Errorf("%q: a prefix starts with a registry host, as in registry.example.com/team/*", s)
		}
		if repo != "" {
			if r, err := oci.ParseNormalized(p); err != nil || r.String() != p || r.Tag != "" || r.Digest != "" {
				return endpoint{}, fmt.Errorf("%q: %q is not a repository path", s, repo)
			}
		}
		return endpoint{kind: epPrefix, ref: client.Reference{Registry: host, Repository: repo}}, nil
	}
	ref, err := oci.ParseNormalized(s)
	if err != nil {
		if re, ok := errors.AsType[*oci.ReferenceError](err); ok {
			return endpoint{}, fmt.Errorf("%q: %s", s, re.Reason)
		}
		return endpoint{}, err
	}
	e := endpoint{kind: epRepo, ref: client.Reference{Registry: ref.Registry, Repository: ref.Repository}}
	if ref.Tag != "" || ref.Digest != "" {
		e.ref.Tag, e.ref.Digest, e.kind = ref.Tag, ref.Digest, epImage
	}
	return e, nil
}

// looksLikeRegistry is docker's test for a registry component of a name.
func looksLikeRegistry(s string) bool {
	return strings.ContainsAny(s, ".:") || s == "localhost"
}

// syncRule is a checked rule, ready to run.
type syncRule struct {
	name      string
	src, dst  endpoint
	filter    *tagFilter // nil for an image source
	platforms []v1.Platform
	referrers bool
	sched     schedule
}

// compiled is a checked config.
type compiled struct {
	rules      []*syncRule
	registries map[string]Registry // by registry name, defaults filled in
}

// compile checks the whole config and prepares its rules. Errors wrap
// errdefs.ErrInvalid and name the rule and key at fault.
func (c *Config) compile() (*compiled, error) {
	fail := func(where string, err error) error {
		return fmt.Errorf("sync config: %s: %v: %w", where, err, errdefs.ErrInvalid)
	}
	if c.Version != 0 && c.Version != 1 {
		return nil, fail("version", fmt.Errorf("%d is not supported (1)", c.Version))
	}
	out := &compiled{registries: map[string]Registry{}}
	for host, r := range c.Registries {
		where := "registries." + host
		switch {
		case host == "" || strings.ContainsAny(host, "/ *"):
			return nil, fail(where, fmt.Errorf("want a registry host[:port]"))
		case r.Concurrency < 0:
			return nil, fail(where+".concurrency", fmt.Errorf("%d is negative", r.Concurrency))
		case r.RPS < 0 || math.IsNaN(r.RPS) || math.IsInf(r.RPS, 0):
			return nil, fail(where+".rps", fmt.Errorf("%v: want 0 (no limit) or more", r.RPS))
		case r.Burst < 0:
			return nil, fail(where+".burst", fmt.Errorf("%d is negative", r.Burst))
		}
		out.registries[host] = r.withDefaults()
	}
	if len(c.Rules) == 0 {
		return nil, fail("rules", fmt.Errorf("no rules"))
	}
	names := map[string]int{}
	for i, raw := range c.Rules {
		r, err := c.compileRule(raw)
		if err != nil {
			return nil, fmt.Errorf("sync config: %s: %v: %w", c.ruleWhere(i), err, errdefs.ErrInvalid)
		}
		if j, dup := names[r.name]; dup {
			return nil, fmt.Errorf("sync config: %s: the same name as rules[%d] (%q); names must differ: %w", c.ruleWhere(i), j, r.name, errdefs.ErrInvalid)
		}
		names[r.name] = i
		out.rules = append(out.rules, r)
	}
	return out, nil
}

func (r Registry) withDefaults() Registry {
	if r.Concurrency == 0 {
		r.Concurrency = DefaultConcurrency
	}
	if r.RPS > 0 && r.Burst == 0 {
		r.Burst = max(1, int(math.Ceil(r.RPS)))
	}
	return r
}

func (c *Config) compileRule(raw Rule) (*syncRule, error) {
	r := &syncRule{name: ruleName(raw)}
	var err error
	if r.src, err = parseEndpoint(raw.Source, false); err != nil {
		return nil, fmt.Errorf("source: %v", err)
	}
	if r.dst, err = parseEndpoint(raw.Destination, true); err != nil {
		return nil, fmt.Errorf("destination: %v", err)
	}
	if err := checkPair(r.src, r.dst); err != nil {
		return nil, err
	}

	tags := raw.Tags
	if isZeroTags(tags) && c.Defaults.Tags != nil && r.src.kind != epImage {
		tags = *c.Defaults.Tags
	}
	if r.src.kind == epImage {
		if !isZeroTags(raw.Tags) {
			return nil, fmt.Errorf("tags: the source %s is one image; tag filters apply to a repository or a prefix", r.src)
		}
	} else if r.filter, err = compileTags(tags); err != nil {
		return nil, fmt.Errorf("tags.%v", err)
	}

	plats := raw.Platforms
	if plats == nil {
		plats = c.Defaults.Platforms
	}
	switch {
	case len(plats) == 1 && plats[0] == "all":
	case plats == nil && r.dst.local:
		r.platforms = []v1.Platform{oci.HostPlatform()}
	default:
		for i, s := range plats {
			p, err := oci.ParsePlatform(s)
			if err != nil || s == "" {
				return nil, fmt.Errorf("platforms[%d]: %q: want all, or os/arch[/variant]", i, s)
			}
			r.platforms = append(r.platforms, p)
		}
	}

	r.referrers = true
	if c.Defaults.Referrers != nil {
		r.referrers = *c.Defaults.Referrers
	}
	if raw.Referrers != nil {
		if *raw.Referrers && (r.src.local || r.dst.local) {
			return nil, fmt.Errorf("referrers: copied between registries only; the store keeps none")
		}
		r.referrers = *raw.Referrers
	}
	if r.src.local || r.dst.local {
		r.referrers = false
	}

	sched := raw.Schedule
	if sched == "" {
		sched = c.Defaults.Schedule
	}
	if r.sched, err = parseSchedule(sched); err != nil {
		return nil, fmt.Errorf("schedule: %v", err)
	}
	return r, nil
}

// checkPair refuses a destination that cannot take what the source names.
func checkPair(src, dst endpoint) error {
	switch {
	case src.local && dst.local:
		return fmt.Errorf("source and destination are both the store")
	case dst.kind == epImage && src.kind != epImage:
		return fmt.Errorf("destination %s is one image, but the source %s names several; use a repository or a prefix/* destination", dst, src)
	case dst.kind == epRepo && src.kind == epPrefix:
		return fmt.Errorf("destination %s is one repository, but the source %s names several; use a prefix/* destination", dst, src)
	}
	return nil
}

func isZeroTags(t Tags) bool {
	return len(t.Allow) == 0 && len(t.Deny) == 0 && t.Semver == "" && t.Newest == 0 && t.Order == ""
}

func compileTags(t Tags) (*tagFilter, error) {
	f := &tagFilter{newest: t.Newest, order: t.Order}
	for i, s := range t.Allow {
		re, err := regexp.Compile(s)
		if err != nil {
			return nil, fmt.Errorf("allow[%d]: %v", i, err)
		}
		f.allow = append(f.allow, re)
	}
	for i, s := range t.Deny {
		re, err := regexp.Compile(s)
		if err != nil {
			return nil, fmt.Errorf("deny[%d]: %v", i, err)
		}
		f.deny = append(f.deny, re)
	}
	if t.Semver != "" {
		r, err := parseSemverRange(t.Semver)
		if err != nil {
			return nil, fmt.Errorf("semver: %v", err)
		}
		f.semver = r
	}
	if t.Newest < 0 {
		return nil, fmt.Errorf("newest: %d is negative", t.Newest)
	}
	switch t.Order {
	case "", OrderSemver, OrderTag:
	default:
		return nil, fmt.Errorf("order: %q: want %s or %s", t.Order, OrderSemver, OrderTag)
	}
	return f, nil
}

// destFor maps a source image (registry, repository, tag or digest) to
// where the rule puts it.
func (r *syncRule) destFor(src client.Reference) client.Reference {
	if r.dst.local {
		return src
	}
	out := r.dst.ref
	switch r.dst.kind {
	case epImage:
		if out.Digest == "" && out.Tag == "" {
			out.Tag = src.Tag
		}
		return out
	case epRepo:
		out.Tag, out.Digest = src.Tag, ""
	case epPrefix:
		rel := src.Repository
		if r.src.kind == epPrefix && r.src.ref.Repository != "" {
			rel = strings.TrimPrefix(rel, r.src.ref.Repository+"/")
		}
		out.Repository = path.Join(out.Repository, rel)
		out.Tag, out.Digest = src.Tag, ""
	}
	if out.Tag == "" {
		out.Digest = src.Digest // an untagged source goes by digest
	}
	return out
}
