package redisstore

import "context"

// leaseIface is jongler.Lease of the reshaped API, until main has it.
type leaseIface = interface {
	Key() string
	Release(ctx context.Context) error
	Lost() <-chan struct{}
}
