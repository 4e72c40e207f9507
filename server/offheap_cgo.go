//go:build cgo

package server

// pebbleOffHeap: with cgo, Pebble allocates its block cache and memtables
// with malloc, outside the Go heap, so used_memory adds them.
const pebbleOffHeap = true
