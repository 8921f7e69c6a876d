package registry

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/registry/notify"
	"github.com/berth-registry/berth/registry/storage"
)

// getManifest serves GET and HEAD /v2/<name>/manifests/<reference>: 200 with
// the stored bytes, their media type as Content-Type and
// Docker-Content-Digest; 304 for a matching If-None-Match; 400 NAME_INVALID,
// TAG_INVALID or DIGEST_INVALID; 404 MANIFEST_UNKNOWN; in a pull-through
// cache's repository also 503 UNAVAILABLE (see WithPullThrough).
func (a *App) getManifest(w http.ResponseWriter, r *http.Request) error {
	name, err := repoName(r)
	if err != nil {
		return err
	}
	ref := routeVar(r, "reference")
	m, err := a.manifest(r.Context(), name, ref)
	if err != nil {
		return err
	}
	if r.Method == http.MethodGet {
		a.store.RecordPull(name, m.Digest) // in memory; flushed in batches
	}
	h := w.Header()
	h.Set("Content-Type", m.MediaType)
	h.Set("Docker-Content-Digest", m.Digest.String())
	h.Set("Etag", `"`+m.Digest.String()+`"`)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(m.Payload))
	if a.opts.notifier == nil {
		return nil // no event to build
	}
	t := a.manifestTarget(r, name, m)
	if !storage.IsDigest(ref) {
		t.Tag = ref
	}
	a.notifyPull(r, t)
	return nil
}

// putManifest serves PUT /v2/<name>/manifests/<reference>[?tag=<tag>...]:
// 201 with Location, Docker-Content-Digest, OCI-Subject when the manifest
// has a subject and OCI-Tag for the tags applied; 400 NAME_INVALID,
// TAG_INVALID, DIGEST_INVALID (payload does not hash to the reference),
// MANIFEST_INVALID or MANIFEST_BLOB_UNKNOWN; 413 over 4 MiB; 403 DENIED
// over a quota (quota.go) or moving an immutable tag (policies.immutable);
// 503 UNAVAILABLE while the repository is being deleted or the policies
// cannot be read.
func (a *App) putManifest(w http.ResponseWriter, r *http.Request) error {
	name, err := repoName(r)
	if err != nil {
		return err
	}
	if r.ContentLength > storage.MaxManifestSize {
		return newError(codeTooLarge, "manifest of %d bytes exceeds %d", r.ContentLength, storage.MaxManifestSize)
	}
	payload, err := io.ReadAll(body{http.MaxBytesReader(w, r.Body, storage.MaxManifestSize)})
	if err != nil {
		return err
	}
	ref := routeVar(r, "reference")
	tags := r.URL.Query()["tag"]
	guard, err := a.tagGuard(name)
	if err != nil {
		return err
	}
	undo, err := a.chargeManifest(r.Context(), name, ref, r.Header.Get("Content-Type"), payload, tags)
	if err != nil {
		return err
	}
	m, err := a.store.PutManifestGuarded(r.Context(), name, ref, r.Header.Get("Content-Type"), payload, tags, guard)
	if err != nil {
		if undo != nil {
			undo()
		}
		return err
	}
	a.store.NoteManifestPut(r.Context(), name, ref, tags, m) // the UI's index (package storage/repometa)
	if err := a.notifyChange(r, a.manifestPushes(r, name, ref, tags, m)...); err != nil {
		return err
	}
	h := w.Header()
	h.Set("Location", a.location(fmt.Sprintf("/v2/%s/manifests/%s", name, m.Digest)))
	h.Set("Docker-Content-Digest", m.Digest.String())
	if m.Subject != "" {
		h.Set("OCI-Subject", m.Subject.String())
	}
	for _, t := range tags {
		h.Add("OCI-Tag", t)
	}
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
	return nil
}

// deleteManifest serves DELETE /v2/<name>/manifests/<reference>: a digest
// deletes the manifest and the tags pointing at it, a tag only the tag.
// 202; 400; 404 MANIFEST_UNKNOWN; 405 UNSUPPORTED when deletes are off;
// 403 DENIED for an immutable tag or a manifest one points at.
func (a *App) deleteManifest(w http.ResponseWriter, r *http.Request) error {
	name, err := repoName(r)
	if err != nil {
		return err
	}
	guard, err := a.tagGuard(name)
	if err != nil {
		return err
	}
	ref := routeVar(r, "reference")
	if err := a.store.DeleteManifestGuarded(r.Context(), name, ref, guard); err != nil {
		return err
	}
	a.store.NoteDeleted(name, ref)
	// Distribution's: a manifest's delete names its digest, a tag's its tag.
	t := notify.Target{Repository: name}
	if storage.IsDigest(ref) {
		t.Digest = digest.Digest(ref)
	} else {
		t.Tag = ref
	}
	if err := a.notifyChange(r, a.event(r, notify.ActionDelete, t)); err != nil {
		return err
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// manifestPushes are the events of a manifest's push: one per tag it was
// pushed with (the reference, when a tag, then the tag parameters), or one
// without a tag.
func (a *App) manifestPushes(r *http.Request, name, ref string, tags []string, m *storage.Manifest) []notify.Event {
	if !storage.IsDigest(ref) {
		tags = append([]string{ref}, tags...)
	}
	if len(tags) == 0 {
		return []notify.Event{a.event(r, notify.ActionPush, a.manifestTarget(r, name, m))}
	}
	var evs []notify.Event
	for _, tag := range tags {
		t := a.manifestTarget(r, name, m)
		t.Tag = tag
		evs = append(evs, a.event(r, notify.ActionPush, t))
	}
	return evs
}
