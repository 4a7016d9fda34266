package ratelimit

import (
	"fmt"
	"time"
)

// The reply fields of RL.CHECK, RL.PEEK and each key of RL.MCHECK, in RESP2 order.
var checkFields = []string{"allowed", "limit", "remaining", "retry_after_ms", "reset_after_ms", "granted"}

// fields reads a reply that is a RESP2 array (in the order of names) or a RESP3 map (by
// name). It fills out with the integers found; a missing optional field stays absent.
func fields(v interface{}, names []string) (map[string]interface{}, error) {
	out := make(map[string]interface{}, len(names))
	switch r := v.(type) {
	case []interface{}:
		for i, x := range r {
			if i < len(names) {
				out[names[i]] = x
			}
		}
	case map[interface{}]interface{}:
		for k, x := range r {
			if ks, ok := k.(string); ok {
				out[ks] = x
			}
		}
	case map[string]interface{}:
		for k, x := range r {
			out[k] = x
		}
	default:
		return nil, fmt.Errorf("ratelimit: unexpected reply %T", v)
	}
	return out, nil
}

func intField(m map[string]interface{}, name string) (int64, bool) {
	switch x := m[name].(type) {
	case int64:
		return x, true
	case int:
		return int64(x), true
	}
	return 0, false
}

// ms turns a reply's milliseconds into a Duration, keeping -1 as -1 (not -1 ms).
func ms(v int64) time.Duration {
	if v < 0 {
		return -1
	}
	return time.Duration(v) * time.Millisecond
}

// parseCheck reads one decision.
func parseCheck(v interface{}) (Decision, error) {
	m, err := fields(v, checkFields)
	if err != nil {
		return Decision{}, err
	}
	var d Decision
	allowed, ok1 := intField(m, "allowed")
	limit, ok2 := intField(m, "limit")
	remaining, ok3 := intField(m, "remaining")
	retry, ok4 := intField(m, "retry_after_ms")
	reset, ok5 := intField(m, "reset_after_ms")
	if !(ok1 && ok2 && ok3 && ok4 && ok5) {
		return Decision{}, fmt.Errorf("ratelimit: unexpected reply %v", v)
	}
	d.Allowed = allowed == 1
	d.Limit = int(limit)
	d.Remaining = int(remaining)
	d.RetryAfter = ms(retry)
	d.ResetAfter = ms(reset)
	d.Granted = -1
	if g, ok := intField(m, "granted"); ok {
		d.Granted = int(g)
	}
	d.Source = SourceServer
	return d, nil
}
