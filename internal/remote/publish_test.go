package remote

import (
	"runtime"
	"slices"
	"testing"

	"github.com/heraldhq/herald/internal/broker"
)

// A publisher reuses its PUBLISH frames (publishFrames): without the pool
// every batch allocated and zeroed a frame as large as its events. Reusing
// them saves at least half a frame per batch in this process, which runs
// the server too (its allocations are the same either way).
func TestPublishReusesItsFrames(t *testing.T) {
	const batch, size = 100, 1024
	pooled := allocatedPerPublish(t, batch, size, true)
	unpooled := allocatedPerPublish(t, batch, size, false)
	frame := batch * size
	t.Logf("per batch of %d events of %d bytes: %d bytes allocated reusing frames, %d without", batch, size, pooled, unpooled)
	if unpooled-pooled < frame/2 {
		t.Fatalf("reusing frames saved %d bytes per batch, less than half a frame (%d bytes)", unpooled-pooled, frame/2)
	}
}

// allocatedPerPublish publishes rounds of batch events of size bytes to an
// in-process server and returns the least this process allocated for one.
func allocatedPerPublish(t *testing.T, batch, size int, reuse bool) int {
	t.Helper()
	dropPublishFrames.Store(!reuse)
	t.Cleanup(func() { dropPublishFrames.Store(false) })
	// One P: a sync.Pool keeps the last frame put in the putting P's
	// private slot, which a Get on another P cannot take. With two, a
	// test goroutine that woke on the other P every round (other packages'
	// tests keeping the machine busy) allocated a new frame every round,
	// and the test failed twice in seven runs of three packages at once.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	ts := startServer(t, t.TempDir(), "127.0.0.1:0")
	c := dial(t, ts.url)
	mustTopic(t, c, "t", broker.TopicConfig{Partitions: 1})
	ctx := testCtx(t)
	const rounds, warm = 10, 2
	var per []int
	for i := range rounds {
		evs := newEvents(batch, size) // made before the measurement
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		if _, err := c.Publish(ctx, "t", evs); err != nil {
			t.Fatal(err)
		}
		runtime.ReadMemStats(&after)
		if i >= warm {
			per = append(per, int(after.TotalAlloc-before.TotalAlloc))
		}
	}
	return slices.Min(per)
}
