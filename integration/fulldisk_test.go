package integration

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// mountTmpfs mounts a tmpfs of size on a fresh directory, unmounted when the
// test ends; it skips the test, saying why, when mounting is refused.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs (needs root, as in CI): %v: %s", err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// fillDisk writes a file in dir until the disk is full and returns its path.
func fillDisk(t *testing.T, dir string) string {
	t.Helper()
	name := filepath.Join(dir, "filler")
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			break
		}
	}
	f.Sync()
	return name
}

// TestFullDisk: on a full disk, writes answer MISCONF, reads keep working,
// nothing acknowledged is lost, and once space is freed writes work again.
func TestFullDisk(t *testing.T) {
	mnt := mountTmpfs(t, "16m")
	dir := filepath.Join(mnt, "data")
	s := startServerDir(t, dir)
	ctx := context.Background()
	c := s.client(t, nil)
	acked := map[string]string{}
	for i := 0; i < 200; i++ {
		k, v := "k"+strconv.Itoa(i), strings.Repeat(strconv.Itoa(i%10), 1000)
		if err := c.Set(ctx, k, v, 0).Err(); err != nil {
			t.Fatalf("SET before the disk is full: %v", err)
		}
		acked[k] = v
	}
	filler := fillDisk(t, mnt)
	// Writes fail with MISCONF once the disk has no room (the WAL may still
	// take a few before it needs a new block).
	var werr error
	for i := 0; i < 10000 && werr == nil; i++ {
		k, v := "full"+strconv.Itoa(i), strings.Repeat("x", 4000)
		if werr = c.Set(ctx, k, v, 0).Err(); werr == nil {
			acked[k] = v
		}
	}
	if werr == nil || !strings.HasPrefix(werr.Error(), "MISCONF ") {
		t.Fatalf("SET on a full disk: %v, want a MISCONF error\n%s", werr, s.stderr.String())
	}
	if err := c.Set(ctx, "again", "x", 0).Err(); err == nil || !strings.HasPrefix(err.Error(), "MISCONF ") {
		t.Fatalf("second SET on a full disk: %v, want MISCONF", err)
	}
	for k, v := range acked {
		if got, err := c.Get(ctx, k).Result(); err != nil || got != v {
			t.Fatalf("GET %s on a full disk: %q, %v", k, got[:min(len(got), 20)], err)
		}
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := c.Set(ctx, "after", "freed", 0).Err(); err != nil {
		t.Fatalf("SET once space is freed: %v\n%s", err, s.stderr.String())
	}
	acked["after"] = "freed"
	// The operator is told, in the server's log, both times (the log
	// reaches the test through a pipe, so it may trail the reply).
	for _, want := range []string{"level=ERROR msg=\"a write batch could not be committed", "level=INFO msg=\"the store recovered"} {
		waitFor(t, "the server log to say "+want, func() bool { return strings.Contains(s.stderr.String(), want) })
	}
	s = s.restart(t)
	c = s.client(t, nil)
	for k, v := range acked {
		got, err := c.Get(ctx, k).Result()
		if errors.Is(err, nil) && got == v {
			continue
		}
		t.Fatalf("after restart, GET %s: %q, %v", k, got[:min(len(got), 20)], err)
	}
}
