// Package layer applies image layers to a directory and makes layers from
// the changes of one:
//   - Unpacker applies tar layers (whiteouts and opaque directories as OCI
//     and overlayfs write them; modes, owners, links, device nodes and
//     xattrs kept) through an os.Root, so that no entry can reach outside
//     the root; refusals, and more than Limits allow, are ErrUnsafe
//     (unpack.go, apply.go), reading tars with EachEntry, as other readers
//     of tars do (entries.go); SetRename rewrites or drops entries first,
//     and WindowsFiles keeps the Files/ tree of a Windows layer only;
//   - RecordTree, WriteTreeRecord and ReadTreeRecord keep a tree's metadata
//     and content hashes in files.json (files.go);
//   - DiffTrees compares a recorded tree with its current state (by
//     content, never by inode numbers) and
//     WriteLayer writes the difference as one deterministic tar
//     (difflayer.go).
//
// Imports: the standard library, golang.org/x/sys/unix (the *at system
// calls os.Root lacks), and the agent's leaf packages hostagent/errdefs and
// internal/iox. Not the store, not the registry.
package layer
