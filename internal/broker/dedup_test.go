package broker

import (
	"testing"
	"time"

	"github.com/heraldhq/herald/cloudevent"
)

// An entry that expired while pruning was held up (here by a store still
// in progress at the front) and whose key was published again must not
// take the new entry's key with it when it is finally pruned.
func TestDedupIndexSupersededEntryKeepsTheNewKey(t *testing.T) {
	d := newDedupIndex()
	const window = time.Minute
	w := int64(window)
	key := func(id string) dedupKey { return d.key(&cloudevent.Event{Source: "/s", ID: id}) }
	slow := d.newBatch()
	if c := d.reserve(key("p"), 0, window, slow); !c.owner { // stays pending: pruning stops here
		t.Fatalf("p: %+v", c)
	}
	b := d.newBatch()
	old := d.reserve(key("a"), 0, window, b)
	d.complete(old.seq, 0, 1, 0)
	d.finish(b)

	d.prune(w+1, window) // held up by p
	b = d.newBatch()
	again := d.reserve(key("a"), w+1, window, b)
	if !again.owner {
		t.Fatalf("a after its window: %+v, want to own it again", again)
	}
	d.complete(again.seq, 0, 2, w+1)
	d.finish(b)
	slowSeq, _ := d.slots.get(key("p"))
	d.complete(slowSeq, 0, 0, 0)
	d.finish(slow)

	d.prune(w+2, window) // p and the superseded a go; the new a stays
	c := d.reserve(key("a"), w+2, window, d.newBatch())
	if !c.duplicate || c.slot.offset != 2 {
		t.Fatalf("a inside its new window: %+v, want a duplicate of offset 2", c)
	}
	if _, ok := d.slots.get(key("p")); ok {
		t.Fatal("p outlived its window")
	}
}
