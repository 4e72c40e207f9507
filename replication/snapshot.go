package replication

import (
	"archive/tar"
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/hashicorp/raft"
)

// Snapshots are Pebble checkpoints of the whole store: taken on the FSM's
// goroutine, so they hold exactly the entries applied so far; the
// checkpoint syncs Pebble's WAL first, so the entries Raft then drops from
// its log are durable in the store (the recovery argument holds). A
// follower too far behind the leader's log gets one (InstallSnapshot) and
// replaces its store's content with it.
//
// Stream format: "MRSNAP1\n", the store's applied index (8 bytes BE), the
// members' client addresses (uvarint count, then each as a member entry's
// body), then the checkpoint's files as a tar archive.
const snapMagic = "MRSNAP1\n"

// Snapshot implements raft.FSM.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	n := (*Node)(f)
	dir, err := os.MkdirTemp(n.cfg.Dir, "checkpoint-")
	if err != nil {
		return nil, err
	}
	cp := filepath.Join(dir, "store")
	if err := n.store.Checkpoint(cp); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	applied, err := n.store.AppliedIndex()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	n.mu.Lock()
	members := binary.AppendUvarint(nil, uint64(len(n.members)))
	for _, p := range n.members {
		members = append(members, encodeMember(p)[1:]...)
	}
	n.mu.Unlock()
	return &snapshot{dir: dir, store: cp, applied: applied, members: members}, nil
}

type snapshot struct {
	dir, store string
	applied    uint64
	members    []byte
}

// Persist streams the checkpoint into the sink.
func (s *snapshot) Persist(sink raft.SnapshotSink) error {
	err := s.write(sink)
	if err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s *snapshot) write(w io.Writer) error {
	bw := bufio.NewWriter(w)
	bw.WriteString(snapMagic)
	binary.Write(bw, binary.BigEndian, s.applied)
	bw.Write(s.members)
	tw := tar.NewWriter(bw)
	entries, err := os.ReadDir(s.store)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		f, err := os.Open(filepath.Join(s.store, e.Name()))
		if err != nil {
			return err
		}
		fi, err := f.Stat()
		if err == nil {
			err = tw.WriteHeader(&tar.Header{Name: e.Name(), Mode: 0o644, Size: fi.Size()})
		}
		if err == nil {
			_, err = io.Copy(tw, f)
		}
		f.Close()
		if err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return bw.Flush()
}

// Release removes the checkpoint.
func (s *snapshot) Release() { os.RemoveAll(s.dir) }

// Restore implements raft.FSM: the store's content becomes the
// snapshot's, unless the store already holds it (a restart restores the
// latest local snapshot, which the store has whenever it is not
// mid-restore).
func (f *fsm) Restore(rc io.ReadCloser) error {
	n := (*Node)(f)
	defer rc.Close()
	br := bufio.NewReader(rc)
	head := make([]byte, len(snapMagic)+8)
	if _, err := io.ReadFull(br, head); err != nil || string(head[:len(snapMagic)]) != snapMagic {
		return fmt.Errorf("replication: not a mutexredis snapshot (%v)", err)
	}
	index := binary.BigEndian.Uint64(head[len(snapMagic):])
	count, err := binary.ReadUvarint(br)
	if err != nil {
		return err
	}
	for range count {
		var f [3]string
		for i := range f {
			l, err := binary.ReadUvarint(br)
			if err != nil || l > 1<<16 {
				return fmt.Errorf("replication: bad snapshot member (%v)", err)
			}
			b := make([]byte, l)
			if _, err := io.ReadFull(br, b); err != nil {
				return err
			}
			f[i] = string(b)
		}
		n.mu.Lock()
		n.members[f[0]] = Peer{ID: f[0], RaftAddr: f[1], ClientAddr: f[2]}
		n.mu.Unlock()
	}
	restoring, err := n.store.Restoring()
	if err != nil {
		return err
	}
	applied, err := n.store.AppliedIndex()
	if err != nil {
		return err
	}
	if !restoring && applied >= index {
		return nil // already there
	}
	dir, err := os.MkdirTemp(n.cfg.Dir, "restore-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	tr := tar.NewReader(br)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		name := filepath.Base(h.Name) // a flat directory: nothing may escape it
		out, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		_, err = io.Copy(out, tr)
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	if err := n.store.RestoreReplica(dir); err != nil {
		return err
	}
	n.startedAt = max(n.startedAt, index)
	n.log.Info("restored the store from the leader's snapshot", "index", index)
	return nil
}
