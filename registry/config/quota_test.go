package config

import (
	"strings"
	"testing"
)

// TestQuotaErrorsNameKeyAndLine: a bad quota in config.yml or in a
// policies file is reported with its dotted key and line.
func TestQuotaErrorsNameKeyAndLine(t *testing.T) {
	const y = "version: 0.1\nstorage: inmemory\npolicies:\n  quotas:\n    - namespace: team/\n      maxbytes: 10 gigs\n"
	_, err := Load(strings.NewReader(y), nil)
	if err == nil || !strings.Contains(err.Error(), "policies.quotas[0].maxbytes (line 6)") {
		t.Fatalf("Load = %v, want policies.quotas[0].maxbytes (line 6)", err)
	}
	_, err = ParsePolicies([]byte("quotas:\n  - namespace: team/\n    maxbytes: 1GiB\n  - namespace: Bad\n    maxrepositories: 2\n"))
	if err == nil || !strings.Contains(err.Error(), "quotas[1].namespace (line 4)") {
		t.Fatalf("ParsePolicies = %v, want quotas[1].namespace (line 4)", err)
	}
	s, err := ParsePolicies([]byte("quotas:\n  - namespace: team/\n    maxbytes: 1073741824\n    maxrepositories: 2\n    maxtagsperrepository: 3\n    refresh: 5s\n"))
	if err != nil {
		t.Fatal(err)
	}
	if q := s.Quotas("team/app"); len(q) != 1 || q[0].MaxBytes != 1<<30 || q[0].MaxRepositories != 2 || q[0].MaxTagsPerRepository != 3 || q[0].Refresh.Seconds() != 5 || q[0].Key != "quotas[0]" {
		t.Fatalf("parsed %+v", q)
	}
}
