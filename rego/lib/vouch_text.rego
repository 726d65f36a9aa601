# Text helpers of lib.vouch without sprintf: an OPA WASM module leaves sprintf to its host
# (https://www.openpolicyagent.org/docs/wasm#builtins), and @open-policy-agent/opa-wasm's sprintf
# (sprintf-js) has no %q or %v, so messages built with sprintf would abort there (docs/decision.md).
package lib.vouch

# A string in double quotes as Go's %q writes it (https://pkg.go.dev/fmt, "String and slice of
# bytes"): backslash, quote, control characters and invisible format characters escaped, every other
# character kept. Anything else is quoted as _text/1 writes it.
_quote(x) := concat("", ["\"", strings.replace_n(_quote_escapes, _text(x)), "\""])

_quote_escapes := {
	"\\": "\\\\", "\"": "\\\"", "\u0000": "\\x00", "\u0001": "\\x01", "\u0002": "\\x02", "\u0003": "\\x03",
	"\u0004": "\\x04", "\u0005": "\\x05", "\u0006": "\\x06", "\u0007": "\\a", "\u0008": "\\b", "\u0009": "\\t",
	"\u000a": "\\n", "\u000b": "\\v", "\u000c": "\\f", "\u000d": "\\r", "\u000e": "\\x0e", "\u000f": "\\x0f",
	"\u0010": "\\x10", "\u0011": "\\x11", "\u0012": "\\x12", "\u0013": "\\x13", "\u0014": "\\x14",
	"\u0015": "\\x15", "\u0016": "\\x16", "\u0017": "\\x17", "\u0018": "\\x18", "\u0019": "\\x19",
	"\u001a": "\\x1a", "\u001b": "\\x1b", "\u001c": "\\x1c", "\u001d": "\\x1d", "\u001e": "\\x1e",
	"\u001f": "\\x1f", "\u007f": "\\x7f", "\u0080": "\\u0080", "\u0081": "\\u0081", "\u0082": "\\u0082",
	"\u0083": "\\u0083", "\u0084": "\\u0084", "\u0085": "\\u0085", "\u0086": "\\u0086", "\u0087": "\\u0087",
	"\u0088": "\\u0088", "\u0089": "\\u0089", "\u008a": "\\u008a", "\u008b": "\\u008b", "\u008c": "\\u008c",
	"\u008d": "\\u008d", "\u008e": "\\u008e", "\u008f": "\\u008f", "\u0090": "\\u0090", "\u0091": "\\u0091",
	"\u0092": "\\u0092", "\u0093": "\\u0093", "\u0094": "\\u0094", "\u0095": "\\u0095", "\u0096": "\\u0096",
	"\u0097": "\\u0097", "\u0098": "\\u0098", "\u0099": "\\u0099", "\u009a": "\\u009a", "\u009b": "\\u009b",
	"\u009c": "\\u009c", "\u009d": "\\u009d", "\u009e": "\\u009e", "\u009f": "\\u009f", "\u00a0": "\\u00a0",
	"\u00ad": "\\u00ad", "\u200b": "\\u200b", "\u200c": "\\u200c", "\u200d": "\\u200d", "\u200e": "\\u200e",
	"\u200f": "\\u200f", "\u2028": "\\u2028", "\u2029": "\\u2029", "\ufeff": "\\ufeff",
}

# A value as text: a string as it is, a number, boolean or null as JSON, a collection by its type
# (its content came from a malformed answer and is not worth echoing into a message).
_text(x) := x if {
	is_string(x)
} else := json.marshal(x) if {
	not is_object(x)
	not is_array(x)
	not is_set(x)
} else := _collection_names[type_name(x)]

_collection_names := {"object": "an object", "array": "an array", "set": "a set"}
