// Package testserver starts real redis-server / valkey-server processes with the module
// loaded, on free loopback ports, for the package's tests and benchmark. Every server is
// stopped by its own PID.
package testserver

import (
	"bufio"
	"fmt"
	"math/rand"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Binary is one server implementation to test against.
type Binary struct {
	Name string // "redis" or "valkey"
	Path string
}

// Binaries are the servers the tests run on: Debian's redis-server (RL_REDIS_SERVER to
// override) and, when VALKEY_SERVER names it, Valkey.
func Binaries() []Binary {
	bins := []Binary{{"redis", envOr("RL_REDIS_SERVER", "/usr/bin/redis-server")}}
	if v := os.Getenv("VALKEY_SERVER"); v != "" {
		bins = append(bins, Binary{"valkey", v})
	}
	return bins
}

// Redis is Debian's redis-server.
func Redis() Binary { return Binaries()[0] }

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// Module is the module's path: $RL_MODULE, else target/release of the checkout holding
// this package.
func Module() (string, error) {
	if m := os.Getenv("RL_MODULE"); m != "" {
		return m, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; d != "/"; d = filepath.Dir(d) {
		p := filepath.Join(d, "target", "release", "libredis_ratelimit.so")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("module not found: set RL_MODULE (or build target/release/libredis_ratelimit.so)")
}

// Server is one running server.
type Server struct {
	Bin  Binary
	Port int
	Dir  string
	Args []string

	mu        sync.Mutex
	cmd       *exec.Cmd
	confFirst bool // a config file argument, which must come before --port
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.Port) }

var portMu sync.Mutex
var portRand = rand.New(rand.NewSource(time.Now().UnixNano() ^ int64(os.Getpid())))

// FreePort is a loopback port that is free, as is port+10000 (a cluster bus), both <= 55535.
func FreePort() int {
	portMu.Lock()
	defer portMu.Unlock()
	for {
		p := 20000 + portRand.Intn(25000)
		if free(p) && free(p+10000) {
			return p
		}
	}
}

func free(p int) bool {
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// Start runs bin with the module on a free port, plus extra arguments.
func Start(bin Binary, extra ...string) (*Server, error) {
	mod, err := Module()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "rl-go-test-")
	if err != nil {
		return nil, err
	}
	s := &Server{Bin: bin, Port: FreePort(), Dir: dir}
	s.Args = append([]string{"--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", dir, "--loadmodule", mod, "--enable-debug-command", "yes"}, extra...)
	if err := s.start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return s, nil
}

func (s *Server) start() error {
	args := append([]string{"--port", strconv.Itoa(s.Port)}, s.Args...)
	if s.confFirst {
		args = append(append([]string{s.Args[0]}, "--port", strconv.Itoa(s.Port)), s.Args[1:]...)
	}
	cmd := exec.Command(s.Bin.Path, args...)
	log, err := os.Create(filepath.Join(s.Dir, "server.log"))
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		log.Close()
		return err
	}
	go func() { cmd.Wait(); log.Close() }()
	s.mu.Lock()
	s.cmd = cmd
	s.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if ping(s.Addr()) {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Kill()
	b, _ := os.ReadFile(filepath.Join(s.Dir, "server.log"))
	return fmt.Errorf("%s did not start on %d: %s", s.Bin.Name, s.Port, b)
}

// ping sends a RESP PING and waits for +PONG.
func ping(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "+PONG")
}

// Kill sends SIGKILL and waits until the port refuses connections.
func (s *Server) Kill() {
	s.mu.Lock()
	cmd := s.cmd
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGKILL)
	for i := 0; i < 500 && !free(s.Port); i++ {
		time.Sleep(10 * time.Millisecond)
	}
}

// Restart starts the server again on the same port (after Kill).
func (s *Server) Restart() error { return s.start() }

// Stop kills the server and removes its directory.
func (s *Server) Stop() {
	s.Kill()
	os.RemoveAll(s.Dir)
}

// Pause stops the process (SIGSTOP): it keeps its port and connections but answers nothing.
func (s *Server) Pause() { s.signal(syscall.SIGSTOP) }

// Resume continues a paused process (SIGCONT).
func (s *Server) Resume() { s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig syscall.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		s.cmd.Process.Signal(sig)
	}
}
