package herald

import "testing"

// remoteTransports is filled in when the remote client exists.
func remoteTransports() []transport { return nil }

var _ = testing.Verbose
