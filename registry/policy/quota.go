package policy

import (
	"fmt"
	"math/big"
	"regexp"
	"strings"
	"time"
)

// Quota is one entry of policies.quotas: limits on a namespace, a
// repository prefix taken component by component ("team" and "team/" both
// cover the repository team and every repository below team/, not
// teams/app). Each limit is optional; a zero limit is no limit.
//
//	quotas:
//	  - namespace: team/
//	    maxbytes: 10GiB           # a number of bytes, or with a unit: B, kB/KB, MB, GB, TB (powers of 1000), KiB, MiB, GiB, TiB (of 1024)
//	    maxrepositories: 50
//	    maxtagsperrepository: 200
//	    refresh: 30s              # how old a node's usage figures may get before it walks the storage again (default 30s)
type Quota struct {
	Namespace            string        `yaml:"namespace"`
	MaxBytes             string        `yaml:"maxbytes"`
	MaxRepositories      int           `yaml:"maxrepositories"`
	MaxTagsPerRepository int           `yaml:"maxtagsperrepository"`
	Refresh              time.Duration `yaml:"refresh"`
}

// DefaultQuotaRefresh is how long a node trusts its usage figures of a
// namespace (plus what it pushed itself since) when a quota sets no
// refresh.
const DefaultQuotaRefresh = 30 * time.Second

// QuotaLimit is a checked Quota.
type QuotaLimit struct {
	// Key is the quota's dotted key, "policies.quotas[0]", for messages.
	Key string
	// Namespace is the repository prefix without a trailing slash.
	Namespace            string
	MaxBytes             int64 // 0: no limit
	MaxRepositories      int   // 0: no limit
	MaxTagsPerRepository int   // 0: no limit
	Refresh              time.Duration
}

// quotaRule is a compiled Quota.
type quotaRule = QuotaLimit

// namespaceRE is a repository name (Distribution's grammar): what a
// namespace must be once its trailing slash is gone.
var namespaceRE = regexp.MustCompile(`^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$`)

func compileQuota(q *Quota, key string, fail failFunc) (quotaRule, bool) {
	ok := true
	r := quotaRule{Key: key, MaxRepositories: q.MaxRepositories, MaxTagsPerRepository: q.MaxTagsPerRepository, Refresh: q.Refresh}
	ns, err := ParseNamespace(q.Namespace)
	if err != nil {
		fail(key+".namespace", "%v", err)
		ok = false
	}
	r.Namespace = ns
	if q.MaxBytes != "" {
		n, err := ParseSize(q.MaxBytes)
		if err != nil {
			fail(key+".maxbytes", "%v", err)
			ok = false
		}
		r.MaxBytes = n
	}
	if q.MaxRepositories < 0 {
		fail(key+".maxrepositories", "must not be negative, got %d", q.MaxRepositories)
		ok = false
	}
	if q.MaxTagsPerRepository < 0 {
		fail(key+".maxtagsperrepository", "must not be negative, got %d", q.MaxTagsPerRepository)
		ok = false
	}
	if q.Refresh < 0 {
		fail(key+".refresh", "must not be negative, got %s", q.Refresh)
		ok = false
	}
	if r.Refresh == 0 {
		r.Refresh = DefaultQuotaRefresh
	}
	if ok && r.MaxBytes == 0 && r.MaxRepositories == 0 && r.MaxTagsPerRepository == 0 {
		fail(key, "sets no limit: give maxbytes, maxrepositories or maxtagsperrepository")
		ok = false
	}
	return r, ok
}

// ParseNamespace checks a namespace as written ("team/", "team",
// "org/team/") and returns it without its trailing slash.
func ParseNamespace(s string) (string, error) {
	ns := strings.TrimSuffix(s, "/")
	switch {
	case s == "":
		return "", fmt.Errorf("a namespace is required, e.g. \"team/\"")
	case !namespaceRE.MatchString(ns):
		return "", fmt.Errorf("invalid namespace %q: want a repository name or prefix of one (lower-case components separated by /), e.g. \"team/\"", s)
	}
	return ns, nil
}

// InNamespace reports whether repository name is in namespace ns (as
// ParseNamespace returns it): ns itself or a repository below ns/.
func InNamespace(name, ns string) bool {
	return name == ns || strings.HasPrefix(name, ns) && len(name) > len(ns) && name[len(ns)] == '/'
}

var sizeRE = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?) ?([A-Za-z]*)$`)

var sizeUnits = map[string]int64{
	"": 1, "b": 1,
	"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12, "pb": 1e15,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40, "pib": 1 << 50,
}

// ParseSize parses a size: a number of bytes, or a number (fractions
// allowed) and a unit, B, kB, MB, GB, TB, PB (powers of 1000) or KiB, MiB,
// GiB, TiB, PiB (powers of 1024), case-insensitive, with or without a
// space: "10GiB", "500MB", "1.5 GiB", "1073741824". A fraction of a byte
// rounds down.
func ParseSize(s string) (int64, error) {
	m := sizeRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return 0, fmt.Errorf("invalid size %q: want bytes or a number with a unit, e.g. 10GiB or 500MB", s)
	}
	unit, ok := sizeUnits[strings.ToLower(m[2])]
	if !ok {
		return 0, fmt.Errorf("invalid size %q: unknown unit %q (B, kB, MB, GB, TB, PB, KiB, MiB, GiB, TiB, PiB)", s, m[2])
	}
	n, ok := new(big.Rat).SetString(m[1])
	if !ok {
		return 0, fmt.Errorf("invalid size %q", s)
	}
	n.Mul(n, new(big.Rat).SetInt64(unit))
	v := new(big.Int).Quo(n.Num(), n.Denom())
	if !v.IsInt64() {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	if v.Sign() == 0 {
		return 0, fmt.Errorf("size %q is zero: leave maxbytes out for no limit", s)
	}
	return v.Int64(), nil
}

// FormatSize writes n bytes for people: "512 B", "1.5 MiB", "10 GiB".
func FormatSize(n int64) string {
	const units = "KMGTPE"
	if n < 1024 && n > -1024 {
		return fmt.Sprintf("%d B", n)
	}
	v, i := float64(n)/1024, 0
	for (v >= 1024 || v <= -1024) && i < len(units)-1 {
		v /= 1024
		i++
	}
	s := fmt.Sprintf("%.1f", v)
	s = strings.TrimSuffix(s, ".0")
	return s + " " + units[i:i+1] + "iB"
}

// Quotas returns the quotas of repository name, in the order written:
// every one whose namespace covers it applies, each checked on its own.
func (s *Set) Quotas(name string) []QuotaLimit {
	if s == nil {
		return nil
	}
	var out []QuotaLimit
	for _, q := range s.quotas {
		if InNamespace(name, q.Namespace) {
			out = append(out, q)
		}
	}
	return out
}

// AllQuotas returns every quota, in the order written.
func (s *Set) AllQuotas() []QuotaLimit {
	if s == nil {
		return nil
	}
	return append([]QuotaLimit(nil), s.quotas...)
}
