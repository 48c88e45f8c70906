package main

import (
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"
)

// measureWriteFsync is the disk's floor for anything acknowledged after an
// fsync, measured in the same run and directory as the systems: n appends
// of 4 KiB to a fresh file, each followed by fdatasync (as the issue's "one
// 4 KiB write+fsync on this disk"). It returns the median.
func measureWriteFsync(dir string, n int) (time.Duration, error) {
	if dir == "" {
		dir = os.TempDir()
	}
	d, err := os.MkdirTemp(dir, "bench-fsync-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(d)
	f, err := os.OpenFile(filepath.Join(d, "f"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	buf := make([]byte, 4096)
	lat := make([]time.Duration, 0, n)
	for range n {
		start := time.Now()
		if _, err := f.Write(buf); err != nil {
			return 0, err
		}
		if err := syscall.Fdatasync(int(f.Fd())); err != nil {
			return 0, err
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	return lat[len(lat)/2], nil
}
