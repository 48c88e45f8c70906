package atomicfile

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/heraldhq/herald/internal/vfs"
)

func TestWriteThenRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.json")
	for _, want := range []string{`{"v":1}`, `{"v":2, "longer": true}`, ``} {
		if err := Write(vfs.OS, path, []byte(want)); err != nil {
			t.Fatal(err)
		}
		got, err := Read(vfs.OS, path)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Fatalf("read %q, want %q", got, want)
		}
	}
}

func TestReadMissingIsNotExist(t *testing.T) {
	_, err := Read(vfs.OS, filepath.Join(t.TempDir(), "absent"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v, want os.ErrNotExist", err)
	}
}

// A failure at any step of Write leaves the old contents readable.
func TestFailedWriteKeepsOldContents(t *testing.T) {
	for _, op := range []vfs.Op{vfs.OpOpen, vfs.OpWrite, vfs.OpSync, vfs.OpRename} {
		t.Run(string(op), func(t *testing.T) {
			fs := vfs.NewFaulty(vfs.OS)
			path := filepath.Join(t.TempDir(), "meta.json")
			if err := Write(fs, path, []byte("old")); err != nil {
				t.Fatal(err)
			}
			fs.SetInjector(func(o vfs.Op, _ string) vfs.Fault {
				if o == op {
					return vfs.Fault{Err: vfs.ErrInjected, ShortWrite: 2}
				}
				return vfs.Fault{}
			})
			if err := Write(fs, path, []byte("new contents")); !errors.Is(err, vfs.ErrInjected) {
				t.Fatalf("Write error = %v, want injected fault", err)
			}
			got, err := Read(vfs.OS, path)
			if err != nil || string(got) != "old" {
				t.Fatalf("after failed write: %q, %v; want old contents", got, err)
			}
		})
	}
}
