//! A real browser for the tests: Debian's `chromedriver` driving headless
//! Chromium through the W3C WebDriver protocol, spoken here over plain
//! HTTP/1.1 on 127.0.0.1 (a few JSON calls; no client crate). Every network
//! name but 127.0.0.1 is unresolvable in the browser. The driver and its
//! browsers end when the guard drops, even when the test fails.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// Is `chromedriver` here? In CI (CI=true) its absence is a failure.
pub fn chromedriver_available() -> bool {
    let ok = Command::new("chromedriver")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var("CI").is_err(),
            "chromedriver is required in CI (apt-get install chromium-driver)"
        );
        eprintln!("skipping: no chromedriver");
    }
    ok
}

/// A `chromedriver` process on a free port of 127.0.0.1.
pub struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    pub fn start() -> Driver {
        let port = super::free_port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let driver = Driver { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while driver.call("GET", "/status", None).is_err() {
            assert!(Instant::now() < deadline, "chromedriver never answered");
            std::thread::sleep(Duration::from_millis(50));
        }
        driver
    }

    /// A new headless browser window of `width` x `height`.
    pub fn browser(&self, width: u32, height: u32) -> Browser<'_> {
        let caps = json!({
            "capabilities": { "alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": "/usr/bin/chromium",
                    "args": [
                        "--headless=new",
                        "--no-sandbox",
                        "--disable-gpu",
                        "--disable-dev-shm-usage",
                        "--hide-scrollbars",
                        format!("--window-size={width},{height}"),
                        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
                    ],
                },
            }},
        });
        let answer = self
            .call("POST", "/session", Some(caps))
            .unwrap_or_else(|e| panic!("no browser session: {e}"));
        let session = answer["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session id in {answer}"))
            .to_string();
        Browser {
            driver: self,
            session,
        }
    }

    /// One WebDriver call: its `value`, or the error it answered.
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        let (status, answer) = http(self.port, method, path, body.as_ref())?;
        let value = answer.get("value").cloned().unwrap_or(Value::Null);
        if status >= 400 {
            return Err(format!("{method} {path}: {status} {value}"));
        }
        Ok(value)
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // Its browsers end with it (they are its children).
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One browser window (a WebDriver session).
pub struct Browser<'d> {
    driver: &'d Driver,
    session: String,
}

impl Browser<'_> {
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        self.driver
            .call(method, &format!("/session/{}{path}", self.session), body)
    }

    pub fn goto(&self, url: &str) {
        self.call("POST", "/url", Some(json!({ "url": url })))
            .unwrap_or_else(|e| panic!("cannot open {url}: {e}"));
    }

    /// Run `script` (a function body; `arguments` holds `args`) in the page.
    pub fn js(&self, script: &str, args: Value) -> Value {
        self.call(
            "POST",
            "/execute/sync",
            Some(json!({ "script": script, "args": args })),
        )
        .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// The text of the first element matching `css` ("" if none).
    pub fn text(&self, css: &str) -> String {
        self.js(
            "const e = document.querySelector(arguments[0]); return e ? e.innerText : '';",
            json!([css]),
        )
        .as_str()
        .unwrap_or_default()
        .to_string()
    }

    /// How many elements match `css`.
    pub fn count(&self, css: &str) -> usize {
        self.js(
            "return document.querySelectorAll(arguments[0]).length;",
            json!([css]),
        )
        .as_u64()
        .unwrap_or(0) as usize
    }

    fn element(&self, css: &str) -> String {
        let found = self
            .call(
                "POST",
                "/element",
                Some(json!({ "using": "css selector", "value": css })),
            )
            .unwrap_or_else(|e| panic!("no element {css}: {e}"));
        found
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no element reference for {css}: {found}"))
            .to_string()
    }

    /// Click `css` as a person would (the driver's pointer).
    pub fn click(&self, css: &str) {
        let id = self.element(css);
        self.call("POST", &format!("/element/{id}/click"), Some(json!({})))
            .unwrap_or_else(|e| panic!("cannot click {css}: {e}"));
    }

    /// Type `text` into `css` as a person would (key events).
    pub fn type_into(&self, css: &str, text: &str) {
        let id = self.element(css);
        let _ = self.call("POST", &format!("/element/{id}/clear"), Some(json!({})));
        self.call(
            "POST",
            &format!("/element/{id}/value"),
            Some(json!({ "text": text })),
        )
        .unwrap_or_else(|e| panic!("cannot type into {css}: {e}"));
    }

    /// Pick the option of the `<select>` `css` whose value is `value`.
    pub fn select(&self, css: &str, value: &str) {
        self.click(&format!("{css} option[value=\"{value}\"]"));
    }

    /// Accept the `confirm()` the page shows.
    pub fn accept_dialog(&self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.call("POST", "/alert/accept", Some(json!({}))).is_err() {
            assert!(Instant::now() < deadline, "no dialog to accept");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Wait until `condition` (a function body returning a boolean) holds
    /// in the page; how long it took.
    pub fn wait_for(&self, what: &str, within: Duration, condition: &str) -> Duration {
        let start = Instant::now();
        loop {
            if self.js(condition, json!([])).as_bool() == Some(true) {
                return start.elapsed();
            }
            assert!(
                start.elapsed() < within,
                "{what}: not within {within:?}; the page says:\n{}",
                self.text("body")
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// A PNG of the window, written to `path`; its size in bytes.
    pub fn screenshot(&self, path: &Path) -> usize {
        let shot = self
            .call("GET", "/screenshot", None)
            .unwrap_or_else(|e| panic!("no screenshot: {e}"));
        let png = decode_base64(shot.as_str().unwrap_or_default());
        std::fs::write(path, &png).unwrap();
        png.len()
    }

    /// Elements wider than the window, or whose content overflows them
    /// sideways (text that does not wrap): their tag, id and class.
    pub fn overflowing(&self) -> Vec<String> {
        let found = self.js(
            r#"const out = [];
               const width = document.documentElement.clientWidth;
               for (const e of document.body.querySelectorAll('*')) {
                 const r = e.getBoundingClientRect();
                 if (r.width === 0 && r.height === 0) continue;
                 const style = getComputedStyle(e);
                 const scrolls = ['auto', 'scroll'].includes(style.overflowX);
                 if (r.right > width + 1 || (!scrolls && e.scrollWidth > e.clientWidth + 1 && e.clientWidth > 0)) {
                   out.push(`${e.tagName.toLowerCase()}#${e.id}.${e.className}`);
                 }
               }
               return out;"#,
            json!([]),
        );
        found
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Browser<'_> {
    fn drop(&mut self) {
        let _ = self
            .driver
            .call("DELETE", &format!("/session/{}", self.session), None);
    }
}

/// One HTTP/1.1 request to 127.0.0.1:`port`, the connection closed after:
/// the status and the JSON answer.
fn http(port: u16, method: &str, path: &str, body: Option<&Value>) -> Result<(u16, Value), String> {
    let mut s = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(2))
        .map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(60)))
        .map_err(|e| e.to_string())?;
    let body = body.map(Value::to_string).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(request.as_bytes()).map_err(|e| e.to_string())?;
    // The driver may keep the connection open: read the head, then the
    // body its length (or its chunks) says.
    let mut answer = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let (head, body_at) = loop {
        let n = s.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("the driver closed the connection".into());
        }
        answer.extend_from_slice(&buf[..n]);
        if let Some(i) = answer.windows(4).position(|w| w == b"\r\n\r\n") {
            break (
                String::from_utf8_lossy(&answer[..i]).to_ascii_lowercase(),
                i + 4,
            );
        }
    };
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no status: {head}"))?;
    let length = head.lines().find_map(|l| {
        l.strip_prefix("content-length:")
            .and_then(|v| v.trim().parse::<usize>().ok())
    });
    let complete = |a: &[u8]| match length {
        Some(n) => a.len() >= body_at + n,
        None => a.ends_with(b"0\r\n\r\n"),
    };
    while !complete(&answer) {
        let n = s.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buf[..n]);
    }
    let rest = String::from_utf8_lossy(&answer[body_at..]).into_owned();
    let body = if length.is_none() {
        dechunk(&rest)
    } else {
        rest
    };
    let value = serde_json::from_str(&body).unwrap_or(Value::Null);
    Ok((status, value))
}

/// A chunked body put back together.
fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}

/// Standard base64 (the screenshot's encoding) to bytes.
fn decode_base64(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for v in text.bytes().filter_map(value) {
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}
