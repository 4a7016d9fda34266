package testserver

import (
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// Cluster is a Redis Cluster of servers, made with redis-cli --cluster create.
type Cluster struct {
	Nodes []*Server
}

// Addrs are the nodes' addresses.
func (c *Cluster) Addrs() []string {
	a := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		a[i] = n.Addr()
	}
	return a
}

// Stop stops every node.
func (c *Cluster) Stop() {
	for _, n := range c.Nodes {
		n.Stop()
	}
}

// StartCluster starts masters*(1+replicas) nodes and joins them, then waits for cluster_state:ok.
func StartCluster(bin Binary, masters, replicas int) (*Cluster, error) {
	c := &Cluster{}
	for i := 0; i < masters*(1+replicas); i++ {
		s, err := Start(bin, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "2000")
		if err != nil {
			c.Stop()
			return nil, err
		}
		c.Nodes = append(c.Nodes, s)
	}
	args := []string{"--cluster", "create"}
	args = append(args, c.Addrs()...)
	args = append(args, "--cluster-replicas", strconv.Itoa(replicas), "--cluster-yes")
	if out, err := exec.Command("redis-cli", args...).CombinedOutput(); err != nil {
		c.Stop()
		return nil, fmt.Errorf("cluster create: %v: %s", err, out)
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		ok := true
		for _, n := range c.Nodes {
			out, err := exec.Command("redis-cli", "-p", strconv.Itoa(n.Port), "CLUSTER", "INFO").Output()
			if err != nil || !contains(string(out), "cluster_state:ok") {
				ok = false
				break
			}
		}
		if ok {
			return c, c.waitReplicas(deadline)
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.Stop()
	return nil, fmt.Errorf("cluster did not reach cluster_state:ok")
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// waitReplicas waits until every replica's link to its master is up.
func (c *Cluster) waitReplicas(deadline time.Time) error {
	for _, n := range c.Nodes {
		for {
			out, _ := exec.Command("redis-cli", "-p", strconv.Itoa(n.Port), "INFO", "replication").Output()
			info := string(out)
			if strings.Contains(info, "role:master") || strings.Contains(info, "master_link_status:up") {
				break
			}
			if time.Now().After(deadline) {
				c.Stop()
				return fmt.Errorf("replica on %d never linked", n.Port)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}
