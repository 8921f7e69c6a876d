package main

import (
	"fmt"
	"io"
	"os"
	"sync"

	digest "github.com/opencontainers/go-digest"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/berth-registry/berth/hostagent"
)

// progress shows transfers on stderr: a bar per blob on a terminal (mpb),
// one line per start and end of a blob otherwise, nothing with --quiet.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	bars  map[digest.Digest]*mpb.Bar
	p     *mpb.Progress // nil when not on a terminal
	quiet bool
}

func (e *env) newProgress(op string) *progress {
	pr := &progress{w: e.stderr, bars: map[digest.Digest]*mpb.Bar{}, quiet: e.quiet}
	if !e.quiet && isTerminal(e.stderr) {
		pr.p = mpb.New(mpb.WithOutput(e.stderr), mpb.WithWidth(40))
	}
	return pr
}

// isTerminal reports whether w is a character device (a TTY).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func (pr *progress) event(ev hostagent.ProgressEvent) {
	if pr.quiet {
		return
	}
	pr.mu.Lock()
	defer pr.mu.Unlock()
	d := ev.Descriptor
	if pr.p == nil {
		pr.line(ev)
		return
	}
	switch ev.Kind {
	case hostagent.ProgressStart:
		bar := pr.p.AddBar(d.Size,
			mpb.PrependDecorators(decor.Name(shortDigest(d.Digest)+" "+ev.Action, decor.WCSyncSpaceR)),
			mpb.AppendDecorators(
				decor.OnComplete(decor.Counters(decor.SizeB1000(0), "% .1f / % .1f"), "done"),
				decor.OnComplete(decor.Percentage(decor.WCSyncSpace), ""),
			),
		)
		bar.SetCurrent(ev.Resumed)
		pr.bars[d.Digest] = bar
	case hostagent.ProgressAdvance:
		if bar := pr.bars[d.Digest]; bar != nil {
			bar.IncrInt64(ev.N)
		}
	case hostagent.ProgressDone:
		bar := pr.bars[d.Digest]
		delete(pr.bars, d.Digest)
		switch {
		case bar == nil:
			fmt.Fprintf(pr.p, "%s %s\n", shortDigest(d.Digest), doneWord(ev))
		case ev.Err != nil:
			bar.Abort(false)
		default:
			bar.SetTotal(-1, true)
		}
	}
}

// line prints the plain form of an event: starts and ends, not advances.
func (pr *progress) line(ev hostagent.ProgressEvent) {
	d := ev.Descriptor
	switch ev.Kind {
	case hostagent.ProgressStart:
		verb := map[string]string{"download": "downloading", "upload": "uploading"}[ev.Action]
		if ev.Resumed > 0 {
			fmt.Fprintf(pr.w, "%s %s: %s, resuming after %s\n", verb, shortDigest(d.Digest), humanSize(d.Size), humanSize(ev.Resumed))
		} else {
			fmt.Fprintf(pr.w, "%s %s: %s\n", verb, shortDigest(d.Digest), humanSize(d.Size))
		}
	case hostagent.ProgressDone:
		fmt.Fprintf(pr.w, "%s %s\n", shortDigest(d.Digest), doneWord(ev))
	}
}

func doneWord(ev hostagent.ProgressEvent) string {
	if ev.Err != nil {
		return "failed"
	}
	return map[string]string{
		"download": "downloaded", "upload": "uploaded",
		"exists": "already present", "mount": "mounted from another repository",
	}[ev.Action]
}

// wait ends the display: bars still open (a transfer cut short) are
// aborted, so that rendering stops.
func (pr *progress) wait() {
	if pr.p == nil {
		return
	}
	pr.mu.Lock()
	for d, bar := range pr.bars {
		bar.Abort(false)
		delete(pr.bars, d)
	}
	pr.mu.Unlock()
	pr.p.Wait()
}
