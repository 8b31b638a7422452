package platform_test

import (
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/platform"
)

// TestServePprof: the profiles answer on the bound address until stopped.
func TestServePprof(t *testing.T) {
	addr, stop, err := platform.ServePprof("127.0.0.1:0")
	require.NoError(t, err)
	res, err := http.Get("http://" + addr + "/debug/pprof/goroutine?debug=1")
	require.NoError(t, err)
	body, _ := io.ReadAll(res.Body)
	_ = res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Contains(t, string(body), "goroutine profile")
	stop()
	_, err = http.Get("http://" + addr + "/debug/pprof/")
	require.Error(t, err, "stopped")
}
