//! The version of a service an http probe's answer carries (`version:`):
//! read from the body, bounded, and never a reason to fail a sample. A body
//! without it (not JSON, no such field, none of the texts) has no version.

use crate::gameday::model::VersionFrom;

/// How much of a body is read for its version: a version endpoint answers
/// in bytes, a page in kilobytes; past this the rest is not read.
pub(super) const BODY_LIMIT: usize = 1 << 20;

/// A version longer than this is cut (at a character boundary): a version
/// is a name for a build, and each sample keeps it.
const VERSION_LIMIT: usize = 128;

/// The version `from` reads in `body`, if any.
pub(super) fn read(from: &VersionFrom, body: &str) -> Option<String> {
    let body = &body[..floor_char_boundary(body, BODY_LIMIT)];
    let version = match from {
        VersionFrom::Json(path) => json_field(body, path)?,
        VersionFrom::Contains(texts) => texts.iter().find(|t| body.contains(t.as_str()))?.clone(),
    };
    let version = version.trim();
    if version.is_empty() {
        return None;
    }
    Some(version[..floor_char_boundary(version, VERSION_LIMIT)].to_string())
}

/// The largest character boundary of `text` at or below `at`.
fn floor_char_boundary(text: &str, at: usize) -> usize {
    let mut end = text.len().min(at);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    end
}

/// The field at the dotted `path` of a JSON body, as text: a string as it
/// is, a number or a boolean as JSON writes it (`2`, `2.5`, `true`); an
/// object, a list or null is no version.
fn json_field(body: &str, path: &str) -> Option<String> {
    let root: serde_json::Value = serde_json::from_str(body).ok()?;
    let mut at = &root;
    for part in path.split('.') {
        at = match at {
            serde_json::Value::Object(fields) => fields.get(part)?,
            serde_json::Value::Array(items) => items.get(part.parse::<usize>().ok()?)?,
            serde_json::Value::Null
            | serde_json::Value::Bool(_)
            | serde_json::Value::Number(_)
            | serde_json::Value::String(_) => return None,
        };
    }
    match at {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        serde_json::Value::Null | serde_json::Value::Array(_) | serde_json::Value::Object(_) => {
            None
        }
    }
}

/// The body of `response`, at most `limit` bytes of it (the rest is not
/// read); bytes that are not UTF-8 are replaced.
pub(super) async fn read_body(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<String, reqwest::Error> {
    let mut body: Vec<u8> = Vec::new();
    while body.len() < limit {
        let Some(chunk) = response.chunk().await? else {
            break;
        };
        let room = limit - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(path: &str) -> VersionFrom {
        VersionFrom::Json(path.to_string())
    }

    #[test]
    fn a_json_field_is_read_by_its_dotted_path_and_printed_plainly() {
        let body = r#"{"version":"2.4.1","build":{"number":42,"ratio":2.5,"canary":true,"sha":null},
                       "replicas":[{"version":"1"},{"version":"2"}]}"#;
        assert_eq!(read(&json("version"), body).as_deref(), Some("2.4.1"));
        assert_eq!(read(&json("build.number"), body).as_deref(), Some("42"));
        assert_eq!(read(&json("build.ratio"), body).as_deref(), Some("2.5"));
        assert_eq!(read(&json("build.canary"), body).as_deref(), Some("true"));
        assert_eq!(
            read(&json("replicas.1.version"), body).as_deref(),
            Some("2")
        );
        // Absent, null, not a value, not an index: no version.
        for path in [
            "missing",
            "build.sha",
            "build",
            "replicas",
            "version.major",
            "replicas.x.version",
            "replicas.7.version",
        ] {
            assert_eq!(read(&json(path), body), None, "{path}");
        }
    }

    #[test]
    fn a_body_that_is_not_json_has_no_version() {
        for body in ["", "ok", "<html>version 2</html>", r#"{"version": "2""#] {
            assert_eq!(read(&json("version"), body), None, "{body:?}");
        }
        // A blank version is none either.
        assert_eq!(read(&json("version"), r#"{"version":"  "}"#), None);
    }

    #[test]
    fn contains_takes_the_first_listed_text_the_body_has() {
        let from = VersionFrom::Contains(vec!["v2".into(), "v1".into()]);
        assert_eq!(read(&from, "api v1 (build 7)").as_deref(), Some("v1"));
        // Both present: the list's order decides, not the body's.
        assert_eq!(read(&from, "v1 -> v2").as_deref(), Some("v2"));
        assert_eq!(read(&from, "v3"), None);
    }

    #[test]
    fn a_long_version_is_cut_at_a_character_boundary() {
        let long = format!(r#"{{"version":"{}"}}"#, "é".repeat(100));
        let version = read(&json("version"), &long).unwrap();
        assert!(version.len() <= VERSION_LIMIT && version.len() >= VERSION_LIMIT - 1);
        assert!(version.chars().all(|c| c == 'é'));
    }
}
