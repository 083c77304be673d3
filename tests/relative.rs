//! Checks relative to the before window, through the real binary against a
//! real container: an http probe of the demo store, a 300ms network delay
//! on it, and checks whose limits come from the probe's own baseline. One
//! relative check is met and one is not, and `result.json` records both
//! windows' figures, the limit and the ratio; the reports say them.

mod common;

use std::path::Path;

use common::*;

fn relative_gameday(project: &str, port: u16) -> String {
    format!(
        r#"
gameday: Relative checks
scope: {{ compose_project: {project} }}
defaults: {{ baseline: 3s, cooldown: 1s }}
probes:
  store:
    http: {{ url: "http://127.0.0.1:{port}/get", expect_status: 200 }}
    every: 100ms
    timeout: 3s
scenarios:
  - name: Slow store
    fault: {{ delay: {{ service: store, latency: 300ms }} }}
    duration: 4s
    expect:
      - {{ probe: store, latency_p50: "<= before + 1s" }}
      - {{ probe: store, success_rate: ">= before - 1%" }}
      - {{ probe: store, latency_p50: "< 2x before" }}
"#
    )
}

/// Whether two figures read back from `result.json` agree: serde_json's
/// default float parser may land one unit in the last place off the
/// written value, so a limit computed from a parsed `before` is compared
/// within a relative 1e-9, not bit for bit.
fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

fn number(v: &serde_json::Value, what: &str) -> f64 {
    v.as_f64()
        .unwrap_or_else(|| panic!("{what} is not a number: {v}"))
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn a_relative_check_is_judged_against_the_probe_s_own_baseline() {
    if !docker_available() {
        return;
    }
    let project = Project::new("relative");
    let store = project.service("store", &["store", "--listen", "0.0.0.0:7000"], Some(7000));
    let port = store.host_port.unwrap();
    let (_dir, file) = gameday_file(&relative_gameday(&project.name, port));
    let out = tempfile::tempdir().unwrap();
    let output = run_gameday(out.path(), &file, 120);
    assert_exit(&output, 1);

    let dir = run_dir(out.path());
    let result = result_json(&dir);
    let scenario = &result["scenarios"][0];
    assert_eq!(scenario["verdict"], "not_met", "{scenario:#}");
    let checks = scenario["expectations"].as_array().unwrap();
    assert_eq!(checks.len(), 3, "{scenario:#}");

    // Met: the delay is within a second of the baseline's median.
    let plus = &checks[0];
    assert_eq!(plus["verdict"], "met", "{plus:#}");
    assert_eq!(plus["unit"], "ms");
    let during = number(&plus["value"], "value");
    let before = number(&plus["relative"]["before"], "before");
    assert!(during >= 300.0, "the 300ms delay was not seen: {plus:#}");
    assert!(before < 100.0, "the baseline was already slow: {plus:#}");
    let limit = number(&plus["relative"]["limit"], "limit");
    assert!(close(limit, before + 1000.0), "{plus:#}");
    let ratio = number(&plus["relative"]["ratio"], "ratio");
    assert!(close(ratio, during / before), "{plus:#}");
    assert_eq!(
        plus["text"],
        "store: latency_p50 <= before + 1s during fault"
    );

    // Met: nothing failed, before or during.
    let rate = &checks[1];
    assert_eq!(rate["verdict"], "met", "{rate:#}");
    assert_eq!(number(&rate["value"], "value"), 100.0);
    assert_eq!(number(&rate["relative"]["before"], "before"), 100.0);
    assert_eq!(number(&rate["relative"]["limit"], "limit"), 99.0);
    assert_eq!(number(&rate["relative"]["ratio"], "ratio"), 1.0);

    // Not met: the median more than doubled, and the verdict says by how much.
    let twice = &checks[2];
    assert_eq!(twice["verdict"], "not_met", "{twice:#}");
    assert_eq!(number(&twice["value"], "value"), during);
    assert_eq!(number(&twice["relative"]["before"], "before"), before);
    let limit = number(&twice["relative"]["limit"], "limit");
    assert!(close(limit, 2.0 * before), "{twice:#}");
    let actual = twice["actual"].as_str().unwrap();
    assert!(
        actual.contains("the before window's p50") && actual.contains("; limit < "),
        "{actual}"
    );

    // The reports and JUnit carry the same words.
    assert!(read(&dir, "report.md").contains(actual), "report.md");
    assert!(
        read(&dir, "junit.xml").contains("the before window&apos;s p50")
            || read(&dir, "junit.xml").contains("the before window's p50")
    );
    let html = read(&dir, "report.html");
    assert!(html.contains("the before window"), "report.html");
}
