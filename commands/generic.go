package commands

import "github.com/mutexredis/mutexredis/mutex"

// Generic key commands that tools rely on (TYPE, TTL …). Every value is a
// string and no key ever has a time to live.

func init() {
	register(
		&Command{Name: "type", Arity: 2, Flags: Read | Fast, FirstKey: 1, LastKey: 1, Step: 1, Op: typeOp,
			Summary: "Determines the type of value stored at a key (always string or none)."},
		&Command{Name: "ttl", Arity: 2, Flags: Read | Fast, FirstKey: 1, LastKey: 1, Step: 1, Op: ttlOp,
			Summary: "Returns the time to live of a key: -1 (keys never expire) or -2 (no such key)."},
		&Command{Name: "pttl", Arity: 2, Flags: Read | Fast, FirstKey: 1, LastKey: 1, Step: 1, Op: ttlOp,
			Summary: "Returns the time to live of a key in milliseconds: -1 or -2, as TTL."},
		&Command{Name: "rename", Arity: 3, Flags: Write, FirstKey: 1, LastKey: 2, Step: 1, Op: renameOp(false),
			Summary: "Renames a key, overwriting the destination."},
		&Command{Name: "renamenx", Arity: 3, Flags: Write | Fast, FirstKey: 1, LastKey: 2, Step: 1, Op: renameOp(true),
			Summary: "Renames a key only when the destination does not exist."},
	)
}

func typeOp(args [][]byte) (mutex.Op, any) {
	key := args[1]
	return mutex.ReadOp(func(r *mutex.Reader) (any, error) {
		ok, err := r.Exists(key)
		if ok {
			return Status("string"), err
		}
		return Status("none"), err
	}), nil
}

func ttlOp(args [][]byte) (mutex.Op, any) {
	key := args[1]
	return mutex.ReadOp(func(r *mutex.Reader) (any, error) {
		ok, err := r.Exists(key)
		if ok {
			return int64(-1), err
		}
		return int64(-2), err
	}), nil
}

// renameOp builds RENAME and RENAMENX (nx): one write op, so the key moves
// atomically, with Redis's replies and rename_from/rename_to notifications.
func renameOp(nx bool) func([][]byte) (mutex.Op, any) {
	return func(args [][]byte) (mutex.Op, any) {
		src, dst := args[1], args[2]
		return mutex.WriteOp(func(tx *mutex.Tx) (any, error) {
			v, ok, err := tx.Get(src)
			if err != nil {
				return nil, err
			}
			if !ok {
				return ErrNoSuchKey, nil
			}
			if nx {
				if exists, err := tx.Exists(dst); err != nil || exists {
					return int64(0), err
				}
			}
			if string(src) != string(dst) {
				if _, err := tx.Delete(src); err != nil {
					return nil, err
				}
				if err := tx.Set(dst, v); err != nil {
					return nil, err
				}
			}
			notify(tx, notifyGeneric, "rename_from", src)
			notify(tx, notifyGeneric, "rename_to", dst)
			if nx {
				return int64(1), nil
			}
			return OK, nil
		}), nil
	}
}
