// Package purge removes the uploads a storage root holds that nobody
// sends to any more (Distribution's storage.maintenance.uploadpurging):
// Uploads removes those idle for an age, with the driver's stale pending
// writes (storagedriver.PendingPurger), and Run does so on a schedule.
// Several processes may purge one storage at once.
//
// It is a package of its own, beside registry/storage rather than in it,
// because purging needs nothing of a store: it walks the _uploads
// directories of Distribution's layout through the driver, judges each
// upload by its files' times, and deletes. It takes the driver, as the
// drivers' own maintenance interfaces do; `registry serve` runs it with
// the driver it serves.
//
// Imports: the standard library, storagedriver and
// registry/storage/internal/{layout,check,walk} only (internal/archtest).
package purge
