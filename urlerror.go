package jongler

import (
	"errors"
	"net/url"
)

// unwrapURLError drops the *url.Error an http.Client wraps around a
// transport's error, whose text repeats the URL, when the inner error is
// this package's own.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		var nk *NoKeyError
		if errors.As(ue.Err, &nk) {
			return ue.Err
		}
	}
	return err
}
