package server

import "github.com/mutexredis/mutexredis/commands"

// ScanCursors implements commands.CursorHost: SCAN's cursors are the
// server's, one table per keyspace, created on the first SCAN that needs
// to continue. A table lives as long as the server; it is bounded (see
// commands.ScanCursors), and only keyspaces that were scanned have one.
func (c *conn) ScanCursors(keyspace string) *commands.ScanCursors {
	s := c.s
	s.cursorsMu.Lock()
	defer s.cursorsMu.Unlock()
	t, ok := s.cursors[keyspace]
	if !ok {
		if s.cursors == nil {
			s.cursors = map[string]*commands.ScanCursors{}
		}
		t = commands.NewScanCursors()
		s.cursors[keyspace] = t
	}
	return t
}

// ListKeyspaces implements commands.KeyspaceLister.
func (c *conn) ListKeyspaces(start []byte, n int) ([]string, []byte, error) {
	return c.s.store.ListKeyspaces(start, n)
}
