package blobcache

import "math/bits"

// lru is a map with a bound, evicting the least recently used entry. The
// caller locks.
//
// It is built to cost the garbage collector little at tens of thousands
// of entries: the entries live in one slice (grown up to the bound, free
// slots reused) and are listed by int32 indices, not pointers, and the
// index is an open-addressing table (linear probing) of slot numbers and
// bits of their keys' hashes, four bytes an entry, which holds no
// pointers and needs no allocation per entry.
// A probe compares the hash first, then the full key: two keys of one
// hash are two entries, never a wrong hit.
type lru[K comparable, V any] struct {
	max  int
	hash func(K) uint64
	ents []entry[K, V]
	// head is the most recently used slot, tail the least; -1 when empty.
	head, tail int32
	// free is the first unused slot of ents, threaded through next; -1
	// when none.
	free int32
	n    int
	// index holds, at the position of a key's hash or after it, slot+1
	// (0: empty) in its low shift bits and the low bits of the hash
	// above; its length is a power of two, at most 3/4 full.
	index []uint32
	shift int
	// tagged: the hash bits an index entry holds give its position;
	// else (an index longer than 1<<(32-shift)) the key is hashed again.
	tagged bool
}

type entry[K comparable, V any] struct {
	k          K
	v          V
	prev, next int32
}

// maxLRU bounds an lru's size: slots are int32.
const maxLRU = 1<<30 - 1

func newLRU[K comparable, V any](max int, hash func(K) uint64) *lru[K, V] {
	max = min(max, maxLRU)
	return &lru[K, V]{max: max, hash: hash, head: -1, tail: -1, free: -1, shift: bits.Len(uint(max))}
}

// find returns the index position of k, of hash h, and its slot, or,
// when k is absent, the empty position where it would go and -1.
func (c *lru[K, V]) find(k K, h uint64) (int, int32) {
	if len(c.index) == 0 {
		return -1, -1
	}
	mask := len(c.index) - 1
	tag, slots := uint32(h)<<c.shift, uint32(1)<<c.shift-1
	for i := int(h) & mask; ; i = (i + 1) & mask {
		x := c.index[i]
		if x == 0 {
			return i, -1
		}
		if x&^slots == tag {
			if s := int32(x&slots) - 1; c.ents[s].k == k {
				return i, s
			}
		}
	}
}

// lookup returns k's hash and its slot, -1 when absent.
func (c *lru[K, V]) lookup(k K) (uint64, int32) {
	h := c.hash(k)
	_, s := c.find(k, h)
	return h, s
}

// key returns the key held equal to k, without using the entry.
func (c *lru[K, V]) key(k K) (K, bool) {
	if _, s := c.lookup(k); s >= 0 {
		return c.ents[s].k, true
	}
	return k, false
}

func (c *lru[K, V]) get(k K) (V, bool) {
	_, s := c.lookup(k)
	if s < 0 {
		var zero V
		return zero, false
	}
	c.toFront(s)
	return c.ents[s].v, true
}

// update sets slot s's value and makes it the most recent.
func (c *lru[K, V]) update(s int32, v V) {
	c.ents[s].v = v
	c.toFront(s)
}

// insert adds k, of hash h and absent (see lookup), as the most recent
// entry, evicting the least recent one at the bound.
func (c *lru[K, V]) insert(k K, h uint64, v V) {
	if c.n >= c.max {
		c.drop(c.tail)
	}
	if (c.n+1)*4 > len(c.index)*3 {
		c.rehash(max(8, 2*len(c.index)))
	}
	i, _ := c.find(k, h)
	s := c.alloc()
	c.ents[s] = entry[K, V]{k: k, v: v, prev: -1, next: c.head}
	if c.head >= 0 {
		c.ents[c.head].prev = s
	} else {
		c.tail = s
	}
	c.head = s
	c.index[i] = uint32(h)<<c.shift | uint32(s+1)
	c.n++
}

func (c *lru[K, V]) remove(k K) {
	if _, s := c.lookup(k); s >= 0 {
		c.drop(s)
	}
}

func (c *lru[K, V]) len() int { return c.n }

// alloc returns an unused slot: a freed one, else a new one at the end of
// ents, whose capacity grows by half up to the bound.
func (c *lru[K, V]) alloc() int32 {
	if s := c.free; s >= 0 {
		c.free = c.ents[s].next
		return s
	}
	if len(c.ents) == cap(c.ents) {
		grown := make([]entry[K, V], len(c.ents), min(c.max, max(8, len(c.ents)+len(c.ents)/2)))
		copy(grown, c.ents)
		c.ents = grown
	}
	c.ents = c.ents[:len(c.ents)+1]
	return int32(len(c.ents) - 1)
}

func (c *lru[K, V]) unlink(s int32) {
	e := &c.ents[s]
	if e.prev >= 0 {
		c.ents[e.prev].next = e.next
	} else {
		c.head = e.next
	}
	if e.next >= 0 {
		c.ents[e.next].prev = e.prev
	} else {
		c.tail = e.prev
	}
}

func (c *lru[K, V]) toFront(s int32) {
	if c.head == s {
		return
	}
	c.unlink(s)
	e := &c.ents[s]
	e.prev, e.next = -1, c.head
	c.ents[c.head].prev = s
	c.head = s
}

// drop removes slot s from the index and the list, and frees it.
func (c *lru[K, V]) drop(s int32) {
	k := c.ents[s].k
	i, _ := c.find(k, c.hash(k))
	c.unindex(i)
	c.unlink(s)
	// Zeroed, a free slot keeps no strings alive.
	c.ents[s] = entry[K, V]{next: c.free}
	c.free = s
	c.n--
}

// unindex empties position i of the index, moving back the entries after
// it that would otherwise no longer be found from their hash's position
// (deletion without tombstones for linear probing).
func (c *lru[K, V]) unindex(i int) {
	mask := len(c.index) - 1
	for j := (i + 1) & mask; c.index[j] != 0; j = (j + 1) & mask {
		home := c.home(c.index[j], mask)
		// The entry at j stays when its home lies cyclically in (i, j].
		stays := (i < home && home <= j) || (j < i && (home > i || home <= j))
		if !stays {
			c.index[i] = c.index[j]
			i = j
		}
	}
	c.index[i] = 0
}

// home returns the position, in an index of mask+1 positions, of the
// hash of index entry x's key.
func (c *lru[K, V]) home(x uint32, mask int) int {
	if c.tagged {
		return int(x>>c.shift) & mask
	}
	return int(c.hash(c.ents[x&(1<<c.shift-1)-1].k)) & mask
}

// rehash rebuilds the index with size positions, a power of two.
func (c *lru[K, V]) rehash(size int) {
	old := c.index
	c.index = make([]uint32, size)
	c.tagged = size <= 1<<(32-c.shift)
	mask := size - 1
	for _, x := range old {
		if x == 0 {
			continue
		}
		i := c.home(x, mask)
		for c.index[i] != 0 {
			i = (i + 1) & mask
		}
		c.index[i] = x
	}
}
