package iox

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestContextReaderStops(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	r := ContextReader(ctx, strings.NewReader("abcdef"))
	buf := make([]byte, 2)
	if n, err := r.Read(buf); n != 2 || err != nil {
		t.Fatalf("read before cancel: %d, %v", n, err)
	}
	cancel()
	if _, err := r.Read(buf); !errors.Is(err, context.Canceled) {
		t.Fatalf("read after cancel: %v, want context.Canceled", err)
	}
}

func TestProgressAndCount(t *testing.T) {
	var seen int
	var out bytes.Buffer
	cw := &CountWriter{W: &out}
	pw := &ProgressWriter{W: cw, Fn: func(n int) { seen += n }}
	pr := &ProgressReader{R: strings.NewReader("hello, world"), Fn: func(n int) { seen += n }}
	if _, err := io.Copy(pw, pr); err != nil {
		t.Fatal(err)
	}
	if out.String() != "hello, world" || cw.N != 12 || seen != 24 {
		t.Errorf("out %q, counted %d, reported %d; want the text, 12, 24", out.String(), cw.N, seen)
	}
}
