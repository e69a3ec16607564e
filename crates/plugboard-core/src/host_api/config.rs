//! A plugin's effective configuration: the operator's values from `config.yaml`, completed with
//! the `default`s of the plugin's JSON Schema, then validated against that schema (draft 2020-12).
//!
//! Every problem is reported at once, each with the JSON pointer of the offending value, so that
//! an operator fixes `config.yaml` in one pass rather than one error per restart.
//!
//! Compiled schemas are cached by their canonical JSON text: a thousand plugins built from one
//! template share one schema, which is compiled once.

use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::sync::Arc;

use parking_lot::Mutex;
use serde_json::{Map, Value};

/// How deep default-filling follows nested schemas and local `$ref`s; a bound that real
/// configuration never reaches and that stops a self-referencing schema from looping.
const MAX_SCHEMA_DEPTH: usize = 64;

/// One way in which a configuration fails its schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The JSON pointer of the offending value in the configuration, `/` for the whole of it
    /// (`/port`, `/servers/0/host`).
    pub pointer: String,
    /// The schema keyword that failed (`type`, `maximum`, `required`, `enum`, ...).
    pub keyword: String,
    /// What the schema expected, e.g. `99999 is greater than the maximum of 65535`.
    pub message: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} ({})", self.pointer, self.message, self.keyword)
    }
}

/// Why a plugin's configuration cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The configuration does not match the schema; one line per problem.
    #[error("the plugin's configuration does not match its schema; fix these values in config.yaml:{}", ProblemLines(.problems))]
    Invalid {
        /// Every problem found, in schema order.
        problems: Vec<ConfigProblem>,
    },
    /// The plugin's schema itself is not a valid draft 2020-12 JSON Schema (or has a `$ref` that
    /// cannot be resolved offline).
    #[error("the plugin's configuration schema is invalid at {schema_path}: {message}; this is a bug in the plugin, to be fixed by its author")]
    InvalidSchema {
        /// The JSON pointer of the bad part of the schema, `/` for the whole of it.
        schema_path: String,
        /// What is wrong with it.
        message: String,
    },
}

/// Renders problems one per line, indented under the error's first line.
struct ProblemLines<'a>(&'a [ConfigProblem]);

impl fmt::Display for ProblemLines<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for problem in self.0 {
            write!(f, "\n  {problem}")?;
        }
        Ok(())
    }
}

/// Computes effective configurations, with a cache of compiled schemas shared by all plugins of a
/// host. Thread-safe; one per host is enough.
///
/// Entries are never evicted: the cache holds one validator per distinct schema the host has seen,
/// which the installed plugins bound.
#[derive(Default)]
pub struct ConfigValidator {
    compiled: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
}

impl fmt::Debug for ConfigValidator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigValidator")
            .field("cached_schemas", &self.compiled.lock().len())
            .finish()
    }
}

impl ConfigValidator {
    /// An empty cache.
    pub fn new() -> ConfigValidator {
        ConfigValidator::default()
    }

    /// The configuration a plugin runs with: `provided` (from `config.yaml`) completed with the
    /// schema's defaults and validated against it.
    ///
    /// Without a schema, `provided` is returned as it is (`{}` when absent). With one, the value
    /// starts from `provided`; when absent, from the schema's top-level `default`, else `{}`, or
    /// `null` when the schema's `type` excludes objects. Defaults are then filled in:
    /// - a missing property whose schema has a `default` gets it;
    /// - a missing property whose schema describes an object (`properties`) without a `default`
    ///   is created from its own properties' defaults, if that gives a non-empty object with
    ///   every `required` property, so that optional sections are not made invalid by appearing;
    /// - present objects, and the items of present arrays (`items`), are filled recursively;
    /// - local `$ref`s (`#/$defs/...`) and `allOf` branches are followed (a recursive section is
    ///   filled as deep as it is provided, never built from nothing); `anyOf`, `oneOf` and
    ///   conditionals are not, since which branch applies is not known before validation.
    ///
    /// # Errors
    /// [`ConfigError::InvalidSchema`] when the schema does not compile;
    /// [`ConfigError::Invalid`] with every problem when the completed value does not validate.
    pub fn effective_config(
        &self,
        schema: Option<&Value>,
        provided: Option<&Value>,
    ) -> Result<Value, ConfigError> {
        let Some(schema) = schema else {
            return Ok(provided
                .cloned()
                .unwrap_or_else(|| Value::Object(Map::new())));
        };
        let validator = self.validator_for(schema)?;
        let mut config = match provided {
            Some(provided) => provided.clone(),
            None => match schema.get("default") {
                Some(default) => default.clone(),
                None if allows_object(schema) => Value::Object(Map::new()),
                None => Value::Null,
            },
        };
        DefaultFiller::new(schema).fill(schema, &mut config, 0);
        let problems: Vec<ConfigProblem> = validator
            .iter_errors(&config)
            .map(|error| ConfigProblem {
                pointer: pointer_or_root(error.instance_path().as_str()),
                keyword: error.kind().keyword().to_owned(),
                message: error.to_string(),
            })
            .collect();
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError::Invalid { problems })
        }
    }

    /// The compiled validator of `schema`, compiled on first sight. The lock is held while
    /// compiling so that plugins booting together do not compile the same schema in parallel.
    fn validator_for(&self, schema: &Value) -> Result<Arc<jsonschema::Validator>, ConfigError> {
        let mut key = String::new();
        write_canonical(&mut key, schema);
        let mut compiled = self.compiled.lock();
        if let Some(validator) = compiled.get(&key) {
            return Ok(Arc::clone(validator));
        }
        let validator =
            jsonschema::draft202012::new(schema).map_err(|error| ConfigError::InvalidSchema {
                schema_path: pointer_or_root(error.instance_path().as_str()),
                message: error.to_string(),
            })?;
        let validator = Arc::new(validator);
        compiled.insert(key, Arc::clone(&validator));
        Ok(validator)
    }
}

fn pointer_or_root(pointer: &str) -> String {
    if pointer.is_empty() {
        "/".to_owned()
    } else {
        pointer.to_owned()
    }
}

/// Writes `value` as JSON with object keys sorted at every level, so that schemas equal as JSON
/// share a cache entry whatever their key order (and whether serde_json preserves order or not).
fn write_canonical(out: &mut String, value: &Value) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (n, (key, value)) in entries.into_iter().enumerate() {
                if n > 0 {
                    out.push(',');
                }
                let _ = write!(out, "{}:", Value::from(key.as_str()));
                write_canonical(out, value);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (n, item) in items.iter().enumerate() {
                if n > 0 {
                    out.push(',');
                }
                write_canonical(out, item);
            }
            out.push(']');
        }
        leaf => {
            let _ = write!(out, "{leaf}");
        }
    }
}

/// Whether a schema's `type` admits an object (absent `type` does).
fn allows_object(schema: &Value) -> bool {
    match schema.get("type") {
        None => true,
        Some(Value::String(kind)) => kind == "object",
        Some(Value::Array(kinds)) => kinds.iter().any(|kind| kind == "object"),
        Some(_) => false,
    }
}

/// Fills in schema defaults, remembering which `$ref`s are being built from nothing so that a
/// recursive schema (`"children": {"items": {"$ref": "#"}}`) does not grow an endless tree.
struct DefaultFiller<'a> {
    root: &'a Value,
    /// `$ref`s whose targets are being synthesized; the root counts as `#`.
    building: Vec<&'a str>,
}

impl<'a> DefaultFiller<'a> {
    fn new(root: &'a Value) -> Self {
        Self {
            root,
            building: vec!["#"],
        }
    }

    /// The schemas that apply to the same value as `schema` and whose defaults are unambiguous:
    /// `schema` itself, its local `$ref` targets and its `allOf` branches; with the `$ref`s used.
    fn applicable(
        &self,
        schema: &'a Value,
        depth: usize,
        parts: &mut Vec<&'a Value>,
        refs: &mut Vec<&'a str>,
    ) {
        if depth > MAX_SCHEMA_DEPTH || !schema.is_object() {
            return;
        }
        parts.push(schema);
        if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
            // Only local references: remote ones fail compilation before this runs.
            if let Some(target) = reference
                .strip_prefix('#')
                .and_then(|pointer| self.root.pointer(pointer))
            {
                refs.push(reference);
                self.applicable(target, depth + 1, parts, refs);
            }
        }
        if let Some(Value::Array(branches)) = schema.get("allOf") {
            for branch in branches {
                self.applicable(branch, depth + 1, parts, refs);
            }
        }
    }

    /// Fills the defaults of `schema` into `instance`, which it describes.
    fn fill(&mut self, schema: &'a Value, instance: &mut Value, depth: usize) {
        let (mut parts, mut refs) = (Vec::new(), Vec::new());
        self.applicable(schema, depth, &mut parts, &mut refs);
        for part in parts {
            match instance {
                Value::Object(object) => {
                    let Some(Value::Object(properties)) = part.get("properties") else {
                        continue;
                    };
                    for (name, property) in properties {
                        match object.get_mut(name) {
                            Some(value) => self.fill(property, value, depth + 1),
                            None => {
                                if let Some(value) = self.default_for(property, depth + 1) {
                                    object.insert(name.clone(), value);
                                }
                            }
                        }
                    }
                }
                Value::Array(items) => {
                    if let Some(item_schema) = part.get("items").filter(|s| s.is_object()) {
                        for item in items {
                            self.fill(item_schema, item, depth + 1);
                        }
                    }
                }
                _ => {}
            }
        }
    }

    /// The value a missing property described by `schema` gets: its `default` (itself
    /// completed), or an object built from its properties' defaults when that is non-empty and
    /// has every `required` property; `None` leaves the property missing.
    fn default_for(&mut self, schema: &'a Value, depth: usize) -> Option<Value> {
        let (mut parts, mut refs) = (Vec::new(), Vec::new());
        self.applicable(schema, depth, &mut parts, &mut refs);
        if let Some(default) = parts.iter().find_map(|part| part.get("default")) {
            let mut value = default.clone();
            self.fill(schema, &mut value, depth);
            return Some(value);
        }
        let describes_object = parts
            .iter()
            .any(|part| part.get("properties").is_some_and(Value::is_object));
        if !describes_object || refs.iter().any(|r| self.building.contains(r)) {
            return None;
        }
        let mark = self.building.len();
        self.building.extend(&refs);
        let mut value = Value::Object(Map::new());
        self.fill(schema, &mut value, depth);
        self.building.truncate(mark);

        let built = value.as_object()?;
        let complete = !built.is_empty()
            && parts.iter().all(|part| match part.get("required") {
                Some(Value::Array(required)) => required
                    .iter()
                    .all(|name| name.as_str().is_some_and(|name| built.contains_key(name))),
                _ => true,
            });
        complete.then_some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const _: () = {
        const fn send_sync<T: Send + Sync>() {}
        send_sync::<ConfigValidator>();
        send_sync::<ConfigError>();
    };

    fn server_schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "port": {"type": "integer", "minimum": 1, "maximum": 65535, "default": 8080},
                "mode": {"enum": ["fast", "safe"], "default": "safe"},
                "server": {
                    "type": "object",
                    "properties": {
                        "host": {"type": "string", "default": "localhost"},
                        "tls": {
                            "type": "object",
                            "properties": {"enabled": {"type": "boolean", "default": false}}
                        }
                    }
                },
                "auth": {
                    "type": "object",
                    "properties": {
                        "method": {"type": "string", "default": "token"},
                        "token": {"type": "string"}
                    },
                    "required": ["token"]
                },
                "tags": {"type": "array", "items": {"type": "string"}}
            },
            "required": ["name"],
            "additionalProperties": false
        })
    }

    fn problems(result: Result<Value, ConfigError>) -> Vec<ConfigProblem> {
        match result {
            Err(ConfigError::Invalid { problems }) => problems,
            other => panic!("expected an invalid configuration, got {other:?}"),
        }
    }

    #[test]
    fn without_a_schema_the_provided_value_is_used_as_is() {
        let validator = ConfigValidator::new();
        assert_eq!(validator.effective_config(None, None).unwrap(), json!({}));
        let provided = json!({"anything": [1, 2]});
        assert_eq!(
            validator.effective_config(None, Some(&provided)).unwrap(),
            provided
        );
    }

    #[test]
    fn defaults_are_filled_recursively() {
        let validator = ConfigValidator::new();
        let schema = server_schema();
        let provided = json!({"name": "edge", "server": {"tls": {}}});
        let config = validator
            .effective_config(Some(&schema), Some(&provided))
            .unwrap();
        assert_eq!(
            config,
            json!({
                "name": "edge",
                "port": 8080,
                "mode": "safe",
                "server": {"host": "localhost", "tls": {"enabled": false}},
            }),
            "`auth` stays out: creating it would fail its `required`"
        );
        // A missing section is built from its defaults.
        let config = validator
            .effective_config(Some(&schema), Some(&json!({"name": "edge"})))
            .unwrap();
        assert_eq!(
            config["server"],
            json!({"host": "localhost", "tls": {"enabled": false}})
        );
        // Provided values win over defaults.
        let config = validator
            .effective_config(Some(&schema), Some(&json!({"name": "e", "port": 1})))
            .unwrap();
        assert_eq!(config["port"], 1);
    }

    #[test]
    fn defaults_follow_local_refs_all_of_and_array_items() {
        let validator = ConfigValidator::new();
        let schema = json!({
            "$defs": {
                "endpoint": {
                    "type": "object",
                    "properties": {"retries": {"type": "integer", "default": 3}}
                }
            },
            "allOf": [{"properties": {"level": {"default": "info"}}}],
            "properties": {
                "primary": {"$ref": "#/$defs/endpoint"},
                "mirrors": {"type": "array", "items": {"$ref": "#/$defs/endpoint"}},
                "looping": {"$ref": "#"}
            }
        });
        let provided = json!({"mirrors": [{}, {"retries": 9}], "looping": {"looping": {}}});
        let config = validator
            .effective_config(Some(&schema), Some(&provided))
            .unwrap();
        assert_eq!(config["level"], "info");
        assert_eq!(config["primary"], json!({"retries": 3}));
        assert_eq!(config["mirrors"], json!([{"retries": 3}, {"retries": 9}]));
        // A recursive section is filled as deep as it is provided, and never built from nothing.
        let inner = &config["looping"]["looping"];
        assert_eq!(inner["level"], "info");
        assert_eq!(inner["primary"], json!({"retries": 3}));
        assert!(inner.get("looping").is_none(), "{config}");
    }

    #[test]
    fn top_level_defaults_and_non_object_schemas() {
        let validator = ConfigValidator::new();
        let schema = json!({"type": "string", "default": "plain"});
        assert_eq!(
            validator.effective_config(Some(&schema), None).unwrap(),
            json!("plain")
        );
        let schema = json!({"type": "object", "default": {"a": 1}});
        assert_eq!(
            validator.effective_config(Some(&schema), None).unwrap(),
            json!({"a": 1})
        );
        let schema = json!({"type": "integer"});
        let found = problems(validator.effective_config(Some(&schema), None));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].pointer, "/");
        assert_eq!(found[0].keyword, "type");
        assert!(found[0].message.starts_with("null"), "{}", found[0].message);
    }

    #[test]
    fn a_wrong_type_is_reported_with_its_pointer() {
        let validator = ConfigValidator::new();
        let provided = json!({"name": "edge", "server": {"host": 42}});
        let found = problems(validator.effective_config(Some(&server_schema()), Some(&provided)));
        assert_eq!(
            found,
            vec![ConfigProblem {
                pointer: "/server/host".into(),
                keyword: "type".into(),
                message: r#"42 is not of type "string""#.into(),
            }]
        );
    }

    #[test]
    fn every_problem_is_reported_at_once_one_per_line() {
        let validator = ConfigValidator::new();
        let provided = json!({"port": 99999, "mode": "reckless", "tags": ["a", 2], "extra": 1});
        let result = validator.effective_config(Some(&server_schema()), Some(&provided));
        let error = result.clone().unwrap_err();
        let found = problems(result);
        let by_keyword = |keyword: &str| {
            found
                .iter()
                .find(|p| p.keyword == keyword)
                .unwrap_or_else(|| panic!("no {keyword} problem in {found:?}"))
        };
        assert_eq!(found.len(), 5, "{found:?}");
        assert_eq!(by_keyword("maximum").pointer, "/port");
        assert_eq!(
            by_keyword("maximum").message,
            "99999 is greater than the maximum of 65535"
        );
        assert_eq!(by_keyword("enum").pointer, "/mode");
        assert_eq!(by_keyword("type").pointer, "/tags/1");
        assert_eq!(by_keyword("required").pointer, "/");
        assert!(by_keyword("required").message.contains("\"name\""));
        assert_eq!(by_keyword("additionalProperties").pointer, "/");

        let text = error.to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 6, "{text}");
        assert!(lines[0].contains("config.yaml"), "{text}");
        assert!(
            lines.contains(&"  /port: 99999 is greater than the maximum of 65535 (maximum)"),
            "{text}"
        );
    }

    #[test]
    fn enum_and_required_problems() {
        let validator = ConfigValidator::new();
        let schema = json!({
            "type": "object",
            "properties": {"color": {"enum": ["red", "green"]}},
            "required": ["color", "size"]
        });
        let found =
            problems(validator.effective_config(Some(&schema), Some(&json!({"color": "blue"}))));
        assert_eq!(found.len(), 2, "{found:?}");
        let color = found.iter().find(|p| p.keyword == "enum").unwrap();
        assert_eq!(color.pointer, "/color");
        assert!(color.message.contains(r#""blue""#), "{}", color.message);
        let size = found.iter().find(|p| p.keyword == "required").unwrap();
        assert_eq!(size.pointer, "/");
        assert_eq!(size.message, r#""size" is a required property"#);
    }

    #[test]
    fn an_invalid_schema_names_the_bad_part() {
        let validator = ConfigValidator::new();
        let schema = json!({"properties": {"port": {"type": "integer", "minimum": "ten"}}});
        let error = validator
            .effective_config(Some(&schema), Some(&json!({})))
            .unwrap_err();
        match &error {
            ConfigError::InvalidSchema { schema_path, .. } => {
                assert_eq!(schema_path, "/properties/port/minimum");
            }
            other => panic!("expected an invalid schema, got {other:?}"),
        }
        assert!(error.to_string().contains("author"), "{error}");
        assert_eq!(
            validator.compiled.lock().len(),
            0,
            "failures are not cached"
        );
    }

    #[test]
    fn a_remote_ref_is_an_invalid_schema_not_a_network_request() {
        let validator = ConfigValidator::new();
        let schema = json!({"$ref": "https://example.invalid/schema.json"});
        let error = validator.effective_config(Some(&schema), None).unwrap_err();
        assert!(
            matches!(error, ConfigError::InvalidSchema { .. }),
            "{error:?}"
        );
    }

    #[test]
    fn schemas_equal_as_json_are_compiled_once() {
        let validator = ConfigValidator::new();
        let a = json!({"type": "object", "properties": {"x": {"type": "integer"}, "y": {}}});
        let b: Value = serde_json::from_str(
            r#"{"properties": {"y": {}, "x": {"type": "integer"}}, "type": "object"}"#,
        )
        .unwrap();
        let first = validator.validator_for(&a).unwrap();
        let second = validator.validator_for(&b).unwrap();
        assert!(Arc::ptr_eq(&first, &second));
        for _ in 0..1000 {
            validator.effective_config(Some(&b), None).unwrap();
        }
        assert_eq!(validator.compiled.lock().len(), 1);
        validator
            .effective_config(Some(&json!({"type": "object"})), None)
            .unwrap();
        assert_eq!(validator.compiled.lock().len(), 2);
    }

    #[test]
    fn canonical_text_sorts_keys_and_keeps_values() {
        let mut out = String::new();
        write_canonical(
            &mut out,
            &json!({"b": [1, "two", null], "a": {"d": true, "c": 1.5}}),
        );
        assert_eq!(out, r#"{"a":{"c":1.5,"d":true},"b":[1,"two",null]}"#);
    }
}
