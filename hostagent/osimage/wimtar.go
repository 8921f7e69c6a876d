package osimage

import (
	"archive/tar"
	"context"
	"crypto/sha1" //nolint:gosec // WIM names content by SHA-1; it checks integrity here, not authenticity
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/Microsoft/go-winio/wim"

	"github.com/berth-registry/berth/hostagent/errdefs"
	"github.com/berth-registry/berth/hostagent/layer"
)

// PAX records of Windows layer tars (see doc.go).
const (
	paxFileAttr     = "MSWINDOWS.fileattr"
	paxRawSD        = "MSWINDOWS.rawsd"
	paxMountPoint   = "MSWINDOWS.mountpoint"
	paxCreationTime = "LIBARCHIVE.creationtime"
)

// Reparse tags this writer turns into tar symlinks.
const (
	reparseTagMountPoint = 0xA0000003
	reparseTagSymlink    = 0xA000000C
)

// hives maps the registry hives of Files/Windows/System32/config to their
// names under Hives/.
var hives = map[string]string{
	"DEFAULT":  "DefaultUser_Delta",
	"SAM":      "Sam_Delta",
	"SECURITY": "Security_Delta",
	"SOFTWARE": "Software_Delta",
	"SYSTEM":   "System_Delta",
}

const hiveDir = "Windows/System32/config"

// baseLayerWriter writes one WIM image as a Windows base layer tar.
type baseLayerWriter struct {
	tw      *tar.Writer
	lim     layer.Limits
	written int64
	entries int
	links   map[int64]string // hard link group -> first path written
	hives   map[string]*wim.File
}

// writeBaseLayer writes img to w as an uncompressed Windows base layer
// tar: Files/ with the image's tree, then Hives/. Content is checked
// against the SHA-1 the WIM names it by; a mismatch is ErrCorrupt. More
// than lim's bytes or entries is ErrUnsafe.
func writeBaseLayer(ctx context.Context, w io.Writer, img *wim.Image, lim layer.Limits) error {
	b := &baseLayerWriter{tw: tar.NewWriter(w), lim: lim.WithDefaults(), links: map[int64]string{}, hives: map[string]*wim.File{}}
	return guard(func() error {
		root, err := img.Open()
		if err != nil {
			return wimErr(err)
		}
		if !root.IsDir() {
			return corruptf("the image's root is not a directory")
		}
		if err := b.entry(ctx, "Files", root, 0); err != nil {
			return err
		}
		if err := b.hiveEntries(ctx); err != nil {
			return err
		}
		return b.tw.Close()
	})
}

// entry writes f as name and, for a directory, its children.
func (b *baseLayerWriter) entry(ctx context.Context, name string, f *wim.File, depth int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if depth > maxDepth {
		return layer.Unsafef("WIM: %s: deeper than %d directories (a loop?)", name, maxDepth)
	}
	if err := b.count(name, 0); err != nil {
		return err
	}
	hdr := header(name, &f.FileHeader)
	switch {
	case f.IsDir():
		hdr.Typeflag, hdr.Name, hdr.Mode = tar.TypeDir, name+"/", 0o755
		if err := b.tw.WriteHeader(hdr); err != nil {
			return err
		}
		children, err := f.Readdir()
		if err != nil {
			return wimErr(fmt.Errorf("%s: %w", name, err))
		}
		seen := make(map[string]bool, len(children))
		for _, c := range children {
			if err := checkName(c.Name); err != nil {
				return fmt.Errorf("WIM: %s: %w", name, err)
			}
			// Exact names: a WIM captured from a case-sensitive file
			// system may hold names that differ only in case.
			if seen[c.Name] {
				return corruptf("%s: %q twice", name, c.Name)
			}
			seen[c.Name] = true
			if err := b.entry(ctx, name+"/"+c.Name, c, depth+1); err != nil {
				return err
			}
		}
		return nil
	case f.Attributes&wim.FILE_ATTRIBUTE_REPARSE_POINT != 0:
		return b.reparse(name, f, hdr)
	}
	if f.LinkID != 0 {
		if first, ok := b.links[f.LinkID]; ok {
			hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
			return b.tw.WriteHeader(hdr)
		}
		b.links[f.LinkID] = name
	}
	if dir, base := splitHive(name); dir && hives[base] != "" {
		b.hives[base] = f
	}
	if err := b.count(name, f.Size); err != nil {
		return err
	}
	if err := b.tw.WriteHeader(hdr); err != nil {
		return err
	}
	if err := copyStream(b.tw, name, f.Open, f.Hash, f.Size); err != nil {
		return err
	}
	// Alternate data streams follow their file as name:stream entries.
	for _, s := range f.Streams {
		if err := checkName(s.Name); err != nil {
			return fmt.Errorf("WIM: %s: stream: %w", name, err)
		}
		sname := name + ":" + s.Name
		if err := b.count(sname, s.Size); err != nil {
			return err
		}
		sh := &tar.Header{
			Format: tar.FormatPAX, Typeflag: tar.TypeReg, Name: sname, Size: s.Size, Mode: 0o644,
			ModTime: hdr.ModTime, AccessTime: hdr.AccessTime, ChangeTime: hdr.ChangeTime,
		}
		if err := b.tw.WriteHeader(sh); err != nil {
			return err
		}
		if err := copyStream(b.tw, sname, s.Open, s.Hash, s.Size); err != nil {
			return err
		}
	}
	return nil
}

// maxDepth bounds directory nesting, as layer entry names are bounded.
const maxDepth = 256

// count charges one entry of size bytes against the limits.
func (b *baseLayerWriter) count(name string, size int64) error {
	b.entries++
	if b.entries > b.lim.MaxEntries {
		return layer.Unsafef("WIM: more than %d entries", b.lim.MaxEntries)
	}
	if size < 0 || size > b.lim.MaxBytes-b.written {
		return layer.Unsafef("WIM: %s: %d bytes would pass the limit of %d", name, size, b.lim.MaxBytes)
	}
	b.written += size
	return nil
}

// header is the tar header of a WIM entry: times, attributes, creation
// time and security descriptor.
func header(name string, f *wim.FileHeader) *tar.Header {
	hdr := &tar.Header{
		Format:     tar.FormatPAX,
		Typeflag:   tar.TypeReg,
		Name:       name,
		Mode:       0o644,
		Size:       f.Size,
		ModTime:    fileTime(f.LastWriteTime),
		AccessTime: fileTime(f.LastAccessTime),
		ChangeTime: fileTime(f.LastWriteTime),
		PAXRecords: map[string]string{
			paxFileAttr:     strconv.FormatUint(uint64(f.Attributes), 10),
			paxCreationTime: paxTime(fileTime(f.CreationTime)),
		},
	}
	if len(f.SecurityDescriptor) > 0 {
		hdr.PAXRecords[paxRawSD] = base64.StdEncoding.EncodeToString(f.SecurityDescriptor)
	}
	return hdr
}

// fileTime converts a Windows FILETIME; zero stays the zero time's Unix 0.
func fileTime(ft wim.Filetime) time.Time {
	if ft.HighDateTime == 0 && ft.LowDateTime == 0 {
		return time.Unix(0, 0).UTC()
	}
	return ft.Time().UTC()
}

// paxTime formats t as PAX times are: seconds, then a fraction without
// trailing zeros.
func paxTime(t time.Time) string {
	secs, nsec := t.Unix(), t.Nanosecond()
	if nsec == 0 {
		return strconv.FormatInt(secs, 10)
	}
	if secs < 0 {
		// -1.25 is written as -2 + .75: the fraction counts up.
		return strings.TrimRight(fmt.Sprintf("-%d.%09d", -(secs+1), 1e9-nsec), "0")
	}
	return strings.TrimRight(fmt.Sprintf("%d.%09d", secs, nsec), "0")
}

// checkName refuses names that would change the tar's paths (empty, ".",
// "..", holding / or NUL: ErrUnsafe) and names a Windows layer cannot
// carry (holding \\ or :, which Windows reads as a path separator and an
// alternate data stream; a WIM captured from a Linux tree may hold them:
// ErrInvalid).
func checkName(n string) error {
	if n == "" || n == "." || n == ".." || strings.ContainsAny(n, "/\x00") {
		return layer.Unsafef("bad entry name %q", n)
	}
	if strings.ContainsAny(n, "\\:") {
		return fmt.Errorf("name %q holds \\ or :, which a Windows layer cannot carry (the WIM was captured from a non-Windows tree?): %w", n, errdefs.ErrInvalid)
	}
	return nil
}

// copyStream copies the content open gives to w, checking its size and
// SHA-1.
func copyStream(w io.Writer, name string, open func() (io.ReadCloser, error), want wim.SHA1Hash, size int64) error {
	if size == 0 {
		return nil
	}
	r, err := open()
	if err != nil {
		return wimErr(fmt.Errorf("%s: %w", name, err))
	}
	defer r.Close()
	h := sha1.New() //nolint:gosec // see the import
	n, err := io.Copy(io.MultiWriter(w, h), io.LimitReader(r, size))
	if err != nil {
		return wimErr(fmt.Errorf("%s: %w", name, err))
	}
	if n != size {
		return corruptf("%s: %d bytes of %d", name, n, size)
	}
	var got wim.SHA1Hash
	copy(got[:], h.Sum(nil))
	if want != (wim.SHA1Hash{}) && got != want {
		return corruptf("%s: content hashes to %x, the WIM says %x", name, got, want)
	}
	return nil
}

// reparse writes a reparse point: a symlink or mount point as a tar
// symlink (a mount point marked MSWINDOWS.mountpoint); other kinds are
// refused, since a base layer tar cannot carry them.
func (b *baseLayerWriter) reparse(name string, f *wim.File, hdr *tar.Header) error {
	if f.Size > 64<<10 {
		return corruptf("%s: reparse data of %d bytes", name, f.Size)
	}
	var buf strings.Builder
	if err := copyStream(&buf, name, f.Open, f.Hash, f.Size); err != nil {
		return err
	}
	target, err := reparseTarget(f.ReparseTag, []byte(buf.String()))
	if err != nil {
		return fmt.Errorf("WIM: %s: %w", name, err)
	}
	hdr.Typeflag, hdr.Linkname, hdr.Size, hdr.Mode = tar.TypeSymlink, target, 0, 0o777
	if f.ReparseTag == reparseTagMountPoint {
		hdr.PAXRecords[paxMountPoint] = "1"
	}
	return b.tw.WriteHeader(hdr)
}

// reparseTarget decodes the target of a symlink or mount point from its
// reparse data, as a WIM stores it: the REPARSE_DATA_BUFFER without its
// 8-byte header (tag, length, reserved).
func reparseTarget(tag uint32, data []byte) (string, error) {
	fixed := 8
	switch tag {
	case reparseTagSymlink:
		fixed = 12 // and 4 bytes of flags
	case reparseTagMountPoint:
	default:
		return "", fmt.Errorf("reparse point of tag %#x: only symlinks and mount points can go in a layer", tag)
	}
	if len(data) < fixed {
		return "", corruptf("reparse data of %d bytes", len(data))
	}
	u := func(i int) int { return int(binary.LittleEndian.Uint16(data[i:])) }
	subOff, subLen, printOff, printLen := u(0), u(2), u(4), u(6)
	path := data[fixed:]
	name := func(off, n int) (string, bool) {
		if off+n > len(path) || n%2 != 0 {
			return "", false
		}
		s := make([]uint16, n/2)
		for i := range s {
			s[i] = binary.LittleEndian.Uint16(path[off+2*i:])
		}
		return string(utf16.Decode(s)), true
	}
	sub, ok := name(subOff, subLen)
	if !ok {
		return "", corruptf("reparse data: substitute name out of bounds")
	}
	if p, ok := name(printOff, printLen); ok && p != "" && tag == reparseTagSymlink && !strings.HasPrefix(sub, `\??\`) {
		return p, nil
	}
	return strings.TrimPrefix(sub, `\??\`), nil
}

// splitHive reports whether name is a file of Files/Windows/System32/config
// (case-insensitively) and returns its base name in upper case.
func splitHive(name string) (bool, string) {
	dir, base := "", name
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		dir, base = name[:i], name[i+1:]
	}
	return strings.EqualFold(dir, "Files/"+hiveDir), strings.ToUpper(base)
}

// hiveEntries writes Hives/ with a copy of each registry hive found under
// Files/Windows/System32/config.
func (b *baseLayerWriter) hiveEntries(ctx context.Context) error {
	if len(b.hives) == 0 {
		return nil
	}
	if err := b.count("Hives", 0); err != nil {
		return err
	}
	if err := b.tw.WriteHeader(&tar.Header{Format: tar.FormatPAX, Typeflag: tar.TypeDir, Name: "Hives/", Mode: 0o755,
		ModTime: time.Unix(0, 0).UTC(), PAXRecords: map[string]string{paxFileAttr: strconv.Itoa(wim.FILE_ATTRIBUTE_DIRECTORY)}}); err != nil {
		return err
	}
	for _, src := range []string{"DEFAULT", "SAM", "SECURITY", "SOFTWARE", "SYSTEM"} {
		f := b.hives[src]
		if f == nil {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		name := "Hives/" + hives[src]
		if err := b.count(name, f.Size); err != nil {
			return err
		}
		if err := b.tw.WriteHeader(header(name, &f.FileHeader)); err != nil {
			return err
		}
		if err := copyStream(b.tw, name, f.Open, f.Hash, f.Size); err != nil {
			return err
		}
	}
	return nil
}
