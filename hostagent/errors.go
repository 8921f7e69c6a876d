package hostagent

import (
	"github.com/berth-registry/berth/hostagent/errdefs"
)

// Error classes (package errdefs, shared by the agent's packages). Methods
// wrap them with what they were doing; test with errors.Is. Failures of the
// registry keep the registry client's classes (client.ErrNotFound,
// ErrUnauthorized, ErrDenied, ErrUnavailable) in their chain as well.
var (
	// ErrNotFound: no such image in the store, or in the registry.
	ErrNotFound = errdefs.ErrNotFound
	// ErrAmbiguous: a short digest or a name matches more than one image.
	ErrAmbiguous = errdefs.ErrAmbiguous
	// ErrInUse: the image is used by a container or a derived image.
	ErrInUse = errdefs.ErrInUse
	// ErrCorrupt: content does not hash to its digest, or a blob that an
	// image needs is missing from the store.
	ErrCorrupt = errdefs.ErrCorrupt
	// ErrNoPlatform: an index has no manifest for the wanted platform.
	ErrNoPlatform = errdefs.ErrNoPlatform
	// ErrInvalid: a malformed reference, filter, platform or manifest.
	ErrInvalid = errdefs.ErrInvalid
	// ErrUnsafe: an archive or a layer holds an entry that would write
	// outside its root, a device node an unprivileged user may not make,
	// or more than the size limit allows. Nothing of it is kept.
	ErrUnsafe = errdefs.ErrUnsafe
	// ErrExists: the name already names another image, and replacing it
	// was not asked for.
	ErrExists = errdefs.ErrExists
	// ErrAbsent: a foreign layer the image names is not in the store
	// (its URLs were refused or unreachable at install) and the
	// operation needs its content: a container, or a push with
	// non-distributable layers.
	ErrAbsent = errdefs.ErrAbsent
)
