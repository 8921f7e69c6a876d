package errdefs

import (
	"errors"

	"github.com/berth-registry/berth/internal/oci"
)

// Error classes. Failures of the registry keep the registry client's
// classes (client.ErrNotFound, ErrUnauthorized, ErrDenied, ErrUnavailable)
// in their chain as well.
var (
	// ErrNotFound: no such image in the store, or in the registry.
	ErrNotFound = errors.New("not found")
	// ErrAmbiguous: a short digest or a name matches more than one image.
	ErrAmbiguous = errors.New("ambiguous reference")
	// ErrInUse: the image is used by a container or a derived image.
	ErrInUse = errors.New("in use")
	// ErrCorrupt: content does not hash to its digest, or a blob that an
	// image needs is missing from the store.
	ErrCorrupt = errors.New("corrupt content")
	// ErrNoPlatform: an index has no manifest for the wanted platform.
	ErrNoPlatform = oci.ErrNoPlatform
	// ErrInvalid: a malformed reference, filter, platform or manifest.
	ErrInvalid = errors.New("invalid argument")
	// ErrUnsafe: an archive or a layer holds an entry that would write
	// outside its root (../, an absolute path, a symlink or hardlink
	// leading out), a device node an unprivileged user may not make, or
	// more than the size limit allows. Nothing of it is kept.
	ErrUnsafe = errors.New("unsafe archive")
	// ErrExists: the name already names another image, and replacing it
	// was not asked for (--force).
	ErrExists = errors.New("name already in use")
	// ErrAbsent: a foreign or non-distributable layer an image names is
	// not in the store (install could not fetch it from its URLs), and
	// what was asked needs its content.
	ErrAbsent = errors.New("foreign layer not present")
)
