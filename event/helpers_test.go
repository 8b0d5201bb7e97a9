package event_test

import (
	"bytes"
	"encoding/json"
)

func compact(dst *bytes.Buffer, src []byte) error { return json.Compact(dst, src) }
