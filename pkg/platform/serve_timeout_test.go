package platform

import (
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A client that sends its headers and then stalls the body is cut off
// after the read timeout instead of holding the connection (issue 13,
// finding 9: the servers had no ReadTimeout).
func TestServerCutsOffAStalledBody(t *testing.T) {
	t.Parallel()
	srv := NewHTTPServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
	}), Timeouts{ReadHeader: time.Second, Read: 200 * time.Millisecond, Write: time.Second, Idle: time.Second})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	conn, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.Write([]byte("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\npartial"))
	require.NoError(t, err)
	start := time.Now()
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(5*time.Second)))
	_, err = io.ReadAll(conn) // ends when the server closes the connection
	require.NoError(t, err, "the server closed the connection (not our 5 s deadline)")
	require.Less(t, time.Since(start), 4*time.Second)
	require.Equal(t, 30*time.Second, TimeoutsDefault.Read, "the services' default")
}
