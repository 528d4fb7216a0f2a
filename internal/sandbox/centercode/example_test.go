package centercode_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	cc "github.com/ahacc/ahacc/internal/sandbox/centercode"
)

// Building the simulator from plain structs, as the dev stack does from ahacc's config.
func ExampleNew() {
	s, err := cc.New(cc.Config{
		APIKeys: []string{"dev-key-0123456789"},
		Sources: []cc.Source{{
			ProjectKey: "BETA", Key: "bugs", FeedbackType: "Issues",
			StartingStatus: "New", DefaultSubmitter: "pm@example.com",
			ExternalReferenceElement: "Aha Reference",
			Elements: []cc.Element{
				{Name: "Title", Required: true},
				{Name: "Severity", Kind: cc.KindChoice, Options: []string{"Critical", "Major", "Minor", "Trivial"}},
				{Name: "Aha Reference"},
				// Centercode's indexed form: one value per parameter from an array.
				{Name: "Spec File 1", Kind: cc.KindAttachment, Path: "$['Spec Files'][0]"},
			},
		}},
		Listeners: []cc.Listener{
			{Key: "user-data", Target: cc.TargetUser, Action: cc.ActionStoreData, DataGroup: "Aha! Ideas",
				Labels: map[string]string{"company": "Company"}},
			{Key: "feedback-data", Target: cc.TargetFeedback, Action: cc.ActionStoreData, DataGroup: "Aha!"},
		},
		Macros: []cc.Macro{{
			Name: "push-to-aha", Trigger: cc.TriggerStatusChange, StatusFilter: []string{"Will Fix"},
			URL:     "http://127.0.0.1:8080/webhooks/centercode/macros/push-to-aha",
			Headers: map[string]string{"Authorization": "Bearer dev-token"},
		}},
		Users:  []cc.User{{FirstName: "Product", LastName: "Manager", Email: "pm@example.com"}},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		panic(err)
	}
	if err := s.Start(); err != nil {
		panic(err)
	}
	defer s.Close()

	resp, err := http.Post(s.SourceURL("BETA", "bugs"), "application/json",
		strings.NewReader(`{"Title": "Crash", "Severity": "P0"}`))
	if err != nil {
		panic(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, strings.Contains(string(body), `"element":"Severity"`))
	// Output: 400 true
}
