package layout

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
//	        ├── data                                    bytes received so far (see below)
//	        ├── startedat                               RFC 3339 start time
//	        └── hashstates/<alg>/<offset>               hash state after offset bytes
//	/berth/v1/
//	├── repositories/<name>/_referrers/<subject alg>/<subject hex>/<alg>/<hex>
//	│                                                   descriptor of a manifest whose
//	│                                                   subject is the given digest
//	├── repositories/<name>/_pushed/tags/<tag>          {"digest","pushed"}: when the tag was
//	│                                                   last written, by the node's clock
//	├── repositories/<name>/_pushed/manifests/<alg>/<hex>
//	│                                                   when the manifest was last put: a
//	│                                                   time, or the record of the tags put
//	│                                                   with it (on a filesystem, one inode)
//	├── repositories/<name>/_pulled/<alg>/<hex>         when the manifest was last pulled
//	│                                                   (flushed in batches, internal/times)
//	├── repositories/<name>/_untagging/<tag>/<run id>   a retention run, a scrub or a refused
//	│                                                   push is deleting the tag (untag, tags.go)
//	├── catalog/                                        the repository index (internal/repoindex)
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
// On those drivers (storagedriver.PendingPurger) an upload's bytes are the
// pending write of _uploads/<id> itself (UploadPendingPath): the filesystem
// driver keeps it as a file in the repository's pending _uploads
// directory, which stays from one upload to the next, so that no directory
// is made and removed for each upload. The data file above is the pending
// write on the other drivers (Distribution's layout), and on these for an
// upload that an earlier Berth began; a commit that reads the bytes back
// commits them there (on S3, whose writers commit only at their own key,
// at _uploads/<id>).
//
// Every function here takes names, tags and digests already validated by
// storage.CheckName, CheckTag and CheckDigest; upload ids by the store.
const (
	v2Root    = "/docker/registry/v2"
	BerthRoot = "/berth/v1"
)

// BlobsRoot is the directory of every blob's data.
func BlobsRoot() string { return v2Root + "/blobs" }

// BlobDir is the directory of blob d.
func BlobDir(d digest.Digest) string {
	enc := d.Encoded()
	return path.Join(BlobsRoot(), d.Algorithm().String(), enc[:2], enc)
}

// BlobDataPath is the content of blob d.
func BlobDataPath(d digest.Digest) string { return BlobDir(d) + "/data" }

// RepositoriesRoot is the directory of every repository.
func RepositoriesRoot() string { return v2Root + "/repositories" }

// RepoDir is the directory of repository name.
func RepoDir(name string) string { return RepositoriesRoot() + "/" + name }

// LayerLinkPath is the link of blob d into repository name.
func LayerLinkPath(name string, d digest.Digest) string {
	return path.Join(RepoDir(name), "_layers", d.Algorithm().String(), d.Encoded(), "link")
}

// ManifestsDir is the directory of repository name's manifests and tags.
func ManifestsDir(name string) string { return RepoDir(name) + "/_manifests" }

// RevisionLinkPath is the link of manifest d into repository name.
func RevisionLinkPath(name string, d digest.Digest) string {
	return path.Join(ManifestsDir(name), "revisions", d.Algorithm().String(), d.Encoded(), "link")
}

// TagsDir is the directory of repository name's tags.
func TagsDir(name string) string { return ManifestsDir(name) + "/tags" }

// TagDir is the directory of tag in repository name.
func TagDir(name, tag string) string { return TagsDir(name) + "/" + tag }

// TagCurrentPath is the link to the manifest tag names now.
func TagCurrentPath(name, tag string) string { return TagDir(name, tag) + "/current/link" }

// TagIndexPath is the entry of manifest d in the history of tag.
func TagIndexPath(name, tag string, d digest.Digest) string {
	return path.Join(TagDir(name, tag), "index", d.Algorithm().String(), d.Encoded(), "link")
}

// UploadDir is the directory of upload id in repository name.
func UploadDir(name, id string) string { return RepoDir(name) + "/_uploads/" + id }

// UploadDataPath is the bytes upload id received so far, on a driver that
// keeps no pending writes apart (and on one that does, for an upload an
// earlier Berth began); where a commit that reads them back puts them.
func UploadDataPath(name, id string) string { return UploadDir(name, id) + "/data" }

// UploadPendingPath is the path of the pending write of upload id, its
// bytes so far, on a driver that keeps pending writes apart: the upload's
// directory itself, so that in the driver's tree of pending writes it is a
// file beside those of the repository's other uploads, with no directory
// of its own. Nothing is committed there but on S3 (see above).
func UploadPendingPath(name, id string) string { return UploadDir(name, id) }

// UploadStartedAtPath is when upload id started (RFC 3339).
func UploadStartedAtPath(name, id string) string { return UploadDir(name, id) + "/startedat" }

func uploadHashStateDir(name, id string, alg digest.Algorithm) string {
	return UploadDir(name, id) + "/hashstates/" + alg.String()
}

// UploadHashStatePath is the hash state of upload id after offset bytes.
func UploadHashStatePath(name, id string, alg digest.Algorithm, offset int64) string {
	return uploadHashStateDir(name, id, alg) + "/" + strconv.FormatInt(offset, 10)
}

// ReferrersDir is the referrers index of subject in repository name.
func ReferrersDir(name string, subject digest.Digest) string {
	return path.Join(BerthRoot, "repositories", name, "_referrers", subject.Algorithm().String(), subject.Encoded())
}

// ReferrerPath is the entry of referrer in the referrers index of subject.
func ReferrerPath(name string, subject, referrer digest.Digest) string {
	return path.Join(ReferrersDir(name, subject), referrer.Algorithm().String(), referrer.Encoded())
}

func gcRoot() string { return BerthRoot + "/gc" }

// UsedRoot is the directory of the used records.
func UsedRoot() string { return gcRoot() + "/used" }

// UsedPath is the used record of blob d.
func UsedPath(d digest.Digest) string {
	return path.Join(UsedRoot(), d.Algorithm().String(), d.Encoded())
}

// RelyingRoot is the directory of the relying records.
func RelyingRoot() string { return gcRoot() + "/relying" }

// RelyingPath is the relying record of blob d.
func RelyingPath(d digest.Digest) string {
	return path.Join(RelyingRoot(), d.Algorithm().String(), d.Encoded())
}

func deletingRoot() string { return gcRoot() + "/deleting" }

// DeletingDir is the directory of the deleting records of blob d.
func DeletingDir(d digest.Digest) string {
	return path.Join(deletingRoot(), d.Algorithm().String(), d.Encoded())
}

// DeletingPath is the deleting record of blob d by collector run run.
func DeletingPath(d digest.Digest, run string) string { return DeletingDir(d) + "/" + run }

// GCClockPath is the file a collector run writes to read the storage's time.
func GCClockPath(run string) string { return gcRoot() + "/clock/" + run }

// GCLeasePath is the lease of the node that collects now.
func GCLeasePath() string { return gcRoot() + "/lease" }

// BerthRepositoriesRoot is the directory of Berth's per-repository records.
func BerthRepositoriesRoot() string { return BerthRoot + "/repositories" }
