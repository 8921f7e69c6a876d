// Package ui is the registry's web UI, served by `registry serve` at /ui/
// on the API's own listener, and the search API (/berth/v1/search) its
// pages use. Pages are rendered on the server from the embedded templates
// (templates/), with a little embedded CSS and JavaScript (static/); they
// read without JavaScript. What a viewer sees is decided by the registry's
// own users and access policy (auth), and deletes go through the API's own
// handler, so the UI can show or do nothing the API would refuse.
// Listings and search read the repository index and its metadata records
// (registry/storage), never a walk of storage per request.
//
// Imports: auth, registry (the HTTP handler, for deletes and options) and
// registry/storage; never the host agent or a storage driver.
package ui
