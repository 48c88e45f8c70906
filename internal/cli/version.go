package cli

import (
	"runtime"
	"runtime/debug"
)

// Version is the release, set at link time:
//
//	go build -ldflags "-X github.com/heraldhq/herald/internal/cli.Version=v1.2.3" ./cmd/herald
//
// When it is empty, version() falls back to the module version or the VCS
// revision the Go toolchain recorded.
var Version = ""

var cmdVersion = &command{
	name: "version", summary: "print the version",
	help: `Print the version of this herald binary (not of the server at --url).

Example:
  herald version --json`,
	run: runVersion,
}

func version() string {
	if Version != "" {
		return Version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			return "devel-" + s.Value[:12]
		}
	}
	return "devel"
}

func runVersion(e *env, args []string) error {
	if _, err := e.parse(args, nil); err != nil {
		return err
	}
	if e.json {
		return e.out.jsonValue(map[string]string{
			"version": version(), "go": runtime.Version(), "os": runtime.GOOS, "arch": runtime.GOARCH,
		})
	}
	return e.out.printf("herald %s (%s, %s/%s)\n", version(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
