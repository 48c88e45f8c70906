package broker

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"

	"github.com/heraldhq/herald/internal/vfs"
)

// On-disk layout under Config.DataDir:
//
//	topics/<topic>/topic.json                     name, config (atomicfile)
//	topics/<topic>/partitions/<n>/                one commit log per partition
//	topics/<topic>/subscriptions/<sub>/subscription.json   config (atomicfile)
//	topics/<topic>/subscriptions/<sub>/state      snapshot (journal.go)
//	topics/<topic>/subscriptions/<sub>/journal-<gen>/      journal commit log
//	topics/.deleted-<random>/                     a topic being deleted
//
// topic.json and subscription.json are written last when creating, so a
// directory without them is the leftover of an interrupted create and Open
// removes it. Deleting renames the directory to a name no topic can have
// (names start with a letter or digit) before removing it, so a crash
// halfway through a delete never leaves a half-deleted topic behind.

const (
	topicsDir        = "topics"
	topicFile        = "topic.json"
	partitionsDir    = "partitions"
	subscriptionsDir = "subscriptions"
	subscriptionFile = "subscription.json"
	deletedPrefix    = ".deleted-"
)

func topicDir(root, name string) string { return filepath.Join(root, name) }

func partitionDir(tdir string, p int) string {
	return filepath.Join(tdir, partitionsDir, strconv.Itoa(p))
}

func subscriptionDir(tdir, name string) string {
	return filepath.Join(tdir, subscriptionsDir, name)
}

// removeAll removes path and everything under it through the vfs seam. A
// missing path is not an error.
func removeAll(fs vfs.FS, path string) error {
	st, err := fs.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if st.IsDir() {
		entries, err := fs.ReadDir(path)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if err := removeAll(fs, filepath.Join(path, e.Name())); err != nil {
				return err
			}
		}
	}
	if err := fs.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
