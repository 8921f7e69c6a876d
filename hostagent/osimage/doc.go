// Package osimage makes base OS images (images with no base of their own)
// from files, as the Install-ContainerOSImage cmdlet did: one image of a
// WIM, written as a Windows container base layer, or a root filesystem, a
// tar (plain, gzip or zstd) or a directory, written as docker import
// writes one. Open reads and checks the source; Source.Install writes the
// layer, config and manifest into the store and names the image.
//
// # Windows base layers
//
// A Windows container layer is a tar whose entries live under two roots
// (the format hcsshim's ociwclayer and go-winio's backuptar write and
// read):
//
//	Files/...            the file system: Files/Windows/System32/..., etc.
//	Hives/...            the registry hives: DefaultUser_Delta, Sam_Delta,
//	                     Security_Delta, Software_Delta, System_Delta
//	UtilityVM/Files/...  (optional) the utility VM of Hyper-V isolation
//
// Entries are PAX, and carry what NTFS keeps beyond a POSIX tar header in
// vendor records:
//
//	MSWINDOWS.fileattr       the Win32 attributes, decimal (16 a directory,
//	                         32 archive, 128 normal, 1024 reparse point)
//	MSWINDOWS.rawsd          the security descriptor, base64 of its
//	                         self-relative binary form
//	MSWINDOWS.mountpoint     "1": a symlink entry that is a mount point
//	LIBARCHIVE.creationtime  the creation time, seconds[.fraction]
//
// together with mtime, atime and ctime (the last write time for ctime, as
// a WIM has no change time). An alternate data stream follows its file as
// a regular entry named "file:stream". A hard link is a tar hard link to
// the first path of its group. A symlink or mount point (a reparse point)
// is a tar symlink with the Windows target (backslashes kept); other
// reparse points cannot be carried and are refused. Modes are 0755 for
// directories and 0644 for files, so that the Files/ tree can be unpacked
// on Linux too; Windows ignores them.
//
// From a WIM, Files/ is the image's tree (its root directory's metadata
// on Files/ itself) and Hives/ holds copies of the hives found under
// Files/Windows/System32/config (DEFAULT, SAM, SECURITY, SOFTWARE,
// SYSTEM), under the names above. Windows regenerates the base hives from
// Files/ when it imports a base layer (hcsshim's ProcessBaseLayer), so a
// WIM without them still gives a layer, only not one that boots.
//
// # WIM files
//
// The WIM is read by github.com/Microsoft/go-winio/wim, which decodes
// uncompressed and LZX-compressed WIMs. XPRESS ones (any chunk size, a
// power of two from 4 KiB to 64 KiB) are decoded by package xpress and
// reach go-winio through flatWIM: an io.ReaderAt that shows the file as
// the equivalent uncompressed WIM (compression flags cleared, every
// resource of the lookup table, image metadata included, and the XML data
// laid out one after the other at their decompressed sizes, a lookup
// table naming their new places, no integrity table). It is computed on
// demand: a read finds the chunks it covers through the resource's chunk
// table and decompresses only those, keeping the last few, so that
// go-winio's many small reads of a directory decode each chunk once. That
// was chosen over writing the uncompressed WIM to a temporary file first,
// which would need as much free disk as the whole WIM unpacked (several
// GB for Windows Server Core, every image of the file, where only one is
// installed) and a full pass before the first byte of the layer; and over
// a WIM reader of our own, which would duplicate go-winio's metadata
// parsing. LZMS (solid) WIMs are refused with the wimlib-imagex command
// that converts them. The image's XML gives its name, display name,
// edition, architecture (ARCH 9 amd64, 12 arm64, 0 386, 5 arm) and Windows
// version: major.minor.build.spbuild becomes the platform's os.version
// and, unless given, the image's version. Every stream is checked against
// the SHA-1 the WIM names it by, whatever its compression.
//
// go-winio trusts the sizes a WIM declares and allocates from them; a
// crafted file could make it allocate terabytes. So, before go-winio
// reads anything, checkWIM validates the header, the lookup table, every
// resource (inside the file, no larger than the layer limits of package
// layer, compressed chunk tables that fit) and each image's security
// descriptor table; flatWIM is built only from what it checked, and
// checks each chunk's place in the chunk table as it reads it. A truncated
// or inconsistent WIM, or an XPRESS chunk that does not decode, is
// ErrCorrupt; sizes past the limits are ErrUnsafe; a panic of the decoder
// on content it does not expect is turned into ErrCorrupt. Nothing is named in the store
// until the whole layer is written and published.
//
// It imports the agent's store, layer, archive and errdefs packages, its
// own xpress and internal/oci, never the registry.
package osimage
