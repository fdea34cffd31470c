package filestore

import (
	"bytes"
	"slices"
	"unsafe"
)

// SameNames reports whether a and b list the same names. A store keeps a
// copy of each key list it was given (slices.Clone copies the strings'
// headers, not their bytes), and the transport asks with the same list
// request after request, so comparing the headers as memory, a few
// kilobytes for a thousand keys, nearly always decides; the strings
// themselves are compared only when the headers differ.
func SameNames(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	if len(a) == 0 {
		return true
	}
	size := len(a) * int(unsafe.Sizeof(a[0]))
	ha := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(a))), size)
	hb := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(b))), size)
	return bytes.Equal(ha, hb) || slices.Equal(a, b)
}
