package server

import (
	"bytes"
	"errors"
	"io"
	"math"
)

// This file is the RESP2 request reader. It follows Redis 7's
// processMultibulkBuffer / processInlineBuffer (networking.c) and
// sdssplitargs (sds.c): the same requests are accepted, the same are
// refused, with the same error texts and limits. Two deliberate
// differences: a NUL byte is an ordinary byte (Redis's strchr stops at it),
// and a line that is too long is judged by where its terminator is, not by
// how the bytes happened to arrive, so the outcome never depends on how the
// input was split into reads.

// readerLimits are Redis's request limits.
type readerLimits struct {
	maxBulk    int // proto-max-bulk-len, default 512 MiB
	maxArgs    int // multibulk length, default 1024*1024
	maxInline  int // inline request length, default 64 KiB; also bounds multibulk header lines, as PROTO_INLINE_MAX_SIZE does in Redis
	unauthArgs int // multibulk length allowed before AUTH (Redis: 10)
	unauthBulk int // bulk length allowed before AUTH (Redis: 16384)
	maxQuery   int // client-query-buffer-limit: bytes of requests buffered, default 1 GiB
}

func defaultReaderLimits() readerLimits {
	return readerLimits{
		maxBulk:    512 << 20,
		maxArgs:    1024 * 1024,
		maxInline:  64 << 10,
		unauthArgs: 10,
		unauthBulk: 16384,
		maxQuery:   1 << 30,
	}
}

// errQueryBufferLimit ends a connection whose unprocessed requests pass
// client-query-buffer-limit; as Redis, the server closes it without a reply.
var errQueryBufferLimit = errors.New("client-query-buffer-limit reached")

// protocolError is a malformed request. Error() is Redis's text after "ERR ".
type protocolError struct{ msg string }

func (e *protocolError) Error() string { return e.msg }

var (
	errInvalidMbulk   = &protocolError{"Protocol error: invalid multibulk length"}
	errInvalidBulk    = &protocolError{"Protocol error: invalid bulk length"}
	errMbulkTooBig    = &protocolError{"Protocol error: too big mbulk count string"}
	errBulkTooBig     = &protocolError{"Protocol error: too big bulk count string"}
	errInlineTooBig   = &protocolError{"Protocol error: too big inline request"}
	errUnbalanced     = &protocolError{"Protocol error: unbalanced quotes in request"}
	errUnauthMbulk    = &protocolError{"Protocol error: unauthenticated multibulk length"}
	errUnauthBulk     = &protocolError{"Protocol error: unauthenticated bulk length"}
	errExpectedDollar [256]*protocolError
)

func init() {
	for i := range errExpectedDollar {
		c := byte(i)
		if c == '\r' || c == '\n' {
			c = ' ' // Redis maps newlines in error replies to spaces
		}
		errExpectedDollar[i] = &protocolError{"Protocol error: expected '$', got '" + string([]byte{c}) + "'"}
	}
}

const (
	readerInitSize = 4 << 10  // buffer of a new or idle connection: 10,000 idle clients hold 40 MB
	readerKeepSize = 64 << 10 // a larger buffer is dropped once its commands are consumed
	readerMinRead  = 2 << 10  // make room before reading into less than this
	readerKeepArgs = 16 << 10 // argument slices kept across a buffer shrink
)

// Parse states of the command in progress.
const (
	rdStart    = iota // at the first byte of a command
	rdInline          // looking for the '\n' of an inline command
	rdCount           // looking for the '\r' of "*<count>"
	rdBulkHead        // looking for the '\r' of "$<len>"
	rdBulkData        // waiting for <len> bytes and the two after them
)

// reader reads RESP2 requests with Redis's limits. Its buffer grows only as
// bytes arrive, never to a length a client merely declared, and the parse of
// a command is resumed, not restarted, when more of it arrives, so a command
// costs time linear in its size however it is split.
type reader struct {
	rd  io.Reader
	lim readerLimits

	buf        []byte // len(buf) == cap(buf); unconsumed bytes are buf[start:end]
	start, end int    // start is the first byte of the command in progress

	// The command in progress. Offsets are relative to start, so moving the
	// buffered bytes does not invalidate them.
	state   uint8
	pos     int   // start of the current line or bulk payload
	scan    int   // the delimiter search resumes here
	left    int   // bulk arguments still to come
	bulkLen int   // length of the bulk payload at pos
	offs    []int // offset, length of each bulk argument read so far

	// The result of one call, reused by the next.
	args [][]byte
	ends []int // end of each command in args
	cmds [][][]byte

	err  error // sticky: the connection is done
	rerr error // read error to return once the buffered commands are out

	// tryRead, if set, reads without blocking: (0, nil) when nothing is
	// waiting. fill uses it to take in the rest of a pipeline that did not
	// fit the buffer, so that it is handled, and submitted, whole.
	tryRead func([]byte) (int, error)

	// Work counters, for tests.
	scanned int64 // bytes examined looking for delimiters or splitting inline commands
	copied  int64 // bytes moved when compacting or growing the buffer
}

func newReader(rd io.Reader, lim readerLimits) *reader {
	return &reader{rd: rd, lim: lim}
}

// readCommands blocks until at least one complete command is buffered, then
// returns every complete command buffered (a pipeline). The returned slices
// point into the reader's buffer and stay valid until the next call.
// authenticated selects the limits: an unauthenticated client gets
// unauthArgs/unauthBulk, as in Redis, and at most one command per call, so
// that an AUTH at the head of a pipeline takes effect before the limits of
// the commands after it are checked (Redis parses a command only after
// running the one before).
//
// Errors: io errors as returned by rd, protocol errors as *protocolError.
// Commands complete before a malformed one are returned first, with a nil
// error; the error comes with the next call, and every call after it.
func (r *reader) readCommands(authenticated bool) ([][][]byte, error) {
	if r.err != nil {
		return nil, r.err
	}
	r.release()
	maxCmds := math.MaxInt
	if !authenticated {
		maxCmds = 1
	}
	for {
		err := r.parse(authenticated, maxCmds)
		if len(r.ends) > 0 {
			if err != nil {
				r.err = err
			}
			prev := 0
			for _, e := range r.ends {
				r.cmds = append(r.cmds, r.args[prev:e:e])
				prev = e
			}
			return r.cmds, nil
		}
		if err == nil {
			err = r.fill()
		}
		if err != nil {
			r.err = err
			return nil, err
		}
	}
}

// release drops the previous call's result and, if its buffer grew large
// and what is left of it is small, goes back to a small buffer.
func (r *reader) release() {
	clear(r.args)
	clear(r.cmds)
	r.args, r.ends, r.cmds = r.args[:0], r.ends[:0], r.cmds[:0]
	n := r.end - r.start
	if len(r.buf) <= readerKeepSize || n > readerInitSize/2 {
		return
	}
	nb := make([]byte, readerInitSize)
	copy(nb, r.buf[r.start:r.end])
	r.copied += int64(n)
	r.buf, r.start, r.end = nb, 0, n
	if cap(r.args) > readerKeepArgs {
		r.args, r.ends, r.cmds = nil, nil, nil
	}
	if cap(r.offs) > 2*readerKeepArgs && len(r.offs) == 0 {
		r.offs = nil
	}
}

// fill reads more bytes, making room first.
func (r *reader) fill() error {
	if r.rerr != nil {
		return r.rerr
	}
	if len(r.buf)-r.end < readerMinRead {
		n := r.end - r.start
		switch {
		case r.buf == nil:
			r.buf = make([]byte, readerInitSize)
		case r.start > 0 && n <= len(r.buf)/2:
			copy(r.buf, r.buf[r.start:r.end])
		default:
			if r.lim.maxQuery > 0 && n >= r.lim.maxQuery {
				r.err = errQueryBufferLimit
				return r.err
			}
			nb := make([]byte, 2*len(r.buf))
			copy(nb, r.buf[r.start:r.end])
			r.buf = nb
		}
		r.copied += int64(n)
		r.start, r.end = 0, n
	}
	for range 100 {
		n, err := r.rd.Read(r.buf[r.end:])
		if n < 0 || n > len(r.buf)-r.end {
			return io.ErrShortBuffer // a broken io.Reader
		}
		r.end += n
		if err != nil {
			r.rerr = err
			if n > 0 {
				return nil
			}
			return err
		}
		if n > 0 {
			r.takeWaiting()
			return nil
		}
	}
	return io.ErrNoProgress
}

// readerDrainMax bounds what takeWaiting gathers.
const readerDrainMax = 1 << 20

// takeWaiting, after a read that filled the buffer, reads what else the
// client has already sent (without blocking), growing the buffer up to
// readerDrainMax.
func (r *reader) takeWaiting() {
	for r.tryRead != nil && r.end == len(r.buf) && r.end-r.start < readerDrainMax {
		n := r.end - r.start
		if r.lim.maxQuery > 0 && 2*n >= r.lim.maxQuery {
			return // fill applies the limit
		}
		nb := make([]byte, 2*len(r.buf))
		copy(nb, r.buf[r.start:r.end])
		r.copied += int64(n)
		r.buf, r.start, r.end = nb, 0, n
		got, err := r.tryRead(r.buf[r.end:])
		if got < 0 || got > len(r.buf)-r.end {
			got = 0
		}
		r.end += got
		if err != nil {
			r.rerr = err
			return
		}
		if got == 0 {
			return
		}
	}
}

// parse parses complete commands from the buffer, at most maxCmds of them,
// appending them to r.args and r.ends. It returns nil when it needs more
// bytes (or has maxCmds), or the protocol error it ran into.
func (r *reader) parse(auth bool, maxCmds int) error {
	for ncmds := 0; ncmds < maxCmds; {
		b := r.buf[r.start:r.end]
		switch r.state {
		case rdStart:
			if len(b) == 0 {
				return nil
			}
			r.pos = 0
			if b[0] == '*' {
				r.state, r.scan = rdCount, 1
			} else {
				r.state, r.scan = rdInline, 0
			}

		case rdInline:
			i, err := r.findLine(b, '\n', errInlineTooBig)
			if i < 0 {
				return err
			}
			line := b[:i]
			if i > 0 && line[i-1] == '\r' {
				line = line[:i-1]
			}
			r.scanned += int64(len(line))
			n := len(r.args)
			if !r.splitInline(line) {
				r.args = r.args[:n]
				return errUnbalanced
			}
			r.start += i + 1
			r.state = rdStart
			if len(r.args) > n {
				r.ends = append(r.ends, len(r.args))
				ncmds++
			}

		case rdCount:
			n, i := r.shortLine(b)
			if i < 0 {
				var err error
				if i, err = r.findLine(b, '\r', errMbulkTooBig); i < 0 {
					return err
				}
				if i+1 >= len(b) {
					return nil // Redis wants one more byte, which it skips
				}
				var ok bool
				if n, ok = string2ll(b[1:i]); !ok {
					return errInvalidMbulk
				}
			}
			if n > int64(r.lim.maxArgs) {
				return errInvalidMbulk
			}
			if n > int64(r.lim.unauthArgs) && !auth {
				return errUnauthMbulk
			}
			if n <= 0 { // *0, *-1, and in Redis any negative count: no command
				r.start += i + 2
				r.state = rdStart
				continue
			}
			r.left = int(n)
			r.offs = r.offs[:0]
			r.pos, r.scan = i+2, i+2
			r.state = rdBulkHead

		case rdBulkHead:
			n, i := r.shortLine(b)
			if i < 0 {
				var err error
				if i, err = r.findLine(b, '\r', errBulkTooBig); i < 0 {
					return err
				}
				if i+1 >= len(b) {
					return nil
				}
				if c := b[r.pos]; c != '$' {
					return errExpectedDollar[c]
				}
				var ok bool
				if n, ok = string2ll(b[r.pos+1 : i]); !ok || n < 0 {
					return errInvalidBulk
				}
			}
			if n > int64(r.lim.maxBulk) {
				return errInvalidBulk
			}
			if n > int64(r.lim.unauthBulk) && !auth {
				return errUnauthBulk
			}
			r.bulkLen = int(n)
			r.pos = i + 2
			r.state = rdBulkData

		case rdBulkData:
			// Redis takes the two bytes after the payload as "\r\n"
			// without looking at them.
			if len(b)-r.pos-2 < r.bulkLen { // not r.pos+r.bulkLen+2: it could overflow
				return nil
			}
			r.offs = append(r.offs, r.pos, r.bulkLen)
			r.pos += r.bulkLen + 2
			r.left--
			if r.left > 0 {
				r.scan = r.pos
				r.state = rdBulkHead
				continue
			}
			for j := 0; j < len(r.offs); j += 2 {
				o, e := r.start+r.offs[j], r.start+r.offs[j]+r.offs[j+1]
				r.args = append(r.args, r.buf[o:e:e])
			}
			r.offs = r.offs[:0]
			r.ends = append(r.ends, len(r.args))
			ncmds++
			r.start += r.pos
			r.state = rdStart
		}
	}
	return nil
}

// shortLine is the fast path for a header line: if the line at r.pos is
// wholly buffered and is its type byte ('*' or '$', not checked here),
// a number of 1 to 18 digits without a leading zero (or just "0"), '\r' and
// one more byte, it returns the number and the offset of the '\r'. Otherwise
// it returns -1, -1 and the general path decides.
func (r *reader) shortLine(b []byte) (int64, int) {
	p := r.pos + 1
	if p >= len(b) {
		return -1, -1
	}
	if r.state == rdBulkHead && b[r.pos] != '$' {
		return -1, -1
	}
	// The '\r' is at most at p+18, within maxInline of the line start, and
	// followed by a buffered byte.
	end := min(len(b)-1, p+19)
	if r.lim.maxInline < 19 {
		end = min(end, r.pos+r.lim.maxInline+1)
	}
	if b[p] == '0' {
		if p+1 < end && b[p+1] == '\r' {
			r.scanned += 2
			return 0, p + 1
		}
		return -1, -1
	}
	var v int64
	for i := p; i < end; i++ {
		c := b[i]
		if d := c - '0'; d <= 9 {
			v = v*10 + int64(d)
			continue
		}
		if c != '\r' || i == p {
			return -1, -1
		}
		r.scanned += int64(i - p + 1)
		return v, i
	}
	return -1, -1
}

// findLine looks for c in the line that starts at r.pos, resuming where the
// previous look stopped. It returns its offset, or -1 and nil when more
// bytes are needed, or -1 and tooBig when the first maxInline+1 bytes of the
// line hold no c (Redis: more than PROTO_INLINE_MAX_SIZE bytes buffered
// without it).
func (r *reader) findLine(b []byte, c byte, tooBig error) (int, error) {
	end, full := len(b), false
	if len(b)-r.pos > r.lim.maxInline {
		end, full = r.pos+r.lim.maxInline+1, true
	}
	if r.scan < end {
		if i := bytes.IndexByte(b[r.scan:end], c); i >= 0 {
			r.scanned += int64(i + 1)
			r.scan += i // found again at once if the line is not yet complete
			return r.scan, nil
		}
		r.scanned += int64(end - r.scan)
		r.scan = end
	}
	if full {
		return -1, tooBig
	}
	return -1, nil
}

// splitInline splits an inline command like sdssplitargs and appends the
// arguments to r.args. Unquoting is done in place: an argument is never
// longer than its source text. It reports false for unbalanced quotes.
func (r *reader) splitInline(line []byte) bool {
	n, p := len(line), 0
	for {
		for p < n && isCSpace(line[p]) {
			p++
		}
		if p == n {
			return true
		}
		start, w := p, p
		inq, insq := false, false
	token:
		for {
			switch {
			case inq:
				if p == n {
					return false
				}
				c := line[p]
				switch {
				case c == '\\' && p+3 < n && line[p+1] == 'x' && isHexDigit(line[p+2]) && isHexDigit(line[p+3]):
					line[w] = hexDigitValue(line[p+2])<<4 | hexDigitValue(line[p+3])
					p += 4
				case c == '\\' && p+1 < n:
					switch c = line[p+1]; c {
					case 'n':
						c = '\n'
					case 'r':
						c = '\r'
					case 't':
						c = '\t'
					case 'b':
						c = '\b'
					case 'a':
						c = '\a'
					}
					line[w] = c
					p += 2
				case c == '"':
					// The closing quote must be followed by a space or the end.
					if p+1 < n && !isCSpace(line[p+1]) {
						return false
					}
					p++
					break token
				default:
					line[w] = c
					p++
				}
				w++
			case insq:
				if p == n {
					return false
				}
				c := line[p]
				switch {
				case c == '\\' && p+1 < n && line[p+1] == '\'':
					line[w] = '\''
					p += 2
				case c == '\'':
					if p+1 < n && !isCSpace(line[p+1]) {
						return false
					}
					p++
					break token
				default:
					line[w] = c
					p++
				}
				w++
			default:
				if p == n {
					break token
				}
				switch c := line[p]; c {
				case ' ', '\n', '\r', '\t':
					p++
					break token
				case '"':
					inq = true
				case '\'':
					insq = true
				default:
					line[w] = c
					w++
				}
				p++
			}
		}
		r.args = append(r.args, line[start:w:w])
	}
}

// isCSpace is C's isspace in the C locale.
func isCSpace(c byte) bool {
	return c == ' ' || c-'\t' <= '\r'-'\t' // \t \n \v \f \r
}

func isHexDigit(c byte) bool {
	return c-'0' <= 9 || (c|0x20)-'a' <= 5
}

func hexDigitValue(c byte) byte {
	if c <= '9' {
		return c - '0'
	}
	return (c | 0x20) - 'a' + 10
}

// string2ll is Redis's string2ll: an optional '-', then digits without
// leading zeros (or just "0"), at most 20 bytes, no overflow.
func string2ll(b []byte) (int64, bool) {
	n := len(b)
	if n == 0 || n >= 21 {
		return 0, false
	}
	if n == 1 && b[0] == '0' {
		return 0, true
	}
	i, neg := 0, false
	if b[0] == '-' {
		if n == 1 {
			return 0, false
		}
		i, neg = 1, true
	}
	if b[i] < '1' || b[i] > '9' {
		return 0, false
	}
	var v uint64
	for ; i < n; i++ {
		d := uint64(b[i] - '0')
		if d > 9 || v > (math.MaxUint64-d)/10 {
			return 0, false
		}
		v = v*10 + d
	}
	if neg {
		if v > 1<<63 {
			return 0, false
		}
		return int64(-v), true
	}
	if v > math.MaxInt64 {
		return 0, false
	}
	return int64(v), true
}
