//go:build !unix

package server

import "net"

// bytesWaiting cannot ask this platform's sockets: large PUBLISH frames
// go to request goroutines (publishNow).
func bytesWaiting(net.Conn) func() bool { return nil }
