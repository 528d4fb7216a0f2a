package centercode

import (
	"net/url"
	"strings"
)

// Redacted replaces secret values in URLs and messages.
const Redacted = "REDACTED"

// sensitiveNameParts mark a query parameter as secret when its lower-cased name
// (letters and digits only) contains one of them.
var sensitiveNameParts = []string{"apikey", "key", "token", "secret", "sig", "password", "passwd", "pwd", "auth", "credential", "session"}

func sensitiveName(name string) bool {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		}
	}
	n := b.String()
	for _, p := range sensitiveNameParts {
		if strings.Contains(n, p) {
			return true
		}
	}
	return false
}

// tokenLike reports whether v looks like a credential: at least 16 characters from a
// token alphabet, with both letters and digits.
func tokenLike(v string) bool {
	if len(v) < 16 {
		return false
	}
	letter, digit := false, false
	for _, r := range v {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
			letter = true
		case r >= '0' && r <= '9':
			digit = true
		case strings.ContainsRune("-._~+/=%", r):
		default:
			return false
		}
	}
	return letter && digit
}

// RedactURL returns raw with every secret removed: the value of apiKey and of any query
// parameter whose name looks secret (key, token, secret, sig, password, auth, ...) or
// whose value looks like a token, a userinfo password and a fragment carrying
// parameters, each replaced by REDACTED. A string that does not parse as a URL keeps
// only what comes before its query. Use it for every URL that reaches a log or an error.
func RedactURL(raw string) string {
	redacted, _ := redact(raw)
	return redacted
}

// redact returns the redacted URL and the secret values it removed (raw and unescaped),
// so that the same values can be scrubbed from other text (error bodies, messages).
func redact(raw string) (string, []string) {
	u, err := url.Parse(raw)
	if err != nil {
		cut := strings.IndexAny(raw, "?#")
		if cut < 0 {
			return raw, nil
		}
		return raw[:cut] + "?" + Redacted, fallbackSecrets(raw[cut+1:])
	}
	var secrets []string
	if u.User != nil {
		if p, ok := u.User.Password(); ok {
			secrets = append(secrets, p)
			u.User = url.UserPassword(u.User.Username(), Redacted)
		}
	}
	if u.RawQuery != "" {
		var q []string
		q, secrets = redactQuery(u.RawQuery, secrets)
		u.RawQuery = strings.Join(q, "&")
		u.ForceQuery = false
	}
	if u.Fragment != "" && strings.Contains(u.Fragment, "=") {
		secrets = append(secrets, u.Fragment)
		u.Fragment = Redacted
		u.RawFragment = ""
	}
	return u.String(), secrets
}

func redactQuery(rawQuery string, secrets []string) ([]string, []string) {
	parts := strings.Split(rawQuery, "&")
	for i, p := range parts {
		name, val, hasVal := strings.Cut(p, "=")
		if !hasVal || val == "" {
			continue
		}
		uname, err := url.QueryUnescape(name)
		if err != nil {
			uname = name
		}
		uval, err := url.QueryUnescape(val)
		if err != nil {
			uval = val
		}
		if sensitiveName(uname) || tokenLike(uval) {
			secrets = append(secrets, val)
			if uval != val {
				secrets = append(secrets, uval)
			}
			parts[i] = name + "=" + Redacted
		}
	}
	return parts, secrets
}

func fallbackSecrets(rawQuery string) []string {
	var out []string
	for _, p := range strings.FieldsFunc(rawQuery, func(r rune) bool { return r == '&' || r == '#' || r == ';' }) {
		if _, val, ok := strings.Cut(p, "="); ok && val != "" {
			out = append(out, val)
			if u, err := url.QueryUnescape(val); err == nil && u != val {
				out = append(out, u)
			}
		}
	}
	return out
}

// minSecretLen: shorter values are not scrubbed from free text (they would mangle it).
const minSecretLen = 4

// scrub replaces every secret in s with REDACTED.
func scrub(s string, secrets []string) string {
	for _, sec := range secrets {
		if len(sec) >= minSecretLen {
			s = strings.ReplaceAll(s, sec, Redacted)
		}
	}
	return s
}
