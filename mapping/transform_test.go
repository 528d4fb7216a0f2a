package mapping

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// mapOne loads a config whose "bugs" type has the given elements and maps record.
func mapOne(t *testing.T, elements, record string) (*Result, error) {
	t.Helper()
	cfg, err := loadString(t, minimal(elements))
	require.NoError(t, err)
	return cfg.FeedbackType("bugs").Map([]byte(record))
}

func TestTransforms(t *testing.T) {
	tests := []struct {
		name    string
		element string // YAML of one element named X (indented by 8)
		record  string
		want    any // value of X in the body; nil means omitted
	}{
		{"html_to_text paragraphs and lists", "path: $.v\n        transforms: [html_to_text]",
			`{"v": "<h1>Title</h1><p>One &amp; two&nbsp;three</p><ul><li>a</li><li><b>b</b> c</li></ul><p>x<br>y</p>"}`, "Title\nOne & two three\n- a\n- b c\nx\ny"},
		{"html_to_text drops scripts", "path: $.v\n        transforms: [html_to_text]", `{"v": "<p>hi</p><script>alert(1)</script><style>p{}</style>"}`, "hi"},
		{"html_to_text plain text untouched", "path: $.v\n        transforms: [html_to_text]", `{"v": "just text"}`, "just text"},
		{"html_to_text entities only", "path: $.v\n        transforms: [html_to_text]", `{"v": "A &rarr; B"}`, "A → B"},
		{"html_to_text tables and pre", "path: $.v\n        transforms: [html_to_text]", `{"v": "<table><tr><td>a</td><td>b</td></tr></table><pre>x  y</pre>"}`, "a | b\nx  y"},
		{"sanitize_html", "path: $.v\n        transforms: [sanitize_html]", `{"v": "<p onclick=\"x()\">ok <a href=\"javascript:x()\">l</a><script>bad()</script></p>"}`, "<p>ok l</p>"},
		{"trim", "path: $.v\n        transforms: [trim]", `{"v": "  a b \n"}`, "a b"},
		{"trim to empty is no value", "path: $.v\n        transforms: [trim]", `{"v": "   "}`, nil},
		{"lower", "path: $.v\n        transforms: [lower]", `{"v": "AbC"}`, "abc"},
		{"upper", "path: $.v\n        transforms: [upper]", `{"v": "AbC"}`, "ABC"},
		{"truncate counts characters", "path: $.v\n        transforms: [{truncate: 3}]", `{"v": "héllo"}`, "hél"},
		{"truncate short", "path: $.v\n        transforms: [{truncate: 10}]", `{"v": "abc"}`, "abc"},
		{"join default", "path: $.v\n        transforms: [join]", `{"v": ["a", "b", 3]}`, "a, b, 3"},
		{"join custom", "path: $.v[*].n\n        transforms: [{join: \" / \"}]", `{"v": [{"n": "a"}, {"n": "b"}]}`, "a / b"},
		{"join nothing", "path: $.v\n        transforms: [join]", `{"v": []}`, nil},
		{"first", "path: $.v\n        transforms: [first]", `{"v": ["a", "b"]}`, "a"},
		{"map hit", "path: $.v\n        map: {P1: Critical}", `{"v": "P1"}`, "Critical"},
		{"map miss keeps value", "path: $.v\n        map: {P1: Critical}", `{"v": "P9"}`, "P9"},
		{"map fallback", "path: $.v\n        map: {P1: Critical}\n        fallback: Minor", `{"v": "P9"}`, "Minor"},
		{"map in transforms, numbers as keys", "path: $.v\n        transforms: [{map: {\"1\": one}, fallback: many}]", `{"v": 1}`, "one"},
		{"map each value", "path: $.v\n        transforms: [{map: {a: A, b: B}}, join]", `{"v": ["a", "b"]}`, "A, B"},
		{"template", "transforms: [{template: \"{{ $.ref }}: {{ $.name }}\"}]", `{"ref": "PRJ1-I-1", "name": "Idea"}`, "PRJ1-I-1: Idea"},
		{"template current value and lists", "path: $.v\n        transforms: [upper, {template: \"<{{ . }}> {{ $.tags }}\"}]", `{"v": "x", "tags": ["a", "b"]}`, "<X> a, b"},
		{"template all empty is no value", "transforms: [{template: \"{{ $.a }} {{ $.b }}\"}]", `{}`, nil},
		{"date_format strftime", "path: $.v\n        transforms: [{date_format: \"%d/%m/%Y %H:%M\"}]", `{"v": "2019-03-04T05:06:07.000Z"}`, "04/03/2019 05:06"},
		{"date_format Go layout, UTC", "path: $.v\n        transforms: [{date_format: \"2006-01-02 15:04\"}]", `{"v": "2019-03-04T05:06:07+02:00"}`, "2019-03-04 03:06"},
		{"date_format named", "path: $.v\n        transforms: [{date_format: datetime}]", `{"v": "2019-03-04"}`, "2019-03-04T00:00:00Z"},
		{"date_format epoch", "path: $.v\n        transforms: [{date_format: date}]", `{"v": 1551675967}`, "2019-03-04"},
		{"order matters", "path: $.v\n        transforms: [html_to_text, trim, upper, {truncate: 4}]", `{"v": "<p> hello </p>"}`, "HELL"},
		{"path list: first that yields", "path: [$.a, $.b, $.c]", `{"b": "bee", "c": "sea"}`, "bee"},
		{"null is no value", "path: $.v", `{"v": null}`, nil},
		{"bracket path", "path: \"$['a b'].c\"", `{"a b": {"c": "x"}}`, "x"},
		{"negative index", "path: $.v[-1]", `{"v": [1, 2, 3]}`, "3"},
		{"filter on number", "path: $.v[?(@.id == 2)].n", `{"v": [{"id": 1, "n": "a"}, {"id": 2, "n": "b"}]}`, "b"},
		{"general path via ojg", "path: $.v[1:3]\n        transforms: [join]", `{"v": ["a", "b", "c", "d"]}`, "b, c"},
		{"descent via ojg", "path: $..email\n        transforms: [first]", `{"a": {"b": {"email": "x@y.z"}}}`, "x@y.z"},
		{"wildcard over an object", "path: $.v.*\n        transforms: [join]", `{"v": {"b": 2, "a": 1}}`, "1, 2"},
		{"escaped keys and strings", "path: $.v", `{"\u0076": "a\"b\u00e9\ud83d\ude00\n"}`, "a\"bé😀\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := mapOne(t, "      X:\n        "+tt.element+"\n", tt.record)
			require.NoError(t, err)
			if tt.want == nil {
				assert.NotContains(t, res.Body, "X")
				return
			}
			assert.Equal(t, tt.want, res.Body["X"])
		})
	}
}

func TestKinds(t *testing.T) {
	tests := []struct {
		name    string
		element string
		record  string
		want    any    // body value when no error
		code    string // expected problem code
		msg     string // expected message
	}{
		{name: "text from number", element: "path: $.v", record: `{"v": 12}`, want: "12"},
		{name: "text from float", element: "path: $.v", record: `{"v": 1.5}`, want: "1.5"},
		{name: "text from bool", element: "path: $.v", record: `{"v": true}`, want: "true"},
		{name: "text from object", element: "path: $.v", record: `{"v": {"body": "x"}}`, code: CodeInvalidValue,
			msg: `X: $.v gave an object, not text (feedback type "bugs"); point the path at a field inside it`},
		{name: "many values for one", element: "path: $.v", record: `{"v": ["a", "b"]}`, code: CodeInvalidValue,
			msg: `X: $.v gave 2 values but the element takes one (feedback type "bugs"); add the first or join transform, or fan out with "{n}" in the name`},
		{name: "number", element: "path: $.v\n        kind: number", record: `{"v": 15}`, want: int64(15)},
		{name: "number from text", element: "path: $.v\n        kind: number", record: `{"v": " 55000.0 "}`, want: int64(55000)},
		{name: "number fraction", element: "path: $.v\n        kind: number", record: `{"v": "2.5"}`, want: 2.5},
		{name: "not a number", element: "path: $.v\n        kind: number", record: `{"v": "lots"}`, code: CodeInvalidValue,
			msg: `X: "lots" is not a number (feedback type "bugs")`},
		{name: "email", element: "path: $.v\n        kind: email", record: `{"v": "a.b@example.com"}`, want: "a.b@example.com"},
		{name: "bad email", element: "path: $.v\n        kind: email", record: `{"v": "John <j@x.com>"}`, code: CodeInvalidValue,
			msg: `X: "John <j@x.com>" is not an email address (feedback type "bugs")`},
		{name: "email without domain dot", element: "path: $.v\n        kind: email", record: `{"v": "a@b"}`, code: CodeInvalidValue},
		{name: "attachment", element: "path: $.v\n        kind: attachment", record: `{"v": "https://x.aha.io/a.png"}`, want: "https://x.aha.io/a.png"},
		{name: "attachment must be a URL", element: "path: $.v\n        kind: attachment", record: `{"v": "/a.png"}`, code: CodeInvalidValue,
			msg: `X: "/a.png" is not an absolute http(s) URL (feedback type "bugs")`},
		{name: "date defaults to a day", element: "path: $.v\n        kind: date", record: `{"v": "2019-01-01T23:00:00.000Z"}`, want: "2019-01-01"},
		{name: "bad date", element: "path: $.v\n        kind: date", record: `{"v": "yesterday"}`, code: CodeInvalidValue,
			msg: `X: "yesterday" is not a date (feedback type "bugs"); expected e.g. 2019-01-01T00:00:00Z or 2019-01-01`},
		{name: "rating", element: "path: $.v\n        kind: rating\n        scale: 10", record: `{"v": 7}`, want: int64(7)},
		{name: "rating out of scale", element: "path: $.v\n        kind: rating", record: `{"v": 6}`, code: CodeInvalidValue,
			msg: `X: "6" is not a rating from 1 to 5 (feedback type "bugs")`},
		{name: "choice", element: "path: $.v\n        kind: choice\n        options: [Critical, Major]", record: `{"v": "Major"}`, want: "Major"},
		{name: "choice after map", element: "path: $.v\n        kind: choice\n        options: [Critical, Major, Minor, Trivial]\n        map: {P1: Critical, P2: Major, P3: Minor, P4: Trivial}",
			record: `{"v": "P1"}`, want: "Critical"},
		{name: "choice not among options", element: "path: $.v\n        kind: choice\n        options: [Critical, Major, Minor, Trivial]\n        map: {P1: Critical, P2: Major, P3: Minor, P4: Trivial}",
			record: `{"v": "P0"}`, code: CodeInvalidChoice,
			msg: `X: "P0" is not one of Critical, Major, Minor, Trivial (feedback type "bugs"); add it to map: or change the options`},
		{name: "choice is case-sensitive", element: "path: $.v\n        kind: choice\n        options: [Major]", record: `{"v": "major"}`, code: CodeInvalidChoice},
		{name: "multi choice", element: "path: $.v\n        kind: multi_choice\n        options: [web, ios, android]", record: `{"v": ["web", "ios"]}`, want: []any{"web", "ios"}},
		{name: "multi choice checks each", element: "path: $.v\n        kind: multi_choice\n        options: [web, ios]", record: `{"v": ["web", "tv"]}`, code: CodeInvalidChoice,
			msg: `X: "tv" is not one of web, ios (feedback type "bugs"); add it to map: or change the options`},
		{name: "required missing", element: "path: $.v\n        required: true", record: `{}`, code: CodeMissingRequired,
			msg: `X: required, but $.v gave no value (feedback type "bugs"); fix the path or set a default`},
		{name: "required empty text", element: "path: $.v\n        required: true", record: `{"v": ""}`, code: CodeMissingRequired},
		{name: "default", element: "path: $.v\n        required: true\n        default: none", record: `{}`, want: "none"},
		{name: "number default", element: "path: $.v\n        kind: number\n        default: 0", record: `{}`, want: int64(0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := mapOne(t, "      X:\n        "+tt.element+"\n", tt.record)
			if tt.code == "" {
				require.NoError(t, err)
				assert.Equal(t, tt.want, res.Body["X"])
				return
			}
			var ve *ValidationError
			require.ErrorAs(t, err, &ve)
			assert.True(t, IsPermanent(fmt.Errorf("wrapped: %w", err)))
			require.Len(t, ve.Problems, 1)
			assert.Equal(t, tt.code, ve.Code())
			assert.Equal(t, "X", ve.Problems[0].Element)
			if tt.msg != "" {
				assert.Equal(t, tt.msg, ve.Problems[0].Message)
				assert.Equal(t, tt.msg, err.Error())
			}
			require.NotNil(t, res, "the partial result comes back for diagnostics")
			assert.NotContains(t, res.Body, "X")
		})
	}
}

func TestFanOutAndIndexed(t *testing.T) {
	elements := "      \"Attachment {n}\":\n        path: $.files[*].url\n        kind: attachment\n        max: 2\n" +
		"      \"Shot {n} (png)\": $.shots\n" +
		"      \"$['Image Attachments'][0]\": $.images[0]\n" +
		"      \"$['Image Attachments'][2]\": $.images[2]\n"
	res, err := mapOne(t, elements, `{"files": [{"url": "https://a/1"}, {"url": "https://a/2"}, {"url": "https://a/3"}], "shots": ["s1"], "images": ["i0", "i1", "i2"]}`)
	require.NoError(t, err)
	assert.Equal(t, map[string]any{
		"Attachment 1": "https://a/1", "Attachment 2": "https://a/2",
		"Shot 1 (png)":      "s1",
		"Image Attachments": []any{"i0", nil, "i2"},
	}, res.Body)
	assert.JSONEq(t, `{"Attachment 1":"https://a/1","Attachment 2":"https://a/2","Image Attachments":["i0",null,"i2"],"Shot 1 (png)":"s1"}`, string(res.JSON))
	var notes []string
	for _, p := range res.Provenance {
		notes = append(notes, p.Element+": "+p.Note)
	}
	assert.Contains(t, notes, "Attachment 1: fan-out 1 of 3")
	assert.Contains(t, notes, "Attachment {n}: 1 more value(s) dropped: max is 2")

	_, err = mapOne(t, elements, `{"files": [{"url": "https://a/1"}, {"url": "nope"}]}`)
	var ve *ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "Attachment 2", ve.Problems[0].Element)
	assert.Equal(t, `Attachment 2: "nope" is not an absolute http(s) URL (feedback type "bugs")`, ve.Problems[0].Message)
}

func TestResult(t *testing.T) {
	cfg := loadExample(t)
	bugs := cfg.FeedbackType("bugs")
	rec := `{"name": "Idea", "reference_num": "PRJ1-I-1", "tags": ["b", "a"], "votes": 3, "description": {"body": "<p>x</p>"}}`
	r1, err := bugs.Map([]byte(rec))
	require.NoError(t, err)
	// Same content, different key order and spacing: same body, same hash.
	r2, err := bugs.Map([]byte(`{ "votes":3, "description":{"body":"<p>x</p>"}, "tags":["b","a"], "reference_num":"PRJ1-I-1", "name":"Idea" }`))
	require.NoError(t, err)
	assert.Equal(t, r1.Hash, r2.Hash)
	assert.Equal(t, r1.JSON, r2.JSON)
	assert.Equal(t, "PRJ1-I-1", r1.Reference)
	assert.Equal(t, `{"Aha Reference":"PRJ1-I-1","Aha Summary":"PRJ1-I-1: Idea","Description":"x","Severity":"Minor","Tags":"b, a","Title":"Idea","Votes":3}`, string(r1.JSON))
	var back map[string]any
	require.NoError(t, json.Unmarshal(r1.JSON, &back))
	assert.Len(t, back, len(r1.Body))
	r3, err := bugs.Map([]byte(strings.Replace(rec, `"votes": 3`, `"votes": 4`, 1)))
	require.NoError(t, err)
	assert.NotEqual(t, r1.Hash, r3.Hash)

	// Provenance: every element, in config order, with raw and mapped values.
	require.Len(t, r1.Provenance, len(bugs.Elements()))
	assert.Equal(t, Provenance{Element: "Description", Path: "$.description.body", Raw: "<p>x</p>", Value: "x"}, r1.Provenance[1])
	assert.Equal(t, Provenance{Element: "Tags", Path: "$.tags", Raw: []any{"b", "a"}, Value: "b, a"}, r1.Provenance[6])

	// Decoded records map the same as JSON.
	var v any
	require.NoError(t, json.Unmarshal([]byte(rec), &v))
	r4, err := bugs.MapValue(v)
	require.NoError(t, err)
	assert.Equal(t, r1.JSON, r4.JSON)
}

func TestRecordErrors(t *testing.T) {
	bugs := loadExample(t).FeedbackType("bugs")
	for _, rec := range []string{``, `{`, `[]`, `"x"`, `{"name": "a"} trailing`, `{"a": tru}`, `{"a": 01}`, `{"a": "\x01"}`, `{"a": "\q"}`, `{"a" 1}`} {
		_, err := bugs.Map([]byte(rec))
		var ve *ValidationError
		require.ErrorAs(t, err, &ve, "record %q", rec)
		assert.Equal(t, CodeInvalidRecord, ve.Code(), "record %q", rec)
	}
	_, err := bugs.MapValue([]any{})
	assert.ErrorContains(t, err, `record must be a JSON object (feedback type "bugs")`)
	assert.False(t, IsPermanent(fmt.Errorf("other")))
}

func TestMacroAndUserData(t *testing.T) {
	cfg := loadExample(t)
	push := cfg.Macro("push-to-aha")
	res, err := push.Map([]byte(`{"feedbackId": 4711, "title": " Crash ", "description": "<p>It <script>x</script>crashes</p>", "tags": ["a", "b"], "severity": "Critical", "submitterEmail": "t@example.com"}`))
	require.NoError(t, err)
	assert.Equal(t, "4711", res.Reference)
	assert.Equal(t, map[string]any{
		"name": "Crash", "description": "<p>It crashes</p>", "tags": "a,b", "created_by": "t@example.com",
		"custom_fields": map[string]any{"severity": "P1", "centercode_feedback_id": "4711"}, // text kind
	}, res.Body)

	_, err = push.Map([]byte(`{"title": ""}`))
	var ve *ValidationError
	require.ErrorAs(t, err, &ve)
	var msgs []string
	for _, p := range ve.Problems {
		msgs = append(msgs, p.Message)
	}
	assert.Equal(t, []string{
		`feedbackId: the body has no "feedbackId" (macro "push-to-aha"); add it to the webhook macro's body template`,
		`title: the body has no "title" (macro "push-to-aha"); add it to the webhook macro's body template`,
		`name: required, but $.title gave no value (macro "push-to-aha"); fix the path or set a default`,
		`feedback id: required, but $.feedbackId gave no value (macro "push-to-aha"); fix the path or set a default`,
	}, msgs)

	comment, err := cfg.Macro("comment-to-aha").Map([]byte(`{"feedbackId": "9", "comment": "Looks <b>good</b>"}`))
	require.NoError(t, err)
	assert.Equal(t, "<p>Looks <b>good</b></p><p>(from Centercode feedback 9)</p>", comment.Body["body"])

	ud, err := cfg.UserData.Map([]byte(`{"email": "j@long.com", "name": "John", "idea_organizations": [{"name": "Acme", "revenue": "55000.0", "email_domains": "acme.com, acme.io"}, {"name": "Beta"}]}`))
	require.NoError(t, err)
	assert.Equal(t, "j@long.com", ud.Reference)
	assert.Equal(t, map[string]any{"email": "j@long.com", "aha_name": "John", "company": "Acme, Beta", "company_revenue": int64(55000), "email_domains": "acme.com, acme.io"}, ud.Body)

	_, err = cfg.UserData.Map([]byte(`{"name": "Acme", "email_domains": "acme.com"}`))
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, CodeMissingRequired, ve.Code())
	assert.Equal(t, `email: required, but $.email gave no value (user data); fix the path or set a default`, ve.Error())
}

func TestConcurrentUse(t *testing.T) {
	bugs := loadExample(t).FeedbackType("bugs")
	recs := openAPIRecords(t)
	want := map[int]string{}
	for i, r := range recs {
		if r.Kind == KindIdea {
			res, err := bugs.Map(r.JSON)
			require.NoError(t, err)
			want[i] = res.Hash
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			for range 20 {
				for i, h := range want {
					res, err := bugs.Map(recs[i].JSON)
					if err != nil || res.Hash != h {
						errs <- fmt.Errorf("record %s: %v (hash %v)", recs[i].Name, err, res)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
