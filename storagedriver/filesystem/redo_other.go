//go:build !linux

package filesystem

import "github.com/berth-registry/berth/storagedriver"

// redo is the redo log, Linux only (redo_linux.go): elsewhere every
// durable write waits for its own fsyncs.
type redo struct{}

type redoWrite struct{}

const (
	redoDir       = "+redo"
	redoCommitMax = 0
)

func openRedo(*driver) (*redo, error) { return nil, nil }

func joinRedo(string) (int, error) { return -1, nil }

func (r *redo) begin([][]storagedriver.Content) (*redoWrite, error) { return nil, nil }

func (w *redoWrite) done() {}

func (r *redo) fence(...string) (func(), error) { return func() {}, nil }

func (r *redo) write([]byte, []string) (*redoWrite, error) { return nil, nil }
