//go:build unix

package server

import (
	"net"
	"syscall"
)

// bytesWaiting returns a function reporting whether conn has received
// bytes not read yet, without reading them (recv with MSG_PEEK and
// MSG_DONTWAIT), or nil when conn is not a socket it can ask.
func bytesWaiting(conn net.Conn) func() bool {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	var b [1]byte
	return func() bool {
		waiting := false
		raw.Read(func(fd uintptr) bool {
			n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
			waiting = err == nil && n > 0
			return true // never wait: the answer is for now
		})
		return waiting
	}
}
