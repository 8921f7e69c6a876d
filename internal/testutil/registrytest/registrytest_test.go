package registrytest

import (
	"net/http"
	"strings"
	"testing"

	"github.com/berth-registry/berth/storagedriver"
)

func TestStartServesEveryDriver(t *testing.T) {
	ForEachDriver(t, func(t *testing.T, drv storagedriver.Driver) {
		s := Start(t, drv)
		if !strings.HasPrefix(s.Host, "127.0.0.1:") || s.URL != "http://"+s.Host {
			t.Fatalf("Host %q URL %q", s.Host, s.URL)
		}
		resp, err := http.Get(s.URL + "/v2/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /v2/ on %s: %s", drv.Name(), resp.Status)
		}
		s.Close()
		s.Close() // idempotent
		if _, err := http.Get(s.URL + "/v2/"); err == nil {
			t.Fatal("server still answers after Close")
		}
	})
}

func TestTailBuffer(t *testing.T) {
	b := &tailBuffer{max: 16}
	for _, l := range []string{"line one\n", "line two\n", "line three\n"} {
		if n, err := b.Write([]byte(l)); n != len(l) || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	if got, want := b.String(), "[... earlier lines cut ...]\nline three\n"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if small := (&tailBuffer{max: 100}); small.Len() != 0 || small.String() != "" {
		t.Errorf("empty buffer: %q", small.String())
	}
}
