package server

import (
	"encoding/json"
	"github.com/heraldhq/herald/internal/broker"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// httpMethods are the operation keys of an OpenAPI path item.
var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// extraOperations are served by Handler itself, outside the routes slice.
var extraOperations = []string{"GET /healthz", "GET /openapi.json", "GET /v1/stream"}

// loadOpenAPI parses the embedded document.
func loadOpenAPI(t *testing.T) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(openAPIDoc, &doc); err != nil {
		t.Fatalf("openapi.json does not parse as JSON: %v", err)
	}
	return doc
}

// object returns v[key] as a JSON object, failing the test otherwise.
func object(t *testing.T, v map[string]any, key string) map[string]any {
	t.Helper()
	o, ok := v[key].(map[string]any)
	if !ok {
		t.Fatalf("%q is %T, want a JSON object", key, v[key])
	}
	return o
}

// documentedOperations returns "METHOD /path" for every operation of the
// document, mapped to the operation object.
func documentedOperations(t *testing.T, doc map[string]any) map[string]map[string]any {
	t.Helper()
	ops := map[string]map[string]any{}
	for path, item := range object(t, doc, "paths") {
		pathItem, ok := item.(map[string]any)
		if !ok {
			t.Fatalf("path item %s is %T, want an object", path, item)
		}
		for _, m := range httpMethods {
			if op, ok := pathItem[m].(map[string]any); ok {
				ops[strings.ToUpper(m)+" "+path] = op
			}
		}
	}
	return ops
}

func TestOpenAPIDocument(t *testing.T) {
	doc := loadOpenAPI(t)
	info := object(t, doc, "info")
	servers, _ := doc["servers"].([]any)
	var serverURL any
	if len(servers) > 0 {
		serverURL = servers[0].(map[string]any)["url"]
	}
	tests := []struct {
		name string
		got  any
		ok   func(any) bool
		want string
	}{
		{"openapi version", doc["openapi"], func(v any) bool { s, _ := v.(string); return strings.HasPrefix(s, "3.1") }, "3.1.x"},
		{"info.title", info["title"], func(v any) bool { return v == "Herald" }, "Herald"},
		{"info.version", info["version"], func(v any) bool { return v == "1" }, "1"},
		{"servers[0].url", serverURL, func(v any) bool { return v == "http://127.0.0.1:7070" }, "http://127.0.0.1:7070"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !tt.ok(tt.got) {
				t.Errorf("%s = %v, want %s", tt.name, tt.got, tt.want)
			}
		})
	}
}

// collectRefs returns every $ref value in v with where it appears.
func collectRefs(v any, at string, refs map[string][]string) {
	switch v := v.(type) {
	case map[string]any:
		if r, ok := v["$ref"].(string); ok {
			refs[r] = append(refs[r], at)
		}
		for k, child := range v {
			collectRefs(child, at+"/"+k, refs)
		}
	case []any:
		for i, child := range v {
			collectRefs(child, at+"/"+itoa(i), refs)
		}
	}
}

// resolvePointer follows a local JSON pointer ("#/components/...") in doc.
func resolvePointer(t *testing.T, doc map[string]any, ref string) (any, bool) {
	t.Helper()
	if !strings.HasPrefix(ref, "#/components/") {
		return nil, false
	}
	var cur any = doc
	for _, tok := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
		tok = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
		o, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = o[tok]; !ok {
			return nil, false
		}
	}
	return cur, true
}

func TestOpenAPIRefsResolve(t *testing.T) {
	doc := loadOpenAPI(t)
	refs := map[string][]string{}
	collectRefs(doc, "#", refs)
	if len(refs) == 0 {
		t.Fatal("the document has no $ref: components are not reused")
	}
	for _, ref := range slices.Sorted(maps.Keys(refs)) {
		t.Run(ref, func(t *testing.T) {
			target, ok := resolvePointer(t, doc, ref)
			if !ok {
				t.Fatalf("$ref %s does not resolve to a component (used at %v)", ref, refs[ref])
			}
			if _, ok := target.(map[string]any); !ok {
				t.Errorf("$ref %s resolves to %T, want an object", ref, target)
			}
		})
	}
	// Every reusable component is used, directly or through another one.
	for kind, comps := range object(t, doc, "components") {
		for name := range comps.(map[string]any) {
			ref := "#/components/" + kind + "/" + name
			if _, used := refs[ref]; !used {
				t.Errorf("component %s is never referenced", ref)
			}
		}
	}
}

func TestOpenAPIMatchesRoutes(t *testing.T) {
	doc := loadOpenAPI(t)
	ops := documentedOperations(t, doc)

	want := map[string]bool{}
	for _, rt := range routes {
		want[rt.method+" "+rt.path] = true
	}
	for _, op := range extraOperations {
		want[op] = true
	}
	if len(want) != len(routes)+len(extraOperations) {
		t.Fatalf("routes has duplicate entries")
	}

	for _, key := range slices.Sorted(maps.Keys(want)) {
		t.Run("documented/"+key, func(t *testing.T) {
			if _, ok := ops[key]; !ok {
				t.Errorf("route %s is not in openapi.json", key)
			}
		})
	}
	for _, key := range slices.Sorted(maps.Keys(ops)) {
		t.Run("served/"+key, func(t *testing.T) {
			if !want[key] {
				t.Errorf("openapi.json documents %s, which no route serves", key)
			}
		})
	}
}

var pathParamRE = regexp.MustCompile(`\{([^}]+)\}`)

// operationParams returns the parameters of an operation and of its path
// item, following $ref to components.
func operationParams(t *testing.T, doc map[string]any, pathItem, op map[string]any) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, list := range []any{pathItem["parameters"], op["parameters"]} {
		items, _ := list.([]any)
		for _, p := range items {
			param, _ := p.(map[string]any)
			if ref, ok := param["$ref"].(string); ok {
				target, ok := resolvePointer(t, doc, ref)
				if !ok {
					t.Fatalf("parameter $ref %s does not resolve", ref)
				}
				param, _ = target.(map[string]any)
			}
			out = append(out, param)
		}
	}
	return out
}

func TestOpenAPIOperations(t *testing.T) {
	doc := loadOpenAPI(t)
	paths := object(t, doc, "paths")
	seenIDs := map[string]string{}
	for key, op := range documentedOperations(t, doc) {
		t.Run(key, func(t *testing.T) {
			method, path, _ := strings.Cut(key, " ")
			id, _ := op["operationId"].(string)
			if id == "" {
				t.Errorf("%s has no operationId", key)
			} else if other, dup := seenIDs[id]; dup {
				t.Errorf("operationId %s is used by %s and %s", id, other, key)
			}
			seenIDs[id] = key
			if s, _ := op["summary"].(string); s == "" {
				t.Errorf("%s has no summary", key)
			}
			if resp, _ := op["responses"].(map[string]any); len(resp) == 0 {
				t.Errorf("%s has no responses", key)
			}

			// Each {param} of the path is declared as a required path
			// parameter, and no other path parameter is.
			declared := map[string]bool{}
			for _, p := range operationParams(t, doc, paths[path].(map[string]any), op) {
				if p["in"] != "path" {
					continue
				}
				name, _ := p["name"].(string)
				declared[name] = true
				if p["required"] != true {
					t.Errorf("%s: path parameter %s is not required", key, name)
				}
			}
			for _, m := range pathParamRE.FindAllStringSubmatch(path, -1) {
				if !declared[m[1]] {
					t.Errorf("%s: path parameter {%s} is not declared", key, m[1])
				}
				delete(declared, m[1])
			}
			for name := range declared {
				t.Errorf("%s %s declares path parameter %s, which the path lacks", method, path, name)
			}
		})
	}
}

func TestOpenAPINamePattern(t *testing.T) {
	doc := loadOpenAPI(t)
	name := object(t, object(t, object(t, doc, "components"), "schemas"), "Name")
	pattern, _ := name["pattern"].(string)
	re, err := regexp.Compile(pattern)
	if err != nil {
		t.Fatalf("Name pattern %q does not compile: %v", pattern, err)
	}
	tests := []struct {
		name string
		ok   bool
	}{
		{"orders", true},
		{"orders.billing.dlq", true},
		{"0rders_v2-x", true},
		{strings.Repeat("a", broker.MaxNameLength), true},
		{strings.Repeat("a", broker.MaxNameLength+1), false},
		{"", false},
		{".hidden", false},
		{"-dash", false},
		{"a/b", false},
		{"a b", false},
	}
	for _, tt := range tests {
		if got := re.MatchString(tt.name); got != tt.ok {
			t.Errorf("Name pattern matches %q = %v, want %v", tt.name, got, tt.ok)
		}
		if valid := broker.ValidateName("topic", tt.name) == nil; valid != tt.ok {
			t.Errorf("broker.ValidateName(%q) accepts = %v, but the documented pattern says %v", tt.name, valid, tt.ok)
		}
	}
}
