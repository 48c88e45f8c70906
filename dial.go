package herald

import (
	"context"
	"fmt"

	"github.com/heraldhq/herald/internal/remote"
)

// Dial connects to a Herald server at its HTTP address (for example
// http://127.0.0.1:7070) over the streaming protocol. The connection is
// re-established by itself when it drops.
func Dial(ctx context.Context, url string, opts ...Option) (*Client, error) {
	o := defaultClientOptions()
	for _, opt := range opts {
		opt(&o)
	}
	conn, err := remote.Dial(ctx, url, remote.Options{Logger: o.logger, CallTimeout: o.callTimeout, PingInterval: o.pingEvery})
	if err != nil {
		return nil, fmt.Errorf("herald: dial %s: %w", url, err)
	}
	return newClient(conn, o), nil
}
