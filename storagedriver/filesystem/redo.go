package filesystem

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/berth-registry/berth/storagedriver"
)

// The redo log's records and the sets of paths that order them against
// the changes made without it (redo_linux.go has the log itself).

// pathSet counts paths, to tell whether a path is one of them, lies below
// one or holds one below it: whether a change to it and a change to one of
// them touch the same file. The zero value is empty and ready.
type pathSet struct {
	self map[string]int // the paths
	anc  map[string]int // the paths and every directory above them
}

func (s *pathSet) add(p string) {
	if s.self == nil {
		s.self, s.anc = map[string]int{}, map[string]int{}
	}
	s.self[p]++
	for a := p; ; a = parentDir(a) {
		s.anc[a]++
		if a == "/" {
			break
		}
	}
}

func (s *pathSet) remove(p string) {
	if s.self[p]--; s.self[p] <= 0 {
		delete(s.self, p)
	}
	for a := p; ; a = parentDir(a) {
		if s.anc[a]--; s.anc[a] <= 0 {
			delete(s.anc, a)
		}
		if a == "/" {
			break
		}
	}
}

// touches reports whether p is one of the paths, a directory above one,
// or lies below one.
func (s *pathSet) touches(p string) bool {
	if len(s.self) == 0 {
		return false
	}
	if s.anc[p] > 0 {
		return true
	}
	for a := parentDir(p); ; a = parentDir(a) {
		if s.self[a] > 0 {
			return true
		}
		if a == "/" {
			return false
		}
	}
}

// parentDir is path.Dir of p, a clean absolute path (the driver's paths
// are checked), without path.Clean's pass over it: in a profile of the
// push storm, path.Dir was 105 of the set's 230 samples (4% of Berth's
// CPU), every record adding and removing each ancestor of its paths. A
// path that is not clean still ends at "/".
func parentDir(p string) string {
	i := strings.LastIndexByte(p, '/')
	if i <= 0 {
		return "/"
	}
	return p[:i]
}

func (s *pathSet) empty() bool { return len(s.self) == 0 }

// reset empties s, keeping its maps' room for the paths to come.
func (s *pathSet) reset() {
	clear(s.self)
	clear(s.anc)
}

// A record is one durable change: files written whole, by levels, each
// level in place before the next shows. On disk:
//
//	magic   uint32  redoMagic
//	length  uint32  of the body
//	epoch   uint64  of the log file's current use: a record of an earlier
//	                use, left past the end, is not read as one of this
//	seq     uint64  the log's order, across both files
//	crc     uint32  Castagnoli, of length, epoch, seq and the body
//	zero    uint32
//	body    levels uint32, and per level: files uint32, and per file:
//	        path length uint32, path, content length uint32, content
//
// all little-endian.
const (
	redoMagic  = 0x4452_5242 // "BRRD"
	redoHeader = 32
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// encodeRecord returns the record of levels, with its header left for
// sealRecord. With hole >= 0, the content of levels[0][0] is hole bytes
// left for the caller to fill: the returned slice.
func encodeRecord(levels [][]storagedriver.Content, hole int) (rec, fill []byte) {
	isHole := func(i, j int) bool { return hole >= 0 && i == 0 && j == 0 }
	size := func(i, j int, c storagedriver.Content) int {
		if isHole(i, j) {
			return hole
		}
		return len(c.Data)
	}
	n := redoHeader + 4
	for i, l := range levels {
		n += 4
		for j, c := range l {
			n += 8 + len(c.Path) + size(i, j, c)
		}
	}
	b := make([]byte, redoHeader, n)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(levels)))
	for i, l := range levels {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(l)))
		for j, c := range l {
			b = binary.LittleEndian.AppendUint32(b, uint32(len(c.Path)))
			b = append(b, c.Path...)
			m := size(i, j, c)
			b = binary.LittleEndian.AppendUint32(b, uint32(m))
			if isHole(i, j) {
				fill = b[len(b) : len(b)+m]
				b = b[:len(b)+m]
				continue
			}
			b = append(b, c.Data...)
		}
	}
	return b, fill
}

// sealRecord fills the header of rec, from encodeRecord.
func sealRecord(rec []byte, epoch, seq uint64) {
	le := binary.LittleEndian
	le.PutUint32(rec[0:], redoMagic)
	le.PutUint32(rec[4:], uint32(len(rec)-redoHeader))
	le.PutUint64(rec[8:], epoch)
	le.PutUint64(rec[16:], seq)
	c := crc32.Update(0, crcTable, rec[4:24])
	le.PutUint32(rec[24:], crc32.Update(c, crcTable, rec[redoHeader:]))
	le.PutUint32(rec[28:], 0)
}

// redoRecord is a record read back.
type redoRecord struct {
	seq    uint64
	levels [][]storagedriver.Content
}

// readRecords returns the whole records at the start of b, a log file's
// content: those of the epoch of the first, in a row, each with the
// sequence number after the one before. It stops at the first that is
// not (zeros, a torn write, a record of an earlier use of the file).
func readRecords(b []byte) []redoRecord {
	le := binary.LittleEndian
	var out []redoRecord
	var epoch uint64
	for len(b) >= redoHeader {
		if le.Uint32(b[0:]) != redoMagic {
			break
		}
		n := int(le.Uint32(b[4:]))
		if n > len(b)-redoHeader || n < 4 {
			break
		}
		e, seq := le.Uint64(b[8:]), le.Uint64(b[16:])
		c := crc32.Update(0, crcTable, b[4:24])
		if crc32.Update(c, crcTable, b[redoHeader:redoHeader+n]) != le.Uint32(b[24:]) {
			break
		}
		if len(out) == 0 {
			epoch = e
		} else if e != epoch || seq != out[len(out)-1].seq+1 {
			break
		}
		levels, ok := decodeBody(b[redoHeader : redoHeader+n])
		if !ok {
			break
		}
		out = append(out, redoRecord{seq: seq, levels: levels})
		b = b[redoHeader+n:]
	}
	return out
}

func decodeBody(b []byte) ([][]storagedriver.Content, bool) {
	le := binary.LittleEndian
	next := func() (uint32, bool) {
		if len(b) < 4 {
			return 0, false
		}
		v := le.Uint32(b)
		b = b[4:]
		return v, true
	}
	bytes := func() ([]byte, bool) {
		n, ok := next()
		if !ok || uint64(n) > uint64(len(b)) {
			return nil, false
		}
		v := b[:n:n]
		b = b[n:]
		return v, true
	}
	nl, ok := next()
	if !ok {
		return nil, false
	}
	var levels [][]storagedriver.Content
	for range nl {
		nf, ok := next()
		if !ok {
			return nil, false
		}
		var l []storagedriver.Content
		for range nf {
			p, ok1 := bytes()
			data, ok2 := bytes()
			if !ok1 || !ok2 || storagedriver.CheckPath(string(p)) != nil {
				return nil, false
			}
			l = append(l, storagedriver.Content{Path: string(p), Data: data})
		}
		levels = append(levels, l)
	}
	return levels, len(b) == 0
}

// place puts c in place without waiting for the disk: tmp, when not "",
// is a file already holding c.Data, renamed to c's path (and left to the
// caller when that fails); else a temporary file is written beside the
// path first. A directory removed meanwhile is made again, with the
// content written again when tmp went with it.
func (d *driver) place(c storagedriver.Content, tmp string) error {
	dst := d.full(c.Path)
	dir := filepath.Dir(dst)
	own := tmp == ""
	var err error
	for range retries {
		if tmp == "" {
			if tmp, err = d.stage(dir, c.Data); err != nil {
				return err
			}
			own = true
		} else if _, err = d.mkdirs(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
			break
		}
		if err = rename(tmp, dst); err == nil {
			return nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			break
		}
		if _, serr := os.Lstat(tmp); notExist(serr) {
			tmp = "" // it went with its directory: written again
		}
	}
	if own && tmp != "" {
		_ = os.Remove(tmp)
	}
	return err
}

// placeLevels places the files of levels in order, a level whole before
// the next: tmps[i][j], when there, is a file already holding levels[i][j].
//
// Share files of a level with equal content are one inode: the first is
// written to a temporary file, hard-linked to the others' paths, then
// renamed into place (shareTwins). A link costs one system call where a
// file of its own costs four (create, write, close, rename) and an inode;
// a manifest's revision and tag index links are such twins. A twin whose
// link fails (its path exists, say) is placed as a file of its own.
func (d *driver) placeLevels(levels [][]storagedriver.Content, tmps [][]string) error {
	for i, l := range levels {
		var linked []bool // by index in l: placed as a twin's link
		for j, c := range l {
			if linked != nil && linked[j] {
				continue
			}
			var tmp string
			if i < len(tmps) && j < len(tmps[i]) {
				tmp = tmps[i][j]
			}
			own := false
			if tmp == "" && c.Share {
				tmp, linked = d.shareTwins(l, j, linked)
				own = tmp != ""
			}
			// A file staged just now is beside its path: renamed at once,
			// without place's mkdirs, unless its directory went meanwhile.
			if own && rename(tmp, d.full(c.Path)) == nil {
				continue
			}
			if err := d.place(c, tmp); err != nil {
				if own {
					_ = os.Remove(tmp)
				}
				return err
			}
		}
	}
	return nil
}

// shareTwins writes l[j] to a temporary file beside its path and links it
// to the paths of the Share files after it in l with equal content, when
// there are any; it returns the file ("" when there are none or it could
// not be written: l[j] is then placed as usual) and linked, made when nil,
// with the twins it linked marked.
func (d *driver) shareTwins(l []storagedriver.Content, j int, linked []bool) (string, []bool) {
	c := l[j]
	var twins []int
	for k := j + 1; k < len(l); k++ {
		if l[k].Share && (linked == nil || !linked[k]) && bytes.Equal(l[k].Data, c.Data) {
			twins = append(twins, k)
		}
	}
	if len(twins) == 0 {
		return "", linked
	}
	tmp, err := d.stage(filepath.Dir(d.full(c.Path)), c.Data)
	if err != nil {
		return "", linked
	}
	if linked == nil {
		linked = make([]bool, len(l))
	}
	for _, k := range twins {
		dst := d.full(l[k].Path)
		for range retries {
			if _, err = d.mkdirs(filepath.Dir(dst)); err == nil {
				err = os.Link(tmp, dst)
			}
			// ENOENT: a directory pruned meanwhile, made again.
			if !errors.Is(err, fs.ErrNotExist) {
				break
			}
		}
		linked[k] = err == nil
	}
	return tmp, linked
}

// contentPaths returns the paths of levels.
func contentPaths(levels [][]storagedriver.Content) []string {
	var ps []string
	for _, l := range levels {
		for _, c := range l {
			ps = append(ps, c.Path)
		}
	}
	return ps
}
