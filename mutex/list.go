package mutex

// DropEmptied deletes the record of the collection key after the caller
// deleted every one of its elements itself (Tx.DelElem), so that no range
// deletion is needed. A list used as a queue empties all the time; a range
// tombstone per emptying would pile up in the memtable, and every read
// after them pays for fragmenting them.
func (tx *Tx) DropEmptied(key []byte) error {
	tx.lastColl.forget(key)
	if err := tx.putGone(key); err != nil {
		return err
	}
	tx.wrote(key)
	return nil
}
