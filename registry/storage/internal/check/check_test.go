package check

import "testing"

func TestName(t *testing.T) {
	for name, ok := range map[string]bool{
		"a": true, "library/ubuntu": true, "a.b/c_d/e__f/g-h/i---j": true, "0": true,
		"": false, "A": false, "a/": false, "/a": false, "a//b": false, "a/../b": false,
		"..": false, ".a": false, "a.": false, "a..b": false, "a___b": false, "_a": false,
		"a/_layers": false, "a-": false, "-a": false, "a b": false, "a:b": false, "a%2fb": false,
		string(make([]byte, 256)): false,
	} {
		if err := Name(name); (err == nil) != ok {
			t.Errorf("Name(%q) = %v, want ok=%v", name, err, ok)
		}
	}
}

func TestTag(t *testing.T) {
	long := make([]byte, 129)
	for i := range long {
		long[i] = 'a'
	}
	for tag, ok := range map[string]bool{
		"latest": true, "v1.0.0-rc_1": true, "_x": true, "A": true, string(long[:128]): true,
		"": false, ".x": false, "-x": false, "a/b": false, "a:b": false, "a b": false, string(long): false,
	} {
		if err := Tag(tag); (err == nil) != ok {
			t.Errorf("Tag(%q) = %v, want ok=%v", tag, err, ok)
		}
	}
}
