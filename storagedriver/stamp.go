package storagedriver

import (
	"context"
	"time"
)

// StampSlack bounds how much earlier than the storage's present time a
// record written by a Stamper may look: its modification time is earlier
// than the time Stamp returned at by less than StampSlack, never later.
// The garbage collector's ages allow for it (registry/storage, doc.go).
const StampSlack = time.Second

// Stamper is an optional capability of a driver that can write a record
// whose content nobody reads and whose modification time is all that
// counts (the garbage collector's relying and used records) more cheaply
// than PutContent does: the filesystem driver links one inode, made at
// most every StampSlack/4 per process, instead of creating a file.
//
// Stamp writes a file at path, replacing what is there atomically, on the
// terms of a PutContent under a Volatile context: seen at once by every
// reader, not durable. Its content is a timestamp. It returns the file's
// modification time as a Stat would report it, which is not after the
// storage's present time when Stamp returns and earlier than it by less
// than StampSlack. errors.ErrUnsupported when the driver cannot (a
// wrapper over a driver without the capability, a filesystem without the
// means): the caller then writes the record with PutContent.
type Stamper interface {
	Stamp(ctx context.Context, path string) (time.Time, error)
}

// Stamper returns the Stamp of a driver whose backend has one.
func (b *Base) Stamper(be Stamper) BaseStamper { return BaseStamper{be} }

// BaseStamper is Base's Stamp, for a driver to embed.
type BaseStamper struct{ be Stamper }

// Stamp checks p and ctx, then calls the backend's Stamp.
func (s BaseStamper) Stamp(ctx context.Context, p string) (time.Time, error) {
	if err := CheckArgs(ctx, p); err != nil {
		return time.Time{}, err
	}
	return s.be.Stamp(ctx, p)
}
