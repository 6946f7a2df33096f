package storage

import "testing"

// TestReadCacheGenerations: a record is served only at the generation it
// was read at, a record read before the cache's generation is dropped, and
// the cache never holds more than its max.
func TestReadCacheGenerations(t *testing.T) {
	c := readCache[int, string]{max: 2}
	c.put(1, 1, "one@1")
	if v, ok := c.get(1, 1); !ok || v != "one@1" {
		t.Fatalf("get(1, 1) = %q, %v", v, ok)
	}
	if _, ok := c.get(2, 1); ok {
		t.Fatal("a record read at generation 1 was served at 2")
	}
	c.put(2, 2, "two@2")
	if _, ok := c.get(2, 1); ok {
		t.Fatal("generation 2 kept a record of generation 1")
	}
	c.put(1, 1, "one@1, late") // read in a snapshot before the commit of generation 2
	if _, ok := c.get(2, 1); ok {
		t.Fatal("a record read before generation 2 was kept at it")
	}
	for k := range 10 {
		c.put(2, k, "x")
	}
	if len(c.m) != 2 {
		t.Fatalf("the cache holds %d records; max is 2", len(c.m))
	}
}
