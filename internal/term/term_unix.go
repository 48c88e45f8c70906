//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd

package term

import (
	"os"
	"syscall"
	"unsafe"
)

// isTerminal asks for f's terminal attributes (getAttr): only a terminal
// has them.
func isTerminal(f *os.File) bool {
	raw, err := f.SyscallConn()
	if err != nil {
		return false
	}
	var t syscall.Termios
	var errno syscall.Errno
	if err := raw.Control(func(fd uintptr) {
		_, _, errno = syscall.Syscall(syscall.SYS_IOCTL, fd, uintptr(getAttr), uintptr(unsafe.Pointer(&t)))
	}); err != nil {
		return false
	}
	return errno == 0
}
