package commands

import (
	"strings"
)

// Client-side caching: CLIENT TRACKING, CACHING, GETREDIR, TRACKINGINFO.
// The server (server/tracking.go) keeps the table of tracked keys and
// sends the invalidations; this file parses the commands.

func clientTracking(c *Ctx, args [][]byte) any {
	var on bool
	switch {
	case isOption(args[0], "ON"):
		on = true
	case isOption(args[0], "OFF"):
	default:
		return ErrSyntax
	}
	t := &Tracking{}
	for args = args[1:]; len(args) > 0; args = args[1:] {
		switch {
		case isOption(args[0], "REDIRECT") && len(args) >= 2:
			id, ok := ParseInt(args[1])
			if !ok {
				return ErrNotInteger
			}
			t.Redirect = id
			args = args[1:]
		case isOption(args[0], "BCAST"):
			t.BCast = true
		case isOption(args[0], "OPTIN"):
			t.OptIn = true
		case isOption(args[0], "OPTOUT"):
			t.OptOut = true
		case isOption(args[0], "NOLOOP"):
			t.NoLoop = true
		case isOption(args[0], "PREFIX") && len(args) >= 2:
			t.Prefixes = append(t.Prefixes, string(args[1]))
			args = args[1:]
		default:
			return ErrSyntax
		}
	}
	if !on {
		if c.Client.Tracking != nil {
			c.Server.SetTracking(c.Client, nil)
			c.Client.Tracking = nil
		}
		return OK
	}
	old := c.Client.Tracking
	switch {
	case len(t.Prefixes) > 0 && !t.BCast:
		return Error("ERR PREFIX option requires BCAST mode to be enabled")
	case old != nil && old.BCast != t.BCast:
		return Error("ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode.")
	case t.OptIn && t.OptOut:
		return Error("ERR You can't specify both OPTIN mode and OPTOUT mode")
	case t.BCast && (t.OptIn || t.OptOut):
		return Error("ERR OPTIN and OPTOUT are not compatible with BCAST")
	case old != nil && ((old.OptIn && t.OptOut) || (old.OptOut && t.OptIn)):
		return Error("ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode.")
	}
	var existing []string
	if old != nil {
		existing = old.Prefixes
	}
	if bad := prefixesOverlap(existing, t.Prefixes); bad != nil {
		return bad
	}
	t.Prefixes = append(append([]string(nil), existing...), t.Prefixes...) // ON again adds prefixes
	if r := c.Server.SetTracking(c.Client, t); r != nil {
		return r
	}
	c.Client.Tracking = t
	return OK
}

// prefixesOverlap applies Redis's rule, with its messages: a client's
// prefixes must not be prefixes of one another.
func prefixesOverlap(existing, added []string) any {
	overlap := func(a, b string) bool { return strings.HasPrefix(a, b) || strings.HasPrefix(b, a) }
	for i, p := range added {
		for _, q := range existing {
			if overlap(p, q) {
				return Error("ERR Prefix '" + p + "' overlaps with an existing prefix '" + q + "'. Prefixes for a single client must not overlap.")
			}
		}
		for _, q := range added[i+1:] {
			if overlap(p, q) {
				return Error("ERR Prefix '" + p + "' overlaps with another provided prefix '" + q + "'. Prefixes for a single client must not overlap.")
			}
		}
	}
	return nil
}

func clientCaching(c *Ctx, arg []byte) any {
	t := c.Client.Tracking
	if t == nil || (!t.OptIn && !t.OptOut) {
		return Error("ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled")
	}
	switch {
	case isOption(arg, "YES"):
		if !t.OptIn {
			return Error("ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.")
		}
		t.Caching, t.CachingSet = true, true
	case isOption(arg, "NO"):
		if !t.OptOut {
			return Error("ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.")
		}
		t.Caching, t.CachingSet = false, true
	default:
		return ErrSyntax
	}
	return OK
}

func trackingInfo(c *Ctx) any {
	t := c.Client.Tracking
	if t == nil {
		return Map{"flags", Set{"off"}, "redirect", int64(-1), "prefixes", []any{}}
	}
	flags := Set{"on"}
	if t.BCast {
		flags = append(flags, "bcast")
	}
	if t.OptIn {
		flags = append(flags, "optin")
		if t.CachingSet && t.Caching {
			flags = append(flags, "caching-yes")
		}
	}
	if t.OptOut {
		flags = append(flags, "optout")
		if t.CachingSet && !t.Caching {
			flags = append(flags, "caching-no")
		}
	}
	if t.NoLoop {
		flags = append(flags, "noloop")
	}
	if t.Redirect != 0 && c.Server.TrackingRedirectBroken(c.Client) {
		flags = append(flags, "broken_redirect")
	}
	prefixes := []any{}
	for _, p := range t.Prefixes {
		prefixes = append(prefixes, p)
	}
	return Map{"flags", flags, "redirect", t.Redirect, "prefixes", prefixes}
}

// Tracks reports whether the command about to run on the connection has
// its keys tracked (OPTIN needs CLIENT CACHING yes first, OPTOUT tracks
// unless CLIENT CACHING no).
func (t *Tracking) Tracks() bool {
	switch {
	case t == nil || t.BCast:
		return false
	case t.OptIn:
		return t.CachingSet && t.Caching
	case t.OptOut:
		return !(t.CachingSet && !t.Caching)
	}
	return true
}

// CommandDone ends CLIENT CACHING's effect once a command other than
// CLIENT has run outside a transaction (it lasts for a whole MULTI/EXEC).
func (cl *Client) CommandDone(cmd *Command) {
	if t := cl.Tracking; t != nil && t.CachingSet && cl.Multi == nil && cmd != nil && cmd.Name != "client" {
		t.CachingSet = false
	}
}

// Keys returns the keys args name, by the command's key positions.
func (c *Command) Keys(args [][]byte) [][]byte {
	if c.FirstKey <= 0 || c.FirstKey >= len(args) {
		return nil
	}
	last := c.LastKey
	if last < 0 {
		last = len(args) + last
	}
	step := max(c.Step, 1)
	var keys [][]byte
	for i := c.FirstKey; i <= last && i < len(args); i += step {
		keys = append(keys, args[i])
	}
	return keys
}
