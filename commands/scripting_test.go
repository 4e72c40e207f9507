package commands

import (
	"fmt"
	"testing"

	"github.com/mutexredis/mutexredis/scripting"
)

// TestScriptKillStates: SCRIPT KILL of nothing, of a script that has not
// written (cancelled) and of one that has (UNKILLABLE, left running).
func TestScriptKillStates(t *testing.T) {
	sc := NewScripts(nil, nil)
	if got := sc.kill(false); got != Error("NOTBUSY No scripts in execution right now.") {
		t.Fatalf("nothing running: %v", got)
	}
	cancelled := false
	r := &running{cancel: func() { cancelled = true }}
	sc.running[r] = struct{}{}
	if got := sc.kill(true); got != Error("NOTBUSY No scripts in execution right now.") {
		t.Fatalf("FUNCTION KILL of an EVAL script: %v", got)
	}
	r.wrote.Store(true)
	if got, ok := sc.kill(false).(Error); !ok || got[:11] != "UNKILLABLE " || cancelled {
		t.Fatalf("a script that wrote: %v (cancelled %v)", got, cancelled)
	}
	r.wrote.Store(false)
	if got := sc.kill(false); got != OK || !cancelled {
		t.Fatalf("a script that did not write: %v (cancelled %v)", got, cancelled)
	}
}

// TestScriptCacheEviction: EVAL scripts past maxEvalScripts are forgotten,
// oldest first; SCRIPT LOAD scripts and recently used ones stay.
func TestScriptCacheEviction(t *testing.T) {
	sc := NewScripts(nil, nil)
	body := func(i int) []byte { return []byte(fmt.Sprintf("return %d", i)) }
	loaded, _ := sc.script([]byte("return 'loaded'"), true)
	first, _ := sc.script(body(0), false)
	old, _ := sc.script(body(1), false)
	for i := 2; i < maxEvalScripts+1; i++ {
		if i%100 == 0 { // EVALSHA of script 0 keeps it recent
			if sc.cached(first.SHA, false) == nil {
				t.Fatal("script 0 evicted while in use")
			}
		}
		sc.script(body(i), false)
	}
	if len(sc.cache) != maxEvalScripts+1 {
		t.Fatalf("%d scripts cached, want %d EVAL scripts and the loaded one", len(sc.cache), maxEvalScripts)
	}
	if sc.cached(old.SHA, false) != nil {
		t.Error("the least recently used EVAL script was kept")
	}
	if sc.cached(first.SHA, false) == nil || sc.cached(loaded.SHA, false) == nil {
		t.Error("a recently used or a loaded script was evicted")
	}
	// SCRIPT LOAD of an EVAL script takes it out of the LRU for good.
	sc.script(body(2), true)
	for i := 0; i < 2*maxEvalScripts; i++ {
		sc.script(body(10000+i), false)
	}
	if sc.cached(scripting.SHA1Hex(body(2)), false) == nil {
		t.Error("a script loaded with SCRIPT LOAD was evicted")
	}
}
