package registry

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/berth-registry/berth/registry/notify"
)

// codeParameterInvalid answers a query parameter that does not parse.
var codeParameterInvalid = errorCode{"UNSUPPORTED", http.StatusBadRequest}

// deleteRepository serves DELETE /berth/v1/repositories/<name>[?force=true]
// (administrators only, and only with deletes enabled): the repository's
// tags, manifests and links go, its blobs stay for garbage collection
// (storage.DeleteRepository). 202 with a JSON summary {"repository",
// "tags", "manifests"}; 400 NAME_INVALID; 404 NAME_UNKNOWN; 403 DENIED
// when it has an immutable tag (policies.immutable) and force is not set;
// 503 UNAVAILABLE while the policies cannot be read (unless forced).
// Webhooks get a delete event naming the repository only.
func (a *App) deleteRepository(w http.ResponseWriter, r *http.Request) error {
	name, err := repoName(r)
	if err != nil {
		return err
	}
	force := false
	if s := r.URL.Query().Get("force"); s != "" {
		if force, err = strconv.ParseBool(s); err != nil {
			return newError(codeParameterInvalid, "force=%q: want true or false", s)
		}
	}
	guard, err := a.tagGuard(name)
	if force {
		guard, err = nil, nil
	}
	if err != nil {
		return err
	}
	del, err := a.store.DeleteRepository(r.Context(), name, guard)
	if err != nil {
		return err
	}
	a.store.NoteRepositoryDeleted(name)
	a.log.InfoContext(r.Context(), "repository deleted", "repository", name, "tags", del.Tags, "manifests", del.Manifests, "force", force)
	// Distribution's event for a repository deleted: action delete, the
	// target naming the repository only.
	if err := a.notifyChange(r, a.event(r, notify.ActionDelete, notify.Target{Repository: name})); err != nil {
		return err
	}
	b, err := json.Marshal(del)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_, _ = w.Write(b)
	return nil
}
