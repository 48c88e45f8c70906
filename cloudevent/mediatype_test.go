package cloudevent

import "testing"

func TestModeOf(t *testing.T) {
	tests := []struct {
		contentType string
		want        Mode
	}{
		{"application/cloudevents+json", ModeStructured},
		{"application/cloudevents+json; charset=utf-8", ModeStructured},
		{" Application/CloudEvents+JSON ;charset=UTF-8", ModeStructured},
		{"application/cloudevents-batch+json", ModeBatch},
		{"application/cloudevents-batch+json; charset=UTF-8", ModeBatch},
		{"application/cloudevents+avro", ModeUnsupported},
		{"application/cloudevents", ModeUnsupported},
		{"application/cloudevents-batch+protobuf", ModeUnsupported},
		{"application/cloudeventsx", ModeBinary},
		{"application/json", ModeBinary},
		{"text/plain", ModeBinary},
		{"", ModeBinary},
		{"application/cloudevents+jſon", ModeUnsupported}, // no Unicode case folding
	}
	for _, tt := range tests {
		if got := ModeOf(tt.contentType); got != tt.want {
			t.Errorf("ModeOf(%q) = %v, want %v", tt.contentType, got, tt.want)
		}
	}
}

func TestContentTypeClasses(t *testing.T) {
	tests := []struct {
		contentType string
		json, text  bool
	}{
		{"application/json", true, false},
		{"application/json; charset=utf-8", true, false},
		{"text/json", true, true},
		{"application/ld+json", true, false},
		{"APPLICATION/JSON", true, false},
		{"application/jsonx", false, false},
		{"application/json-seq", false, false},
		{"text/plain", false, true},
		{"text/csv; header=present", false, true},
		{"application/xml", false, true},
		{"image/svg+xml", false, true},
		{"application/octet-stream", false, false},
		{"", false, false},
	}
	for _, tt := range tests {
		if got := isJSONContentType(tt.contentType); got != tt.json {
			t.Errorf("isJSONContentType(%q) = %v, want %v", tt.contentType, got, tt.json)
		}
		if got := isTextContentType(tt.contentType); got != tt.text {
			t.Errorf("isTextContentType(%q) = %v, want %v", tt.contentType, got, tt.text)
		}
	}
}
