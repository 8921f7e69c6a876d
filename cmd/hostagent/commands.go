package main

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/berth-registry/berth/hostagent"
	"github.com/berth-registry/berth/registry/client"
)

func cmdFind(ctx context.Context, e *env, args []string) error {
	fs := e.flags("find")
	var opts hostagent.FindOptions
	fs.StringVar(&opts.Registry, "registry", "", "registry host to search")
	fs.StringVar(&opts.MinVersion, "min-version", "", "lowest version to show")
	fs.StringVar(&opts.MaxVersion, "max-version", "", "highest version to show")
	fs.BoolVar(&opts.AllVersions, "all-versions", false, "every tag, not only the newest version")
	platform := fs.String("platform", "", "only images offering os/arch[/variant][:osversion], each described by the child install --platform would take")
	var lo listOptions
	pos, err := lo.parse(e, fs, args, "find takes at most one NAME-GLOB")
	if err != nil {
		return err
	}
	if *platform != "" {
		p, err := hostagent.ParsePlatform(*platform)
		if err != nil {
			return usagef("find: --platform: %v", err)
		}
		opts.Platform = &p
	}
	if len(pos) == 1 {
		opts.Name = pos[0]
		// A leading registry host, as in a reference: localhost:5000/team/*.
		if host, rest, ok := strings.Cut(pos[0], "/"); ok && looksLikeHost(host) {
			if opts.Registry == "" {
				opts.Registry = host
			}
			opts.Name = rest
		}
	}
	if opts.Registry == "" {
		return usagef("find: name a registry: find HOST/NAME-GLOB, or --registry HOST")
	}
	a, err := e.remoteAgent()
	if err != nil {
		return err
	}
	found, err := a.Find(ctx, opts)
	if err != nil {
		return err
	}
	return e.printFound(lo, found)
}

// looksLikeHost is docker's rule for a registry component of a name.
func looksLikeHost(s string) bool {
	return strings.ContainsAny(s, ".:") || s == "localhost"
}

func cmdInstall(ctx context.Context, e *env, args []string) error {
	fs := e.flags("install")
	var opts hostagent.PullOptions
	fs.StringVar(&opts.Platform, "platform", "", "os/arch[/variant] to install from a multi-platform image (default: this host's)")
	foreignURLs := fs.String("foreign-urls", "", "only fetch foreign and non-distributable layers from URLs matching this regular expression (default: any http or https URL)")
	fromFile := fs.String("from-file", "", "install from an archive or directory instead, as load -i does")
	name := fs.String("name", "", "with --from-file: name the image REF")
	force := fs.Bool("force", false, "with --from-file: replace images the archive's names already name")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if *fromFile != "" {
		if len(pos) != 0 {
			return usagef("install --from-file takes no REF (name it with --name)")
		}
		return e.load(ctx, *fromFile, hostagent.LoadOptions{Platform: opts.Platform, Name: *name, Force: *force})
	}
	if len(pos) != 1 {
		return usagef("install takes one REF")
	}
	if opts.ForeignURLs, err = foreignURLPattern(*foreignURLs); err != nil {
		return err
	}
	pr := e.newProgress("install")
	a, err := e.agent(hostagent.WithProgress(pr.event))
	if err != nil {
		return err
	}
	img, err := a.Pull(ctx, pos[0], opts)
	pr.wait()
	if err != nil {
		return err
	}
	e.warnAbsent(img)
	e.noteForeignOS(img.Reference, img.Platform)
	return e.printInstalled(img)
}

func cmdList(ctx context.Context, e *env, args []string) error {
	fs := e.flags("list")
	var filters multiFlag
	fs.Var(&filters, "filter", "name=GLOB, publisher=P, version=V, os-image=true|false (repeatable)")
	fs.Var(&filters, "f", "short for --filter")
	var lo listOptions
	pos, err := lo.parse(e, fs, args, "list takes at most one NAME-GLOB")
	if err != nil {
		return err
	}
	if len(pos) == 1 {
		filters = append(filters, "name="+pos[0])
	}
	f, err := hostagent.ParseFilter(filters)
	if err != nil {
		return err
	}
	if ok, err := e.storeExists(); err != nil || !ok {
		return cmp.Or(err, e.printImages(lo, nil)) // list never creates a store
	}
	a, err := e.agent()
	if err != nil {
		return err
	}
	imgs, err := a.List(ctx, f)
	if err != nil {
		return err
	}
	return e.printImages(lo, imgs)
}

func cmdInspect(ctx context.Context, e *env, args []string) error {
	a, pos, err := e.agentFor(e.flags("inspect"), args, 1, 1, "inspect takes one REF")
	if err != nil {
		return err
	}
	d, err := a.Inspect(ctx, pos[0])
	if err != nil {
		return err
	}
	return e.printDetails(d)
}

func cmdTag(ctx context.Context, e *env, args []string) error {
	a, pos, err := e.agentFor(e.flags("tag"), args, 2, 2, "tag takes SRC and DST")
	if err != nil {
		return err
	}
	return a.Tag(ctx, pos[0], e.localName(pos[1]))
}

func cmdUntag(ctx context.Context, e *env, args []string) error {
	a, pos, err := e.agentFor(e.flags("untag"), args, 1, 1, "untag takes one REF")
	if err != nil {
		return err
	}
	return a.Untag(ctx, pos[0])
}

func cmdRemove(ctx context.Context, e *env, args []string) error {
	fs := e.flags("remove")
	force := fs.Bool("force", false, "remove even while a container or derived image uses it")
	fs.BoolVar(force, "f", false, "short for --force")
	a, pos, err := e.agentFor(fs, args, 1, -1, "remove takes at least one REF (a name, a glob, a digest, or - to read them from standard input)")
	if err != nil {
		return err
	}
	refs, err := e.expandRefs(ctx, a, pos)
	if err != nil {
		return err
	}
	var all hostagent.RemoveResult
	for _, ref := range refs {
		res, err := a.Remove(ctx, ref, *force)
		all.Untagged = append(all.Untagged, res.Untagged...)
		all.Deleted = append(all.Deleted, res.Deleted...)
		all.DeletedBytes += res.DeletedBytes
		if err != nil {
			if len(all.Untagged) > 0 {
				_ = e.printRemoved(all) // what the earlier REFs did
			}
			return err
		}
	}
	return e.printRemoved(all)
}

func cmdPrune(ctx context.Context, e *env, args []string) error {
	a, _, err := e.agentFor(e.flags("prune"), args, 0, 0, "prune takes no arguments")
	if err != nil {
		return err
	}
	res, err := a.Prune(ctx)
	if err != nil {
		return err
	}
	return e.printRemoved(res)
}

func cmdPush(ctx context.Context, e *env, args []string) error {
	fs := e.flags("push")
	nondist := fs.Bool("allow-nondistributable", false, "upload foreign and non-distributable layers too (by default they stay at their URLs)")
	pos, err := parseN(fs, args, 1, 2, "push takes REF and an optional DEST")
	if err != nil {
		return err
	}
	dest := ""
	if len(pos) == 2 {
		dest = pos[1]
	}
	pr := e.newProgress("push")
	a, err := e.agent(hostagent.WithProgress(pr.event), hostagent.WithPushNondistributable(*nondist))
	if err != nil {
		return err
	}
	res, err := a.Push(ctx, pos[0], dest)
	pr.wait()
	if err != nil {
		return err
	}
	return e.printPushed(res)
}

func cmdVerify(ctx context.Context, e *env, args []string) error {
	fs := e.flags("verify")
	repair := fs.Bool("repair", false, "delete corrupt blobs, so that installing again fetches them, and fetch absent foreign layers from their URLs")
	foreignURLs := fs.String("foreign-urls", "", "with --repair: only fetch foreign layers from URLs matching this regular expression (default: any http or https URL)")
	if _, err := parseN(fs, args, 0, 0, "verify takes no arguments"); err != nil {
		return err
	}
	allow, err := foreignURLPattern(*foreignURLs)
	if err != nil {
		return err
	}
	a, err := e.agent(hostagent.WithForeignURLs(allow))
	if err != nil {
		return err
	}
	rep, err := a.Verify(ctx, *repair)
	if perr := e.printVerify(rep); perr != nil && err == nil {
		err = perr
	}
	return err
}

func cmdLogin(ctx context.Context, e *env, args []string) error {
	fs := e.flags("login")
	var cred client.Credential
	fs.StringVar(&cred.Username, "username", "", "user name")
	fs.StringVar(&cred.Username, "u", "", "short for --username")
	fs.StringVar(&cred.Password, "password", "", "password (prefer --password-stdin)")
	fs.StringVar(&cred.Password, "p", "", "short for --password")
	stdin := fs.Bool("password-stdin", false, "read the password from standard input")
	pos, err := parseN(fs, args, 1, 1, "login takes one HOST")
	if err != nil {
		return err
	}
	if *stdin {
		line, err := bufio.NewReader(e.stdin).ReadString('\n')
		if err != nil && err != io.EOF {
			return fmt.Errorf("read password: %w", err)
		}
		cred.Password = strings.TrimRight(line, "\r\n")
	}
	if cred.Username == "" || cred.Password == "" {
		return usagef("login needs --username and a password (--password-stdin)")
	}
	a, err := e.agent()
	if err != nil {
		return err
	}
	if err := a.Login(ctx, pos[0], cred); err != nil {
		return err
	}
	if !e.quiet {
		fmt.Fprintln(e.stdout, "Login Succeeded")
	}
	return nil
}

func cmdLogout(ctx context.Context, e *env, args []string) error {
	a, pos, err := e.agentFor(e.flags("logout"), args, 1, 1, "logout takes one HOST")
	if err != nil {
		return err
	}
	if err := a.Logout(ctx, pos[0]); err != nil {
		return err
	}
	if !e.quiet {
		fmt.Fprintf(e.stdout, "Removed login credentials for %s\n", pos[0])
	}
	return nil
}
