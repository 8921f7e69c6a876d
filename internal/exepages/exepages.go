package exepages

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// mapping is one line of /proc/PID/maps.
type mapping struct {
	start, end uintptr
	perms      string
	path       string
}

// readOnlyMappings returns the mappings of the file exe in maps (the
// format of /proc/PID/maps) that are neither writable nor shared. exe is
// compared with the line's path exactly, so that a replaced executable
// (" (deleted)") is left alone.
func readOnlyMappings(maps io.Reader, exe string) ([]mapping, error) {
	var out []mapping
	sc := bufio.NewScanner(maps)
	for sc.Scan() {
		// address perms offset dev inode path; the path may hold spaces.
		f := strings.SplitN(sc.Text(), " ", 6)
		if len(f) < 6 {
			continue
		}
		path := strings.TrimLeft(f[5], " ")
		if path != exe || len(f[1]) != 4 || f[1][1] == 'w' || f[1][3] != 'p' {
			continue
		}
		lo, hi, ok := strings.Cut(f[0], "-")
		if !ok {
			return nil, fmt.Errorf("maps: bad address range %q", f[0])
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			return nil, fmt.Errorf("maps: bad address range %q", f[0])
		}
		out = append(out, mapping{start: uintptr(start), end: uintptr(end), perms: f[1], path: path})
	}
	return out, sc.Err()
}

// Release drops the resident pages of the executable's read-only
// mappings (code, read-only data, the function tables) from the process's
// resident set and returns how many bytes of mappings it advised. Call it
// once start-up is over. Where the system has no such advice, it does
// nothing and returns 0.
func Release() (int64, error) {
	if !supported {
		return 0, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return 0, err
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	ms, err := readOnlyMappings(f, exe)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, m := range ms {
		if err := dontNeed(m.start, m.end-m.start); err != nil {
			return n, fmt.Errorf("madvise %x-%x %s: %w", m.start, m.end, m.perms, err)
		}
		n += int64(m.end - m.start)
	}
	return n, nil
}
