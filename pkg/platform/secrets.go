package platform

import (
	"strings"

	"github.com/aiprod/aiprod/pkg/secretbox"
)

// SecretsKeyVar is the variable holding the key that seals stored secrets
// (the projects' webhook signing secrets): the standard base64 of 32
// random bytes, e.g. `openssl rand -base64 32`; in production a Secret
// Manager secret.
const SecretsKeyVar = "AIPROD_SECRETS_KEY"

// SecretBox reads a secretbox key from the variable name: nil when it is
// unset. A bad value is an error that does not quote it.
func (v *Vars) SecretBox(name string) *secretbox.Box {
	s := v.Get(name)
	if strings.TrimSpace(s) == "" {
		return nil
	}
	b, err := secretbox.Parse(s)
	if err != nil {
		v.Fail(name, "want the standard base64 of 32 random bytes, e.g. from `openssl rand -base64 32` (the value is a secret: not shown)")
		return nil
	}
	return b
}
