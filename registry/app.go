package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/berth-registry/berth/internal/oci"
	"github.com/berth-registry/berth/internal/reqid"
	"github.com/berth-registry/berth/registry/health"
	"github.com/berth-registry/berth/registry/storage"
	"github.com/berth-registry/berth/registry/storage/repometa"
	"github.com/berth-registry/berth/storagedriver"
)

// App is the registry's HTTP handler.
type App struct {
	store  *repometa.Store // the storage, with the metadata records the web UI lists
	opts   options
	log    *slog.Logger
	router *mux.Router
	fast   []fastRoute   // the routes ServeHTTP matches without the router
	v2     string        // the path prefix of the API: the prefix and "/v2/"
	quota  *quotaTracker // usage of the namespaces quotas cover (quota.go)
}

var _ http.Handler = (*App)(nil)

// New builds an App over drv. It checks that the storage answers, so that a
// misconfigured backend stops start-up rather than the first request.
func New(ctx context.Context, drv storagedriver.Driver, opts ...Option) (*App, error) {
	o := options{indexPlatforms: "all"}
	for _, opt := range opts {
		opt(&o)
	}
	if o.logger == nil {
		o.logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	v, err := validation(o)
	if err != nil {
		return nil, err
	}
	if _, err := drv.List(ctx, "/"); err != nil && !errors.Is(err, storagedriver.ErrPathNotFound) {
		return nil, fmt.Errorf("storage %s: %w", drv.Name(), err)
	}
	store := repometa.New(storage.New(drv, storage.WithValidation(v), storage.WithGCGrace(o.gcGrace), storage.WithBlobDescriptorCache(o.blobCache), storage.WithClock(o.clock),
		storage.WithMemCache(o.memCache.get())))
	a := &App{
		store: store,
		opts:  o,
		log:   reqid.Logger(o.logger),
	}
	a.quota = newQuotaTracker(a.store.Store, o.clock)
	a.v2 = a.path("/v2/")
	a.router = a.routes()
	if o.pullFlush <= 0 {
		o.pullFlush = storage.PullFlushInterval
	}
	go a.store.FlushPullsEvery(ctx, o.pullFlush, func(err error) { a.log.Error("last-pulled times", "err", err) })
	go a.store.FlushMetaEvery(ctx, repometa.MetaFlushInterval, func(err error) { a.log.Error("repository metadata", "err", err) })
	return a, nil
}

// FlushPulls writes the pulls this node saw and has not written yet. The
// app does every WithPullFlushInterval until New's context ends; call it
// once more after the server stopped, so a clean stop loses no pull.
func (a *App) FlushPulls(ctx context.Context) error { return a.store.FlushPulls(ctx) }

// FlushMeta writes the repository metadata records (last push, size) this
// node changed and has not written yet; like FlushPulls, call it after the
// server stopped.
func (a *App) FlushMeta(ctx context.Context) error { return a.store.FlushMeta(ctx) }

// handlerFunc is a handler that returns its error instead of writing it.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// write marks a route that changes content: refused in read-only mode.
const (
	read = iota
	write
	remove // also refused unless deletes are enabled
)

// routes is the whole API in one table. Names may contain "/", so the name
// pattern is greedy; handlers validate it and answer NAME_INVALID. Each
// route says what it changes (kind) and what the caller needs (need).
func (a *App) routes() *mux.Router {
	r := mux.NewRouter()
	r.SkipClean(true) // a path with ".." is refused as an invalid name, not redirected
	const name = "/v2/{name:.+}"
	// The route names, Distribution's where it has the route, are the
	// "route" label of the HTTP metrics: bounded, unlike paths.
	for _, rt := range []struct {
		route   string
		path    string
		methods []string
		kind    int
		need    need
		h       handlerFunc
	}{
		{routeBase, "/v2/", []string{"GET", "HEAD"}, read, needLogin, a.base},
		{routeCatalog, "/v2/_catalog", []string{"GET"}, read, needCatalog, a.catalog},
		{routeTags, name + "/tags/list", []string{"GET"}, read, needPull, a.tags},
		{routeManifest, name + "/manifests/{reference}", []string{"GET", "HEAD"}, read, needPull, a.getManifest},
		{routeManifest, name + "/manifests/{reference}", []string{"PUT"}, write, needPush, a.putManifest},
		{routeManifest, name + "/manifests/{reference}", []string{"DELETE"}, remove, needDelete, a.deleteManifest},
		{routeUpload, name + "/blobs/uploads/", []string{"POST"}, write, needPush, a.startUpload},
		{routeUploadChunk, name + "/blobs/uploads/{uuid}", []string{"GET"}, read, needPush, a.uploadStatus},
		{routeUploadChunk, name + "/blobs/uploads/{uuid}", []string{"PATCH"}, write, needPush, a.patchUpload},
		{routeUploadChunk, name + "/blobs/uploads/{uuid}", []string{"PUT"}, write, needPush, a.putUpload},
		{routeUploadChunk, name + "/blobs/uploads/{uuid}", []string{"DELETE"}, write, needPush, a.cancelUpload},
		{routeBlob, name + "/blobs/{digest}", []string{"GET", "HEAD"}, read, needPull, a.getBlob},
		{routeBlob, name + "/blobs/{digest}", []string{"DELETE"}, remove, needDelete, a.deleteBlob},
		{routeReferrers, name + "/referrers/{digest}", []string{"GET"}, read, needPull, a.referrers},
		{routeUsage, UsagePath, []string{"GET"}, read, needAdmin, a.usage},
		{routeRepository, "/berth/v1/repositories/{name:.+}", []string{"DELETE"}, remove, needAdmin, a.deleteRepository},
	} {
		route := r.NewRoute()
		if lit := literalAfterName(rt.path); lit != "" {
			route = route.MatcherFunc(pathContains(lit))
		}
		h := a.instrument(rt.route, a.wrap(rt.kind, rt.need, rt.h))
		route.Path(a.path(rt.path)).Handler(h).Methods(rt.methods...)
		if fastRoutes[rt.route] && rt.methods[0] != http.MethodDelete {
			a.fast = append(a.fast, newFastRoute(strings.TrimPrefix(rt.path, name), rt.methods, h, route))
		}
	}
	if a.opts.health != nil {
		// Never behind access control: load balancers probe without
		// credentials.
		r.HandleFunc("/healthz", health.Live).Methods("GET", "HEAD")
		r.HandleFunc("/readyz", a.opts.health.Ready).Methods("GET", "HEAD")
	}
	if a.opts.tokenServer != nil {
		r.Handle(a.path(TokenPath), a.instrument(routeToken, a.countTokens(a.opts.tokenServer))).Methods("GET", "POST")
	}
	r.NotFoundHandler = a.instrument(routeNotFound, a.wrap(read, needNothing, func(w http.ResponseWriter, r *http.Request) error {
		return newError(codeNotFound, "no such endpoint: %s", r.URL.Path)
	}))
	r.MethodNotAllowedHandler = a.instrument(routeMethodNotAllowed, a.wrap(read, needNothing, func(w http.ResponseWriter, r *http.Request) error {
		return newError(codeUnsupported, "method %s not allowed on %s", r.Method, r.URL.Path)
	}))
	return r
}

// literalAfterName is the fixed text that follows the name in a route's
// path ("/manifests/" in "/v2/{name:.+}/manifests/{reference}"), "" when
// none does.
func literalAfterName(path string) string {
	_, rest, ok := strings.Cut(path, "{name:.+}")
	if !ok {
		return ""
	}
	if i := strings.IndexByte(rest, '{'); i >= 0 {
		rest = rest[:i]
	}
	return rest
}

// pathContains matches a request whose path holds lit. Placed before a
// route's path pattern, it turns most requests away without the pattern:
// mux tries the routes in turn, and each greedy name pattern backtracks
// over the whole path, which was half the CPU of a warm manifest GET and
// more of a blob HEAD (its route comes late). It never refuses a path
// the pattern would accept, which holds lit.
func pathContains(lit string) mux.MatcherFunc {
	return func(r *http.Request, _ *mux.RouteMatch) bool { return strings.Contains(r.URL.Path, lit) }
}

// fastRoutes are the routes that ServeHTTP matches itself, before the
// router (but their DELETEs): the GET and HEAD of a manifest and of a
// blob, which a warm node answers from its caches (issue 14 asks for 2 ms
// at the p50 with S3 20 ms away), and the requests of a push (manifest
// PUT, upload POST, PATCH and PUT). mux matches a route with its regular
// expression twice, once to match and once to take the variables, each
// backtracking over the path from its greedy name: that was half the CPU
// of a warm manifest GET, and 2% of a push storm's, where most of the
// rest is the kernel's.
var fastRoutes = map[string]bool{routeManifest: true, routeBlob: true, routeUpload: true, routeUploadChunk: true}

// fastRoute is a fast route: its path is <prefix>/v2/<name><suffix>/<value>,
// where the value is the variable varName, or empty when there is none
// (an upload's POST, whose path ends in "/").
type fastRoute struct {
	methods []string
	suffix  string // "/manifests", "/blobs" or "/blobs/uploads"
	varName string // "reference", "digest", "uuid" or ""
	h       http.Handler
	route   *mux.Route // the router's, for the test that they agree
}

// newFastRoute is the fast route of a route whose path, after the name,
// is rest ("/manifests/{reference}", "/blobs/uploads/").
func newFastRoute(rest string, methods []string, h http.Handler, route *mux.Route) fastRoute {
	f := fastRoute{methods: methods, h: h, route: route}
	if seg, v, ok := strings.Cut(rest, "/{"); ok {
		f.suffix, f.varName = seg, strings.TrimSuffix(v, "}")
	} else {
		f.suffix = strings.TrimSuffix(rest, "/")
	}
	return f
}

// fastMatch is the fast route r takes and its variables, as mux would
// find them; nil when it takes none, and the router decides. It takes a
// route only where mux takes the same: one of the route's methods, a path
// that is "/v2/" (after the prefix), a name of at least one character
// without a newline (the pattern's ".+"), the route's suffix, "/", and a
// last segment of at least one character (the variable's "[^/]+"), or
// none for a route without a variable. A path that ends in a fast route's
// suffix and segment ends in no other route's of the same method before
// it in the table: those of the routes with a variable differ in the
// segment before the last ("manifests", "blobs", "uploads"; "tags" of
// "/tags/list"), and the upload POST's is the only path ending in "/".
func (a *App) fastMatch(r *http.Request) (http.Handler, routeVars) {
	rest, ok := strings.CutPrefix(r.URL.Path, a.v2)
	i := strings.LastIndexByte(rest, '/')
	if !ok || i < 0 {
		return nil, routeVars{}
	}
	value := rest[i+1:]
	for _, f := range a.fast {
		if (value == "") != (f.varName == "") || !slices.Contains(f.methods, r.Method) {
			continue
		}
		name, ok := strings.CutSuffix(rest[:i], f.suffix)
		if ok && name != "" && strings.IndexByte(name, '\n') < 0 {
			return f.h, routeVars{name: name, key: f.varName, value: value}
		}
	}
	return nil, routeVars{}
}

// routeVars are the variables of a fast route: the name, and the one
// after it (the reference or the digest). ServeHTTP keeps them in the
// request's requestInfo rather than in a map in a context of mux's (a
// map, a context and a copy of the request fewer); routeVar reads either.
type routeVars struct{ name, key, value string }

// routeVar is r's route variable k: the fast route's when ServeHTTP took
// one, else the router's.
func routeVar(r *http.Request, k string) string {
	if ri, ok := r.Context().Value(requestInfoKey{}).(*requestInfo); ok && ri.vars.name != "" {
		switch k {
		case "name":
			return ri.vars.name
		case ri.vars.key:
			return ri.vars.value
		}
		return ""
	}
	return mux.Vars(r)[k]
}

// wrap applies the common rules of every route, access control first, and
// writes a returned error.
func (a *App) wrap(kind int, n need, h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r, err := a.authorize(r, n)
		a.countAuth(r, n, err)
		switch {
		case err != nil:
		case kind != read && a.opts.readOnly:
			err = newError(codeUnsupported, "the registry is in read-only mode")
		case kind == write && a.refusePush(r) != nil:
			err = a.refusePush(r)
		case kind == remove && !a.opts.deleteEnabled:
			err = newError(codeUnsupported, "deletes are disabled on this registry")
		default:
			err = h(w, r)
		}
		if err != nil {
			a.writeError(w, r, err)
		}
	})
}

// ServeHTTP implements http.Handler. What it keeps for the request
// (requestInfo, the status writer, the values of the headers it sets) is
// one allocation, and the request is copied once, with one context that
// holds the id and the requestInfo: a 4 KiB range GET is a few
// microseconds of the registry's own work, and every allocation is also
// garbage to collect (GOGC=50, see cmd/registry).
func (a *App) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ri := &requestInfo{}
	ri.sw.ResponseWriter = w
	h := w.Header()
	h["Docker-Distribution-Api-Version"] = ri.value("registry/2.0")
	for k, vs := range a.opts.headers {
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	id := requestID(r)
	h[RequestIDHeader] = ri.value(id)
	r = r.WithContext(context.WithValue(reqid.With(r.Context(), id), requestInfoKey{}, ri))
	sw := &ri.sw
	if !a.opts.accessLogOff {
		defer a.logRequest(sw, r, ri, time.Now())
	}
	if h, vars := a.fastMatch(r); h != nil {
		ri.vars = vars
		h.ServeHTTP(sw, r)
		return
	}
	a.router.ServeHTTP(sw, r)
}

func (a *App) base(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", "2")
	if r.Method == http.MethodGet {
		_, _ = io.WriteString(w, "{}")
	}
	return nil
}

func validation(o options) (storage.Validation, error) {
	v := storage.Validation{Indexes: o.indexPlatforms, SkipLayers: o.skipLayers, URLs: o.manifestURLs}
	switch o.indexPlatforms {
	case "", "all", "none":
	case "list":
		for _, p := range o.platformList {
			pl, err := oci.ParsePlatform(p)
			if err != nil {
				return v, err
			}
			v.Platforms = append(v.Platforms, pl)
		}
	default:
		return v, fmt.Errorf("index platform validation %q: want all, none or list", o.indexPlatforms)
	}
	return v, nil
}
