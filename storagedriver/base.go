package storagedriver

import (
	"context"
	"io"
	"time"
)

// Base is the front every driver of Berth puts before its backend. It
// checks each call's arguments before the backend sees them: the path with
// CheckPath (CheckDir where the root is allowed: Stat, List, Walk), both
// paths of a Move, then the context. A backend is thus only ever called
// with valid paths and a live context, and a bad path is refused with
// exactly the same error (ErrInvalidPath wrapped with the path) whichever
// the driver. Base is also the one place every operation of every driver
// passes, where per-operation hooks (metrics, tracing) belong. The
// registry's metrics (storagedriver/observed) still wrap the finished
// driver from outside, so that they see any Driver, test drivers included,
// and count a refused path as a failed operation.
//
// A driver embeds the *Base NewBase makes around its backend and, for each
// optional capability the backend has, what Base's Walker, Opener,
// Redirector or Purger returns, so that it offers exactly the capabilities
// of its backend:
//
//	type Driver struct {
//		*storagedriver.Base
//		storagedriver.BaseWalker
//	}
//
//	func New() *Driver {
//		be := &backend{}
//		b := storagedriver.NewBase(be)
//		return &Driver{Base: b, BaseWalker: b.Walker(be)}
//	}
type Base struct {
	be Driver
}

// NewBase returns the front of backend be, whose methods it calls only
// with arguments that passed its checks.
func NewBase(be Driver) *Base { return &Base{be: be} }

// Name is the backend's.
func (b *Base) Name() string { return b.be.Name() }

// GetContent checks p and ctx, then calls the backend's GetContent.
func (b *Base) GetContent(ctx context.Context, p string) ([]byte, error) {
	if err := CheckArgs(ctx, p); err != nil {
		return nil, err
	}
	return b.be.GetContent(ctx, p)
}

// PutContent checks p and ctx, then calls the backend's PutContent.
func (b *Base) PutContent(ctx context.Context, p string, content []byte) error {
	if err := CheckArgs(ctx, p); err != nil {
		return err
	}
	return b.be.PutContent(ctx, p, content)
}

// Reader checks p and ctx, then calls the backend's Reader, which checks
// the offset.
func (b *Base) Reader(ctx context.Context, p string, offset int64) (io.ReadCloser, error) {
	if err := CheckArgs(ctx, p); err != nil {
		return nil, err
	}
	return b.be.Reader(ctx, p, offset)
}

// Writer checks p and ctx, then calls the backend's Writer.
func (b *Base) Writer(ctx context.Context, p string, appendTo bool) (FileWriter, error) {
	if err := CheckArgs(ctx, p); err != nil {
		return nil, err
	}
	return b.be.Writer(ctx, p, appendTo)
}

// Stat checks p (the root allowed) and ctx, then calls the backend's Stat.
func (b *Base) Stat(ctx context.Context, p string) (FileInfo, error) {
	if err := CheckDirArgs(ctx, p); err != nil {
		return FileInfo{}, err
	}
	return b.be.Stat(ctx, p)
}

// List checks p (the root allowed) and ctx, then calls the backend's List.
func (b *Base) List(ctx context.Context, p string) ([]string, error) {
	if err := CheckDirArgs(ctx, p); err != nil {
		return nil, err
	}
	return b.be.List(ctx, p)
}

// Move checks src, ctx and dst, then calls the backend's Move.
func (b *Base) Move(ctx context.Context, src, dst string) error {
	if err := CheckArgs(ctx, src); err != nil {
		return err
	}
	if err := CheckPath(dst); err != nil {
		return err
	}
	return b.be.Move(ctx, src, dst)
}

// Delete checks p and ctx, then calls the backend's Delete.
func (b *Base) Delete(ctx context.Context, p string) error {
	if err := CheckArgs(ctx, p); err != nil {
		return err
	}
	return b.be.Delete(ctx, p)
}

// Walker returns the Walk of a driver whose backend has one, be (the
// backend given to NewBase).
func (b *Base) Walker(be Walker) BaseWalker { return BaseWalker{be} }

// Opener returns the Open of a driver whose backend has one.
func (b *Base) Opener(be Opener) BaseOpener { return BaseOpener{be} }

// Redirector returns the RedirectURL of a driver whose backend has one.
func (b *Base) Redirector(be Redirector) BaseRedirector { return BaseRedirector{be} }

// Purger returns the PurgePending of a driver whose backend has one.
func (b *Base) Purger(be PendingPurger) BasePurger { return BasePurger{be} }

// BaseWalker is Base's Walk, for a driver to embed.
type BaseWalker struct{ be Walker }

// Walk checks p (the root allowed) and ctx, then calls the backend's Walk.
func (w BaseWalker) Walk(ctx context.Context, p string, fn WalkFunc) error {
	if err := CheckDirArgs(ctx, p); err != nil {
		return err
	}
	return w.be.Walk(ctx, p, fn)
}

// BaseOpener is Base's Open, for a driver to embed.
type BaseOpener struct{ be Opener }

// Open checks p and ctx, then calls the backend's Open.
func (o BaseOpener) Open(ctx context.Context, p string) (io.ReadSeekCloser, error) {
	if err := CheckArgs(ctx, p); err != nil {
		return nil, err
	}
	return o.be.Open(ctx, p)
}

// BaseRedirector is Base's RedirectURL, for a driver to embed.
type BaseRedirector struct{ be Redirector }

// RedirectURL checks p and ctx, then calls the backend's RedirectURL.
func (r BaseRedirector) RedirectURL(ctx context.Context, method, p string) (string, error) {
	if err := CheckArgs(ctx, p); err != nil {
		return "", err
	}
	return r.be.RedirectURL(ctx, method, p)
}

// Activity returns the PendingActivity of a driver whose backend has one.
func (b *Base) Activity(be PendingActivity) BaseActivity { return BaseActivity{be} }

// BaseActivity is Base's PendingActivity, for a driver to embed.
type BaseActivity struct{ be PendingActivity }

// PendingActivity checks p and ctx, then calls the backend's
// PendingActivity.
func (a BaseActivity) PendingActivity(ctx context.Context, p string) (time.Time, bool, error) {
	if err := CheckArgs(ctx, p); err != nil {
		return time.Time{}, false, err
	}
	return a.be.PendingActivity(ctx, p)
}

// BasePurger is Base's PurgePending, for a driver to embed. It has no path
// to check: the backend checks its context as it goes.
type BasePurger struct{ be PendingPurger }

// PurgePending calls the backend's PurgePending.
func (p BasePurger) PurgePending(ctx context.Context, olderThan time.Time, dryRun bool) (int, int64, error) {
	return p.be.PurgePending(ctx, olderThan, dryRun)
}
