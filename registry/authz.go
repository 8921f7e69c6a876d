package registry

import (
	"context"
	"net/http"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/registry/storage"
)

// TokenPath is where the built-in token server is served (WithTokenServer).
const TokenPath = "/auth/token"

// need is what a route asks of the caller when access control is on.
type need int

const (
	needNothing need = iota // no credentials (unknown endpoints)
	needLogin               // valid credentials (GET /v2/)
	needCatalog             // registry:catalog:*
	needPull                // pull on the route's repository
	needPush                // pull and push on it, as Distribution asks; a mount with from= also pull on from
	needDelete              // delete on it
	needAdmin               // registry:admin:* (the /berth/v1/ administrator endpoints)
)

type grantKey struct{}

// grantOf is the caller's grant on a request that passed authorize; nil
// without access control, which MayList and PullsAll read as "everything".
func grantOf(ctx context.Context) *auth.Grant {
	g, _ := ctx.Value(grantKey{}).(*auth.Grant)
	return g
}

// authorize asks the configured Authorizer for what route need wants of
// r, and returns r carrying the caller's grant.
func (a *App) authorize(r *http.Request, n need) (*http.Request, error) {
	if a.opts.auth == nil || n == needNothing {
		return r, nil
	}
	g, err := a.opts.auth.Authorize(r.Context(), r, wanted(r, n)...)
	if err != nil {
		return r, err
	}
	if g != nil {
		setRequestUser(r.Context(), g.Subject)
	}
	return r.WithContext(context.WithValue(r.Context(), grantKey{}, g)), nil
}

// wanted lists the accesses a request needs. A repository name that is not
// valid asks for no access, only valid credentials: the handler then
// answers NAME_INVALID without touching storage.
func wanted(r *http.Request, n need) []auth.Access {
	name := routeVar(r, "name")
	if n >= needPull && n <= needDelete && storage.CheckName(name) != nil {
		return nil
	}
	switch n {
	case needCatalog:
		return []auth.Access{auth.Catalog}
	case needAdmin:
		return []auth.Access{auth.Admin}
	case needPull:
		return auth.Repository(name, auth.ActionPull)
	case needPush:
		as := auth.Repository(name, auth.ActionPull, auth.ActionPush)
		q := r.URL.Query()
		if from := q.Get("from"); q.Get("mount") != "" && from != "" && from != name && storage.CheckName(from) == nil {
			as = append(as, auth.Repository(from, auth.ActionPull)...)
		}
		return as
	case needDelete:
		return auth.Repository(name, auth.ActionDelete)
	}
	return nil
}
