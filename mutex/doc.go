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
//   - Keyspaces cost what they hold. Creating one is O(1); a keyspace has
//     no goroutine of its own (its phases run on its submitters'), and one
//     idle since the previous sweep (no work, watch or subscription) is dropped from memory and
//     created again, with its batch number, when next used; a pointer to
//     the dropped instance forwards to the live one.
//
//   - Fatal errors. A Pebble error it cannot recover from outside a commit
//     (a MANIFEST sync in a background flush …) fails the store for good:
//     Store.Fatal reports it, Do returns it, and the owner should stop; every
//     acknowledged write was synced first, so a restart recovers them all.
//
// # How phases run
//
// The mutex has no goroutine: every phase runs on the goroutines of the
// submitters waiting for it, so the common paths hand no work to another
// goroutine (as in LevelDB's writer queue and Pebble's commit pipeline).
//
//   - The baton. At most one goroutine at a time may plan phases; it owns
//     the keyspace's queues. A Do appends its request to the inbox; the one
//     that finds the keyspace stopped takes the baton. The holder takes in
//     the inbox, asks the plan (phase.go) for the next phase and hands it
//     out, then lets go: the baton travels with the phase.
//   - The plan is a pure function of the queues (queues.next, route, span,
//     leader): no I/O, no locks, no goroutines, tested step by step in
//     phase_test.go. It picks reads after a write phase, writes after a
//     read phase, and otherwise whichever kind waits; a phase takes every
//     request of its kind queued before it.
//   - A read phase runs on its submitters' goroutines, in parallel, in as
//     many shares as the Go scheduler runs at once (GOMAXPROCS): the baton
//     holder runs the first share, and the first request of each other
//     share is woken to run that share, its own reads first, each worker
//     with its own Reader. All read one state fixed when the phase was
//     planned (the database, or the failed batch's snapshot; the phase
//     holds Store.dbMu for reading throughout). More workers than
//     processors would only queue for one, and a phase ends with its
//     slowest worker. A request with nothing left is answered as soon as
//     its reads ran; the last worker to finish ends the phase: it emits the
//     reads event (each request's accesses, in queue order), routes the
//     requests that go on, and carries the baton to the next phase.
//   - A write phase is run by one of its writers, the leader: the baton
//     holder's own request if it is in the phase, else the first one whose
//     goroutine is a Do (a woken blocking attempt never leads: its waiter
//     may give up). The leader builds the one batch, commits it, answers
//     the followers and carries the baton on. A phase nobody can lead is
//     run by the baton holder.
//   - A submitter is woken once per phase it takes part in (to read, to
//     lead, or because it is done), never to pass work along; the holder
//     that finds nothing queued stops the keyspace.
//
// Reads of single keys (records and collection elements) go through the
// store's read cache (readcache.go) before Pebble. It changes no guarantee:
// every commit updates it before its batch's requests are answered, so it
// holds exactly what Pebble holds, and a write phase reads through it only
// keys its own batch has not written.
//
// On disk, keys are prefixed by their length-prefixed keyspace name, so no
// two keyspaces can collide whatever bytes names and keys contain; values
// carry a versioned header with room for a type and an expiry; the format
// version is stored, and Open refuses a directory written in another format
// with ErrFormatVersion.
package mutex
