package scripting

import (
	"context"
	"testing"
)

// FuzzDecoders feeds arbitrary bytes to the decoders a script can reach
// (cjson.decode, cmsgpack.unpack, struct.unpack with an arbitrary format):
// each returns a value or a script error, never a panic that escapes or a
// run that does not end.
func FuzzDecoders(f *testing.F) {
	for _, seed := range []string{`[1,{"a":null}]`, "\x93\x01\xa1a\xc0", "\xdd\xff\xff\xff\xff", `{"a":`, "\xd9", ">I2", "c0"} {
		f.Add(seed, ">i2 s")
	}
	e := NewEngine(Options{})
	s, err := Compile([]byte(`
		local ok1 = pcall(cjson.decode, ARGV[1])
		local ok2 = pcall(cmsgpack.unpack, ARGV[1])
		local ok3 = pcall(struct.unpack, ARGV[2], ARGV[1])
		local ok4 = pcall(cjson.encode, ARGV[1])
		return 1`))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data, format string) {
		got := e.Run(context.Background(), s, nil, [][]byte{[]byte(data), []byte(format)}, func([][]byte) any { return nil })
		if got != int64(1) {
			t.Fatalf("the script did not finish: %#v", got)
		}
	})
}
