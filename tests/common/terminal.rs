//! `gameday run` at a real pseudo-terminal (`script`), typed into as a
//! person would type: what it prints is collected.

use std::io::{Read, Write};
use std::process::{Command as StdCommand, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// `gameday run` in a pseudo-terminal: what it prints is collected, and
/// lines are typed into it when the screen shows a given text.
pub struct Terminal {
    child: std::process::Child,
    screen: Arc<Mutex<String>>,
}

impl Terminal {
    pub fn start(command: &str) -> Terminal {
        let mut child = StdCommand::new("script")
            .args(["-qec", command, "/dev/null"])
            .env("GAMEDAY_OPERATOR", "Tess")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let screen = Arc::new(Mutex::new(String::new()));
        let mut stdout = child.stdout.take().unwrap();
        let sink = screen.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Terminal { child, screen }
    }

    pub fn wait_for(&self, text: &str, within: Duration) {
        let deadline = Instant::now() + within;
        while !self.screen.lock().unwrap().contains(text) {
            assert!(
                Instant::now() < deadline,
                "the screen never showed {text:?}:\n{}",
                self.screen.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn type_line(&mut self, line: &str) {
        let stdin = self.child.stdin.as_mut().unwrap();
        stdin.write_all(format!("{line}\n").as_bytes()).unwrap();
        stdin.flush().unwrap();
    }

    pub fn finish(mut self, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            if let Some(_status) = self.child.try_wait().unwrap() {
                break;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("the run did not end:\n{}", self.screen.lock().unwrap());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(100));
        self.screen.lock().unwrap().clone()
    }
}

pub fn script_available() -> bool {
    let ok = StdCommand::new("script").arg("--version").output().is_ok();
    if !ok {
        assert!(
            std::env::var("CI").is_err(),
            "`script` (util-linux) is required in CI"
        );
        eprintln!("skipping: no `script` to make a terminal");
    }
    ok
}
