package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/redis/go-redis/v9"
)

// ArgumentError: the limit or the key is invalid. Raised before the network when the client
// can tell, else from the server's `ERR argument <n> ...` reply. Never retried, never trips
// the breaker, never handled by the OnUnavailable policy.
type ArgumentError struct{ Msg string }

func (e *ArgumentError) Error() string { return "ratelimit: invalid argument: " + e.Msg }

func argErr(format string, a ...interface{}) error {
	return &ArgumentError{Msg: fmt.Sprintf(format, a...)}
}

// ServerError: the server refused the command (WRONGTYPE, a key of another algorithm, NOPERM,
// an unknown command when the module is not loaded, OOM). Never trips the breaker.
type ServerError struct{ Err error }

func (e *ServerError) Error() string { return "ratelimit: server refused: " + e.Err.Error() }
func (e *ServerError) Unwrap() error { return e.Err }

// UnavailableError: the server could not be asked (connection refused or lost, timeout,
// LOADING, CLUSTERDOWN, the breaker open). Returned only when the OnUnavailable policy is
// FailError; the other policies decide without the server and mark the decision's Source.
type UnavailableError struct {
	Err error
	// BreakerOpen is true when the call was not sent because the circuit breaker is open.
	BreakerOpen bool
}

func (e *UnavailableError) Error() string { return "ratelimit: server unavailable: " + e.Err.Error() }
func (e *UnavailableError) Unwrap() error { return e.Err }

// ErrBreakerOpen is the cause of an UnavailableError raised while the breaker is open.
var ErrBreakerOpen = errors.New("circuit breaker open")

// ErrorClass is the metric label of an error: "argument", "server" or "unavailable".
func ErrorClass(err error) string {
	var a *ArgumentError
	var s *ServerError
	switch {
	case errors.As(err, &a):
		return "argument"
	case errors.As(err, &s):
		return "server"
	default:
		return "unavailable"
	}
}

// unavailableReplies are server error replies that mean "not now" rather than "no".
var unavailableReplies = []string{"LOADING", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "BUSY", "READONLY"}

// classify turns what go-redis returned into one of the three classes.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var a *ArgumentError
	var s *ServerError
	var u *UnavailableError
	if errors.As(err, &a) || errors.As(err, &s) || errors.As(err, &u) {
		return err
	}
	var rerr redis.Error
	if errors.As(err, &rerr) && !isNetErr(err) {
		msg := rerr.Error()
		for _, p := range unavailableReplies {
			if strings.HasPrefix(msg, p) {
				return &UnavailableError{Err: err}
			}
		}
		if strings.HasPrefix(msg, "ERR argument ") || strings.HasPrefix(msg, "ERR wrong number of arguments") ||
			strings.HasPrefix(msg, "ERR lease_id ") || strings.HasPrefix(msg, "ERR numkeys ") ||
			strings.HasPrefix(msg, "ERR a key appears more than once") {
			return &ArgumentError{Msg: msg}
		}
		return &ServerError{Err: err}
	}
	return &UnavailableError{Err: err}
}

func isNetErr(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded)
}
