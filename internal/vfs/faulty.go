package vfs

import (
	"errors"
	"os"
	"sync"
)

// Op names a filesystem operation for fault injection.
type Op string

// The operations Faulty can fail.
const (
	OpOpen     Op = "open"
	OpWrite    Op = "write"
	OpSync     Op = "sync"
	OpTruncate Op = "truncate"
	OpRemove   Op = "remove"
	OpRename   Op = "rename"
	OpSyncDir  Op = "syncdir"
)

// ErrInjected is the error Faulty returns when a test did not choose one.
var ErrInjected = errors.New("vfs: injected fault")

// Fault is what an injector decides for one operation. A zero Fault lets the
// operation through. ShortWrite, for OpWrite only, writes that many bytes
// before failing, as a full disk does.
type Fault struct {
	Err        error
	ShortWrite int
}

// Faulty wraps an FS and asks Inject before every operation whether it
// should fail. Inject may be replaced at any time; it is called under a lock,
// so it may keep state (counters) without its own locking.
type Faulty struct {
	FS FS

	mu     sync.Mutex
	inject func(op Op, path string) Fault
}

// NewFaulty returns a Faulty over fs that injects nothing until SetInjector.
func NewFaulty(fs FS) *Faulty { return &Faulty{FS: fs} }

// SetInjector replaces the fault injector; nil injects nothing.
func (f *Faulty) SetInjector(inject func(op Op, path string) Fault) {
	f.mu.Lock()
	f.inject = inject
	f.mu.Unlock()
}

func (f *Faulty) fault(op Op, path string) Fault {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.inject == nil {
		return Fault{}
	}
	ft := f.inject(op, path)
	if ft.Err == nil && ft.ShortWrite > 0 {
		ft.Err = ErrInjected
	}
	return ft
}

func (f *Faulty) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	if ft := f.fault(OpOpen, name); ft.Err != nil {
		return nil, &os.PathError{Op: "open", Path: name, Err: ft.Err}
	}
	file, err := f.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &faultyFile{File: file, fs: f}, nil
}

func (f *Faulty) Remove(name string) error {
	if ft := f.fault(OpRemove, name); ft.Err != nil {
		return &os.PathError{Op: "remove", Path: name, Err: ft.Err}
	}
	return f.FS.Remove(name)
}

func (f *Faulty) Rename(oldpath, newpath string) error {
	if ft := f.fault(OpRename, newpath); ft.Err != nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: ft.Err}
	}
	return f.FS.Rename(oldpath, newpath)
}

func (f *Faulty) MkdirAll(path string, perm os.FileMode) error { return f.FS.MkdirAll(path, perm) }
func (f *Faulty) ReadDir(name string) ([]os.DirEntry, error)   { return f.FS.ReadDir(name) }
func (f *Faulty) Stat(name string) (os.FileInfo, error)        { return f.FS.Stat(name) }

func (f *Faulty) SyncDir(name string) error {
	if ft := f.fault(OpSyncDir, name); ft.Err != nil {
		return &os.PathError{Op: "syncdir", Path: name, Err: ft.Err}
	}
	return f.FS.SyncDir(name)
}

type faultyFile struct {
	File
	fs *Faulty
}

func (f *faultyFile) Write(p []byte) (int, error) {
	ft := f.fs.fault(OpWrite, f.Name())
	if ft.Err == nil {
		return f.File.Write(p)
	}
	n := min(ft.ShortWrite, len(p))
	if n > 0 {
		if w, err := f.File.Write(p[:n]); err != nil {
			return w, err
		}
	}
	return n, &os.PathError{Op: "write", Path: f.Name(), Err: ft.Err}
}

func (f *faultyFile) WriteAt(p []byte, off int64) (int, error) {
	ft := f.fs.fault(OpWrite, f.Name())
	if ft.Err == nil {
		return f.File.WriteAt(p, off)
	}
	n := min(ft.ShortWrite, len(p))
	if n > 0 {
		if w, err := f.File.WriteAt(p[:n], off); err != nil {
			return w, err
		}
	}
	return n, &os.PathError{Op: "write", Path: f.Name(), Err: ft.Err}
}

func (f *faultyFile) Sync() error {
	if ft := f.fs.fault(OpSync, f.Name()); ft.Err != nil {
		return &os.PathError{Op: "sync", Path: f.Name(), Err: ft.Err}
	}
	return f.File.Sync()
}

func (f *faultyFile) Truncate(size int64) error {
	if ft := f.fs.fault(OpTruncate, f.Name()); ft.Err != nil {
		return &os.PathError{Op: "truncate", Path: f.Name(), Err: ft.Err}
	}
	return f.File.Truncate(size)
}
