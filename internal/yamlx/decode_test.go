package yamlx

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

type decInner struct {
	N int           `yaml:"n"`
	D time.Duration `yaml:"d"`
}

type decDoc struct {
	Name  string               `yaml:"name"`
	On    bool                 `yaml:"on"`
	Rate  float64              `yaml:"rate"`
	Inner *decInner            `yaml:"inner"`
	Items []decInner           `yaml:"items"`
	Map   map[string]string    `yaml:"map"`
	Nest  map[string]*decInner `yaml:"nest"`
}

func render(p Problem) error {
	kinds := []string{"shape", "keyname", "unknown", "duplicate", "value"}
	return fmt.Errorf("%s %s %q line %d", kinds[p.Kind], p.Path, p.Key, p.Node.Line)
}

func decodeDoc(t *testing.T, d Decoder, src string) (decDoc, error) {
	t.Helper()
	n, err := Parse([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	var v decDoc
	d.Render = render
	return v, d.Decode(n, "", reflect.ValueOf(&v).Elem())
}

func TestDecoder(t *testing.T) {
	v, err := decodeDoc(t, Decoder{Merge: true}, `
name: x
on: YES
rate: 2.5
inner: &i {n: 3, d: 1m}
items: [{n: 1}, *i]
map: {a: b}
nest:
  base: &b {n: 7, d: 2s}
  over: {<<: *b, n: 8}
`)
	if err != nil {
		t.Fatal(err)
	}
	if v.Name != "x" || !v.On || v.Rate != 2.5 || v.Inner == nil || *v.Inner != (decInner{3, time.Minute}) ||
		len(v.Items) != 2 || v.Items[1].N != 3 || v.Map["a"] != "b" || *v.Nest["over"] != (decInner{8, 2 * time.Second}) {
		t.Errorf("decoded %+v", v)
	}

	// A null: a pointer to a struct is a present, empty section.
	if v, err := decodeDoc(t, Decoder{}, "inner:\nname: ~\n"); err != nil || v.Inner == nil || v.Name != "" {
		t.Errorf("nulls decoded to %+v, %v", v, err)
	}

	bad := "name: [x]\nbogus: 1\non: maybe\non: true\nitems: {n: 1}\nmap: {'': x}\ninner: {<<: {n: 1}}\n"
	_, err = decodeDoc(t, Decoder{}, bad)
	if got := fmt.Sprint(err); got != `shape name "" line 1` {
		t.Errorf("Limit 0: %q, want the first problem only", got)
	}
	_, err = decodeDoc(t, Decoder{Limit: 20}, bad)
	want := []string{`shape name "" line 1`, `unknown  "bogus" line 2`, `value on "" line 3`, `duplicate  "on" line 4`,
		`shape items "" line 5`, `keyname map "" line 6`, `unknown inner "<<" line 7`}
	if got := strings.Split(fmt.Sprint(err), "\n"); !reflect.DeepEqual(got, want) {
		t.Errorf("Limit 20:\n got %q\nwant %q", got, want)
	}
	_, err = decodeDoc(t, Decoder{Limit: 2, TooMany: fmt.Errorf("more")}, bad)
	if got := strings.Split(fmt.Sprint(err), "\n"); len(got) != 3 || got[2] != "more" {
		t.Errorf("Limit 2: %q, want two problems and TooMany", got)
	}
}
