// Package filesystem is a storage driver over a local directory.
//
// # Layout
//
// Path "/a/b" is the file <root>/a/b, so a volume written by CNCF
// Distribution's filesystem driver is read as-is and the reverse. Names that
// are not valid path segments (they hold a character storagedriver.CheckPath
// refuses, such as '~' or '+') are never listed or walked and can never be
// asked for; the driver keeps its own files under such names:
//
//	<root>/+pending/a/b         the pending (closed, uncommitted) write of "/a/b"
//	<root>/+pending/a/.w~<rand> a write in progress, owned by one FileWriter
//	<root>/+pending/a/.r~<hash> the pending write of "/a/b" while a FileWriter
//	                            continues it (hash of "b")
//	<root>/a/.put~<rand>        a PutContent into /a/, before its rename
//	<root>/+redo/log.0, log.1   the redo log (Linux, WithRedoLog)
//	<root>/+redo/owner, lock, intent
//	                            the locks that say who writes the log
//
// # Writes
//
// Pending writes live apart from committed content, as driver.go asks:
// nothing written through a FileWriter is visible at its path before Commit,
// which renames the file into place, so a reader sees the old content or the
// new, never a torn file, and a write in progress creates no visible
// directory. (Distribution instead writes upload data in place, at
// _uploads/<id>/data; Berth's is the pending write of _uploads/<id>, a file
// in +pending/<repository>/_uploads/, so only in-flight uploads differ
// between the two, not stored content.) Each FileWriter writes its own file:
// Writer(append=true) takes the pending write over by locking it (flock) and
// renaming it to its claimed name, so one pending write is continued by at
// most one writer at a time and a second gets ErrPathNotFound (so does a
// directory at the pending write's name: it holds those of paths below);
// Close renames it back. A claimed file nobody locks was left by a writer
// whose process died (the kernel drops the lock with the process): the
// next Writer(append=true) takes it over, so a crash while continuing a
// write keeps what was closed before. On Linux a writer keeps a state
// (storagedriver.StateKeeper; the registry's sha256 state of an upload) as
// the extended attribute user.berth.state of the pending write's file: it
// goes with the file through these renames, costs one system call to set
// and one to read, and Commit removes it; where the filesystem keeps no
// user attributes SetState says so and the registry stores a file of the
// state instead, as it does on other systems. Writer(append=false) discards
// the pending write; committed content stays until Commit replaces it.
// StartPending (storagedriver.PendingStarter) makes the empty pending
// write of a fresh path (an upload's new id) with one create.
// Delete discards the pending writes at and below its path, including those of
// open writers, whose Commit then fails with ErrPathNotFound.
//
// PurgePending (storagedriver.PendingPurger) removes the files of +pending
// last modified before a cutoff: writes parked and never resumed, and the
// session files of writers whose process died. Writing moves a file's
// modification time, and so does claiming a parked write, so a write being
// continued is never taken for an abandoned one.
//
// # Durability
//
// PutContent writes a temporary file in the destination directory, fsyncs it,
// renames it over the destination and fsyncs the directory. Commit fsyncs the
// file, renames it into place and fsyncs the directory; a writer's CommitTo
// (storagedriver.Relocator) does the same to another path, so that an upload
// reaches its blob path with one fsync and one rename. Move renames and
// fsyncs the destination directory. Directories are created one by one, and
// the parents that got a new directory are fsynced, concurrently with the
// destination directory, once the entry is in place: the creations join the
// journal commit of the entry. Close and Delete do not fsync: only Commit,
// CommitTo, PutContent and Move acknowledge stored content. Sync
// (storagedriver.Syncer) makes the deletions made before it durable (a
// shared syncfs on Linux), for a caller that acknowledges a deletion or
// must keep the order of two.
//
// On Linux those fsyncs are replaced, for PutContent, Move and the commit
// of a write of at most 1 MiB, by group commit: each step waits for a
// syncfs(2) of the filesystem that began after it, one call shared by all
// the requests waiting then, in the same order (the content durable
// before the rename, the rename before the return). A syncfs slower than
// 50 ms (much dirty data on the filesystem, from a large push or another
// program) turns group commit off for a second, doubled while the next
// are slow too (groupsync_linux.go). With group commit on, PutContents
// (storagedriver.Batcher) writes every file's content, waits for one
// syncfs, then renames level by level with one wait each; Stage
// (storagedriver.Stager) writes a file's content ahead, so that its
// Publish waits for no syncfs of its own when a durable write ended in
// between, only for the one after its rename (batch.go).
//
// A driver opened WithRedoLog (the serving registry's) waits for less
// still, on Linux (redo_linux.go). PutContent, PutContents, a staged
// file's Publish and the commit of a write of at most 256 KiB first write
// one record holding every file's path and content to a log file whose
// blocks were allocated beforehand, and wait for that file's fdatasync,
// shared like a syncfs; then the files are renamed into place, level by
// level, with no wait; files of a level marked Share with equal content
// are hard links to one inode. A checkpoint, about once a second, makes them
// durable with one syncfs and empties the log. After a crash of the
// machine the next driver to open the root puts every whole record in
// place again, in order, before it writes. Delete, Move, Stamp and the
// writes made without the log wait, before they start, until no record
// in the log touches their paths (a checkpoint when one does), so a
// replay never undoes a later change. Only the owner writes the log:
// any other driver opened on the root (the registry's other commands)
// makes the owner checkpoint and stop logging while it lives.
//
// Under a storagedriver.Volatile context PutContent skips its fsyncs: the
// content still replaces the old one whole (temporary file and rename), but a
// crash of the machine may lose it. A writer asks the kernel to start the
// writeback of every 8 MiB it writes (sync_file_range on Linux), so that the
// fsync of a long write's commit has little left to do.
//
// Stamp (storagedriver.Stamper, Linux only) writes a record on those same
// terms without a new inode: it hard-links, from its descriptor where the
// kernel lets the process (linkat AT_EMPTY_PATH: Linux 6.10 on) or else
// through /proc/self/fd, an unnamed file (O_TMPFILE in +pending) holding
// the time it was made, made anew at most every StampSlack/4, when it has
// 60,000 links, or when its mtime was changed or its links all deleted;
// over an existing record it links a temporary name (.put~<rand>) and
// renames it. Every record so made in a quarter second shares one inode,
// and its mtime: Stamp checks after linking that it is within StampSlack
// of the present. Where O_TMPFILE or /proc/self/fd is missing, Stamp
// answers errors.ErrUnsupported and callers write files.
//
// A directory exists while it holds a file, as a prefix does in an object
// store: Delete and Move remove the directories they leave empty, up to but
// not including the root. The +pending tree is pruned lazily: a write that
// ends leaves its directory, and PurgePending removes the empty ones, so
// that a repository's uploads, whose pending writes share its
// +pending/<repository>/_uploads/, create and remove no directory for each
// blob (on ext4 every inode freed is skipped by the allocations of the next
// minute, a cost that grows with the churn).
//
// # Confinement
//
// Every path is checked by the driver's storagedriver.Base (CheckPath, or
// CheckDir where the root is allowed) before the backend sees it, so no ".."
// or other escape reaches the operating system. The driver creates no
// symbolic links; those an operator places inside the root (to put blobs on
// another disk, say) are followed.
//
// FileWriter.Write takes no context; Commit and Cancel check theirs and, when
// it has ended, return its error and leave the writer open. Reader and Open
// return an *os.File, so http.ServeContent can use sendfile.
//
// Imports: the standard library, storagedriver and internal/oci (directory
// fsync) only.
package filesystem
