package config

import "testing"

// TestPathPrefix: http.prefix with or without its trailing slash is the
// same prefix, "/" is the root, and only plain path segments pass.
func TestPathPrefix(t *testing.T) {
	for _, tc := range []struct {
		prefix, want string
		valid        bool
	}{
		{"", "", true},
		{"/", "", true},
		{"/registry/", "/registry", true},
		{"/registry", "/registry", true},
		{"/my/nested/registry/", "/my/nested/registry", true},
		{"/a-b.c_d~e/", "/a-b.c_d~e", true},
		{"registry/", "", false},
		{"//registry/", "", false},
		{"/a/./b/", "", false},
		{"/a/../b/", "", false},
		{"/a b/", "", false},
		{"/a%2Fb/", "", false},
		{"/{name}/", "", false},
		{"/a?b/", "", false},
	} {
		h := HTTP{Prefix: tc.prefix}
		if tc.prefix != "" && validPrefix(tc.prefix) != tc.valid {
			t.Errorf("validPrefix(%q) = %v, want %v", tc.prefix, !tc.valid, tc.valid)
		}
		if tc.valid && h.PathPrefix() != tc.want {
			t.Errorf("PathPrefix(%q) = %q, want %q", tc.prefix, h.PathPrefix(), tc.want)
		}
	}
}
