package integration

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// The feed's replay model: a consumer of __mutex:feed rebuilds a keyspace
// of every type from the entries' ops alone, as README's contract says it
// can, and the model is compared with the keyspace.

// feedOp is one op of a feed entry. A name with _b64 holds the base64 form
// used when the bytes are not UTF-8.
type feedOp struct {
	Op        string            `json:"op"`
	Key       *string           `json:"key"`
	KeyB64    []byte            `json:"key_b64"` // encoding/json decodes base64 into []byte
	Value     *string           `json:"value"`
	ValueB64  []byte            `json:"value_b64"`
	To        *string           `json:"to"`
	ToB64     []byte            `json:"to_b64"`
	At        int64             `json:"at"`
	Items     []string          `json:"items"`
	ItemsB64  [][]byte          `json:"items_b64"`
	Fields    map[string]string `json:"fields"`
	FieldsB64 map[string]string `json:"fields_b64"`
}

func (op *feedOp) key() string { return textOrB64(op.Key, op.KeyB64) }
func (op *feedOp) to() string  { return textOrB64(op.To, op.ToB64) }

func (op *feedOp) value() (string, bool) {
	if op.Value == nil && op.ValueB64 == nil {
		return "", false
	}
	return textOrB64(op.Value, op.ValueB64), true
}

func textOrB64(s *string, b64 []byte) string {
	if s != nil {
		return *s
	}
	return string(b64)
}

func (op *feedOp) items() []string {
	if op.ItemsB64 == nil {
		return op.Items
	}
	out := make([]string, len(op.ItemsB64))
	for i, it := range op.ItemsB64 {
		out[i] = string(it)
	}
	return out
}

func (op *feedOp) fields() (map[string]string, error) {
	if op.FieldsB64 == nil {
		return op.Fields, nil
	}
	out := map[string]string{}
	for k, v := range op.FieldsB64 {
		dk, err1 := base64.StdEncoding.DecodeString(k)
		dv, err2 := base64.StdEncoding.DecodeString(v)
		if err := errors.Join(err1, err2); err != nil {
			return nil, fmt.Errorf("fields_b64 %q: %v", k, err)
		}
		out[string(dk)] = string(dv)
	}
	return out, nil
}

// entryOps decodes the ops field of a feed entry.
func entryOps(msg redis.XMessage) ([]feedOp, error) {
	raw, _ := msg.Values["ops"].(string)
	var ops []feedOp
	if err := json.Unmarshal([]byte(raw), &ops); err != nil {
		return nil, fmt.Errorf("entry %s: ops %q: %v", msg.ID, raw, err)
	}
	if n, _ := strconv.Atoi(fmt.Sprint(msg.Values["count"])); n != max(len(ops), 1) {
		return nil, fmt.Errorf("entry %s: count %v for %d ops", msg.ID, msg.Values["count"], len(ops))
	}
	return ops, nil
}

// modelEntry is a stream entry of the model.
type modelEntry struct {
	id     string
	fields []string
}

// modelValue is one key of the model: its type, the value of that type,
// and its deadline (0: none).
type modelValue struct {
	typ      string // as TYPE answers
	str      string
	hash     map[string]string
	set      map[string]bool
	list     []string
	zset     map[string]float64
	stream   []modelEntry
	deadline int64
}

func (v *modelValue) clone() *modelValue {
	c := *v
	c.hash, c.set, c.zset = maps.Clone(v.hash), maps.Clone(v.set), maps.Clone(v.zset)
	c.list, c.stream = slices.Clone(v.list), slices.Clone(v.stream)
	return &c
}

func (v *modelValue) empty() bool {
	switch v.typ {
	case "hash":
		return len(v.hash) == 0
	case "set":
		return len(v.set) == 0
	case "list":
		return len(v.list) == 0
	case "zset":
		return len(v.zset) == 0
	}
	return false // strings and streams (which may be empty) stay
}

// ksModel is a keyspace rebuilt from feed ops. history keeps each key's
// last ops, for the report of a divergence.
type ksModel struct {
	keys    map[string]*modelValue
	history map[string][]string
}

func newKsModel() *ksModel {
	return &ksModel{keys: map[string]*modelValue{}, history: map[string][]string{}}
}

func (m *ksModel) remember(key, what string) {
	h := append(m.history[key], what)
	m.history[key] = h[max(0, len(h)-12):]
}

// collection returns key's value of type typ, created empty when absent.
func (m *ksModel) collection(key, typ string) (*modelValue, error) {
	v, ok := m.keys[key]
	if !ok {
		v = &modelValue{typ: typ, hash: map[string]string{}, set: map[string]bool{}, zset: map[string]float64{}}
		m.keys[key] = v
	}
	if v.typ != typ {
		return nil, fmt.Errorf("a %s op on %q, a %s", typ, key, v.typ)
	}
	return v, nil
}

// existing returns key's value, which an op on it says exists.
func (m *ksModel) existing(op *feedOp, typ string) (*modelValue, error) {
	v, ok := m.keys[op.key()]
	if !ok || typ != "" && v.typ != typ {
		return nil, fmt.Errorf("op %+v on a key the model does not hold as %q", op, typ)
	}
	return v, nil
}

func (m *ksModel) dropIfEmpty(key string) {
	if v, ok := m.keys[key]; ok && v.empty() {
		delete(m.keys, key)
	}
}

func (m *ksModel) apply(ops []feedOp) error {
	for i := range ops {
		op := &ops[i]
		val, _ := op.value()
		fields, _ := op.fields()
		m.remember(op.key(), fmt.Sprintf("%s(at=%d value=%q to=%q items=%q fields=%q)", op.Op, op.At, val, op.to(), op.items(), fields))
		if err := m.applyOne(op); err != nil {
			return fmt.Errorf("%v; the key's last ops: %s", err, strings.Join(m.history[op.key()], " "))
		}
		if v, ok := m.keys[op.key()]; ok && v.typ == "list" {
			m.remember(op.key(), fmt.Sprintf("→ %q", v.list))
		}
	}
	return nil
}

func (m *ksModel) applyOne(op *feedOp) error {
	key := op.key()
	items := op.items()
	switch op.Op {
	case "set":
		val, ok := op.value()
		if !ok {
			return fmt.Errorf("set without a value: %+v", op)
		}
		m.keys[key] = &modelValue{typ: "string", str: val}
	case "del", "expired":
		delete(m.keys, key)
	case "pexpireat", "persist":
		v, err := m.existing(op, "")
		if err != nil {
			return err
		}
		v.deadline = op.At // 0 for persist
	case "flushdb":
		clear(m.keys)
	case "copy":
		if _, other := op.value(); other {
			return fmt.Errorf("a copy from another keyspace is not modelled: %+v", op)
		}
		v, err := m.existing(op, "")
		if err != nil {
			return err
		}
		m.keys[op.to()] = v.clone()
	case "hset":
		v, err := m.collection(key, "hash")
		if err != nil {
			return err
		}
		fields, err := op.fields()
		if err != nil {
			return err
		}
		maps.Copy(v.hash, fields)
	case "hdel":
		v, err := m.existing(op, "hash")
		if err != nil {
			return err
		}
		for _, f := range items {
			delete(v.hash, f)
		}
	case "sadd":
		v, err := m.collection(key, "set")
		if err != nil {
			return err
		}
		for _, it := range items {
			v.set[it] = true
		}
	case "srem":
		v, err := m.existing(op, "set")
		if err != nil {
			return err
		}
		for _, it := range items {
			delete(v.set, it)
		}
	case "zadd":
		v, err := m.collection(key, "zset")
		if err != nil {
			return err
		}
		fields, err := op.fields()
		if err != nil {
			return err
		}
		for member, score := range fields {
			f, err := strconv.ParseFloat(score, 64)
			if err != nil {
				return fmt.Errorf("zadd score %q: %v", score, err)
			}
			v.zset[member] = f
		}
	case "zrem":
		v, err := m.existing(op, "zset")
		if err != nil {
			return err
		}
		for _, it := range items {
			delete(v.zset, it)
		}
	case "lpush", "rpush":
		v, err := m.collection(key, "list")
		if err != nil {
			return err
		}
		for _, it := range items {
			if op.Op == "lpush" {
				v.list = slices.Insert(v.list, 0, it)
			} else {
				v.list = append(v.list, it)
			}
		}
	case "lpop", "rpop":
		v, err := m.existing(op, "list")
		if err != nil {
			return err
		}
		n := int(op.At)
		if n < 1 || n > len(v.list) {
			return fmt.Errorf("%s of %d from a list of %d", op.Op, n, len(v.list))
		}
		if op.Op == "lpop" {
			v.list = v.list[n:]
		} else {
			v.list = v.list[:len(v.list)-n]
		}
	case "lset":
		v, err := m.existing(op, "list")
		if err != nil {
			return err
		}
		val, _ := op.value()
		if op.At < 0 || int(op.At) >= len(v.list) {
			return fmt.Errorf("lset at %d of a list of %d", op.At, len(v.list))
		}
		v.list[op.At] = val
	case "linsert":
		v, err := m.existing(op, "list")
		if err != nil {
			return err
		}
		if len(items) != 3 {
			return fmt.Errorf("linsert items %q", items)
		}
		i := slices.Index(v.list, items[1])
		if i < 0 {
			return fmt.Errorf("linsert: pivot %q not in the list", items[1])
		}
		if strings.EqualFold(items[0], "after") {
			i++
		}
		v.list = slices.Insert(v.list, i, items[2])
	case "lrem":
		v, err := m.existing(op, "list")
		if err != nil {
			return err
		}
		val, _ := op.value()
		v.list = lrem(v.list, op.At, val)
	case "ltrim":
		v, err := m.existing(op, "list")
		if err != nil {
			return err
		}
		if len(items) != 2 {
			return fmt.Errorf("ltrim items %q", items)
		}
		start, err1 := strconv.Atoi(items[0])
		stop, err2 := strconv.Atoi(items[1])
		if errors.Join(err1, err2) != nil || start < 0 || stop >= len(v.list) {
			return fmt.Errorf("ltrim %q of a list of %d", items, len(v.list))
		}
		if start > stop {
			v.list = nil
		} else {
			v.list = slices.Clone(v.list[start : stop+1])
		}
	case "xadd":
		v, err := m.collection(key, "stream")
		if err != nil {
			return err
		}
		if len(items) < 1 {
			return fmt.Errorf("xadd without an ID: %+v", op)
		}
		v.stream = append(v.stream, modelEntry{id: items[0], fields: items[1:]})
	case "xdel":
		v, err := m.existing(op, "stream")
		if err != nil {
			return err
		}
		v.stream = slices.DeleteFunc(v.stream, func(e modelEntry) bool { return slices.Contains(items, e.id) })
	case "xtrim":
		v, err := m.existing(op, "stream")
		if err != nil {
			return err
		}
		if len(items) != 2 || items[0] != "minid" {
			return fmt.Errorf("xtrim items %q", items)
		}
		v.stream = slices.DeleteFunc(v.stream, func(e modelEntry) bool { return streamIDLess(e.id, items[1]) })
	case "xgroup":
		if len(items) > 0 && items[0] == "create" { // MKSTREAM makes the stream
			_, err := m.collection(key, "stream")
			return err
		}
		_, err := m.existing(op, "stream")
		return err
	case "xsetid", "xreadgroup", "xreadgroup-noack", "xclaim", "xack":
		_, err := m.existing(op, "stream") // group state: not modelled, the entries stay
		return err
	default:
		return fmt.Errorf("op %q is not modelled: %+v", op.Op, op)
	}
	m.dropIfEmpty(key)
	return nil
}

// lrem removes count occurrences of val (all for 0, from the tail when
// negative), as LREM does.
func lrem(list []string, count int64, val string) []string {
	idx := make([]int, len(list)) // the order in which occurrences count
	for i := range idx {
		idx[i] = i
	}
	if count < 0 {
		slices.Reverse(idx)
		count = -count
	}
	gone := map[int]bool{}
	for _, i := range idx {
		if list[i] == val && (count == 0 || int64(len(gone)) < count) {
			gone[i] = true
		}
	}
	var out []string
	for i, x := range list {
		if !gone[i] {
			out = append(out, x)
		}
	}
	return out
}

// modelKeys are the keys the replay test's writers use: a few of each type,
// named by type so that most ops find the type they expect; cross-type ops
// (SET, COPY, RENAME, DEL, expiry) use any.
var modelKeys = func() []string {
	var keys []string
	for _, p := range []string{"s", "h", "S", "l", "z", "x"} {
		for i := range 3 {
			keys = append(keys, p+strconv.Itoa(i))
		}
	}
	return keys
}()

// modelWrite sends one random write (or a pipeline or transaction of a
// few) of any type; errors (WRONGTYPE, no such key) are part of the mix.
func modelWrite(ctx context.Context, c *redis.Client, rng *rand.Rand) {
	of := func(p string) string { return p + strconv.Itoa(rng.IntN(3)) }
	anyKey := func() string { return modelKeys[rng.IntN(len(modelKeys))] }
	val := func() string {
		v := strconv.Itoa(rng.IntN(20))
		if rng.IntN(10) == 0 {
			v = "\xff" + v // not UTF-8: the _b64 forms
		}
		return v
	}
	one := func(p redis.Cmdable) {
		switch rng.IntN(40) {
		case 0:
			p.Set(ctx, anyKey(), val(), 0)
		case 1:
			p.Set(ctx, of("s"), val(), time.Duration(20+rng.IntN(200))*time.Millisecond)
		case 2:
			p.Incr(ctx, of("s"))
		case 3:
			p.Append(ctx, of("s"), val())
		case 4:
			p.Del(ctx, anyKey())
		case 5:
			p.PExpire(ctx, anyKey(), time.Duration(rng.IntN(300))*time.Millisecond)
		case 6:
			p.Persist(ctx, anyKey())
		case 7:
			p.Expire(ctx, anyKey(), time.Hour)
		case 8:
			p.Copy(ctx, anyKey(), anyKey(), 0, true)
		case 9:
			p.Rename(ctx, anyKey(), anyKey())
		case 10, 11:
			p.HSet(ctx, of("h"), val(), val(), val(), val())
		case 12:
			p.HDel(ctx, of("h"), val(), val())
		case 13:
			p.HIncrBy(ctx, of("h"), "n", 3)
		case 14, 15:
			p.SAdd(ctx, of("S"), val(), val(), val())
		case 16:
			p.SRem(ctx, of("S"), val(), val())
		case 17:
			p.SPop(ctx, of("S"))
		case 18:
			p.SMove(ctx, of("S"), of("S"), val())
		case 19:
			p.SUnionStore(ctx, of("S"), of("S"), of("S"))
		case 20, 21:
			p.RPush(ctx, of("l"), val(), val())
		case 22:
			p.LPush(ctx, of("l"), val(), val(), val())
		case 23:
			p.LPopCount(ctx, of("l"), 1+rng.IntN(3))
		case 24:
			p.RPop(ctx, of("l"))
		case 25:
			p.LSet(ctx, of("l"), int64(rng.IntN(4)-2), val())
		case 26:
			p.LInsert(ctx, of("l"), []string{"BEFORE", "after"}[rng.IntN(2)], val(), val())
		case 27:
			p.LRem(ctx, of("l"), int64(rng.IntN(5)-2), val())
		case 28:
			p.LTrim(ctx, of("l"), int64(rng.IntN(4)-1), int64(rng.IntN(8)-3))
		case 29:
			p.LMove(ctx, of("l"), of("l"), "LEFT", "RIGHT")
		case 30, 31:
			p.ZAdd(ctx, of("z"), redis.Z{Score: float64(rng.IntN(10)) / 4, Member: val()}, redis.Z{Score: -1.5, Member: val()})
		case 32:
			p.ZIncrBy(ctx, of("z"), 0.5, val())
		case 33:
			p.ZRem(ctx, of("z"), val(), val())
		case 34:
			p.ZPopMin(ctx, of("z"), 2)
		case 35, 36:
			p.XAdd(ctx, &redis.XAddArgs{Stream: of("x"), Values: []string{"f", val(), "g", val()}})
		case 37:
			p.XAdd(ctx, &redis.XAddArgs{Stream: of("x"), MaxLen: 3, Values: []string{"f", val()}})
		case 38:
			p.XTrimMaxLen(ctx, of("x"), int64(rng.IntN(3)))
		default:
			k := of("x")
			p.XGroupCreateMkStream(ctx, k, "g", "0")
			p.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "g", Consumer: "c", Streams: []string{k, ">"}, Count: 2, Block: -1})
			if ids, err := c.XRange(ctx, k, "-", "+").Result(); err == nil && len(ids) > 0 {
				id := ids[rng.IntN(len(ids))].ID
				p.XAck(ctx, k, "g", id)
				if rng.IntN(2) == 0 {
					p.XDel(ctx, k, id)
				}
			}
		}
	}
	switch rng.IntN(10) {
	case 0:
		pipe := c.Pipeline()
		for range 1 + rng.IntN(4) {
			one(pipe)
		}
		pipe.Exec(ctx)
	case 1:
		pipe := c.TxPipeline()
		for range 1 + rng.IntN(4) {
			one(pipe)
		}
		pipe.Exec(ctx)
	default:
		one(c)
	}
}

// keyState is what the server holds at one key, read inside one MULTI.
type keyState struct {
	typ    *redis.StatusCmd
	pexp   *redis.Cmd
	str    *redis.StringCmd
	hash   *redis.MapStringStringCmd
	set    *redis.StringSliceCmd
	list   *redis.StringSliceCmd
	zset   *redis.ZSliceCmd
	stream *redis.XMessageSliceCmd
}

// compareWithModel reads every model key in one transaction (a single
// state, whatever the expirer does) and reports how it differs from m. A
// key the model holds with a deadline passed may be absent: its expiry
// committed after the consumer stopped.
func compareWithModel(t *testing.T, c *redis.Client, m *ksModel) {
	t.Helper()
	ctx := context.Background()
	pipe := c.TxPipeline()
	states := make([]keyState, len(modelKeys))
	for i, k := range modelKeys {
		s := &states[i]
		s.typ, s.pexp = pipe.Type(ctx, k), pipe.Do(ctx, "PEXPIRETIME", k)
		s.str, s.hash, s.set = pipe.Get(ctx, k), pipe.HGetAll(ctx, k), pipe.SMembers(ctx, k)
		s.list, s.zset, s.stream = pipe.LRange(ctx, k, 0, -1), pipe.ZRangeWithScores(ctx, k, 0, -1), pipe.XRange(ctx, k, "-", "+")
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) && !strings.HasPrefix(err.Error(), "WRONGTYPE") {
		t.Fatal(err)
	}
	now := time.Now().UnixMilli()
	types := map[string]int{}
	for i, k := range modelKeys {
		s := &states[i]
		mv, inModel := m.keys[k]
		typ := s.typ.Val()
		if typ == "none" {
			if inModel && (mv.deadline == 0 || mv.deadline > now) {
				t.Errorf("key %q: absent, the model has a %s (deadline %d, now %d)", k, mv.typ, mv.deadline, now)
			}
			continue
		}
		types[typ]++
		if !inModel || mv.typ != typ {
			t.Errorf("key %q: a %s, the model has %+v", k, typ, mv)
			continue
		}
		wantExp := int64(-1)
		if mv.deadline != 0 {
			wantExp = mv.deadline
		}
		if got, _ := s.pexp.Int64(); got != wantExp {
			t.Errorf("key %q: pexpiretime %d, the model's %d", k, got, wantExp)
		}
		var got, want any
		switch typ {
		case "string":
			got, want = s.str.Val(), mv.str
		case "hash":
			got, want = s.hash.Val(), mv.hash
		case "set":
			set := map[string]bool{}
			for _, x := range s.set.Val() {
				set[x] = true
			}
			got, want = set, mv.set
		case "list":
			got, want = s.list.Val(), mv.list
		case "zset":
			z := map[string]float64{}
			for _, x := range s.zset.Val() {
				z[x.Member.(string)] = x.Score
			}
			got, want = z, mv.zset
		case "stream":
			var entries []modelEntry
			for _, msg := range s.stream.Val() {
				e := modelEntry{id: msg.ID}
				for _, f := range slices.Sorted(maps.Keys(msg.Values)) { // go-redis gives a map
					e.fields = append(e.fields, f, fmt.Sprint(msg.Values[f]))
				}
				entries = append(entries, e)
			}
			var modelled []modelEntry
			for _, e := range mv.stream {
				fields := map[string]string{}
				for j := 0; j+1 < len(e.fields); j += 2 {
					fields[e.fields[j]] = e.fields[j+1]
				}
				me := modelEntry{id: e.id}
				for _, f := range slices.Sorted(maps.Keys(fields)) {
					me.fields = append(me.fields, f, fields[f])
				}
				modelled = append(modelled, me)
			}
			got, want = entries, modelled
		}
		if !equalValues(got, want) {
			t.Errorf("key %q (%s): %v, the model has %v; its last ops: %s", k, typ, got, want, strings.Join(m.history[k], " "))
		}
	}
	t.Logf("keys compared by type: %v", types)
}

func equalValues(a, b any) bool {
	switch x := a.(type) {
	case string:
		return x == b.(string)
	case map[string]string:
		return maps.Equal(x, b.(map[string]string))
	case map[string]bool:
		return maps.Equal(x, b.(map[string]bool))
	case []string:
		return slices.Equal(x, b.([]string))
	case map[string]float64:
		return maps.EqualFunc(x, b.(map[string]float64), func(p, q float64) bool { return p == q || math.IsNaN(p) && math.IsNaN(q) })
	case []modelEntry:
		return slices.EqualFunc(x, b.([]modelEntry), func(p, q modelEntry) bool { return p.id == q.id && slices.Equal(p.fields, q.fields) })
	}
	return false
}
