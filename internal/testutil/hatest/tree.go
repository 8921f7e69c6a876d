package hatest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// Tree describes every path under dir but those in skip (relative,
// slash-separated) and their mtimes: kind and mode, owner, content hash,
// symlink target, device number, extended attributes. Two directories with
// equal Trees hold the same files.
func Tree(t testing.TB, dir string, skip ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if slices.Contains(skip, rel) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		desc := fmt.Sprintf("%o %d:%d", st.Mode, st.Uid, st.Gid)
		switch {
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			desc += " " + hex.EncodeToString(sum[:6])
		case fi.Mode()&fs.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			desc += " -> " + l
		case fi.Mode()&fs.ModeDevice != 0:
			desc += fmt.Sprintf(" dev %d", st.Rdev)
		}
		if x := xattrs(p); x != "" {
			desc += " xattrs " + x
		}
		out[rel] = desc
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func xattrs(p string) string {
	buf := make([]byte, 64<<10)
	n, err := unix.Llistxattr(p, buf)
	if err != nil || n == 0 {
		return ""
	}
	var kv []string
	for _, k := range strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00") {
		v := make([]byte, 64<<10)
		m, err := unix.Lgetxattr(p, k, v)
		if err == nil {
			kv = append(kv, k+"="+string(v[:m]))
		}
	}
	slices.Sort(kv)
	return strings.Join(kv, ",")
}

// DiffTrees lists how two Trees differ, one line per path; "" when equal.
func DiffTrees(a, b map[string]string) string {
	var lines []string
	for k, v := range a {
		if w, ok := b[k]; !ok {
			lines = append(lines, "only in the first: "+k+" "+v)
		} else if v != w {
			lines = append(lines, "differs: "+k+": "+v+" vs "+w)
		}
	}
	for k, v := range b {
		if _, ok := a[k]; !ok {
			lines = append(lines, "only in the second: "+k+" "+v)
		}
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}
