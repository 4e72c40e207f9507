package mutex

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
)

func TestZZExplore(t *testing.T) {
	var on atomic.Bool
	inj := errorfs.InjectorFunc(func(op errorfs.Op) error {
		if on.Load() && strings.HasSuffix(op.Path, ".log") && op.Kind.ReadOrWrite() == errorfs.OpIsWrite {
			t.Logf("inject %v %s", op.Kind, op.Path)
			return errorfs.ErrInjected
		}
		return nil
	})
	s, err := Open(t.TempDir(), Options{FS: errorfs.Wrap(vfs.Default, inj)})
	if err != nil {
		t.Fatal(err)
	}
	k, _ := s.Keyspace("f")
	ctx := context.Background()
	ops := []Op{Put([]byte("x"), []byte("v0"))}
	t.Log(k.Do(ctx, ops), ops[0].Err, k.LastBatch())
	on.Store(true)
	ops = []Op{Put([]byte("x"), []byte("v1"))}
	t.Log(k.Do(ctx, ops), ops[0].Err, k.LastBatch(), s.Failed())
	ops = []Op{Get([]byte("x"))}
	t.Log(k.Do(ctx, ops), ops[0].Err, ops[0].Result)
	ops = []Op{Put([]byte("x"), []byte("v2"))}
	t.Log(k.Do(ctx, ops), ops[0].Err, k.LastBatch(), s.Failed())
	ops = []Op{Get([]byte("x"))}
	t.Log(k.Do(ctx, ops), ops[0].Err, ops[0].Result)
	on.Store(false)
	ops = []Op{Put([]byte("y"), []byte("v3"))}
	t.Log(k.Do(ctx, ops), ops[0].Err, k.LastBatch(), s.Failed())
	ops = []Op{Get([]byte("x"))}
	t.Log(k.Do(ctx, ops), ops[0].Err, string(ops[0].Result.([]byte)))
	t.Log(s.Close())
}
