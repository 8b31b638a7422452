// Command aiprod is AIPROD's CLI: the local dev stack, the emulators, and
// commands that talk to the HTTP API. Run "aiprod help".
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/aiprod/aiprod/pkg/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], &cli.Env{Stdout: os.Stdout, Stderr: os.Stderr})
	stop()
	os.Exit(code)
}
