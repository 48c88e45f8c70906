package main

import (
	"os"
	"testing"
)

// TestMain lets the test binary be the echo peer of
// measureLoopbackRoundTrip, as main lets the harness's binary be: the probe
// re-executes os.Executable(), which under go test is this binary.
func TestMain(m *testing.M) {
	if os.Getenv(echoEnv) != "" {
		os.Exit(runEcho(os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}
