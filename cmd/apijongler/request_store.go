package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"github.com/api-jongler/jongler/internal/reqinfo"
)

// withStoreWatch returns ctx carrying what the transport tells of the
// request (internal/reqinfo), so that storeFailed can tell a store that
// failed from an upstream that did not answer.
func withStoreWatch(ctx context.Context) context.Context {
	return reqinfo.NewContext(ctx, &reqinfo.Info{})
}

// storeFailed returns the exit error of a request that was never sent
// because the key store failed (a Redis that is down, say), or nil when
// something else kept it from an answer. The store's error names it
// (redis at host:port, or the state directory), never its password.
func storeFailed(ctx context.Context, err error) error {
	if !reqinfo.FromContext(ctx).Snapshot().StoreFailed {
		return nil
	}
	var ue *url.Error // the client's "Get URL: ", which says nothing here
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return &exitError{code: exitStore, err: fmt.Errorf("the key store failed, so no key was leased and nothing was sent: %w\nCheck the store (--store, --store-file, $%s) or the state directory", err, storeEnv)}
}
