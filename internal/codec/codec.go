// Package codec encrypts Temporal payloads with AES-256-GCM so workflow and
// activity inputs and results (Aha! record content, mapped bodies, people's
// emails) are unreadable in Temporal's database. Keys have ids for rotation:
// the first key encrypts, every listed key decrypts. A codec HTTP endpoint
// lets the Temporal Web UI show decoded payloads to operators who hold the
// endpoint's bearer token.
package codec

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
)

const (
	// MetadataEncoding marks an encrypted payload.
	MetadataEncoding = "binary/encrypted"
	metadataKeyID    = "encryption-key-id"
)

// Codec is an AES-GCM PayloadCodec with key rotation.
type Codec struct {
	current string
	keys    map[string]cipher.AEAD
}

// ParseKeys reads "id1:base64key,id0:base64key" (AHACC_PAYLOAD_KEYS). The
// first key encrypts; all decrypt. Keys are 32 bytes (AES-256), standard or
// URL base64.
func ParseKeys(spec string) (*Codec, error) {
	c := &Codec{keys: map[string]cipher.AEAD{}}
	for _, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		id, b64, ok := strings.Cut(part, ":")
		if !ok || id == "" {
			return nil, errors.New("payload key: want id:base64key")
		}
		raw, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			if raw, err = base64.URLEncoding.DecodeString(b64); err != nil {
				return nil, fmt.Errorf("payload key %q: not base64", id)
			}
		}
		if len(raw) != 32 {
			return nil, fmt.Errorf("payload key %q: %d bytes, want 32 (AES-256)", id, len(raw))
		}
		block, err := aes.NewCipher(raw)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		if _, dup := c.keys[id]; dup {
			return nil, fmt.Errorf("payload key %q listed twice", id)
		}
		c.keys[id] = aead
		if c.current == "" {
			c.current = id
		}
	}
	if c.current == "" {
		return nil, errors.New("no payload keys")
	}
	return c, nil
}

// Encode encrypts each payload (its serialized form, metadata included).
func (c *Codec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	aead := c.keys[c.current]
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		plain, err := p.Marshal()
		if err != nil {
			return nil, err
		}
		nonce := make([]byte, aead.NonceSize())
		if _, err := rand.Read(nonce); err != nil {
			return nil, err
		}
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{
				converter.MetadataEncoding: []byte(MetadataEncoding),
				metadataKeyID:              []byte(c.current),
			},
			Data: aead.Seal(nonce, nonce, plain, []byte(c.current)),
		}
	}
	return out, nil
}

// Decode decrypts payloads this codec (or a rotated-out key it still holds)
// encrypted; other payloads pass through unchanged.
func (c *Codec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if string(p.GetMetadata()[converter.MetadataEncoding]) != MetadataEncoding {
			out[i] = p
			continue
		}
		id := string(p.GetMetadata()[metadataKeyID])
		aead, ok := c.keys[id]
		if !ok {
			return nil, fmt.Errorf("payload encrypted with key %q, which is not configured", id)
		}
		data := p.GetData()
		if len(data) < aead.NonceSize() {
			return nil, errors.New("encrypted payload too short")
		}
		plain, err := aead.Open(nil, data[:aead.NonceSize()], data[aead.NonceSize():], []byte(id))
		if err != nil {
			return nil, fmt.Errorf("decrypt payload (key %q): %w", id, err)
		}
		var dec commonpb.Payload
		if err := dec.Unmarshal(plain); err != nil {
			return nil, err
		}
		out[i] = &dec
	}
	return out, nil
}

// DataConverter wraps the default converter with this codec.
func (c *Codec) DataConverter() converter.DataConverter {
	return converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), c)
}

// Handler is the codec endpoint the Temporal Web UI calls (POST /encode and
// /decode under its mount point). Requests need `Authorization: Bearer
// <token>`; the UI is configured to pass the operator's token. CORS allows
// the UI's origin.
func (c *Codec) Handler(token, uiOrigin string) http.Handler {
	inner := converter.NewPayloadCodecHTTPHandler(c)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if uiOrigin != "" {
			w.Header().Set("Access-Control-Allow-Origin", uiOrigin)
			w.Header().Set("Access-Control-Allow-Credentials", "true")
			w.Header().Set("Access-Control-Allow-Headers", "Authorization,Content-Type,X-Namespace")
			w.Header().Set("Access-Control-Allow-Methods", "POST,OPTIONS")
		}
		if r.Method == http.MethodOptions {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		got := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		if token == "" || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		inner.ServeHTTP(w, r)
	})
}
