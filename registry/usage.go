package registry

import (
	"context"
	"net/http"
	"slices"

	"github.com/berth-registry/berth/registry/policy"
	"github.com/berth-registry/berth/registry/storage"
)

// routeUsage is the metrics route label of GET /berth/v1/usage.
const routeUsage = "berth_usage"

// UsagePath is the administrators' usage endpoint (needAdmin).
const UsagePath = "/berth/v1/usage"

// NamespaceUsage is the usage of one namespace and the quotas on it, as
// GET /berth/v1/usage and "registry usage --json" give it.
type NamespaceUsage struct {
	Namespace         string        `json:"namespace"` // "team/"
	Bytes             int64         `json:"bytes"`     // each distinct digest linked in it once
	Blobs             int           `json:"blobs"`     // how many distinct digests
	Repositories      int           `json:"repositories"`
	TagsMax           int           `json:"tagsmax"` // the most tags of one of its repositories
	TagsMaxRepository string        `json:"tagsmaxrepository,omitempty"`
	Quotas            []QuotaLimits `json:"quotas"` // those on exactly this namespace
}

// QuotaLimits is a quota as the usage report shows it; 0 is no limit.
type QuotaLimits struct {
	Key                  string `json:"key"` // "policies.quotas[0]"
	MaxBytes             int64  `json:"maxbytes,omitempty"`
	MaxRepositories      int    `json:"maxrepositories,omitempty"`
	MaxTagsPerRepository int    `json:"maxtagsperrepository,omitempty"`
}

// UsageReport walks the storage of s for the usage of each namespace the
// quotas of set cover, in the order written, or with prefix set (a
// namespace as policy.ParseNamespace takes it) of that one only. sizes
// may be nil.
func UsageReport(ctx context.Context, s *storage.Store, set *policy.Set, prefix string, sizes *storage.BlobSizes) ([]NamespaceUsage, []*storage.Usage, error) {
	var nss []string
	if prefix != "" {
		ns, err := policy.ParseNamespace(prefix)
		if err != nil {
			return nil, nil, newError(codeNameInvalid, "prefix: %v", err)
		}
		nss = []string{ns}
	} else {
		for _, q := range set.AllQuotas() {
			if !slices.Contains(nss, q.Namespace) {
				nss = append(nss, q.Namespace)
			}
		}
	}
	out := []NamespaceUsage{}
	var walks []*storage.Usage
	for _, ns := range nss {
		u, err := s.NamespaceUsage(ctx, ns, sizes)
		if err != nil {
			return nil, nil, err
		}
		walks = append(walks, u)
		n := NamespaceUsage{Namespace: ns + "/", Bytes: u.Bytes, Blobs: len(u.Blobs), Repositories: len(u.Tags), Quotas: []QuotaLimits{}}
		n.TagsMax, n.TagsMaxRepository = u.TagsMax()
		for _, q := range set.AllQuotas() {
			if q.Namespace == ns {
				n.Quotas = append(n.Quotas, QuotaLimits{Key: q.Key, MaxBytes: q.MaxBytes, MaxRepositories: q.MaxRepositories, MaxTagsPerRepository: q.MaxTagsPerRepository})
			}
		}
		out = append(out, n)
	}
	return out, walks, nil
}

// usage serves GET /berth/v1/usage[?prefix=<namespace>]: 200 with
// {"namespaces": [NamespaceUsage...]}, from a walk of the storage made for
// the request (which also refreshes this node's quota figures); 400
// NAME_INVALID for a bad prefix; 403 DENIED without registry:admin:*.
func (a *App) usage(w http.ResponseWriter, r *http.Request) error {
	set, err := a.policies()
	if err != nil {
		return err
	}
	q := r.URL.Query()
	prefix := q.Get("prefix")
	if q.Has("prefix") && prefix == "" {
		return newError(codeNameInvalid, "prefix: a namespace is required, e.g. prefix=team/")
	}
	report, walks, err := UsageReport(r.Context(), a.store.Store, set, prefix, &a.quota.sizes)
	if err != nil {
		return err
	}
	for _, u := range walks {
		if slices.ContainsFunc(set.AllQuotas(), func(q policy.QuotaLimit) bool { return q.Namespace == u.Namespace }) {
			a.quota.usageSnapshot(u.Namespace, u)
		}
	}
	return writeJSON(w, "application/json", struct {
		Namespaces []NamespaceUsage `json:"namespaces"`
	}{report})
}
