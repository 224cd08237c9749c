package orgmodel

import "errors"

// Error kinds of AccessReport and ResolvePath. Test with errors.Is; the
// IAM simulator maps them to the IAM error codes of the same names.
var (
	// ErrInvalidInput: a path or policy id that is not well formed.
	ErrInvalidInput = errors.New("InvalidInput")
	// ErrNoSuchEntity: a well-formed path or policy id naming nothing in
	// the organization.
	ErrNoSuchEntity = errors.New("NoSuchEntity")
)

// Error is an error of one of the kinds above whose message is the one IAM
// would show a caller.
type Error struct {
	Kind    error // ErrInvalidInput or ErrNoSuchEntity
	Message string
}

func (e *Error) Error() string { return e.Message }

// Unwrap lets errors.Is match the kind.
func (e *Error) Unwrap() error { return e.Kind }

func invalidInput(msg string) error { return &Error{Kind: ErrInvalidInput, Message: msg} }

func noSuchEntity(msg string) error { return &Error{Kind: ErrNoSuchEntity, Message: msg} }
