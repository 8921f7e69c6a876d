// Package observed wraps a storage driver so that every operation is
// reported to an Observer (the registry's metrics): which driver, which
// operation, how long it took, how it ended. The wrapper is itself a
// storagedriver.Driver and passes internal/testutil/drivertest.
//
// It offers exactly the optional capabilities of the driver it wraps
// (Walker, Opener, Redirector, PendingPurger), so that code which looks for
// them by type assertion behaves as with the bare driver; those a caller
// tries and falls back from (Stamp, PutContents, Stage, StartPending) are
// always there and answer errors.ErrUnsupported over a driver without
// them. Open returns the
// wrapped driver's reader itself: the filesystem driver's *os.File reaches
// http.ServeContent unchanged and blob pulls keep using sendfile.
//
// Imports: the standard library and storagedriver only.
package observed
