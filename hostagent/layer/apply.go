package layer

import (
	"archive/tar"
	"context"
	"io"
	"strings"
)

// Apply applies one uncompressed layer tar.
func (u *Unpacker) Apply(ctx context.Context, r io.Reader) error {
	u.layerPaths, u.layerDirs, u.dirTimes = map[string]bool{}, map[string]bool{}, nil
	tr := tar.NewReader(r)
	err := EachEntry(ctx, tr, "read layer", func(hdr *tar.Header) error {
		if u.rename != nil && !u.rename(hdr) {
			return nil
		}
		return u.apply(ctx, hdr, tr)
	})
	if err != nil {
		return err
	}
	// Directory times last: writing into a directory changes its mtime.
	for i := len(u.dirTimes) - 1; i >= 0; i-- {
		d := u.dirTimes[i]
		if err := u.setTimes(d.name, d.atime, d.mtime, true); err != nil {
			return err
		}
	}
	return nil
}

// SetRename makes the unpacker pass each entry's header to fn before it is
// applied: fn may rewrite its names, or drop it by returning false. The
// rewritten names are checked as any.
func (u *Unpacker) SetRename(fn func(*tar.Header) bool) { u.rename = fn }

// windowsFiles is the tree of a Windows layer that holds its file system.
const windowsFiles = "Files/"

// WindowsFiles is a rename function (SetRename) for Windows layers: it
// keeps the entries of the Files/ tree, made relative to it (Files/ itself
// becomes the root), and drops the rest: Hives/ (registry deltas),
// UtilityVM/, and alternate data streams (Files/a.txt:Zone.Identifier; ':'
// is never part of a Windows file name). A hard link is kept only when its
// target is in Files/ too. Windows attributes and security descriptors
// (MSWINDOWS.* PAX records) are not applied in any case.
func WindowsFiles(hdr *tar.Header) bool {
	name, ok := filesRelative(hdr.Name)
	if !ok || strings.Contains(name[strings.LastIndex(name, "/")+1:], ":") {
		return false
	}
	if hdr.Typeflag == tar.TypeLink {
		target, ok := filesRelative(hdr.Linkname)
		if !ok || target == "." {
			return false
		}
		hdr.Linkname = target
	}
	hdr.Name = name
	return true
}

// filesRelative returns name relative to Files/ ("." for Files/ itself),
// and false for a name outside it.
func filesRelative(name string) (string, bool) {
	name = strings.TrimPrefix(name, "./")
	if strings.TrimSuffix(name, "/") == strings.TrimSuffix(windowsFiles, "/") {
		return ".", true
	}
	rest, ok := strings.CutPrefix(name, windowsFiles)
	if !ok || strings.Trim(rest, "/") == "" {
		return "", false
	}
	return rest, true
}
