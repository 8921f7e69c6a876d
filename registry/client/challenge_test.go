package client

import (
	"net/http"
	"reflect"
	"testing"
)

func TestParseChallenges(t *testing.T) {
	for _, tc := range []struct {
		name    string
		headers []string
		want    []challenge
	}{
		{"distribution bearer", []string{`Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull,push"`},
			[]challenge{{"bearer", map[string]string{"realm": "https://auth.example.com/token", "service": "registry.example.com", "scope": "repository:a/b:pull,push"}}}},
		{"basic", []string{`Basic realm="Registry Realm"`},
			[]challenge{{"basic", map[string]string{"realm": "Registry Realm"}}}},
		{"spaces, case and several scopes", []string{`bearer  Realm = "https://a/t" , scope="repository:a:pull repository:b:pull"`},
			[]challenge{{"bearer", map[string]string{"realm": "https://a/t", "scope": "repository:a:pull repository:b:pull"}}}},
		{"two challenges in one header", []string{`Basic realm="x", Bearer realm="https://a/t",service="s"`},
			[]challenge{{"basic", map[string]string{"realm": "x"}}, {"bearer", map[string]string{"realm": "https://a/t", "service": "s"}}}},
		{"two headers", []string{`Basic realm="x"`, `Bearer realm="y"`},
			[]challenge{{"basic", map[string]string{"realm": "x"}}, {"bearer", map[string]string{"realm": "y"}}}},
		{"escapes and unquoted values", []string{`Bearer realm="a\"b\\c",service=svc,error=insufficient_scope`},
			[]challenge{{"bearer", map[string]string{"realm": `a"b\c`, "service": "svc", "error": "insufficient_scope"}}}},
		{"scheme without params", []string{`Negotiate`},
			[]challenge{{"negotiate", map[string]string{}}}},
		{"unterminated quote", []string{`Bearer realm="https://a/t`},
			[]challenge{{"bearer", map[string]string{"realm": "https://a/t"}}}},
		{"junk", []string{`=,,"" `}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			for _, v := range tc.headers {
				h.Add("WWW-Authenticate", v)
			}
			if got := parseChallenges(h); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %#v\nwant %#v", got, tc.want)
			}
		})
	}
}

func TestPick(t *testing.T) {
	basic := challenge{"basic", nil}
	bearer := challenge{"bearer", nil}
	if c := pick([]challenge{basic, bearer}); c == nil || c.scheme != "bearer" {
		t.Errorf("pick(basic, bearer) = %v, want bearer", c)
	}
	if c := pick([]challenge{{"negotiate", nil}, basic}); c == nil || c.scheme != "basic" {
		t.Errorf("pick(negotiate, basic) = %v, want basic", c)
	}
	if c := pick([]challenge{{"negotiate", nil}}); c != nil {
		t.Errorf("pick(negotiate) = %v, want none", c)
	}
}

func TestMergeScopes(t *testing.T) {
	got := mergeScopes([]string{"repository:b:pull", "repository:a:push", "repository:a:pull", "repository:a:pull", "registry:catalog:*", "junk"})
	want := []string{"registry:catalog:*", "repository:a:pull,push", "repository:b:pull"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("mergeScopes = %q, want %q", got, want)
	}
}

func FuzzParseChallenges(f *testing.F) {
	for _, s := range []string{
		`Bearer realm="https://a/t",service="s",scope="repository:a:pull"`,
		`Basic realm="x", Bearer realm="y"`, `a="\`, `,,,=`, `Bearer realm=`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, c := range parseChallengeHeader(s) {
			if c.scheme == "" || c.params == nil {
				t.Fatalf("%q: challenge %#v", s, c)
			}
		}
	})
}

func TestNextLink(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`</v2/_catalog?last=b&n=2>; rel="next"`, "/v2/_catalog?last=b&n=2"},
		{`<https://r.example.com/v2/a/tags/list?last=x>; rel=next`, "https://r.example.com/v2/a/tags/list?last=x"},
		{`</prev>; rel="prev", </next>; rel="next"`, "/next"},
		{`</a>; title="x"; rel="first next"`, "/a"},
		{`</prev>; rel="prev"`, ""},
		{`garbage`, ""},
		{``, ""},
	} {
		h := http.Header{}
		if tc.in != "" {
			h.Set("Link", tc.in)
		}
		if got := nextLink(h); got != tc.want {
			t.Errorf("nextLink(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func FuzzNextLink(f *testing.F) {
	f.Add(`</v2/_catalog?last=b&n=2>; rel="next"`)
	f.Add(`</p>; rel="prev", </n>; rel="next"`)
	f.Fuzz(func(t *testing.T, s string) {
		_ = nextLink(http.Header{"Link": {s}})
	})
}

func TestParseContentRange(t *testing.T) {
	for _, tc := range []struct {
		in           string
		start, total int64
		ok           bool
	}{
		{"bytes 10-99/100", 10, 100, true},
		{"bytes 0-0/1", 0, 1, true},
		{"bytes 10-99/*", 10, -1, true},
		{"bytes */100", -1, 100, true},
		{"bytes 10-100/100", 0, 0, false},
		{"bytes 10-5/100", 0, 0, false},
		{"10-99/100", 0, 0, false},
		{"bytes x-99/100", 0, 0, false},
	} {
		start, total, ok := parseContentRange(tc.in)
		if ok != tc.ok || (ok && (start != tc.start || total != tc.total)) {
			t.Errorf("parseContentRange(%q) = %d, %d, %v; want %d, %d, %v", tc.in, start, total, ok, tc.start, tc.total, tc.ok)
		}
	}
}
