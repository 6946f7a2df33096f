package web

import (
	"cmp"
	"github.com/cardstop/cardstop/storage"
	"github.com/cardstop/cardstop/web/page"
)

// The pages' view models, built from the records and the station's
// status: the templates in web/page see nothing else.

func smartcardView(c storage.Smartcard) page.SmartcardView {
	return page.SmartcardView{
		Uuid:                   c.Uuid,
		SerialNumber:           c.SerialNumber,
		Status:                 c.Status.String(),
		StatusNumber:           int(c.Status),
		AssignedUserUuid:       c.AssignedUserUuid,
		ProfileTemplateUuid:    c.ProfileTemplateUuid,
		ProfileTemplateVersion: c.ProfileTemplateVersion,
		ParentSmartcardUuid:    c.ParentSmartcardUuid,
		PrimarySmartcardUuid:   c.PrimarySmartcardUuid,
		PermanentSmartcardUuid: c.PermanentSmartcardUuid,
		Flags:                  c.Flags,
		Middleware:             c.Middleware,
		Atr:                    c.Atr,
		Comment:                c.Comment,
		StatusChanged:          c.StatusChanged,
		StatusChangedBy:        c.StatusChangedBy,
		PreviousStatus:         c.PreviousStatus.String(),
		StatusReason:           c.StatusReason,
	}
}

func requestView(r storage.Request) page.RequestView {
	return page.RequestView{Submitted: r.Submitted, Type: r.RequestType.String(), Status: r.Status.String(),
		Card: r.NewSmartcardUuid, Originator: r.Originator, Comment: r.Comment}
}

// eventView shows an event of either format in the same columns: what a
// format 2 event names in fields of their own (a credential's role and
// name, a request's type, a client's word) goes where format 1 put it.
func eventView(e storage.Event) page.EventView {
	v := page.EventView{Seq: e.Seq, Time: e.Time, Action: string(e.Action), Actor: e.Actor, Source: e.Source,
		Card: e.CardUuid, OldStatus: e.OldStatus, NewStatus: e.NewStatus,
		Reason: cmp.Or(e.Reason, e.StatusWord), Comment: cmp.Or(e.Comment, e.Name)}
	switch e.Action {
	case storage.ActionTokenCreate, storage.ActionUserAdd:
		v.NewStatus = cmp.Or(v.NewStatus, e.Role)
	case storage.ActionTokenRevoke, storage.ActionUserRemove:
		v.OldStatus = cmp.Or(v.OldStatus, e.Role)
	case storage.ActionRequestCreate:
		v.Reason = cmp.Or(e.RequestType, v.Reason)
	}
	return v
}

func tokenView(t storage.Token) page.TokenView {
	return page.TokenView{Name: t.Name, Role: t.Role.String(), Created: t.Created}
}

func userView(u storage.User) page.UserView {
	return page.UserView{Name: u.Name, Role: u.Role.String(), Created: u.Created}
}

// views converts a list of records; nil stays nil.
func views[R, V any](records []R, view func(R) V) []V {
	if records == nil {
		return nil
	}
	out := make([]V, len(records))
	for i, r := range records {
		out[i] = view(r)
	}
	return out
}
