package ui

import (
	"fmt"
	"html/template"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
)

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }

var funcs = template.FuncMap{
	"size":    humanSize,
	"ago":     ago,
	"iso":     func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"short":   shortDigest,
	"percent": func(n, of int64) int64 { return n * 100 / max(of, 1) },
	"join":    strings.Join,
	"urlq":    func(kv ...string) template.URL { return template.URL(query(kv...)) }, // escaped by query
	"add":     func(a, b int) int { return a + b },
}

// humanSize writes n bytes in binary units: 0 B, 512 B, 1.5 KiB, 23 MiB.
func humanSize(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	units := []string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	f := float64(n) / 1024
	i := 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	if f < 10 {
		return fmt.Sprintf("%.1f %s", f, units[i])
	}
	return fmt.Sprintf("%.0f %s", f, units[i])
}

// ago writes how long ago t was, roughly: "just now", "5 minutes ago",
// "3 days ago", or the date for more than a year; "never" for zero.
func ago(t time.Time) string { return agoAt(t, time.Now()) }

func agoAt(t, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	plural := func(n int, unit string) string {
		if n == 1 {
			return "1 " + unit + " ago"
		}
		return fmt.Sprintf("%d %ss ago", n, unit)
	}
	switch {
	case d < 0:
		return t.UTC().Format("2006-01-02 15:04 UTC")
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return plural(int(d/time.Minute), "minute")
	case d < 24*time.Hour:
		return plural(int(d/time.Hour), "hour")
	case d < 30*24*time.Hour:
		return plural(int(d/(24*time.Hour)), "day")
	case d < 365*24*time.Hour:
		return plural(int(d/(30*24*time.Hour)), "month")
	}
	return t.UTC().Format("2006-01-02")
}

// shortDigest is the algorithm and the first 12 hex digits.
func shortDigest(d digest.Digest) string {
	s := d.String()
	if i := strings.IndexByte(s, ':'); i >= 0 && len(s) > i+13 {
		return s[:i+13]
	}
	return s
}
