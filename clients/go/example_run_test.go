package ratelimit

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// examples/go (its own module, on this one through a replace directive) runs against a real
// server and prints what its comments promise.
func TestExampleProgram(t *testing.T) {
	dir, _ := filepath.Abs("../../examples/go")
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		t.Skip("examples/go not beside this module")
	}
	cmd := exec.Command("go", "run", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "REDIS_URL=redis://"+servers[0].Addr())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	want := []string{
		"request 1: allowed, 4 left", "request 5: allowed, 0 left", "request 6: denied, retry in ",
		"sliding window: 70 of 100 left (source server)",
	}
	for _, w := range want {
		if !strings.Contains(string(out), w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
}
