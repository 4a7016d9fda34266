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

// parseCheck reads one decision, without an intermediate map (it is on every call's path).
func parseCheck(v interface{}) (Decision, error) {
	var vals [6]int64
	var have [6]bool
	var decided, shadow int64
	switch r := v.(type) {
	case []interface{}:
		for i := 0; i < len(r) && i < len(vals); i++ {
			vals[i], have[i] = asInt(r[i])
		}
	case map[interface{}]interface{}:
		for i, name := range checkFields {
			if x, ok := r[name]; ok {
				vals[i], have[i] = asInt(x)
			}
		}
		decided, _ = asInt(r["decided_by"])
		shadow, _ = asInt(r["shadow_denied"])
	default:
		return Decision{}, fmt.Errorf("ratelimit: unexpected reply %T", v)
	}
	for i := 0; i < 5; i++ {
		if !have[i] {
			return Decision{}, fmt.Errorf("ratelimit: unexpected reply %v", v)
		}
	}
	d := Decision{Allowed: vals[0] == 1, Limit: int(vals[1]), Remaining: int(vals[2]),
		RetryAfter: ms(vals[3]), ResetAfter: ms(vals[4]), Granted: -1, Source: SourceServer,
		DecidedBy: int(decided), ShadowDenied: shadow == 1}
	if have[5] {
		d.Granted = int(vals[5])
	}
	return d, nil
}

func asInt(x interface{}) (int64, bool) {
	switch n := x.(type) {
	case int64:
		return n, true
	case int:
		return int64(n), true
	}
	return 0, false
}
