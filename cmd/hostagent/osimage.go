package main

import (
	"cmp"
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/berth-registry/berth/hostagent"
	"github.com/berth-registry/berth/hostagent/osimage"
	"github.com/berth-registry/berth/internal/oci"
)

// installOSImageCommand is `install-os-image`, the Install-ContainerOSImage
// cmdlet: a base OS image from a WIM, a root filesystem tar or a directory.
var installOSImageCommand = command{
	"install-os-image", nil,
	"FILE|DIR [--name REF] [--index N|--image NAME] [--publisher P] [--version V] [--platform os/arch[/variant][:osversion]] [--force]",
	"make a base OS image from a WIM, a root filesystem tar (plain, gzip, zstd) or a directory",
	cmdInstallOSImage,
}

func cmdInstallOSImage(ctx context.Context, e *env, args []string) error {
	fs := e.flags("install-os-image")
	var opts hostagent.OSImageOptions
	fs.StringVar(&opts.Name, "name", "", "name the image REF (default: a WIM image's name under localhost/; tag: the version)")
	fs.IntVar(&opts.Index, "index", 0, "of a WIM with several images: the one of this index (1-based)")
	fs.StringVar(&opts.Image, "image", "", "of a WIM with several images: the one of this name")
	fs.StringVar(&opts.Publisher, "publisher", "", "the image's publisher (org.opencontainers.image.vendor)")
	fs.StringVar(&opts.Version, "version", "", "the image's version (default: a WIM image's Windows version)")
	platform := fs.String("platform", "", "os/arch[/variant][:osversion] (default: a WIM's windows/ARCH:VERSION, else this host's)")
	fs.BoolVar(&opts.Force, "force", false, "replace an image of that name")
	pos, err := parseN(fs, args, 1, 1, "install-os-image takes one FILE or DIR")
	if err != nil {
		return err
	}
	if opts.Index > 0 && opts.Image != "" {
		return usagef("install-os-image: --index or --image, not both")
	}
	if *platform != "" {
		p, err := oci.ParsePlatform(*platform)
		if err != nil {
			return usagef("install-os-image: %v", err)
		}
		opts.Platform = &p
	}
	a, err := e.agent()
	if err != nil {
		return err
	}
	res, err := a.InstallOSImage(ctx, pos[0], opts)
	if err != nil {
		return err
	}
	e.noteForeignOS(res.Reference, res.Platform)
	return e.printOSImage(res)
}

// noteForeignOS says, once, that an image installed is for another OS than
// this host's: the store keeps it, and a container of it only unpacks its
// files (for Windows, the Files/ tree, without Hives/, the Windows
// attributes and security descriptors).
func (e *env) noteForeignOS(ref, platform string) {
	host := oci.HostPlatform()
	os, _, _ := strings.Cut(platform, "/")
	if e.quiet || platform == "" || os == host.OS {
		return
	}
	fmt.Fprintf(e.stderr, "hostagent: note: %s is a %s image and this host is %s: the store keeps it, and a container of it only unpacks its files\n",
		ref, platform, oci.FormatPlatform(host))
}

func (e *env) printOSImage(res osimage.Result) error {
	switch {
	case e.format == "json":
		return e.json(res)
	case e.quiet:
		fmt.Fprintln(e.stdout, res.Reference)
		return nil
	}
	what := res.Kind
	if w := res.WIMImage; w != nil {
		what = fmt.Sprintf("WIM image %d %q", w.Index, w.Name)
	}
	verb := "Installed"
	if res.Replaced {
		verb = "Replaced"
	}
	plat := res.Platform
	if res.OSVersion != "" {
		plat += ":" + res.OSVersion
	}
	fmt.Fprintf(e.stdout, "%s OS image %s (%s) from %s, %s, layer %s\n", verb, res.Reference, plat, what, shortDigest(res.Digest), humanSize(res.Layer.Size))
	return nil
}

// foreignURLPattern compiles install's --foreign-urls ("" is none).
func foreignURLPattern(s string) (*regexp.Regexp, error) {
	if s == "" {
		return nil, nil
	}
	re, err := regexp.Compile(s)
	if err != nil {
		return nil, usagef("--foreign-urls: %v", err)
	}
	return re, nil
}

// warnAbsent says, one line each, which foreign layers install left out of
// the store and why: the image is installed without them. Quiet or not,
// as they change what the image can do here.
func (e *env) warnAbsent(img hostagent.Image) {
	for _, l := range img.Absent {
		fmt.Fprintf(e.stderr, "hostagent: warning: foreign layer %s of %s not installed (URLs %s): %s; the image is installed without it (a container of it cannot be made; verify --repair fetches it later)\n",
			l.Digest, img.Reference, strings.Join(l.URLs, ", "), cmp.Or(l.Reason, "not fetched"))
	}
}

// windowsNotice is what container create says of a Windows image.
const windowsNotice = "hostagent: note: %s is a windows image: only the Files/ tree of its layers is unpacked, as the root filesystem; Hives/, alternate data streams and Windows attributes and security descriptors are not applied\n"
