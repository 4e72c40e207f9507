// Package glob matches strings against Redis's glob patterns (the
// stringmatchlen of Redis's util.c), as PSUBSCRIBE, PUBSUB CHANNELS and
// CONFIG GET use them:
//
//   - any run of bytes, the empty one included
//     ?      any one byte
//     [abc]  one of the listed bytes; [^abc] none of them; [a-z] a range
//     \x     the byte x itself
package glob

// Match reports whether s matches pattern. It backtracks only to the last
// '*', so it runs in O(len(pattern)·len(s)) whatever the pattern.
func Match(pattern, s string) bool {
	p, i := 0, 0
	star, starI := -1, 0 // the last '*' seen and where in s it began matching
	for i < len(s) {
		if p < len(pattern) {
			switch c := pattern[p]; c {
			case '*':
				star, starI = p, i
				p++
				continue
			case '?':
				p++
				i++
				continue
			case '[':
				if ok, rest := matchClass(pattern[p+1:], s[i]); ok {
					p = len(pattern) - len(rest)
					i++
					continue
				}
			default:
				lit := c
				n := 1
				if c == '\\' && p+1 < len(pattern) {
					lit, n = pattern[p+1], 2
				}
				if lit == s[i] {
					p += n
					i++
					continue
				}
			}
		}
		if star < 0 {
			return false
		}
		starI++ // let the last '*' swallow one more byte and retry
		p, i = star+1, starI
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// matchClass matches c against the class whose body starts p (after '[')
// and returns the pattern after the class. An unterminated class ends at
// the end of the pattern, as in Redis.
func matchClass(p string, c byte) (bool, string) {
	not := len(p) > 0 && p[0] == '^'
	if not {
		p = p[1:]
	}
	match := false
	for len(p) > 0 && p[0] != ']' {
		switch {
		case p[0] == '\\' && len(p) >= 2:
			if p[1] == c {
				match = true
			}
			p = p[2:]
		case len(p) >= 3 && p[1] == '-':
			lo, hi := p[0], p[2]
			if lo > hi {
				lo, hi = hi, lo
			}
			if c >= lo && c <= hi {
				match = true
			}
			p = p[3:]
		default:
			if p[0] == c {
				match = true
			}
			p = p[1:]
		}
	}
	if len(p) > 0 {
		p = p[1:] // the closing ']'
	}
	return match != not, p
}
