package mutex

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// The phase plan (phase.go) tested as the pure function it is: no store,
// no goroutines, no clock. planSim plays the part of the keyspace: it runs
// a phase by stepping each request over its span, then routes the phase's
// requests and takes in new submissions, in that order, as drive does.

type planSim struct {
	q     queues
	names map[*request]string
	log   []string // what settle and routing did, in order
}

// kinds builds ops from letters: R read, W write, A AfterWrite, ? no kind.
func kinds(s string) []Op {
	ops := make([]Op, len(s))
	for i, c := range s {
		switch c {
		case 'R':
			ops[i].kind = KindRead
		case 'W':
			ops[i].kind = KindWrite
		case 'A':
			ops[i].kind = KindAfterWrite
		}
	}
	return ops
}

func newPlanSim() *planSim { return &planSim{names: map[*request]string{}} }

// submit takes in a request, as takeInbox does.
func (p *planSim) submit(name, ops string) *request {
	req := &request{ops: kinds(ops), lead: true}
	p.names[req] = name
	p.route(req)
	return req
}

func (p *planSim) route(req *request) {
	name := p.names[req]
	done := p.q.route(req, func(op *Op) {
		p.log = append(p.log, fmt.Sprintf("%s[%d] settled", name, op2index(req, op)))
	})
	if done {
		p.log = append(p.log, name+" done")
	}
}

func op2index(req *request, op *Op) int {
	for i := range req.ops {
		if &req.ops[i] == op {
			return i
		}
	}
	return -1
}

// phase plans and runs the next phase and returns it as "read a[0:2] b[1:2]"
// ("none" when nothing is queued); then it routes the phase's requests.
func (p *planSim) phase() string {
	kind, reqs := p.q.next()
	if kind == phaseNone {
		return "none"
	}
	parts := []string{map[phaseKind]string{phaseRead: "read", phaseWrite: "write"}[kind]}
	for _, req := range reqs {
		from, end := req.next, span(req, kind)
		req.next = end
		parts = append(parts, fmt.Sprintf("%s[%d:%d]", p.names[req], from, end))
	}
	for _, req := range reqs {
		p.route(req)
	}
	p.q.recycle(reqs)
	return strings.Join(parts, " ")
}

// run plays phases until none is queued.
func (p *planSim) run() []string {
	var phases []string
	for {
		ph := p.phase()
		if ph == "none" {
			return phases
		}
		phases = append(phases, ph)
	}
}

func expectPhases(t *testing.T, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("phases:\n  got  %q\n  want %q", got, want)
	}
}

func TestPlanReadsFirstThenAlternate(t *testing.T) {
	p := newPlanSim()
	p.submit("w1", "W")
	p.submit("r1", "R")
	p.submit("w2", "W")
	p.submit("r2", "R")
	// A keyspace that starts (zero queues) runs reads first; every phase
	// takes all of its kind queued before it.
	expectPhases(t, p.run(), "read r1[0:1] r2[0:1]", "write w1[0:1] w2[0:1]")
}

func TestPlanOrderPerSubmitter(t *testing.T) {
	p := newPlanSim()
	p.submit("a", "RRWWARW?R")
	// Consecutive ops of one kind share a phase; an AfterWrite joins the
	// write phase it follows; an op without a kind goes with the writes
	// (and gets errNoKind from runWrites).
	expectPhases(t, p.run(), "read a[0:2]", "write a[2:5]", "read a[5:6]", "write a[6:8]", "read a[8:9]")
	if !slices.Equal(p.log, []string{"a done"}) {
		t.Fatalf("log %q, want only a done", p.log)
	}
}

func TestPlanNoStarvation(t *testing.T) {
	// Before every phase a new reader and a new writer arrive: phases
	// alternate, each kind runs every other phase, and each phase takes
	// everything of its kind queued before it.
	p := newPlanSim()
	var got []string
	for i := range 6 {
		p.submit(fmt.Sprintf("r%d", i), "R")
		p.submit(fmt.Sprintf("w%d", i), "W")
		got = append(got, p.phase())
	}
	expectPhases(t, got,
		"read r0[0:1]",
		"write w0[0:1] w1[0:1]",
		"read r1[0:1] r2[0:1]",
		"write w2[0:1] w3[0:1]",
		"read r3[0:1] r4[0:1]",
		"write w4[0:1] w5[0:1]")
	expectPhases(t, p.run(), "read r5[0:1]")
}

func TestPlanAfterWrite(t *testing.T) {
	p := newPlanSim()
	p.submit("a", "AAR") // nothing to wait for: both settle at once
	p.submit("w", "W")
	p.submit("b", "A") // waits for w
	if want := []string{"a[0] settled", "a[1] settled"}; !slices.Equal(p.log, want) {
		t.Fatalf("log %q, want %q", p.log, want)
	}
	expectPhases(t, p.run(), "read a[2:3]", "write w[0:1] b[0:1]")
}

func TestPlanNoKind(t *testing.T) {
	p := newPlanSim()
	req := p.submit("a", "?R")
	if req.ops[0].Err != errNoKind {
		t.Fatalf("op without a kind: Err %v, want errNoKind", req.ops[0].Err)
	}
	expectPhases(t, p.run(), "read a[1:2]")
}

func TestPlanContinuingRequestsKeepPhaseOrder(t *testing.T) {
	// Requests a read phase hands on go to the write queue in phase order,
	// before what is submitted afterwards.
	p := newPlanSim()
	p.submit("a", "RW")
	p.submit("b", "RW")
	if got := p.phase(); got != "read a[0:1] b[0:1]" {
		t.Fatalf("first phase %q", got)
	}
	p.submit("c", "W")
	expectPhases(t, p.run(), "write a[1:2] b[1:2] c[0:1]")
}

func TestPlanWokenAttemptsGoFirst(t *testing.T) {
	p := newPlanSim()
	p.submit("w", "W")
	woken := []*request{{ops: kinds("W")}, {ops: kinds("W")}}
	p.names[woken[0]], p.names[woken[1]] = "x", "y"
	p.q.writeFirst(woken)
	expectPhases(t, p.run(), "write x[0:1] y[0:1] w[0:1]")
}

func TestPlanLeader(t *testing.T) {
	a := &request{lead: false}
	b := &request{lead: true}
	c := &request{lead: true}
	for _, tc := range []struct {
		reqs      []*request
		own, want *request
		why       string
	}{
		{[]*request{a, b, c}, c, c, "the baton holder's own request leads: no wake-up"},
		{[]*request{a, b, c}, nil, b, "else the first that may lead"},
		{[]*request{a, b, c}, &request{lead: true}, b, "a baton holder outside the phase does not lead"},
		{[]*request{a}, nil, nil, "nobody may lead: the baton holder runs the phase"},
	} {
		if got := leader(tc.reqs, tc.own); got != tc.want {
			t.Errorf("%s: got %p, want %p", tc.why, got, tc.want)
		}
	}
}

// TestPlanInvariants plays seeded random workloads, with submissions
// arriving between phases, and checks what doc.go promises of the plan:
// every op runs exactly once and in order per request; a phase runs ops
// of its kind only; phases alternate whenever both kinds wait; and a phase
// takes every request of its kind queued before it.
func TestPlanInvariants(t *testing.T) {
	rng := rand.New(rand.NewPCG(18, 2026))
	letters := "RRWWA"
	for round := range 200 {
		p := newPlanSim()
		var all []*request
		ran := map[*request][]int{}
		lastKind := phaseNone
		submitSome := func() {
			for range rng.IntN(4) {
				var sb strings.Builder
				for range 1 + rng.IntN(6) {
					sb.WriteByte(letters[rng.IntN(len(letters))])
				}
				all = append(all, p.submit(fmt.Sprintf("s%d", len(all)), sb.String()))
			}
		}
		submitSome()
		for step := 0; step < 1000; step++ {
			readsWaiting, writesWaiting := len(p.q.reads) > 0, len(p.q.writes) > 0
			queuedReads, queuedWrites := slices.Clone(p.q.reads), slices.Clone(p.q.writes)
			kind, reqs := p.q.next()
			if kind == phaseNone {
				if step > 0 && len(all) > 0 && rng.IntN(3) > 0 {
					submitSome()
					continue
				}
				break
			}
			if readsWaiting && writesWaiting && kind == lastKind {
				t.Fatalf("round %d: two %v phases in a row while both kinds wait", round, kind)
			}
			want := queuedWrites
			if kind == phaseRead {
				want = queuedReads
			}
			if !slices.Equal(reqs, want) {
				t.Fatalf("round %d: the phase did not take exactly the queue of its kind", round)
			}
			lastKind = kind
			for _, req := range reqs {
				end := span(req, kind)
				if end == req.next {
					t.Fatalf("round %d: %s is in a %v phase with no op for it", round, p.names[req], kind)
				}
				for i := req.next; i < end; i++ {
					if isRead := req.ops[i].kind == KindRead; isRead != (kind == phaseRead) {
						t.Fatalf("round %d: op %d of %s (kind %d) in a %v phase", round, i, p.names[req], req.ops[i].kind, kind)
					}
					ran[req] = append(ran[req], i)
				}
				req.next = end
			}
			for _, req := range reqs {
				p.route(req)
			}
			p.q.recycle(reqs)
			submitSome()
		}
		for _, req := range all {
			var want []int
			for i, op := range req.ops {
				// AfterWrites settled at routing do not run in a phase.
				if op.kind != KindAfterWrite || !slices.Contains(p.log, fmt.Sprintf("%s[%d] settled", p.names[req], i)) {
					want = append(want, i)
				}
			}
			if !slices.Equal(ran[req], want) {
				t.Fatalf("round %d: %s (%d ops) ran %v, want %v", round, p.names[req], len(req.ops), ran[req], want)
			}
			if req.next != len(req.ops) {
				t.Fatalf("round %d: %s stopped at op %d of %d", round, p.names[req], req.next, len(req.ops))
			}
		}
	}
}
