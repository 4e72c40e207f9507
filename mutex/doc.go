// Package mutex is a read/write cycling mutex over a Pebble store: the
// level-mutex idea, grown up. It knows nothing of any network protocol.
//
// A Store is one Pebble database holding any number of keyspaces. Each
// Keyspace has its own mutex; keyspaces never wait on each other. Work is
// submitted as Ops with Keyspace.Do and the mutex promises:
//
//   - Phases. It alternates read phases and write phases. A read phase runs
//     every read queued before it started, against one unchanging state (the
//     last committed batch). A write phase applies every write queued before
//     it started, in queue order, to one Pebble batch and commits it with one
//     fsync (unless Options.NoSync). What arrives during a phase waits for the
//     next phase of its kind. After a read phase a queued write phase runs,
//     and after a write phase a queued read phase, so neither starves.
//
//   - Durability. A write op completes only after its batch is committed.
//     Once Do has returned a write, every read queued afterwards, by anyone,
//     sees it.
//
//   - Atomicity. A batch commits as a whole or not at all. If the commit
//     fails, every write op of the batch gets the error, nothing of the batch
//     becomes visible (reads keep using the last good state), writes fail
//     while the store is failed, and the next write phase tries to recover:
//     reopen the database and revert the failed batch. Store.Failed reports
//     the state.
//
//   - Read-modify-write. A WriteOp's function runs inside the write phase and
//     sees every write queued before it, including earlier ones in its own
//     batch. "Set if the value is v1", submitted twice into one batch,
//     applies once. Conditional sets, counters, flushes and transactions are
//     all WriteOps; the mutex has no special cases for them. Op.RunIn runs
//     any op inside a transaction's WriteOp, and a Watch (Keyspace.Watch)
//     tells a WriteOp whether a key was written since the watch began,
//     counting writes that were queued but not yet applied then.
//
//   - Order per submitter. The ops of one Do call run in order: consecutive
//     ops of one kind join the same phase, and a read after the submitter's
//     own write sees it. N ops submitted at once cost as many phases as there
//     are changes between reads and writes among them, not N.
//
//   - AfterWrite completes once every write queued before it is durable and
//     reports the number of the batch it waited for. Batch numbers increase
//     by one per committed batch, per keyspace, are stored in the batch they
//     number and survive restarts. A write phase without mutations commits
//     nothing and takes no number.
//
//   - Events. Keyspace.Subscribe delivers the reads, writes and flushed
//     events in order. Nothing is recorded while nobody subscribes, and a
//     subscriber whose buffer is full is dropped (see Subscription), so
//     events never slow the mutex. Write ops may attach notes (Tx.Note) that
//     the flushed event of a committed batch carries.
//
//   - Back-pressure. At most Options.MaxQueuedOps ops are queued per
//     keyspace; Do waits for room beyond that, so memory stays bounded.
//
//   - Keyspaces cost what they hold. Creating one is O(1); a keyspace runs
//     a goroutine only while it has work, and one idle since the previous
//     sweep (no work, watch or subscription) is dropped from memory and
//     created again, with its batch number, when next used; a pointer to
//     the dropped instance forwards to the live one.
//
//   - Fatal errors. A Pebble error it cannot recover from outside a commit
//     (a MANIFEST sync in a background flush …) fails the store for good:
//     Store.Fatal reports it, Do returns it, and the owner should stop; every
//     acknowledged write was synced first, so a restart recovers them all.
//
// On disk, keys are prefixed by their length-prefixed keyspace name, so no
// two keyspaces can collide whatever bytes names and keys contain; values
// carry a versioned header with room for a type and an expiry; the format
// version is stored, and Open refuses a directory written in another format
// with ErrFormatVersion.
package mutex
