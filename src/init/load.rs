//! The load probe `gameday init` offers: on the stack's main HTTP endpoint
//! (a service answering HTTP that no other service depends on, else the
//! first answering HTTP), live with `--load RATE`, else written commented
//! out at 50/s for a team to turn on. Pure, like the rest of `write`.

use std::fmt::Write as _;

use super::write::scalar;
use super::{Endpoint, Stack};
use crate::gameday::units::RequestRate;

/// The rate a commented-out load probe suggests.
const SUGGESTED: RequestRate = RequestRate(50.0);

/// The URL of the stack's main HTTP endpoint, and its service.
fn http(s: &super::Service) -> Option<(&str, &str)> {
    match &s.endpoint {
        Some(Endpoint::Http { url, .. }) => Some((s.name.as_str(), url.as_str())),
        Some(Endpoint::Tcp { .. } | Endpoint::Unreachable { .. }) | None => None,
    }
}

fn main_endpoint(stack: &Stack) -> Option<(&str, &str)> {
    let depended_on = |name: &str| stack.edges.iter().any(|e| e.to == name);
    stack
        .services
        .iter()
        .filter(|s| !depended_on(&s.name))
        .find_map(http)
        .or_else(|| stack.services.iter().find_map(http))
}

/// The load probe's lines under `probes:` (nothing without an HTTP endpoint).
pub(crate) fn load_probe(out: &mut String, stack: &Stack, rate: Option<RequestRate>) {
    let Some((service, url)) = main_endpoint(stack) else {
        return;
    };
    let (mark, rate) = match rate {
        Some(rate) => ("", rate),
        None => ("# ", SUGGESTED),
    };
    if mark.is_empty() {
        let _ = writeln!(
            out,
            "  # Load on {service} while each scenario runs: checks on it see the faults under load."
        );
    } else {
        let _ = writeln!(
            out,
            "  # Load on {service} while each scenario runs (uncomment, or `gameday init --load 200/s`):"
        );
    }
    let name = scalar(&format!("{service}-load"));
    let _ = writeln!(out, "  {mark}{name}:");
    let _ = writeln!(
        out,
        "  {mark}  load: {{ http: {{ url: {} }}, rate: {rate}, connections: 64 }}   # adjust",
        scalar(url)
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::init::{Edge, EdgeSource, Service};

    fn service(name: &str, endpoint: Option<Endpoint>) -> Service {
        Service {
            name: name.into(),
            endpoint,
            healthcheck: None,
            datastore: None,
        }
    }

    fn stack() -> Stack {
        Stack {
            project: "shop".into(),
            services: vec![
                service(
                    "store",
                    Some(Endpoint::Http {
                        url: "http://127.0.0.1:7000/health".into(),
                        status: 200,
                    }),
                ),
                service(
                    "api",
                    Some(Endpoint::Http {
                        url: "http://127.0.0.1:8080/health".into(),
                        status: 200,
                    }),
                ),
            ],
            edges: vec![Edge {
                from: "api".into(),
                to: "store".into(),
                source: EdgeSource::DependsOn,
            }],
            compose_files: Vec::new(),
            notes: Vec::new(),
            probed_at: crate::init::reach::ProbeHost::local(),
        }
    }

    #[test]
    fn the_load_goes_to_the_entry_point_commented_out_unless_asked() {
        let mut out = String::new();
        load_probe(&mut out, &stack(), None);
        assert!(out.contains("  # api-load:\n"), "{out}");
        assert!(out.contains("http://127.0.0.1:8080/health"), "{out}");
        assert!(out.contains("rate: 50/s"), "{out}");
        let mut out = String::new();
        load_probe(&mut out, &stack(), Some(RequestRate(300.0)));
        assert!(out.contains("\n  api-load:\n    load: {"), "{out}");
        assert!(out.contains("rate: 300/s"), "{out}");
        // The whole file with a live load probe validates.
        let text = crate::init::write::gameday_text(
            &stack(),
            &crate::init::write::WriteOptions {
                duration: crate::gameday::units::HumanDuration::from_secs(10),
                date: "2026-12-06".into(),
                command: "gameday init --project shop --load 300/s".into(),
                load: Some(RequestRate(300.0)),
            },
        );
        let loaded = crate::gameday::load_bytes("init.yaml", text.as_bytes(), &|_| None);
        assert!(loaded.is_ok(), "{text}");
        let mut none = stack();
        none.services.iter_mut().for_each(|s| s.endpoint = None);
        let mut out = String::new();
        load_probe(&mut out, &none, None);
        assert!(out.is_empty());
    }
}
