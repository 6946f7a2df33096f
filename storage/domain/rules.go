package domain

// SupportedTypes names the request types this appliance carries out, for messages.
func SupportedTypes() string {
	return "Disable (or Revoke), Retire, and SuspendOrReinstate (or Suspend, Reinstate)"
}

// NewRequestStatus is the status a new request of type t that role asks
// for starts in: Approved when role may take an action of that type, and
// Pending, for an admin to approve, when an operator asks for more. It
// refuses a type no action carries out (ErrInvalid), a viewer, and a
// station asking for a type the walk-up station does not carry out
// (ErrForbidden).
func NewRequestStatus(t RequestType, role Role) (RequestStatus, error) {
	known, station, allowed := false, false, false
	for _, a := range actions {
		if a.Type == t {
			known, station, allowed = true, station || a.Station, allowed || a.AllowedTo(role)
		}
	}
	switch {
	case !known:
		return RequestNone, Refuse(ErrInvalid, "this appliance does not carry out %s requests; it carries out %s", t, SupportedTypes())
	case role == RoleStation && !station:
		return RequestNone, Refuse(ErrForbidden, "a station token may create only Disable requests, not %s", t)
	case role != RoleStation && !role.Includes(RoleOperator):
		return RequestNone, Refuse(ErrForbidden, "creating requests needs the operator role; you have %s", role)
	case allowed:
		return RequestApproved, nil
	}
	return RequestPending, nil
}

// CheckRequestTransition holds the rules for a request's own status.
func CheckRequestTransition(from, to RequestStatus, role Role) error {
	switch {
	case from.Finished():
		return Refuse(ErrConflict, "it is already %s", from)
	case to == RequestApproved || to == RequestDenied:
		if from != RequestPending {
			return Refuse(ErrConflict, "only a Pending request can be %s; it is %s", to, from)
		}
		if !role.Includes(RoleAdmin) {
			return Refuse(ErrForbidden, "approving or denying needs the admin role; you have %s", role)
		}
	case to == RequestCompleted:
		if from == RequestPending {
			return Refuse(ErrForbidden, "it is Pending; it must be approved before it can be Completed")
		}
	case to == RequestCanceled:
	default:
		return Refuse(ErrInvalid, "a request can be set to Completed, Canceled, Abandoned, Approved or Denied, not %s", to)
	}
	return nil
}

// KindOf returns the kind of a refusal, or err itself.
func KindOf(err error) error {
	if e, ok := err.(*Error); ok {
		return e.Kind
	}
	return err
}
