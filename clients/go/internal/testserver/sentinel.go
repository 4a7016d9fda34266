package testserver

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// SentinelPath is redis-sentinel's binary (RL_SENTINEL to override); "" when missing.
func SentinelPath() string {
	if p := os.Getenv("RL_SENTINEL"); p != "" {
		return p
	}
	p, err := exec.LookPath("redis-sentinel")
	if err != nil {
		return ""
	}
	return p
}

// StartSentinel runs a Sentinel watching master (name "mymaster", quorum 1, the master
// judged down after 500 ms).
func StartSentinel(master *Server) (*Server, error) {
	dir, err := os.MkdirTemp("", "rl-go-sentinel-")
	if err != nil {
		return nil, err
	}
	s := &Server{Bin: Binary{"sentinel", SentinelPath()}, Port: FreePort(), Dir: dir}
	conf := filepath.Join(dir, "sentinel.conf")
	body := fmt.Sprintf("bind 127.0.0.1\ndir %s\nsentinel monitor mymaster 127.0.0.1 %d 1\n"+
		"sentinel down-after-milliseconds mymaster 500\nsentinel failover-timeout mymaster 5000\n", dir, master.Port)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		return nil, err
	}
	s.Args = []string{conf}
	s.confFirst = true
	if err := s.start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return s, nil
}

// WaitReplica waits until replica's link to its master is up.
func WaitReplica(replica *Server) error {
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		out, _ := exec.Command("redis-cli", "-p", strconv.Itoa(replica.Port), "INFO", "replication").Output()
		if strings.Contains(string(out), "master_link_status:up") {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("replica on %d never linked", replica.Port)
}
