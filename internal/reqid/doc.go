// Package reqid carries a request's id in its context and puts it on every
// log line written with that context, whichever package writes it (the
// API, access control, the pull-through cache), without each one passing
// the id along.
//
// Imports: the standard library only.
package reqid
