package term

import (
	"os"
	"syscall"
)

// isTerminal: a console handle has a console mode; a file, a pipe or NUL
// has none.
func isTerminal(f *os.File) bool {
	var mode uint32
	return syscall.GetConsoleMode(syscall.Handle(f.Fd()), &mode) == nil
}
