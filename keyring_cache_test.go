package jongler

import (
	"reflect"
	"testing"
)

// TestDeepCopyCopiesEverySlice: a field added to state must be copied by
// deepCopy, or an update starting from the cached state would change the
// cache (or drop the field).
func TestDeepCopyCopiesEverySlice(t *testing.T) {
	var st state
	v := reflect.ValueOf(&st).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		if f.Kind() == reflect.Slice {
			f.Set(reflect.MakeSlice(f.Type(), 1, 1))
		}
	}
	cp := deepCopy(st)
	c := reflect.ValueOf(cp)
	for i := range v.NumField() {
		f := v.Field(i)
		if f.Kind() != reflect.Slice {
			continue
		}
		if c.Field(i).Len() != 1 || c.Field(i).Pointer() == f.Pointer() {
			t.Errorf("deepCopy shares or drops state.%s", v.Type().Field(i).Name)
		}
	}
}
