package ui

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/registry/storage"
	"github.com/berth-registry/berth/registry/storage/repometa"
)

// maxConfigShown bounds the image config the image page reads.
const maxConfigShown = 1 << 20

// manifestView is what the image page reads of a manifest or index.
type manifestView struct {
	MediaType    string            `json:"mediaType"`
	ArtifactType string            `json:"artifactType"`
	Config       *v1.Descriptor    `json:"config"`
	Layers       []v1.Descriptor   `json:"layers"`
	Manifests    []v1.Descriptor   `json:"manifests"`
	Subject      *v1.Descriptor    `json:"subject"`
	Annotations  map[string]string `json:"annotations"`
}

// configView is what the image page reads of an image config.
type configView struct {
	Created      *time.Time `json:"created"`
	Author       string     `json:"author"`
	OS           string     `json:"os"`
	Architecture string     `json:"architecture"`
	Variant      string     `json:"variant"`
	Config       struct {
		Labels     map[string]string `json:"Labels"`
		Entrypoint []string          `json:"Entrypoint"`
		Cmd        []string          `json:"Cmd"`
		WorkingDir string            `json:"WorkingDir"`
	} `json:"config"`
	History []struct {
		Created    *time.Time `json:"created"`
		CreatedBy  string     `json:"created_by"`
		Comment    string     `json:"comment"`
		EmptyLayer bool       `json:"empty_layer"`
	} `json:"history"`
}

type command struct {
	Tool, Text string
}

type imageData struct {
	Repo, Ref, Tag string
	Digest         digest.Digest
	Size           int64 // the manifest's own bytes
	Total          int64 // with config and layers
	Manifest       manifestView
	Config         *configView
	Platform       string
	Referrers      []v1.Descriptor
	Commands       []command
	Pretty         string // the manifest, indented
	MayDelete      bool
	IsIndex        bool
}

// image shows one manifest: ?repo=<name>&ref=<tag or digest>.
func (h *Handler) image(w http.ResponseWriter, r *http.Request, v *viewer) error {
	name, err := h.repoParam(r, v)
	if err != nil {
		return err
	}
	ref := r.URL.Query().Get("ref")
	if storage.IsDigest(ref) {
		if _, err := storage.ParseDigest(ref); err != nil {
			return pageError(http.StatusBadRequest, "%q is not a valid digest.", ref)
		}
	} else if storage.CheckTag(ref) != nil {
		return pageError(http.StatusBadRequest, "%q is not a valid tag.", ref)
	}
	m, err := h.store.GetManifest(r.Context(), name, ref)
	if errors.Is(err, storage.ErrManifestUnknown) {
		return pageError(http.StatusNotFound, "No manifest %s in %s.", ref, name)
	}
	if err != nil {
		return err
	}
	d := imageData{Repo: name, Ref: ref, Digest: m.Digest, Size: int64(len(m.Payload)), MayDelete: v.MayDelete(name)}
	if !storage.IsDigest(ref) {
		d.Tag = ref
	}
	if err := json.Unmarshal(m.Payload, &d.Manifest); err != nil {
		return pageError(http.StatusUnprocessableEntity, "The manifest does not decode: %v", err)
	}
	if d.Manifest.MediaType == "" {
		d.Manifest.MediaType = m.MediaType
	}
	d.IsIndex = d.Manifest.MediaType == v1.MediaTypeImageIndex || d.Manifest.MediaType == storage.MediaTypeDockerList
	var pretty bytes.Buffer
	if json.Indent(&pretty, m.Payload, "", "  ") == nil {
		d.Pretty = pretty.String()
	}
	d.Total = d.Size
	if c := d.Manifest.Config; c != nil {
		d.Total += c.Size
		if (c.MediaType == v1.MediaTypeImageConfig || c.MediaType == "application/vnd.docker.container.image.v1+json") && c.Size <= maxConfigShown {
			if d.Config, err = h.readConfig(r, name, c.Digest); err != nil {
				return err
			}
			if d.Config != nil && d.Config.OS != "" {
				d.Platform = repometa.FormatPlatform(v1.Platform{OS: d.Config.OS, Architecture: d.Config.Architecture, Variant: d.Config.Variant})
			}
		}
	}
	for _, l := range d.Manifest.Layers {
		d.Total += l.Size
	}
	for _, c := range d.Manifest.Manifests {
		d.Total += c.Size
	}
	if d.Referrers, err = h.store.Referrers(r.Context(), name, m.Digest, ""); err != nil {
		return err
	}
	d.Commands = pullCommands(r.Host, name, d.Tag, m.Digest)
	title := name + "@" + m.Digest.String()
	if d.Tag != "" {
		title = name + ":" + d.Tag
	}
	return h.render(w, r, v, http.StatusOK, "image", title, d)
}

// readConfig reads image config d; nil when it is not stored (layers and
// configs need not be, under some validation settings).
func (h *Handler) readConfig(r *http.Request, name string, d digest.Digest) (*configView, error) {
	rc, _, err := h.store.OpenBlob(r.Context(), name, d)
	if errors.Is(err, storage.ErrBlobUnknown) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxConfigShown))
	if err != nil {
		return nil, err
	}
	var c configView
	if json.Unmarshal(b, &c) != nil {
		return nil, nil
	}
	return &c, nil
}

// pullCommands are the commands that fetch the image from this registry.
func pullCommands(host, name, tag string, d digest.Digest) []command {
	ref := host + "/" + name + "@" + d.String()
	byTag := ref
	if tag != "" {
		byTag = host + "/" + name + ":" + tag
	}
	return []command{
		{"docker", "docker pull " + byTag},
		{"oras", "oras pull " + ref},
		{"hostagent", "hostagent install " + byTag},
	}
}

// delete deletes a tag, or a manifest with its tags, through the
// registry's DELETE handler: form fields repo, ref, csrf.
func (h *Handler) delete(w http.ResponseWriter, r *http.Request, v *viewer) error {
	name := r.PostFormValue("repo")
	ref := r.PostFormValue("ref")
	if storage.CheckName(name) != nil || ref == "" {
		return pageError(http.StatusBadRequest, "The form names no valid repository and reference.")
	}
	if !v.MayPull(name) {
		return pageError(http.StatusNotFound, "No repository %s that you may see.", name)
	}
	if !v.h.app.DeletesEnabled() {
		return pageError(http.StatusMethodNotAllowed, "Deletes are disabled on this registry.")
	}
	if !v.MayDelete(name) {
		return pageError(http.StatusForbidden, "You may not delete in %s.", name)
	}
	if err := h.app.DeleteAs(r, v.User, name, ref); err != nil {
		return err
	}
	h.log.InfoContext(r.Context(), "deleted from the ui", "user", v.User, "repository", name, "reference", ref)
	what := "tag " + ref
	if strings.Contains(ref, ":") {
		what = "manifest " + ref
	}
	http.Redirect(w, r, h.prefix+Path+"tags?"+query("repo", name, "done", "Deleted "+what+"."), http.StatusSeeOther)
	return nil
}
