package exepages

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// sampleSmaps has, in order: the executable's code and read-only data
// (releasable), its data, an anonymous mapping, a shared mapping, a
// library's RELRO segment the loader wrote (not releasable), a library's
// code, a path with spaces, and the vdso.
const sampleSmaps = `00400000-01253000 r-xp 00000000 fd:00 1234                               /srv/bin/registry
Size:              14668 kB
Rss:                7436 kB
Anonymous:             0 kB
VmFlags: rd ex mr mw me
01253000-01fc3000 r--p 00e53000 fd:00 1234                               /srv/bin/registry
Size:              14016 kB
Anonymous:             0 kB
01fc3000-0203d000 rw-p 01bc3000 fd:00 1234                               /srv/bin/registry
Anonymous:           424 kB
0203d000-04080000 rw-p 00000000 00:00 0
Anonymous:           100 kB
7f0000000000-7f0000001000 r--s 00000000 fd:00 99                         /dev/shm/x
Anonymous:             0 kB
7f0000001000-7f0000005000 r--p 001d4000 fd:00 77                         /usr/lib/libc.so.6
Anonymous:            16 kB
7f0000005000-7f0000009000 r-xp 00028000 fd:00 77                         /usr/lib/libc.so.6
Anonymous:             0 kB
7f0000009000-7f000000a000 r--p 00000000 fd:00 79                         /srv/bin/with  space
Anonymous:             0 kB
7ffd00000000-7ffd00002000 r-xp 00000000 00:00 0                          [vdso]
Anonymous:             0 kB
`

func TestParseSmaps(t *testing.T) {
	ms, err := parseSmaps(strings.NewReader(sampleSmaps))
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 9 {
		t.Fatalf("%d mappings, want 9: %+v", len(ms), ms)
	}
	want := []struct {
		start   uintptr
		path    string
		release bool
	}{
		{0x400000, "/srv/bin/registry", true},
		{0x1253000, "/srv/bin/registry", true},
		{0x1fc3000, "/srv/bin/registry", false},
		{0x203d000, "", false},
		{0x7f0000000000, "/dev/shm/x", false},
		{0x7f0000001000, "/usr/lib/libc.so.6", false},
		{0x7f0000005000, "/usr/lib/libc.so.6", true},
		{0x7f0000009000, "/srv/bin/with  space", true},
		{0x7ffd00000000, "[vdso]", false},
	}
	for i, w := range want {
		m := ms[i]
		if m.start != w.start || m.path != w.path || m.releasable() != w.release {
			t.Errorf("mapping %d: %+v (releasable %v), want start %#x path %q releasable %v",
				i, m, m.releasable(), w.start, w.path, w.release)
		}
	}
	if ms[0].end != 0x1253000 || ms[0].perms != "r-xp" || ms[2].anonKB != 424 {
		t.Errorf("fields: %+v, %+v", ms[0], ms[2])
	}
}

func TestParseSmapsNoAnonymousField(t *testing.T) {
	// Without an Anonymous field nothing says the pages are clean.
	ms, err := parseSmaps(strings.NewReader("00400000-00401000 r-xp 00000000 fd:00 1 /x\nRss: 4 kB\n"))
	if err != nil || len(ms) != 1 {
		t.Fatal(ms, err)
	}
	if ms[0].releasable() {
		t.Error("a mapping of unknown Anonymous is releasable")
	}
}

func TestParseSmapsBad(t *testing.T) {
	for _, in := range []string{
		"zz-01253000 r-xp 00000000 fd:00 1 /x\n",
		"01253000-00400000 r-xp 00000000 fd:00 1 /x\n",
		"00400000 r-xp 00000000 fd:00 1 /x\n",
		"00400000-00401000 r-xp\n",
		"00400000-00401000 r-xp 00000000 fd:00 1 /x\nAnonymous: many kB\n",
	} {
		if _, err := parseSmaps(strings.NewReader(in)); err == nil {
			t.Errorf("%q: no error", in)
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
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	ms, err := parseSmaps(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	var exeMapped int64
	for _, m := range ms {
		if m.path == exe && m.releasable() {
			exeMapped += int64(m.end - m.start)
		}
	}
	if exeMapped == 0 {
		t.Fatalf("no releasable mapping of the test binary %s in /proc/self/smaps", exe)
	}
	before := rssFile(t)
	n, err := Release()
	if err != nil {
		t.Fatal(err)
	}
	after := rssFile(t)
	if n < exeMapped {
		t.Errorf("Release advised %d bytes, the executable's read-only mappings alone are %d", n, exeMapped)
	}
	// The code that runs from here on is mapped again as it runs.
	if after >= before {
		t.Errorf("RssFile %d KiB after Release, %d KiB before", after, before)
	}
	t.Logf("RssFile %d -> %d KiB, %d MiB of mappings advised", before, after, n>>20)
}
