//! Applies that do not go as planned, against the real engine: a `stop`
//! whose answer is lost mid-grace is settled before it is reverted (the
//! container ends running, stopped then started, never stopped again); a
//! journal line torn by a full disk is cut back, so the next intent is a
//! whole line `recover` finds; Ctrl-C and `gameday halt` interrupt a long
//! sequence of stops within seconds, with what was applied reverted and
//! the rest never applied.

mod common;

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::*;

/// The journal's lines, each parsed: a damaged line fails the test.
fn journal_entries(out: &Path) -> Vec<serde_json::Value> {
    journal_text(out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("damaged line {l:?}: {e}")))
        .collect()
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The actions the engine reported for `container` since `since`.
fn events_of(container: &Container, since: u64) -> Vec<String> {
    let until = (unix_now() + 1).to_string();
    docker(&[
        "events",
        "--since",
        &since.to_string(),
        "--until",
        &until,
        "--filter",
        &format!("container={}", container.id),
        "--format",
        "{{.Action}}",
    ])
    .lines()
    .map(String::from)
    .collect()
}

fn started_at(c: &Container) -> String {
    docker(&["inspect", "-f", "{{.State.StartedAt}}", &c.id])
}

/// The main engine's unix socket.
fn main_socket() -> PathBuf {
    std::env::var("DOCKER_HOST")
        .ok()
        .and_then(|h| h.strip_prefix("unix://").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("/var/run/docker.sock"))
}

/// A unix socket in front of the main engine that passes every request
/// on, and cuts a connection `cut_after` once it carried a container
/// `stop`: the engine goes on stopping, its answer is lost.
struct StopCutter {
    dir: tempfile::TempDir,
    cuts: Arc<AtomicUsize>,
    done: Arc<AtomicBool>,
}

impl StopCutter {
    fn start(cut_after: Duration) -> StopCutter {
        let dir = tempfile::tempdir().unwrap();
        let listener = UnixListener::bind(dir.path().join("engine.sock")).unwrap();
        let cuts = Arc::new(AtomicUsize::new(0));
        let done = Arc::new(AtomicBool::new(false));
        let (cuts2, done2) = (cuts.clone(), done.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if done2.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(client) = client else { continue };
                let Ok(upstream) = UnixStream::connect(main_socket()) else {
                    continue;
                };
                let (c2, u2) = (client.try_clone().unwrap(), upstream.try_clone().unwrap());
                std::thread::spawn(move || pump(u2, c2, None));
                let cut = (cut_after, cuts2.clone());
                std::thread::spawn(move || pump(client, upstream, Some(cut)));
            }
        });
        StopCutter { dir, cuts, done }
    }

    fn socket(&self) -> String {
        format!("unix://{}", self.dir.path().join("engine.sock").display())
    }

    fn cuts(&self) -> usize {
        self.cuts.load(Ordering::SeqCst)
    }
}

impl Drop for StopCutter {
    fn drop(&mut self) {
        self.done.store(true, Ordering::SeqCst);
        let _ = UnixStream::connect(self.dir.path().join("engine.sock"));
    }
}

/// Copy `from` to `to`; with `cut`, cut both `cut.0` after a `stop`
/// request went through.
fn pump(mut from: UnixStream, mut to: UnixStream, cut: Option<(Duration, Arc<AtomicUsize>)>) {
    let mut buf = [0u8; 16384];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
        let chunk = String::from_utf8_lossy(&buf[..n]);
        let stop = chunk
            .lines()
            .next()
            .is_some_and(|l| l.starts_with("POST ") && l.contains("/stop"));
        if let (true, Some((after, cuts))) = (stop, &cut) {
            let (a, b) = (from.try_clone().unwrap(), to.try_clone().unwrap());
            let (after, cuts) = (*after, cuts.clone());
            std::thread::spawn(move || {
                std::thread::sleep(after);
                cuts.fetch_add(1, Ordering::SeqCst);
                let _ = a.shutdown(std::net::Shutdown::Both);
                let _ = b.shutdown(std::net::Shutdown::Both);
            });
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Write);
}

/// A container that ignores its stop signal (SIGUSR1 to a PID 1 without a
/// handler): a stop waits out its whole timeout, then kills.
fn stubborn(project: &Project, suffix: &str) -> Container {
    project.service_named_opts(
        "worker",
        suffix,
        &["--stop-signal", "SIGUSR1"],
        &["store", "--listen", "0.0.0.0:7000"],
    )
}

/// A `stop` (4 s timeout) of a container that ignores SIGTERM, whose
/// answer is lost 1 s into the grace (the connection is cut): the apply
/// fails while the engine is still stopping it. The revert waits for the
/// stop to land, then starts it: the container is running at the end, and
/// still running once any grace is long over; its events end with the
/// stop, then the start.
#[test]
fn a_stop_whose_answer_is_lost_is_settled_before_it_is_reverted() {
    if !docker_available() {
        return;
    }
    let project = Project::new("as-lost-stop");
    let worker = stubborn(&project, "1");
    let cutter = StopCutter::start(Duration::from_secs(1));
    let gameday = one_fault_gameday(
        &project.name,
        &format!("docker: {{ host: \"{}\" }}", cutter.socket()),
        "stop: { service: worker, timeout: 4s }",
        "2s",
    );
    let (_dir, file) = gameday_file(&gameday);
    let out = tempfile::tempdir().unwrap();
    let since = unix_now();
    let output = run_gameday(out.path(), &file, 120);
    let journal = journal_text(out.path());
    assert!(cutter.cuts() >= 1, "no stop was cut: {journal}");
    assert_exit(&output, 1);
    assert!(
        text(&output).contains("could not apply"),
        "{}",
        text(&output)
    );
    assert_eq!(worker.state(), "running", "{journal}");
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(worker.state(), "running", "stopped again after the revert");
    let actions = events_of(&worker, since);
    let died = actions.iter().rposition(|a| a == "die");
    let started = actions.iter().rposition(|a| a == "start");
    assert!(
        matches!((died, started), (Some(d), Some(s)) if d < s),
        "not stopped then started: {actions:?}"
    );
    let events: Vec<String> = journal_entries(out.path())
        .iter()
        .filter(|e| e["fault_id"].is_string())
        .map(|e| format!("{} {}", e["event"], e["by"]))
        .collect();
    assert_eq!(
        events,
        [
            "\"fault_intent\" null",
            "\"fault_apply_failed\" null",
            "\"fault_reverted\" \"run (apply failed)\"",
        ],
        "{journal}"
    );
}

/// A tmpfs of the test's own, `size` big, unmounted on drop.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        run(Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path()));
        SmallDisk { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fill it to the last block; returns the filler's path.
    fn fill(&self) -> PathBuf {
        let filler = self.path().join("filler");
        let mut f = std::fs::File::create(&filler).unwrap();
        let block = vec![0u8; 4096];
        while f.write_all(&block).is_ok() {}
        let _ = f.write_all(&block[..1]);
        filler
    }

    fn free_blocks(&self) -> u64 {
        let path = std::ffi::CString::new(self.path().as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: statvfs on a path this test mounted, into a zeroed struct.
        unsafe {
            let mut s: libc::statvfs = std::mem::zeroed();
            assert_eq!(libc::statvfs(path.as_ptr(), &mut s), 0);
            s.f_bfree as u64
        }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .output();
    }
}

/// An HTTP server on 127.0.0.1 that answers 200, or, while `flapping`,
/// 200 and 500 in turn: a probe of it changes state at every sample.
struct Flapper {
    port: u16,
    flapping: Arc<AtomicBool>,
    done: Arc<AtomicBool>,
}

impl Flapper {
    fn start() -> Flapper {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let flapping = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicBool::new(false));
        let (flapping2, done2) = (flapping.clone(), done.clone());
        std::thread::spawn(move || {
            let mut n = 0u64;
            for stream in listener.incoming() {
                if done2.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(mut stream) = stream else { continue };
                let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                let mut buf = [0u8; 2048];
                let _ = stream.read(&mut buf);
                n += 1;
                let status = if flapping2.load(Ordering::SeqCst) && n.is_multiple_of(2) {
                    "500 Internal Server Error"
                } else {
                    "200 OK"
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
                );
            }
        });
        Flapper {
            port,
            flapping,
            done,
        }
    }
}

impl Drop for Flapper {
    fn drop(&mut self) {
        self.done.store(true, Ordering::SeqCst);
        let _ = std::net::TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// The run directory is on a small disk the test fills mid-run while a
/// probe flaps (each change is a journal line written lazily), so a line
/// is torn; then it frees the disk. The torn line was cut back: every line
/// of the journal reads, the next scenario's intent is whole, and with
/// the runner and its watchdog killed, `recover` finds and reverts it.
#[test]
fn a_line_torn_by_a_full_disk_is_cut_back_before_the_next_intent() {
    if !docker_available() {
        return;
    }
    let project = Project::new("as-torn");
    let (store, _api) = project.demo_stack();
    let flapper = Flapper::start();
    let disk = SmallDisk::mount("4m");
    let out = disk.path().join("out");
    let gameday = format!(
        r#"gameday: Full disk
scope: {{ compose_project: {} }}
defaults: {{ baseline: 1s, cooldown: 500ms }}
probes:
  flapper: {{ http: {{ url: "http://127.0.0.1:{}/" }}, every: 50ms }}
scenarios:
  - name: Filled
    fault: {{ pause: {{ service: store }} }}
    duration: 8s
  - name: After
    fault: {{ pause: {{ service: store }} }}
    duration: 60s
"#,
        project.name, flapper.port
    );
    let (_dir, file) = gameday_file(&gameday);
    let mut runner = Command::new(assert_cmd::cargo::cargo_bin("gameday"))
        .args(["run", "--yes", "--no-progress", "--out"])
        .arg(&out)
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let applied = |scenario: &str| {
        std::fs::read_dir(&out).is_ok_and(|mut d| d.next().is_some())
            && journal_text(&out)
                .lines()
                .any(|l| l.contains("\"fault_applied\"") && l.contains(scenario))
    };
    wait_for("the first pause", Duration::from_secs(30), || {
        applied("\"s1-")
    });
    let filler = disk.fill();
    assert_eq!(disk.free_blocks(), 0, "the disk is not full");
    flapper.flapping.store(true, Ordering::SeqCst);
    std::thread::sleep(Duration::from_secs(3));
    flapper.flapping.store(false, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(300));
    std::fs::remove_file(&filler).unwrap();
    wait_for("the second pause", Duration::from_secs(30), || {
        applied("\"s2-") && store.state() == "paused"
    });
    kill_with_watchdogs(&mut runner);
    let entries = journal_entries(&out);
    let intent = entries
        .iter()
        .find(|e| e["event"] == "fault_intent" && e["scenario"] == "After")
        .expect("the second intent is not in the journal");
    assert_eq!(intent["recipe"]["container_id"], store.id.as_str());
    let recovered = gameday_recover(&out);
    assert_exit(&recovered, 0);
    assert!(
        text(&recovered).contains("reverted"),
        "{}",
        text(&recovered)
    );
    assert_eq!(store.state(), "running");
}

/// Three containers that ignore their stop signal, all stopped with a
/// 10 s timeout: the first is stopped, the second is in its grace when
/// the run is interrupted (`interrupt`). The run ends within seconds of
/// it (measured from here), every container is running, none is stopped
/// again once any grace is over, and the third was never touched.
fn interrupting_a_long_apply(
    prefix: &str,
    interrupt: impl FnOnce(&std::process::Child, &Path) -> Option<std::process::Child>,
) {
    let project = Project::new(prefix);
    let workers: Vec<Container> = ["1", "2", "3"]
        .iter()
        .map(|s| stubborn(&project, s))
        .collect();
    let started: Vec<String> = workers.iter().map(started_at).collect();
    let gameday = one_fault_gameday(
        &project.name,
        "",
        "stop: { service: worker, pick: all, timeout: 10s }",
        "5s",
    );
    let (_dir, file) = gameday_file(&gameday);
    let out = tempfile::tempdir().unwrap();
    let runner = spawn_run(&file, out.path());
    wait_for("the first stop", Duration::from_secs(40), || {
        workers.iter().any(|w| w.state() == "exited")
    });
    wait_for("the second stop", Duration::from_secs(10), || {
        journal_text(out.path()).matches("\"fault_intent\"").count() == 2
    });
    let second_asked = Instant::now();
    std::thread::sleep(Duration::from_secs(1));
    let asked = Instant::now();
    let asker = interrupt(&runner, out.path());
    let output = finish(runner, Duration::from_secs(60));
    let took = asked.elapsed();
    if let Some(asker) = asker {
        assert_exit(&finish(asker, Duration::from_secs(60)), 0);
    }
    eprintln!("{prefix}: the run ended {took:?} after the interrupt");
    assert_exit(&output, 3);
    assert!(
        took < Duration::from_secs(3),
        "the run ended {took:?} after the interrupt: {}",
        text(&output)
    );
    for w in &workers {
        assert_eq!(w.state(), "running", "{}", w.name);
    }
    // The second stop's grace would have ended by now.
    std::thread::sleep(Duration::from_secs(11).saturating_sub(second_asked.elapsed()));
    for w in &workers {
        assert_eq!(w.state(), "running", "{} stopped again", w.name);
    }
    let entries = journal_entries(out.path());
    let intents: Vec<&serde_json::Value> = entries
        .iter()
        .filter(|e| e["event"] == "fault_intent")
        .collect();
    assert_eq!(intents.len(), 2, "{}", journal_text(out.path()));
    let untouched: Vec<usize> = (0..workers.len())
        .filter(|i| {
            !intents
                .iter()
                .any(|e| e["recipe"]["container_id"] == workers[*i].id.as_str())
        })
        .collect();
    assert_eq!(untouched.len(), 1);
    assert_eq!(
        started_at(&workers[untouched[0]]),
        started[untouched[0]],
        "the third worker was restarted"
    );
    for intent in intents {
        let id = &intent["fault_id"];
        let last = entries.iter().rev().find(|e| &e["fault_id"] == id).unwrap();
        assert_eq!(last["event"], "fault_reverted", "{last}");
    }
    assert_exit(&gameday_recover(out.path()), 0);
}

#[test]
fn ctrl_c_interrupts_a_long_apply_within_seconds() {
    if !docker_available() {
        return;
    }
    interrupting_a_long_apply("as-sigint", |runner, _| {
        // SAFETY: plain kill(2) on the runner this test started.
        unsafe {
            libc::kill(runner.id() as i32, libc::SIGINT);
        }
        None
    });
}

#[test]
fn halt_interrupts_a_long_apply_within_seconds() {
    if !docker_available() {
        return;
    }
    interrupting_a_long_apply("as-halt", |_, out| {
        let halt = Command::new(assert_cmd::cargo::cargo_bin("gameday"))
            .args(["halt", "--out"])
            .arg(out)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        Some(halt)
    });
}
