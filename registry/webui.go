package registry

import (
	"context"
	"net/http"
	"net/http/httptest"

	"github.com/berth-registry/berth/registry/storage/repometa"
	"github.com/gorilla/mux"
)

// What the web UI (registry/ui) reads of the app: it serves pages from the
// app's store and makes its changes through the app's own handlers, so
// that read-only mode, deletes being off, immutable tags and
// notifications apply to them as to the API.

// Store is the app's store, with its copy of the metadata records.
func (a *App) Store() *repometa.Store { return a.store }

// DeletesEnabled reports whether manifests and tags may be deleted
// (deletes enabled, not read-only).
func (a *App) DeletesEnabled() bool { return a.opts.deleteEnabled && !a.opts.readOnly }

// Prefix is http.prefix, under which every route is served.
func (a *App) Prefix() string { return a.opts.prefix }

// DeleteAs deletes ref (a tag, or a digest) of repository name on behalf
// of user, whom the caller has authorized for delete on name, through
// the API's handler: it answers as DELETE /v2/<name>/manifests/<ref>
// would (an *Error with its OCI code and status when refused).
func (a *App) DeleteAs(r *http.Request, user, name, ref string) error {
	switch {
	case a.opts.readOnly:
		return newError(codeUnsupported, "the registry is in read-only mode")
	case !a.opts.deleteEnabled:
		return newError(codeUnsupported, "deletes are disabled on this registry")
	}
	ri := &requestInfo{user: user}
	ctx := context.WithValue(r.Context(), requestInfoKey{}, ri)
	req := mux.SetURLVars(r.Clone(ctx), map[string]string{"name": name, "reference": ref})
	req.Method = http.MethodDelete
	return a.deleteManifest(httptest.NewRecorder(), req)
}

// Usage is the usage report of every namespace the quotas cover (GET
// /berth/v1/usage), from a walk of the storage.
func (a *App) Usage(ctx context.Context) ([]NamespaceUsage, error) {
	set, err := a.policies()
	if err != nil {
		return nil, err
	}
	report, _, err := UsageReport(ctx, a.store.Store, set, "", &a.quota.sizes)
	return report, err
}

// ErrorStatus is the HTTP status and OCI code the API answers err with.
func ErrorStatus(err error) (int, string) {
	c := classify(err)
	return c.status, c.code
}
