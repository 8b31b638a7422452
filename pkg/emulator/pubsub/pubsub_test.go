package pubsubemu

import (
	"net"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestServe(t *testing.T) {
	t.Parallel()
	srv, err := Serve("127.0.0.1:0")
	require.NoError(t, err)
	defer srv.Close()
	c, err := net.Dial("tcp", srv.Addr)
	require.NoError(t, err, "the emulator listens")
	c.Close()

	_, err = Serve(srv.Addr)
	require.Error(t, err, "a busy address is an error, not a panic")
	require.Contains(t, err.Error(), srv.Addr)
}
