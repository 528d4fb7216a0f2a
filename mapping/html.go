package mapping

import (
	"strings"
	"sync"

	"github.com/microcosm-cc/bluemonday"
	"golang.org/x/net/html"
)

// htmlToText turns an Aha! rich-text body into plain text: block elements
// (paragraphs, headings, list items, table rows, <br>) become lines, list
// items get "- ", entities are decoded, runs of spaces collapse, and script
// and style content is dropped.
// HTMLText is the plain text of Aha! HTML, as the html_to_text transform
// gives it (for comparing bodies Aha! may have rewritten).
func HTMLText(s string) string { return htmlToText(s) }

func htmlToText(s string) string {
	if !strings.ContainsAny(s, "<&") {
		return s
	}
	z := html.NewTokenizer(strings.NewReader(s))
	var b strings.Builder
	b.Grow(len(s))
	lineStart := true // nothing written on the current line yet
	pendingSpace := false
	skipDepth := 0
	pre := 0
	newline := func() {
		if b.Len() > 0 && !lineStart {
			b.WriteByte('\n')
		}
		lineStart = true
		pendingSpace = false
	}
	for {
		switch z.Next() {
		case html.ErrorToken:
			return strings.TrimSpace(b.String())
		case html.TextToken:
			if skipDepth > 0 {
				continue
			}
			text := z.Text()
			if pre > 0 {
				b.Write(text)
				lineStart = len(text) > 0 && text[len(text)-1] == '\n'
				continue
			}
			if len(text) > 0 && isSpace(text[0]) {
				pendingSpace = true // separates from the previous inline text
			}
			fields := strings.Fields(string(text))
			for _, f := range fields {
				if pendingSpace && !lineStart {
					b.WriteByte(' ')
				}
				b.WriteString(f)
				lineStart, pendingSpace = false, true
			}
			if len(fields) > 0 {
				pendingSpace = isSpace(text[len(text)-1])
			}
		case html.StartTagToken, html.SelfClosingTagToken, html.EndTagToken:
			tt := z.Token()
			name := tt.Data
			start := tt.Type != html.EndTagToken
			switch name {
			case "script", "style", "head", "title":
				if tt.Type == html.StartTagToken {
					skipDepth++
				} else if tt.Type == html.EndTagToken && skipDepth > 0 {
					skipDepth--
				}
			case "pre":
				newline()
				if tt.Type == html.StartTagToken {
					pre++
				} else if tt.Type == html.EndTagToken && pre > 0 {
					pre--
				}
			case "br":
				if b.Len() > 0 {
					b.WriteByte('\n')
				}
				lineStart, pendingSpace = true, false
			case "li":
				newline()
				if start {
					b.WriteString("- ")
					lineStart = true
				}
			case "p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "tr", "table",
				"blockquote", "hr", "section", "article", "header", "footer", "dl", "dt", "dd", "figure":
				newline()
			case "td", "th":
				if start && !lineStart {
					b.WriteString(" | ")
					pendingSpace = false
				}
			}
		}
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' }

var ugcPolicy = sync.OnceValue(func() *bluemonday.Policy {
	p := bluemonday.UGCPolicy()
	p.RequireNoFollowOnLinks(true)
	return p
})

// sanitizeHTML keeps safe formatting HTML (an allow-list; scripts, styles,
// event handlers and javascript: links are removed).
func sanitizeHTML(s string) string {
	if !strings.ContainsAny(s, "<&") {
		return s
	}
	return ugcPolicy().Sanitize(s)
}
