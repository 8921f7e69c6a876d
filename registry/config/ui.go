package config

// UI is the ui section: the web UI served at <http.prefix>/ui/ and the
// search API at <http.prefix>/berth/v1/search, on the registry's own
// listener.
//
//	ui:
//	  enabled: false   # default true
type UI struct {
	// Enabled turns the UI and the search API off when false; unset is
	// on.
	Enabled *bool `yaml:"enabled"`
}

// On reports whether the UI is served.
func (u UI) On() bool { return u.Enabled == nil || *u.Enabled }
