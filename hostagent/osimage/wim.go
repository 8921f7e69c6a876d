package osimage

import (
	"encoding/binary"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/Microsoft/go-winio/wim"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/hostagent/errdefs"
	"github.com/berth-registry/berth/hostagent/layer"
)

// WIMImage is what the XML of a WIM tells about one of its images.
type WIMImage struct {
	Index       int    `json:"index"`
	Name        string `json:"name"`
	DisplayName string `json:"displayName,omitempty"`
	Description string `json:"description,omitempty"`
	Flags       string `json:"flags,omitempty"` // e.g. ServerDatacenterCore
	Edition     string `json:"edition,omitempty"`
	ProductName string `json:"productName,omitempty"`
	// Arch is the Windows processor architecture (9 amd64, 12 arm64,
	// 0 386, 5 arm); -1 when the XML has none.
	Arch int `json:"arch"`
	// Version is major.minor.build.spbuild, "" when the XML has none.
	Version string `json:"version,omitempty"`
}

// Platform is the image's OCI platform: windows, its architecture and
// os.version. An architecture the XML does not name is "".
func (w WIMImage) Platform() v1.Platform {
	p := v1.Platform{OS: "windows", OSVersion: w.Version}
	switch w.Arch {
	case wim.PROCESSOR_ARCHITECTURE_AMD64:
		p.Architecture = "amd64"
	case wim.PROCESSOR_ARCHITECTURE_ARM64:
		p.Architecture = "arm64"
	case wim.PROCESSOR_ARCHITECTURE_INTEL:
		p.Architecture = "386"
	case wim.PROCESSOR_ARCHITECTURE_ARM:
		p.Architecture, p.Variant = "arm", "v7"
	}
	return p
}

// wimXML is the part of a WIM's XML go-winio does not decode.
type wimXML struct {
	Images []struct {
		Index       int    `xml:"INDEX,attr"`
		Name        string `xml:"NAME"`
		DisplayName string `xml:"DISPLAYNAME"`
		Description string `xml:"DESCRIPTION"`
		Flags       string `xml:"FLAGS"`
		Windows     *struct {
			Arch string `xml:"ARCH"`
		} `xml:"WINDOWS"`
	} `xml:"IMAGE"`
}

// wimFile is an open, checked WIM.
type wimFile struct {
	f      *os.File
	r      *wim.Reader
	images []WIMImage
}

func (w *wimFile) Close() error { return w.f.Close() }

// openWIM checks path as a WIM (see checkWIM) and opens it with go-winio.
// A file that does not start like a WIM gives errNotWIM.
func openWIM(path string, lim layer.Limits) (_ *wimFile, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			f.Close()
		}
	}()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	h, entries, err := checkWIM(f, fi.Size(), lim)
	if err != nil {
		return nil, err
	}
	var ra io.ReaderAt = f
	if _, c := h.chunking(); c == codecXpress {
		// go-winio decodes no XPRESS: it reads the WIM through a view
		// that decompresses it (see flatWIM).
		raw := make([]byte, headerSize)
		if _, err := f.ReadAt(raw, 0); err != nil {
			return nil, corruptf("header: %v", err)
		}
		if ra, err = newFlatWIM(f, raw, h, entries); err != nil {
			return nil, err
		}
	} else if h.Flags&hdrCompressed == 0 && h.CompressionSize != wimChunk {
		// An uncompressed WIM has no chunk size (wimlib writes 0), which
		// go-winio refuses; it is never used, so the reader sees 32768.
		ra = chunkSizeFix{f}
	}
	var r *wim.Reader
	if err := guard(func() error {
		var err error
		r, err = wim.NewReader(ra)
		return err
	}); err != nil {
		return nil, wimErr(err)
	}
	var x wimXML
	if err := xml.Unmarshal([]byte(r.XMLInfo), &x); err != nil {
		return nil, corruptf("XML: %v", err)
	}
	w := &wimFile{f: f, r: r}
	for i, img := range r.Image {
		info := WIMImage{Index: i + 1, Name: img.Name, Arch: -1}
		for _, xi := range x.Images {
			if xi.Index == i+1 {
				info.DisplayName, info.Description, info.Flags = xi.DisplayName, xi.Description, xi.Flags
				if xi.Windows != nil && strings.TrimSpace(xi.Windows.Arch) != "" {
					if a, err := strconv.Atoi(strings.TrimSpace(xi.Windows.Arch)); err == nil {
						info.Arch = a
					}
				}
			}
		}
		if win := img.Windows; win != nil {
			info.Edition, info.ProductName = win.EditionID, win.ProductName
			if v := win.Version; v.Major != 0 || v.Minor != 0 || v.Build != 0 {
				info.Version = fmt.Sprintf("%d.%d.%d.%d", v.Major, v.Minor, v.Build, v.SPBuild)
			}
		}
		w.images = append(w.images, info)
	}
	return w, nil
}

// chunkSizeFix reads a file with the header's chunk size (bytes 20-23)
// read as 32768.
type chunkSizeFix struct{ r io.ReaderAt }

func (c chunkSizeFix) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	var v [4]byte
	binary.LittleEndian.PutUint32(v[:], wimChunk)
	for i := int64(0); i < 4; i++ {
		if at := 20 + i - off; at >= 0 && at < int64(n) {
			p[at] = v[i]
		}
	}
	return n, err
}

// pick returns the image of index (1-based) or name; with neither, the
// only image of the file.
func (w *wimFile) pick(index int, name string) (*wim.Image, WIMImage, error) {
	var names []string
	for i, info := range w.images {
		names = append(names, fmt.Sprintf("%d %q", info.Index, info.Name))
		switch {
		case index > 0 && info.Index == index,
			index <= 0 && name != "" && strings.EqualFold(info.Name, name):
			return w.r.Image[i], info, nil
		}
	}
	if index <= 0 && name == "" && len(w.images) == 1 {
		return w.r.Image[0], w.images[0], nil
	}
	what := "the WIM holds several images: choose one with --index or --image"
	if index > 0 || name != "" {
		what = "no such image in the WIM"
	}
	return nil, WIMImage{}, fmt.Errorf("%s (%s): %w", what, strings.Join(names, ", "), errdefs.ErrNotFound)
}

// guard runs fn, turning a panic of the WIM decoder (on content it does not
// expect) into an error.
func guard(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = corruptf("decoder failed: %v", r)
		}
	}()
	return fn()
}

// wimErr classes an error of go-winio: its parse errors and short reads
// mean a corrupt or truncated file; errors already classed keep their class.
func wimErr(err error) error {
	if errors.Is(err, errdefs.ErrCorrupt) || errors.Is(err, errdefs.ErrUnsafe) || errors.Is(err, errdefs.ErrInvalid) {
		return err
	}
	return corruptf("%v", err)
}
