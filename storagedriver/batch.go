package storagedriver

import (
	"context"
	"errors"
	"sync"
)

// Content is one file of a PutContents: its path and its whole content.
//
// Share says that the file is never changed in place, only replaced or
// deleted (a link, whose content its path determines): a driver may then
// keep it as one file with the other Share files of equal Data in the
// same level, so that a change made in place to one would show in all.
// The filesystem driver hard-links them when it writes through its redo
// log, one inode for two or more files. Others ignore it.
type Content struct {
	Path  string
	Data  []byte
	Share bool
}

// Batcher is an optional capability of a driver that writes several files
// in fewer rounds of waiting than one PutContent each.
//
// PutContents writes every file of levels as PutContent would (atomically;
// durably unless ctx is Volatile), in the order of levels: no file of a
// level is seen, by a reader or after a crash, before every file of the
// levels before it is durable. Files of one level are in no order among
// themselves. An empty level costs nothing. On failure some files may be
// written, as when a sequence of PutContent calls fails half way: those of
// the levels before the failing one, and some of it.
//
// errors.ErrUnsupported when the driver cannot now (a wrapper over a
// driver without the capability, a filesystem whose group commit is off):
// the caller then writes the levels itself, which the function
// PutContents does.
//
// The filesystem driver, with group commit on, writes every level's
// content at once and makes it durable in one shared syncfs, then renames
// each level into place and waits for one more: 1 + levels waits, where
// a PutContent per file, level after level, costs 2 per level.
type Batcher interface {
	PutContents(ctx context.Context, levels ...[]Content) error
}

// PutContents writes levels to d as the Batcher's PutContents does, with
// d's own when it has one that can; else level after level, the files of
// a level by concurrent PutContent calls.
func PutContents(ctx context.Context, d Driver, levels ...[]Content) error {
	if b, ok := d.(Batcher); ok {
		if err := b.PutContents(ctx, levels...); !errors.Is(err, errors.ErrUnsupported) {
			return err
		}
	}
	for _, level := range levels {
		if err := putLevel(ctx, d, level); err != nil {
			return err
		}
	}
	return nil
}

// putLevel writes the files of level by concurrent PutContent calls and
// returns the first error, once every call has returned.
func putLevel(ctx context.Context, d Driver, level []Content) error {
	if len(level) == 1 {
		return d.PutContent(ctx, level[0].Path, level[0].Data)
	}
	errs := make([]error, len(level))
	var wg sync.WaitGroup
	for i, c := range level {
		wg.Go(func() { errs[i] = d.PutContent(ctx, c.Path, c.Data) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Batcher returns the PutContents of a driver whose backend has one.
func (b *Base) Batcher(be Batcher) BaseBatcher { return BaseBatcher{be} }

// BaseBatcher is Base's PutContents, for a driver to embed.
type BaseBatcher struct{ be Batcher }

// PutContents checks every path and ctx, then calls the backend's
// PutContents: a bad path writes nothing.
func (w BaseBatcher) PutContents(ctx context.Context, levels ...[]Content) error {
	for _, level := range levels {
		for _, c := range level {
			if err := CheckArgs(ctx, c.Path); err != nil {
				return err
			}
		}
	}
	return w.be.PutContents(ctx, levels...)
}

// Stager is an optional capability of a driver that can write a file's
// content ahead of showing it, so that the wait that makes the content
// durable is shared with the durable writes made in between.
//
// Stage writes content for path p where no reader sees it. The Staged's
// Publish then shows it at p as PutContent would have written it
// (atomically, durably on return), waiting less when a durable write of
// the same driver ended since Stage; Discard drops it. One of the two must
// be called, once. errors.ErrUnsupported when the driver cannot now: the
// function Stage then returns a Staged that writes with PutContent.
type Stager interface {
	Stage(ctx context.Context, p string, content []byte) (Staged, error)
}

// Staged is a file written ahead by Stage.
type Staged interface {
	Publish(ctx context.Context) error
	Discard()
}

// Stage stages content for p with d's Stager when it has one that can
// now; else it returns a Staged whose Publish is d's PutContent.
func Stage(ctx context.Context, d Driver, p string, content []byte) (Staged, error) {
	if st, ok := d.(Stager); ok {
		s, err := st.Stage(ctx, p, content)
		if !errors.Is(err, errors.ErrUnsupported) {
			return s, err
		}
	}
	return &later{d: d, p: p, content: content}, nil
}

// later is the Staged of a driver without a Stager: all is done at
// Publish.
type later struct {
	d       Driver
	p       string
	content []byte
}

func (l *later) Publish(ctx context.Context) error { return l.d.PutContent(ctx, l.p, l.content) }
func (l *later) Discard()                          {}

// Stager returns the Stage of a driver whose backend has one.
func (b *Base) Stager(be Stager) BaseStager { return BaseStager{be} }

// BaseStager is Base's Stage, for a driver to embed.
type BaseStager struct{ be Stager }

// Stage checks p and ctx, then calls the backend's Stage.
func (s BaseStager) Stage(ctx context.Context, p string, content []byte) (Staged, error) {
	if err := CheckArgs(ctx, p); err != nil {
		return nil, err
	}
	return s.be.Stage(ctx, p, content)
}

// Syncer is an optional capability of a driver whose Delete is not durable
// when it returns (the filesystem: a removal is a change of a directory,
// written back some time later).
//
// Sync returns once every Delete that returned before the call is
// durable: a crash of the machine after Sync keeps none of what they
// removed. A caller that deletes in an order a crash must keep (a tag
// before the manifest it names, a link before its blob), or that
// acknowledges a deletion, calls it between the steps and before the
// answer.
type Syncer interface {
	Sync(ctx context.Context) error
}

// Sync makes d's past deletions durable (Syncer). A driver without the
// capability deletes durably already (object stores, memory).
func Sync(ctx context.Context, d Driver) error {
	if s, ok := d.(Syncer); ok {
		return s.Sync(ctx)
	}
	return nil
}
