package domain

// SupportedTypes names the request types this appliance carries out, for messages.
func SupportedTypes() string {
	return "Disable (or Revoke), Retire, and SuspendOrReinstate (or Suspend, Reinstate)"
}

// ApproveRole is the least role whose new request of type t is approved
// at once: the least role of the actions of that type. A weaker role that
// may still ask gets a Pending request for an admin to approve. ok is
// false for a type no action carries out.
func ApproveRole(t RequestType) (least Role, ok bool) {
	for _, a := range actions {
		if a.Type == t && (!ok || a.Role < least) {
			least, ok = a.Role, true
		}
	}
	return least, ok
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
		if role < RoleAdmin {
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
