package proxy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"testing"
)

// TestSpoolReaders: readers that start before, during and after the
// writer all read the whole content; none sees the last byte before
// finish; a reader can seek and read ahead of the writer.
func TestSpoolReaders(t *testing.T) {
	for _, size := range []int64{-1, 1000} {
		content := bytes.Repeat([]byte("0123456789"), 100)
		s, err := newSpool(t.TempDir(), size)
		if err != nil {
			t.Fatal(err)
		}
		ctx := t.Context()
		var wg sync.WaitGroup
		read := func(r *spoolReader) {
			defer r.Close()
			got, err := io.ReadAll(r)
			if err != nil || !bytes.Equal(got, content) {
				t.Errorf("size %d: reader got %d bytes, %v", size, len(got), err)
			}
		}
		early := s.open(ctx)
		wg.Go(func() { read(early) })
		ahead := s.open(ctx)
		if size >= 0 {
			if _, err := ahead.Seek(-10, io.SeekEnd); err != nil {
				t.Fatal(err)
			}
		}
		tail := make(chan []byte, 1)
		wg.Go(func() {
			defer ahead.Close()
			b, _ := io.ReadAll(ahead)
			tail <- b
		})
		_, _ = s.Write(content[:500])
		middle := s.open(ctx)
		wg.Go(func() { read(middle) })
		_, _ = s.Write(content[500:])
		// Everything but the last byte is readable before finish.
		peek := s.open(ctx)
		buf := make([]byte, len(content))
		n, _ := io.ReadAtLeast(peek, buf, len(content)-1)
		if n != len(content)-1 {
			t.Errorf("size %d: %d bytes readable before finish, want %d", size, n, len(content)-1)
		}
		peek.Close()
		s.finish(nil)
		late := s.open(ctx)
		wg.Go(func() { read(late) })
		wg.Wait()
		if b := <-tail; size >= 0 && !bytes.Equal(b, content[len(content)-10:]) {
			t.Errorf("reader seeked ahead of the writer got %q", b)
		}
		s.release()
		if s.users != 0 {
			t.Errorf("size %d: %d uses left", size, s.users)
		}
		if _, err := s.f.Stat(); err == nil {
			t.Errorf("size %d: spool file still open", size)
		}
	}
}

// TestSpoolFailure: a failed writer's error reaches readers in place of
// the held-back last byte; a reader's context ends its wait.
func TestSpoolFailure(t *testing.T) {
	s, err := newSpool(t.TempDir(), 4)
	if err != nil {
		t.Fatal(err)
	}
	defer s.release()
	_, _ = s.Write([]byte("abcd"))
	r := s.open(t.Context())
	defer r.Close()
	done := make(chan struct{})
	var got []byte
	var rerr error
	go func() {
		got, rerr = io.ReadAll(r)
		close(done)
	}()
	bad := errors.New("content does not match")
	s.finish(bad)
	<-done
	if string(got) != "abc" || !errors.Is(rerr, bad) {
		t.Errorf("read %q, %v; want abc and the writer's error", got, rerr)
	}

	s2, err := newSpool(t.TempDir(), -1)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.release()
	ctx, cancel := context.WithCancel(t.Context())
	r2 := s2.open(ctx)
	defer r2.Close()
	cancel()
	if _, err := r2.Read(make([]byte, 1)); !errors.Is(err, context.Canceled) {
		t.Errorf("read with an ended context: %v", err)
	}
	if _, err := r2.Seek(0, io.SeekEnd); err == nil {
		t.Error("seek from the end of a spool of unknown size succeeded")
	}
}
