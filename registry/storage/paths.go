package storage

import (
	"path"
	"strconv"

	"github.com/opencontainers/go-digest"
)

// The storage layout. Everything under /docker/registry/v2 is CNCF
// Distribution's layout, so that either registry serves what the other wrote;
// /berth/v1 holds Berth-only data that can be rebuilt from the shared layout.
//
//	/docker/registry/v2/
//	├── blobs/<alg>/<first 2 hex>/<hex>/data           content, by digest
//	└── repositories/<name>/
//	    ├── _layers/<alg>/<hex>/link                    blob linked into the repository
//	    ├── _manifests/
//	    │   ├── revisions/<alg>/<hex>/link              manifest stored in the repository
//	    │   └── tags/<tag>/
//	    │       ├── current/link                        digest the tag points to
//	    │       └── index/<alg>/<hex>/link              every digest the tag pointed to
//	    └── _uploads/<id>/
//	        ├── data                                    bytes received so far
//	        ├── startedat                               RFC 3339 start time
//	        └── hashstates/<alg>/<offset>               hash state after offset bytes
//	/berth/v1/
//	├── repositories/<name>/_referrers/<subject alg>/<subject hex>/<alg>/<hex>
//	│                                                   descriptor of a manifest whose
//	│                                                   subject is the given digest
//	├── repositories/<name>/_pushed/tags/<tag>          {"digest","pushed"}: when the tag was
//	│                                                   last written, by the node's clock
//	├── repositories/<name>/_pushed/manifests/<alg>/<hex>
//	│                                                   when the manifest was last put
//	├── repositories/<name>/_pulled/<alg>/<hex>         when the manifest was last pulled
//	│                                                   (flushed in batches, pulls.go)
//	├── repositories/<name>/_untagging/<tag>/<run id>   a retention run is deleting the tag
//	│                                                   (retention.go)
//	├── catalog/                                        the repository index (repoindex.go)
//	│   ├── names/<name, "/" as "..">                   one marker per repository
//	│   ├── long/<name>/_repo                           marker of a name too long for one segment
//	│   ├── generation                                  rewritten after every marker change
//	│   ├── meta/<name>/_meta                           the repository's metadata record
//	│   │                                               (package repometa)
//	│   └── complete                                    the index was built from a walk
//	├── health/<node>                                   written and read back by the storage
//	│                                                   health check (registry/health)
//	├── proxy/repositories/<name>/_tags/<tag>/checkedat
//	│                                                   when the pull-through cache last
//	│                                                   checked the tag upstream (owned
//	│                                                   by registry/proxy, paths.go)
//	├── repodelete/<name>/_record                       a repository delete: "deleting"
//	│                                                   (pushes into it are refused), then
//	│                                                   "done" for a while (repodelete.go)
//	└── gc/                                             garbage collection (see doc.go)
//	    ├── relying/<alg>/<hex>                         a request is about to rely on the
//	    │                                               blob; the object's mtime counts
//	    ├── used/<alg>/<hex>                            a request relied on the blob and
//	    │                                               found no collector deleting it
//	    ├── deleting/<alg>/<hex>/<run id>               a collector is deleting the blob
//	    │                                               (or, with repositories listed in
//	    │                                               it, the blob's links there)
//	    ├── clock/<run id>                              written at a run's start: its
//	    │                                               mtime is the run's storage time
//	    └── lease                                       which node collects now (JSON)
//
// Drivers keep writes in progress outside this tree, under names no key can
// take (the filesystem driver's "+pending", the S3 driver's "~pending").
//
// Every function here takes names, tags and digests already validated by
// CheckName, CheckTag and CheckDigest; upload ids by checkUploadID.
const (
	v2Root    = "/docker/registry/v2"
	berthRoot = "/berth/v1"
)

func blobsRoot() string { return v2Root + "/blobs" }

func blobDir(d digest.Digest) string {
	enc := d.Encoded()
	return path.Join(blobsRoot(), d.Algorithm().String(), enc[:2], enc)
}

func blobDataPath(d digest.Digest) string { return blobDir(d) + "/data" }

func repositoriesRoot() string { return v2Root + "/repositories" }

func repoDir(name string) string { return repositoriesRoot() + "/" + name }

func layerLinkPath(name string, d digest.Digest) string {
	return path.Join(repoDir(name), "_layers", d.Algorithm().String(), d.Encoded(), "link")
}

func manifestsDir(name string) string { return repoDir(name) + "/_manifests" }

func revisionLinkPath(name string, d digest.Digest) string {
	return path.Join(manifestsDir(name), "revisions", d.Algorithm().String(), d.Encoded(), "link")
}

func tagsDir(name string) string { return manifestsDir(name) + "/tags" }

func tagDir(name, tag string) string { return tagsDir(name) + "/" + tag }

func tagCurrentPath(name, tag string) string { return tagDir(name, tag) + "/current/link" }

func tagIndexPath(name, tag string, d digest.Digest) string {
	return path.Join(tagDir(name, tag), "index", d.Algorithm().String(), d.Encoded(), "link")
}

func uploadDir(name, id string) string { return repoDir(name) + "/_uploads/" + id }

func uploadDataPath(name, id string) string { return uploadDir(name, id) + "/data" }

func uploadStartedAtPath(name, id string) string { return uploadDir(name, id) + "/startedat" }

func uploadHashStateDir(name, id string, alg digest.Algorithm) string {
	return uploadDir(name, id) + "/hashstates/" + alg.String()
}

func uploadHashStatePath(name, id string, alg digest.Algorithm, offset int64) string {
	return uploadHashStateDir(name, id, alg) + "/" + strconv.FormatInt(offset, 10)
}

func referrersDir(name string, subject digest.Digest) string {
	return path.Join(berthRoot, "repositories", name, "_referrers", subject.Algorithm().String(), subject.Encoded())
}

func referrerPath(name string, subject, referrer digest.Digest) string {
	return path.Join(referrersDir(name, subject), referrer.Algorithm().String(), referrer.Encoded())
}

func gcRoot() string { return berthRoot + "/gc" }

func usedRoot() string { return gcRoot() + "/used" }

func usedPath(d digest.Digest) string {
	return path.Join(usedRoot(), d.Algorithm().String(), d.Encoded())
}

func relyingRoot() string { return gcRoot() + "/relying" }

func relyingPath(d digest.Digest) string {
	return path.Join(relyingRoot(), d.Algorithm().String(), d.Encoded())
}

func deletingRoot() string { return gcRoot() + "/deleting" }

func deletingDir(d digest.Digest) string {
	return path.Join(deletingRoot(), d.Algorithm().String(), d.Encoded())
}

func deletingPath(d digest.Digest, run string) string { return deletingDir(d) + "/" + run }

func gcClockPath(run string) string { return gcRoot() + "/clock/" + run }

func gcLeasePath() string { return gcRoot() + "/lease" }

func berthRepositoriesRoot() string { return berthRoot + "/repositories" }
