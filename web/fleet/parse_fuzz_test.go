package fleet

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzRequestID: the upstream's answer to POST /requests, whatever it
// is, gives a request id or an error, and an id only when the answer is
// a URI ending in it.
func FuzzRequestID(f *testing.F) {
	for _, seed := range []string{
		`"https://cm.example/CertificateManagement/api/v1.0/requests/0b6b1b49-35d4-4a48-9fa2-3c2b1c7c6b2e"`,
		`"/requests/{0B6B1B49-35D4-4A48-9FA2-3C2B1C7C6B2E}"`,
		`"0b6b1b49-35d4-4a48-9fa2-3c2b1c7c6b2e"`,
		`"https://cm.example/requests/"`,
		`{"id":"0b6b1b49-35d4-4a48-9fa2-3c2b1c7c6b2e"}`,
		`"\u0000"`, `null`, ``, `"`, `<html>`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		id, err := requestID(body)
		if err != nil {
			if !id.IsNil() {
				t.Errorf("requestID(%q) = %s with the error %v", body, id, err)
			}
			return
		}
		if id.IsNil() && !strings.Contains(string(body), "00000000") {
			t.Errorf("requestID(%q) = the nil id", body)
		}
		again, err := requestID([]byte(`"https://cm.example/requests/` + id.String() + `"`))
		if err != nil || again != id {
			t.Errorf("requestID of %s's own URI = %s, %v", id, again, err)
		}
	})
}

// FuzzFailure: any answer that is not a success, with any Retry-After,
// reads as a Failure with its code, a short message and a pause that is
// never negative.
func FuzzFailure(f *testing.F) {
	for _, seed := range []struct {
		code       int
		retryAfter string
		body       string
	}{
		{503, "120", `{"Message":"down for maintenance"}`},
		{429, "Wed, 21 Oct 2015 07:28:00 GMT", "slow down"},
		{409, "", `{"Message":""}`},
		{500, "-1", "x" + strings.Repeat("é", 400)},
		{503, "99999999999", ""},
		{401, "1e3", `{"message":"token expired"}`},
	} {
		f.Add(seed.code, seed.retryAfter, []byte(seed.body))
	}
	f.Fuzz(func(t *testing.T, code int, retryAfter string, answer []byte) {
		resp := &http.Response{StatusCode: code, Header: http.Header{"Retry-After": {retryAfter}}}
		fail := failure(resp, answer)
		if fail.Code != code {
			t.Errorf("code %d, want %d", fail.Code, code)
		}
		if fail.RetryAfter < 0 || fail.RetryAfter > maxRetryAfter {
			t.Errorf("Retry-After %q read as %v", retryAfter, fail.RetryAfter)
		}
		if len(fail.Msg) > 300 {
			t.Errorf("a message of %d bytes", len(fail.Msg))
		}
		if utf8.Valid(answer) && !utf8.ValidString(fail.Msg) {
			t.Errorf("the message %q of a UTF-8 answer is not UTF-8", fail.Msg)
		}
		if fail.Error() == "" {
			t.Error("an empty error")
		}
	})
}

// FuzzReadWebhookSecret: any secret file gives a key or an error.
func FuzzReadWebhookSecret(f *testing.F) {
	for _, seed := range []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_", "whsec_%%", "plain secret text\n", ""} {
		f.Add([]byte(seed))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		file := filepath.Join(dir, "secret")
		if err := os.WriteFile(file, data, 0o600); err != nil {
			t.Fatal(err)
		}
		key, err := ReadWebhookSecret(file)
		if err != nil {
			if !strings.Contains(err.Error(), "whsec_") {
				t.Errorf("error %v", err)
			}
			return
		}
		if !strings.HasPrefix(strings.TrimSpace(string(data)), "whsec_") && string(key) != strings.TrimSpace(string(data)) {
			t.Errorf("the text %q read as %q", data, key)
		}
	})
}

// TestRetryAfterDate: Retry-After may be an HTTP date.
func TestRetryAfterDate(t *testing.T) {
	at := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	fail := failure(&http.Response{StatusCode: 503, Header: http.Header{"Retry-After": {at}}}, nil)
	if fail.RetryAfter < 60*time.Second || fail.RetryAfter > 90*time.Second {
		t.Errorf("Retry-After %s read as %v, want about 90 s", at, fail.RetryAfter)
	}
}
