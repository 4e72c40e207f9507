package server

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// The config file has redis.conf's syntax: one directive per line, its
// arguments separated by spaces, "double quoted" (with \n \r \t \b \a \\ \"
// and \xHH escapes) or 'single quoted' (with \'); lines starting with # and
// empty lines are ignored; "include path" reads another file there (a
// relative path is relative to the including file's directory). A
// directive's arguments are joined with spaces into its value, so
// "bind 127.0.0.1 ::1" and "bind "127.0.0.1 ::1"" mean the same.

// directive is one line of a config file (or one --flag).
type directive struct {
	file string // "" for the command line
	line int
	raw  string // the line as written, for errors
	name string // lower case
	args []string
}

// ConfigError is a config file error, printed as Redis prints its own.
type ConfigError struct {
	File, Line, Reason string
	LineNo             int
}

func (e *ConfigError) Error() string {
	where := "Reading the configuration file"
	if e.File != "" {
		where += " " + e.File
	}
	if e.LineNo > 0 {
		where += ", at line " + strconv.Itoa(e.LineNo)
	}
	return fmt.Sprintf("\n*** FATAL CONFIG FILE ERROR (mutexredis) ***\n%s\n>>> '%s'\n%s", where, e.Line, e.Reason)
}

// SplitArgs splits a config line as Redis's sdssplitargs does; ok is false
// for unbalanced quotes.
func SplitArgs(line string) (args []string, ok bool) {
	i := 0
	for {
		for i < len(line) && isSpace(line[i]) {
			i++
		}
		if i == len(line) {
			if args == nil {
				args = []string{}
			}
			return args, true
		}
		var cur []byte
		inDq, inSq := false, false
		done := false
		for !done {
			switch {
			case inDq:
				if i >= len(line) {
					return nil, false
				}
				switch {
				case line[i] == '\\' && i+3 < len(line) && line[i+1] == 'x' && isHex(line[i+2]) && isHex(line[i+3]):
					b, _ := strconv.ParseUint(line[i+2:i+4], 16, 8)
					cur = append(cur, byte(b))
					i += 3
				case line[i] == '\\' && i+1 < len(line):
					i++
					switch line[i] {
					case 'n':
						cur = append(cur, '\n')
					case 'r':
						cur = append(cur, '\r')
					case 't':
						cur = append(cur, '\t')
					case 'b':
						cur = append(cur, '\b')
					case 'a':
						cur = append(cur, '\a')
					default:
						cur = append(cur, line[i])
					}
				case line[i] == '"':
					if i+1 < len(line) && !isSpace(line[i+1]) {
						return nil, false // closing quote must be followed by a space
					}
					done = true
				default:
					cur = append(cur, line[i])
				}
			case inSq:
				if i >= len(line) {
					return nil, false
				}
				switch {
				case line[i] == '\\' && i+1 < len(line) && line[i+1] == '\'':
					i++
					cur = append(cur, '\'')
				case line[i] == '\'':
					if i+1 < len(line) && !isSpace(line[i+1]) {
						return nil, false
					}
					done = true
				default:
					cur = append(cur, line[i])
				}
			default:
				if i >= len(line) {
					done = true
					break
				}
				switch line[i] {
				case ' ', '\n', '\r', '\t', 0:
					done = true
				case '"':
					inDq = true
				case '\'':
					inSq = true
				default:
					cur = append(cur, line[i])
				}
			}
			if i < len(line) {
				i++
			}
		}
		args = append(args, string(cur))
	}
}

func isSpace(b byte) bool { return b == ' ' || b == '\t' || b == '\n' || b == '\r' || b == 0 }
func isHex(b byte) bool {
	return (b >= '0' && b <= '9') || (b >= 'a' && b <= 'f') || (b >= 'A' && b <= 'F')
}

// readConfigFile reads a file's directives, following includes.
func readConfigFile(path string, depth int) ([]directive, error) {
	if depth > 16 {
		return nil, &ConfigError{File: path, Reason: "include nesting too deep (an include loop?)"}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("Fatal error, can't open config file '%s': %v", path, err)
	}
	var out []directive
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		raw := strings.TrimSpace(sc.Text())
		if raw == "" || raw[0] == '#' {
			continue
		}
		args, ok := SplitArgs(raw)
		if !ok {
			return nil, &ConfigError{File: path, LineNo: n, Line: raw, Reason: "Unbalanced quotes in configuration line"}
		}
		if len(args) == 0 {
			continue
		}
		d := directive{file: path, line: n, raw: raw, name: strings.ToLower(args[0]), args: args[1:]}
		if d.name == "include" {
			if len(d.args) != 1 {
				return nil, &ConfigError{File: path, LineNo: n, Line: raw, Reason: errBadDirective.Error()}
			}
			inc := d.args[0]
			if !filepath.IsAbs(inc) {
				inc = filepath.Join(filepath.Dir(path), inc)
			}
			more, err := readConfigFile(inc, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, more...)
			continue
		}
		out = append(out, d)
	}
	return out, sc.Err()
}

// flagDirectives turns command-line arguments into directives, as
// redis-server does: "--name v1 v2" (every argument up to the next --name
// is a value) or "--name=value".
func flagDirectives(args []string) ([]directive, error) {
	var out []directive
	for _, a := range args {
		if strings.HasPrefix(a, "--") && len(a) > 2 {
			name, val, hasVal := strings.Cut(a[2:], "=")
			d := directive{raw: a, name: strings.ToLower(name), line: len(out) + 1}
			if hasVal {
				d.args = []string{val}
			}
			out = append(out, d)
			continue
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("unexpected argument %q: flags are --name value", a)
		}
		last := &out[len(out)-1]
		last.args = append(last.args, a)
		last.raw += " " + a
	}
	return out, nil
}

// LoadConfig builds the configuration from mutexredis's arguments:
// [config-file] [--name value …]. Flags apply after the file, so they
// override it.
func LoadConfig(args []string) (*Config, error) {
	c := DefaultConfig()
	var dirs []directive
	if len(args) > 0 && !strings.HasPrefix(args[0], "--") {
		path, err := filepath.Abs(args[0])
		if err != nil {
			return nil, err
		}
		if dirs, err = readConfigFile(path, 0); err != nil {
			return nil, err
		}
		c.ConfigFile = path
		args = args[1:]
	}
	flags, err := flagDirectives(args)
	if err != nil {
		return nil, err
	}
	for _, d := range append(dirs, flags...) {
		if err := c.Apply(d.name, strings.Join(d.args, " ")); err != nil {
			if d.file == "" {
				return nil, fmt.Errorf("--%s: %v", d.name, err)
			}
			return nil, &ConfigError{File: d.file, LineNo: d.line, Line: d.raw, Reason: err.Error()}
		}
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// Rewrite writes the current configuration back into the file the server
// started with, as CONFIG REWRITE: every line is kept as written (comments,
// blank lines, includes, order) unless it sets a parameter whose value has
// changed, which is rewritten in place; a parameter that is not at its
// default and appears nowhere is appended under a marker; a repeated
// directive keeps only its first line. The file is replaced atomically.
func (c *Config) Rewrite() error {
	if c.ConfigFile == "" {
		return errors.New("The server is running without a config file")
	}
	data, err := os.ReadFile(c.ConfigFile)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	lines := strings.SplitAfter(string(data), "\n")
	if len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	written := map[string]bool{}
	var out []string
	const marker = "# Generated by CONFIG REWRITE"
	hasMarker := false
	for _, l := range lines {
		trimmed := strings.TrimSpace(l)
		if trimmed == marker {
			if !hasMarker {
				out = append(out, l)
			}
			hasMarker = true
			continue
		}
		args, ok := SplitArgs(trimmed)
		if trimmed == "" || trimmed[0] == '#' || !ok || len(args) == 0 {
			out = append(out, l)
			continue
		}
		name := strings.ToLower(args[0])
		if name == "include" && len(args) == 2 {
			// An included file is not rewritten: what it sets still
			// holds unless the value changed (then a line is appended,
			// after the include, so that it wins).
			out = append(out, l)
			inc := args[1]
			if !filepath.IsAbs(inc) {
				inc = filepath.Join(filepath.Dir(c.ConfigFile), inc)
			}
			if dirs, err := readConfigFile(inc, 1); err == nil {
				for _, d := range dirs {
					if p := paramIndex[d.name]; p != nil && p.set != nil && c.sameValue(p, strings.Join(d.args, " ")) {
						written[d.name] = true
					}
				}
			}
			continue
		}
		p := paramIndex[name]
		if p == nil || p.set == nil { // a line we do not own
			out = append(out, l)
			continue
		}
		if written[name] {
			continue // a later duplicate: the first line carries the value
		}
		written[name] = true
		if c.sameValue(p, strings.Join(args[1:], " ")) {
			out = append(out, l)
		} else {
			out = append(out, formatDirective(p, p.get(c))+"\n")
		}
	}
	def := DefaultConfig()
	var added []string
	for i := range params {
		p := &params[i]
		if p.set == nil || written[p.name] || p.get(c) == p.get(def) {
			continue
		}
		added = append(added, formatDirective(p, p.get(c))+"\n")
	}
	if len(added) > 0 {
		if len(out) > 0 && !strings.HasSuffix(out[len(out)-1], "\n") {
			out[len(out)-1] += "\n"
		}
		if !hasMarker {
			out = append(out, marker+"\n")
		}
		out = append(out, added...)
	}
	return writeFileAtomic(c.ConfigFile, []byte(strings.Join(out, "")))
}

// sameValue reports whether text, a file's value for p, means p's current
// value.
func (c *Config) sameValue(p *param, text string) bool {
	cur := p.get(c)
	scratch := DefaultConfig()
	if err := p.set(scratch, text); err != nil {
		return false
	}
	return p.get(scratch) == cur
}

// formatDirective writes one line: words unquoted for list values, else
// one argument, quoted when it needs to be.
func formatDirective(p *param, v string) string {
	if p.words && v != "" {
		return p.name + " " + v
	}
	return p.name + " " + quoteArg(v)
}

func quoteArg(v string) string {
	plain := v != ""
	for i := 0; i < len(v); i++ {
		if b := v[i]; b <= ' ' || b == '"' || b == '\'' || b == '\\' || b >= 0x7f {
			plain = false
			break
		}
	}
	if plain {
		return v
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(v); i++ {
		switch ch := v[i]; {
		case ch == '\\' || ch == '"':
			b.WriteByte('\\')
			b.WriteByte(ch)
		case ch == '\n':
			b.WriteString(`\n`)
		case ch == '\r':
			b.WriteString(`\r`)
		case ch == '\t':
			b.WriteString(`\t`)
		case ch < ' ' || ch >= 0x7f:
			fmt.Fprintf(&b, `\x%02x`, ch)
		default:
			b.WriteByte(ch)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func writeFileAtomic(path string, data []byte) error {
	mode := os.FileMode(0o644)
	if st, err := os.Stat(path); err == nil {
		mode = st.Mode().Perm()
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".rewrite-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err = tmp.Write(data); err == nil {
		err = tmp.Chmod(mode)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
