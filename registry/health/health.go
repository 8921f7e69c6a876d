package health

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/berth-registry/berth/storagedriver"
)

// Distribution's defaults for every check of the health section.
const (
	DefaultInterval  = 10 * time.Second
	DefaultThreshold = 1
)

// Check is the latest verdict of one background check.
type Check interface {
	// Err is nil while the check passes.
	Err() error
}

// StorageCheck probes a storage driver and is unhealthy once threshold
// probes in a row have failed, as Distribution's threshold updater is.
type StorageCheck struct {
	*Poller
	drv  storagedriver.Driver
	path string // written then read back; "" probes with Stat only
}

// NewStorageCheck watches drv. A writable registry proves both directions
// by writing a small file at /berth/v1/health/<node> and reading it back;
// node names this instance, so that several sharing a bucket do not race
// on one file. A read-only registry (readOnly) must not need write access
// to its storage, so it only lists the layout's root.
func NewStorageCheck(drv storagedriver.Driver, node string, threshold int, readOnly bool, log *slog.Logger) *StorageCheck {
	c := &StorageCheck{drv: drv}
	if !readOnly {
		c.path = "/berth/v1/health/" + segment(node)
	}
	c.Poller = NewPoller("storage", drv.Name(), c.probe, threshold, 0, log)
	return c
}

// segment makes a host name a valid path component of the storage layout.
func segment(node string) string {
	var b strings.Builder
	for _, r := range node {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		case r >= 'A' && r <= 'Z':
			b.WriteRune(r - 'A' + 'a')
		default:
			b.WriteByte('-')
		}
		if b.Len() >= 64 {
			break
		}
	}
	if b.Len() == 0 {
		return "node"
	}
	return b.String()
}

// probe writes the check's file and reads it back, or, read-only, stats
// the root, which must be a directory (a filesystem root gone or replaced
// fails here), and the layout's top (absent is fine: the storage answered;
// an object store answers the root without a request, so this is the
// probe that reaches it).
func (c *StorageCheck) probe(ctx context.Context) error {
	if c.path == "" {
		fi, err := c.drv.Stat(ctx, "/")
		if err == nil && !fi.IsDir {
			err = errors.New("the root is not a directory")
		}
		if err == nil {
			_, err = c.drv.Stat(ctx, "/docker")
			if errors.Is(err, storagedriver.ErrPathNotFound) {
				err = nil
			}
		}
		if err != nil {
			return fmt.Errorf("storage %s: %w", c.drv.Name(), err)
		}
		return nil
	}
	want := []byte(time.Now().UTC().Format(time.RFC3339Nano))
	if err := c.drv.PutContent(ctx, c.path, want); err != nil {
		return fmt.Errorf("storage %s: write: %w", c.drv.Name(), err)
	}
	got, err := c.drv.GetContent(ctx, c.path)
	if err != nil {
		return fmt.Errorf("storage %s: read back: %w", c.drv.Name(), err)
	}
	if string(got) != string(want) {
		return fmt.Errorf("storage %s: read back %q, wrote %q", c.drv.Name(), got, want)
	}
	return nil
}

// Checks is a set of named checks.
type Checks map[string]Check

// Failing maps the name of every failing check to its error.
func (cs Checks) Failing() map[string]string {
	out := map[string]string{}
	for name, c := range cs {
		if err := c.Err(); err != nil {
			out[name] = err.Error()
		}
	}
	return out
}

// Live answers /healthz: 200 as long as the process serves requests.
func Live(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, r, http.StatusOK, map[string]string{"status": "ok"})
}

// Ready answers /readyz: 200 when every check passes, else 503 naming the
// failing checks. It runs on the public listener without authentication,
// so it tells which check fails but not its error, which may name
// internal endpoints; /debug/health on the debug listener and the log
// have the errors.
func (cs Checks) Ready(w http.ResponseWriter, r *http.Request) {
	failing := cs.Failing()
	if len(failing) == 0 {
		writeJSON(w, r, http.StatusOK, map[string]any{"status": "ready"})
		return
	}
	checks := map[string]string{}
	for name := range failing {
		checks[name] = "failing"
	}
	writeJSON(w, r, http.StatusServiceUnavailable, map[string]any{"status": "unavailable", "checks": checks})
}

// Status answers Distribution's /debug/health: a JSON object mapping each
// failing check to its error, {} and 200 when all pass, 503 otherwise.
// Distribution answers only GET (404 otherwise); HEAD is also answered,
// without a body.
func (cs Checks) Status(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.NotFound(w, r)
		return
	}
	failing := cs.Failing()
	status := http.StatusOK
	if len(failing) > 0 {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, r, status, failing)
}

func writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	body, _ := json.Marshal(v) // maps of strings always marshal
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", fmt.Sprint(len(body)))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}
