package commitlog

import (
	"context"
	"testing"

	"github.com/heraldhq/herald/internal/vfs"
)

// The active segment is zero-filled ahead of the data under SyncAlways,
// unless NoZeroFill says the log's fsyncs are not worth a second write of
// every byte (subscription journals); other policies never fill.
func TestZeroFillFollowsThePolicy(t *testing.T) {
	for _, tt := range []struct {
		name     string
		opts     Options
		wantFill bool
	}{
		{"always", Options{Sync: SyncAlways}, true},
		{"always without zero-fill", Options{Sync: SyncAlways, NoZeroFill: true}, false},
		{"interval", Options{Sync: SyncInterval}, false},
		{"none", Options{Sync: SyncNone}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fs := vfs.NewFaulty(vfs.OS)
			tt.opts.FS = fs
			l := openLog(t, "", tt.opts)
			fills := watchWho(fs, vfs.OpWrite, "commitlog.(*Log).beforeWrite.func", "", "a fill", "")
			for i := range 3 {
				if _, err := l.Append(context.Background(), []Record{rec(i, 0)}); err != nil {
					t.Fatal(err)
				}
			}
			// Close waits for a fill in progress, so every fill has
			// written by the time it returns.
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			if got := len(fills()) > 0; got != tt.wantFill {
				t.Fatalf("zero-filled: %v, want %v", got, tt.wantFill)
			}
			// Whatever was filled, the closed segment holds its data only
			// and the records read back.
			l = openLog(t, l.Dir(), tt.opts)
			got, err := l.ReadInto(nil, 0, 1<<20)
			if err != nil || len(got) != 3 {
				t.Fatalf("read back %d records, %v; want 3", len(got), err)
			}
			if r := l.Recovery(); r.TruncatedBytes != 0 {
				t.Fatalf("reopening cut %d bytes, want none", r.TruncatedBytes)
			}
		})
	}
}
