package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	digest "github.com/opencontainers/go-digest"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/berth-registry/berth/hostagent"
)

// progress shows transfers on stderr: a bar per blob on a terminal (mpb),
// with its rate and ETA; otherwise (a log, a CI job) a line at the start
// and end of each blob and, for a long one, a line every interval with
// the bytes moved and the rate; nothing with --quiet.
type progress struct {
	mu       sync.Mutex
	w        io.Writer
	bars     map[digest.Digest]*mpb.Bar
	p        *mpb.Progress // nil when not on a terminal
	quiet    bool
	interval time.Duration
	blobs    map[digest.Digest]*blobProgress // plain lines only
}

// blobProgress is what the plain lines know of one transfer.
type blobProgress struct {
	start, last time.Time
	done        int64 // bytes moved, resumed ones included
	resumed     int64
}

// defaultProgressInterval is how often a long transfer prints a line when
// stderr is no terminal; $HOSTAGENT_PROGRESS_INTERVAL (a Go duration)
// changes it.
const defaultProgressInterval = 5 * time.Second

func (e *env) newProgress(op string) *progress {
	pr := &progress{w: e.stderr, bars: map[digest.Digest]*mpb.Bar{}, quiet: e.quiet,
		interval: defaultProgressInterval, blobs: map[digest.Digest]*blobProgress{}}
	if d, err := time.ParseDuration(os.Getenv("HOSTAGENT_PROGRESS_INTERVAL")); err == nil && d > 0 {
		pr.interval = d
	}
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
				decor.OnComplete(decor.AverageSpeed(decor.SizeB1000(0), "% .1f", decor.WCSyncSpace), ""),
				decor.OnComplete(decor.Name(" ETA "), ""),
				decor.OnComplete(decor.AverageETA(decor.ET_STYLE_MMSS), ""),
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

// line prints the plain form of an event: starts and ends, and for a long
// transfer its bytes and rate every interval.
func (pr *progress) line(ev hostagent.ProgressEvent) {
	d := ev.Descriptor
	now := time.Now()
	switch ev.Kind {
	case hostagent.ProgressAdvance:
		b := pr.blobs[d.Digest]
		if b == nil {
			return
		}
		b.done += ev.N
		if now.Sub(b.last) < pr.interval {
			return
		}
		b.last = now
		pct := ""
		if d.Size > 0 {
			pct = fmt.Sprintf(" (%d%%)", b.done*100/d.Size)
		}
		fmt.Fprintf(pr.w, "%s %s: %s of %s%s, %s/s\n", ev.Action, shortDigest(d.Digest),
			humanSize(b.done), humanSize(d.Size), pct, humanSize(b.rate(now)))
		return
	case hostagent.ProgressStart:
		pr.blobs[d.Digest] = &blobProgress{start: now, last: now, done: ev.Resumed, resumed: ev.Resumed}
		verb := map[string]string{"download": "downloading", "upload": "uploading"}[ev.Action]
		if ev.Resumed > 0 {
			fmt.Fprintf(pr.w, "%s %s: %s, resuming after %s\n", verb, shortDigest(d.Digest), humanSize(d.Size), humanSize(ev.Resumed))
		} else {
			fmt.Fprintf(pr.w, "%s %s: %s\n", verb, shortDigest(d.Digest), humanSize(d.Size))
		}
	case hostagent.ProgressDone:
		b := pr.blobs[d.Digest]
		delete(pr.blobs, d.Digest)
		if b == nil || ev.Err != nil {
			fmt.Fprintf(pr.w, "%s %s\n", shortDigest(d.Digest), doneWord(ev))
			return
		}
		fmt.Fprintf(pr.w, "%s %s: %s in %s, %s/s\n", shortDigest(d.Digest), doneWord(ev),
			humanSize(b.done), now.Sub(b.start).Round(time.Millisecond), humanSize(b.rate(now)))
	}
}

// rate is the bytes per second moved since the start (resumed bytes were
// not).
func (b *blobProgress) rate(now time.Time) int64 {
	secs := now.Sub(b.start).Seconds()
	if secs <= 0 {
		return 0
	}
	return int64(float64(b.done-b.resumed) / secs)
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
