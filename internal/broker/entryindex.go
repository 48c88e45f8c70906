package broker

// entryIndex finds a partition's live entries by offset. A window reads
// its partition forward and its entries mostly settle in the order they
// were read, so the live offsets are nearly a contiguous run: a ring of
// slots indexed by offset holds them, and an offset costs an index
// computation instead of a map probe (a consumed event was looked up or
// changed four times: added, checked by the scan, found by its ack,
// removed). An entry far behind the rest (an event deferred by its
// delivery time while the window reads on, a redriven one) moves to a
// map, so the ring spans about as many offsets as it holds entries. The
// zero value is empty and ready.
type entryIndex struct {
	slots []*entry // a ring; len is 0 or a power of two
	head  int      // the slot of base
	base  int64    // the lowest offset the ring spans
	span  int      // the ring spans offsets base .. base+span-1
	inUse int      // non-nil slots
	far   map[int64]*entry
}

// ringDensity bounds how sparse the ring may grow: to reach past its
// slots, the ring must hold at least one entry per ringDensity offsets it
// would span (or span at most minRingSlots); otherwise entries at its low
// end move to the map until it is dense enough or empty. Within the
// slots it already has it may be sparser: they are allocated anyway.
const (
	ringDensity  = 4
	minRingSlots = 1024
)

func (x *entryIndex) slot(off int64) int {
	return (x.head + int(off-x.base)) & (len(x.slots) - 1)
}

// get returns the entry at off, or nil.
func (x *entryIndex) get(off int64) *entry {
	if off >= x.base && off < x.base+int64(x.span) {
		return x.slots[x.slot(off)]
	}
	return x.far[off] // a nil map reads as empty
}

// put adds e at its offset, which must have no entry yet.
func (x *entryIndex) put(e *entry) {
	off := e.offset
	if x.span == 0 {
		x.head, x.base = 0, off
	}
	if off < x.base {
		x.putFar(e)
		return
	}
	if need := off - x.base + 1; need > int64(len(x.slots)) {
		x.makeRoom(off) // base stays at or below off
	}
	if need := int(off-x.base) + 1; need > x.span {
		x.span = need
	}
	x.slots[x.slot(off)] = e
	x.inUse++
}

func (x *entryIndex) putFar(e *entry) {
	if x.far == nil {
		x.far = map[int64]*entry{}
	}
	x.far[e.offset] = e
}

// makeRoom lets the ring reach off: it grows while it stays dense enough,
// and otherwise moves entries from its low end to the map.
func (x *entryIndex) makeRoom(off int64) {
	for x.span > 0 && off-x.base+1 > int64(max(len(x.slots), minRingSlots, ringDensity*(x.inUse+1))) {
		if e := x.slots[x.head]; e != nil {
			x.slots[x.head] = nil
			x.inUse--
			x.putFar(e)
		}
		x.head = (x.head + 1) & (len(x.slots) - 1)
		x.base++
		x.span--
	}
	if x.span == 0 {
		x.head, x.base = 0, off
	}
	need := int(off-x.base) + 1
	if need <= len(x.slots) {
		return
	}
	n := max(len(x.slots), 16)
	for n < need {
		n *= 2
	}
	slots := make([]*entry, n)
	for i := range x.span {
		slots[i] = x.slots[(x.head+i)&(len(x.slots)-1)]
	}
	x.slots, x.head = slots, 0
}

// del removes the entry at off, if any.
func (x *entryIndex) del(off int64) {
	if off < x.base || off >= x.base+int64(x.span) {
		delete(x.far, off)
		return
	}
	i := x.slot(off)
	if x.slots[i] == nil {
		return
	}
	x.slots[i] = nil
	x.inUse--
	for x.span > 0 && x.slots[x.head] == nil { // the usual case: the lowest settled
		x.head = (x.head + 1) & (len(x.slots) - 1)
		x.base++
		x.span--
	}
}

// each calls fn for every entry, in no particular order. fn must not add
// or remove entries.
func (x *entryIndex) each(fn func(*entry)) {
	for i := range x.span {
		if e := x.slots[(x.head+i)&(len(x.slots)-1)]; e != nil {
			fn(e)
		}
	}
	for _, e := range x.far {
		fn(e)
	}
}
