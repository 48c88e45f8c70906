package vfs

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// Faulty fails exactly the operations its injector picks, and a short
// write leaves exactly the bytes it says it wrote.
func TestFaultyInjects(t *testing.T) {
	tests := []struct {
		op   Op
		call func(fs *Faulty, dir string) error
	}{
		{OpOpen, func(fs *Faulty, dir string) error {
			_, err := fs.OpenFile(filepath.Join(dir, "f"), os.O_CREATE|os.O_RDWR, 0o644)
			return err
		}},
		{OpSyncDir, func(fs *Faulty, dir string) error { return fs.SyncDir(dir) }},
		{OpRemove, func(fs *Faulty, dir string) error {
			os.WriteFile(filepath.Join(dir, "r"), nil, 0o644)
			return fs.Remove(filepath.Join(dir, "r"))
		}},
		{OpRename, func(fs *Faulty, dir string) error {
			os.WriteFile(filepath.Join(dir, "a"), nil, 0o644)
			return fs.Rename(filepath.Join(dir, "a"), filepath.Join(dir, "b"))
		}},
	}
	for _, tt := range tests {
		t.Run(string(tt.op), func(t *testing.T) {
			fs := NewFaulty(OS)
			dir := t.TempDir()
			if err := tt.call(fs, dir); err != nil {
				t.Fatalf("without an injector: %v", err)
			}
			fs.SetInjector(func(op Op, _ string) Fault {
				if op == tt.op {
					return Fault{Err: ErrInjected}
				}
				return Fault{}
			})
			if err := tt.call(fs, t.TempDir()); !errors.Is(err, ErrInjected) {
				t.Fatalf("with the injector: %v, want ErrInjected", err)
			}
		})
	}
}

func TestFaultyShortWriteAndSync(t *testing.T) {
	fs := NewFaulty(OS)
	path := filepath.Join(t.TempDir(), "f")
	f, err := fs.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fs.SetInjector(func(op Op, _ string) Fault {
		switch op {
		case OpWrite:
			return Fault{ShortWrite: 3}
		case OpSync:
			return Fault{Err: ErrInjected}
		}
		return Fault{}
	})
	n, err := f.Write([]byte("hello"))
	if n != 3 || !errors.Is(err, ErrInjected) {
		t.Fatalf("short write: n=%d err=%v, want 3 and ErrInjected", n, err)
	}
	if err := f.Sync(); !errors.Is(err, ErrInjected) {
		t.Fatalf("sync: %v, want ErrInjected", err)
	}
	if got, _ := os.ReadFile(path); string(got) != "hel" {
		t.Fatalf("file holds %q after a 3-byte short write", got)
	}
}
