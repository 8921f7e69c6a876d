// Package s3 is a storage driver over an Amazon S3 bucket or an
// S3-compatible server, on aws-sdk-go-v2. Any number of registry processes
// may share one bucket: the driver keeps nothing in memory between calls,
// and a write started in one process can be continued and committed in
// another.
//
// # Layout
//
// Path "/a/b" is the key <rootdirectory>/a/b, as in Distribution's S3
// driver, so a bucket written by either registry is served by the other.
// A directory is a key prefix: it exists while at least one key lies below
// it, and vanishes with its last one. The driver's own objects live under
// <rootdirectory>/~pending/, a name no valid path can reach and which List
// and Walk skip:
//
//	<root>/a/b              the content of "/a/b", once committed
//	<root>/~pending/a/b     the tail of the pending write of "/a/b"
//	multipart upload of <root>/a/b   the parts of that pending write
//
// # Writes
//
// A FileWriter buffers what it is given and uploads each ChunkSize bytes
// (10 MiB by default, at least 5 MiB) as the next part of a multipart
// upload on the path's key, which it starts with its first full chunk.
// One part uploads in the background while the next chunk fills, so a
// writer holds at most two chunks in memory, whatever the blob's size; the
// driver lets four parts upload in the background at once over all its
// writers (a writer finding none free uploads its part itself, then fills
// the same buffer again) and keeps at most four idle chunks for reuse.
// Multipart uploads in progress are invisible, so nothing written is seen
// before Commit.
//
// S3 refuses parts under 5 MiB except the last, yet registry clients PATCH
// chunks of any size and each PATCH ends with Close. So Close sends a
// buffer of at least 5 MiB as a part of its own (parts need not be of one
// size), and stores what is left under 5 MiB, the tail, as a small object
// of its own: the tail object, whose user metadata record the upload id,
// how many parts belong to the write, their total size, a hash chained
// over their ETags, and the caller's state (storagedriver.StateKeeper:
// the registry's sha256 state of the upload, so that it needs no file of
// its own). A PATCH of 5 MiB or more thus costs three requests (the
// record's HEAD, the part, the record), and its bytes go to S3 once.
// Writer(append=true), in any process, reads the record with one HEAD of
// the tail object: Size is the recorded parts plus the tail, so an upload's
// status moves no bytes. The first Write fetches the tail (if it is still
// the one the HEAD saw) and writing goes on with it in the buffer, so every
// part but the last is at least 5 MiB. Writes that never fill a chunk (most
// manifests, configs and small layers) never start a multipart upload.
//
// The tail object is the only record of a pending write. A process that
// dies after uploading a part but before Close leaves a record that does
// not count that part: the write resumes at the recorded size, and the
// part is overwritten or left out of the completed object. Two writers
// resuming one pending write at once (a client retrying a PATCH on another
// node) may overwrite each other's part; Commit lists the parts, checks
// them against the ETag chain of the record and refuses what does not
// match, so a mix of two writers' bytes is never published. Delete of a
// directory aborts the multipart uploads below it, recorded or not.
//
// The tail object exists from the moment a write starts: Writer with
// append false stores an empty one (one PutObject with If-None-Match when
// no pending write is there, as for every new upload), so that a Delete of
// the directory finds and removes it even while the writer is still open.
// Close replaces the tail only while it exists (PutObject with If-Match
// its ETag); Commit checks it with a HEAD just before publishing (or
// copies it, which fails the same way). A writer whose write was deleted
// thus publishes and records nothing: Commit returns ErrPathNotFound,
// Close returns nil, and both abort the parts it uploaded since. What
// remains is the
// window between that HEAD and the publishing request, which S3 offers no
// way to close. The conditional PUTs need a server that honours If-Match
// and If-None-Match on PutObject (AWS S3 and versitygw do); one
// that ignores them lets a Close after a Delete record the write again.
//
// Commit publishes in one step: a PutObject of the buffer for a write that
// never filled a chunk; otherwise an upload of the buffer as the last part
// and CompleteMultipartUpload. A tail this writer did not fetch is copied
// inside S3 instead (CopyObject, or UploadPartCopy as the last part). Then
// Commit deletes the tail object. A Commit that fails leaves the write as
// it was: its short last part is not recorded, so a Close and a later
// writer go on from the same tail. Writer with append false first
// discards the pending write at the path (aborts its upload, overwrites
// its tail) and leaves committed content in place until its own Commit. A
// Close costs one PUT of under 5 MiB; a stream of tiny PATCHes thus
// rewrites up to 5 MiB per PATCH.
//
// Create (storagedriver.Creator) is a writer without a tail object, for
// content written and committed by one caller in one go: the registry
// streams a blob pushed in one request with its digest to the blob's key,
// hashing it on the way, and commits only once it matched. Its multipart
// upload is one of its own on the key (S3 keeps any number on one key,
// each invisible until completed), so it disturbs neither other writers
// at the path nor a pending write there; Commit is one PutObject, or the
// last part and CompleteMultipartUpload, at the key itself: no copy.
// Close and Cancel abort its parts; those of a process that died are
// left to PurgePending.
//
// # Other operations
//
// Move is CopyObject, or above MultipartCopyThresholdSize a multipart
// upload of UploadPartCopy parts run MultipartCopyMaxConcurrency at a
// time, then a delete of the source. Delete lists the keys at and below the
// path and removes them with DeleteObjects, 1,000 at a time, with the tails
// and multipart uploads of pending writes there. List is ListObjectsV2 with
// delimiter "/"; Walk is one flat ListObjectsV2 continued with start-after,
// whose byte order of keys is Walk's order. Stat of a directory is a
// listing of one key below it. Open gives an io.ReadSeekCloser whose reads
// are ranged GETs, for http.ServeContent; OpenSized
// (storagedriver.SizedOpener) skips Open's HEAD when the caller knows the
// size, and ExpectRange (storagedriver.RangeExpecter) bounds the GET of
// an HTTP range request to its bytes, so that its connection is reused.
// A blob GET thus costs one GET. RedirectURL presigns GET and HEAD
// URLs valid for 20 minutes when Params.Redirect is set.
//
// PurgePending (storagedriver.PendingPurger) discards pending writes idle
// since before a cutoff: tails not replaced since, with their multipart
// uploads, and multipart uploads that no young tail claims. A write counts
// as active while its tail or any part of an upload on its key is young,
// so a writer streaming a long blob, which records its parts only at
// Close, is not taken for an abandoned one (see purge.go).
//
// # Failures
//
// Every connection fails a read or write that makes no progress for
// Params.Timeout (30s by default): connecting, sending, waiting for an
// answer, receiving it. A request that timed out is not retried; refused or
// reset connections, 5xx answers and throttling are retried up to
// MaxAttempts times with backoffs of at most a second. What still fails is
// wrapped in storagedriver.ErrUnavailable, and the registry answers 503; the
// error text names the S3 operation, the path and the cause, for the log.
// Missing keys are ErrPathNotFound; a context that ended returns its own
// error. New checks the bucket with HeadBucket and says plainly when it
// does not exist, when the credentials are refused, or when S3 cannot be
// reached.
//
// FileWriter.Write and Close do I/O but take no context: they use the one
// given to Writer, Close without its cancellation, so that what a broken
// request delivered is still recorded. A FileWriter and an opened object
// are used by one goroutine at a time; the Driver is safe for concurrent
// use.
//
// Imports: the standard library, aws-sdk-go-v2 and smithy-go, and
// storagedriver only.
package s3
