package codec

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
)

func key(b byte) string { return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{b}, 32)) }

func TestRoundTripAndRotation(t *testing.T) {
	old, err := ParseKeys("k1:" + key(1))
	require.NoError(t, err)
	secret := map[string]string{"email": "pm@example.com"}
	p, err := old.DataConverter().ToPayload(secret)
	require.NoError(t, err)
	require.NotContains(t, string(p.Data), "pm@example.com", "encrypted at rest")
	require.Equal(t, "k1", string(p.Metadata["encryption-key-id"]))

	// Rotate: k2 encrypts now, k1 still decrypts old payloads.
	rotated, err := ParseKeys("k2:" + key(2) + ",k1:" + key(1))
	require.NoError(t, err)
	var got map[string]string
	require.NoError(t, rotated.DataConverter().FromPayload(p, &got))
	require.Equal(t, secret, got)
	p2, err := rotated.DataConverter().ToPayload(secret)
	require.NoError(t, err)
	require.Equal(t, "k2", string(p2.Metadata["encryption-key-id"]))

	// A codec without the key cannot read it, and says which key is missing.
	err = old.DataConverter().FromPayload(p2, &got)
	require.ErrorContains(t, err, `"k2"`)

	// Tampering is detected.
	p.Data[len(p.Data)-1] ^= 1
	require.Error(t, rotated.DataConverter().FromPayload(p, &got))
}

func TestParseKeysErrors(t *testing.T) {
	for _, spec := range []string{"", "nokey", "k:notbase64!!", "k:" + base64.StdEncoding.EncodeToString([]byte("short")), "a:" + key(1) + ",a:" + key(2)} {
		_, err := ParseKeys(spec)
		require.Error(t, err, spec)
	}
}

func TestHandlerDecodesForTheUIWithToken(t *testing.T) {
	c, err := ParseKeys("k1:" + key(7))
	require.NoError(t, err)
	p, err := c.DataConverter().ToPayload("hello")
	require.NoError(t, err)
	h := c.Handler("ui-token", "http://127.0.0.1:8233")
	body, _ := json.Marshal(map[string]any{"payloads": []any{map[string]any{
		"metadata": map[string]string{"encoding": base64.StdEncoding.EncodeToString(p.Metadata["encoding"]),
			"encryption-key-id": base64.StdEncoding.EncodeToString(p.Metadata["encryption-key-id"])},
		"data": base64.StdEncoding.EncodeToString(p.Data)}}})

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/decode", bytes.NewReader(body)))
	require.Equal(t, http.StatusUnauthorized, rec.Code, "no token, no plaintext")

	rec = httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/decode", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer ui-token")
	req.Header.Set("Content-Type", "application/json")
	h.ServeHTTP(rec, req)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	out, _ := io.ReadAll(rec.Body)
	require.Contains(t, string(out), base64.StdEncoding.EncodeToString([]byte(`"hello"`)))
	require.Equal(t, "http://127.0.0.1:8233", rec.Header().Get("Access-Control-Allow-Origin"))
}
