package httpapi

import (
	"encoding/json"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/stretchr/testify/require"
	"github.com/valyala/fasthttp"
)

var jsonStringCases = []string{
	"", "aha:idea:6514078362261846610", "not found", `auditable_type "ideas/idea_endorsement" is not routed (aha.record_types)`,
	`back\slash`, "<b>&amp;</b>", "tab\tnew\nline\r", "\x00\x1f\x7f", "é ü 日本", "\u2028\u2029", "\xff\xfe invalid", "a\"b",
}

func TestAppendJSONStringIsJSONMarshal(t *testing.T) {
	for _, s := range jsonStringCases {
		want, err := json.Marshal(s)
		require.NoError(t, err)
		require.Equal(t, string(want), string(appendJSONString(nil, s)), "%q", s)
	}
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range jsonStringCases {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := appendJSONString([]byte("x"), s); string(got) != "x"+string(want) {
			t.Fatalf("%q: got %s want %s", s, got, want)
		}
	})
}

// TestSendJSONIsFiberJSON: the answers are byte for byte what
// c.Status(code).JSON(fiber.Map{...}) wrote, with the same content type.
func TestSendJSONIsFiberJSON(t *testing.T) {
	app := fiber.New()
	for _, v := range jsonStringCases {
		for _, keys := range [][2]string{{"status", "workflow_id"}, {"reason", "status"}, {"error", "status"}} {
			var rc fasthttp.RequestCtx
			c := app.AcquireCtx(&rc)
			require.NoError(t, c.Status(fiber.StatusAccepted).JSON(fiber.Map{keys[0]: v, keys[1]: "accepted"}))
			want, wantType := string(rc.Response.Body()), string(rc.Response.Header.ContentType())
			rc.Response.Reset()
			require.NoError(t, sendJSON(c, fiber.StatusAccepted, keys[0], v, keys[1], "accepted"))
			require.Equal(t, want, string(rc.Response.Body()))
			require.Equal(t, wantType, string(rc.Response.Header.ContentType()))
			require.Equal(t, fiber.StatusAccepted, rc.Response.StatusCode())
			app.ReleaseCtx(c)
		}
	}
}
