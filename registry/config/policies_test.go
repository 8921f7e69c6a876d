package config

import (
	"strings"
	"testing"
)

func TestPoliciesFileExcludesInlineRules(t *testing.T) {
	const y = "version: 0.1\nstorage: inmemory\npolicies:\n  file: /etc/berth/policies.yml\n  immutable:\n    - {}\n"
	_, err := Load(strings.NewReader(y), nil)
	if err == nil || !strings.Contains(err.Error(), "policies") || !strings.Contains(err.Error(), "line 3") {
		t.Fatalf("Load = %v, want an error naming policies and its line", err)
	}
}

func TestParsePoliciesNamesKeyAndLine(t *testing.T) {
	_, err := ParsePolicies([]byte("quotas: []\nretentoin: {}\n"))
	if err == nil || !strings.Contains(err.Error(), `"retentoin"`) || !strings.Contains(err.Error(), "line 2") || strings.HasPrefix(err.Error(), "config: ") {
		t.Fatalf("ParsePolicies = %v, want the unknown key and its line, without the config: prefix", err)
	}
	if _, err := ParsePolicies([]byte("file: other.yml\n")); err == nil {
		t.Fatal("a policies file naming another was accepted")
	}
	if s, err := ParsePolicies([]byte("# nothing yet\n")); err != nil || s == nil {
		t.Fatalf("empty policies file: %v, %v", s, err)
	}
}
