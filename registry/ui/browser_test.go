package ui

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/berth-registry/berth/internal/testutil"
)

// The browser tests drive Debian's headless Chromium (hack/tools.sh
// installs it) through the UI the way a person uses it. Screenshots of
// every page go to $BERTH_UI_SCREENSHOTS when set, else to the test's
// temporary directory.

type browserT struct {
	t    *testing.T
	ctx  context.Context
	base string
	dir  string

	mu       sync.Mutex
	problems []string // console errors, CSP violations, uncaught exceptions
}

func newBrowser(t *testing.T, base string) *browserT {
	t.Helper()
	exe := testutil.RequireTool(t, "chromium")
	dir := os.Getenv("BERTH_UI_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	} else {
		dir = filepath.Join(dir, t.Name())
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox,
		chromedp.WindowSize(1280, 900), chromedp.UserDataDir(t.TempDir()), chromedp.Flag("disable-gpu", true))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelA() })
	b := &browserT{t: t, ctx: ctx, base: base, dir: dir}
	// The first action starts the browser, which lives as long as the
	// context of that call: no timeout on it.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("starting %s: %v", exe, err)
	}
	go func() {
		for m, err := range chromedp.Console(ctx) {
			if err != nil {
				return
			}
			// The error pages the test opens on purpose answer 404.
			expected := strings.Contains(m.Text, "status of 404")
			if (m.Type == chromedp.ConsoleError || m.IsException()) && !expected {
				b.mu.Lock()
				b.problems = append(b.problems, m.String())
				b.mu.Unlock()
			}
		}
	}()
	// Confirm every "delete?" dialog.
	go func() {
		for _, err := range chromedp.Events(ctx, page.JavascriptDialogOpening) {
			if err != nil {
				return
			}
			_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
	origin := strings.TrimSuffix(base, "/")
	for _, p := range []string{"clipboard-read", "clipboard-write"} {
		if _, err := chromedp.CallBrowser(ctx, browser.SetPermission, browser.SetPermissionParams{
			Permission: &browser.PermissionDescriptor{Name: p}, Setting: browser.PermissionSettingGranted, Origin: origin}); err != nil {
			t.Fatalf("permission %s: %v", p, err)
		}
	}
	t.Cleanup(func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, p := range b.problems {
			t.Errorf("browser console: %s", p)
		}
		t.Logf("screenshots in %s", dir)
	})
	return b
}

func (b *browserT) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("browser: %v", err)
	}
}

func (b *browserT) open(path string) {
	b.t.Helper()
	b.do(chromedp.Navigate(b.base+path), chromedp.WaitVisible(chromedp.CSS("main")))
}

// waitFor waits until the JavaScript expression is true.
func (b *browserT) waitFor(expr string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	for {
		// A poll that a navigation interrupts ("navigated or closed",
		// "cannot find context") is started again on the new page.
		_, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(20*time.Millisecond)))
		if err == nil {
			return
		}
		if ctx.Err() != nil || !navigatedAway(err) {
			b.t.Fatalf("waiting for %s: %v (page: %.400s)", expr, err, b.text("main"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (b *browserT) text(sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	for {
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err == nil {
			return s
		}
		// A navigation (a log-out's reload, say) can replace the node
		// between the query that found it and the read of its text:
		// read it again on the new page.
		if ctx.Err() != nil || !navigatedAway(err) {
			b.t.Fatalf("text of %s: %v", sel, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// navigatedAway reports whether err is the browser's answer to a call
// about a page, node or script context that a navigation replaced.
func navigatedAway(err error) bool {
	for _, s := range []string{"navigated or closed", "Cannot find context", "No node with given id"} {
		if strings.Contains(err.Error(), s) {
			return true
		}
	}
	return false
}

func (b *browserT) eval(expr string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("%s: %v", expr, err)
	}
	return s
}

func (b *browserT) shot(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(b.dir, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

func (b *browserT) login(user, password string) {
	b.t.Helper()
	b.open("/ui/")
	b.do(chromedp.Click(chromedp.CSS("#login")), chromedp.WaitVisible(chromedp.CSS("#password")))
	b.do(chromedp.SendKeys(chromedp.CSS("#user"), user), chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.Click(chromedp.CSS("#login-submit")))
	b.waitFor(`document.getElementById("user") && document.getElementById("user").textContent === "` + user + `"`)
}

func TestBrowserSession(t *testing.T) {
	e := newEnv(t)
	seed(e)
	d := e.push("team/api", "v3", image{labels: map[string]string{"org.opencontainers.image.source": "https://example.com/api"}})
	e.pushSignature("team/api", d, 0)
	for i := range 60 {
		e.push("team/many", "t"+string(rune('a'+i/26))+string(rune('a'+i%26)), image{})
	}
	if err := e.app.Store().FillRepoInfos(t.Context()); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, e.srv.URL)
	has := func(sel string, want ...string) {
		t.Helper()
		mustContain(t, b.text(sel), want...)
	}
	hasNot := func(sel string, bad ...string) {
		t.Helper()
		mustNotContain(t, b.text(sel), bad...)
	}

	// Anonymous: public repositories only.
	b.open("/ui/")
	has("main", "public/hello")
	hasNot("main", "team/api", "secret/keys")
	b.shot("01-anonymous-repositories")

	// Log in as alice and browse.
	b.login("alice", "alice-pw")
	has("main", "public/hello", "team/api", "secret/keys", "team/many")
	b.shot("02-repositories")

	// Filter as you type: the list narrows without a page load.
	b.do(chromedp.SendKeys(chromedp.CSS("#q"), "team/"))
	b.waitFor(`!document.getElementById("results").textContent.includes("public/hello")`)
	has("#results", "team/api", "team/many")
	if loc := b.eval(`location.search`); !strings.Contains(loc, "q=team") {
		t.Errorf("the address does not follow the filter: %q", loc)
	}
	b.shot("03-filtered")

	// Sorting by size puts team/many (60 tags) first.
	b.open("/ui/?sort=size")
	if first := b.text("#results tbody tr td a"); first != "team/many" {
		t.Errorf("largest repository %q, want team/many", first)
	}

	// Keyboard: j selects the first row, Enter opens it.
	b.open("/ui/")
	b.do(chromedp.KeyEvent("j"))
	b.waitFor(`document.activeElement && document.activeElement.textContent === "public/hello"`)

	// A repository's tags, paged.
	b.open("/ui/tags?repo=team/many")
	has("main", "Page 1 of 2", "taa")
	b.do(chromedp.Click(chromedp.CSS(`a[rel="next"]`)))
	b.waitFor(`document.querySelector("main").textContent.includes("Page 2 of 2")`)
	b.open("/ui/tags?repo=team/api")
	has("main", "v2", "v3", "linux/amd64")
	b.shot("04-tags")

	// An image: layers, labels, referrers, pull commands.
	b.do(chromedp.Click(chromedp.CSS(`a[href*="ref=v3"]`)))
	b.waitFor(`document.querySelector("h1").textContent === "team/api:v3"`)
	has("main", "org.opencontainers.image.source", "application/vnd.dev.cosign.artifact.sig.v1+json",
		"docker pull", "oras pull", "hostagent install", d.String(), "Layers", "History")
	b.shot("05-image")

	// Copy the docker pull command.
	b.do(chromedp.Click(chromedp.CSS("button.copy")))
	b.waitFor(`document.querySelector("button.copy").getAttribute("data-copied") === "yes"`)
	want := "docker pull " + strings.TrimPrefix(e.srv.URL, "http://") + "/team/api:v3"
	if got := b.eval(`navigator.clipboard.readText()`); got != want {
		t.Errorf("clipboard %q, want %q", got, want)
	}

	// Delete tag v2 from its image page.
	b.open("/ui/image?repo=team/api&ref=v2")
	b.do(chromedp.Click(chromedp.CSS("#delete-tag")))
	b.waitFor(`document.querySelector(".flash") && document.querySelector(".flash").textContent.includes("Deleted tag v2")`)
	hasNot("tbody", "v2")
	b.shot("06-deleted")
	if w := e.do("GET", "/v2/team/api/manifests/v2", "alice", nil); w.Code != 404 {
		t.Errorf("v2 after the UI deleted it: %d", w.Code)
	}

	// Search, storage usage and upstreams pages.
	b.open("/ui/search?q=hello-world")
	has("#results", "public/hello", "1.0")
	b.shot("07-search")
	b.open("/ui/upstreams")
	has("main", "docker.io", "https://registry-1.docker.io")
	b.open("/ui/usage")
	b.shot("08-usage")

	// Phone width and dark mode.
	b.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)))
	b.do(chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}})
		return err
	}))
	b.open("/ui/tags?repo=team/api")
	if w := b.eval(`String(document.documentElement.scrollWidth)`); w != "390" {
		t.Errorf("the tags page is %s px wide on a 390 px phone", w)
	}
	if bg := b.eval(`getComputedStyle(document.body).backgroundColor`); bg != "rgb(13, 17, 23)" {
		t.Errorf("dark mode background %s", bg)
	}
	b.shot("09-phone-dark")
	b.do(chromedp.EmulateViewport(1280, 900))

	// Log out.
	b.do(chromedp.Click(chromedp.CSS("#logout")))
	b.waitFor(`!!document.getElementById("login")`)
	hasNot("main", "team/api", "secret/keys")

	// bob may pull team/** only, and delete nothing.
	b.login("bob", "bob-pw")
	has("main", "team/api", "public/hello")
	hasNot("main", "secret/keys")
	b.open("/ui/tags?repo=team/api")
	if n := b.eval(`String(document.querySelectorAll("form[action$='/ui/delete']").length)`); n != "0" {
		t.Errorf("bob sees %s delete forms", n)
	}
	b.open("/ui/tags?repo=secret/keys")
	has("main", "404", "No repository secret/keys")
	b.shot("10-bob-denied")
}

// TestBrowserWithoutJavaScript reads the pages with scripting off.
func TestBrowserWithoutJavaScript(t *testing.T) {
	e := newEnv(t)
	seed(e)
	b := newBrowser(t, e.srv.URL)
	b.do(chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
		return err
	}))
	b.open("/ui/?q=hello")
	mustContain(t, b.text("main"), "public/hello")
	b.open("/ui/tags?repo=public/hello")
	mustContain(t, b.text("main"), "1.0", "latest", "linux/amd64")
	b.open("/ui/image?repo=public/hello&ref=1.0")
	mustContain(t, b.text("main"), "docker pull", "hello-world", "Layers")
	if hidden := b.eval(`String(document.querySelector("button.copy").hidden)`); hidden != "true" {
		t.Errorf("the copy button shows without JavaScript")
	}
	b.shot("image-no-js")
}
