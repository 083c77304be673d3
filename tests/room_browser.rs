//! The live room in a real browser: headless Chromium driven through
//! Debian's `chromedriver` (WebDriver) against a real run on a demo stack,
//! as the team would use it: a writer's page and a viewer's page open at
//! once, an observation typed and sent, the halt button pressed. What the
//! pages show is read from their DOM; how soon, measured. Screenshots of
//! the pages mid-run and at the end are kept under
//! `target/room-screenshots/` when a test fails.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::webdriver::{Browser, Driver, chromedriver_available};
use common::*;
use serde_json::{Value, json};

/// A gameday run with `--serve` in the background, its stderr collected.
struct Served {
    child: Option<Child>,
    said: Arc<Mutex<String>>,
}

impl Served {
    fn start(file: &Path, out: &Path) -> Served {
        let mut child = Command::new(assert_cmd::cargo::cargo_bin("gameday"))
            .args(["run", "--no-progress", "--serve=127.0.0.1:0", "--out"])
            .arg(out)
            .arg(file)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let said = Arc::new(Mutex::new(String::new()));
        for stream in [
            Box::new(child.stderr.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stdout.take().unwrap()),
        ] {
            let said = said.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    said.lock().unwrap().push_str(&format!("{line}\n"));
                }
            });
        }
        Served {
            child: Some(child),
            said,
        }
    }

    fn said(&self) -> String {
        self.said.lock().unwrap().clone()
    }

    /// The room's two links as printed at the start: (viewer, writer).
    fn links(&self) -> (String, String) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let said = self.said();
            let urls: Vec<&str> = said
                .split_whitespace()
                .filter(|w| w.starts_with("http://127.0.0.1:"))
                .collect();
            let writer = urls.iter().find(|u| u.contains("token="));
            let viewer = urls.iter().find(|u| !u.contains("token="));
            if let (Some(v), Some(w)) = (viewer, writer) {
                return (v.to_string(), w.to_string());
            }
            assert!(
                Instant::now() < deadline,
                "the room's links were never printed:\n{said}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Wait for the run to end: its exit code.
    fn wait(&mut self, within: Duration) -> i32 {
        let mut child = self.child.take().unwrap();
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("the run did not end within {within:?}:\n{}", self.said());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGINT first: the run reverts what it applied.
            let _ = Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(20);
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Screenshots, kept under `target/room-screenshots/<test>/` when the test
/// fails (removed with their temporary folder otherwise).
struct Shots {
    dir: tempfile::TempDir,
    test: &'static str,
}

impl Shots {
    fn new(test: &'static str) -> Shots {
        Shots {
            dir: tempfile::tempdir().unwrap(),
            test,
        }
    }

    /// A screenshot of `page` named `name`: not blank (its text is there
    /// and the PNG is not a flat image), nothing overflowing sideways.
    fn take(&self, page: &Browser, name: &str) {
        let path = self.dir.path().join(format!("{name}.png"));
        let bytes = page.screenshot(&path);
        let text = page.text("body");
        assert!(
            bytes > 20_000 && text.len() > 200,
            "the page looks blank at {name}: {bytes} bytes of PNG, its text:\n{text}"
        );
        let overflowing = page.overflowing();
        assert!(
            overflowing.is_empty(),
            "at {name}, these overflow the page: {overflowing:?}"
        );
    }
}

impl Drop for Shots {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let keep = root().join("target/room-screenshots").join(self.test);
            let _ = std::fs::create_dir_all(&keep);
            for entry in std::fs::read_dir(self.dir.path()).into_iter().flatten() {
                let entry = entry.unwrap();
                let _ = std::fs::copy(entry.path(), keep.join(entry.file_name()));
            }
            eprintln!("screenshots kept in {}", keep.display());
        }
    }
}

fn gameday(project: &str, api_port: u16, fault_for: &str) -> String {
    format!(
        r#"gameday: Store drill in the room
participants: [Dana (coordinator), {{ name: Sam, role: observer }}]
environment: browser test stack
scope: {{ compose_project: {project} }}
defaults: {{ baseline: 5s, cooldown: 2s }}
probes:
  api: {{ http: {{ url: "http://127.0.0.1:{api_port}/health" }}, every: 200ms, timeout: 500ms }}
  store-state: {{ container: {{ service: store }}, every: 100ms }}
scenarios:
  - name: Store frozen
    fault: {{ pause: {{ service: store }} }}
    duration: {fault_for}
    expect:
      - {{ probe: store-state, during: fault, state: paused }}
      - {{ probe: store-state, recovers_within: 3s }}
"#
    )
}

/// Open `url` in `page` and start recording, in the page, when each fault
/// first showed and every phase label seen.
fn open_recording(page: &Browser, url: &str) {
    page.goto(url);
    page.wait_for(
        "the page connects to the room",
        Duration::from_secs(10),
        "return document.body.dataset.connected === 'true';",
    );
    page.js(
        r#"window.__openedAt = Date.now();
           window.__faultSeen = {};
           window.__phases = [];
           const look = () => {
             for (const li of document.querySelectorAll('#faults li[data-fault-id]')) {
               window.__faultSeen[li.dataset.faultId] ??= Date.now();
             }
             const p = document.getElementById('phase').innerText.trim();
             if (p && window.__phases[window.__phases.length - 1] !== p) window.__phases.push(p);
           };
           look();
           new MutationObserver(look).observe(document.body, { subtree: true, childList: true, characterData: true });"#,
        json!([]),
    );
}

/// The journal's entries of the one run under `out`.
fn journal(out: &Path) -> Vec<Value> {
    journal_text(out)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn millis(at: &Value) -> i64 {
    chrono::DateTime::parse_from_rfc3339(at.as_str().unwrap())
        .unwrap()
        .timestamp_millis()
}

fn report_md(out: &Path) -> String {
    std::fs::read_to_string(run_dir(out).join("report.md")).unwrap()
}

/// A writer's page and a viewer's page on a real run: the fault shows
/// within 1 s of its journal entry, the phase and countdown move, a viewer
/// cannot write nor halt (403, said on the page), a writer's observation
/// reaches the other page within 1 s and the report, the verdicts come at
/// the end; screenshots mid-run and at the end are neither blank nor
/// overflowing.
#[test]
fn the_room_shows_the_run_live_and_takes_observations_in_a_real_browser() {
    if !docker_available() || !chromedriver_available() {
        return;
    }
    let shots = Shots::new("live");
    let project = Project::new("room");
    let (store, api) = project.demo_stack();
    let (_dir, file) = gameday_file(&gameday(&project.name, api.host_port.unwrap(), "6s"));
    let out = tempfile::tempdir().unwrap();
    let mut run = Served::start(&file, out.path());
    let (viewer_url, writer_url) = run.links();

    let driver = Driver::start();
    let writer = driver.browser(1280, 900);
    let viewer = driver.browser(1024, 768);
    open_recording(&writer, &writer_url);
    open_recording(&viewer, &viewer_url);
    assert!(writer.text("#gameday").contains("Store drill in the room"));
    assert!(writer.text("#participants").contains("Sam"));
    assert!(writer.text("#environment").contains("browser test stack"));

    // The fault, as soon as it is in place.
    writer.wait_for(
        "the fault shows",
        Duration::from_secs(30),
        "return document.querySelectorAll('#faults li[data-fault-id]').length > 0;",
    );
    let applied = journal(out.path())
        .into_iter()
        .find(|e| e["event"] == "fault_applied")
        .expect("the journal has the fault applied");
    let fault_id = applied["fault_id"].as_str().unwrap().to_string();
    let entry_at = millis(&applied["confirmed_at"]).max(millis(&applied["requested_at"]));
    let opened_at = writer
        .js("return window.__openedAt;", json!([]))
        .as_i64()
        .unwrap();
    assert!(
        opened_at < entry_at,
        "the page was opened {} ms after the fault was applied: the delay cannot be measured (lengthen the baseline)",
        opened_at - entry_at
    );
    let seen_at = writer
        .js(
            "return window.__faultSeen[arguments[0]] || 0;",
            json!([fault_id]),
        )
        .as_i64()
        .unwrap();
    let delay = seen_at - entry_at;
    eprintln!("the page showed the fault {delay} ms after its journal entry");
    assert!(
        (0..1000).contains(&delay),
        "the fault showed {delay} ms after its journal entry"
    );
    assert_eq!(store.state(), "paused");
    let fault_line = writer.text("#faults");
    assert!(
        fault_line.contains("pause") && fault_line.contains(&format!("{}_store_1", project.name)),
        "the fault line names what and where: {fault_line}"
    );

    // The countdown runs.
    let first = writer.text("#countdown");
    std::thread::sleep(Duration::from_millis(1200));
    let later = writer.text("#countdown");
    assert!(
        first != later && first.chars().any(|c| c.is_ascii_digit()),
        "the countdown did not move: {first:?} then {later:?}"
    );
    shots.take(&writer, "writer-mid-run");

    // A viewer cannot write, and is told so.
    viewer.type_into("#observe-name", "Eve");
    viewer.type_into("#observe-text", "a viewer should not be able to write this");
    viewer.click("#observe-submit");
    viewer.wait_for(
        "the viewer's page says the post was refused",
        Duration::from_secs(5),
        "return /403|watch|not allowed|token/i.test(document.getElementById('message').innerText);",
    );
    viewer.js(
        "document.getElementById('message').innerText = '';",
        json!([]),
    );
    viewer.click("#halt");
    viewer.accept_dialog();
    viewer.wait_for(
        "the viewer's page says the halt was refused",
        Duration::from_secs(5),
        "return /403|watch|not allowed|token/i.test(document.getElementById('message').innerText);",
    );
    shots.take(&viewer, "viewer-refused");

    // A writer's observation reaches the other page within a second.
    writer.type_into("#observe-name", "Sam");
    writer.select("#observe-kind", "detected");
    writer.type_into("#observe-text", "store dashboard flatlined");
    let sent = Instant::now();
    writer.click("#observe-submit");
    viewer.wait_for(
        "the observation reaches the viewer's page",
        Duration::from_secs(5),
        "return [...document.querySelectorAll('#observations li')].some(li => li.innerText.includes('store dashboard flatlined') && li.innerText.includes('Sam'));",
    );
    let took = sent.elapsed();
    eprintln!("the observation reached the other page in {took:?}");
    assert!(took < Duration::from_secs(1), "{took:?}");

    // The verdicts at the end, on both pages.
    for page in [&writer, &viewer] {
        page.wait_for(
            "the verdicts show",
            Duration::from_secs(40),
            "return document.body.dataset.ended === 'true' && document.querySelectorAll('#verdicts [data-verdict]').length > 0;",
        );
    }
    assert!(
        writer
            .js(
                "return [...document.querySelectorAll('#verdicts [data-verdict]')].map(e => e.dataset.verdict);",
                json!([])
            )
            .to_string()
            .contains("met"),
        "{}",
        writer.text("#verdicts")
    );
    assert!(writer.text("#outcome").len() > 2);
    writer.wait_for(
        "the report's path shows",
        Duration::from_secs(10),
        "return document.getElementById('report-path').innerText.includes('report');",
    );
    let phases = writer.js("return window.__phases;", json!([]));
    assert!(
        phases.as_array().is_some_and(|p| p.len() >= 3),
        "the phase did not advance: {phases}"
    );
    shots.take(&writer, "writer-end");
    shots.take(&viewer, "viewer-end");

    let code = run.wait(Duration::from_secs(30));
    assert_eq!(code, 0, "{}", run.said());
    assert_eq!(store.state(), "running");

    // Where the observation landed; where the refused one did not.
    let entries = journal(out.path());
    let noted: Vec<&Value> = entries
        .iter()
        .filter(|e| e["event"] == "observation")
        .collect();
    assert!(
        noted.iter().any(|e| e["by"] == "Sam"
            && e["kind"] == "detected"
            && e["text"] == "store dashboard flatlined"),
        "{noted:?}"
    );
    let all = journal_text(out.path());
    assert!(!all.contains("a viewer should not be able to write this"));
    assert!(!all.contains("Eve"));
    let report = report_md(out.path());
    assert!(report.contains("store dashboard flatlined"), "{report}");
    // The detection: users hurt (the api's health, on its published port,
    // fails while the store is frozen), nobody paged, Sam noticed.
    let result = result_json(&run_dir(out.path()));
    let detection = &result["scenarios"][0]["detection"];
    assert_eq!(detection["class"], "hurt_not_paged", "{detection}");
    assert!(
        detection["users_hurt"]["after_fault_ms"].as_f64().is_some(),
        "{detection}"
    );
    assert!(
        detection["first_person"]["by"]
            .as_str()
            .is_some_and(|b| b.contains("Sam")),
        "{detection}"
    );
    assert!(report.contains("Detection"), "{report}");
    assert!(!report.contains("viewer should not"));
}

/// The halt button of a writer's page stops the run: faults reverted,
/// exit 3, and the record says who halted it.
#[test]
fn the_halt_button_stops_the_run_in_a_real_browser() {
    if !docker_available() || !chromedriver_available() {
        return;
    }
    let shots = Shots::new("halt");
    let project = Project::new("roomhalt");
    let (store, api) = project.demo_stack();
    let (_dir, file) = gameday_file(&gameday(&project.name, api.host_port.unwrap(), "60s"));
    let out = tempfile::tempdir().unwrap();
    let mut run = Served::start(&file, out.path());
    let (_, writer_url) = run.links();

    let driver = Driver::start();
    let writer = driver.browser(1280, 900);
    open_recording(&writer, &writer_url);
    writer.wait_for(
        "the fault shows",
        Duration::from_secs(30),
        "return document.querySelectorAll('#faults li[data-fault-id]').length > 0;",
    );
    assert_eq!(store.state(), "paused");
    writer.type_into("#observe-name", "Dana");
    let pressed = Instant::now();
    writer.click("#halt");
    writer.accept_dialog();
    let code = run.wait(Duration::from_secs(30));
    eprintln!("halted {:?} after the button", pressed.elapsed());
    assert_eq!(code, 3, "{}", run.said());
    assert_eq!(store.state(), "running", "the pause was not reverted");
    assert!(
        pressed.elapsed() < Duration::from_secs(20),
        "the run took {:?} to halt",
        pressed.elapsed()
    );
    let said = run.said();
    assert!(said.contains("Dana"), "who halted is not said:\n{said}");
    let halted: Vec<Value> = journal(out.path())
        .into_iter()
        .filter(|e| e["event"] == "halted")
        .collect();
    assert!(
        halted
            .iter()
            .any(|e| e["reason"].as_str().is_some_and(|r| r.contains("Dana"))),
        "{halted:?}"
    );
    let result = result_json(&run_dir(out.path()));
    assert!(result.to_string().contains("Dana"), "{result}");
    shots.take(&writer, "writer-halted");
}
