package mutex

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang/snappy"
)

// The change feed. Every committed batch of a keyspace adds one entry to
// the keyspace's feed, a read-only stream at the reserved key FeedKey:
// ID <batch>-0, fields "ops" (the JSON array of the batch's mutations, as
// the writes event has them), "count" and "time" (the phase's clock, ms).
// The entry is written into the batch it describes (appendFeedEntry, called
// by applyBatch before the commit), so no batch commits without its entry
// and no entry without its batch, and it costs no extra fsync.
//
// On disk the feed lives under its own tag, outside the keyspace's records
// and elements, so SCAN, KEYS, DBSIZE and FLUSHDB never see it:
//
//	tagFeed ‖ks 'm'                     → feed state: first, last, bytes, first's time (8 BE each)
//	tagFeed ‖ks 'e' batch(8 BE) 0(8)    → entry, encoded as a stream entry
//	tagFeed ‖ks 'g' / 'c' / 'p' …       → consumer groups, as a stream's
//
// The retained entries are always the consecutive batches [first, last]:
// when the feed resumes after a gap (it was off), the older entries are
// dropped. Retention (FeedRetention) trims the oldest entries inside the
// write phase that goes past a limit. Consumer-group state on the feed is
// written as housekeeping: it commits with its batch but takes no batch
// number, so acknowledging feed entries does not add entries.

const tagFeed byte = 0x06

// FeedRetention bounds a keyspace's change feed. The feed is on when any
// limit is set (non-zero); a limit ≤ 0 does not bound. The oldest batches
// go first; the newest batch always stays.
type FeedRetention struct {
	Batches int64         // most batches retained
	Bytes   int64         // most bytes of entries retained (keys and values)
	Age     time.Duration // oldest batch retained, by commit time
}

// On reports whether the feed is recorded.
func (f FeedRetention) On() bool { return f.Batches > 0 || f.Bytes > 0 || f.Age > 0 }

// DefaultFeedRetention is the server's default: a million batches or
// 256 MiB of entries, whichever is reached first.
var DefaultFeedRetention = FeedRetention{Batches: 1_000_000, Bytes: 256 << 20}

// ParseFeedRetention parses "0" (off) or one to three space or comma
// separated limits: a batch count ("1000000"), bytes with Redis's memory
// units ("512mb", "1gb", "100000b") and an age ("7d", "12h", "30m", "90s").
func ParseFeedRetention(s string) (FeedRetention, error) {
	var f FeedRetention
	fields := strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' })
	if len(fields) == 1 && fields[0] == "0" {
		return FeedRetention{}, nil
	}
	if len(fields) == 0 {
		return f, errors.New("feed retention: empty")
	}
	for _, p := range fields {
		lp := strings.ToLower(p)
		if n, err := strconv.ParseInt(lp, 10, 64); err == nil && n > 0 {
			f.Batches = n
			continue
		}
		if n, ok := parseMemoryUnits(lp); ok {
			f.Bytes = n
			continue
		}
		if d, ok := parseAge(lp); ok {
			f.Age = d
			continue
		}
		return f, fmt.Errorf("feed retention: bad limit %q (want a batch count, bytes such as 1gb, or an age such as 7d)", p)
	}
	return f, nil
}

func parseMemoryUnits(s string) (int64, bool) {
	units := []struct {
		suffix string
		mul    int64
	}{{"kb", 1024}, {"mb", 1 << 20}, {"gb", 1 << 30}, {"k", 1000}, {"m", 1000 * 1000}, {"g", 1000 * 1000 * 1000}, {"b", 1}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			if u.suffix == "m" { // "30m" is an age
				return 0, false
			}
			n, err := strconv.ParseInt(num, 10, 64)
			if err != nil || n <= 0 {
				return 0, false
			}
			return n * u.mul, true
		}
	}
	return 0, false
}

func parseAge(s string) (time.Duration, bool) {
	if num, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseInt(num, 10, 64)
		if err != nil || n <= 0 {
			return 0, false
		}
		return time.Duration(n) * 24 * time.Hour, true
	}
	d, err := time.ParseDuration(s)
	return d, err == nil && d > 0
}

// feedTrimBudget bounds the entries one batch trims, so a lowered limit is
// reached over a few batches rather than in one long write phase.
const feedTrimBudget = 256

// feedCache is a keyspace's feed state after its batch seq (0: unknown),
// kept by appendFeedEntry so that write phases do not read it from disk.
// Owned by the keyspace's runner.
type feedCache struct {
	fm   feedMeta
	seq  uint64
	base []byte // feedBase of the keyspace
}

type feedMeta struct {
	first, last uint64 // retained batches [first, last]; empty when first > last
	bytes       int64
	firstTime   int64
	exists      bool
}

func decodeFeedMeta(v []byte) feedMeta {
	if len(v) < 32 {
		return feedMeta{first: 1}
	}
	return feedMeta{
		first:     binary.BigEndian.Uint64(v),
		last:      binary.BigEndian.Uint64(v[8:]),
		bytes:     int64(binary.BigEndian.Uint64(v[16:])),
		firstTime: int64(binary.BigEndian.Uint64(v[24:])),
		exists:    true,
	}
}

func (fm feedMeta) append(b []byte) []byte {
	b = binary.BigEndian.AppendUint64(b, fm.first)
	b = binary.BigEndian.AppendUint64(b, fm.last)
	b = binary.BigEndian.AppendUint64(b, uint64(fm.bytes))
	return binary.BigEndian.AppendUint64(b, uint64(fm.firstTime))
}

func (fm feedMeta) count() int64 {
	if fm.first > fm.last {
		return 0
	}
	return int64(fm.last - fm.first + 1)
}

func feedBase(ks string) []byte { return keyspacePrefix(tagFeed, ks) }

func (r *Reader) feedStream() (*Stream, error) {
	st := &Stream{Key: []byte(FeedKey), Feed: true, base: feedBase(r.ks)}
	v, ok, err := r.get(st.sub(nil, famFeedMeta))
	if err != nil {
		return nil, err
	}
	st.fm = feedMeta{first: 1}
	if ok {
		st.fm = decodeFeedMeta(v)
	}
	st.Length = st.fm.count()
	st.Last = StreamID{st.fm.last, 0}
	st.EntriesAdded = st.fm.last
	if st.fm.first > 1 {
		st.MaxDeleted = StreamID{st.fm.first - 1, 0}
	}
	return st, nil
}

// openFeed opens the keyspace's feed; it exists once a batch was recorded.
func (r *Reader) openFeed() (*Stream, bool, error) {
	st, err := r.feedStream()
	if err != nil || !st.fm.exists {
		return nil, false, err
	}
	return st, true, nil
}

// FeedFirst is the first batch the feed retains (above the last when it
// retains none).
func (st *Stream) FeedFirst() uint64 { return st.fm.first }

// appendFeedEntry adds the entry of batch seq to the feed, in tx's batch,
// and trims the feed to the keyspace's retention. tx.muts holds the
// batch's mutations. Every batch counts as writing FeedKey, so that
// XREAD BLOCK on the feed wakes.
func (k *Keyspace) appendFeedEntry(tx *Tx, seq uint64) error {
	ret := k.store.opts.FeedRetention
	fc := &k.feed
	if fc.base == nil {
		fc.base = feedBase(k.name)
	}
	st := &Stream{Feed: true, base: fc.base}
	var fm feedMeta
	switch {
	case fc.seq != 0 && fc.seq == seq-1:
		fm = fc.fm // the state the last batch left
	case seq == 1:
		fm = feedMeta{first: 1} // no batch was ever committed: no feed
	default:
		disk, err := tx.feedStream()
		if err != nil {
			return err
		}
		fm = disk.fm
	}
	if !fm.exists || fm.last+1 != seq {
		// A new feed, or one resuming after a gap: it starts here.
		if fm.exists {
			p := st.sub(nil, famEntry)
			if err := tx.b.DeleteRange(p, prefixEnd(p), nil); err != nil {
				return err
			}
		}
		fm = feedMeta{first: seq, last: seq - 1, exists: true}
	}
	now := tx.now
	var ops []byte // the batch's ops in their binary form (feedops.go)
	if tx.feedOps != nil {
		ops = *tx.feedOps
	}
	var nums [2 * 20]byte
	count := strconv.AppendInt(nums[:0], int64(max(tx.mutations, 1)), 10)
	ts := strconv.AppendInt(count[len(count):], now, 10)
	var keys [2 * 96]byte // the entry's and the state's keys, on the stack for short names
	key := appendID(append(append(keys[:0], fc.base...), famEntry), StreamID{seq, 0})
	metaKey := append(append(key[len(key):len(key)], fc.base...), famFeedMeta)
	// The ops are stored snappy-compressed (keys and values repeat): the
	// feed then adds little to what each batch writes and fsyncs. They are
	// compressed into the same pooled buffer, after themselves.
	buf := slices.Grow(ops, snappy.MaxEncodedLen(len(ops)))
	packed := snappy.Encode(buf[len(ops):cap(buf)], ops)
	if tx.feedOps != nil {
		*tx.feedOps = buf[:len(ops)] // back to the pool with its capacity
	}
	val := tx.scratch[:0]
	val = binary.AppendUvarint(val, feedBinary) // the node field: how ops is stored
	val = binary.AppendUvarint(val, 6)
	for _, f := range [][]byte{[]byte("ops"), packed, []byte("count"), count, []byte("time"), ts} {
		val = appendLenPrefixed(val, f)
	}
	tx.scratch = val
	if err := tx.b.Set(key, val, nil); err != nil {
		return err
	}
	if fm.count() == 0 {
		fm.firstTime = now
	}
	fm.last = seq
	fm.bytes += int64(len(key) + len(val))
	if err := k.trimFeed(tx, st, &fm, ret, now); err != nil {
		return err
	}
	var meta [32]byte
	if err := tx.b.Set(metaKey, fm.append(meta[:0]), nil); err != nil {
		return err
	}
	// Valid once batch seq commits; if it fails, the next batch takes the
	// number seq again and reads the state from disk.
	fc.fm, fc.seq = fm, seq
	if tx.touched != nil {
		tx.touched[FeedKey] = struct{}{}
	}
	return nil
}

func (k *Keyspace) trimFeed(tx *Tx, st *Stream, fm *feedMeta, ret FeedRetention, now int64) error {
	over := func() bool {
		if fm.first >= fm.last {
			return false // the newest batch stays
		}
		return ret.Batches > 0 && fm.count() > ret.Batches ||
			ret.Bytes > 0 && fm.bytes > ret.Bytes ||
			ret.Age > 0 && fm.firstTime < now-ret.Age.Milliseconds()
	}
	for n := 0; n < feedTrimBudget && over(); n++ {
		key := st.entryKey(StreamID{fm.first, 0})
		v, ok, err := tx.get(key)
		if err != nil {
			return err
		}
		if ok {
			if err := tx.b.Delete(key, nil); err != nil {
				return err
			}
			fm.bytes -= int64(len(key) + len(v))
		}
		fm.first++
		fm.firstTime = now
		next, ok, err := tx.get(st.entryKey(StreamID{fm.first, 0}))
		if err != nil {
			return err
		}
		if ok {
			fm.firstTime = feedEntryTime(next, now)
		}
	}
	return nil
}

// feedEntryTime reads the time field of an encoded feed entry.
func feedEntryTime(v []byte, def int64) int64 {
	fields, err := decodeFields(v)
	if err != nil {
		return def
	}
	for i := 0; i+1 < len(fields); i += 2 {
		if bytes.Equal(fields[i], []byte("time")) {
			if t, err := strconv.ParseInt(string(fields[i+1]), 10, 64); err == nil {
				return t
			}
		}
	}
	return def
}

// FeedOn reports whether the store records change feeds.
func (s *Store) FeedOn() bool { return s.opts.FeedRetention.On() }

// String is the retention in ParseFeedRetention's form.
func (f FeedRetention) String() string {
	if !f.On() {
		return "0"
	}
	var parts []string
	if f.Batches > 0 {
		parts = append(parts, strconv.FormatInt(f.Batches, 10))
	}
	if f.Bytes > 0 {
		switch {
		case f.Bytes%(1<<30) == 0:
			parts = append(parts, strconv.FormatInt(f.Bytes>>30, 10)+"gb")
		case f.Bytes%(1<<20) == 0:
			parts = append(parts, strconv.FormatInt(f.Bytes>>20, 10)+"mb")
		default:
			parts = append(parts, strconv.FormatInt(f.Bytes, 10)+"b")
		}
	}
	if f.Age > 0 {
		if f.Age%(24*time.Hour) == 0 {
			parts = append(parts, strconv.FormatInt(int64(f.Age/(24*time.Hour)), 10)+"d")
		} else {
			parts = append(parts, f.Age.String())
		}
	}
	return strings.Join(parts, " ")
}

// feedBuffers recycles the buffers the ops of a batch are rendered into;
// one large batch does not pin its buffer.
var feedBuffers = sync.Pool{New: func() any { return new([]byte) }}

func feedBuffer() *[]byte {
	b := feedBuffers.Get().(*[]byte)
	*b = (*b)[:0]
	return b
}

func putFeedBuffer(b *[]byte) {
	if cap(*b) <= 1<<20 {
		feedBuffers.Put(b)
	}
}

// The node field of a feed entry says how its ops field is stored:
// feedSnappy, snappy-compressed JSON (format 2's entries, still read);
// feedBinary, snappy-compressed binary ops (feedops.go), rendered as JSON
// when read.
const (
	feedSnappy = 1
	feedBinary = 2
)

// feedDecode undoes the feed's storage of an entry's fields.
func feedDecode(node uint64, fields [][]byte) ([][]byte, error) {
	if node != feedSnappy && node != feedBinary || len(fields) < 2 {
		return fields, nil
	}
	ops, err := snappy.Decode(nil, fields[1])
	if err == nil && node == feedBinary {
		ops, err = appendFeedOpsJSON(make([]byte, 0, len(ops)+len(ops)/2), ops)
	}
	if err != nil {
		return nil, fmt.Errorf("mutex: corrupt feed entry: %w", err)
	}
	fields[1] = ops
	return fields, nil
}
