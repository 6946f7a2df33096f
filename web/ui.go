package web

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/a-h/templ"

	"github.com/cardstop/cardstop/storage"
	"github.com/cardstop/cardstop/storage/auth"
	"github.com/cardstop/cardstop/storage/domain"
	"github.com/cardstop/cardstop/storage/domain/guid"
	"github.com/cardstop/cardstop/web/page"
)

//go:embed static
var staticFS embed.FS

// sessionCookie holds the session's secret; the server keeps only its hash.
const sessionCookie = "cardstop_session"

// pageCSP allows no inline script or style and no other origin.
const pageCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// pageStore is what the card, request and audit pages read and change.
type pageStore interface {
	Card(id guid.GUID) (storage.Smartcard, error)
	SearchCards(q storage.CardSearch) ([]storage.Smartcard, int, error)
	Requests(f storage.RequestFilter) ([]storage.Request, error)
	AuditPage(f storage.AuditFilter) ([]storage.Event, error)
	EachEvent(ctx context.Context, f storage.AuditFilter, fn func(storage.Event) error) error
	ApplyChanged(ctx context.Context, o domain.Origin, cmd domain.Command) (card storage.Smartcard, changed bool, err error)
}

// pageFunc is a page handler: it gets who is signed in, and returns an
// error for the error page, or nil once it has answered.
type pageFunc func(w http.ResponseWriter, r *http.Request, u *page.Session, o domain.Origin) error

func pageHeaders(h http.Header) {
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
}

// hostCheck refuses requests whose Host is not one of the server's own
// names: a DNS-rebinding page would otherwise be same-origin with us.
func (s *Server) hostCheck(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(s.opt.AllowedHosts) > 0 && !slices.Contains(s.opt.AllowedHosts, strings.ToLower(r.Host)) {
			s.log.Warn("refused a request for a foreign host name", "host", r.Host, "remote", remoteHost(r))
			s.render(w, r, http.StatusMisdirectedRequest, page.Message(nil, "Wrong address",
				"This station does not answer to the name "+r.Host+". Use its own address."))
			return
		}
		h.ServeHTTP(w, r)
	})
}

// guard adds the host check and refuses cross-origin form posts.
func (s *Server) guard(h http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.log.Warn("refused a cross-origin form post", "path", r.URL.Path, "origin", r.Header.Get("Origin"), "remote", remoteHost(r))
		s.render(w, r, http.StatusForbidden, page.Message(nil, "Refused",
			"This form was sent from another site. Open Cardstop's own page and try again."))
	}))
	return s.hostCheck(cop.Handler(h))
}

// pageHandler is a page that needs a session with at least role least,
// behind the host and cross-origin checks. Without a session a page is
// sent to the sign-in, and a live part of one (route.live) gets a 401.
func (s *Server) pageHandler(least domain.Role, h pageFunc, live bool) http.Handler {
	return s.guard(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, err := s.sessionUser(r)
		if errors.Is(err, http.ErrNoCookie) || errors.Is(err, domain.ErrNotFound) {
			if live {
				w.Header().Set("Cache-Control", "no-store")
				http.Error(w, "signed out: sign in again at /signin", http.StatusUnauthorized)
				return
			}
			http.Redirect(w, r, "/signin", http.StatusSeeOther)
			return
		}
		if err != nil {
			s.log.ErrorContext(r.Context(), "session", "correlation_id", correlationID(r.Context()).String(), "err", err)
			s.render(w, r, http.StatusInternalServerError, page.Message(nil, "Not done",
				"The session could not be read. Correlation id: "+correlationID(r.Context()).String()))
			return
		}
		sess := &page.Session{Name: u.Name, Role: u.Role}
		setActor(w, "user:"+u.Name)
		if !u.Role.Includes(least) {
			s.render(w, r, http.StatusForbidden, page.Message(sess, "Not allowed",
				"This needs the "+least.String()+" role; you have "+u.Role.String()+"."))
			return
		}
		o := domain.Origin{Actor: "user:" + u.Name, ActorUuid: u.Uuid, Role: u.Role, Source: remoteHost(r),
			CorrelationID: correlationID(r.Context())}
		if err := h(w, r, sess, o); err != nil {
			retryHeader(w, err)
			code, title, msg := failure(r, err)
			if code >= 500 {
				s.log.ErrorContext(r.Context(), "page failed", "correlation_id", o.CorrelationID.String(), "err", err)
				msg += " Correlation id: " + o.CorrelationID.String()
			}
			s.render(w, r, code, page.Message(sess, title, msg))
		}
	}))
}

// failure is the status, title and text of the page for a handler's
// error. A card that is not in the records is said plainly: the store's
// own words name it for the log, not for the person who followed a link.
func failure(r *http.Request, err error) (code int, title, msg string) {
	code, msg = statusOf(err)
	if code != http.StatusNotFound {
		return code, "Not done", msg
	}
	// On a card's routes the card is missing when its id is no GUID or the
	// store has no such record; an unknown action is another "not found".
	id := pathValue(r, "id")
	if strings.HasPrefix(r.Pattern, "GET /cards/{id}") || strings.HasPrefix(r.Pattern, "POST /cards/{id}") {
		if _, perr := guid.Parse(id); perr != nil || errors.Is(err, domain.ErrNotFound) {
			return code, "Card not found", "There is no card with the id " + clipQ(id) + ". Search for it on the cards page."
		}
	}
	return code, "Not found", msg
}

// notFound answers a path no route has, or a method it does not take,
// with the navigation when someone is signed in, so that a wrong link is
// not a dead end. path is the one asked for, which r may have lost a prefix of.
func (s *Server) notFound(w http.ResponseWriter, r *http.Request, code int, path string) {
	var sess *page.Session
	if u, err := s.sessionUser(r); err == nil {
		sess = &page.Session{Name: u.Name, Role: u.Role}
	}
	s.render(w, r, code, page.Message(sess, "Not found", "There is no page at "+path+"."))
}

func (s *Server) sessionUser(r *http.Request) (storage.User, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return storage.User{}, err
	}
	return s.creds.SessionUser(r.Context(), c.Value)
}

// render writes a component as a whole page or fragment, with code.
func (s *Server) render(w http.ResponseWriter, r *http.Request, code int, c templ.Component) {
	var buf bytes.Buffer
	if err := c.Render(r.Context(), &buf); err != nil {
		s.log.ErrorContext(r.Context(), "render", "err", err)
		code, buf = http.StatusInternalServerError, *bytes.NewBufferString("An error has occurred.")
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

// formValues reads a form body of at most MaxBody bytes.
func formValues(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
	if err := r.ParseForm(); err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return err
		}
		return &httpError{code: http.StatusBadRequest, msg: "the form could not be read"}
	}
	return nil
}

func (s *Server) signInPage(w http.ResponseWriter, r *http.Request) {
	if _, err := s.sessionUser(r); err == nil {
		http.Redirect(w, r, "/cards", http.StatusSeeOther)
		return
	}
	s.renderSignIn(w, r, http.StatusOK, "", "")
}

// renderSignIn shows the sign-in form, and how to make the first account
// while there is none. A store that cannot tell is logged and the hint
// left out: the form is still the way in.
func (s *Server) renderSignIn(w http.ResponseWriter, r *http.Request, code int, name, errMsg string) {
	exist, err := s.creds.HasUsers()
	if err != nil {
		s.log.WarnContext(r.Context(), "sign-in page: whether any account exists", "err", err)
		exist = true
	}
	s.render(w, r, code, page.SignIn(name, errMsg, !exist))
}

// signIn checks the form's name and password (the store limits the
// attempts and the password checks) and starts a session.
func (s *Server) signIn(w http.ResponseWriter, r *http.Request) {
	if err := formValues(w, r); err != nil {
		s.renderSignIn(w, r, http.StatusBadRequest, "", "The form could not be read.")
		return
	}
	name := r.PostFormValue("name")
	o := domain.Origin{Source: remoteHost(r), CorrelationID: correlationID(r.Context())}
	secret, _, err := s.creds.SignIn(r.Context(), o, name, r.PostFormValue("password"))
	if err != nil {
		retryHeader(w, err)
		var wait time.Duration
		if se := (*domain.Error)(nil); errors.As(err, &se) {
			wait = se.Wait
		}
		switch code, msg := statusOf(err); {
		case code == http.StatusUnauthorized:
			s.renderSignIn(w, r, code, name, "Wrong user name or password.")
		case code == http.StatusTooManyRequests:
			s.renderSignIn(w, r, code, name, "Too many failed sign-ins for this name or from this address. Try again in "+inSeconds(wait)+".")
		case errors.Is(err, storage.ErrBusy):
			s.log.WarnContext(r.Context(), "sign-in refused: "+msg, "remote", o.Source)
			s.renderSignIn(w, r, code, name, "Too many sign-ins at once. Try again in "+inSeconds(wait)+".")
		default:
			s.log.ErrorContext(r.Context(), "sign in", "correlation_id", o.CorrelationID.String(), "err", err)
			s.renderSignIn(w, r, code, name, "Signing in failed. Try again.")
		}
		return
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: secret, Path: "/", HttpOnly: true,
		Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode, MaxAge: int(auth.SessionAbsolute / time.Second)})
	http.Redirect(w, r, "/cards", http.StatusSeeOther)
}

// inSeconds is a wait in whole seconds, rounded up, for a person to read.
func inSeconds(wait time.Duration) string {
	if n := retryAfter(wait); n != "1" {
		return n + " seconds"
	}
	return "1 second"
}

func (s *Server) signOut(w http.ResponseWriter, r *http.Request, _ *page.Session, o domain.Origin) error {
	if c, err := r.Cookie(sessionCookie); err == nil {
		if err := s.creds.SignOut(r.Context(), o, c.Value); err != nil {
			return err
		}
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", HttpOnly: true, Secure: r.TLS != nil,
		SameSite: http.SameSiteStrictMode, MaxAge: -1})
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
	return nil
}

// DefaultAllowedHosts are the names a server on listen answers to: its
// address (unless it is the wildcard), localhost on loopback, and names,
// each with the port.
func DefaultAllowedHosts(listen string, names ...string) []string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return nil
	}
	var out []string
	add := func(h string) {
		hp := strings.ToLower(net.JoinHostPort(h, port))
		if !slices.Contains(out, hp) {
			out = append(out, hp)
		}
		if port == "80" || port == "443" {
			out = append(out, strings.ToLower(h))
		}
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsUnspecified() {
		add(host)
	}
	if ip != nil && ip.IsLoopback() {
		add("localhost")
		add("127.0.0.1")
	}
	for _, n := range names {
		add(n)
	}
	return out
}
