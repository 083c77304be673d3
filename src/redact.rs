//! Secrets never land in what is printed or kept: the userinfo of a URL
//! (`http://admin:s3cr3t@host`) and the values of query parameters whose
//! names look like secrets (`token`, `key`, `password`, ...) are replaced
//! with `***`, in URLs and in any text that carries one (error messages
//! quote the URL they failed on).

/// Parts of a parameter name that make its value a secret.
const SECRET_NAMES: &[&str] = &[
    "token",
    "key",
    "secret",
    "password",
    "passwd",
    "pwd",
    "auth",
    "credential",
    "signature",
    "sig",
    "session",
];

const HIDDEN: &str = "***";

/// One URL with its secrets hidden; text that is not a URL is returned as is.
pub(crate) fn url(text: &str) -> String {
    let Some((scheme, rest)) = text.split_once("://") else {
        return text.to_string();
    };
    let end_of_authority = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end_of_authority);
    let authority = match authority.rsplit_once('@') {
        Some((_, host)) => format!("{HIDDEN}@{host}"),
        None => authority.to_string(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let (query, fragment) = match query.split_once('#') {
                Some((q, f)) => (q, Some(f)),
                None => (query, None),
            };
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((name, _)) if is_secret(name) => format!("{name}={HIDDEN}"),
                    _ => pair.to_string(),
                })
                .collect();
            let mut tail = format!("{path}?{}", query.join("&"));
            if let Some(f) = fragment {
                tail.push('#');
                tail.push_str(f);
            }
            tail
        }
        None => tail.to_string(),
    };
    format!("{scheme}://{authority}{tail}")
}

/// Only where a URL goes: `https://hooks.slack.com/…`, for URLs whose path
/// is itself the secret (incoming webhooks). Userinfo is dropped too.
pub(crate) fn origin(text: &str) -> String {
    let Some((scheme, rest)) = text.split_once("://") else {
        return HIDDEN.to_string();
    };
    let end_of_authority = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end_of_authority];
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let more = if end_of_authority < rest.len() {
        "/…"
    } else {
        ""
    };
    format!("{scheme}://{host}{more}")
}

/// Text with every `http://` or `https://` URL in it redacted.
pub(crate) fn text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = ["http://", "https://"]
        .iter()
        .filter_map(|s| rest.find(s))
        .min()
    {
        out.push_str(&rest[..start]);
        let after = &rest[start..];
        let end = after
            .find(|c: char| c.is_whitespace() || matches!(c, ')' | '"' | '\'' | '>' | ',' | ']'))
            .unwrap_or(after.len());
        out.push_str(&url(&after[..end]));
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

fn is_secret(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    SECRET_NAMES.iter().any(|s| name.contains(s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn an_origin_keeps_only_scheme_and_host() {
        assert_eq!(
            origin("https://hooks.slack.com/services/T000/B000/XXXX"),
            "https://hooks.slack.com/…"
        );
        assert_eq!(origin("http://u:p@127.0.0.1:9000"), "http://127.0.0.1:9000");
        assert_eq!(origin("not a url"), "***");
    }

    #[test]
    fn userinfo_and_secret_parameters_are_hidden() {
        assert_eq!(
            url("http://admin:s3cr3t@db:8080/health?token=abc&x=1&api_key=k#top"),
            "http://***@db:8080/health?token=***&x=1&api_key=***#top"
        );
        assert_eq!(url("https://host/path"), "https://host/path");
        assert_eq!(url("127.0.0.1:5432"), "127.0.0.1:5432");
        assert_eq!(
            text("error sending request for url (http://u:p@h/x?Password=1): refused"),
            "error sending request for url (http://***@h/x?Password=***): refused"
        );
        assert_eq!(text("no url here"), "no url here");
    }

    proptest! {
        /// Whatever surrounds it, a secret put in a URL's userinfo or in a
        /// secret-looking parameter never survives.
        #[test]
        fn no_secret_survives(
            before in "[a-z ()]{0,12}",
            secret in "[A-Za-z0-9]{6,16}",
            after in "[a-z ]{0,12}",
        ) {
            let line = format!("{before}http://user:{secret}@host:1/p?q=1&access_token={secret} {after}");
            let redacted = text(&line);
            prop_assert!(!redacted.contains(&secret), "{redacted}");
        }
    }
}
