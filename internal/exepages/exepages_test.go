package exepages

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

const sampleMaps = `00400000-01253000 r-xp 00000000 fd:00 1234                               /srv/bin/registry
01253000-01fc3000 r--p 00e53000 fd:00 1234                               /srv/bin/registry
01fc3000-0203d000 rw-p 01bc3000 fd:00 1234                               /srv/bin/registry
0203d000-04080000 rw-p 00000000 00:00 0
7f0000000000-7f0000001000 r--s 00000000 fd:00 99                         /srv/bin/registry
7f0000001000-7f0000002000 r--p 00000000 fd:00 77                         /srv/bin/registry-old (deleted)
7f0000002000-7f0000003000 r-xp 00000000 fd:00 78                         /lib/libc.so.6
7f0000003000-7f0000004000 r--p 00000000 fd:00 79                         /srv/bin/with space
`

func TestReadOnlyMappings(t *testing.T) {
	got, err := readOnlyMappings(strings.NewReader(sampleMaps), "/srv/bin/registry")
	if err != nil {
		t.Fatal(err)
	}
	want := []mapping{
		{0x400000, 0x1253000, "r-xp", "/srv/bin/registry"},
		{0x1253000, 0x1fc3000, "r--p", "/srv/bin/registry"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("mapping %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	sp, err := readOnlyMappings(strings.NewReader(sampleMaps), "/srv/bin/with space")
	if err != nil || len(sp) != 1 || sp[0].start != 0x7f0000003000 {
		t.Errorf("path with a space: %+v, %v", sp, err)
	}
}

func TestReadOnlyMappingsBadRange(t *testing.T) {
	for _, line := range []string{
		"zz-01253000 r-xp 00000000 fd:00 1 /x\n",
		"01253000-00400000 r-xp 00000000 fd:00 1 /x\n",
		"00400000 r-xp 00000000 fd:00 1 /x\n",
	} {
		if _, err := readOnlyMappings(strings.NewReader(line), "/x"); err == nil {
			t.Errorf("%q: no error", line)
		}
	}
}

// rssFile is RssFile of /proc/self/status, in KiB.
func rssFile(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "RssFile:"); ok {
			n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no RssFile in /proc/self/status")
	return 0
}

func TestRelease(t *testing.T) {
	if runtime.GOOS != "linux" {
		n, err := Release()
		if n != 0 || err != nil {
			t.Fatalf("Release on %s: %d, %v", runtime.GOOS, n, err)
		}
		return
	}
	before := rssFile(t)
	n, err := Release()
	if err != nil {
		t.Fatal(err)
	}
	after := rssFile(t)
	if n <= 0 {
		t.Fatalf("Release advised %d bytes: it found no mapping of the test binary", n)
	}
	// The code that runs from here on is mapped again as it runs.
	if after >= before {
		t.Errorf("RssFile %d KiB after Release, %d KiB before", after, before)
	}
	t.Logf("RssFile %d -> %d KiB, %d MiB of mappings advised", before, after, n>>20)
}
