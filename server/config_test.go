package server

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestConfigSplitArgs(t *testing.T) {
	for _, tc := range []struct {
		line string
		want []string
	}{
		{`port 6380`, []string{"port", "6380"}},
		{"  bind  127.0.0.1\t::1  ", []string{"bind", "127.0.0.1", "::1"}},
		{`requirepass "a b\"c\\d\x41\n"`, []string{"requirepass", "a b\"c\\dA\n"}},
		{`requirepass 'it\'s "x"'`, []string{"requirepass", `it's "x"`}},
		{`requirepass ""`, []string{"requirepass", ""}},
		{`dir /var/lib/"mutex redis"`, []string{"dir", "/var/lib/mutex redis"}},
	} {
		got, ok := SplitArgs(tc.line)
		if !ok || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("SplitArgs(%q) = %q, %v; want %q", tc.line, got, ok, tc.want)
		}
	}
	for _, bad := range []string{`requirepass "abc`, `requirepass "abc"def`, `requirepass 'abc`, `x 'a'b`} {
		if got, ok := SplitArgs(bad); ok {
			t.Errorf("SplitArgs(%q) = %q, want unbalanced quotes", bad, got)
		}
	}
}

func writeFile(t *testing.T, path, text string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestConfigFileAndFlags(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "extra.conf"), "maxclients 77\n")
	conf := writeFile(t, filepath.Join(dir, "m.conf"), `# a comment
port 7000

bind 127.0.0.1 ::1
requirepass "pass word"
include extra.conf
client-output-buffer-limit pubsub 1mb 512kb 10
loglevel warning
CHECKPOINT-KEEP 3
`)
	c, err := LoadConfig([]string{conf, "--port", "7001", "--databases=4", "--notify-keyspace-events", ""})
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 7001 || c.Databases != 4 || c.MaxClients != 77 || c.RequirePass != "pass word" ||
		!reflect.DeepEqual(c.Bind, []string{"127.0.0.1", "::1"}) || c.CheckpointKeep != 3 || c.ConfigFile != conf {
		t.Errorf("config = port %d databases %d maxclients %d pass %q bind %q keep %d file %q", c.Port, c.Databases, c.MaxClients,
			c.RequirePass, c.Bind, c.CheckpointKeep, c.ConfigFile)
	}
	if l := c.PubSubLimits; l.hard != 1<<20 || l.soft != 512<<10 || l.softFor.Seconds() != 10 {
		t.Errorf("pubsub limits = %+v", l)
	}
	if v, _ := c.Get("loglevel"); v != "warning" {
		t.Errorf("loglevel = %q", v)
	}
	// A flag with several values, as redis-server takes them.
	c, err = LoadConfig([]string{"--bind", "127.0.0.1", "::1", "--port", "0", "--tls-port", "1"})
	if err != nil || !reflect.DeepEqual(c.Bind, []string{"127.0.0.1", "::1"}) {
		t.Errorf("multi-value flag: %q, %v", c.Bind, err)
	}
}

func TestConfigFileErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		text, line, reason string
		lineNo             int
	}{
		{"port 7000\nnosuchdirective 1\n", "nosuchdirective 1", "Bad directive or wrong number of arguments", 2},
		{"# c\n\nport seven\n", "port seven", "argument couldn't be parsed into an integer", 3},
		{"fsync sometimes\n", "fsync sometimes", "argument(s) must be one of the following: always, never", 1},
		{"requirepass \"open\n", `requirepass "open`, "Unbalanced quotes in configuration line", 1},
		{"protected-mode maybe\n", "protected-mode maybe", "argument must be 'yes' or 'no'", 1},
		{"daemonize yes\n", "daemonize yes", "daemonize yes is not supported", 1},
		{"appendonly yes\n", "appendonly yes", "Bad directive", 1},
	} {
		conf := writeFile(t, filepath.Join(dir, "bad.conf"), tc.text)
		_, err := LoadConfig([]string{conf})
		var ce *ConfigError
		if !errors.As(err, &ce) {
			t.Errorf("%q: error %v, want a ConfigError", tc.text, err)
			continue
		}
		if ce.File != conf || ce.LineNo != tc.lineNo || ce.Line != tc.line || !strings.HasPrefix(ce.Reason, tc.reason) {
			t.Errorf("%q: %+v", tc.text, ce)
		}
		msg := err.Error()
		for _, want := range []string{"*** FATAL CONFIG FILE ERROR", conf, ">>> '" + tc.line + "'", tc.reason} {
			if !strings.Contains(msg, want) {
				t.Errorf("%q: message %q lacks %q", tc.text, msg, want)
			}
		}
	}
	if _, err := LoadConfig([]string{"--port", "x"}); err == nil || !strings.Contains(err.Error(), "--port") {
		t.Errorf("bad flag: %v", err)
	}
	if _, err := LoadConfig([]string{"--nosuch", "x"}); err == nil || !strings.Contains(err.Error(), "Bad directive") {
		t.Errorf("unknown flag: %v", err)
	}
	if _, err := LoadConfig([]string{filepath.Join(dir, "missing.conf")}); err == nil || !strings.Contains(err.Error(), "can't open config file") {
		t.Errorf("missing file: %v", err)
	}
}

func TestConfigRewrite(t *testing.T) {
	dir := t.TempDir()
	conf := writeFile(t, filepath.Join(dir, "m.conf"), `# top comment

# the port
port 7000
requirepass "old pass"
maxclients 50
maxclients 60
include other.conf
client-query-buffer-limit 1gb
`)
	writeFile(t, filepath.Join(dir, "other.conf"), "databases 8\n")
	c, err := LoadConfig([]string{conf})
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]string{"requirepass": "new \"pass\"", "checkpoint-keep": "5", "loglevel": "debug"} {
		if r := c.Set(name, v); r != nil {
			t.Fatalf("CONFIG SET %s: %v", name, r)
		}
	}
	if err := c.Rewrite(); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(conf)
	want := `# top comment

# the port
port 7000
requirepass "new \"pass\""
maxclients 60
include other.conf
client-query-buffer-limit 1gb
# Generated by CONFIG REWRITE
loglevel debug
checkpoint-keep 5
`
	if string(got) != want {
		t.Errorf("rewritten file:\n%s\nwant:\n%s", got, want)
	}
	// The file reads back to the same configuration, and a second rewrite
	// changes nothing.
	c2, err := LoadConfig([]string{conf})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range params {
		if a, b := p.get(c), p.get(c2); a != b {
			t.Errorf("%s: %q before, %q after reading the rewritten file", p.name, a, b)
		}
	}
	if err := c2.Rewrite(); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.ReadFile(conf); string(again) != want {
		t.Errorf("second rewrite changed the file:\n%s", again)
	}
	if err := DefaultConfig().Rewrite(); err == nil {
		t.Error("rewrite without a config file succeeded")
	}
}

func TestConfigSetMutability(t *testing.T) {
	c := DefaultConfig()
	if r := c.Set("port", "1"); r == nil || !strings.Contains(r.(error).Error(), "can't set immutable config") {
		t.Errorf("CONFIG SET port = %v", r)
	}
	if r := c.Set("loglevel", "loud"); r == nil {
		t.Error("CONFIG SET loglevel loud accepted")
	}
	if r := c.Set("loglevel", "verbose"); r != nil || c.LogLevel.Level() != slog.LevelDebug+2 {
		t.Errorf("CONFIG SET loglevel verbose = %v, level %v", r, c.LogLevel.Level())
	}
	// Every directive has a usage line for --help, and every parameter
	// CONFIG GET * lists is in the table once.
	seen := map[string]bool{}
	for _, p := range params {
		if seen[p.name] {
			t.Errorf("%s listed twice", p.name)
		}
		seen[p.name] = true
		if p.set != nil && p.usage == "" {
			t.Errorf("%s has no usage", p.name)
		}
	}
	if got := len(c.get("*")); got != 2*len(params) {
		t.Errorf("CONFIG GET * has %d entries, want %d", got, 2*len(params))
	}
}

// The annotated mutexredis.conf at the repository root loads, and every
// value in it is the default, as it says.
func TestConfigShippedFile(t *testing.T) {
	c, err := LoadConfig([]string{"../mutexredis.conf"})
	if err != nil {
		t.Fatal(err)
	}
	def := DefaultConfig()
	for _, p := range params {
		if a, b := p.get(c), p.get(def); a != b {
			t.Errorf("mutexredis.conf sets %s %q, the default is %q", p.name, a, b)
		}
	}
	// Every directive is documented in it.
	text, _ := os.ReadFile("../mutexredis.conf")
	for _, p := range Params() {
		if p[0] != "cpuprofile" && !strings.Contains(string(text), p[0]+" ") {
			t.Errorf("mutexredis.conf does not mention %s", p[0])
		}
	}
}

// notify-keyspace-events belongs to one Config: two servers in a process
// do not share it (it was package state once).
func TestNotifyKeyspaceEventsPerConfig(t *testing.T) {
	a, b := DefaultConfig(), DefaultConfig()
	if err := a.Set("notify-keyspace-events", "KEA"); err != nil {
		t.Fatal(err)
	}
	if got := a.notifyClasses().String(); got != "AKE" {
		t.Fatalf("a: %q, want AKE", got)
	}
	if got := b.notifyClasses(); got.On() || got.String() != "" {
		t.Fatalf("b changed with a: %q", got.String())
	}
}
