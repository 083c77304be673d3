//! The live room (`gameday run --serve`, `gameday watch`) against real
//! runs on a demo stack: what a viewer's event stream says and how soon,
//! what a writer posts landing in the record, a halt from the page, bad
//! requests refused with clear errors, a viewer that never reads left
//! behind, and archived runs replayed. The clients are plain TCP (HTTP/1.1
//! by hand, chunked event streams decoded), so what is tested is the wire.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command as StdCommand, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use common::*;
use serde_json::{Value, json};

/// A gameday of one pause of the store, held `duration`.
fn paused_store(project: &str, port: u16, duration: &str) -> String {
    format!(
        r#"gameday: Room drill
participants: [Dana (coordinator), Sam (observer)]
environment: test
scope: {{ compose_project: {project} }}
defaults: {{ baseline: 1s, cooldown: 1s, probe_timeout: 1s }}
probes:
  health: {{ http: {{ url: "http://127.0.0.1:{port}/health", body_contains: ok }}, every: 100ms }}
  store-state: {{ container: {{ service: store }}, every: 100ms }}
scenarios:
  - name: Store paused
    fault: {{ pause: {{ service: store }} }}
    duration: {duration}
    expect:
      - {{ probe: store-state, during: fault, state: paused }}
      - {{ probe: health, recovers_within: 3s }}
"#
    )
}

/// A `gameday` process serving a room: its output collected, its links read.
struct Served {
    child: Child,
    stderr: Arc<Mutex<String>>,
    port: u16,
    /// The write token (from the writer's link).
    token: String,
    started: Instant,
}

impl Served {
    /// `gameday run --no-progress --serve --serve-linger LINGER --out OUT FILE`.
    fn run(out: &str, file: &std::path::Path, linger: &str) -> Served {
        let file = file.display().to_string();
        Served::spawn(&[
            "run",
            "--no-progress",
            "--serve",
            "--serve-linger",
            linger,
            "--out",
            out,
            &file,
        ])
    }

    fn spawn(args: &[&str]) -> Served {
        let mut child = StdCommand::new(assert_cmd::cargo::cargo_bin("gameday"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let started = Instant::now();
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = stderr.clone();
        let mut pipe = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let writer = poll_for(
            "the room's links",
            Duration::from_secs(60),
            || {
                stderr
                    .lock()
                    .unwrap()
                    .lines()
                    .find_map(|l| l.split("(share it with care): ").nth(1))
                    .map(str::to_string)
            },
            || stderr.lock().unwrap().clone(),
        );
        let (base, token) = writer.split_once("/?token=").unwrap();
        let port = base.rsplit(':').next().unwrap().parse().unwrap();
        Served {
            child,
            stderr,
            port,
            token: token.trim().to_string(),
            started,
        }
    }

    fn text(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Wait for the process to exit (killed after `within`): its code and how long it ran.
    fn wait(mut self, within: Duration) -> (Option<i32>, Duration, String) {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                std::thread::sleep(Duration::from_millis(100));
                let mut out = String::new();
                let _ = self.child.stdout.take().unwrap().read_to_string(&mut out);
                return (
                    status.code(),
                    self.started.elapsed(),
                    format!("{out}{}", self.text()),
                );
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("gameday did not end:\n{}", self.text());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Poll `check` every 20 ms until it finds something.
fn poll_for<T>(
    what: &str,
    within: Duration,
    check: impl Fn() -> Option<T>,
    context: impl Fn() -> String,
) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(found) = check() {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not within {within:?}\n{}",
            context()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One HTTP/1.1 request on a fresh connection: (status, body as JSON or text).
fn request(port: u16, method: &str, path: &str, bearer: Option<&str>, body: &[u8]) -> (u16, Value) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let auth = bearer
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let body = serde_json::from_str(body).unwrap_or(Value::String(body.to_string()));
    (status, body)
}

fn post(port: u16, path: &str, bearer: Option<&str>, body: &Value) -> (u16, Value) {
    request(port, "POST", path, bearer, body.to_string().as_bytes())
}

/// An event as a viewer received it, and when.
#[derive(Debug, Clone)]
struct Event {
    name: String,
    data: Value,
    at: DateTime<Utc>,
}

/// A viewer of `/events`: every event it receives, collected by a thread.
struct Viewer {
    events: Arc<Mutex<Vec<Event>>>,
}

impl Viewer {
    fn open(port: u16, query: &str) -> Viewer {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(
            stream,
            "GET /events{query} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n"
        )
        .unwrap();
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = events.clone();
        std::thread::spawn(move || read_events(BufReader::new(stream), &sink));
        Viewer { events }
    }

    fn all(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }

    /// The updates of type `kind`, in order.
    fn updates(&self, kind: &str) -> Vec<(Value, DateTime<Utc>)> {
        self.all()
            .into_iter()
            .filter(|e| e.name == "update" && e.data["update"]["type"] == kind)
            .map(|e| (e.data["update"].clone(), e.at))
            .collect()
    }

    fn wait_for(
        &self,
        kind: &str,
        within: Duration,
        holds: impl Fn(&Value) -> bool,
    ) -> (Value, DateTime<Utc>) {
        poll_for(
            &format!("an update {kind}"),
            within,
            || self.updates(kind).into_iter().find(|(u, _)| holds(u)),
            || {
                format!(
                    "{:#?}",
                    self.all().iter().map(|e| &e.data).collect::<Vec<_>>()
                )
            },
        )
    }
}

/// Read an HTTP/1.1 response of chunked SSE into events until it ends.
fn read_events(mut reader: BufReader<TcpStream>, sink: &Mutex<Vec<Event>>) {
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        if line == "\r\n" {
            break;
        }
    }
    let mut pending = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let Ok(size) = usize::from_str_radix(line.trim(), 16) else {
            return;
        };
        if size == 0 {
            return;
        }
        let mut chunk = vec![0u8; size + 2];
        if reader.read_exact(&mut chunk).is_err() {
            return;
        }
        pending.push_str(&String::from_utf8_lossy(&chunk[..size]));
        while let Some(end) = pending.find("\n\n") {
            let block: String = pending.drain(..end + 2).collect();
            let name = block.lines().find_map(|l| l.strip_prefix("event: "));
            let data = block.lines().find_map(|l| l.strip_prefix("data: "));
            if let (Some(name), Some(data)) = (name, data) {
                sink.lock().unwrap().push(Event {
                    name: name.to_string(),
                    data: serde_json::from_str(data).unwrap(),
                    at: Utc::now(),
                });
            }
        }
    }
}

fn at(value: &Value) -> DateTime<Utc> {
    value.as_str().unwrap().parse().unwrap()
}

/// A real run served: a viewer sees the fault in place within a second of
/// the journal's entry, the phases and their countdowns, and the verdicts;
/// a writer's observation lands in the journal, the result and the report
/// and a second viewer sees it; without the write token nothing lands;
/// bad requests are refused with clear errors and the run is unharmed.
#[test]
fn a_served_run_is_watched_live_and_written_to_by_the_writer_only() {
    if !docker_available() {
        return;
    }
    let project = Project::new("room");
    let (_store, api) = project.demo_stack();
    let (_dir, file) = gameday_file(&paused_store(&project.name, api.host_port.unwrap(), "2s"));
    let out = tempfile::tempdir().unwrap();
    let out_arg = out.path().display().to_string();
    let served = Served::run(&out_arg, &file, "1s");
    let port = served.port;
    let first = Viewer::open(port, "");
    let second = Viewer::open(port, "");

    // The fault in place, soon after the journal says so.
    let (on, seen) = first.wait_for("fault_on", Duration::from_secs(30), |_| true);
    let fault = &on["fault"];
    assert_eq!(
        fault["what"].as_str().unwrap(),
        format!("pause {}_store_1", project.name)
    );
    let delay = (seen - at(&fault["since"])).num_milliseconds();
    println!("fault in place: the viewer knew {delay} ms after the journal's entry");
    assert!((0..1000).contains(&delay), "{delay} ms");
    let (phase, received) = first.wait_for("phase", Duration::from_secs(5), |u| {
        u["phase"]["scenario"] == "Store paused" && !u["phase"]["until"].is_null()
    });
    let left = (at(&phase["phase"]["until"]) - received).num_milliseconds();
    assert!((0..=2100).contains(&left), "countdown of {left} ms");

    // Writing takes the write token; bad requests are told why.
    let good = json!({"name": "Sam", "kind": "detected", "text": "store panel red"});
    let (status, body) = post(port, "/observe", None, &good);
    assert_eq!(status, 403, "{body}");
    assert_eq!(
        body["error"],
        "this page can only watch: ask the coordinator for the writer's link"
    );
    assert_eq!(post(port, "/observe", Some("0123"), &good).0, 403);
    let token = served.token.clone();
    let refusals = [
        (
            json!({"name": " ", "kind": "note", "text": "x"}),
            400,
            "the name is empty",
        ),
        (
            json!({"name": "Sam", "kind": "note", "text": "x".repeat(2001)}),
            400,
            "2001 characters",
        ),
        (
            json!({"name": "Sam", "kind": "guess", "text": "x"}),
            400,
            "detected, mitigated or note",
        ),
        (
            json!({"name": "Sam", "text": "x"}),
            400,
            "missing field `kind`",
        ),
    ];
    for (body, code, says) in refusals {
        let (status, answer) = post(port, "/observe", Some(&token), &body);
        assert_eq!(status, code, "{answer}");
        assert!(answer["error"].as_str().unwrap().contains(says), "{answer}");
    }
    let (status, answer) = request(port, "POST", "/observe", Some(&token), b"{not json");
    assert!(
        status == 400
            && answer["error"]
                .as_str()
                .unwrap()
                .contains("not the JSON expected")
    );
    let (status, answer) = request(port, "POST", "/observe", Some(&token), &[b' '; 9000]);
    assert_eq!(
        (status, answer["error"].as_str().unwrap()),
        (413, "the request is larger than 8192 bytes")
    );
    let (status, answer) = post(port, &format!("/observe?token={token}"), None, &good);
    assert_eq!(status, 202, "{answer}");
    assert_eq!(request(port, "GET", "/nowhere", None, b"").0, 404);

    // The second viewer sees the observation; the first the verdicts.
    second.wait_for("observation", Duration::from_secs(5), |u| {
        u["observation"]["by"] == "Sam" && u["observation"]["text"] == "store panel red"
    });
    let (end, _) = first.wait_for("end", Duration::from_secs(30), |u| {
        !u["end"]["report_path"].is_null()
    });
    let (code, ran, output) = served.wait(Duration::from_secs(30));
    assert_eq!(code, Some(0), "{output}");
    println!(
        "the run took {:.1}s in all, linger included",
        ran.as_secs_f64()
    );
    assert_eq!(end["end"]["outcome"], "met");
    assert_eq!(end["end"]["verdicts"][0]["verdict"], "met");
    let phases: Vec<String> = first
        .updates("phase")
        .iter()
        .map(|(u, _)| u["phase"]["label"].as_str().unwrap().to_string())
        .collect();
    assert!(phases.len() >= 3, "{phases:?}");
    assert!(first.updates("fault_off").len() == 1);

    let dir = run_dir(out.path());
    let journal = std::fs::read_to_string(dir.join("journal.jsonl")).unwrap();
    assert_eq!(
        journal.matches("\"event\":\"observation\"").count(),
        1,
        "{journal}"
    );
    assert!(journal.contains(r#""by":"Sam","kind":"detected","text":"store panel red""#));
    let result = result_json(&dir);
    assert_eq!(result["observations"][0]["kind"], "detected");
    assert_eq!(result["observations"][0]["scenario"], "Store paused");
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(md.contains("store panel red"), "{md}");
    assert_eq!(
        end["end"]["report_path"],
        dir.join("report.md").display().to_string()
    );
    for name in [
        "journal.jsonl",
        "result.json",
        "report.md",
        "report.html",
        "junit.xml",
    ] {
        let text = std::fs::read_to_string(dir.join(name)).unwrap();
        assert!(!text.contains(&token), "the write token is in {name}");
    }

    // The finished run, watched at once: its verdicts and report.
    let run_id = result["run_id"].as_str().unwrap();
    let watch = Served::spawn(&["watch", "--out", &out_arg, "--speed", "max", run_id]);
    let state = poll_for(
        "the replay's end",
        Duration::from_secs(10),
        || {
            let (_, state) = request(watch.port, "GET", "/state", None, b"");
            (!state["state"]["end"]["report_path"].is_null()).then_some(state)
        },
        || watch.text(),
    );
    assert_eq!(state["state"]["end"]["verdicts"][0]["verdict"], "met");
    assert_eq!(state["state"]["observations"][0]["by"], "Sam");
    let (status, answer) = post(watch.port, "/observe", Some(&watch.token), &good);
    assert_eq!(status, 409, "{answer}");
}

/// Halting from the page: the run stops at once (exit 3), its fault
/// reverted (the store runs again), and the record says who halted it.
#[test]
fn a_writer_halts_the_run_from_the_room() {
    if !docker_available() {
        return;
    }
    let project = Project::new("roomhalt");
    let (store, api) = project.demo_stack();
    let (_dir, file) = gameday_file(&paused_store(&project.name, api.host_port.unwrap(), "60s"));
    let out = tempfile::tempdir().unwrap();
    let out_arg = out.path().display().to_string();
    let served = Served::run(&out_arg, &file, "200ms");
    let viewer = Viewer::open(served.port, "");
    viewer.wait_for("fault_on", Duration::from_secs(30), |_| true);
    assert_eq!(store.state(), "paused");
    // The same run watched from another terminal: live, the fault in
    // place; observations go through the runner's own room.
    let watch = Served::spawn(&["watch", "--out", &out_arg]);
    let state = poll_for(
        "the watched run's fault",
        Duration::from_secs(10),
        || {
            let (_, state) = request(watch.port, "GET", "/state", None, b"");
            (state["state"]["faults"]
                .as_array()
                .is_some_and(|f| f.len() == 1))
            .then_some(state)
        },
        || watch.text(),
    );
    assert!(watch.text().contains("Watching run"), "{}", watch.text());
    assert_eq!(state["state"]["run"]["gameday"], "Room drill");
    let note = json!({"name": "Sam", "kind": "note", "text": "x"});
    let (status, answer) = post(watch.port, "/observe", Some(&watch.token), &note);
    assert_eq!(status, 409, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("runner's own room")
    );
    drop(watch);
    let (status, answer) = post(served.port, "/halt", None, &json!({"name": "Sam"}));
    assert_eq!(status, 403, "{answer}");
    let (status, answer) = post(
        served.port,
        "/halt",
        Some(&served.token),
        &json!({"name": ""}),
    );
    assert_eq!(status, 400, "{answer}");
    let asked = Instant::now();
    let (status, answer) = post(
        served.port,
        "/halt",
        Some(&served.token),
        &json!({"name": "Sam"}),
    );
    assert_eq!(status, 202, "{answer}");
    viewer.wait_for("fault_off", Duration::from_secs(10), |_| true);
    println!(
        "halted: the fault was off {} ms after the halt was asked",
        asked.elapsed().as_millis()
    );
    let (code, _, output) = served.wait(Duration::from_secs(30));
    assert_eq!(code, Some(3), "{output}");
    assert_eq!(store.state(), "running", "the pause was not reverted");
    let result = result_json(&run_dir(out.path()));
    let reason = result["aborted_reason"].as_str().unwrap();
    assert!(
        reason.contains("halted by Sam (from the live room)"),
        "{reason}"
    );
    assert_eq!(result["exit_code"], 3);
}

/// Viewers that open the stream and never read do not slow the run: it
/// ends on time, and a reading viewer still gets everything.
#[test]
fn a_stalled_viewer_does_not_hold_the_run() {
    if !docker_available() {
        return;
    }
    let project = Project::new("roomstall");
    let (_store, api) = project.demo_stack();
    let (_dir, file) = gameday_file(&paused_store(&project.name, api.host_port.unwrap(), "2s"));
    let out = tempfile::tempdir().unwrap();
    let out_arg = out.path().display().to_string();
    let served = Served::run(&out_arg, &file, "200ms");
    let stalled: Vec<TcpStream> = (0..4)
        .map(|_| {
            let mut s = TcpStream::connect(("127.0.0.1", served.port)).unwrap();
            shrink_receive_buffer(&s);
            write!(s, "GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
            s
        })
        .collect();
    let reading = Viewer::open(served.port, "");
    let (code, ran, output) = served.wait(Duration::from_secs(60));
    assert_eq!(code, Some(0), "{output}");
    let result = result_json(&run_dir(out.path()));
    let took = result["duration_ms"].as_f64().unwrap();
    println!(
        "with {} stalled viewers the run took {took:.0} ms (planned about 4000 ms), the process {:.1}s",
        stalled.len(),
        ran.as_secs_f64()
    );
    assert!(took < 6500.0, "{took} ms");
    assert!(!reading.updates("end").is_empty());
    drop(stalled);
}

/// A small receive buffer, so a viewer that never reads fills it soon.
fn shrink_receive_buffer(stream: &TcpStream) {
    use std::os::fd::AsRawFd;
    let size: libc::c_int = 2048;
    // SAFETY: setsockopt on a socket this test owns, with a valid int.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&raw const size).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

/// An address already served refuses the run before anything is touched.
#[test]
fn serving_on_a_taken_address_refuses_the_run_at_once() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let (_dir, file) = gameday_file(&paused_store("gdt-never-started", 1, "1s"));
    let out = tempfile::tempdir().unwrap();
    let serve = format!("--serve={addr}");
    let output = gameday_run(out.path(), &file, &[&serve], 30);
    assert_exit(&output, 2);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("cannot serve the live room on {addr}"))
            && stderr.contains("in use"),
        "{stderr}"
    );
    assert!(stderr.contains("nothing was changed"), "{stderr}");
    assert!(std::fs::read_dir(out.path()).unwrap().next().is_none());
}

/// An archived run replayed: at `max` its end at once, at 4x its phases
/// over time; nothing can be written to it.
#[test]
fn watch_replays_an_archived_run() {
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("2026-12-06-search-try-941ab5");
    std::fs::create_dir(&dir).unwrap();
    for name in ["journal.jsonl", "samples.jsonl", "result.json"] {
        std::fs::copy(
            root().join("tests/fixtures/trials-run").join(name),
            dir.join(name),
        )
        .unwrap();
    }
    let out_arg = out.path().display().to_string();

    let max = Served::spawn(&["watch", "--out", &out_arg, "--speed", "max"]);
    let state = poll_for(
        "the verdicts",
        Duration::from_secs(10),
        || {
            let (_, state) = request(max.port, "GET", "/state", None, b"");
            (!state["state"]["end"]["outcome"].is_null()).then_some(state)
        },
        || max.text(),
    );
    let verdicts = state["state"]["end"]["verdicts"].as_array().unwrap();
    assert_eq!(verdicts.len(), 2);
    assert_eq!(state["state"]["run"]["run_id"], "941ab5");
    let (status, answer) = post(max.port, "/halt", Some(&max.token), &json!({"name": "Sam"}));
    assert_eq!(status, 409, "{answer}");
    drop(max);

    let slow = Served::spawn(&["watch", "--out", &out_arg, "--speed", "4x", "941ab5"]);
    assert!(
        slow.text().contains("Replaying run 941ab5"),
        "{}",
        slow.text()
    );
    let viewer = Viewer::open(slow.port, "");
    std::thread::sleep(Duration::from_millis(300));
    let early = viewer.updates("phase").len();
    std::thread::sleep(Duration::from_millis(2500));
    let later = viewer.updates("phase");
    println!(
        "at 4x: {early} phases after 0.3s, {} after 2.8s",
        later.len()
    );
    assert!(early < later.len(), "{early} then {}", later.len());
    assert!(
        viewer.updates("end").is_empty(),
        "a 61 s run is not over in 3 s at 4x"
    );
    // The page's clock runs at the replay's speed.
    let last = viewer.all().last().unwrap().data.clone();
    assert_eq!(last["speed"], 4.0);
}

/// Without a terminal, a served run's manual step is answered from the
/// page: the answer is recorded with the step, credited to its writer.
#[test]
fn a_manual_step_is_answered_from_the_room_without_a_terminal() {
    if !docker_available() {
        return;
    }
    let project = Project::new("roommanual");
    let (store, _api) = project.demo_stack();
    let (_dir, file) = gameday_file(&format!(
        r#"gameday: Manual drill
scope: {{ compose_project: {} }}
defaults: {{ baseline: 500ms, cooldown: 500ms }}
probes:
  store-state: {{ container: {{ service: store }}, every: 100ms }}
scenarios:
  - name: The team looks
    steps:
      - fault: {{ pause: {{ service: store }} }}
      - manual: "What does the store dashboard say?"
        timeout: 1m
    duration: 200ms
"#,
        project.name
    ));
    let out = tempfile::tempdir().unwrap();
    let out_arg = out.path().display().to_string();
    let served = Served::run(&out_arg, &file, "200ms");
    let viewer = Viewer::open(served.port, "");
    viewer.wait_for("phase", Duration::from_secs(30), |u| {
        u["phase"]["label"]
            .as_str()
            .unwrap()
            .starts_with("waiting for the operator")
    });
    assert_eq!(store.state(), "paused");
    let answer = json!({"name": "Dana", "kind": "detected", "text": "store panel red"});
    let (status, body) = post(served.port, "/observe", Some(&served.token), &answer);
    assert_eq!(status, 202, "{body}");
    let (code, _, output) = served.wait(Duration::from_secs(30));
    assert_eq!(code, Some(0), "{output}");
    assert_eq!(store.state(), "running");
    let result = result_json(&run_dir(out.path()));
    let observation = &result["observations"][0];
    assert_eq!(observation["by"], "Dana");
    assert_eq!(observation["kind"], "detected");
    assert_eq!(
        observation["text"],
        "What does the store dashboard say? → store panel red"
    );
}
