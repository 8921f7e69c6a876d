package iox

import (
	"context"
	"io"
)

// ContextReader stops a copy between reads once ctx ends, for bodies whose
// transport does not watch ctx itself.
func ContextReader(ctx context.Context, r io.Reader) io.Reader { return ctxReader{ctx, r} }

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// ProgressWriter reports every write's size to Fn (when not nil).
type ProgressWriter struct {
	W  io.Writer
	Fn func(n int)
}

// Write writes b to W and reports what it wrote.
func (p *ProgressWriter) Write(b []byte) (int, error) {
	n, err := p.W.Write(b)
	if p.Fn != nil && n > 0 {
		p.Fn(n)
	}
	return n, err
}

// ProgressReader reports every read's size to Fn.
type ProgressReader struct {
	R  io.Reader
	Fn func(n int)
}

// Read reads from R and reports what it read.
func (p *ProgressReader) Read(b []byte) (int, error) {
	n, err := p.R.Read(b)
	if n > 0 {
		p.Fn(n)
	}
	return n, err
}

// CountWriter counts the bytes written through it to W.
type CountWriter struct {
	W io.Writer
	N int64
}

// Write writes p to W and counts what it wrote.
func (c *CountWriter) Write(p []byte) (int, error) {
	n, err := c.W.Write(p)
	c.N += int64(n)
	return n, err
}
