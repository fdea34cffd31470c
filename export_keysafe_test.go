package jongler

// DefaultBackoff is the transport's default backoff, for this package's
// external tests only.
var DefaultBackoff = defaultBackoff
