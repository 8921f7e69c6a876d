package proxy

// What the cache keeps besides the content itself, which lives in the
// shared layout of registry/storage (paths.go there): under Berth's own
// prefix, so that several registry processes over one storage share it.
//
//	/berth/v1/proxy/
//	└── repositories/<name>/_tags/<tag>/checkedat   RFC 3339 time at which the
//	                                                 upstream last confirmed or
//	                                                 set the cached tag
//
// Names and tags are validated (storage.CheckName, storage.CheckTag) before
// they reach these functions. No repository component starts with "_", so
// _tags cannot collide with a repository name.
const proxyRoot = "/berth/v1/proxy"

func tagCheckedPath(name, tag string) string {
	return proxyRoot + "/repositories/" + name + "/_tags/" + tag + "/checkedat"
}
