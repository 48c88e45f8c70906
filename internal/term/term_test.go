package term

import (
	"os"
	"path/filepath"
	"testing"
)

// Only a terminal is a terminal: not /dev/null (a character device, which
// the old test took for one), a pipe or a regular file.
func TestIsTerminal(t *testing.T) {
	devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer devNull.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	regular, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer regular.Close()
	for _, tc := range []struct {
		name string
		f    *os.File
		want bool
	}{
		{"nil", nil, false},
		{"the null device", devNull, false},
		{"a pipe's read end", r, false},
		{"a pipe's write end", w, false},
		{"a regular file", regular, false},
	} {
		if got := IsTerminal(tc.f); got != tc.want {
			t.Errorf("IsTerminal(%s) = %v, want %v", tc.name, got, tc.want)
		}
	}
}
