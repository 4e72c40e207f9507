package integration

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// ---- helpers ----

// secRealRedis starts a private real redis-server (no persistence) with
// extra directives, for comparisons that need a configuration the shared
// one (realRedis) does not have. It binds 127.0.0.1 unless args has a
// --bind. The test is skipped if redis-server is not installed.
func secRealRedis(t *testing.T, args ...string) (addr string, port int) {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skipf("no redis-server to compare with: %v", err)
	}
	if !slices.Contains(args, "--bind") {
		args = append(args, "--bind", "127.0.0.1")
	}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port = freePort(t)
		all := append([]string{"--save", "", "--appendonly", "no", "--port", strconv.Itoa(port), "--dir", t.TempDir()}, args...)
		cmd := exec.Command("redis-server", all...)
		out := &lockedBuffer{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatalf("redis-server: %v", err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		deadline := time.Now().Add(20 * time.Second)
		for {
			select {
			case <-exited:
				lastErr = fmt.Errorf("redis-server exited: %s", out.String())
			default:
				// Any one-line answer to PING (+PONG, -NOAUTH …) means it is up.
				if line, err := secOneLine(addr, "PING\r\n"); err == nil && line != "" {
					t.Cleanup(func() { cmd.Process.Kill(); <-exited })
					return addr, port
				}
				if time.Now().After(deadline) {
					cmd.Process.Kill()
					<-exited
					t.Fatalf("redis-server did not start: %s", out.String())
				}
				time.Sleep(5 * time.Millisecond) // polling interval
				continue
			}
			break
		}
	}
	t.Skipf("cannot start redis-server: %v", lastErr)
	return "", 0
}

// secOneLine sends input on a new connection and returns the first line
// of the answer.
func secOneLine(addr, input string) (string, error) {
	nc, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := nc.Write([]byte(input)); err != nil {
		return "", err
	}
	var b [4096]byte
	n, err := nc.Read(b[:])
	if n == 0 {
		return "", err
	}
	line, _, _ := strings.Cut(string(b[:n]), "\r\n")
	return line, nil
}

// secReadToClose reads everything until the server closes the connection;
// closed is false if it did not within 10 s.
func secReadToClose(nc net.Conn) (got string, closed bool) {
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	var buf bytes.Buffer
	_, err := io.Copy(&buf, nc)
	closed = err == nil || errors.Is(err, syscall.ECONNRESET)
	return buf.String(), closed
}

// secSession sends commands on one raw connection, one at a time, and
// returns the rendered replies (readReply's notation); a closed connection
// ends it with "(closed)".
func secSession(t *testing.T, addr string, cmds ...[]string) []string {
	t.Helper()
	c := dialRaw(t, addr)
	var out []string
	for _, args := range cmds {
		c.send(args...)
		r, err := c.readErr()
		if err != nil {
			out = append(out, "(closed)")
			break
		}
		out = append(out, r)
	}
	return out
}

// secContainers are commands whose first argument is a subcommand: they
// get HELP, which exists for all of them in Redis.
var secContainers = map[string]bool{"client": true, "command": true, "config": true, "pubsub": true,
	"object": true, "memory": true, "acl": true, "function": true, "script": true, "cluster": true,
	"latency": true, "slowlog": true, "module": true, "xinfo": true, "debug": true}

// secArgsFor builds a call of name with the smallest valid number of
// arguments for its arity, so that the arity check passes and what is
// left to answer is the authentication check.
func secArgsFor(name string, arity int64) []string {
	n := arity
	if n < 0 {
		n = -n
	}
	args := []string{name}
	if secContainers[name] && n >= 2 {
		args = append(args, "HELP")
	}
	for int64(len(args)) < n {
		args = append(args, "x")
	}
	return args
}

// ---- password ----

const secPass = "s3cr3t pass"

// TestSecurityNoauthForEveryCommand: with --requirepass, every command the
// server lists answers NOAUTH before authentication, except AUTH, HELLO,
// QUIT and RESET; SUBSCRIBE included. None of them has any effect.
func TestSecurityNoauthForEveryCommand(t *testing.T) {
	t.Parallel()
	s := ownStartPlain(t, t.TempDir(), "--requirepass", secPass)
	ctx := context.Background()
	admin := s.client(t, &redis.Options{Password: secPass})
	if err := admin.Set(ctx, "canary", "alive", 0).Err(); err != nil {
		t.Fatal(err)
	}
	names, err := admin.Do(ctx, "COMMAND", "LIST").StringSlice()
	if err != nil || len(names) < 10 {
		t.Fatalf("COMMAND LIST: %v %v", names, err)
	}
	for _, must := range []string{"subscribe", "psubscribe", "get", "set", "multi", "afterwrite", "shutdown", "flushdb", "config"} {
		if !slices.Contains(names, must) {
			t.Errorf("COMMAND LIST has no %q: %v", must, names)
		}
	}
	slices.Sort(names)
	exempt := map[string]bool{"auth": true, "hello": true, "quit": true, "reset": true}
	raw := dialRaw(t, s.Addr)
	var pipeline []byte
	var sent [][]string
	for _, name := range names {
		if exempt[name] {
			continue
		}
		info, err := admin.Do(ctx, "COMMAND", "INFO", name).Slice()
		if err != nil || len(info) != 1 {
			t.Fatalf("COMMAND INFO %s: %v %v", name, info, err)
		}
		fields, _ := info[0].([]any)
		if len(fields) < 2 {
			t.Fatalf("COMMAND INFO %s: %v", name, info)
		}
		arity, _ := fields[1].(int64)
		args := secArgsFor(name, arity)
		sent = append(sent, args)
		pipeline = encodeCommand(pipeline, args...)
	}
	// All in one pipeline: before AUTH the server takes them one by one.
	raw.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := raw.nc.Write(pipeline); err != nil {
		t.Fatal(err)
	}
	mine := make([]string, len(sent))
	for i, args := range sent {
		mine[i] = raw.read()
		want := "-NOAUTH Authentication required."
		if args[0] == "exec" {
			// Redis's rejectCommand: a refused EXEC discards the transaction.
			want = "-EXECABORT Transaction discarded because of: NOAUTH Authentication required."
		}
		// An unknown subcommand is refused before authentication, as Redis
		// does (compared with Redis below).
		if mine[i] != want && !strings.HasPrefix(mine[i], "-ERR unknown subcommand") {
			t.Errorf("unauthenticated %q: %s, want %s", args, mine[i], want)
		}
	}
	t.Logf("%d commands listed, %d answered NOAUTH before AUTH (exempt: auth hello quit reset)", len(names), len(sent))
	// The same calls to a real Redis with a password, for the commands it
	// knows.
	if _, err := exec.LookPath("redis-server"); err == nil {
		raddr, _ := secRealRedis(t, "--requirepass", secPass)
		r := dialRaw(t, raddr)
		r.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if _, err := r.nc.Write(pipeline); err != nil {
			t.Fatal(err)
		}
		compared := 0
		for i, args := range sent {
			theirs := r.read()
			if strings.HasPrefix(theirs, "-ERR unknown command") {
				continue
			}
			compared++
			if theirs != mine[i] {
				t.Errorf("unauthenticated %q: mutexredis %s, redis %s", args, mine[i], theirs)
			}
		}
		t.Logf("%d of them compared with a real Redis with a password", compared)
	}
	// Nothing happened: the canary is there (FLUSHDB, DEL, SET … were
	// refused), the server is up (SHUTDOWN was refused), and the
	// connection is not subscribed (SUBSCRIBE was refused).
	if got := raw.do("AUTH", secPass); got != "+OK" {
		t.Fatalf("AUTH: %s", got)
	}
	if got := raw.do("GET", "canary"); got != `"alive"` {
		t.Errorf("GET canary after the refused commands: %s", got)
	}
	if got := raw.do("GET", "x"); got != "(nil)" {
		t.Errorf("GET x after the refused commands: %s", got)
	}
	if got := raw.do("PUBSUB", "NUMSUB", "x"); got != `["x", :0]` {
		t.Errorf("PUBSUB NUMSUB x: %s (a refused SUBSCRIBE subscribed?)", got)
	}
	if n, err := admin.DBSize(ctx).Result(); n != 1 || err != nil {
		t.Errorf("DBSIZE = %d %v, want 1", n, err)
	}
}

// TestSecurityAuthLikeRedis: AUTH, HELLO … AUTH, RESET and the refusals
// before AUTH give the same replies as a real Redis with the same password.
func TestSecurityAuthLikeRedis(t *testing.T) {
	t.Parallel()
	s := ownStartPlain(t, t.TempDir(), "--requirepass", secPass)
	session := [][]string{
		{"GET", "k"},
		{"SUBSCRIBE", "ch"},
		{"PSUBSCRIBE", "*"},
		{"PING"},
		{"AUTH", "wrong"},
		{"AUTH", "default", "wrong"},
		{"AUTH", "bob", secPass},
		{"AUTH", "a", "b", "c"},
		{"HELLO", "2", "AUTH", "default", "wrong"},
		{"HELLO", "2", "AUTH", "bob", secPass},
		{"GET", "k"},
		{"RESET"},
		{"GET", "k"},
		{"AUTH", secPass},
		{"SET", "k", "v"},
		{"GET", "k"},
		{"RESET"},
		{"GET", "k"},
		{"AUTH", "default", secPass},
		{"GET", "k"},
		{"QUIT"},
		{"PING"},
	}
	want := []string{
		"-NOAUTH Authentication required.",
		"-NOAUTH Authentication required.",
		"-NOAUTH Authentication required.",
		"-NOAUTH Authentication required.",
		"-WRONGPASS invalid username-password pair or user is disabled.",
		"-WRONGPASS invalid username-password pair or user is disabled.",
		"-WRONGPASS invalid username-password pair or user is disabled.",
		"-ERR syntax error",
		"-WRONGPASS invalid username-password pair or user is disabled.",
		"-WRONGPASS invalid username-password pair or user is disabled.",
		"-NOAUTH Authentication required.",
		"+RESET",
		"-NOAUTH Authentication required.",
		"+OK",
		"+OK",
		`"v"`,
		"+RESET",
		"-NOAUTH Authentication required.",
		"+OK",
		`"v"`,
		"+OK",
		"(closed)",
	}
	mine := secSession(t, s.Addr, session...)
	if !slices.Equal(mine, want) {
		for i := range max(len(mine), len(want)) {
			var m, w string
			if i < len(mine) {
				m = mine[i]
			}
			if i < len(want) {
				w = want[i]
			}
			if m != w {
				t.Errorf("%q: got %s, want %s", session[min(i, len(session)-1)], m, w)
			}
		}
	}
	// HELLO before authentication (Redis 7.2's text; 7.0 lacks "<proto> ").
	const helloNoauth = "-NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time"
	hello := secSession(t, s.Addr, []string{"HELLO", "2"}, []string{"HELLO"}, []string{"HELLO", "2", "AUTH", "default", secPass}, []string{"GET", "k"})
	if hello[0] != helloNoauth || hello[1] != helloNoauth {
		t.Errorf("HELLO 2 / HELLO before AUTH: %q\nwant %s", hello[:2], helloNoauth)
	}
	if !strings.HasPrefix(hello[2], `["server", "redis", "version", `) || !strings.Contains(hello[2], `"proto", :2`) {
		t.Errorf("HELLO 2 AUTH default <pass>: %s", hello[2])
	}
	if hello[3] != `"v"` {
		t.Errorf("GET after HELLO … AUTH: %s", hello[3])
	}

	raddr, _ := secRealRedis(t, "--requirepass", secPass)
	theirs := secSession(t, raddr, session...)
	if !slices.Equal(mine, theirs) {
		t.Errorf("session differs from Redis:\n mutexredis: %q\n redis:      %q", mine, theirs)
	}
	rhello := secSession(t, raddr, []string{"HELLO", "2"})
	prefix := "-NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO "
	if !strings.HasPrefix(rhello[0], prefix) {
		t.Errorf("redis HELLO 2 before AUTH: %s", rhello[0])
	}
}

// TestSecurityClientsWithPassword: go-redis with Options.Password (RESP3
// HELLO falling back, and RESP2 HELLO … AUTH) and redis-cli -a work; without
// the password they get NOAUTH, with a wrong one WRONGPASS.
func TestSecurityClientsWithPassword(t *testing.T) {
	t.Parallel()
	s := ownStartPlain(t, t.TempDir(), "--requirepass", secPass)
	ctx := context.Background()
	for _, opt := range []*redis.Options{
		{Password: secPass},
		{Password: secPass, Protocol: 2},
		{Username: "default", Password: secPass},
		{Username: "default", Password: secPass, Protocol: 2},
	} {
		c := s.client(t, opt)
		if err := c.Set(ctx, "gk", "gv", 0).Err(); err != nil {
			t.Errorf("go-redis user %q protocol %d: SET: %v", opt.Username, opt.Protocol, err)
		}
		if v, err := c.Get(ctx, "gk").Result(); v != "gv" || err != nil {
			t.Errorf("go-redis user %q protocol %d: GET = %q %v", opt.Username, opt.Protocol, v, err)
		}
		c.Close()
	}
	none := s.client(t, &redis.Options{MaxRetries: -1})
	if err := none.Get(ctx, "gk").Err(); errText(err) != "NOAUTH Authentication required." {
		t.Errorf("go-redis without password: %v, want NOAUTH Authentication required.", err)
	}
	wrong := s.client(t, &redis.Options{Password: "nope", MaxRetries: -1})
	if err := wrong.Get(ctx, "gk").Err(); errText(err) != "WRONGPASS invalid username-password pair or user is disabled." {
		t.Errorf("go-redis with a wrong password: %v, want WRONGPASS …", err)
	}

	if _, err := exec.LookPath("redis-cli"); err != nil {
		t.Log("redis-cli not installed: its part skipped")
		return
	}
	if out, errOut, err := s.cli(t, "-a", secPass, "--no-auth-warning", "get", "gk"); out != "gv\n" || err != nil {
		t.Errorf("redis-cli -a: %q %q %v", out, errOut, err)
	}
	if out, errOut, err := s.cli(t, "--user", "default", "--pass", secPass, "--no-auth-warning", "ping"); out != "PONG\n" || err != nil {
		t.Errorf("redis-cli --user --pass: %q %q %v", out, errOut, err)
	}
	if out, errOut, _ := s.cli(t, "get", "gk"); !strings.Contains(out+errOut, "NOAUTH Authentication required.") {
		t.Errorf("redis-cli without -a: %q %q, want NOAUTH", out, errOut)
	}
	if out, errOut, _ := s.cli(t, "-a", "nope", "--no-auth-warning", "ping"); !strings.Contains(out+errOut, "WRONGPASS invalid username-password pair or user is disabled.") {
		t.Errorf("redis-cli -a <wrong>: %q %q, want WRONGPASS", out, errOut)
	}
}

// TestSecurityAuthWithoutPasswordLikeRedis: AUTH on a server without a
// password answers as Redis does.
func TestSecurityAuthWithoutPasswordLikeRedis(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	session := [][]string{
		{"AUTH", "pw"},
		{"AUTH", "default", "pw"},
		{"AUTH", "bob", "pw"},
		{"HELLO", "2", "AUTH", "bob", "pw"},
		{"PING"},
	}
	want := []string{
		"-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
		"+OK",
		"-WRONGPASS invalid username-password pair or user is disabled.",
		"-WRONGPASS invalid username-password pair or user is disabled.",
		"+PONG",
	}
	mine := secSession(t, s.Addr, session...)
	if !slices.Equal(mine, want) {
		t.Errorf("mutexredis:\n got  %q\n want %q", mine, want)
	}
	theirs := secSession(t, realRedis(t), session...)
	if !slices.Equal(mine, theirs) {
		t.Errorf("differs from Redis:\n mutexredis: %q\n redis:      %q", mine, theirs)
	}
}

// ---- TLS ----

// secCerts are a CA, a server certificate for 127.0.0.1/localhost and a
// client certificate it signed, plus a client certificate of another CA,
// as PEM files in a temporary directory.
type secCerts struct {
	CA, ServerCert, ServerKey, ClientCert, ClientKey, RogueCert, RogueKey string
	pool                                                                  *x509.CertPool
	client, rogue                                                         tls.Certificate
}

func secMakeCerts(t *testing.T) *secCerts {
	t.Helper()
	dir := t.TempDir()
	serial := func() *big.Int {
		n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	now := time.Now()
	makeCA := func(name string) (*x509.Certificate, *ecdsa.PrivateKey, []byte) {
		key := newKey()
		tmpl := &x509.Certificate{
			SerialNumber:          serial(),
			Subject:               pkix.Name{CommonName: name},
			NotBefore:             now.Add(-time.Hour),
			NotAfter:              now.Add(24 * time.Hour),
			IsCA:                  true,
			BasicConstraintsValid: true,
			KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			t.Fatal(err)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return cert, key, der
	}
	leaf := func(ca *x509.Certificate, caKey *ecdsa.PrivateKey, name string, usage x509.ExtKeyUsage, certFile, keyFile string) (string, string, tls.Certificate) {
		key := newKey()
		tmpl := &x509.Certificate{
			SerialNumber: serial(),
			Subject:      pkix.Name{CommonName: name},
			NotBefore:    now.Add(-time.Hour),
			NotAfter:     now.Add(24 * time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
		}
		if usage == x509.ExtKeyUsageServerAuth {
			tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
			tmpl.DNSNames = []string{"localhost"}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		keyDER, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		cf, kf := write(certFile, "CERTIFICATE", der), write(keyFile, "PRIVATE KEY", keyDER)
		pair, err := tls.LoadX509KeyPair(cf, kf)
		if err != nil {
			t.Fatal(err)
		}
		return cf, kf, pair
	}
	ca, caKey, caDER := makeCA("mutexredis test CA")
	rogueCA, rogueKey, _ := makeCA("rogue CA")
	c := &secCerts{CA: write("ca.crt", "CERTIFICATE", caDER), pool: x509.NewCertPool()}
	c.pool.AddCert(ca)
	c.ServerCert, c.ServerKey, _ = leaf(ca, caKey, "localhost", x509.ExtKeyUsageServerAuth, "server.crt", "server.key")
	c.ClientCert, c.ClientKey, c.client = leaf(ca, caKey, "client", x509.ExtKeyUsageClientAuth, "client.crt", "client.key")
	c.RogueCert, c.RogueKey, c.rogue = leaf(rogueCA, rogueKey, "rogue", x509.ExtKeyUsageClientAuth, "rogue.crt", "rogue.key")
	return c
}

// tlsConfig is a client configuration trusting the CA, with the given
// client certificates.
func (c *secCerts) tlsConfig(certs ...tls.Certificate) *tls.Config {
	return &tls.Config{RootCAs: c.pool, Certificates: certs, MinVersion: tls.VersionTLS12}
}

// secStartTLS starts mutexredis with TLS only (--port 0).
func secStartTLS(t *testing.T, c *secCerts, authClients string) *ownServer {
	t.Helper()
	conf := c.tlsConfig(c.client)
	return ownStart(t, t.TempDir(), func(port int) []string {
		return []string{"--port", "0", "--tls-port", strconv.Itoa(port),
			"--tls-cert-file", c.ServerCert, "--tls-key-file", c.ServerKey,
			"--tls-ca-cert-file", c.CA, "--tls-auth-clients", authClients}
	}, func(s *ownServer, port int) error {
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		err := ownCheckDir(addr, func(addr string) (net.Conn, error) {
			return tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", addr, conf)
		}, "", s.Dir)
		if err == nil {
			s.Addr = addr
		}
		return err
	})
}

// secCLISupportsTLS reports whether this redis-cli was built with TLS.
func secCLISupportsTLS() bool {
	if _, err := exec.LookPath("redis-cli"); err != nil {
		return false
	}
	out, _ := exec.Command("redis-cli", "--help").CombinedOutput()
	return bytes.Contains(out, []byte("--tls "))
}

// secCLI runs redis-cli against a TLS port.
func secCLI(t *testing.T, port int, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "redis-cli", append([]string{"-h", "127.0.0.1", "-p", strconv.Itoa(port)}, args...)...)
	cmd.Stdin = strings.NewReader("")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestSecurityTLS: a TLS-only server (--port 0 --tls-port) with
// --tls-auth-clients yes, optional and no, used with go-redis over TLS and
// redis-cli --tls, with and without a client certificate, and with a client
// certificate of an unknown CA.
func TestSecurityTLS(t *testing.T) {
	t.Parallel()
	certs := secMakeCerts(t)
	cli := secCLISupportsTLS()
	if !cli {
		t.Log("redis-cli missing or built without TLS (--tls not in redis-cli --help): its part is skipped")
	}
	for _, tc := range []struct {
		mode                     string
		withoutCert, withRogueOK bool
	}{
		{"yes", false, false},
		{"optional", true, false},
		{"no", true, true},
	} {
		t.Run("tls-auth-clients="+tc.mode, func(t *testing.T) {
			t.Parallel()
			s := secStartTLS(t, certs, tc.mode)
			ctx := context.Background()
			try := func(label string, conf *tls.Config, wantOK bool) {
				t.Helper()
				c := s.client(t, &redis.Options{TLSConfig: conf, MaxRetries: -1, DialTimeout: 5 * time.Second})
				defer c.Close()
				err := c.Set(ctx, "tls:"+label, label, 0).Err()
				if err == nil {
					var v string
					v, err = c.Get(ctx, "tls:"+label).Result()
					if err == nil && v != label {
						err = fmt.Errorf("GET = %q", v)
					}
				}
				switch {
				case wantOK && err != nil:
					t.Errorf("go-redis over TLS %s: %v", label, err)
				case !wantOK && err == nil:
					t.Errorf("go-redis over TLS %s was served, want the handshake refused", label)
				case !wantOK:
					t.Logf("go-redis over TLS %s refused: %v", label, err)
				}
			}
			try("with the client certificate", certs.tlsConfig(certs.client), true)
			try("without a client certificate", certs.tlsConfig(), tc.withoutCert)
			// Go's client sends a certificate only if it chains to a CA the
			// server named; make it send the rogue one anyway.
			rogue := certs.tlsConfig()
			rogue.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &certs.rogue, nil }
			try("with another CA's client certificate", rogue, tc.withRogueOK)
			try("not trusting the server's CA", &tls.Config{Certificates: []tls.Certificate{certs.client}}, false)
			// ServerName localhost is in the certificate too.
			sni := certs.tlsConfig(certs.client)
			sni.ServerName = "localhost"
			try("with ServerName localhost", sni, true)

			// No plain-text listener; plain RESP on the TLS port is not served.
			admin := s.client(t, &redis.Options{TLSConfig: certs.tlsConfig(certs.client)})
			if cfg, err := admin.ConfigGet(ctx, "*port").Result(); err != nil || cfg["port"] != "0" || cfg["tls-port"] != strconv.Itoa(s.Port) {
				t.Errorf("CONFIG GET *port = %v %v, want port 0 and tls-port %d", cfg, err, s.Port)
			}
			if nc, err := net.DialTimeout("tcp", s.Addr, 5*time.Second); err == nil {
				nc.Write([]byte("*1\r\n$4\r\nPING\r\n"))
				got, _ := secReadToClose(nc)
				nc.Close()
				if strings.Contains(got, "PONG") {
					t.Errorf("plain-text PING on the TLS port was answered: %q", got)
				}
			}

			if !cli {
				return
			}
			base := []string{"--tls", "--cacert", certs.CA}
			cliTry := func(label string, extra []string, wantOK bool) {
				t.Helper()
				args := append(append(append([]string{}, base...), extra...), "ping")
				out, err := secCLI(t, s.Port, args...)
				ok := err == nil && out == "PONG\n"
				if ok != wantOK {
					t.Errorf("redis-cli --tls %s: %q %v (want served: %v)", label, out, err, wantOK)
				}
			}
			cliTry("with the client certificate", []string{"--cert", certs.ClientCert, "--key", certs.ClientKey}, true)
			cliTry("without a client certificate", nil, tc.withoutCert)
			cliTry("with another CA's client certificate", []string{"--cert", certs.RogueCert, "--key", certs.RogueKey}, tc.withRogueOK)
			if out, err := secCLI(t, s.Port, append(append([]string{}, base...), "--cert", certs.ClientCert, "--key", certs.ClientKey, "get", "tls:with the client certificate")...); out != "with the client certificate\n" || err != nil {
				t.Errorf("redis-cli --tls get: %q %v", out, err)
			}
			s.stop(t)
		})
	}
}

// ---- protected mode ----

// secNonLoopbackIPv4 is an IPv4 address of this machine that is not
// loopback, or "".
func secNonLoopbackIPv4() string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return ""
	}
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip := ipn.IP.To4()
		if ip == nil || ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsUnspecified() {
			continue
		}
		return ip.String()
	}
	return ""
}

const secDenied = "-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface."

// TestSecurityProtectedMode: the default bind is 127.0.0.1; bound to a
// non-loopback address without a password, the server refuses clients that
// are not on loopback with Redis's DENIED error, unless --protected-mode no
// or --requirepass.
func TestSecurityProtectedMode(t *testing.T) {
	t.Parallel()
	ip := secNonLoopbackIPv4()
	if ip == "" {
		t.Skip("this machine has no non-loopback IPv4 address to connect from")
	}
	ctx := context.Background()

	// Default bind: loopback only.
	def := startServer(t)
	if got, err := def.client(t, nil).ConfigGet(ctx, "bind").Result(); err != nil || got["bind"] != "127.0.0.1" {
		t.Errorf("CONFIG GET bind with no --bind = %v %v, want 127.0.0.1", got, err)
	}
	if nc, err := net.DialTimeout("tcp", net.JoinHostPort(ip, strconv.Itoa(def.Port)), 5*time.Second); err == nil {
		nc.Close()
		t.Errorf("with the default bind, %s:%d accepts connections", ip, def.Port)
	}

	// dialFrom connects to ip:port; the source address is ip, not loopback.
	dialFrom := func(port int) net.Conn {
		t.Helper()
		nc, err := net.DialTimeout("tcp", net.JoinHostPort(ip, strconv.Itoa(port)), 5*time.Second)
		if err != nil {
			t.Fatalf("dial %s:%d: %v", ip, port, err)
		}
		if src := nc.LocalAddr().(*net.TCPAddr).IP; src.IsLoopback() {
			nc.Close()
			t.Skipf("connecting to %s comes from loopback %s", ip, src)
		}
		t.Cleanup(func() { nc.Close() })
		return nc
	}
	bind := []string{"--bind", ip + " 127.0.0.1"}

	// Protected (the default): DENIED, then closed; loopback still served.
	p := startServer(t, bind...)
	nc := dialFrom(p.Port)
	nc.Write([]byte("PING\r\n"))
	got, closed := secReadToClose(nc)
	if !strings.HasPrefix(got, secDenied) || !strings.HasSuffix(got, "\r\n") || strings.Count(got, "\r\n") != 1 || !closed {
		t.Errorf("non-loopback client of a protected server: %q (closed %v), want %q… and the connection closed", got, closed, secDenied)
	}
	if got := dialRaw(t, p.Addr).do("PING"); got != "+PONG" {
		t.Errorf("loopback client of a protected server: %s", got)
	}

	// Same as Redis.
	if _, err := exec.LookPath("redis-server"); err == nil {
		_, rport := secRealRedis(t, "--bind", ip+" 127.0.0.1")
		rnc := dialFrom(rport)
		rnc.Write([]byte("PING\r\n"))
		rgot, _ := secReadToClose(rnc)
		if !strings.HasPrefix(rgot, secDenied) {
			t.Errorf("real Redis protected mode answered %q", rgot)
		}
	}

	// --protected-mode no: served.
	open := startServer(t, append(bind, "--protected-mode", "no")...)
	oc := &rconn{t: t, nc: dialFrom(open.Port)}
	oc.rd = bufio.NewReader(oc.nc)
	if got := oc.do("PING"); got != "+PONG" {
		t.Errorf("non-loopback client with --protected-mode no: %s", got)
	}

	// --requirepass: accepted, then it must authenticate.
	pw := ownStartPlain(t, t.TempDir(), append(bind, "--requirepass", secPass)...)
	pc := &rconn{t: t, nc: dialFrom(pw.Port)}
	pc.rd = bufio.NewReader(pc.nc)
	if got := pc.do("PING"); got != "-NOAUTH Authentication required." {
		t.Errorf("non-loopback client of a server with a password, before AUTH: %s", got)
	}
	if got := pc.do("AUTH", secPass); got != "+OK" {
		t.Errorf("AUTH: %s", got)
	}
	if got := pc.do("PING"); got != "+PONG" {
		t.Errorf("non-loopback client after AUTH: %s", got)
	}
}
