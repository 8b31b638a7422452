// Package secretbox encrypts small secrets for storage (the projects'
// webhook signing secrets in Firestore) with AES-256-GCM under one key
// that comes from the environment (AIPROD_SECRETS_KEY, in production from
// Secret Manager).
//
// A sealed value is text: "v1:" and the base64 of a random 12-byte nonce
// followed by the ciphertext and its tag. Sealing binds the value to a
// context string (the additional data of GCM, e.g. the project id and the
// record's purpose), so a sealed value copied to another record does not
// open there.
//
// Neither the key nor a plaintext ever appears in an error.
package secretbox
