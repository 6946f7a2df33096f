package domain_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/cardstop/cardstop/storage/domain"
)

// The expected answer of Decide for a request carried out over the API,
// for every pair of states, one grid per role, written out from
// PRODUCT.md §1 and §3 (rows: from, columns: to, both in the order None
// New Assigned Active Disabled Suspended Retired). The request is of the
// type that sets the status asked for (Disable for the states no type
// sets). '.' allowed, 'N' no change (the card has that status), 'C'
// ErrConflict, 'F' ErrForbidden.
var transitionGrid = map[domain.Role][7]string{
	domain.RoleViewer: {
		//       NnAaDSR
		/* None      */ "FFFFFFF",
		/* New       */ "FFFFFFF",
		/* Assigned  */ "FFFFFFF",
		/* Active    */ "FFFFFFF",
		/* Disabled  */ "FFFFFFF",
		/* Suspended */ "FFFFFFF",
		/* Retired   */ "FFFFFFF",
	},
	domain.RoleOperator: {
		/* None      */ "CCCCCCF",
		/* New       */ "CCCF.CF",
		/* Assigned  */ "CCCF.CF",
		/* Active    */ "CCCN..F",
		/* Disabled  */ "CCCFNFF",
		/* Suspended */ "CCC..NF",
		/* Retired   */ "CCCCCCN",
	},
	// A station token carries out only what the walk-up station may do.
	domain.RoleStation: {
		/* None      */ "CCCCCCF",
		/* New       */ "CCCF.CF",
		/* Assigned  */ "CCCF.CF",
		/* Active    */ "CCCN.FF",
		/* Disabled  */ "CCCFNFF",
		/* Suspended */ "CCCF.NF",
		/* Retired   */ "CCCCCCN",
	},
	domain.RoleAdmin: {
		/* None      */ "CCCCCC.",
		/* New       */ "CCC..C.",
		/* Assigned  */ "CCC..C.",
		/* Active    */ "CCCN...",
		/* Disabled  */ "CCC.N..",
		/* Suspended */ "CCC..N.",
		/* Retired   */ "CCCCCCN",
	},
}

var allStatuses = []domain.CardStatus{domain.CardNone, domain.CardNew, domain.CardAssigned, domain.CardActive,
	domain.CardDisabled, domain.CardSuspended, domain.CardRetired}

// requestTypeFor is the request type that sets a card to status.
func requestTypeFor(status domain.CardStatus) domain.RequestType {
	switch status {
	case domain.CardActive, domain.CardSuspended:
		return domain.TypeSuspendOrReinstate
	case domain.CardRetired:
		return domain.TypeRetire
	}
	return domain.TypeDisable
}

func TestTransitionGrid(t *testing.T) {
	for _, role := range []domain.Role{domain.RoleViewer, domain.RoleOperator, domain.RoleStation, domain.RoleAdmin} {
		grid := transitionGrid[role]
		for i, from := range allStatuses {
			for j, to := range allStatuses {
				want := grid[i][j]
				t.Run(role.String()+"/"+from.String()+"->"+to.String(), func(t *testing.T) {
					req := &domain.RequestState{Type: requestTypeFor(to), Status: domain.RequestApproved}
					d, err := domain.Decide(domain.CardState{Status: from}, req, domain.Command{To: to, Via: domain.ViaAPI}, role)
					switch want {
					case '.', 'N':
						if err != nil || d.NoOp != (want == 'N') || d.To != to {
							t.Errorf("got %+v, %v; want %c", d, err, want)
						}
					case 'C':
						if !errors.Is(err, domain.ErrConflict) {
							t.Fatalf("got %v, want ErrConflict", err)
						}
						// A conflict names both states (PRODUCT.md §1), where a
						// request type can set the status at all.
						if msg := err.Error(); requestTypeFor(to) != domain.TypeDisable || to == domain.CardDisabled {
							if !strings.Contains(msg, from.String()) || !strings.Contains(msg, to.String()) {
								t.Errorf("message %q does not name %s and %s", msg, from, to)
							}
						}
					case 'F':
						if !errors.Is(err, domain.ErrForbidden) {
							t.Fatalf("got %v, want ErrForbidden", err)
						}
						if msg := err.Error(); !strings.Contains(msg, role.String()) {
							t.Errorf("message %q does not name the caller's role %s", msg, role)
						}
					default:
						t.Fatalf("bad grid entry %q", want)
					}
					var se *domain.Error
					if err != nil && !errors.As(err, &se) {
						t.Errorf("error %T is not a *domain.Error", err)
					}
				})
			}
		}
	}
}

func TestOperations(t *testing.T) {
	tests := []struct {
		status domain.CardStatus
		role   domain.Role
		want   []string
	}{
		{domain.CardActive, domain.RoleViewer, []string{}},
		{domain.CardActive, domain.RoleOperator, []string{"disable", "suspend"}},
		{domain.CardActive, domain.RoleAdmin, []string{"disable", "suspend", "retire"}},
		{domain.CardDisabled, domain.RoleOperator, []string{}},
		{domain.CardDisabled, domain.RoleAdmin, []string{"enable", "retire"}},
		{domain.CardSuspended, domain.RoleOperator, []string{"disable", "reinstate"}},
		{domain.CardSuspended, domain.RoleAdmin, []string{"disable", "reinstate", "retire"}},
		{domain.CardNew, domain.RoleOperator, []string{"disable"}},
		{domain.CardAssigned, domain.RoleAdmin, []string{"disable", "activate", "retire"}},
		{domain.CardNone, domain.RoleAdmin, []string{"retire"}},
		{domain.CardRetired, domain.RoleAdmin, []string{}},
		{domain.CardRetired, domain.RoleViewer, []string{}},
		{domain.CardActive, domain.RoleStation, []string{"disable"}},
		{domain.CardSuspended, domain.RoleStation, []string{"disable"}},
		{domain.CardDisabled, domain.RoleStation, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.status.String()+"/"+tt.role.String(), func(t *testing.T) {
			got := domain.Operations(tt.status, tt.role)
			if got == nil {
				t.Fatal("Operations returned nil; the JSON must be [] not null")
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Operations(%s, %s) = %q, want %q", tt.status, tt.role, got, tt.want)
			}
		})
	}
}

func TestParseCardStatus(t *testing.T) {
	tests := []struct {
		in      string
		want    domain.CardStatus
		wantErr bool
	}{
		{in: "None", want: 0},
		{in: "new", want: 1},
		{in: "ASSIGNED", want: 2},
		{in: "Active", want: 3},
		{in: "disabled", want: 4},
		{in: "SuSpEnDeD", want: 5},
		{in: "Retired", want: 6},
		{in: " Disabled ", want: 4},
		{in: "0", want: 0},
		{in: "4", want: 4},
		{in: "6", want: 6},
		{in: "7", wantErr: true},
		{in: "-1", wantErr: true},
		{in: "", wantErr: true},
		{in: "Revoked", wantErr: true},
		{in: "Disabled!", wantErr: true},
		{in: strings.Repeat("x", 500), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := domain.ParseCardStatus(tt.in)
			if tt.wantErr {
				if !errors.Is(err, domain.ErrInvalid) {
					t.Fatalf("ParseCardStatus(%q) = %v, %v; want ErrInvalid", tt.in, got, err)
				}
				if len(err.Error()) > 300 {
					t.Errorf("message echoes too much input: %d bytes", len(err.Error()))
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("ParseCardStatus(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestCardStatusNumbers(t *testing.T) {
	// The wire numbers of PRODUCT.md §1.
	want := map[domain.CardStatus]int{domain.CardNone: 0, domain.CardNew: 1, domain.CardAssigned: 2,
		domain.CardActive: 3, domain.CardDisabled: 4, domain.CardSuspended: 5, domain.CardRetired: 6}
	names := map[int]string{0: "None", 1: "New", 2: "Assigned", 3: "Active", 4: "Disabled", 5: "Suspended", 6: "Retired"}
	for s, n := range want {
		if int(s) != n || s.String() != names[n] || !s.Valid() {
			t.Errorf("%v: number %d, String %q, Valid %v; want %d %q true", s, int(s), s.String(), s.Valid(), n, names[n])
		}
	}
	if domain.CardStatus(7).Valid() || domain.CardStatus(-1).Valid() {
		t.Error("7 and -1 are Valid")
	}
}

func TestParseRequestType(t *testing.T) {
	tests := []struct {
		in      string
		want    domain.RequestType
		wantErr bool
	}{
		{in: "Enroll", want: 1},
		{in: "recover", want: 2},
		{in: "Renew", want: 3},
		{in: "Disable", want: 4},
		{in: "disable", want: 4},
		{in: "Revoke", want: 4},
		{in: "REVOKE", want: 4},
		{in: "Unblock", want: 5},
		{in: "Duplicate", want: 6},
		{in: "retire", want: 7},
		{in: "RecoverOnBehalf", want: 8},
		{in: "SuspendOrReinstate", want: 9},
		{in: "suspend", want: 9},
		{in: "Reinstate", want: 9},
		{in: "OnlineUpdate", want: 10},
		{in: "TemporaryEnroll", want: 11},
		{in: "4", want: 4},
		{in: "7", want: 7},
		{in: " 9 ", want: 9},
		{in: "11", want: 11},
		{in: "0", wantErr: true},
		{in: "None", wantErr: true},
		{in: "12", wantErr: true},
		{in: "-4", wantErr: true},
		{in: "", wantErr: true},
		{in: "Disabled", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := domain.ParseRequestType(tt.in)
			if tt.wantErr {
				if !errors.Is(err, domain.ErrInvalid) {
					t.Fatalf("ParseRequestType(%q) = %v, %v; want ErrInvalid", tt.in, got, err)
				}
				// The message lists what the appliance carries out.
				for _, word := range []string{"Disable", "Retire", "SuspendOrReinstate"} {
					if !strings.Contains(err.Error(), word) {
						t.Errorf("message %q does not list %s", err, word)
					}
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("ParseRequestType(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestParseRequestStatus(t *testing.T) {
	tests := []struct {
		in      string
		want    domain.RequestStatus
		wantErr bool
	}{
		{in: "None", want: 0},
		{in: "Approved", want: 3},
		{in: "denied", want: 4},
		{in: "COMPLETED", want: 8},
		{in: "Failed", want: 9},
		{in: "pending", want: 16},
		{in: "Canceled", want: 17},
		{in: "Executing", want: 18},
		{in: "Abandoned", want: 17},
		{in: "abandoned", want: 17},
		{in: " ABANDONED ", want: 17},
		{in: "3", want: 3},
		{in: "8", want: 8},
		{in: "17", want: 17},
		{in: "18", want: 18},
		{in: "1", wantErr: true},
		{in: "5", wantErr: true},
		{in: "19", wantErr: true},
		{in: "", wantErr: true},
		{in: "Cancelled", wantErr: true},
		{in: "Complete", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := domain.ParseRequestStatus(tt.in)
			if tt.wantErr {
				if !errors.Is(err, domain.ErrInvalid) {
					t.Fatalf("ParseRequestStatus(%q) = %v, %v; want ErrInvalid", tt.in, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("ParseRequestStatus(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestRequestStatusFinished(t *testing.T) {
	finished := map[domain.RequestStatus]bool{domain.RequestNone: false, domain.RequestApproved: false,
		domain.RequestDenied: true, domain.RequestCompleted: true, domain.RequestFailed: true,
		domain.RequestPending: false, domain.RequestCanceled: true, domain.RequestExecuting: false}
	for s, want := range finished {
		if s.Finished() != want {
			t.Errorf("%v.Finished() = %v, want %v", s, s.Finished(), want)
		}
	}
}

func TestParseRole(t *testing.T) {
	tests := []struct {
		in      string
		want    domain.Role
		wantErr bool
	}{
		{in: "viewer", want: domain.RoleViewer},
		{in: "Operator", want: domain.RoleOperator},
		{in: "ADMIN", want: domain.RoleAdmin},
		{in: " admin\n", want: domain.RoleAdmin},
		{in: "Station", want: domain.RoleStation},
		{in: "none", wantErr: true},
		{in: "", wantErr: true},
		{in: "root", wantErr: true},
		{in: "3", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := domain.ParseRole(tt.in)
			if tt.wantErr {
				if !errors.Is(err, domain.ErrInvalid) || got != domain.RoleNone {
					t.Fatalf("ParseRole(%q) = %v, %v; want RoleNone, ErrInvalid", tt.in, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("ParseRole(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
	// Roles are stored by name.
	for _, r := range []domain.Role{domain.RoleStation, domain.RoleViewer, domain.RoleOperator, domain.RoleAdmin} {
		text, err := r.MarshalText()
		if err != nil || string(text) != r.String() {
			t.Errorf("%v.MarshalText() = %q, %v", r, text, err)
		}
		var back domain.Role
		if err := back.UnmarshalText(text); err != nil || back != r {
			t.Errorf("UnmarshalText(%q) = %v, %v; want %v", text, back, err, r)
		}
	}
}

// TestRequestCarriedOutOnce: a request that has changed its card
// (Executing) leaves it alone afterwards, whatever happened to the card
// since; asking for the status the card has is still a no-op.
func TestRequestCarriedOutOnce(t *testing.T) {
	card := domain.CardState{Status: domain.CardActive, PreviousStatus: domain.CardDisabled} // re-enabled since
	for _, tc := range []struct {
		name   string
		status domain.RequestStatus
		typ    domain.RequestType
		to     domain.CardStatus
		want   string // "" allowed, "noop", or a substring of the ErrConflict message
	}{
		{"Approved Disable", domain.RequestApproved, domain.TypeDisable, domain.CardDisabled, ""},
		{"Executing Disable again", domain.RequestExecuting, domain.TypeDisable, domain.CardDisabled, "has already been carried out; the smartcard is now Active"},
		{"Executing SuspendOrReinstate, other target", domain.RequestExecuting, domain.TypeSuspendOrReinstate, domain.CardSuspended, "has already been carried out"},
		{"Executing, the status the card has", domain.RequestExecuting, domain.TypeSuspendOrReinstate, domain.CardActive, "noop"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := &domain.RequestState{Type: tc.typ, Status: tc.status}
			if got := req.CarriedOut(); got != (tc.status == domain.RequestExecuting) {
				t.Errorf("CarriedOut() = %v", got)
			}
			d, err := domain.Decide(card, req, domain.Command{To: tc.to, Via: domain.ViaAPI}, domain.RoleAdmin)
			switch tc.want {
			case "":
				if err != nil || d.NoOp || d.To != tc.to {
					t.Errorf("got %+v, %v; want the change", d, err)
				}
			case "noop":
				if err != nil || !d.NoOp {
					t.Errorf("got %+v, %v; want a no-op", d, err)
				}
			default:
				if !errors.Is(err, domain.ErrConflict) || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("got %+v, %v; want ErrConflict with %q", d, err, tc.want)
				}
			}
		})
	}
}

// TestRoleIncludes: the people's roles are ordered (and include "no role
// needed"); the station role includes only itself and is included in
// none, whatever its number.
func TestRoleIncludes(t *testing.T) {
	roles := []domain.Role{domain.RoleNone, domain.RoleStation, domain.RoleViewer, domain.RoleOperator, domain.RoleAdmin}
	// want[i] lists, as '1' and '0', whether roles[i] includes each of roles.
	want := []string{
		/* none     */ "00000",
		/* station  */ "01000",
		/* viewer   */ "10100",
		/* operator */ "10110",
		/* admin    */ "10111",
	}
	for i, r := range roles {
		for j, least := range roles {
			if got := r.Includes(least); got != (want[i][j] == '1') {
				t.Errorf("%s.Includes(%s) = %v", r, least, got)
			}
		}
	}
}

func TestNewRequestStatus(t *testing.T) {
	tests := []struct {
		typ  domain.RequestType
		role domain.Role
		want domain.RequestStatus
		err  error
		msg  string
	}{
		{domain.TypeDisable, domain.RoleOperator, domain.RequestApproved, nil, ""},
		{domain.TypeRetire, domain.RoleOperator, domain.RequestPending, nil, ""},
		{domain.TypeRetire, domain.RoleAdmin, domain.RequestApproved, nil, ""},
		{domain.TypeDisable, domain.RoleViewer, domain.RequestNone, domain.ErrForbidden, "creating requests needs the operator role; you have viewer"},
		{domain.TypeDisable, domain.RoleStation, domain.RequestApproved, nil, ""},
		{domain.TypeRetire, domain.RoleStation, domain.RequestNone, domain.ErrForbidden, "a station token may create only Disable requests, not Retire"},
		{domain.TypeSuspendOrReinstate, domain.RoleStation, domain.RequestNone, domain.ErrForbidden, "a station token may create only Disable requests, not SuspendOrReinstate"},
		{domain.TypeEnroll, domain.RoleStation, domain.RequestNone, domain.ErrInvalid, ""},
	}
	for _, tt := range tests {
		t.Run(tt.typ.String()+"/"+tt.role.String(), func(t *testing.T) {
			got, err := domain.NewRequestStatus(tt.typ, tt.role)
			if got != tt.want || !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
				t.Fatalf("NewRequestStatus = %v, %v; want %v, %v", got, err, tt.want, tt.err)
			}
			if tt.msg != "" && err.Error() != tt.msg {
				t.Errorf("message %q, want %q", err, tt.msg)
			}
		})
	}
}
