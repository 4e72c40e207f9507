package glob

import "testing"

func TestMatch(t *testing.T) {
	cases := []struct {
		pattern, s string
		want       bool
	}{
		{"*", "", true}, {"*", "abc", true}, {"a*", "abc", true}, {"a*", "bac", false},
		{"h?llo", "hello", true}, {"h?llo", "hllo", false}, {"h*llo", "heeeello", true},
		{"h[ae]llo", "hallo", true}, {"h[ae]llo", "hillo", false}, {"h[^e]llo", "hallo", true},
		{"h[^e]llo", "hello", false}, {"h[a-b]llo", "hbllo", true}, {"h[b-a]llo", "hallo", true},
		{"h[a-b]llo", "hcllo", false}, {`h\*llo`, "h*llo", true}, {`h\*llo`, "hello", false},
		{"__mutex@*__:flushed", "__mutex@0__:flushed", true}, {"__mutex@*__:flushed", "__mutex@0__:writes", false},
		{"a*b*c", "aXbYc", true}, {"a*b*c", "aXbY", false}, {"*a", "aaaa", true}, {"a", "", false},
		{"[abc", "a", true}, {"?", "", false}, {"**", "x", true},
		{"a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false},
	}
	for _, c := range cases {
		if got := Match(c.pattern, c.s); got != c.want {
			t.Errorf("Match(%q, %q) = %v, want %v", c.pattern, c.s, got, c.want)
		}
	}
}

func FuzzMatch(f *testing.F) {
	f.Add("h*l?o[a-z]\\*", "hello")
	f.Fuzz(func(t *testing.T, pattern, s string) {
		_ = Match(pattern, s) // must neither panic nor hang
		if !Match(pattern, pattern) && isLiteral(pattern) {
			t.Fatalf("a literal pattern %q does not match itself", pattern)
		}
	})
}

func isLiteral(p string) bool {
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '*', '?', '[', '\\':
			return false
		}
	}
	return true
}
