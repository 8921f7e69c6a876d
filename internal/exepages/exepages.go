package exepages

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// mapping is one mapping of /proc/PID/smaps.
type mapping struct {
	start, end uintptr
	perms      string
	path       string
	anonKB     int64 // its Anonymous field: pages copied on a write; -1 unknown
}

// releasable says whether m's resident pages can be dropped without losing
// anything: a private, read-only mapping of a file none of whose pages was
// ever written. A page written before the mapping became read-only (the
// dynamic loader's relocations of a RELRO segment) is anonymous, and
// dropping it would bring back the file's unrelocated bytes.
func (m mapping) releasable() bool {
	return strings.HasPrefix(m.path, "/") && len(m.perms) == 4 && m.perms[0] == 'r' &&
		m.perms[1] != 'w' && m.perms[3] == 'p' && m.anonKB == 0
}

// parseSmaps reads the mappings of r, in the format of /proc/PID/smaps.
func parseSmaps(r io.Reader) ([]mapping, error) {
	var out []mapping
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		key, rest, _ := strings.Cut(line, " ")
		if strings.HasSuffix(key, ":") { // a field of the current mapping
			if key == "Anonymous:" && len(out) > 0 {
				v := strings.TrimSuffix(strings.TrimSpace(rest), " kB")
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					return nil, fmt.Errorf("smaps: bad line %q", line)
				}
				out[len(out)-1].anonKB = n
			}
			continue
		}
		// address perms offset dev inode [path]; the path may hold spaces.
		f := strings.Fields(line)
		if len(f) < 5 {
			return nil, fmt.Errorf("smaps: bad line %q", line)
		}
		lo, hi, ok := strings.Cut(f[0], "-")
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if !ok || err1 != nil || err2 != nil || end <= start {
			return nil, fmt.Errorf("smaps: bad address range %q", f[0])
		}
		m := mapping{start: uintptr(start), end: uintptr(end), perms: f[1], anonKB: -1}
		if len(f) > 5 {
			m.path = afterFields(line, 5)
		}
		out = append(out, m)
	}
	return out, sc.Err()
}

// afterFields returns what follows the first n space-separated fields of
// line, leading spaces removed: a path, which may hold spaces.
func afterFields(line string, n int) string {
	rest := line
	for range n {
		_, rest, _ = strings.Cut(strings.TrimLeft(rest, " "), " ")
	}
	return strings.TrimLeft(rest, " ")
}

// Release drops the resident pages of the process's private read-only
// file mappings (code, read-only data and the function tables of the
// executable and of the shared libraries) that were never written, and
// returns how many bytes of mappings it advised. Call it once start-up is
// over. Where the system has no such advice, it does nothing and returns 0.
func Release() (int64, error) {
	if !supported {
		return 0, nil
	}
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return 0, err
	}
	ms, err := parseSmaps(f)
	f.Close()
	if err != nil {
		return 0, err
	}
	var n int64
	for _, m := range ms {
		if !m.releasable() {
			continue
		}
		if err := dontNeed(m.start, m.end-m.start); err != nil {
			return n, fmt.Errorf("madvise %x-%x %s %s: %w", m.start, m.end, m.perms, m.path, err)
		}
		n += int64(m.end - m.start)
	}
	return n, nil
}
