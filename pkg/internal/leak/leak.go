// Package leak makes a package's tests fail when they leave goroutines
// running (go.uber.org/goleak), minus the known background goroutines of
// the Google Cloud client libraries, which their owners stop lazily.
package leak

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"
)

// ignored are goroutines that outlive a test by design of a library:
//   - OpenCensus (pulled in by the Google Cloud clients) starts a stats
//     worker at init that never ends;
//   - the Pub/Sub client's stream keep-alive handler of a finished
//     Receive ends on its own timer after the iterator stopped.
var ignored = []goleak.Option{
	goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"),
	goleak.IgnoreAnyFunction("cloud.google.com/go/pubsub/v2.(*messageIterator).streamKeepAliveHandler"),
}

// VerifyTestMain runs the tests and fails them when goroutines leak; call
// it as the whole body of TestMain.
func VerifyTestMain(m *testing.M) { goleak.VerifyTestMain(m, ignored...) }

// Check is for a TestMain with set-up of its own: given m.Run's exit code,
// it returns 1 when the tests passed but left goroutines running (and
// prints them), else code.
func Check(code int) int {
	if code != 0 {
		return code
	}
	if err := goleak.Find(ignored...); err != nil {
		fmt.Fprintf(os.Stderr, "goroutines leaked: %v\n", err)
		return 1
	}
	return code
}
