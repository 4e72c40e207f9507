package commands

import (
	"strconv"

	"github.com/zeebo/xxh3"
)

// Digest is Redis 8.4's value digest: XXH3-64 of the bytes, as 16 lower-case
// hex digits, so digests match across servers.
func Digest(v []byte) string {
	s := strconv.FormatUint(xxh3.Hash(v), 16)
	for len(s) < 16 {
		s = "0" + s
	}
	return s
}
