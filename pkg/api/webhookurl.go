package api

import (
	"errors"
	"strings"

	"github.com/aiprod/aiprod/pkg/netguard"
)

// checkWebhookURL refuses, unless Config.AllowPrivateNetworks, a
// webhook_url whose host is a loopback, private or link-local address or a
// name that resolves only locally: a 400 naming the field. The notifier's
// dial-time guard refuses the rest (a public name resolving to a private
// address).
func (s *Server) checkWebhookURL(u string) error {
	if u == "" || s.cfg.AllowPrivateNetworks {
		return nil
	}
	err := netguard.CheckURL(u)
	if re, ok := errors.AsType[*netguard.RefusedError](err); ok {
		return invalid("webhook_url", "must not point at a private network (%s)", strings.TrimPrefix(re.Error(), "netguard: "))
	}
	if err != nil {
		return invalid("webhook_url", "%v", err)
	}
	return nil
}
