package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/berth-registry/berth/hostagent"
)

// saveSource is the agent save reads from. When every REF is installed,
// that is a. Otherwise (as Save-ContainerImage did) the missing ones are
// fetched from their registries into a temporary store, beside the output
// file, which the installed ones are copied into; the user's store is not
// changed. With noPull, a missing REF is an error that says to install it.
// cleanup removes the temporary store.
func (e *env) saveSource(ctx context.Context, a *hostagent.Agent, refs []string, out string, noPull bool, platform string) (*hostagent.Agent, func(), error) {
	var local, remote []string
	for _, ref := range refs {
		_, err := a.Inspect(ctx, ref)
		switch {
		case err == nil:
			local = append(local, ref)
		case errors.Is(err, hostagent.ErrNotFound) && noPull:
			return nil, nil, fmt.Errorf("image %q is not installed: install it first (or save without --no-pull to take it from its registry): %w", ref, hostagent.ErrNotFound)
		case errors.Is(err, hostagent.ErrNotFound):
			remote = append(remote, ref)
		default:
			return nil, nil, err
		}
	}
	if len(remote) == 0 {
		return a, func() {}, nil
	}
	dir := os.TempDir()
	if out != "-" {
		dir = filepath.Dir(out)
	}
	tmp, err := os.MkdirTemp(dir, ".hostagent-save-")
	if err != nil {
		return nil, nil, fmt.Errorf("save: temporary store: %w", err)
	}
	cleanup := func() { os.RemoveAll(tmp) }
	pr := e.newProgress("save")
	t, err := e.agentAt(tmp, hostagent.WithProgress(pr.event))
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	for _, ref := range remote {
		if !e.quiet {
			e.notices = append(e.notices, ref+" was not installed: saved it from its registry")
		}
		if _, err := t.Pull(ctx, ref, hostagent.PullOptions{Platform: platform}); err != nil {
			pr.wait()
			cleanup()
			return nil, nil, err
		}
	}
	pr.wait()
	if len(local) > 0 {
		pr, pw := io.Pipe()
		go func() {
			_, err := a.Save(ctx, pw, local, hostagent.SaveOptions{Platform: platform})
			pw.CloseWithError(err)
		}()
		_, err := t.LoadReader(ctx, pr, hostagent.LoadOptions{Force: true})
		pr.CloseWithError(err)
		if err != nil {
			cleanup()
			return nil, nil, fmt.Errorf("save: copy the installed images: %w", err)
		}
	}
	return t, cleanup, nil
}
