package observed

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/berth-registry/berth/storagedriver"
)

// Observer is told of every operation once it has ended. It must be safe
// for concurrent use and cheap: it runs on every storage request.
type Observer interface {
	StorageOp(driver, op string, elapsed time.Duration, err error)
}

// Operation names, the values of the "operation" label.
const (
	OpGetContent   = "get_content"
	OpPutContent   = "put_content"
	OpReader       = "reader"
	OpWriter       = "writer"
	OpWriterCommit = "writer_commit"
	OpWriterCancel = "writer_cancel"
	OpStat         = "stat"
	OpList         = "list"
	OpMove         = "move"
	OpDelete       = "delete"
	OpWalk         = "walk"
	OpOpen         = "open"
	OpRedirectURL  = "redirect_url"
	OpPurgePending = "purge_pending"
)

// Driver is the wrapper. Its zero value is not usable; see Wrap.
type Driver struct {
	d   storagedriver.Driver
	obs Observer
}

var _ storagedriver.Driver = (*Driver)(nil)

// Capabilities a driver may have beyond storagedriver.Driver, as bits.
const (
	canWalk     = 1 << iota // storagedriver.Walker
	canOpen                 // storagedriver.Opener
	canRedirect             // storagedriver.Redirector
	canPurge                // storagedriver.PendingPurger
)

// Wrap returns d reporting to obs, with d's optional capabilities and no
// other.
func Wrap(d storagedriver.Driver, obs Observer) storagedriver.Driver {
	return withCaps(&Driver{d: d, obs: obs}, capsOf(d))
}

// capsOf is the capabilities d has.
func capsOf(d storagedriver.Driver) int {
	caps := 0
	for bit, ok := range [...]bool{
		has[storagedriver.Walker](d), has[storagedriver.Opener](d),
		has[storagedriver.Redirector](d), has[storagedriver.PendingPurger](d),
	} {
		if ok {
			caps |= 1 << bit
		}
	}
	return caps
}

func has[T any](d storagedriver.Driver) bool {
	_, ok := d.(T)
	return ok
}

// withCaps is o with exactly the capabilities caps: o and, embedded, the
// part of each capability. Go cannot add methods to a value at run time,
// and a capability the wrapped driver lacks must stay absent, so each
// combination is a type of its own; the parts hold the methods. The
// cases go in the order of caps as a number.
func withCaps(o *Driver, caps int) storagedriver.Driver {
	wk, on, rd, pp := walker{o}, opener{o}, redirector{o}, purger{o}
	switch caps {
	case canWalk:
		return struct {
			*Driver
			walker
		}{o, wk}
	case canOpen:
		return struct {
			*Driver
			opener
		}{o, on}
	case canWalk | canOpen:
		return struct {
			*Driver
			walker
			opener
		}{o, wk, on}
	case canRedirect:
		return struct {
			*Driver
			redirector
		}{o, rd}
	case canWalk | canRedirect:
		return struct {
			*Driver
			walker
			redirector
		}{o, wk, rd}
	case canOpen | canRedirect:
		return struct {
			*Driver
			opener
			redirector
		}{o, on, rd}
	case canWalk | canOpen | canRedirect:
		return struct {
			*Driver
			walker
			opener
			redirector
		}{o, wk, on, rd}
	case canPurge:
		return struct {
			*Driver
			purger
		}{o, pp}
	case canWalk | canPurge:
		return struct {
			*Driver
			walker
			purger
		}{o, wk, pp}
	case canOpen | canPurge:
		return struct {
			*Driver
			opener
			purger
		}{o, on, pp}
	case canWalk | canOpen | canPurge:
		return struct {
			*Driver
			walker
			opener
			purger
		}{o, wk, on, pp}
	case canRedirect | canPurge:
		return struct {
			*Driver
			redirector
			purger
		}{o, rd, pp}
	case canWalk | canRedirect | canPurge:
		return struct {
			*Driver
			walker
			redirector
			purger
		}{o, wk, rd, pp}
	case canOpen | canRedirect | canPurge:
		return struct {
			*Driver
			opener
			redirector
			purger
		}{o, on, rd, pp}
	case canWalk | canOpen | canRedirect | canPurge:
		return struct {
			*Driver
			walker
			opener
			redirector
			purger
		}{o, wk, on, rd, pp}
	}
	return o
}

// Unwrap returns the wrapped driver.
func (o *Driver) Unwrap() storagedriver.Driver { return o.d }

func (o *Driver) done(op string, start time.Time, err error) {
	o.obs.StorageOp(o.d.Name(), op, time.Since(start), err)
}

// Name is the wrapped driver's.
func (o *Driver) Name() string { return o.d.Name() }

// String is the wrapped driver's description when it has one (the S3
// driver names its bucket), else its name.
func (o *Driver) String() string {
	if s, ok := o.d.(interface{ String() string }); ok {
		return s.String()
	}
	return o.d.Name()
}

// GetContent reports the wrapped driver's GetContent.
func (o *Driver) GetContent(ctx context.Context, path string) ([]byte, error) {
	start := time.Now()
	b, err := o.d.GetContent(ctx, path)
	o.done(OpGetContent, start, err)
	return b, err
}

// PutContent reports the wrapped driver's PutContent.
func (o *Driver) PutContent(ctx context.Context, path string, content []byte) error {
	start := time.Now()
	err := o.d.PutContent(ctx, path, content)
	o.done(OpPutContent, start, err)
	return err
}

// Reader reports the time to open the stream; reading it is the caller's.
func (o *Driver) Reader(ctx context.Context, path string, offset int64) (io.ReadCloser, error) {
	start := time.Now()
	rc, err := o.d.Reader(ctx, path, offset)
	o.done(OpReader, start, err)
	return rc, err
}

// Writer reports the time to open the writer, and the returned writer
// reports its Commit and Cancel. Writes themselves are not timed one by
// one: they are the caller's streaming, and the HTTP metrics count them.
func (o *Driver) Writer(ctx context.Context, path string, append bool) (storagedriver.FileWriter, error) {
	start := time.Now()
	w, err := o.d.Writer(ctx, path, append)
	o.done(OpWriter, start, err)
	if err != nil {
		return nil, err
	}
	return &fileWriter{FileWriter: w, o: o}, nil
}

// Stat reports the wrapped driver's Stat.
func (o *Driver) Stat(ctx context.Context, path string) (storagedriver.FileInfo, error) {
	start := time.Now()
	fi, err := o.d.Stat(ctx, path)
	o.done(OpStat, start, err)
	return fi, err
}

// StatFile reports the wrapped driver's StatFile, or its Stat when it has
// none (storagedriver.StatFile), as a stat.
func (o *Driver) StatFile(ctx context.Context, path string) (storagedriver.FileInfo, error) {
	start := time.Now()
	fi, err := storagedriver.StatFile(ctx, o.d, path)
	o.done(OpStat, start, err)
	return fi, err
}

// List reports the wrapped driver's List.
func (o *Driver) List(ctx context.Context, path string) ([]string, error) {
	start := time.Now()
	l, err := o.d.List(ctx, path)
	o.done(OpList, start, err)
	return l, err
}

// Move reports the wrapped driver's Move.
func (o *Driver) Move(ctx context.Context, src, dst string) error {
	start := time.Now()
	err := o.d.Move(ctx, src, dst)
	o.done(OpMove, start, err)
	return err
}

// Delete reports the wrapped driver's Delete.
func (o *Driver) Delete(ctx context.Context, path string) error {
	start := time.Now()
	err := o.d.Delete(ctx, path)
	o.done(OpDelete, start, err)
	return err
}

type fileWriter struct {
	storagedriver.FileWriter
	o *Driver
}

func (w *fileWriter) Commit(ctx context.Context) error {
	start := time.Now()
	err := w.FileWriter.Commit(ctx)
	w.o.done(OpWriterCommit, start, err)
	return err
}

// CommitTo passes storagedriver.Relocator through, reported as a commit;
// errors.ErrUnsupported when the wrapped writer is no Relocator.
func (w *fileWriter) CommitTo(ctx context.Context, dst string) error {
	r, ok := w.FileWriter.(storagedriver.Relocator)
	if !ok {
		return errors.ErrUnsupported
	}
	start := time.Now()
	err := r.CommitTo(ctx, dst)
	w.o.done(OpWriterCommit, start, err)
	return err
}

// CommitToWith passes storagedriver.RelocatorWith through, with the
// files staged through o unwrapped, reported as a commit.
func (w *fileWriter) CommitToWith(ctx context.Context, dst string, staged ...storagedriver.Staged) error {
	r, ok := w.FileWriter.(storagedriver.RelocatorWith)
	if !ok {
		return errors.ErrUnsupported
	}
	inner := make([]storagedriver.Staged, len(staged))
	for i, s := range staged {
		inner[i] = unwrapStaged(s)
	}
	start := time.Now()
	err := r.CommitToWith(ctx, dst, inner...)
	if !errors.Is(err, errors.ErrUnsupported) {
		w.o.done(OpWriterCommit, start, err)
	}
	return err
}

func (w *fileWriter) Cancel(ctx context.Context) error {
	start := time.Now()
	err := w.FileWriter.Cancel(ctx)
	w.o.done(OpWriterCancel, start, err)
	return err
}

// ReadFrom keeps the wrapped writer's ReadFrom (S3's reads straight into
// its part buffer) for io.Copy.
func (w *fileWriter) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := w.FileWriter.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{w.FileWriter}, r)
}

// SetState and State pass storagedriver.StateKeeper through; a writer
// without it keeps no state, and SetState says so.
func (w *fileWriter) SetState(b []byte) bool {
	if k, ok := w.FileWriter.(storagedriver.StateKeeper); ok {
		return k.SetState(b)
	}
	return false
}

func (w *fileWriter) State() []byte {
	if k, ok := w.FileWriter.(storagedriver.StateKeeper); ok {
		return k.State()
	}
	return nil
}

// OpenSized is the wrapped driver's (storagedriver.SizedOpener), or its
// Open when it has only that; errors.ErrUnsupported when it has neither,
// and the caller reads with Reader.
func (o *Driver) OpenSized(ctx context.Context, path string, size int64) (io.ReadSeekCloser, error) {
	start := time.Now()
	var f io.ReadSeekCloser
	var err error
	switch d := o.d.(type) {
	case storagedriver.SizedOpener:
		f, err = d.OpenSized(ctx, path, size)
	case storagedriver.Opener:
		f, err = d.Open(ctx, path)
	default:
		return nil, errors.ErrUnsupported
	}
	o.done(OpOpen, start, err)
	return f, err
}

// PendingActivity is the wrapped driver's
// (storagedriver.PendingActivity); none when it has none.
func (o *Driver) PendingActivity(ctx context.Context, path string) (time.Time, bool, error) {
	if a, ok := o.d.(storagedriver.PendingActivity); ok {
		return a.PendingActivity(ctx, path)
	}
	return time.Time{}, false, nil
}

// Create is the wrapped driver's (storagedriver.Creator), its writer
// reported as Writer's are; errors.ErrUnsupported when it has none.
func (o *Driver) Create(ctx context.Context, path string) (storagedriver.FileWriter, error) {
	c, ok := o.d.(storagedriver.Creator)
	if !ok {
		return nil, errors.ErrUnsupported
	}
	start := time.Now()
	w, err := c.Create(ctx, path)
	o.done(OpWriter, start, err)
	if err != nil {
		return nil, err
	}
	return &fileWriter{FileWriter: w, o: o}, nil
}

// Stamp is the wrapped driver's (storagedriver.Stamper), reported as a
// PutContent; errors.ErrUnsupported when it has none.
func (o *Driver) Stamp(ctx context.Context, path string) (time.Time, error) {
	st, ok := o.d.(storagedriver.Stamper)
	if !ok {
		return time.Time{}, errors.ErrUnsupported
	}
	start := time.Now()
	m, err := st.Stamp(ctx, path)
	if !errors.Is(err, errors.ErrUnsupported) {
		o.done(OpPutContent, start, err)
	}
	return m, err
}

// StartPending is the wrapped driver's (storagedriver.PendingStarter),
// reported as a Writer; errors.ErrUnsupported when it has none.
func (o *Driver) StartPending(ctx context.Context, path string) error {
	ps, ok := o.d.(storagedriver.PendingStarter)
	if !ok {
		return errors.ErrUnsupported
	}
	start := time.Now()
	err := ps.StartPending(ctx, path)
	if !errors.Is(err, errors.ErrUnsupported) {
		o.done(OpWriter, start, err)
	}
	return err
}

// PutContents is the wrapped driver's (storagedriver.Batcher), reported as
// a PutContent per file, each taking the whole call's time;
// errors.ErrUnsupported when it has none or cannot now.
func (o *Driver) PutContents(ctx context.Context, levels ...[]storagedriver.Content) error {
	b, ok := o.d.(storagedriver.Batcher)
	if !ok {
		return errors.ErrUnsupported
	}
	start := time.Now()
	err := b.PutContents(ctx, levels...)
	if !errors.Is(err, errors.ErrUnsupported) {
		for _, level := range levels {
			for range level {
				o.done(OpPutContent, start, err)
			}
		}
	}
	return err
}

// Stage is the wrapped driver's (storagedriver.Stager); the Publish of
// what it returns is reported as a PutContent. errors.ErrUnsupported when
// it has none or cannot now.
func (o *Driver) Stage(ctx context.Context, path string, content []byte) (storagedriver.Staged, error) {
	st, ok := o.d.(storagedriver.Stager)
	if !ok {
		return nil, errors.ErrUnsupported
	}
	s, err := st.Stage(ctx, path, content)
	if err != nil {
		return nil, err
	}
	return &staged{Staged: s, o: o}, nil
}

type staged struct {
	storagedriver.Staged
	o *Driver
}

// unwrapStaged returns the wrapped driver's Staged behind s.
func unwrapStaged(s storagedriver.Staged) storagedriver.Staged {
	if st, ok := s.(*staged); ok {
		return st.Staged
	}
	return s
}

func (s *staged) Publish(ctx context.Context) error {
	start := time.Now()
	err := s.Staged.Publish(ctx)
	s.o.done(OpPutContent, start, err)
	return err
}

// The optional capabilities, each a type of its own so that Wrap can
// compose exactly those of the wrapped driver.
type (
	walker     struct{ o *Driver }
	opener     struct{ o *Driver }
	redirector struct{ o *Driver }
	purger     struct{ o *Driver }
)

// Walk reports the whole walk, the callback's time included.
func (c walker) Walk(ctx context.Context, path string, fn storagedriver.WalkFunc) error {
	start := time.Now()
	err := c.o.d.(storagedriver.Walker).Walk(ctx, path, fn)
	c.o.done(OpWalk, start, err)
	return err
}

// Open returns the wrapped driver's file as is (an *os.File on the
// filesystem driver, for sendfile).
func (c opener) Open(ctx context.Context, path string) (io.ReadSeekCloser, error) {
	start := time.Now()
	f, err := c.o.d.(storagedriver.Opener).Open(ctx, path)
	c.o.done(OpOpen, start, err)
	return f, err
}

func (c redirector) RedirectURL(ctx context.Context, method, path string) (string, error) {
	start := time.Now()
	u, err := c.o.d.(storagedriver.Redirector).RedirectURL(ctx, method, path)
	c.o.done(OpRedirectURL, start, err)
	return u, err
}

func (c purger) PurgePending(ctx context.Context, olderThan time.Time, dryRun bool) (int, int64, error) {
	start := time.Now()
	n, b, err := c.o.d.(storagedriver.PendingPurger).PurgePending(ctx, olderThan, dryRun)
	c.o.done(OpPurgePending, start, err)
	return n, b, err
}

// Sync is the wrapped driver's (storagedriver.Syncer), or nothing when it
// has none.
func (o *Driver) Sync(ctx context.Context) error {
	return storagedriver.Sync(ctx, o.d)
}
