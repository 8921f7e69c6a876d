package config

import (
	"strings"
	"testing"
)

func TestUIEnabled(t *testing.T) {
	c, err := FromEnv(nil)
	if err != nil || !c.UI.On() {
		t.Fatalf("default: %v, on=%v", err, c.UI.On())
	}
	c, err = FromEnv([]string{"REGISTRY_UI_ENABLED=false"})
	if err != nil || c.UI.On() {
		t.Fatalf("REGISTRY_UI_ENABLED=false: %v, on=%v", err, c.UI.On())
	}
	c, err = Load(strings.NewReader("version: 0.1\nstorage: {inmemory: {}}\nui:\n  enabled: false\n"), nil)
	if err != nil || c.UI.On() {
		t.Fatalf("ui.enabled: false: %v, on=%v", err, c.UI.On())
	}
	if _, err := Load(strings.NewReader("version: 0.1\nstorage: {inmemory: {}}\nui:\n  enabled: maybe\n"), nil); err == nil {
		t.Error("ui.enabled: maybe was accepted")
	}
}
