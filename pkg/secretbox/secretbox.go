package secretbox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
)

// KeyBytes is the size of a key: AES-256.
const KeyBytes = 32

// version prefixes every sealed value, so that the format can change.
const version = "v1:"

// Errors. None says anything about the key or the plaintext.
var (
	ErrBadKey = errors.New("secretbox: the key must be the standard base64 of 32 bytes")
	ErrOpen   = errors.New("secretbox: cannot open the sealed value (wrong key, context or a damaged value)")
)

// Box seals and opens values with one key. Safe for concurrent use.
type Box struct{ aead cipher.AEAD }

// New returns a Box of a raw 32-byte key.
func New(key []byte) (*Box, error) {
	if len(key) != KeyBytes {
		return nil, ErrBadKey
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, ErrBadKey
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, ErrBadKey
	}
	return &Box{aead: aead}, nil
}

// Parse returns a Box of a key given as standard base64 (the form of
// AIPROD_SECRETS_KEY; NewKey makes one). Spaces around it are ignored.
func Parse(b64 string) (*Box, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
	if err != nil {
		return nil, ErrBadKey
	}
	return New(key)
}

// NewKey returns a fresh random key in the form Parse reads.
func NewKey() string {
	k := make([]byte, KeyBytes)
	_, _ = rand.Read(k) // crypto/rand.Read never fails (it crashes the program instead)
	return base64.StdEncoding.EncodeToString(k)
}

// Seal encrypts plaintext bound to context and returns the sealed text.
func (b *Box) Seal(plaintext, context string) string {
	nonce := make([]byte, b.aead.NonceSize())
	_, _ = rand.Read(nonce)
	out := b.aead.Seal(nonce, nonce, []byte(plaintext), []byte(context))
	return version + base64.StdEncoding.EncodeToString(out)
}

// Open decrypts a value Seal returned for the same context. Any failure is
// ErrOpen.
func (b *Box) Open(sealed, context string) (string, error) {
	raw, ok := strings.CutPrefix(sealed, version)
	if !ok {
		return "", ErrOpen
	}
	data, err := base64.StdEncoding.DecodeString(raw)
	n := b.aead.NonceSize()
	if err != nil || len(data) < n+b.aead.Overhead() {
		return "", ErrOpen
	}
	pt, err := b.aead.Open(nil, data[:n], data[n:], []byte(context))
	if err != nil {
		return "", ErrOpen
	}
	return string(pt), nil
}
