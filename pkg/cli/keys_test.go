package cli_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aiprod/aiprod/pkg/api"
)

func TestKeysCommands(t *testing.T) {
	t.Parallel()
	e := setup(t)
	code, out, errOut := e.run("keys", "create", "--project", "gamma", "--expires-in-days", "30", "--json")
	require.Equal(t, 0, code, errOut)
	var created api.CreatedKey
	require.NoError(t, json.Unmarshal([]byte(out), &created))
	require.Equal(t, "gamma", created.ProjectID)
	require.Equal(t, now.AddDate(0, 0, 30), *created.ExpiresAt)

	code, out, errOut = e.run("keys", "create", "--project", "gamma")
	require.Equal(t, 0, code, errOut)
	plain := strings.SplitN(out, "\n", 2)[0]
	require.True(t, strings.HasPrefix(plain, api.APIKeyPrefix), out)
	require.Contains(t, out, "expires never")
	require.Contains(t, out, "shown this once")

	code, out, errOut = e.run("keys", "list", "--project", "gamma")
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "ID  ")
	require.Contains(t, out, created.ID)
	require.Contains(t, out, created.Prefix)
	require.NotContains(t, out, created.Key)
	require.NotContains(t, out, plain)

	code, out, errOut = e.run("keys", "revoke", "--project", "gamma", created.ID)
	require.Equal(t, 0, code, errOut)
	require.Equal(t, "revoked key "+created.ID+" ("+created.Prefix+") of project gamma\n", out)

	code, out, errOut = e.run("keys", "list", "--project", "gamma", "--json")
	require.Equal(t, 0, code, errOut)
	var l api.KeyList
	require.NoError(t, json.Unmarshal([]byte(out), &l))
	require.Len(t, l.Keys, 2)
	for _, k := range l.Keys { // both made at the test's fixed now: in hash order
		require.Equal(t, k.ID == created.ID, k.Revoked, k.ID)
	}
	require.NotContains(t, out, created.Key)

	code, _, errOut = e.run("keys", "revoke", "--project", "dev", created.ID)
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "not found")
	code, _, errOut = e.run("keys", "create", "--project", "gamma", "--expires-in-days", "-1")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "expires_in_days")
	code, _, _ = e.run("keys", "revoke", "--project", "gamma")
	require.Equal(t, 2, code, "the key id is required")
	code, _, _ = e.run("keys", "rotate")
	require.Equal(t, 2, code)
	code, out, _ = e.run("keys", "--help")
	require.Equal(t, 0, code)
	require.Contains(t, out, "aiprod keys revoke")
}
