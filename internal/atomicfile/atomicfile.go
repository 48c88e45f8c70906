// Package atomicfile replaces small files so that a crash leaves either the
// old contents or the new, never a mix: write a temporary file beside the
// target, fsync it, rename it over the target, fsync the directory.
//
// It is meant for small metadata that changes rarely (topic configuration,
// subscription snapshots): every Write costs two fsyncs. Data that changes
// on every event belongs in a commit log instead.
package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/heraldhq/herald/internal/vfs"
)

// tempSuffix marks a half-written replacement; Read ignores such files and
// Write overwrites them, so a crash in the middle of Write leaves no trace
// that matters.
const tempSuffix = ".tmp"

// Write atomically replaces path with data.
func Write(fs vfs.FS, path string, data []byte) error {
	tmp := path + tempSuffix
	f, err := fs.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: sync: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := fs.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := fs.SyncDir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("write %s: sync directory: %w", path, err)
	}
	return nil
}

// Read returns the contents of path. A missing file returns an error that
// matches os.ErrNotExist.
func Read(fs vfs.FS, path string) ([]byte, error) {
	f, err := fs.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	buf := make([]byte, st.Size())
	n, err := f.ReadAt(buf, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return buf[:n], nil
}
