package storage_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/cardstop/cardstop/storage"
	"github.com/cardstop/cardstop/storage/domain"
	"github.com/cardstop/cardstop/storage/domain/guid"
)

func createRequest(t *testing.T, s *storage.Store, o domain.Origin, typ domain.RequestType, card guid.GUID) storage.Request {
	t.Helper()
	r, err := s.CreateRequest(context.Background(), o, storage.NewRequest{Type: typ, Smartcard: card, Comment: typ.String() + " it"})
	if err != nil {
		t.Fatalf("CreateRequest(%s, %s): %v", o.Role, typ, err)
	}
	return r
}

func TestRetireFlow(t *testing.T) {
	s := newStore(t)
	card := newCard(1, "{AB12CD34-0000-4AA9-A822-346554DDD3C9}", domain.CardActive)
	importCards(t, s, card)

	req, err := s.CreateRequest(context.Background(), admin, storage.NewRequest{Type: domain.TypeRetire, Smartcard: card.Uuid, Comment: "left the company",
		DataCollection: []storage.DataItem{{Name: "Reason", Value: ptr("leaver")}}, Priority: 2})
	if err != nil {
		t.Fatalf("CreateRequest: %v", err)
	}
	if req.Status != domain.RequestApproved || int(req.Status) != 3 {
		t.Errorf("new Retire request by admin has Status %d, want 3 (Approved)", req.Status)
	}
	if req.RequestType != domain.TypeRetire || req.NewSmartcardUuid != card.Uuid || req.OldSmartcardUuid != card.Uuid ||
		req.TargetUserUuid != card.AssignedUserUuid || req.ProfileTemplateUuid != card.ProfileTemplateUuid ||
		req.OriginatorUserUuid != admin.ActorUuid || req.Originator != "user:root" || req.Priority != 2 ||
		req.Comment != "left the company" || !req.Submitted.Equal(fixedNow) || !req.Completed.IsZero() || req.Uuid.IsNil() {
		t.Errorf("new request: %+v", req)
	}
	if stored := mustRequest(t, s, req.Uuid); !reflect.DeepEqual(stored.DataCollection, req.DataCollection) ||
		stored.Status != domain.RequestApproved {
		t.Errorf("stored request: %+v", stored)
	}

	got, err := s.Apply(context.Background(), admin, domain.Command{Request: req.Uuid, Card: card.Uuid, To: domain.CardRetired, Via: domain.ViaAPI})
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if int(got.Status) != 6 || got.PreviousStatus != domain.CardActive || got.StatusChangedBy != "user:root" ||
		got.StatusReason != "leaver" || got.StatusRequestUuid != req.Uuid || !got.StatusChanged.Equal(fixedNow) {
		t.Errorf("retired card: %+v", got)
	}
	if stored := mustCard(t, s, card.Uuid); !reflect.DeepEqual(stored.Status, got.Status) || stored.PreviousStatus != domain.CardActive {
		t.Errorf("stored card: %+v", stored)
	}
	if r := mustRequest(t, s, req.Uuid); int(r.Status) != 18 {
		t.Errorf("request after execute has Status %d, want 18 (Executing)", r.Status)
	}

	done, err := s.SetRequestStatus(context.Background(), admin, req.Uuid, domain.RequestCompleted, "completed")
	if err != nil {
		t.Fatalf("SetRequestStatus: %v", err)
	}
	if int(done.Status) != 8 || !done.Completed.Equal(fixedNow) || done.StatusWord != "" {
		t.Errorf("completed request: Status %d, Completed %v, StatusWord %q", done.Status, done.Completed, done.StatusWord)
	}
	if r := mustRequest(t, s, req.Uuid); r.Status != domain.RequestCompleted || !r.Completed.Equal(fixedNow) {
		t.Errorf("stored completed request: %+v", r)
	}

	evs := allEvents(t, s)
	var actions []storage.Action
	for _, e := range evs {
		actions = append(actions, e.Action)
	}
	wantActions := []storage.Action{storage.ActionCardImport, storage.ActionRequestCreate, storage.ActionCardStatus, storage.ActionRequestStatus}
	if !reflect.DeepEqual(actions, wantActions) {
		t.Errorf("actions %v, want %v", actions, wantActions)
	}
	if e := evs[3]; e.OldStatus != "Executing" || e.NewStatus != "Completed" || e.RequestUuid != req.Uuid || e.CardUuid != card.Uuid {
		t.Errorf("request.status event: %+v", e)
	}
	if e := evs[2]; e.OldStatus != "Active" || e.NewStatus != "Retired" || e.RequestType != "Retire" || e.CardAction != domain.Retire ||
		e.Via != domain.ViaAPI || e.Reason != "leaver" || e.Comment != "left the company" || e.Format != storage.EventFormat {
		t.Errorf("card.status event: %+v", e)
	}

	// Retired is final: no new request, no further change.
	if _, err := s.CreateRequest(context.Background(), admin, storage.NewRequest{Type: domain.TypeSuspendOrReinstate, Smartcard: card.Uuid}); !errors.Is(err, domain.ErrConflict) {
		t.Errorf("request for a Retired card: %v, want ErrConflict", err)
	}
	if n := len(allEvents(t, s)); n != 4 {
		t.Errorf("%d events after refused request, want 4", n)
	}
	checkStore(t, s)
}

func ptr(s string) *string { return &s }

func TestOperatorRetireNeedsApproval(t *testing.T) {
	s := newStore(t)
	card := newCard(1, "abc", domain.CardActive)
	importCards(t, s, card)

	req := createRequest(t, s, operator, domain.TypeRetire, card.Uuid)
	if int(req.Status) != 16 {
		t.Fatalf("Retire request by operator has Status %d, want 16 (Pending)", req.Status)
	}
	before := len(allEvents(t, s))
	_, err := s.Apply(context.Background(), admin, domain.Command{Request: req.Uuid, Card: card.Uuid, To: domain.CardRetired, Via: domain.ViaAPI})
	if !errors.Is(err, domain.ErrForbidden) {
		t.Fatalf("executing a Pending request: %v, want ErrForbidden", err)
	}
	if c := mustCard(t, s, card.Uuid); c.Status != domain.CardActive {
		t.Errorf("card after refused execute: %v", c.Status)
	}
	// Only an admin approves.
	if _, err := s.SetRequestStatus(context.Background(), operator, req.Uuid, domain.RequestApproved, "Approved"); !errors.Is(err, domain.ErrForbidden) {
		t.Errorf("operator approving: %v, want ErrForbidden", err)
	}
	if n := len(allEvents(t, s)); n != before {
		t.Errorf("refusals added events: %d, want %d", n, before)
	}
	approved, err := s.SetRequestStatus(context.Background(), admin, req.Uuid, domain.RequestApproved, "approved")
	if err != nil || approved.Status != domain.RequestApproved || !approved.Completed.IsZero() {
		t.Fatalf("admin approving = %+v, %v", approved, err)
	}
	// The operator still may not retire the card itself.
	if _, err := s.Apply(context.Background(), operator, domain.Command{Request: req.Uuid, Card: card.Uuid, To: domain.CardRetired, Via: domain.ViaAPI}); !errors.Is(err, domain.ErrForbidden) {
		t.Errorf("operator executing approved Retire: %v, want ErrForbidden", err)
	}
	got, err := s.Apply(context.Background(), admin, domain.Command{Request: req.Uuid, Card: card.Uuid, To: domain.CardRetired, Via: domain.ViaAPI})
	if err != nil || got.Status != domain.CardRetired {
		t.Errorf("admin executing approved Retire = %v, %v", got.Status, err)
	}
	checkStore(t, s)
}

func TestDenyPendingRequest(t *testing.T) {
	s := newStore(t)
	card := newCard(1, "abc", domain.CardActive)
	importCards(t, s, card)
	req := createRequest(t, s, operator, domain.TypeRetire, card.Uuid)
	denied, err := s.SetRequestStatus(context.Background(), admin, req.Uuid, domain.RequestDenied, "Denied")
	if err != nil || denied.Status != domain.RequestDenied || !denied.Completed.Equal(fixedNow) {
		t.Fatalf("deny = %+v, %v", denied, err)
	}
	if _, err := s.Apply(context.Background(), admin, domain.Command{Request: req.Uuid, Card: card.Uuid, To: domain.CardRetired, Via: domain.ViaAPI}); !errors.Is(err, domain.ErrForbidden) {
		t.Errorf("executing a Denied request: %v, want ErrForbidden", err)
	}
	if c := mustCard(t, s, card.Uuid); c.Status != domain.CardActive {
		t.Errorf("card after denied request: %v", c.Status)
	}
	checkStore(t, s)
}

func TestExecuteIsIdempotent(t *testing.T) {
	s := newStore(t)
	card := newCard(1, "abc", domain.CardActive)
	importCards(t, s, card)
	req := createRequest(t, s, operator, domain.TypeDisable, card.Uuid)

	first, err := s.Apply(context.Background(), operator, domain.Command{Request: req.Uuid, Card: card.Uuid, To: domain.CardDisabled, Via: domain.ViaAPI})
	if err != nil || first.Status != domain.CardDisabled {
		t.Fatalf("first execute = %v, %v", first.Status, err)
	}
	n := len(allEvents(t, s))
	second, err := s.Apply(context.Background(), operator, domain.Command{Request: req.Uuid, Card: card.Uuid, To: domain.CardDisabled, Via: domain.ViaAPI})
	if err != nil {
		t.Fatalf("second execute: %v", err)
	}
	if !reflect.DeepEqual(second, mustCard(t, s, card.Uuid)) || second.PreviousStatus != domain.CardActive {
		t.Errorf("second execute returned %+v, want the unchanged card", second)
	}
	if got := len(allEvents(t, s)); got != n {
		t.Errorf("second execute added %d events", got-n)
	}
	count := 0
	for _, e := range allEvents(t, s) {
		if e.Action == storage.ActionCardStatus {
			count++
		}
	}
	if count != 1 {
		t.Errorf("%d card.status events, want 1", count)
	}
	checkStore(t, s)
}

func TestSuspendAndReinstate(t *testing.T) {
	s := newStore(t)
	card := newCard(1, "abc", domain.CardActive)
	importCards(t, s, card)
	req := createRequest(t, s, operator, domain.TypeSuspendOrReinstate, card.Uuid)
	if c, err := s.Apply(context.Background(), operator, domain.Command{Request: req.Uuid, Card: card.Uuid, To: domain.CardSuspended, Via: domain.ViaAPI}); err != nil || c.Status != domain.CardSuspended {
		t.Fatalf("suspend = %v, %v", c.Status, err)
	}
	// The request is carried out once: reinstating takes a new one.
	if _, err := s.Apply(context.Background(), operator, domain.Command{Request: req.Uuid, Card: card.Uuid, To: domain.CardActive, Via: domain.ViaAPI}); !errors.Is(err, domain.ErrConflict) {
		t.Fatalf("reinstate by the request that suspended: %v, want ErrConflict", err)
	}
	back := createRequest(t, s, operator, domain.TypeSuspendOrReinstate, card.Uuid)
	c, err := s.Apply(context.Background(), operator, domain.Command{Request: back.Uuid, Card: card.Uuid, To: domain.CardActive, Via: domain.ViaAPI})
	if err != nil || c.Status != domain.CardActive || c.PreviousStatus != domain.CardSuspended {
		t.Fatalf("reinstate = %+v, %v", c, err)
	}
	// Re-enabling a Disabled card is for admins only, whatever the request.
	dis := createRequest(t, s, operator, domain.TypeDisable, card.Uuid)
	if _, err := s.Apply(context.Background(), operator, domain.Command{Request: dis.Uuid, Card: card.Uuid, To: domain.CardDisabled, Via: domain.ViaAPI}); err != nil {
		t.Fatal(err)
	}
	re := createRequest(t, s, operator, domain.TypeSuspendOrReinstate, card.Uuid)
	if _, err := s.Apply(context.Background(), operator, domain.Command{Request: re.Uuid, Card: card.Uuid, To: domain.CardActive, Via: domain.ViaAPI}); !errors.Is(err, domain.ErrForbidden) {
		t.Errorf("operator re-enabling: %v, want ErrForbidden", err)
	}
	if c, err := s.Apply(context.Background(), admin, domain.Command{Request: re.Uuid, Card: card.Uuid, To: domain.CardActive, Via: domain.ViaAPI}); err != nil || c.Status != domain.CardActive ||
		c.PreviousStatus != domain.CardDisabled {
		t.Errorf("admin re-enabling = %+v, %v", c, err)
	}
	checkStore(t, s)
}

func TestRequestWithoutCardBindsOnExecute(t *testing.T) {
	s := newStore(t)
	card := newCard(1, "abc", domain.CardActive)
	importCards(t, s, card)
	req, err := s.CreateRequest(context.Background(), operator, storage.NewRequest{Type: domain.TypeDisable})
	if err != nil {
		t.Fatal(err)
	}
	if !req.NewSmartcardUuid.IsNil() || !req.TargetUserUuid.IsNil() {
		t.Errorf("request without card: %+v", req)
	}
	if _, err := s.Apply(context.Background(), operator, domain.Command{Request: req.Uuid, Card: card.Uuid, To: domain.CardDisabled, Via: domain.ViaAPI}); err != nil {
		t.Fatal(err)
	}
	r := mustRequest(t, s, req.Uuid)
	if r.NewSmartcardUuid != card.Uuid || r.OldSmartcardUuid != card.Uuid || r.TargetUserUuid != card.AssignedUserUuid {
		t.Errorf("request after execute: %+v", r)
	}
	// Now bound, it cannot be used on another card.
	other := newCard(2, "def", domain.CardActive)
	importCards(t, s, other)
	if _, err := s.Apply(context.Background(), operator, domain.Command{Request: req.Uuid, Card: other.Uuid, To: domain.CardDisabled, Via: domain.ViaAPI}); !errors.Is(err, domain.ErrConflict) {
		t.Errorf("bound request on another card: %v, want ErrConflict", err)
	}
	checkStore(t, s)
}

// TestRefusals checks that every refused change returns the right kind of
// error and leaves the card, the request and the audit log as they were.
func TestRefusals(t *testing.T) {
	type fixture struct {
		card, other storage.Smartcard
		disable     storage.Request // Approved Disable for card
		retire      storage.Request // Pending Retire for card
		completed   storage.Request // Completed Disable for card
		canceled    storage.Request // Canceled Disable for card
	}
	tests := []struct {
		name string
		do   func(s *storage.Store, f fixture) error
		want error
	}{
		{"request for another card", func(s *storage.Store, f fixture) error {
			_, err := s.Apply(context.Background(), operator, domain.Command{Request: f.disable.Uuid, Card: f.other.Uuid, To: domain.CardDisabled, Via: domain.ViaAPI})
			return err
		}, domain.ErrConflict},
		{"Disable request setting Suspended", func(s *storage.Store, f fixture) error {
			_, err := s.Apply(context.Background(), operator, domain.Command{Request: f.disable.Uuid, Card: f.card.Uuid, To: domain.CardSuspended, Via: domain.ViaAPI})
			return err
		}, domain.ErrConflict},
		{"Disable request setting Retired", func(s *storage.Store, f fixture) error {
			_, err := s.Apply(context.Background(), admin, domain.Command{Request: f.disable.Uuid, Card: f.card.Uuid, To: domain.CardRetired, Via: domain.ViaAPI})
			return err
		}, domain.ErrConflict},
		{"Completed request", func(s *storage.Store, f fixture) error {
			_, err := s.Apply(context.Background(), operator, domain.Command{Request: f.completed.Uuid, Card: f.card.Uuid, To: domain.CardDisabled, Via: domain.ViaAPI})
			return err
		}, domain.ErrConflict},
		{"Canceled request", func(s *storage.Store, f fixture) error {
			_, err := s.Apply(context.Background(), operator, domain.Command{Request: f.canceled.Uuid, Card: f.card.Uuid, To: domain.CardDisabled, Via: domain.ViaAPI})
			return err
		}, domain.ErrConflict},
		{"Pending request", func(s *storage.Store, f fixture) error {
			_, err := s.Apply(context.Background(), admin, domain.Command{Request: f.retire.Uuid, Card: f.card.Uuid, To: domain.CardRetired, Via: domain.ViaAPI})
			return err
		}, domain.ErrForbidden},
		{"viewer executing", func(s *storage.Store, f fixture) error {
			_, err := s.Apply(context.Background(), viewer, domain.Command{Request: f.disable.Uuid, Card: f.card.Uuid, To: domain.CardDisabled, Via: domain.ViaAPI})
			return err
		}, domain.ErrForbidden},
		{"unknown request", func(s *storage.Store, f fixture) error {
			_, err := s.Apply(context.Background(), operator, domain.Command{Request: testID(0x99), Card: f.card.Uuid, To: domain.CardDisabled, Via: domain.ViaAPI})
			return err
		}, domain.ErrNotFound},
		{"unknown card", func(s *storage.Store, f fixture) error {
			_, err := s.Apply(context.Background(), operator, domain.Command{Request: f.disable.Uuid, Card: testID(0x98), To: domain.CardDisabled, Via: domain.ViaAPI})
			return err
		}, domain.ErrNotFound},
		{"viewer creating a request", func(s *storage.Store, f fixture) error {
			_, err := s.CreateRequest(context.Background(), viewer, storage.NewRequest{Type: domain.TypeDisable, Smartcard: f.card.Uuid})
			return err
		}, domain.ErrForbidden},
		{"Enroll request", func(s *storage.Store, f fixture) error {
			_, err := s.CreateRequest(context.Background(), admin, storage.NewRequest{Type: domain.TypeEnroll, Smartcard: f.card.Uuid})
			return err
		}, domain.ErrInvalid},
		{"request type None", func(s *storage.Store, f fixture) error {
			_, err := s.CreateRequest(context.Background(), admin, storage.NewRequest{Smartcard: f.card.Uuid})
			return err
		}, domain.ErrInvalid},
		{"request for an unknown card", func(s *storage.Store, f fixture) error {
			_, err := s.CreateRequest(context.Background(), admin, storage.NewRequest{Type: domain.TypeDisable, Smartcard: testID(0x98)})
			return err
		}, domain.ErrNotFound},
		{"comment too long", func(s *storage.Store, f fixture) error {
			_, err := s.CreateRequest(context.Background(), admin, storage.NewRequest{Type: domain.TypeDisable, Smartcard: f.card.Uuid,
				Comment: strings.Repeat("x", 1025)})
			return err
		}, domain.ErrInvalid},
		{"too many data items", func(s *storage.Store, f fixture) error {
			_, err := s.CreateRequest(context.Background(), admin, storage.NewRequest{Type: domain.TypeDisable, Smartcard: f.card.Uuid,
				DataCollection: make([]storage.DataItem, 33)})
			return err
		}, domain.ErrInvalid},
		{"data value too long", func(s *storage.Store, f fixture) error {
			_, err := s.CreateRequest(context.Background(), admin, storage.NewRequest{Type: domain.TypeDisable, Smartcard: f.card.Uuid,
				DataCollection: []storage.DataItem{{Name: "a", Value: ptr(strings.Repeat("v", 257))}}})
			return err
		}, domain.ErrInvalid},
		{"completing a Pending request", func(s *storage.Store, f fixture) error {
			_, err := s.SetRequestStatus(context.Background(), operator, f.retire.Uuid, domain.RequestCompleted, "Completed")
			return err
		}, domain.ErrForbidden},
		{"denying an Approved request", func(s *storage.Store, f fixture) error {
			_, err := s.SetRequestStatus(context.Background(), admin, f.disable.Uuid, domain.RequestDenied, "Denied")
			return err
		}, domain.ErrConflict},
		{"reopening a Completed request", func(s *storage.Store, f fixture) error {
			_, err := s.SetRequestStatus(context.Background(), admin, f.completed.Uuid, domain.RequestCanceled, "Abandoned")
			return err
		}, domain.ErrConflict},
		{"setting a request Executing by hand", func(s *storage.Store, f fixture) error {
			_, err := s.SetRequestStatus(context.Background(), admin, f.disable.Uuid, domain.RequestExecuting, "Executing")
			return err
		}, domain.ErrInvalid},
		{"viewer completing", func(s *storage.Store, f fixture) error {
			_, err := s.SetRequestStatus(context.Background(), viewer, f.disable.Uuid, domain.RequestCompleted, "Completed")
			return err
		}, domain.ErrForbidden},
		{"unknown request status change", func(s *storage.Store, f fixture) error {
			_, err := s.SetRequestStatus(context.Background(), admin, testID(0x99), domain.RequestCompleted, "Completed")
			return err
		}, domain.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			var f fixture
			f.card, f.other = newCard(1, "abc", domain.CardActive), newCard(2, "def", domain.CardActive)
			importCards(t, s, f.card, f.other)
			f.disable = createRequest(t, s, operator, domain.TypeDisable, f.card.Uuid)
			f.retire = createRequest(t, s, operator, domain.TypeRetire, f.card.Uuid)
			f.completed = createRequest(t, s, operator, domain.TypeDisable, f.card.Uuid)
			if _, err := s.SetRequestStatus(context.Background(), operator, f.completed.Uuid, domain.RequestCompleted, "Completed"); err != nil {
				t.Fatal(err)
			}
			f.canceled = createRequest(t, s, operator, domain.TypeDisable, f.card.Uuid)
			if _, err := s.SetRequestStatus(context.Background(), operator, f.canceled.Uuid, domain.RequestCanceled, "Canceled"); err != nil {
				t.Fatal(err)
			}
			cardsBefore, err := s.Cards(storage.CardFilter{})
			if err != nil {
				t.Fatal(err)
			}
			reqsBefore, err := s.Requests(storage.RequestFilter{})
			if err != nil {
				t.Fatal(err)
			}
			evsBefore := allEvents(t, s)

			err = tt.do(s, f)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			var se *domain.Error
			if !errors.As(err, &se) || se.Msg == "" {
				t.Errorf("error %v carries no *domain.Error message", err)
			}

			if got, _ := s.Cards(storage.CardFilter{}); !reflect.DeepEqual(got, cardsBefore) {
				t.Errorf("cards changed:\n got %+v\nwant %+v", got, cardsBefore)
			}
			if got, _ := s.Requests(storage.RequestFilter{}); len(got) != len(reqsBefore) {
				t.Errorf("%d requests, want %d", len(got), len(reqsBefore))
			}
			for _, r := range reqsBefore {
				if got := mustRequest(t, s, r.Uuid); !reflect.DeepEqual(got, r) {
					t.Errorf("request changed:\n got %+v\nwant %+v", got, r)
				}
			}
			if got := allEvents(t, s); !reflect.DeepEqual(got, evsBefore) {
				t.Errorf("audit log changed: %d events, want %d", len(got), len(evsBefore))
			}
			checkStore(t, s)
		})
	}
}

func TestAbandonedIsCanceled(t *testing.T) {
	tests := []struct {
		word     string
		wantWord string
	}{
		{"Abandoned", "Abandoned"},
		{" abandoned ", "abandoned"},
		{"Canceled", ""},
		{"canceled", ""},
	}
	for _, tt := range tests {
		t.Run(tt.word, func(t *testing.T) {
			s := newStore(t)
			card := newCard(1, "abc", domain.CardActive)
			importCards(t, s, card)
			req := createRequest(t, s, operator, domain.TypeDisable, card.Uuid)
			status, err := domain.ParseRequestStatus(tt.word)
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.SetRequestStatus(context.Background(), operator, req.Uuid, status, tt.word)
			if err != nil {
				t.Fatalf("SetRequestStatus: %v", err)
			}
			if got.Status != domain.RequestCanceled || int(got.Status) != 17 || got.StatusWord != tt.wantWord || !got.Completed.Equal(fixedNow) {
				t.Errorf("returned request: Status %d, StatusWord %q, Completed %v", got.Status, got.StatusWord, got.Completed)
			}
			if stored := mustRequest(t, s, req.Uuid); stored.Status != domain.RequestCanceled || stored.StatusWord != tt.wantWord {
				t.Errorf("stored request: Status %d, StatusWord %q", stored.Status, stored.StatusWord)
			}
			evs := allEvents(t, s)
			last := evs[len(evs)-1]
			if last.Action != storage.ActionRequestStatus || last.OldStatus != "Approved" || last.NewStatus != "Canceled" ||
				last.StatusWord != tt.wantWord {
				t.Errorf("history: %+v; want the word %q kept", last, tt.wantWord)
			}
			// The same status again is a no-op.
			if _, err := s.SetRequestStatus(context.Background(), operator, req.Uuid, domain.RequestCanceled, "Canceled"); err != nil {
				t.Errorf("cancel twice: %v", err)
			}
			if n := len(allEvents(t, s)); n != len(evs) {
				t.Errorf("cancel twice added %d events", n-len(evs))
			}
			checkStore(t, s)
		})
	}
}

func TestRequestsFilter(t *testing.T) {
	s := newStore(t)
	a, b := newCard(1, "abc", domain.CardActive), newCard(2, "def", domain.CardActive)
	b.AssignedUserUuid = testID(0x51)
	importCards(t, s, a, b)
	ra := createRequest(t, s, operator, domain.TypeDisable, a.Uuid)
	rb := createRequest(t, s, operator, domain.TypeRetire, b.Uuid)
	pending := domain.RequestPending
	tests := []struct {
		name string
		f    storage.RequestFilter
		want []guid.GUID
	}{
		{"by user a", storage.RequestFilter{TargetUser: a.AssignedUserUuid}, []guid.GUID{ra.Uuid}},
		{"by user b", storage.RequestFilter{TargetUser: b.AssignedUserUuid}, []guid.GUID{rb.Uuid}},
		{"pending", storage.RequestFilter{Status: &pending}, []guid.GUID{rb.Uuid}},
		{"nobody", storage.RequestFilter{TargetUser: testID(0x77)}, []guid.GUID{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Requests(tt.f)
			if err != nil {
				t.Fatal(err)
			}
			ids := []guid.GUID{}
			for _, r := range got {
				ids = append(ids, r.Uuid)
			}
			if !reflect.DeepEqual(ids, tt.want) {
				t.Errorf("Requests = %v, want %v", ids, tt.want)
			}
		})
	}
	checkStore(t, s)
}

func TestConcurrentExecute(t *testing.T) {
	s := newStore(t)
	card := newCard(1, "abc", domain.CardActive)
	importCards(t, s, card)
	req := createRequest(t, s, operator, domain.TypeDisable, card.Uuid)

	const n = 16
	var (
		wg      sync.WaitGroup
		start   = make(chan struct{})
		results [n]storage.Smartcard
		errs    [n]error
	)
	for i := range n {
		wg.Go(func() {
			<-start
			results[i], errs[i] = s.Apply(context.Background(), operator, domain.Command{Request: req.Uuid, Card: card.Uuid, To: domain.CardDisabled, Via: domain.ViaAPI})
		})
	}
	close(start)
	wg.Wait()

	for i := range n {
		if errs[i] != nil {
			t.Errorf("call %d: %v", i, errs[i])
		}
		if results[i].Status != domain.CardDisabled || results[i].PreviousStatus != domain.CardActive {
			t.Errorf("call %d returned Status %v (previous %v), want Disabled (previous Active)", i, results[i].Status, results[i].PreviousStatus)
		}
	}
	count := 0
	for _, e := range allEvents(t, s) {
		if e.Action == storage.ActionCardStatus {
			count++
			if e.OldStatus != "Active" || e.NewStatus != "Disabled" {
				t.Errorf("card.status event %+v", e)
			}
		}
	}
	if count != 1 {
		t.Errorf("%d card.status events, want exactly 1", count)
	}
	if c := mustCard(t, s, card.Uuid); c.Status != domain.CardDisabled {
		t.Errorf("card Status %v, want Disabled", c.Status)
	}
	if r := mustRequest(t, s, req.Uuid); r.Status != domain.RequestExecuting {
		t.Errorf("request Status %v, want Executing", r.Status)
	}
	checkStore(t, s)
}

// TestConcurrentWritersKeepChain mixes writers of every kind and checks
// that the audit log stays numbered without gaps.
func TestConcurrentWritersKeepChain(t *testing.T) {
	s := newStore(t)
	const n = 8
	for i := range n {
		importCards(t, s, newCard(byte(i+1), "serial-"+string(rune('a'+i)), domain.CardActive))
	}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			id := testID(byte(i + 1))
			// A request is carried out once: one request a change.
			for _, to := range []domain.CardStatus{domain.CardSuspended, domain.CardActive, domain.CardSuspended} {
				r, err := s.CreateRequest(context.Background(), operator, storage.NewRequest{Type: domain.TypeSuspendOrReinstate, Smartcard: id})
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := s.Apply(context.Background(), operator, domain.Command{Request: r.Uuid, Card: id, To: to, Via: domain.ViaAPI}); err != nil {
					t.Error(err)
				}
				if _, err := s.SetRequestStatus(context.Background(), operator, r.Uuid, domain.RequestCompleted, "Completed"); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	// n imports + n × 3 × (create, status change, complete).
	if got := len(allEvents(t, s)); got != n+n*9 {
		t.Errorf("%d events, want %d", got, n+n*9)
	}
	suspended := domain.CardSuspended
	if got, err := s.Cards(storage.CardFilter{Status: &suspended}); err != nil || len(got) != n {
		t.Errorf("Cards(Suspended) = %d cards, %v; want %d", len(got), err, n)
	}
	checkStore(t, s)
}

// TestViewerCannotNoOp: a change that would change nothing is still a
// change request, and a viewer may not make it (no 200 for a viewer).
func TestViewerCannotNoOp(t *testing.T) {
	s := newStore(t)
	card := newCard(1, "{aa}", domain.CardDisabled)
	importCards(t, s, card)
	req, err := s.CreateRequest(context.Background(), operator, storage.NewRequest{Type: domain.TypeDisable, Smartcard: card.Uuid})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(context.Background(), viewer, domain.Command{Request: req.Uuid, Card: card.Uuid, To: domain.CardDisabled, Via: domain.ViaAPI}); !errors.Is(err, domain.ErrForbidden) {
		t.Fatalf("viewer setting the status a card has: %v; want ErrForbidden", err)
	}
	if _, err := s.SetRequestStatus(context.Background(), viewer, req.Uuid, domain.RequestApproved, "Approved"); !errors.Is(err, domain.ErrForbidden) {
		t.Fatalf("viewer setting the status a request has: %v; want ErrForbidden", err)
	}
	if ev, err := s.Events(^uint64(0), 0); err != nil || ev == nil || len(ev) != 0 {
		t.Fatalf("Events after the last possible number = %v, %v; want an empty list", ev, err)
	}
	checkStore(t, s)
}
