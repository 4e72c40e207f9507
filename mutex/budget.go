package mutex

// MaxReply is how many bytes of elements one op may collect for its reply
// (Options.MaxReplyBytes; 0: no limit): commands that copy a collection
// out stop there, so a reply's memory is bounded whatever the collection's
// size.
func (r *Reader) MaxReply() int64 { return r.maxReply }

func (s *Store) maxReply() int64 {
	if s.opts.MaxReplyBytes == nil {
		return 0
	}
	return s.opts.MaxReplyBytes()
}
