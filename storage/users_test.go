package storage_test

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cardstop/cardstop/storage"
	"github.com/cardstop/cardstop/storage/auth"
	"github.com/cardstop/cardstop/storage/domain"
)

// TestSignInRefusals: a wrong password and an unknown name give the same
// error, ErrBadCredentials, which is not a record not found.
func TestSignInRefusals(t *testing.T) {
	s := newStore(t)
	if err := s.AddUser(context.Background(), operator, "ann", domain.RoleViewer, "a long passphrase"); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ name, user, password string }{
		{"wrong password", "ann", "not her passphrase"},
		{"unknown user", "bob", "a long passphrase"},
		{"empty password", "ann", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := s.SignIn(context.Background(), domain.Origin{}, tt.user, tt.password)
			if !errors.Is(err, storage.ErrBadCredentials) || errors.Is(err, domain.ErrNotFound) {
				t.Fatalf("SignIn: %v; want ErrBadCredentials", err)
			}
			if err.Error() != "wrong user name or password" {
				t.Errorf("SignIn says %q", err)
			}
		})
	}
	if _, _, err := s.SignIn(context.Background(), domain.Origin{}, "ann", "a long passphrase"); err != nil {
		t.Fatalf("SignIn with the right password: %v", err)
	}
	checkStore(t, s)
}

// signInClock is a store clock tests move; safe for concurrent use.
type signInClock struct{ at atomic.Int64 }

func (c *signInClock) now() time.Time      { return time.Unix(0, c.at.Load()).UTC() }
func (c *signInClock) add(d time.Duration) { c.at.Add(int64(d)) }

// TestSignInLimits: failed sign-ins are limited per name and per address
// at once: past the limit even the right password is refused, from any
// address for the name and for any name from the address, until the
// window ends. Refusals are not checked and not recorded.
func TestSignInLimits(t *testing.T) {
	clk := &signInClock{}
	clk.add(time.Duration(time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC).UnixNano()))
	s, err := storage.Open(t.TempDir(), storage.Options{Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	const pass = "a long passphrase"
	for _, n := range []string{"ann", "bob"} {
		if err := s.AddUser(ctx, operator, n, domain.RoleViewer, pass); err != nil {
			t.Fatal(err)
		}
	}
	const a, b = "192.0.2.7", "198.51.100.9"
	signIn := func(addr, name, password string) error {
		_, _, err := s.SignIn(ctx, domain.Origin{Source: addr}, name, password)
		return err
	}
	for i := range auth.MaxSignInFailures {
		if err := signIn(a, "ann", "guess "+strconv.Itoa(i)); !errors.Is(err, storage.ErrBadCredentials) {
			t.Fatalf("wrong password %d: %v", i+1, err)
		}
		clk.add(time.Second)
	}
	for _, tt := range []struct {
		name, addr, user string
		limited          bool
	}{
		{"the right password, same name and address", a, "ann", true},
		{"the right password from elsewhere: the name is limited", b, "ann", true},
		{"another name from the address: the address is limited", a, "bob", true},
		{"a name no account can have from the address", a, "no such name!", true},
		{"another name from elsewhere", b, "bob", false},
	} {
		err := signIn(tt.addr, tt.user, pass)
		var de *domain.Error
		switch {
		case !tt.limited && err != nil:
			t.Errorf("%s: %v, want a session", tt.name, err)
		case tt.limited && (!errors.Is(err, storage.ErrLimited) || !errors.As(err, &de) || de.Wait != 55*time.Second ||
			de.Msg != "too many failed sign-ins for this name or from this address; try again in 55 s"):
			t.Errorf("%s: %v (%+v), want ErrLimited for 55 s", tt.name, err, de)
		}
	}
	fails := 0
	for _, e := range allEvents(t, s) {
		if e.Action == storage.ActionSignInFail {
			fails++
		}
	}
	if fails != auth.MaxSignInFailures {
		t.Errorf("%d failed sign-ins recorded, want %d (refusals are not)", fails, auth.MaxSignInFailures)
	}
	clk.add(55 * time.Second)
	if err := signIn(a, "ann", pass); err != nil {
		t.Fatalf("the right password once the window has passed: %v", err)
	}
	checkStore(t, s)
}

// TestSignInFailuresAudited: each failed sign-in is one audit event with
// the name tried (clipped) and the address, and never the password;
// a right one records no failure.
func TestSignInFailuresAudited(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	const pass = "a long passphrase"
	if err := s.AddUser(ctx, operator, "ann", domain.RoleViewer, pass); err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("n", 300)
	for i, tt := range []struct {
		name, user, password, want string // want: the Name recorded
	}{
		{"wrong password", "ann", "not her passphrase", "ann"},
		{"unknown name", "nobody", pass, "nobody"},
		{"name in another case", "ANN", pass, "ANN"},
		{"empty name", "", pass, ""},
		{"empty password", "ann", "", "ann"},
		{"password that is a name", "ann", "ann", "ann"},
		{"a name no account can have", "ann\x1b[2J<b>", "hunter2 hunter2", "ann\x1b[2J<b>"},
		{"an overlong name", long, "hunter3 hunter3", long[:64] + "..."},
		{"an overlong password", "ann", strings.Repeat("p", 300), "ann"},
		{"the right password", "ann", pass, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o := domain.Origin{Source: "192.0.2." + strconv.Itoa(10+i), CorrelationID: testID(byte(0x40 + i))}
			before := len(allEvents(t, s))
			_, _, err := s.SignIn(ctx, o, tt.user, tt.password)
			evs := allEvents(t, s)[before:]
			if tt.name == "the right password" {
				if err != nil || len(evs) != 1 || evs[0].Action != storage.ActionSignIn {
					t.Fatalf("SignIn: %v, events %+v; want a session and one %s", err, evs, storage.ActionSignIn)
				}
				return
			}
			if !errors.Is(err, storage.ErrBadCredentials) {
				t.Fatalf("SignIn: %v, want ErrBadCredentials", err)
			}
			if len(evs) != 1 {
				t.Fatalf("%d events, want 1", len(evs))
			}
			e := evs[0]
			if e.Action != storage.ActionSignInFail || e.Name != tt.want || e.Source != o.Source || e.Actor != "" ||
				e.CorrelationId != o.CorrelationID {
				t.Errorf("event %+v; want %s, Name %q, Source %s, no actor", e, storage.ActionSignInFail, tt.want, o.Source)
			}
			raw, _ := json.Marshal(e)
			if tt.password != "" && tt.password != tt.user && strings.Contains(string(raw), tt.password) {
				t.Errorf("the event holds the password: %s", raw)
			}
		})
	}
	checkStore(t, s)
}

// TestSignInBusy: while as many passwords as may be checked at once are,
// a sign-in waits auth.PasswordWait for its turn, then is refused with
// ErrBusy and a wait, or ends with its context; neither counts against
// the limits or is recorded.
func TestSignInBusy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		var hold atomic.Bool
		s, err := storage.Open(t.TempDir(), storage.Options{Now: clock, ObservePasswordWork: func() func() {
			if hold.Load() {
				<-release
			}
			return func() {}
		}})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		ctx := context.Background()
		const pass = "a long passphrase"
		if err := s.AddUser(ctx, operator, "ann", domain.RoleViewer, pass); err != nil {
			t.Fatal(err)
		}
		hold.Store(true)
		var wg sync.WaitGroup
		for i := range auth.MaxPasswordWork {
			wg.Go(func() {
				_, _, err := s.SignIn(ctx, domain.Origin{Source: "192.0.2." + strconv.Itoa(i)}, "guess"+strconv.Itoa(i), pass)
				if !errors.Is(err, storage.ErrBadCredentials) {
					t.Errorf("a held sign-in: %v", err)
				}
			})
		}
		synctest.Wait()
		const addr = "198.51.100.9"
		for range auth.MaxSignInFailures + 1 { // none counts
			start := time.Now()
			_, _, err := s.SignIn(ctx, domain.Origin{Source: addr}, "ann", pass)
			var de *domain.Error
			if !errors.Is(err, storage.ErrBusy) || !errors.As(err, &de) || de.Wait != time.Second || time.Since(start) != auth.PasswordWait {
				t.Fatalf("SignIn while busy: %v after %v; want ErrBusy after %v", err, time.Since(start), auth.PasswordWait)
			}
		}
		short, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		if _, _, err := s.SignIn(short, domain.Origin{Source: addr}, "ann", pass); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("SignIn whose context ends while waiting: %v", err)
		}
		close(release)
		wg.Wait()
		hold.Store(false)
		if _, _, err := s.SignIn(ctx, domain.Origin{Source: addr}, "ann", pass); err != nil {
			t.Fatalf("SignIn once the others are done: %v", err)
		}
		fails := 0
		for _, e := range allEvents(t, s) {
			if e.Action == storage.ActionSignInFail {
				fails++
			}
		}
		if fails != auth.MaxPasswordWork {
			t.Errorf("%d failed sign-ins recorded, want %d (the held ones)", fails, auth.MaxPasswordWork)
		}
	})
}

// TestHasUsers: the first account makes HasUsers true, and removing the
// last makes it false again.
func TestHasUsers(t *testing.T) {
	s := newStore(t)
	steps := []struct {
		name string
		do   func() error
		want bool
	}{
		{"new database", func() error { return nil }, false},
		{"after the first user", func() error {
			return s.AddUser(context.Background(), operator, "ann", domain.RoleAdmin, "a long passphrase")
		}, true},
		{"after removing the last", func() error { return s.RemoveUser(context.Background(), operator, "ann") }, false},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got, err := s.HasUsers(); err != nil || got != st.want {
			t.Errorf("%s: HasUsers = %v, %v; want %v", st.name, got, err, st.want)
		}
	}
}
