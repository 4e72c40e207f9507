package mutex

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strconv"

	"github.com/cockroachdb/pebble/v2"
)

// Streams. A stream is a collection (TypeStream) whose elements fall in
// sub-key families, one byte each, so that they all live in the
// collection's generation and go with it on DEL, overwrite or expiry, and
// commit with the batch that changes them:
//
//	'e' ms(8 BE) seq(8 BE)            → entry: uvarint(n) then n length-prefixed field/value items
//	'g' group                         → group: last-delivered ID (16) ‖ uvarint(entries-read+1)
//	'c' ‖group consumer               → consumer: seen-time (8) ‖ active-time (8)
//	'p' ‖group id(16)                 → pending entry: delivery time (8) ‖ uvarint(deliveries) ‖ consumer
//
// The record's Aux holds the stream's state: last ID (16) ‖ max deleted
// ID (16) ‖ uvarint(entries added). Meta.Count is the number of entries.
//
// The change feed (feed.go) is a stream with the same families under its
// own tag, outside the keyspace's records and elements.

// FeedKey is the reserved key of every keyspace's change feed.
const FeedKey = "__mutex:feed"

// IsFeedKey reports whether key is the reserved feed key.
func IsFeedKey(key []byte) bool { return string(key) == FeedKey }

// StreamID is a stream entry ID, ms-seq.
type StreamID struct{ Ms, Seq uint64 }

// MaxStreamID is the largest ID.
var MaxStreamID = StreamID{^uint64(0), ^uint64(0)}

// Less reports whether id sorts before o.
func (id StreamID) Less(o StreamID) bool {
	return id.Ms < o.Ms || id.Ms == o.Ms && id.Seq < o.Seq
}

// IsZero reports whether id is 0-0.
func (id StreamID) IsZero() bool { return id.Ms == 0 && id.Seq == 0 }

// Next is the ID after id; ok is false for the largest ID.
func (id StreamID) Next() (StreamID, bool) {
	switch {
	case id.Seq < ^uint64(0):
		return StreamID{id.Ms, id.Seq + 1}, true
	case id.Ms < ^uint64(0):
		return StreamID{id.Ms + 1, 0}, true
	}
	return id, false
}

// Prev is the ID before id; ok is false for 0-0.
func (id StreamID) Prev() (StreamID, bool) {
	switch {
	case id.Seq > 0:
		return StreamID{id.Ms, id.Seq - 1}, true
	case id.Ms > 0:
		return StreamID{id.Ms - 1, ^uint64(0)}, true
	}
	return id, false
}

// String is Redis's form, ms-seq.
func (id StreamID) String() string { return string(id.Append(nil)) }

// Append appends id's text form to b.
func (id StreamID) Append(b []byte) []byte {
	b = strconv.AppendUint(b, id.Ms, 10)
	b = append(b, '-')
	return strconv.AppendUint(b, id.Seq, 10)
}

func appendID(b []byte, id StreamID) []byte {
	b = binary.BigEndian.AppendUint64(b, id.Ms)
	return binary.BigEndian.AppendUint64(b, id.Seq)
}

func decodeID(b []byte) StreamID {
	if len(b) < 16 {
		return StreamID{}
	}
	return StreamID{binary.BigEndian.Uint64(b), binary.BigEndian.Uint64(b[8:])}
}

// Stream families.
const (
	famEntry    byte = 'e'
	famGroup    byte = 'g'
	famConsumer byte = 'c'
	famPending  byte = 'p'
	famFeedMeta byte = 'm' // the feed only
)

// Stream is an open stream: a key's stream or the keyspace's feed. Its
// exported fields are the stream's state; change them through Tx methods
// and save with Tx.SaveStream.
type Stream struct {
	Key          []byte
	Feed         bool // the reserved change feed: read-only but for groups
	Length       int64
	Last         StreamID
	MaxDeleted   StreamID
	EntriesAdded uint64
	Deadline     int64

	meta Meta
	base []byte // prefix of every family
	fm   feedMeta
}

// StreamEntry is one entry.
type StreamEntry struct {
	ID     StreamID
	Fields [][]byte // field, value, field, value …
	// Node is the entry's node, as Redis groups entries in radix tree
	// nodes of StreamNodeEntries: approximate trimming (~) removes whole
	// nodes only.
	Node uint64
}

// StreamNodeEntries is Redis's stream-node-max-entries default.
const StreamNodeEntries = 100

// StreamGroup is a consumer group's state. EntriesRead is -1 when unknown.
type StreamGroup struct {
	Name        []byte
	LastID      StreamID
	EntriesRead int64
}

// StreamConsumer is a consumer of a group.
type StreamConsumer struct {
	Name       []byte
	SeenTime   int64
	ActiveTime int64 // -1: never
}

// StreamPending is an entry of a group's pending entries list.
type StreamPending struct {
	ID           StreamID
	Consumer     []byte
	DeliveryTime int64
	Deliveries   int64
}

func decodeStreamAux(st *Stream, aux []byte) {
	if len(aux) < 32 {
		return
	}
	st.Last, st.MaxDeleted = decodeID(aux), decodeID(aux[16:])
	st.EntriesAdded, _ = binary.Uvarint(aux[32:])
}

func encodeStreamAux(st *Stream) []byte {
	b := make([]byte, 0, 42)
	b = appendID(b, st.Last)
	b = appendID(b, st.MaxDeleted)
	return binary.AppendUvarint(b, st.EntriesAdded)
}

func encodeFields(node uint64, fields [][]byte) []byte {
	n := 2 * binary.MaxVarintLen64
	for _, f := range fields {
		n += binary.MaxVarintLen64 + len(f)
	}
	b := make([]byte, 0, n)
	b = binary.AppendUvarint(b, node)
	b = binary.AppendUvarint(b, uint64(len(fields)))
	for _, f := range fields {
		b = appendLenPrefixed(b, f)
	}
	return b
}

func decodeFields(b []byte) ([][]byte, error) {
	_, fields, err := decodeEntry(b)
	return fields, err
}

func decodeEntry(b []byte) (uint64, [][]byte, error) {
	node, w := binary.Uvarint(b)
	if w <= 0 {
		return 0, nil, errors.New("mutex: corrupt stream entry")
	}
	fields, err := decodeItems(b[w:])
	return node, fields, err
}

func decodeItems(b []byte) ([][]byte, error) {
	n, w := binary.Uvarint(b)
	if w <= 0 || n > uint64(len(b)) {
		return nil, errors.New("mutex: corrupt stream entry")
	}
	b = b[w:]
	fields := make([][]byte, n)
	for i := range fields {
		f, rest, ok := splitLenPrefixed(b)
		if !ok {
			return nil, errors.New("mutex: corrupt stream entry")
		}
		fields[i], b = bytes.Clone(f), rest
	}
	return fields, nil
}

func (st *Stream) sub(dst []byte, fam byte) []byte {
	return append(append(dst[:0], st.base...), fam)
}

func (st *Stream) entryKey(id StreamID) []byte {
	return appendID(st.sub(make([]byte, 0, len(st.base)+17), famEntry), id)
}

func (st *Stream) groupKey(name []byte) []byte {
	return append(st.sub(nil, famGroup), name...)
}

func (st *Stream) consumerPrefix(group []byte) []byte {
	return appendLenPrefixed(st.sub(nil, famConsumer), group)
}

func (st *Stream) pendingPrefix(group []byte) []byte {
	return appendLenPrefixed(st.sub(nil, famPending), group)
}

// OpenStream returns key's stream, or the feed for FeedKey; ok is false
// when the key does not exist, and the error ErrWrongType when it holds
// another type.
func (r *Reader) OpenStream(key []byte) (*Stream, bool, error) {
	if IsFeedKey(key) {
		return r.openFeed()
	}
	r.record(Access{Op: "get", Key: key})
	m, ok, err := r.lookup(key)
	if !ok || err != nil {
		return nil, false, err
	}
	if m.Type != TypeStream {
		return nil, false, ErrWrongType
	}
	st := &Stream{Key: bytes.Clone(key), meta: m, Length: m.Count, Deadline: m.Deadline}
	decodeStreamAux(st, m.Aux)
	st.base = elemGroup(nil, r.ks, key, m.gen)
	return st, true, nil
}

func (r *Reader) get(k []byte) ([]byte, bool, error) {
	v, closer, err := r.r.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	defer closer.Close()
	return bytes.Clone(v), true, nil
}

// iterate calls fn with each key (after prefix) and value in [lower,
// upper) of the reader, forwards or backwards, until fn returns false.
func (r *Reader) iterate(lower, upper []byte, reverse bool, fn func(k, v []byte) bool) error {
	it, err := r.r.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return err
	}
	defer it.Close()
	step, valid := it.Next, it.First()
	if reverse {
		step, valid = it.Prev, it.Last()
	}
	for ; valid; valid = step() {
		v, err := it.ValueAndErr()
		if err != nil {
			return err
		}
		if !fn(it.Key(), v) {
			break
		}
	}
	return it.Error()
}

// StreamRange calls fn with the entries whose IDs are in [start, end], in
// order (or reverse order), until fn returns false.
func (r *Reader) StreamRange(st *Stream, start, end StreamID, reverse bool, fn func(e StreamEntry) bool) error {
	if end.Less(start) {
		return nil
	}
	lower := st.entryKey(start)
	upper := st.entryKey(end)
	upper = append(upper, 0) // inclusive
	var derr error
	err := r.iterate(lower, upper, reverse, func(k, v []byte) bool {
		node, fields, err := decodeEntry(v)
		if err == nil && st.Feed {
			fields, err = feedDecode(node, fields)
		}
		if err != nil {
			derr = err
			return false
		}
		return fn(StreamEntry{ID: decodeID(k[len(st.base)+1:]), Fields: fields, Node: node})
	})
	return errors.Join(err, derr)
}

// StreamEntryAt returns the entry id if it exists.
func (r *Reader) StreamEntryAt(st *Stream, id StreamID) (StreamEntry, bool, error) {
	v, ok, err := r.get(st.entryKey(id))
	if !ok || err != nil {
		return StreamEntry{}, false, err
	}
	node, fields, err := decodeEntry(v)
	if err == nil && st.Feed {
		fields, err = feedDecode(node, fields)
	}
	return StreamEntry{ID: id, Fields: fields, Node: node}, err == nil, err
}

// StreamFirst returns the first entry, if any.
func (r *Reader) StreamFirst(st *Stream) (StreamEntry, bool, error) {
	return r.streamEnd(st, false)
}

// StreamLastEntry returns the last entry, if any.
func (r *Reader) StreamLastEntry(st *Stream) (StreamEntry, bool, error) {
	return r.streamEnd(st, true)
}

func (r *Reader) streamEnd(st *Stream, last bool) (StreamEntry, bool, error) {
	var e StreamEntry
	found := false
	start := StreamID{}
	if st.Feed && !last {
		start = StreamID{st.fm.first, 0}
	}
	err := r.StreamRange(st, start, MaxStreamID, last, func(x StreamEntry) bool {
		e, found = x, true
		return false
	})
	return e, found, err
}

func decodeGroup(name, v []byte) StreamGroup {
	g := StreamGroup{Name: bytes.Clone(name), LastID: decodeID(v), EntriesRead: -1}
	if len(v) > 16 {
		n, _ := binary.Uvarint(v[16:])
		g.EntriesRead = int64(n) - 1
	}
	return g
}

// StreamGroupGet returns the group name of st.
func (r *Reader) StreamGroupGet(st *Stream, name []byte) (StreamGroup, bool, error) {
	v, ok, err := r.get(st.groupKey(name))
	if !ok || err != nil {
		return StreamGroup{}, false, err
	}
	return decodeGroup(name, v), true, nil
}

// StreamGroups calls fn with every group of st, by name.
func (r *Reader) StreamGroups(st *Stream, fn func(g StreamGroup) bool) error {
	p := st.sub(nil, famGroup)
	return r.iterate(p, prefixEnd(p), false, func(k, v []byte) bool {
		return fn(decodeGroup(k[len(p):], v))
	})
}

func decodeConsumer(name, v []byte) StreamConsumer {
	c := StreamConsumer{Name: bytes.Clone(name), ActiveTime: -1}
	if len(v) >= 16 {
		c.SeenTime, c.ActiveTime = int64(binary.BigEndian.Uint64(v)), int64(binary.BigEndian.Uint64(v[8:]))
	}
	return c
}

// StreamConsumerGet returns the consumer name of group.
func (r *Reader) StreamConsumerGet(st *Stream, group, name []byte) (StreamConsumer, bool, error) {
	v, ok, err := r.get(append(st.consumerPrefix(group), name...))
	if !ok || err != nil {
		return StreamConsumer{}, false, err
	}
	return decodeConsumer(name, v), true, nil
}

// StreamConsumers calls fn with every consumer of group, by name.
func (r *Reader) StreamConsumers(st *Stream, group []byte, fn func(c StreamConsumer) bool) error {
	p := st.consumerPrefix(group)
	return r.iterate(p, prefixEnd(p), false, func(k, v []byte) bool {
		return fn(decodeConsumer(k[len(p):], v))
	})
}

func decodePending(id StreamID, v []byte) StreamPending {
	p := StreamPending{ID: id}
	if len(v) < 8 {
		return p
	}
	p.DeliveryTime = int64(binary.BigEndian.Uint64(v))
	n, w := binary.Uvarint(v[8:])
	if w > 0 {
		p.Deliveries = int64(n)
		p.Consumer = bytes.Clone(v[8+w:])
	}
	return p
}

// StreamPendingGet returns the pending entry id of group.
func (r *Reader) StreamPendingGet(st *Stream, group []byte, id StreamID) (StreamPending, bool, error) {
	v, ok, err := r.get(appendID(st.pendingPrefix(group), id))
	if !ok || err != nil {
		return StreamPending{}, false, err
	}
	return decodePending(id, v), true, nil
}

// StreamPendings calls fn with the pending entries of group with IDs in
// [start, end], in order, until fn returns false.
func (r *Reader) StreamPendings(st *Stream, group []byte, start, end StreamID, fn func(p StreamPending) bool) error {
	if end.Less(start) {
		return nil
	}
	p := st.pendingPrefix(group)
	lower := appendID(bytes.Clone(p), start)
	upper := append(appendID(bytes.Clone(p), end), 0)
	return r.iterate(lower, upper, false, func(k, v []byte) bool {
		return fn(decodePending(decodeID(k[len(p):]), v))
	})
}

// CreateStream returns a new, empty stream for key (which the caller has
// checked does not exist); SaveStream writes it.
func (tx *Tx) CreateStream(key []byte) *Stream {
	m := tx.NewCollection(TypeStream)
	st := &Stream{Key: bytes.Clone(key), meta: m}
	st.base = elemGroup(nil, tx.ks, key, m.gen)
	return st
}

// streamWrote marks a change of st: a key's stream is written as any
// collection; the feed's group state is housekeeping (it takes no batch
// number, so that acknowledging feed entries does not make new ones).
func (tx *Tx) streamWrote(st *Stream) {
	if st.Feed {
		tx.dirty = true
		return
	}
	tx.wrote(st.Key)
}

var errFeedReadOnly = errors.New("mutex: the change feed is read-only")

// StreamAppend adds an entry (whose ID the caller has checked is above
// st.Last) and updates st's state.
func (tx *Tx) StreamAppend(st *Stream, id StreamID, fields [][]byte) error {
	if st.Feed {
		return errFeedReadOnly
	}
	if err := tx.b.Set(st.entryKey(id), encodeFields(st.EntriesAdded/StreamNodeEntries, fields), nil); err != nil {
		return err
	}
	st.Length++
	st.Last = id
	st.EntriesAdded++
	tx.streamWrote(st)
	return nil
}

// StreamDelete deletes the entry id and reports whether it existed.
func (tx *Tx) StreamDelete(st *Stream, id StreamID) (bool, error) {
	if st.Feed {
		return false, errFeedReadOnly
	}
	k := st.entryKey(id)
	if _, ok, err := tx.get(k); !ok || err != nil {
		return false, err
	}
	if err := tx.b.Delete(k, nil); err != nil {
		return false, err
	}
	st.Length--
	tx.streamWrote(st)
	return true, nil
}

// SaveStream writes st's state (a key's stream: its record).
func (tx *Tx) SaveStream(st *Stream) error {
	if st.Feed {
		return nil // the feed's state is kept by appendFeedEntry
	}
	st.meta.Count, st.meta.Aux, st.meta.Deadline = st.Length, encodeStreamAux(st), st.Deadline
	return tx.putRecord(st.Key, &st.meta)
}

// PutStreamGroup creates or updates a group.
func (tx *Tx) PutStreamGroup(st *Stream, g StreamGroup) error {
	v := appendID(make([]byte, 0, 26), g.LastID)
	v = binary.AppendUvarint(v, uint64(g.EntriesRead+1))
	tx.streamWrote(st)
	return tx.b.Set(st.groupKey(g.Name), v, nil)
}

// DelStreamGroup deletes a group with its consumers and pending entries.
func (tx *Tx) DelStreamGroup(st *Stream, name []byte) error {
	if err := tx.b.Delete(st.groupKey(name), nil); err != nil {
		return err
	}
	for _, p := range [][]byte{st.consumerPrefix(name), st.pendingPrefix(name)} {
		if err := tx.b.DeleteRange(p, prefixEnd(p), nil); err != nil {
			return err
		}
	}
	tx.streamWrote(st)
	return nil
}

// PutStreamConsumer creates or updates a consumer of group.
func (tx *Tx) PutStreamConsumer(st *Stream, group []byte, c StreamConsumer) error {
	v := binary.BigEndian.AppendUint64(make([]byte, 0, 16), uint64(c.SeenTime))
	v = binary.BigEndian.AppendUint64(v, uint64(c.ActiveTime))
	tx.streamWrote(st)
	return tx.b.Set(append(st.consumerPrefix(group), c.Name...), v, nil)
}

// DelStreamConsumer deletes a consumer and its pending entries, and
// returns how many pending entries it had.
func (tx *Tx) DelStreamConsumer(st *Stream, group, name []byte) (int64, error) {
	var ids []StreamID
	err := tx.StreamPendings(st, group, StreamID{}, MaxStreamID, func(p StreamPending) bool {
		if bytes.Equal(p.Consumer, name) {
			ids = append(ids, p.ID)
		}
		return true
	})
	if err != nil {
		return 0, err
	}
	for _, id := range ids {
		if err := tx.DelStreamPending(st, group, id); err != nil {
			return 0, err
		}
	}
	tx.streamWrote(st)
	return int64(len(ids)), tx.b.Delete(append(st.consumerPrefix(group), name...), nil)
}

// PutStreamPending creates or updates a pending entry of group.
func (tx *Tx) PutStreamPending(st *Stream, group []byte, p StreamPending) error {
	v := binary.BigEndian.AppendUint64(make([]byte, 0, 18+len(p.Consumer)), uint64(p.DeliveryTime))
	v = binary.AppendUvarint(v, uint64(p.Deliveries))
	v = append(v, p.Consumer...)
	tx.streamWrote(st)
	return tx.b.Set(appendID(st.pendingPrefix(group), p.ID), v, nil)
}

// DelStreamPending deletes a pending entry of group.
func (tx *Tx) DelStreamPending(st *Stream, group []byte, id StreamID) error {
	tx.streamWrote(st)
	return tx.b.Delete(appendID(st.pendingPrefix(group), id), nil)
}

// RefreshStreamConsumer rewrites an existing consumer's times as
// housekeeping: it commits with the batch but, alone, takes no batch
// number (Redis's seen-time is not data a replica or the feed needs).
func (tx *Tx) RefreshStreamConsumer(st *Stream, group []byte, c StreamConsumer) error {
	v := binary.BigEndian.AppendUint64(make([]byte, 0, 16), uint64(c.SeenTime))
	v = binary.BigEndian.AppendUint64(v, uint64(c.ActiveTime))
	tx.dirty = true
	return tx.b.Set(append(st.consumerPrefix(group), c.Name...), v, nil)
}
