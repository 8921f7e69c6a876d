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
