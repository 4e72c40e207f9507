package integration

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"
)

// luaLib is a function library loaded on both servers by the comparisons.
const luaLib = "#!lua name=cmplib\n" +
	"redis.register_function('incrk', function(keys, args) return redis.call('incrby', keys[1], args[1]) end)\n" +
	"redis.register_function{function_name='getk', callback=function(keys) return redis.call('get', keys[1]) end, flags={'no-writes'}, description='reads'}\n" +
	"redis.register_function('fails', function() error('in fn') end)\n" +
	"redis.register_function('writes_ro', function(keys) return redis.pcall('set', keys[1], 'x') end)\n"

// scriptingSteps are run against mutexredis and a real redis-server 7.0:
// Lua↔RESP conversions, the libraries, the error texts, SCRIPT and FUNCTION.
var scriptingSteps = []script{
	{"conversions to resp", []step{
		cmd("EVAL", "return 1", "0"), cmd("EVAL", "return -3.99", "0"), cmd("EVAL", "return 3.99", "0"),
		cmd("EVAL", "return 'str'", "0"), cmd("EVAL", "return ''", "0"), cmd("EVAL", "return true", "0"),
		cmd("EVAL", "return false", "0"), cmd("EVAL", "return nil", "0"), cmd("EVAL", "return {}", "0"),
		cmd("EVAL", "return {1,2,nil,4}", "0"), cmd("EVAL", "return {1,{2,{'x',true,false}},'y'}", "0"),
		cmd("EVAL", "return {ok='fine'}", "0"), cmd("EVAL", "return {err='My Error'}", "0"),
		cmd("EVAL", "return {err='ERR x\\r\\ny'}", "0"), cmd("EVAL", "return {1, {ok='in'}, {err='E in'}}", "0"),
		cmd("EVAL", "return redis.status_reply('st')", "0"), cmd("EVAL", "return redis.error_reply('ERR e')", "0"),
		cmd("EVAL", "return redis.error_reply('plain')", "0"), cmd("EVAL", "return {a=1}", "0"),
		cmd("EVAL", "return {1,2,a=3}", "0"), cmd("EVAL", "return 1e20", "0"), cmd("EVAL", "return -0.5", "0"),
		cmd("EVAL", "return 'bin\\0\\255'", "0"), cmd("EVAL", "return {double=3.5}", "0"),
		cmd("EVAL", "return function() end", "0"), cmd("EVAL", "return {err=1}", "0"),
	}},
	{"conversions from resp", []step{
		cmd("SET", "s", "abc"), cmd("SET", "n", "10"),
		cmd("EVAL", "return type(redis.call('get','nokey'))", "0"),
		cmd("EVAL", "local v = redis.call('get','nokey') return v == false", "0"),
		cmd("EVAL", "return type(redis.call('incr','n'))", "0"),
		cmd("EVAL", "local r = redis.call('set','x','1') return type(r) .. r.ok", "0"),
		cmd("EVAL", "local r = redis.pcall('incr','s') return type(r) .. r.err", "0"),
		cmd("EVAL", "return redis.call('mget','s','nokey','n')", "0"),
		cmd("EVAL", "local r = redis.call('mget','s','nokey') return {type(r[1]), type(r[2])}", "0"),
		cmd("EVAL", "return redis.call('ping')", "0"),
		cmd("EVAL", "return redis.call('incrby','n', 5)", "0"),
		cmd("EVAL", "return redis.pcall('incrby','n', 2.5)", "0"),
		cmd("EVAL", "return redis.call('set','f', 0.1)", "0"), cmd("GET", "f"),
		cmd("EVAL", "redis.call('set','f', 1e15) return redis.call('get','f')", "0"),
		cmd("EVAL", "redis.call('set','f', 123456789) return redis.call('get','f')", "0"),
		cmd("EVAL", "return redis.call('exists', 's', 'nokey', 'n')", "0"),
		cmd("EVAL", "redis.setresp(3) return type(redis.call('get','nokey'))", "0"),
		cmd("EVAL", "redis.setresp(2) return type(redis.call('get','nokey'))", "0"),
		cmd("EVAL", "return redis.setresp(4)", "0"), cmd("EVAL", "return redis.setresp()", "0"),
	}},
	{"keys and argv", []step{
		cmd("EVAL", "return {KEYS[1], KEYS[2], ARGV[1], ARGV[2], #KEYS, #ARGV}", "2", "k1", "k2", "a1", "a2"),
		cmd("EVAL", "return #KEYS", "0", "a"), cmd("EVAL", "return 1", "-1"), cmd("EVAL", "return 1", "2", "a"),
		cmd("EVAL", "return 1", "x"), cmd("EVAL", "return 1"), cmd("EVAL", "return 1", "1.5", "a"),
		cmd("EVAL", "redis.call('set', KEYS[1], ARGV[1]) return redis.call('get', KEYS[1])", "1", "kk", "vv"),
	}},
	{"errors", []step{
		cmd("SET", "s", "abc"),
		cmd("EVAL", "return x", "0"), cmd("EVAL", "x = 1", "0"), cmd("EVAL", "string.foo = 1", "0"),
		cmd("EVAL", "redis.call = nil", "0"), cmd("EVAL", "return os", "0"), cmd("EVAL", "return io", "0"),
		cmd("EVAL", "return require", "0"), cmd("EVAL", "return loadfile", "0"), cmd("EVAL", "return dofile", "0"),
		cmd("EVAL", "return redis.call('nosuch')", "0"), cmd("EVAL", "return redis.pcall('nosuch')", "0"),
		cmd("EVAL", "return redis.call('get')", "0"), cmd("EVAL", "return redis.call('get','a','b')", "0"),
		cmd("EVAL", "return redis.call()", "0"), cmd("EVAL", "return redis.pcall()", "0"),
		cmd("EVAL", "return redis.call('get', {})", "0"), cmd("EVAL", "return redis.call('get', nil)", "0"),
		cmd("EVAL", "return redis.call('multi')", "0"), cmd("EVAL", "return redis.call('eval','return 1','0')", "0"),
		cmd("EVAL", "return redis.call('subscribe','c')", "0"), cmd("EVAL", "return redis.call('auth','x')", "0"),
		cmd("EVAL", "\n\nreturn redis.call('incr','s')", "0"), cmd("EVAL", "return redis.pcall('incr','s')", "0"),
		cmd("EVAL", "error('boom')", "0"), cmd("EVAL", "error({err='X boom'})", "0"), cmd("EVAL", "error()", "0"),
		cmd("EVAL", "local t = nil\nlocal a = 1\nerror('line3')", "0"),
		cmd("EVAL", "local ok, e = pcall(function() error('x', 2) end) return e", "0"),
		cmd("EVAL", "local ok, e = pcall(function() error('x', 0) end) return e", "0"),
		cmd("EVAL", "local function f() error('deep', 2) end\nlocal function g()\nf()\nend\nlocal ok, e = pcall(g) return e", "0"),
		cmd("EVAL", "local ok, e = pcall(redis.call, 'incr', 's') return e.err", "0"),
		cmd("EVAL", "return 'a' ..", "0"), cmd("EVAL", "return", "0"),
		cmd("EVAL_RO", "return redis.call('set','a','1')", "0"), cmd("EVAL_RO", "return redis.call('get','s')", "0"),
		cmd("EVAL", "#!lua flags=no-writes\nreturn redis.call('set','a','1')", "0"),
		cmd("EVAL", "#!lua flags=no-writes\nreturn redis.call('get','s')", "0"),
		cmd("EVAL", "#!lua\nreturn redis.call('set','a','1')", "0"),
		cmd("EVAL_RO", "#!lua\nreturn 1", "0"), cmd("EVAL", "#!lua flags=bogus\nreturn 1", "0"),
		cmd("EVAL", "#!lua foo=bar\nreturn 1", "0"), cmd("EVAL", "#!js\nreturn 1", "0"),
		cmd("EVAL", "return redis.call('get','s')", "0"),
	}},
	{"redis api", []step{
		cmd("EVAL", "return redis.sha1hex('')", "0"), cmd("EVAL", "return redis.sha1hex('abc')", "0"),
		cmd("EVAL", "return redis.sha1hex()", "0"),
		cmd("EVAL", "redis.log(redis.LOG_WARNING, 'from a test') return 1", "0"), cmd("EVAL", "return redis.log()", "0"),
		cmd("EVAL", "return {redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING}", "0"),
		cmd("EVAL", "return {redis.REPL_NONE, redis.REPL_AOF, redis.REPL_REPLICA, redis.REPL_SLAVE, redis.REPL_ALL}", "0"),
		cmd("EVAL", "redis.set_repl(redis.REPL_ALL) return 1", "0"), cmd("EVAL", "return redis.replicate_commands()", "0"),
		cmd("EVAL", "return type(redis.REDIS_VERSION) .. type(redis.REDIS_VERSION_NUM)", "0"),
		cmd("EVAL", "return {tostring(1), tostring(1.5), tostring(-0.25), tonumber('0x10'), math.floor(3.7), math.max(1,5,3)}", "0"),
		cmd("EVAL", "return {tostring(1e15), tostring(1e14), tostring(123456789012345), tostring(2^53), tostring(0.1), tostring(1/3), tostring(-0.0), tostring(1e100), tostring(1e-5), tostring(2^63), tostring(nil), tostring(true), tostring('s')}", "0"),
		cmd("EVAL", "return {tonumber('  12  '), tonumber('1e2'), tonumber('0x1p4'), tonumber('0x10'), tonumber('-0x10'), tonumber('ff', 16), tonumber('777', 8), tonumber('z', 36), tonumber(' 1.5e3 '), tonumber('12a') == nil, tonumber('') == nil, tonumber('1 2') == nil, tonumber('8', 8) == nil, tonumber(5), tonumber('.5') * 2}", "0"),
		cmd("EVAL", "return tonumber('x', 99)", "0"),
		cmd("EVAL", "return {string.format('%d %s %5.2f', 3, 'x', 1.5), string.rep('ab', 3), ('abc'):upper(), string.sub('hello', 2, 3)}", "0"),
		cmd("EVAL", "local t = {3,1,2} table.sort(t) return {table.concat(t, ','), #t, select('#', 1, 2, 3)}", "0"),
		cmd("EVAL", "return arg", "0"), cmd("EVAL", "return getfenv", "0"), cmd("EVAL", "return setfenv", "0"),
		cmd("EVAL", "return {type(coroutine.create), type(gcinfo), type(collectgarbage), type(load), _VERSION}", "0"),
		cmd("EVAL", "return {string.rep('ab', 3), string.rep('x', 0), string.rep('', 5), string.rep('a', -1), #string.rep('abc', 1000)}", "0"),
		cmd("EVAL", "return newproxy", "0"), cmd("EVAL", "return print", "0"),
		cmd("EVAL", "return {type(unpack), type(loadstring), type(pcall), type(setmetatable), type(next), type(tostring)}", "0"),
	}},
	{"libraries", []step{
		cmd("EVAL", "return cjson.encode({1,2,3})", "0"), cmd("EVAL", "return cjson.encode('a/b\"c\\\\\\n')", "0"),
		cmd("EVAL", "return cjson.encode({a={b=1}})", "0"), cmd("EVAL", "return cjson.encode({})", "0"),
		cmd("EVAL", "return cjson.encode(1.5)", "0"), cmd("EVAL", "return cjson.encode({true,false,cjson.null})", "0"),
		cmd("EVAL", "return cjson.encode({[1]=1,[100]=2})", "0"), cmd("EVAL", "return cjson.encode(function() end)", "0"),
		cmd("EVAL", "return cjson.decode('[1,2,{\"a\":\"x\"}]')[3].a", "0"),
		cmd("EVAL", "return cjson.decode('{\"n\":1.5,\"s\":\"\\\\u00e9\",\"l\":[1,[2]]}').l[2][1]", "0"),
		cmd("EVAL", "return cjson.decode('{\"n\":null}').n == cjson.null", "0"),
		cmd("EVAL", "return cjson.decode('12.5') * 2", "0"),
		cmd("EVAL", "local s = cmsgpack.pack({1,2,3}, 'abc', 300, -5, -200, 70000, 1.5, true, {a=1}) return {string.byte(s, 1, -1)}", "0"),
		cmd("EVAL", "local a, b, c = cmsgpack.unpack(cmsgpack.pack({1,{2,'x'}}, 'y', -1)) return {a[2][2], b, c}", "0"),
		cmd("EVAL", "return {string.byte(cmsgpack.pack(string.rep('x', 40)), 1, 3)}", "0"),
		cmd("EVAL", "return {bit.band(0xff, 0x0f), bit.bor(1, 2, 4), bit.bxor(5, 3), bit.bnot(0), bit.lshift(1, 31), bit.rshift(-1, 28), bit.arshift(-16, 2), bit.tohex(255), bit.tohex(-1, -4), bit.tobit(2^32 + 5), bit.rol(1, 33), bit.bswap(0x12345678)}", "0"),
		cmd("EVAL", "return {struct.pack('>I2', 513), struct.pack('<i4', -2), struct.size('>iI2d'), struct.unpack('>I2', '\\1\\2')}", "0"),
		cmd("EVAL", "local a, b, n = struct.unpack('<hs', struct.pack('<hs', -3, 'str')) return {a, b, n}", "0"),
		cmd("EVAL", "return {struct.unpack('>d', struct.pack('>d', 1.25))}", "0"),
	}},
	{"script commands", []step{
		cmd("SCRIPT", "FLUSH"),
		cmd("SCRIPT", "LOAD", "return 'loaded'"), cmd("SCRIPT", "EXISTS", sha1hex("return 'loaded'"), "ffff"),
		cmd("EVALSHA", sha1hex("return 'loaded'"), "0"), cmd("EVALSHA", strings.ToUpper(sha1hex("return 'loaded'")), "0"),
		cmd("EVALSHA", "ffffffffffffffffffffffffffffffffffffffff", "0"), cmd("EVALSHA", "abc", "0"),
		cmd("EVAL", "return 'cached'", "0"), cmd("SCRIPT", "EXISTS", sha1hex("return 'cached'")),
		cmd("EVALSHA_RO", "ffffffffffffffffffffffffffffffffffffffff", "0"),
		cmd("SCRIPT", "LOAD", "return 'a' .."), cmd("SCRIPT", "LOAD"), cmd("SCRIPT", "EXISTS"),
		cmd("SCRIPT", "FLUSH", "ASYNC"), cmd("SCRIPT", "FLUSH", "SYNC"), cmd("SCRIPT", "FLUSH", "BAD"),
		cmd("SCRIPT", "KILL"), cmd("SCRIPT", "NOSUCH"),
		cmd("SCRIPT", "EXISTS", sha1hex("return 'loaded'")),
		cmd("EVAL"), cmd("EVALSHA", "x"),
	}},
	{"eval in multi", []step{
		cmd("MULTI"), cmd("SET", "m", "1"), cmd("EVAL", "return redis.call('incr', KEYS[1])", "1", "m"),
		cmd("EVAL_RO", "return redis.call('get', KEYS[1])", "1", "m"), cmd("EXEC"),
		cmd("MULTI"), cmd("SCRIPT", "FLUSH"), cmd("EXEC"),
	}},
	{"functions", []step{
		cmd("FUNCTION", "FLUSH"),
		cmd("FUNCTION", "LOAD", luaLib), cmd("FUNCTION", "LOAD", luaLib),
		cmd("FCALL", "incrk", "1", "fk", "5"), cmd("FCALL", "incrk", "1", "fk", "5"),
		cmd("FCALL", "getk", "1", "fk"), cmd("FCALL_RO", "getk", "1", "fk"), cmd("FCALL_RO", "incrk", "1", "fk", "1"),
		cmd("FCALL", "fails", "0"), cmd("FCALL", "writes_ro", "1", "wk"), cmd("FCALL", "nosuch", "0"), cmd("FCALL", "incrk", "2", "a"),
		cmd("FCALL", "incrk", "-1"), cmd("FCALL"),
		// FUNCTION LIST lists a library's functions in Redis's dict order: a
		// one-function library compares.
		cmd("FUNCTION", "LOAD", "#!lua name=listlib\nredis.register_function{function_name='lf', callback=function() return 1 end, flags={'allow-stale', 'no-writes'}, description='one'}"),
		cmd("FUNCTION", "LIST", "LIBRARYNAME", "list*"), cmd("FUNCTION", "LIST", "WITHCODE", "LIBRARYNAME", "listlib"),
		cmd("FUNCTION", "LIST", "LIBRARYNAME", "zz*"), cmd("FUNCTION", "STATS"), cmd("FUNCTION", "LIST", "BOGUS"),
		cmd("FCALL_RO", "lf", "0"), cmd("FUNCTION", "DELETE", "listlib"),
		cmd("FUNCTION", "LOAD", "REPLACE", luaLib),
		cmd("FUNCTION", "LOAD", "redis.register_function('f', function() return 1 end)"),
		cmd("FUNCTION", "LOAD", "#!lua name=bad\nreturn 1"),
		cmd("FUNCTION", "LOAD", "#!lua name=bad\nredis.call('set','a','b')"),
		cmd("FUNCTION", "LOAD", "#!lua name=bad\nx = 1"),
		cmd("FUNCTION", "LOAD", "#!lua name=bad\nredis.register_function('incrk', function() return 1 end)"),
		cmd("FUNCTION", "LOAD", "#!lua name=bad\nredis.register_function('my func', function() return 1 end)"),
		cmd("FUNCTION", "LOAD", "#!lua name=bad-name\nredis.register_function('f', function() return 1 end)"),
		cmd("FUNCTION", "LOAD", "#!lua name=x flags=no-writes\nredis.register_function('q', function() return 1 end)"),
		cmd("FUNCTION", "LOAD", "#!lua\nredis.register_function('q', function() return 1 end)"),
		cmd("FUNCTION", "LOAD", "#!js name=x\n"),
		cmd("FUNCTION", "LOAD", "#!lua name=x\nredis.register_function{function_name='a', callback=function() end, flags={'bogus'}}"),
		cmd("FUNCTION", "LOAD", "#!lua name=x\nredis.register_function{function_name='a', callback=function() end, bogus=1}"),
		cmd("FUNCTION", "LOAD", "#!lua name=x\nredis.register_function('a')"),
		cmd("FUNCTION", "LOAD", "#!lua name=x\nredis.register_function('a', function() end)\nredis.register_function('a', function() end)"),
		cmd("FUNCTION", "LIST", "LIBRARYNAME"), cmd("FUNCTION", "DELETE"), cmd("FUNCTION", "RESTORE", "garbage"),
		cmd("FUNCTION", "RESTORE", "garbage", "BAD"),
		cmd("FUNCTION", "LOAD", "#!lua name=two\nredis.register_function('two_a', function() return redis.call('ping') end)"),
		cmd("FCALL", "two_a", "0"), cmd("FUNCTION", "DELETE", "two"), cmd("FCALL", "two_a", "0"),
		cmd("FUNCTION", "DELETE", "two"), cmd("FUNCTION", "KILL"), cmd("FUNCTION", "NOSUCH"),
		cmd("FUNCTION", "FLUSH", "BAD"), cmd("FUNCTION", "FLUSH", "SYNC"), cmd("FUNCTION", "LIST"), cmd("FCALL", "incrk", "1", "fk", "1"),
		cmd("FCALL_RO", "writes_ro", "1", "k"),
	}},
}

func sha1hex(s string) string {
	sum := sha1.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// TestScriptCompareWithRedis runs scriptingSteps against mutexredis and a
// real redis-server and compares the raw replies.
func TestScriptCompareWithRedis(t *testing.T) {
	raddr := realRedis(t)
	s := startServer(t)
	for _, sc := range scriptingSteps {
		t.Run(sc.name, func(t *testing.T) {
			mine, theirs := dialRaw(t, s.Addr), dialRaw(t, raddr)
			for _, c := range []*rconn{mine, theirs} {
				c.do("SELECT", "7") // other tests use Redis's db 0, 1 and 9
				c.do("FLUSHDB")
			}
			for i, st := range sc.steps {
				mine.send(st.args...)
				theirs.send(st.args...)
				got, want := mine.read(), theirs.read()
				if got != want {
					t.Errorf("step %d %q:\n mutexredis: %s\n redis:      %s", i, st.args, got, want)
				}
			}
		})
	}
}

// TestScriptAtomicity: 32 clients each run read-modify-write scripts (GET,
// then SET of the value plus one, two commands with nothing else between
// them only because the script is one write op). No increment is lost.
func TestScriptAtomicity(t *testing.T) {
	s := startServer(t)
	const clients, each = 32, 50
	rmw := redis.NewScript("local v = tonumber(redis.call('get', KEYS[1]) or '0') " +
		"redis.call('set', KEYS[1], tostring(v + 1)) " +
		"redis.call('append', KEYS[2], ARGV[1] .. ',') return v + 1")
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	seen := make([][]int64, clients)
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c := s.client(t, nil)
			for j := 0; j < each; j++ {
				v, err := rmw.Run(context.Background(), c, []string{"counter", "log"}, fmt.Sprint(i)).Int64()
				if err != nil {
					errs <- err
					return
				}
				seen[i] = append(seen[i], v)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	c := s.client(t, nil)
	got, err := c.Get(context.Background(), "counter").Int64()
	if err != nil || got != clients*each {
		t.Fatalf("counter = %d, %v; want %d", got, err, clients*each)
	}
	// Every script saw a distinct value: no two read the same state.
	all := map[int64]bool{}
	for _, vs := range seen {
		for _, v := range vs {
			if all[v] {
				t.Fatalf("two scripts returned %d", v)
			}
			all[v] = true
		}
	}
	log, _ := c.Get(context.Background(), "log").Result()
	if n := strings.Count(log, ","); n != clients*each {
		t.Fatalf("log has %d entries, want %d", n, clients*each)
	}
}

// TestScriptOneBatch: a script's writes are one write op: they appear in one
// writes event, commit as one batch, and a script that fails keeps what it
// wrote before the error (Redis's semantics).
func TestScriptOneBatch(t *testing.T) {
	s := startServer(t)
	c := s.client(t, nil)
	ctx := context.Background()
	rcv := subscribeEvents(t, s.client(t, nil), false, "__mutex@0__:writes", "__mutex@0__:reads")
	before := afterwrite(t, c)
	got, err := c.Eval(ctx, "redis.call('set', KEYS[1], 'a') redis.call('set', KEYS[2], 'b') redis.call('del', KEYS[1]) return redis.call('get', KEYS[2])",
		[]string{"k1", "k2"}).Text()
	if err != nil || got != "b" {
		t.Fatalf("eval: %q, %v", got, err)
	}
	e := rcv.next()
	want := []access{{Op: "set", Key: "k1", Value: "a"}, {Op: "set", Key: "k2", Value: "b"}, {Op: "del", Key: "k1"}}
	if e.channel != "__mutex@0__:writes" || !equalAccess(e.Ops, want) {
		t.Fatalf("writes event: %s %+v, want %+v", e.channel, e.Ops, want)
	}
	if n := afterwrite(t, c); n != before+1 {
		t.Fatalf("batch %d after the script, want %d: one batch", n, before+1)
	}
	// A read-only script is a read op: it appears in a reads event.
	if got, err := c.EvalRO(ctx, "return redis.call('get', KEYS[1])", []string{"k2"}).Text(); err != nil || got != "b" {
		t.Fatalf("eval_ro: %q, %v", got, err)
	}
	if e := rcv.next(); e.channel != "__mutex@0__:reads" || !equalAccess(e.Ops, []access{{Op: "get", Key: "k2"}}) {
		t.Fatalf("reads event: %s %+v", e.channel, e.Ops)
	}
	// An error after a write: the write stays, as in Redis.
	if err := c.Eval(ctx, "redis.call('set', 'partial', '1') error('stop')", nil).Err(); err == nil || !strings.HasPrefix(err.Error(), "ERR user_script:1: stop") {
		t.Fatalf("failing script: %v", err)
	}
	if v, _ := c.Get(ctx, "partial").Result(); v != "1" {
		t.Fatalf("partial = %q", v)
	}
}

func equalAccess(a, b []access) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestScriptSeesQueuedWrites: a script queued behind writes of other
// clients in the same phase sees them (it runs inside the write phase).
func TestScriptSeesQueuedWrites(t *testing.T) {
	s := startServer(t)
	c := s.client(t, nil)
	ctx := context.Background()
	// One pipeline: SET and EVAL join the same write phase in order.
	cmds, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, "q", "queued", 0)
		p.Eval(ctx, "return redis.call('get', 'q')", nil)
		p.Eval(ctx, "return redis.call('incr', 'cnt')", nil)
		p.Eval(ctx, "return redis.call('incr', 'cnt')", nil)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if v := cmds[1].(*redis.Cmd).Val(); v != "queued" {
		t.Fatalf("script saw %v", v)
	}
	if v := cmds[3].(*redis.Cmd).Val(); v != int64(2) {
		t.Fatalf("second incr: %v", v)
	}
}

// TestScriptSelectedKeyspace: a script runs in the connection's keyspace.
func TestScriptSelectedKeyspace(t *testing.T) {
	s := startServer(t)
	ctx := context.Background()
	c3 := s.client(t, &redis.Options{DB: 3})
	named := s.client(t, nil)
	if err := named.Do(ctx, "SELECT", "tenant-a").Err(); err != nil {
		t.Fatal(err)
	}
	if err := c3.Eval(ctx, "return redis.call('set', 'k', 'in3')", nil).Err(); err != nil {
		t.Fatal(err)
	}
	if v, err := named.Eval(ctx, "return redis.call('get', 'k')", nil).Result(); err != redis.Nil {
		t.Fatalf("tenant-a sees %v, %v", v, err)
	}
	if v, _ := c3.Get(ctx, "k").Result(); v != "in3" {
		t.Fatalf("db 3: %q", v)
	}
}

// TestScriptCacheAndFunctionsAfterRestart: functions persist, the script
// cache does not (NOSCRIPT), as in Redis.
func TestScriptCacheAndFunctionsAfterRestart(t *testing.T) {
	s := startServer(t)
	ctx := context.Background()
	c := s.client(t, nil)
	sha, err := c.ScriptLoad(ctx, "return 'cached'").Result()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.FunctionLoad(ctx, luaLib).Err(); err != nil {
		t.Fatal(err)
	}
	if v, err := c.FCall(ctx, "incrk", []string{"fk"}, 2).Int64(); err != nil || v != 2 {
		t.Fatalf("fcall: %d %v", v, err)
	}
	dump, err := c.FunctionDump(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	s = s.restart(t)
	c = s.client(t, nil)
	if v, err := c.FCall(ctx, "incrk", []string{"fk"}, 3).Int64(); err != nil || v != 5 {
		t.Fatalf("fcall after restart: %d %v", v, err)
	}
	if err := c.EvalSha(ctx, sha, nil).Err(); err == nil || err.Error() != "NOSCRIPT No matching script. Please use EVAL." {
		t.Fatalf("evalsha after restart: %v", err)
	}
	// DUMP/RESTORE round trip, and FLUSH persists too.
	if err := c.FunctionFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	s = s.restart(t)
	c = s.client(t, nil)
	if err := c.FCall(ctx, "incrk", []string{"fk"}, 1).Err(); err == nil || err.Error() != "ERR Function not found" {
		t.Fatalf("after flush and restart: %v", err)
	}
	if err := c.FunctionRestore(ctx, dump).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.FunctionRestore(ctx, dump).Err(); err == nil || err.Error() != "ERR Library cmplib already exists" {
		t.Fatalf("second restore: %v", err)
	}
	if err := c.Do(ctx, "FUNCTION", "RESTORE", dump[:len(dump)-1]+"x").Err(); err == nil || err.Error() != "ERR DUMP payload version or checksum are wrong" {
		t.Fatalf("bad payload: %v", err)
	}
	if v, err := c.FCall(ctx, "incrk", []string{"fk"}, 1).Int64(); err != nil || v != 6 {
		t.Fatalf("fcall after restore: %d %v", v, err)
	}
}

// TestScriptKill: SCRIPT KILL stops a script that has not written, and
// other keyspaces are served while a script runs.
func TestScriptKill(t *testing.T) {
	s := startServer(t)
	ctx := context.Background()
	c := s.client(t, nil)
	done := make(chan error, 1)
	go func() { done <- c.Eval(ctx, "redis.call('get', 'x') while true do end", nil).Err() }()
	admin := s.client(t, nil)
	other := s.client(t, &redis.Options{DB: 1})
	// NOTBUSY until the script runs; then OK.
	for {
		err := admin.ScriptKill(ctx).Err()
		if err == nil {
			break
		}
		if err.Error() != "NOTBUSY No scripts in execution right now." {
			t.Fatalf("script kill: %v", err)
		}
		// Meanwhile another keyspace is never blocked.
		if err := other.Set(ctx, "free", "yes", 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-done; err == nil || !strings.HasPrefix(err.Error(), "ERR Script killed by user with SCRIPT KILL...") {
		t.Fatalf("killed script: %v", err)
	}
	if err := c.Set(ctx, "after", "1", 0).Err(); err != nil {
		t.Fatalf("keyspace after kill: %v", err)
	}
	if err := admin.FunctionKill(ctx).Err(); err == nil || err.Error() != "NOTBUSY No scripts in execution right now." {
		t.Fatalf("function kill: %v", err)
	}
}

// TestScriptBusy: past busy-reply-threshold (0 here: at once) the running
// function's keyspace answers BUSY, other keyspaces are served, FUNCTION
// KILL ends it and the keyspace serves again. CONFIG has both names.
func TestScriptBusy(t *testing.T) {
	s := startServer(t, "--busy-reply-threshold", "0s")
	ctx := context.Background()
	c := s.client(t, nil)
	if v := c.ConfigGet(ctx, "lua-time-limit").Val()["lua-time-limit"]; v != "0" {
		t.Fatalf("lua-time-limit = %q", v)
	}
	if err := c.FunctionLoad(ctx, "#!lua name=spin\nredis.register_function('spin', function() while true do end end)").Err(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.FCall(ctx, "spin", nil).Err() }()
	probe, other := s.client(t, &redis.Options{Protocol: 2}), s.client(t, &redis.Options{DB: 1})
	// FUNCTION STATS names the running function once it runs (it touches
	// no keyspace, so it never waits behind the function).
	for {
		st, err := probe.Do(ctx, "FUNCTION", "STATS").Slice()
		if err != nil {
			t.Fatal(err)
		}
		if st[1] != nil {
			break
		}
	}
	const busy = "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE."
	if err := probe.Get(ctx, "k").Err(); err == nil || err.Error() != busy {
		t.Fatalf("GET while the function runs: %v", err)
	}
	if err := other.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("another keyspace: %v", err)
	}
	if err := probe.ScriptKill(ctx).Err(); err == nil || err.Error() != "NOTBUSY No scripts in execution right now." {
		t.Fatalf("SCRIPT KILL of a function: %v", err)
	}
	if err := probe.FunctionKill(ctx).Err(); err != nil {
		t.Fatalf("function kill: %v", err)
	}
	if err := <-done; err == nil || !strings.HasPrefix(err.Error(), "ERR Script killed") {
		t.Fatalf("killed function: %v", err)
	}
	if err := probe.Get(ctx, "k").Err(); err != redis.Nil {
		t.Fatalf("GET after the kill: %v", err)
	}
	if err := c.ConfigSet(ctx, "busy-reply-threshold", "5000").Err(); err != nil {
		t.Fatal(err)
	}
	if v := c.ConfigGet(ctx, "lua-time-limit").Val()["lua-time-limit"]; v != "5000" {
		t.Fatalf("lua-time-limit = %q", v)
	}
}

// TestScriptKeyspaceNotifications: the commands a script runs publish their
// keyspace notifications, as in Redis, once the batch has committed.
func TestScriptKeyspaceNotifications(t *testing.T) {
	s := startServer(t, "--notify-keyspace-events", "KEA")
	ctx := context.Background()
	sub := s.client(t, nil).PSubscribe(ctx, "__keyevent@0__:*")
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	c := s.client(t, nil)
	if err := c.Eval(ctx, "redis.call('set', 'a', '1') redis.call('incr', 'a') redis.call('del', 'a')", nil).Err(); err != redis.Nil {
		t.Fatal(err)
	}
	for _, want := range []string{"__keyevent@0__:set", "__keyevent@0__:incrby", "__keyevent@0__:del"} {
		m, err := sub.ReceiveMessage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if m.Channel != want || m.Payload != "a" {
			t.Fatalf("got %s %q, want %s a", m.Channel, m.Payload, want)
		}
	}
}

// TestScriptDurableAfterKill: what an acknowledged script wrote, and an
// acknowledged FUNCTION LOAD, survive kill -9.
func TestScriptDurableAfterKill(t *testing.T) {
	s := startServer(t)
	ctx := context.Background()
	c := s.client(t, nil)
	if err := c.FunctionLoad(ctx, luaLib).Err(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		if err := c.Eval(ctx, "redis.call('set', KEYS[1], ARGV[1]) redis.call('incr', 'n') return redis.call('append', 'log', ARGV[1])",
			[]string{fmt.Sprint("k", i)}, i).Err(); err != nil {
			t.Fatal(err)
		}
	}
	s.cmd.Process.Kill()
	<-s.exited
	s.stopped = true
	s = startServerDir(t, s.Dir, s.flags...)
	c = s.client(t, nil)
	if n, err := c.Get(ctx, "n").Int(); err != nil || n != 20 {
		t.Fatalf("n = %d, %v after kill -9", n, err)
	}
	if v, _ := c.Get(ctx, "k19").Result(); v != "19" {
		t.Fatalf("k19 = %q", v)
	}
	if v, err := c.FCall(ctx, "incrk", []string{"n"}, 1).Int(); err != nil || v != 21 {
		t.Fatalf("fcall after kill -9: %d %v", v, err)
	}
}
