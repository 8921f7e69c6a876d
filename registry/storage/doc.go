// Package storage is Berth's content model on top of a storagedriver.Driver:
// blobs and their links into repositories, resumable uploads, manifests and
// tags, the referrers index, the repository index that serves the catalog,
// and online garbage collection.
//
// Around it: registry/storage/repometa keeps the repositories' metadata
// records the web UI lists, above the store and through its API;
// registry/storage/blobcache is the blob descriptor cache;
// registry/storage/purge removes abandoned uploads through the driver. The
// packages under registry/storage/internal hold what only this tree uses:
// check (the error classes and the checks of names, tags and digests,
// which this package re-exports), manifest (the manifest parser), layout
// (where everything lives in a root), walk (the walks of the layout
// through a driver), repoindex (the repository index behind the catalog),
// times (push and pull times), memcache (the manifest cache's entries),
// lease (garbage collection's lease), blobio (the hashing copy and the
// offset reader) and periodic (the flush loop). Each package's doc.go says
// why it is cut where it is.
//
// It keeps CNCF Distribution's storage layout (see internal/layout/paths.go), so a storage
// root written by either registry is served by the other. It verifies before
// it publishes: a blob appears under a digest only after its bytes hashed to
// that digest, and a manifest is linked only when what it references exists.
//
// Maintenance runs on the same content model: the upload purger (package
// purge) removes uploads idle for an age, with the driver's stale pending
// writes (storagedriver.PendingPurger); Scrub (scrub.go) re-hashes every blob,
// checks links, manifests and tags, rebuilds the referrers index and
// checks the repository index.
// Both may run while the registry serves, on any number of nodes. So may
// DeleteRepository (repodelete.go), which removes a repository under a
// record that makes racing pushes refuse or check again, and that garbage
// collection and Scrub finish when its process died.
//
// Immutable tags (immutable.go): PutManifestGuarded and
// DeleteManifestGuarded refuse to move or delete the tags a TagGuard
// protects, and create a new one with a claim on the tag's history so
// that two racing pushes never both set it.
//
// Every method validates the names, tags and digests it is given and returns
// the error classes of errors.go, wrapped; other errors come from the driver.
//
// # Garbage collection
//
// CollectGarbage runs while every node serves, pushes included, on any
// driver, without a database and without a read-only window. Several
// collectors at once are safe; GCLoop's lease (/berth/v1/gc/lease) only
// keeps them from repeating each other's work.
//
// Mark (gc_mark.go). Live are: every tag's manifest; an index's children,
// recursively; every manifest whose subject is live in its repository (the
// subject is read from the manifest, so a root without Berth's referrers
// index keeps its signatures too), recursively; the config and layers of
// every live manifest. Without DeleteUntagged every stored manifest is live.
// Blobs are global: one live reference anywhere keeps a blob. Memory holds a
// set of live digests and one repository's tags and revisions at a time.
//
// Sweep (gc_sweep.go). Candidates are what is not live and whose key is
// older than the cutoff: untagged manifests (their revision link, tag
// history entries and referrers-index entry), blobs (their data, layer
// links and used record), links of blobs that are gone, and used records of
// blobs that are gone. Directories left empty vanish with their last file,
// so an emptied repository leaves the catalog (its links to blobs live
// elsewhere go too). A layer link of a live blob in a repository that still
// has manifests but no longer uses that blob is kept.
//
// # The protocol
//
// Three kinds of record live under /berth/v1/gc (internal/layout), each judged by
// its storage mtime: relying(B), written by a request about to rely on blob
// B; used(B), written by a request that relied on B and found no collector
// deleting it; and deleting(B)/<run>, written by a collector run about to
// delete B (or, when the record lists repositories, B's links in them).
//
// A record's mtime m may look older than the storage time w at which it
// was written, never newer, by less than mtimeSlack (1 s): S3's
// LastModified has whole seconds, and where the driver is a
// storagedriver.Stamper (the filesystem on Linux) relying(B) and used(B)
// are stamps, hard links to an inode the node made at most StampSlack/4
// before (Stamp checks, after linking, that the inode's mtime is within
// StampSlack <= mtimeSlack of the present), so that a record costs a
// directory entry, not an inode (on ext4 without a journal, allocating
// one was the dearest part of a small push). So w - mtimeSlack < m <= w.
// Every comparison of a record's mtime takes the older side as the safe
// one or allows mtimeSlack for it:
//
//   - C2 and the sweep of records (gc_sweep.go) call a record old only
//     when m + mtimeSlack <= C: a record written at w > C never is.
//   - R1, and the node's memory of it (below), trust used(B) while the
//     node's clock is before m + g/2: an older m is trusted for less.
//   - R2 ages deleting records against the mtime of the relying(B) it has
//     just written, the storage's present time: an older one keeps them
//     live longer, so the request waits (or answers 404) a little longer.
//     A collector's own limit (C2's deletingTTL/2) is on its own clock.
//
// The paths and what is read of a record (its mtime; its content is a
// timestamp nobody reads) are the same either way, so nodes of other
// versions sharing a root read stamps as records and replace them with
// files, and the reverse. Nothing in Berth touches a record's mtime; a
// hand that did would move those of every record sharing its inode.
//
// Request side, rely (gc_rely.go), called before a request lets its client
// go on believing B exists, and before it checks that B's content exists
// (but after it found the repository's link to B, so that digests the
// repository never had leave no records): blob HEAD/GET and manifest GET
// (relyRead), mount (relyMount), upload commit before the data is published
// (relyCommit), and manifest PUT, for every blob and child it must find
// and for itself (relyManifest; a tag PUT is a manifest PUT):
//
//	R1. Stat used(B). Younger than g/2 (g: the store's grace): return.
//	R2. Write relying(B). List deleting(B). None live that concerns this
//	    repository: write used(B) and return.
//	R3. relyRead, relyMount: answer "blob unknown" (the client uploads
//	    it). relyCommit, relyManifest: wait until the records are gone,
//	    then go to R2; a manifest PUT that waited looks for its links
//	    again (a record listing repositories deletes only links).
//
// used(B) is written only after a clean R2, so R1 may trust it: a request
// that lost the race to a collector left relying(B), not used(B), and the
// next request does not take its record for a promise.
//
// Collector side, handshake (gc.go), per candidate B, in a run that started
// at storage time T0 (the mtime of a file it wrote) with cutoff C = T0 - G:
//
//	C1. Write deleting(B)/<run>.
//	C2. Stat relying(B) and used(B). Either younger than C, or C1 was more
//	    than deletingTTL/2 ago: spare B.
//	C3. Delete B (or its links; with B, its relying and used records),
//	    then deleting(B)/<run>.
//
// # Why no push is lost
//
// Storage is linearizable per key (local filesystems; S3 has strong
// read-after-write consistency since 2020). Say a request's rely(B) returns
// at time t and a run deletes B at C3. Either:
//
//	(a) R2 ran: the request wrote relying(B), then listed deleting(B); the
//	    run wrote deleting(B), then read relying(B). Of two such
//	    write-then-read sequences, one read sees the other's write (as in
//	    Dekker's algorithm). If the run's read saw relying(B), written
//	    at w, its mtime plus mtimeSlack is after C unless w <= C, that is
//	    unless the request precedes the run by more than G, and B is
//	    spared. Otherwise the request saw the record and did not return
//	    at R2: a read 404s, and a commit or manifest PUT waits until C3 is
//	    over and goes through R2 again, so it publishes B afresh or finds B
//	    missing after the deletion, never before it.
//	(b) R1 returned: used(B) was younger than g/2 at t, so its mtime m is
//	    after t - g/2, and it was written, at w >= m, after a clean R2. A
//	    run that read used(B) after w spares B unless m + mtimeSlack <= C
//	    = T0 - G, that is unless T0 > t + G - g/2 >= t + g/2 when G >= g.
//	    A run that read it before w wrote its record before that, so the
//	    clean R2 ran after the run's C3: B was deleted before t, and the
//	    caller, which checks existence after rely, finds it missing.
//
// So B survives every run that starts within g/2 of a rely of B (and with
// (a), every run whose handshake overlaps it). The push cases:
//
//   - HEAD, then manifest PUT (the client skips the upload). The HEAD
//     relied (relyRead); a run starting within g/2 of it spares B by (a) or
//     (b), or its handshake made the HEAD answer 404 and the client
//     uploaded B. The PUT relies again and then checks B exists, so B is
//     there until a run starting g/2 after the PUT, by which time the
//     manifest is linked and the mark of any later run sees it. A client
//     that waits more than g/2 between its HEAD and its PUT is not
//     protected, as with any grace period; it gets MANIFEST_BLOB_UNKNOWN,
//     never a broken image. Test: TestGCRaceHeadThenPut.
//   - A mount during the mark: the mount relies (relyMount) before linking;
//     as for a HEAD. Test: TestGCRaceMountDuringMark.
//   - An upload in flight during the mark: the commit relies (relyCommit)
//     before publishing. The data may be old (a rename keeps the upload's
//     mtime) and new to the blob store, so the mark never saw it; the used
//     record keeps it, or the commit waits for the run's deletion of an
//     older copy and publishes after it. Test: TestGCRaceUploadInFlight.
//   - A manifest PUT that starts during the mark, after the run read the
//     repository's tags: it relies on all it references and itself before
//     checking them, so the run either spares them or the PUT waits and
//     then finds B gone and answers MANIFEST_BLOB_UNKNOWN: refused, never
//     acknowledged and broken. A tag moved or a manifest put during the
//     mark is kept the same way. Test: TestGCRaceManifestPutDuringMark.
//   - A tag move (GET a manifest, PUT it under another tag, as crane tag
//     does), which never touches the blobs: a manifest GET relies on the
//     manifest and on everything a PUT of it would require. Test:
//     TestGCRaceTagMove.
//   - An index PUT whose child, untagged in this repository but live in
//     another, loses its revision link here: the content stays, so the PUT
//     that waited for the collector finds the link again or answers
//     MANIFEST_BLOB_UNKNOWN. Test: TestGCRaceIndexPutWhileChildGoes.
//
// Each test runs its interleaving twice, the second time with that rely
// turned off, and requires the push to break then: the protection is what
// saves it.
//
// Assumptions, and what is not covered:
//   - The collector's grace G is at least every serving node's grace g
//     (WithGCGrace; both default to DefaultGCGrace). `registry gc` refuses
//     a grace shorter than the configuration's.
//   - Ages at R1 compare the node's clock with storage mtimes: a node whose
//     clock is behind the storage's by s protects a HEAD-to-PUT gap of
//     g/2 - s only. The collector judges every age by the storage's own
//     clock (T0 is an mtime). Keep s well below g/2 (NTP does).
//   - A request's own work between rely and its last write (a manifest PUT
//     linking what it checked) takes less than G - g/2.
//   - A collector that pauses for more than deletingTTL/2 between C2 and
//     the deletion in C3 could delete after requests took its record for
//     dead; C2 spares B when the pause falls before it.
//   - Cost: the fast path is one Stat per digest relied on; a manifest GET
//     of an image with n layers makes n+2 of them. R2 writes two records
//     (two links to an existing inode on the filesystem) and lists one
//     directory; the Stat of the next R1 of B on the node is saved when
//     the driver said the mtime of the used(B) it wrote (a stamp).
//   - relying(B) and used(B) are written without fsyncs
//     (storagedriver.Volatile, or a Stamp on its terms): the argument above needs them seen while
//     the nodes run, not kept through a crash of the machine. After one,
//     a lost used(B) only sends the next request through R2; what a
//     request acknowledged before the crash is protected by its durable
//     links, and a client that checked B before the crash and references it
//     after is covered as any late client is (B is checked again after its
//     rely: MANIFEST_BLOB_UNKNOWN at worst, never a broken image).
//
// # The blob descriptor cache
//
// With WithBlobDescriptorCache (storage.cache.blobdescriptor, cache.go,
// package blobcache) a request may take two answers from a cache instead
// of the storage: that repository R links blob B (blob HEAD/GET and
// manifest GET; never a manifest PUT, which reads its links from storage),
// and B's size, that is that B exists (blob HEAD/GET, mount, and the
// references a manifest PUT checks, unless its rely waited for a
// collector). The cache is per node (inmemory) or shared (redis), and
// the collector may run on any node, with or without it. The rules:
//
//	K1. Rely still runs, in its place, on every request, cache or not: a
//	    HEAD answered from the cache protects a later PUT as before.
//	K2. An entry is written only after a rely of B that began at t (the
//	    node's clock) returned, and a storage read after that rely found
//	    what the entry says (a link is read again after the rely on a
//	    miss; an upload, mount or manifest PUT writes the entry for what
//	    it published after its rely). The entry is stamped t.
//	K3. An entry stamped t is trusted until t + W, W = g/4, by the clock
//	    of the node reading it, judged after the request's own rely
//	    returned (a hit looked up before it is judged again): an older
//	    one is a miss (and Redis drops it, each key expiring at its stamp
//	    + W).
//	K4. Every deletion forgets what it makes wrong, in the cache of the
//	    store that deletes: the collector (blobs, their links, revisions,
//	    inside the handshake, before its deleting record goes), DELETE of
//	    a blob or a manifest, scrub repairs.
//
// Claim: an entry trusted at time u (K3: u < t + W) is true at u for
// deletions by collectors, whichever node ran them and whatever they
// forgot; and since u follows the request's own rely, the answer is as
// good as a storage read after that rely, which is what the proof above
// assumes of the caller. By K2 the rely of B returned after t and the storage then had
// B (or R's link to B, which collectors delete only in a handshake on B).
// By the proof above, no collector run starting before t + g/2 deletes B
// or its links (case (b) when rely took R1, case (a) when it took R2; a
// run that deleted B before the rely is over, and the storage read after
// it found B again, published anew). A run starting at T0 >= t + g/2
// deletes at or after T0, after u. Clock errors eat into the margin
// g/2 - W = g/4: the node's clock against the storage's (as at R1) and,
// for a shared Redis, the writer's clock against the reader's.
//
// So no cache, in memory or shared, ever answers for a blob a collector
// deleted: node A caches B, a collector on node C deletes B, node A or
// node B then answers HEAD with 404 and a manifest PUT referencing B with
// MANIFEST_BLOB_UNKNOWN, even over a dangling link (TestCacheTwoNodesGC,
// with each protection removed in turn to show the test sees a stale
// answer; TestCacheHitCheckedAfterRely for a request that pauses inside
// its rely while a collector deletes B). The collector's forgetting (K4) is not needed for this; with a
// shared Redis it makes deletions visible at once rather than within W.
//
// What the cache does not cover: a DELETE of a blob or manifest on one
// node reaches another node's inmemory cache only when its entry expires
// (W), and a shared Redis that was down when the DELETE forgot, likewise;
// meanwhile that node answers HEAD/GET of the deleted link with 200 (the
// content is still there: links are what DELETE removes, and collection
// waits for K3). A manifest PUT never relies on a cached link, so this
// can delay a 404, never acknowledge a broken image. Use redis with
// several nodes. A cache that fails is a miss (blobcache.Cache): requests
// go to the storage.
//
// # The manifest cache
//
// With WithMemCache (cache.go, package internal/memcache; registry.New
// has one unless told otherwise, and registry serve shares it with its
// collector) a node keeps in memory what a manifest GET, a blob HEAD, a
// tag list or a short blob range would read:
//
//   - The used records rely read (R1). A record found with mtime m is
//     trusted, without a Stat, while the node's clock is before m + g/2,
//     which is what R1 would conclude from a Stat at that moment. The
//     record may have gone meanwhile only with its blob, in a C3 of a run
//     that read a record of that mtime and judged it older than its
//     cutoff, so T0 > m + G >= m + g; the request at t < m + g/2 then
//     precedes T0 - g/2, and case (b) of the proof holds for it as for a
//     Stat at t. Only mtimes a Stat returned are recorded, or that the
//     driver's Stamp returned for the used record R2 wrote, which is what
//     a Stat of it would return.
//   - Manifests by digest: bytes never change, so the entry only needs
//     what a blob descriptor needs to stand for the content's existence,
//     K2 and K3 of the blob descriptor cache: it is stamped with a time
//     taken before the rely that preceded the storage read (or the PUT
//     that wrote it), trusted for W after it, and looked up after the
//     request's own rely. The repository's revision link is checked as
//     before (storage, or the descriptor cache), so a DELETE on any node
//     is seen as soon as that check sees it. Bounded by bytes, least
//     recently used first out; the collector and scrub forget what they
//     delete.
//   - Tags: which manifest a tag named when the node read it, trusted for
//     a TTL (1 s by default) on the node's clock. Every tag write or
//     delete of a store sharing the cache forgets the tag after the
//     storage changed (PUT, tag DELETE, manifest DELETE, retention's
//     untag, a repository delete, scrub's repairs), and a GET that began
//     reading before such a forget does not record what it read, so a GET
//     on the node after the write returned sees the write. Only manifest
//     GET and HEAD use it: pushes, deletes, immutable-tag and retention
//     checks read tags from storage.
//   - Tag lists (TagsCached, for the tag list endpoint only): a
//     repository's sorted tags as one List read them, under the same
//     rules: trusted for the TTL, renewed in the background past half of
//     it, forgotten by every tag write or delete of the node (a forget of
//     any tag of the repository drops its list), and not recorded by a
//     read that began before a forget.
//   - Open files of blobs (OpenBlobShared, for short ranges): no rule of
//     their own. A request reads through one only after StatBlob allowed
//     the read (link, rely, size) as for any GET, and a digest names the
//     bytes; the file is dropped when a store sharing the cache deletes
//     the blob, and after 5 s in any case, so that an open file does not
//     hold a deleted blob's space for long.
//
// What it does not cover: a tag moved or deleted on another node (or by
// another process on this root) is seen here within the TTL; until then
// a GET by that tag answers with the manifest the tag named before, or
// with 404 if that manifest's revision link is gone, and a tag list
// misses the tags written there or still has the ones deleted. The bound
// is TestMemCacheTwoNodesStaleness's and TestTagListCacheTwoNodesStaleness's.
// A TTL below zero turns the tag and tag list parts off.
//
// # The repository index
//
// The catalog lists /berth/v1/catalog/names (internal/repoindex): one
// marker per repository, so a page costs one List of that directory (on S3, one
// request per 1000 names), or nothing but one small read while the index
// is unchanged, instead of a walk of every repository's directory. A
// repository is what the walk counts: a directory holding _manifests or
// _layers. Distribution's layout is not touched.
//
// Writers. Every request that writes a link into a repository checks the
// marker after the link is written, and writes it when absent: a manifest
// PUT always (one Stat), a blob commit or mount only when this node has not
// written or seen it before (an in-memory set). A marker written or removed
// is followed by a new random value in /berth/v1/catalog/generation.
//
// Removers. A delete that may leave a repository empty (the last layer or
// manifest deleted, a collection's sweep, a repository delete, a push a
// repository delete refuses) checks the repository is gone, removes the
// marker, writes a new generation, then checks the repository again and
// puts the marker back if it is there.
//
// Why the catalog is right with several nodes (storage linearizable per
// key, as for garbage collection):
//
//   - A manifest PUT answers 201 after its link, its marker check and (when
//     it wrote the marker) the generation. A catalog that begins after the
//     201 reads the generation, then lists, or serves the listing it made
//     after reading the same generation: either way after the marker was
//     written, so the repository is in it. A node's saved listing is
//     labelled with the generation read before it; any later change wrote
//     another generation, and the next reader lists again.
//   - A push and a removal of the same repository's marker: the pusher
//     writes its link, then reads the marker; the remover deletes the
//     marker, then reads the repository. Of two write-then-read sequences
//     one read sees the other's write: the pusher finds the marker gone
//     and writes it, or the remover finds the link and puts the marker
//     back. A catalog between the removal and the put back may miss the
//     repository; only a repository that looked empty is exposed to that.
//   - The in-memory set of a blob commit can be stale when another node
//     removed the marker (the repository was deleted or emptied and is
//     being pushed again). The manifest PUT that completes the push checks
//     storage, so only a repository holding layers and no manifest can be
//     missing until then, or until scrub.
//
// Roots written by another registry. A root without
// /berth/v1/catalog/complete (Distribution's, or a Berth's from before the
// index) is walked once (PrepareIndex, which registry serve runs in the
// background at start-up, or the first catalog), every repository found
// is indexed, and the stamp written. Afterwards each node, at most every
// WithIndexCheck (30 s), lists the top level of the layout and every
// namespace the index knows (one List per namespace, not per repository),
// walks the entries the index knows nothing of and indexes what it finds,
// and drops the markers of repositories whose directory is gone. What the
// check cannot see (a repository another registry creates below a
// directory the index knows only as a repository, "a/b" under "a") and
// markers edited by hand are found by scrub ("index-missing",
// "index-extra"), which fixes them with --repair.
//
// Imports: the standard library, go-digest, image-spec, and of this module
// storagedriver, registry/storage/blobcache, registry/policy,
// internal/keylock and the packages under registry/storage/internal only;
// never the HTTP layer (package registry), gorilla/mux or the host agent
// (internal/archtest).
package storage
