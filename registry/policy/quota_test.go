package policy

import (
	"slices"
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"1": 1, "1073741824": 1 << 30, "10GiB": 10 << 30, "10 GiB": 10 << 30, "10gib": 10 << 30,
		"500MB": 500e6, "1.5GiB": 3 << 29, "2kB": 2000, "2KiB": 2048, "3B": 3, "1TB": 1e12, "1PiB": 1 << 50,
		"1.0000000001B": 1, // a fraction of a byte rounds down
	} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for in, msg := range map[string]string{
		"": "invalid size", "-1": "invalid size", "10 GB/s": "invalid size", "1e9": "invalid size",
		"10XB": "unknown unit", "0": "zero", "0.1B": "zero", "9999999PiB": "too large", ".5GiB": "invalid size",
	} {
		if _, err := ParseSize(in); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("ParseSize(%q) = %v, want an error saying %q", in, err, msg)
		}
	}
}

func TestFormatSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1 KiB", 1536: "1.5 KiB", 10 << 30: "10 GiB", 10<<30 + 200<<20: "10.2 GiB"} {
		if got := FormatSize(n); got != want {
			t.Errorf("FormatSize(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestQuotaNamespaces: a namespace covers its repository and those below
// it, component-wise; every quota that covers a repository applies.
func TestQuotaNamespaces(t *testing.T) {
	s, err := Compile(&Config{Quotas: []Quota{
		{Namespace: "team/", MaxBytes: "10GiB"},
		{Namespace: "team", MaxRepositories: 3},
		{Namespace: "team/app", MaxTagsPerRepository: 2},
		{Namespace: "other/", MaxRepositories: 1},
	}}, "policies", nil)
	if err != nil {
		t.Fatal(err)
	}
	keys := func(name string) []string {
		var out []string
		for _, q := range s.Quotas(name) {
			out = append(out, q.Key)
		}
		return out
	}
	for name, want := range map[string][]string{
		"team/app":     {"policies.quotas[0]", "policies.quotas[1]", "policies.quotas[2]"},
		"team/app/sub": {"policies.quotas[0]", "policies.quotas[1]", "policies.quotas[2]"},
		"team":         {"policies.quotas[0]", "policies.quotas[1]"},
		"team/apps":    {"policies.quotas[0]", "policies.quotas[1]"},
		"teams/app":    nil,
		"other":        {"policies.quotas[3]"},
		"otherx":       nil,
	} {
		if got := keys(name); !slices.Equal(got, want) {
			t.Errorf("quotas of %s: %v, want %v", name, got, want)
		}
	}
	if q := s.Quotas("team/x")[0]; q.Namespace != "team" || q.MaxBytes != 10<<30 || q.Refresh != DefaultQuotaRefresh {
		t.Errorf("compiled %+v", q)
	}
	var none *Set
	if none.Quotas("team/app") != nil || none.AllQuotas() != nil {
		t.Error("a nil Set has quotas")
	}
}

func TestQuotaErrors(t *testing.T) {
	_, err := Compile(&Config{Quotas: []Quota{
		{Namespace: "", MaxRepositories: 1},
		{Namespace: "Team/", MaxRepositories: 1},
		{Namespace: "team/", MaxBytes: "ten gigs"},
		{Namespace: "team/", MaxRepositories: -1},
		{Namespace: "team/", MaxTagsPerRepository: -2},
		{Namespace: "team/"},
		{Namespace: "team//x", MaxRepositories: 1},
		{Namespace: "team/", MaxRepositories: 1, Refresh: -1},
	}}, "policies", nil)
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{
		"policies.quotas[0].namespace: a namespace is required",
		`policies.quotas[1].namespace: invalid namespace "Team/"`,
		`policies.quotas[2].maxbytes: invalid size "ten gigs"`,
		"policies.quotas[3].maxrepositories: must not be negative",
		"policies.quotas[4].maxtagsperrepository: must not be negative",
		"policies.quotas[5]: sets no limit",
		`policies.quotas[6].namespace: invalid namespace "team//x"`,
		"policies.quotas[7].refresh: must not be negative",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("errors lack %q:\n%v", want, err)
		}
	}
}
