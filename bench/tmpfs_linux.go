//go:build linux

package main

import "syscall"

// onTmpfs reports whether dir is on a tmpfs, where fsync costs nothing and
// durability numbers would mean nothing.
func onTmpfs(dir string) bool {
	var st syscall.Statfs_t
	const tmpfsMagic = 0x01021994
	return syscall.Statfs(dir, &st) == nil && st.Type == tmpfsMagic
}
