// Package term tells whether a file is a terminal, for the CLI's and the
// load generator's choices that depend on a person watching: colour, a
// progress line, following a tail, a hint to end input with Ctrl-D.
//
// It asks the terminal driver (an ioctl on Unix, the console mode on
// Windows) rather than looking for a character device: /dev/null is a
// character device too, and taking it for a terminal made `herald tail
// TOPIC >/dev/null` follow forever instead of ending.
package term

import "os"

// IsTerminal reports whether f is attached to a terminal.
func IsTerminal(f *os.File) bool {
	if f == nil {
		return false
	}
	return isTerminal(f)
}
