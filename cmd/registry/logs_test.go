package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestServeLogs: log.formatter, log.fields and log.accesslog.disabled as
// Distribution has them; the access log line carries the request id.
func TestServeLogs(t *testing.T) {
	tests := []struct {
		name      string
		formatter string
		noAccess  bool
		want      []string // substrings of the access-log line
	}{
		{"json", "json", false, []string{`"msg":"request"`, `"request_id":"req-42"`, `"user":"-"`, `"service":"registry"`, `"environment":"test"`}},
		{"logstash", "logstash", false, []string{`"message":"request"`, `"@timestamp":`, `"@version":"1"`, `"request_id":"req-42"`, `"service":"registry"`}},
		{"text", "text", false, []string{"msg=request", "request_id=req-42", "user=-", "service=registry", "environment=test"}},
		{"access log disabled", "json", true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := []string{"REGISTRY_STORAGE=inmemory", "REGISTRY_HTTP_ADDR=127.0.0.1:0", "REGISTRY_HTTP_DRAINTIMEOUT=0s",
				"REGISTRY_LOG_FORMATTER=" + tt.formatter, "REGISTRY_LOG_FIELDS={service: registry, environment: test}"}
			if tt.noAccess {
				env = append(env, "REGISTRY_LOG_ACCESSLOG_DISABLED=true")
			}
			s := startServe(t, []string{"serve"}, env)
			req, err := http.NewRequest("GET", "http://"+s.addr+"/v2/", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("X-Request-Id", "req-42")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got := resp.Header.Get("X-Request-Id"); got != "req-42" {
				t.Errorf("X-Request-Id %q, want req-42 echoed", got)
			}
			if code := s.stop(); code != exitOK {
				t.Fatalf("exit code %d", code)
			}
			var access string
			for _, line := range strings.Split(s.stderr.String(), "\n") {
				if strings.Contains(line, "req-42") {
					access = line
				}
				if tt.formatter != "text" && line != "" && !json.Valid([]byte(line)) {
					t.Errorf("not JSON: %q", line)
				}
			}
			if tt.noAccess {
				if access != "" {
					t.Errorf("access log line %q with log.accesslog.disabled", access)
				}
				return
			}
			for _, w := range tt.want {
				if !strings.Contains(access, w) {
					t.Errorf("access log line %q lacks %s; log:\n%s", access, w, s.stderr)
				}
			}
		})
	}
}

// TestServeLogsAuth: with htpasswd auth and the json formatter, the access
// log names the authenticated user, and the line access control writes for
// a failed login carries the id of its request too.
func TestServeLogsAuth(t *testing.T) {
	dir := t.TempDir()
	ht := htpasswdFile(t, dir, "alice", "pw")
	cfg := writeFile(t, dir, "config.yml", "version: 0.1\nlog:\n  formatter: json\nstorage: inmemory\nhttp:\n  addr: 127.0.0.1:0\n  draintimeout: 0s\n"+
		"auth:\n  htpasswd:\n    realm: berth\n    path: "+ht+"\n")
	s := startServe(t, []string{"serve", cfg}, nil)
	for id, password := range map[string]string{"req-good": "pw", "req-bad": "wrong"} {
		req, _ := http.NewRequest("GET", "http://"+s.addr+"/v2/", nil)
		req.SetBasicAuth("alice", password)
		req.Header.Set("X-Request-Id", id)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if code := s.stop(); code != exitOK {
		t.Fatalf("exit code %d", code)
	}
	lines := map[string][]map[string]any{}
	for _, line := range strings.Split(strings.TrimSpace(s.stderr.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if id, ok := m["request_id"].(string); ok {
			lines[id] = append(lines[id], m)
		}
	}
	if got := lines["req-good"]; len(got) != 1 || got[0]["msg"] != "request" || got[0]["user"] != "alice" || got[0]["status"] != 200.0 {
		t.Errorf("lines of the good login: %v, want one access line naming alice", got)
	}
	if got := lines["req-bad"]; len(got) != 2 || got[0]["msg"] != "login failed" || got[1]["msg"] != "request" || got[1]["user"] != "-" {
		t.Errorf("lines of the bad login: %v, want the login failure, then an access line with user -", got)
	}
}
