package mutex

// The phase plan: which requests run in the next phase, and where a request
// goes once a phase has run its ops. It is a pure function of the queues,
// with no I/O, no locks and no goroutines (as etcd's raft keeps its state
// machine), so phase_test.go drives it step by step; keyspace.go owns one
// queues per keyspace (its baton holder does, see Keyspace) and carries out
// what it says.

// phaseKind is the kind of a phase, or phaseNone when nothing is queued.
type phaseKind uint8

const (
	phaseNone phaseKind = iota
	phaseRead
	phaseWrite
)

// queues are the requests waiting for a phase of each kind, in the order
// they were routed, and which kind ran last.
type queues struct {
	reads, writes []*request
	spare         []*request // backing array for the next queue taken
	lastRead      bool       // the last phase was a read phase (zero: reads go first)
}

// next chooses the next phase and takes its requests off their queue: reads
// after a write phase or when no write waits, writes after a read phase or
// when no read waits, so that neither kind starves the other.
func (q *queues) next() (phaseKind, []*request) {
	switch {
	case len(q.reads) > 0 && (!q.lastRead || len(q.writes) == 0):
		q.lastRead = true
		return phaseRead, q.take(&q.reads)
	case len(q.writes) > 0:
		q.lastRead = false
		return phaseWrite, q.take(&q.writes)
	}
	return phaseNone, nil
}

func (q *queues) take(list *[]*request) []*request {
	reqs := *list
	*list = q.spare[:0]
	q.spare = nil
	return reqs
}

// recycle gives back the slice of a phase that has ended.
func (q *queues) recycle(reqs []*request) {
	clear(reqs)
	q.spare = reqs[:0]
}

// route puts req in the queue of its next op's kind and reports whether it
// has no op left. An AfterWrite with no write queued before it waits for
// nothing: settle completes it (with the last batch number) and routing
// goes on;
// an op without a kind gets errNoKind.
func (q *queues) route(req *request, settle func(op *Op)) (done bool) {
	for ; req.next < len(req.ops); req.next++ {
		op := &req.ops[req.next]
		switch op.kind {
		case KindRead:
			q.reads = append(q.reads, req)
			return false
		case KindWrite:
			q.writes = append(q.writes, req)
			return false
		case KindAfterWrite:
			if len(q.writes) > 0 {
				q.writes = append(q.writes, req)
				return false
			}
			settle(op)
		default:
			op.Err = errNoKind
		}
	}
	return true
}

// writeFirst puts reqs at the head of the write queue, in their order (the
// attempts of woken blocking waiters, block.go).
func (q *queues) writeFirst(reqs []*request) {
	if len(reqs) > 0 {
		q.writes = append(reqs, q.writes...)
	}
}

// span is the end of the ops req runs in a phase of kind k, from req.next:
// a read phase runs its consecutive reads, a write phase everything up to
// its next read.
func span(req *request, k phaseKind) int {
	i := req.next
	for i < len(req.ops) && (req.ops[i].kind == KindRead) == (k == phaseRead) {
		i++
	}
	return i
}

// leader is the request whose goroutine runs a write phase: own, the baton
// holder's request, if it is in the phase (no goroutine is woken for it),
// else the first one whose goroutine waits to the end (a Do); nil when none
// can, and the baton holder runs the phase itself.
func leader(reqs []*request, own *request) *request {
	var first *request
	for _, req := range reqs {
		if req == own {
			return own
		}
		if first == nil && req.lead {
			first = req
		}
	}
	return first
}
