package config

import (
	"reflect"
	"strings"
	"testing"
)

// FuzzLoad: no config.yml makes Load panic or hang, every error is one
// line starting with "config: ", and an accepted file loads to the same
// configuration every time and passes validation again.
func FuzzLoad(f *testing.F) {
	for _, s := range []string{
		minimal,
		minimal + "http:\n  addr: :5000\n  headers:\n    X-A: [a, b]\n",
		"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /data\n  delete:\n    enabled: true\n",
		aliasBombConfig(4),
		minimal + "notifications:\n  endpoints: &l [*l]\n",
		"version: 0.1\nstorage: inmemory\nproxy:\n  remoteurl: https://registry-1.docker.io\n",
		"",
		"version: [\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Load(strings.NewReader(string(b)), nil)
		if err != nil {
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, "config: ") {
					t.Fatalf("Load(%q) error %q: want lines starting with config: ", b, err)
				}
			}
			return
		}
		again, err := Load(strings.NewReader(string(b)), nil)
		if err != nil || !reflect.DeepEqual(c, again) {
			t.Fatalf("Load(%q) twice: %+v then %+v, %v", b, c, again, err)
		}
		if err := c.validate(origins{}); err != nil {
			t.Fatalf("Load(%q) accepted a config that does not validate: %v", b, err)
		}
	})
}
