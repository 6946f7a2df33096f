package web

import (
	"context"
	"net/http"
	"slices"

	"github.com/cardstop/cardstop/storage"
	"github.com/cardstop/cardstop/storage/domain"
	"github.com/cardstop/cardstop/web/page"
)

// adminStore is what the admin pages read and change: API tokens and users.
type adminStore interface {
	Tokens() ([]storage.Token, error)
	CreateToken(ctx context.Context, o domain.Origin, name string, role domain.Role) (string, storage.Token, error)
	RevokeToken(ctx context.Context, o domain.Origin, name string) error
	Users() ([]storage.User, error)
	AddUser(ctx context.Context, o domain.Origin, name string, role domain.Role, password string) error
	RemoveUser(ctx context.Context, o domain.Origin, name string) error
}

func (s *Server) tokensView(v page.TokensView) (page.TokensView, error) {
	tokens, err := s.admin.Tokens()
	v.Tokens = views(tokens, tokenView)
	return v, err
}

func (s *Server) tokensPage(w http.ResponseWriter, r *http.Request, u *page.Session, _ domain.Origin) error {
	v, err := s.tokensView(page.TokensView{})
	if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, page.Tokens(u, v))
	return nil
}

// showAdminResult renders an admin page after a change: the refusal's
// message and code, or the page as it is now.
func (s *Server) showAdminResult(w http.ResponseWriter, r *http.Request, err error, show func(code int, msg string) error) error {
	if err == nil {
		return show(http.StatusOK, "")
	}
	code, msg := statusOf(err)
	if code >= 500 {
		return err
	}
	return show(code, msg)
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request, u *page.Session, o domain.Origin) error {
	if err := formValues(w, r); err != nil {
		return err
	}
	name := r.PostFormValue("name")
	var secret string
	role, err := domain.ParseRole(r.PostFormValue("role"))
	if err == nil {
		secret, _, err = s.admin.CreateToken(r.Context(), o, name, role)
	}
	return s.showAdminResult(w, r, err, func(code int, msg string) error {
		v, err := s.tokensView(page.TokensView{Error: msg})
		if code == http.StatusOK {
			v.NewName, v.NewSecret = name, secret
		}
		if err != nil {
			return err
		}
		s.render(w, r, code, page.Tokens(u, v))
		return nil
	})
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request, u *page.Session, o domain.Origin) error {
	if err := formValues(w, r); err != nil {
		return err
	}
	err := s.admin.RevokeToken(r.Context(), o, r.PostFormValue("name"))
	return s.showAdminResult(w, r, err, func(code int, msg string) error {
		if code == http.StatusOK {
			http.Redirect(w, r, "/admin/tokens", http.StatusSeeOther)
			return nil
		}
		v, err := s.tokensView(page.TokensView{Error: msg})
		if err != nil {
			return err
		}
		s.render(w, r, code, page.Tokens(u, v))
		return nil
	})
}

func (s *Server) usersPage(w http.ResponseWriter, r *http.Request, u *page.Session, _ domain.Origin) error {
	return s.renderUsers(w, r, u, http.StatusOK, page.UsersView{})
}

func (s *Server) renderUsers(w http.ResponseWriter, r *http.Request, u *page.Session, code int, v page.UsersView) error {
	users, err := s.admin.Users()
	if err != nil {
		return err
	}
	v.Users = views(users, userView)
	s.render(w, r, code, page.Users(u, v))
	return nil
}

func (s *Server) addUser(w http.ResponseWriter, r *http.Request, u *page.Session, o domain.Origin) error {
	if err := formValues(w, r); err != nil {
		return err
	}
	name := r.PostFormValue("name")
	role, err := domain.ParseRole(r.PostFormValue("role"))
	if err == nil {
		err = s.admin.AddUser(r.Context(), o, name, role, r.PostFormValue("password"))
	}
	return s.showAdminResult(w, r, err, func(code int, msg string) error {
		v := page.UsersView{Error: msg}
		if code == http.StatusOK {
			v.Added = name
		}
		return s.renderUsers(w, r, u, code, v)
	})
}

func (s *Server) removeUser(w http.ResponseWriter, r *http.Request, u *page.Session, o domain.Origin) error {
	if err := formValues(w, r); err != nil {
		return err
	}
	name := r.PostFormValue("name")
	var err error
	if name == u.Name {
		err = &domain.Error{Kind: domain.ErrConflict, Msg: "you cannot remove your own account"}
	} else {
		err = s.admin.RemoveUser(r.Context(), o, name)
	}
	return s.showAdminResult(w, r, err, func(code int, msg string) error {
		if code == http.StatusOK {
			http.Redirect(w, r, "/admin/users", http.StatusSeeOther)
			return nil
		}
		return s.renderUsers(w, r, u, code, page.UsersView{Error: msg})
	})
}

// confirmRevokeToken asks before revoking: a script or station that uses
// the token stops working at once, and only a new secret mends it.
func (s *Server) confirmRevokeToken(w http.ResponseWriter, r *http.Request, u *page.Session, _ domain.Origin) error {
	name := r.URL.Query().Get("name")
	tokens, err := s.admin.Tokens()
	if err != nil {
		return err
	}
	i := slices.IndexFunc(tokens, func(t storage.Token) bool { return t.Name == name })
	if i < 0 {
		return domain.Refuse(domain.ErrNotFound, "There is no token named %q.", domain.Clip(name))
	}
	s.render(w, r, http.StatusOK, page.Confirm(u, page.ConfirmView{
		Title:       "Revoke token " + name + "?",
		Consequence: "Scripts and stations using this " + tokens[i].Role.String() + " token stop working at once; they need a new token to carry on.",
		Action:      "/admin/tokens/revoke", Name: name, Button: "Revoke", Cancel: "/admin/tokens"}))
	return nil
}

// confirmRemoveUser asks before removing an account: its sessions end at
// once, and only an admin can add it again.
func (s *Server) confirmRemoveUser(w http.ResponseWriter, r *http.Request, u *page.Session, _ domain.Origin) error {
	name := r.URL.Query().Get("name")
	if name == u.Name {
		return &domain.Error{Kind: domain.ErrConflict, Msg: "you cannot remove your own account"}
	}
	users, err := s.admin.Users()
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(users, func(x storage.User) bool { return x.Name == name }) {
		return domain.Refuse(domain.ErrNotFound, "There is no user named %q.", domain.Clip(name))
	}
	s.render(w, r, http.StatusOK, page.Confirm(u, page.ConfirmView{
		Title:       "Remove user " + name + "?",
		Consequence: name + " can no longer sign in, and is signed out everywhere now. The audit log keeps what they did.",
		Action:      "/admin/users/remove", Name: name, Button: "Remove", Cancel: "/admin/users"}))
	return nil
}
