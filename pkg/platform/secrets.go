package platform

import (
	"fmt"
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

// RequiredSecretBox is SecretBox for a service that cannot run without the
// key: unset (or blank) records "NAME is required: what".
func (v *Vars) RequiredSecretBox(name, what string) *secretbox.Box {
	if strings.TrimSpace(v.Get(name)) == "" {
		v.errs = append(v.errs, fmt.Errorf("%s is required: %s", name, what))
		return nil
	}
	return v.SecretBox(name)
}
