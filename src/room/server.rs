//! The room's HTTP/1.1 server (hyper, no framework): `GET /` the page,
//! `GET /events` Server-Sent Events (a `snapshot`, then `update`s, a
//! keep-alive comment every 15 s), `GET /state` the snapshot as JSON,
//! `POST /observe` and `POST /halt`. Writing takes the write token; beyond
//! loopback, reading takes the read token (or the write one). Tokens come
//! as `?token=...` or `Authorization: Bearer ...`. Every refusal is a JSON
//! `{error}` the page shows; nothing a request says can stop the server,
//! and nothing here ever waits for the run: observations are handed over
//! with `try_send` (503 when its backlog is full).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::{Bytes, Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use serde::Deserialize;
use tokio::sync::mpsc;

use super::hub::Hub;
use crate::record::result::ObservationKind;
use crate::run::Said;

/// The page, self-contained.
const PAGE: &str = include_str!("page.html");
/// The largest request body taken.
pub(crate) const MAX_BODY: usize = 8 * 1024;
/// Longest writer's name and observation, in characters.
const MAX_NAME: usize = 64;
const MAX_TEXT: usize = 2000;
/// At most this many connections at once; more are closed at once.
const MAX_CONNECTIONS: usize = 256;

/// Asks the run's engine to halt it (as `gameday halt` does), for a
/// writer's name; what went wrong otherwise. Given by the command line, so
/// the room holds no engine code.
pub(crate) type HaltFn =
    Box<dyn Fn(String) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// Where the page's observations go.
pub(crate) enum Writes {
    /// The runner's own room: into the run's input.
    Runner(mpsc::Sender<Said>),
    /// A live run watched from elsewhere: its runner's room takes them.
    Elsewhere,
    /// A finished run replayed: nothing is written.
    Archived,
}

/// The room's tokens: the write one always, a read one beyond loopback.
#[derive(Clone)]
pub(crate) struct Tokens {
    pub write: String,
    pub read: Option<String>,
}

impl Tokens {
    /// Fresh random tokens (128 bits each, from the system's random).
    pub(crate) fn new(loopback: bool) -> Result<Tokens, String> {
        Ok(Tokens {
            write: random_token()?,
            read: if loopback {
                None
            } else {
                Some(random_token()?)
            },
        })
    }
}

fn random_token() -> Result<String, String> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| "the system's random source failed".to_string())?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Equal, taking the same time whatever the first difference.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// What serves the requests.
pub(crate) struct Server {
    pub hub: Arc<Hub>,
    pub tokens: Tokens,
    pub writes: Writes,
    pub halt: Option<HaltFn>,
}

type Body = BoxBody<Bytes, Infallible>;

/// A viewer's event stream: the hub's channel, as a body.
struct EventStream(mpsc::Receiver<Bytes>);

impl hyper::body::Body for EventStream {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|b| b.map(|b| Ok(Frame::data(b))))
    }
}

fn respond(status: StatusCode, content_type: &str, body: Body) -> Response<Body> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    let mut set = |k: &'static str, v: &str| {
        if let Ok(v) = hyper::header::HeaderValue::from_str(v) {
            headers.insert(k, v);
        }
    };
    set("content-type", content_type);
    set("cache-control", "no-store");
    set("x-content-type-options", "nosniff");
    // The page's address carries a token: never hand it to another site.
    set("referrer-policy", "no-referrer");
    response
}

fn json(status: StatusCode, value: &serde_json::Value) -> Response<Body> {
    respond(
        status,
        "application/json",
        Full::new(Bytes::from(value.to_string())).boxed(),
    )
}

fn error(status: StatusCode, message: &str) -> Response<Body> {
    json(status, &serde_json::json!({ "error": message }))
}

fn accepted(message: &str) -> Response<Body> {
    json(
        StatusCode::ACCEPTED,
        &serde_json::json!({ "ok": true, "message": message }),
    )
}

/// The tokens a request presents: `?token=` and `Authorization: Bearer`.
fn presented(uri: &hyper::Uri, headers: &hyper::HeaderMap) -> Vec<String> {
    let mut tokens: Vec<String> = uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter_map(|kv| kv.strip_prefix("token="))
        .map(str::to_string)
        .collect();
    if let Some(bearer) = headers
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        tokens.push(bearer.trim().to_string());
    }
    tokens
}

/// Whether a request without a read token names this machine as its
/// host: a page of another site that renamed itself to 127.0.0.1 (DNS
/// rebinding) reads nothing.
fn names_loopback(headers: &hyper::HeaderMap) -> bool {
    let Some(host) = headers
        .get(hyper::header::HOST)
        .and_then(|v| v.to_str().ok())
    else {
        return true;
    };
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    matches!(name, "127.0.0.1" | "localhost" | "[::1]")
}

/// An observation as the page posts it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Observe {
    name: String,
    kind: String,
    text: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Halt {
    name: String,
}

/// A writer's name: 1 to 64 characters once trimmed.
fn checked_name(name: &str) -> Result<String, String> {
    let name = name.trim();
    match name.chars().count() {
        0 => Err("say who you are: the name is empty".into()),
        n if n > MAX_NAME => Err(format!(
            "the name is {n} characters long: at most {MAX_NAME}"
        )),
        _ => Ok(name.to_string()),
    }
}

impl Observe {
    fn checked(self) -> Result<Said, String> {
        let by = checked_name(&self.name)?;
        let kind = ObservationKind::parse(&self.kind).ok_or_else(|| {
            format!(
                "`{}` is not a kind of observation: detected, mitigated or note",
                self.kind
            )
        })?;
        let text = self.text.trim();
        match text.chars().count() {
            0 => Err("the observation is empty: write what you saw".into()),
            n if n > MAX_TEXT => Err(format!(
                "the observation is {n} characters long: at most {MAX_TEXT}"
            )),
            _ => Ok(Said {
                by: Some(by),
                kind: Some(kind),
                text: text.to_string(),
            }),
        }
    }
}

const WATCH_ONLY: &str = "this page can only watch: ask the coordinator for the writer's link";
const REPLAY: &str = "this is a replay of a finished run: nothing can be written to it";
const ENDED: &str = "the run has ended: nothing more can be written to it";

impl Server {
    fn can_read(&self, tokens: &[String], headers: &hyper::HeaderMap) -> bool {
        match &self.tokens.read {
            None => names_loopback(headers),
            Some(read) => tokens
                .iter()
                .any(|t| same(t, read) || same(t, &self.tokens.write)),
        }
    }

    fn can_write(&self, tokens: &[String]) -> bool {
        tokens.iter().any(|t| same(t, &self.tokens.write))
    }

    /// Answer one request; never fails.
    pub(crate) async fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
    ) -> Result<Response<Body>, Infallible> {
        let tokens = presented(req.uri(), req.headers());
        if !self.can_read(&tokens, req.headers()) {
            return Ok(error(
                StatusCode::UNAUTHORIZED,
                "this room needs the token of its link: ask the coordinator for the viewer's link",
            ));
        }
        let path = req.uri().path().to_string();
        let response = match (req.method().clone(), path.as_str()) {
            (Method::GET, "/") => respond(
                StatusCode::OK,
                "text/html; charset=utf-8",
                Full::new(Bytes::from_static(PAGE.as_bytes())).boxed(),
            ),
            (Method::GET, "/events") => {
                let stream = EventStream(self.hub.join());
                respond(StatusCode::OK, "text/event-stream", stream.boxed())
            }
            (Method::GET, "/state") => respond(
                StatusCode::OK,
                "application/json",
                Full::new(Bytes::from(self.hub.snapshot_json())).boxed(),
            ),
            (Method::POST, "/observe" | "/halt") if !self.can_write(&tokens) => {
                error(StatusCode::FORBIDDEN, WATCH_ONLY)
            }
            (Method::POST, "/observe") => match body::<Observe>(req).await {
                Ok(observe) => self.observe(observe),
                Err(refused) => refused,
            },
            (Method::POST, "/halt") => match body::<Halt>(req).await {
                Ok(halt) => self.halt(halt).await,
                Err(refused) => refused,
            },
            (_, "/" | "/events" | "/state" | "/observe" | "/halt") => error(
                StatusCode::METHOD_NOT_ALLOWED,
                &format!("{} is not answered on {path}", req.method()),
            ),
            _ => error(StatusCode::NOT_FOUND, &format!("nothing at {path}")),
        };
        Ok(response)
    }

    fn observe(&self, observe: Observe) -> Response<Body> {
        let tx = match &self.writes {
            Writes::Runner(tx) => tx,
            Writes::Elsewhere => {
                return error(
                    StatusCode::CONFLICT,
                    "observations are written by the runner's own room: open its writer link",
                );
            }
            Writes::Archived => return error(StatusCode::CONFLICT, REPLAY),
        };
        let said = match observe.checked() {
            Ok(said) => said,
            Err(message) => return error(StatusCode::BAD_REQUEST, &message),
        };
        if self.hub.ended() {
            return error(StatusCode::CONFLICT, ENDED);
        }
        match tx.try_send(said) {
            Ok(()) => accepted("recorded: it shows in the timeline as soon as the run writes it"),
            Err(mpsc::error::TrySendError::Full(_)) => error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the run has too many observations waiting: try again in a moment",
            ),
            Err(mpsc::error::TrySendError::Closed(_)) => error(StatusCode::CONFLICT, ENDED),
        }
    }

    async fn halt(&self, halt: Halt) -> Response<Body> {
        let name = match checked_name(&halt.name) {
            Ok(name) => name,
            Err(message) => return error(StatusCode::BAD_REQUEST, &message),
        };
        if matches!(self.writes, Writes::Archived) {
            return error(StatusCode::CONFLICT, REPLAY);
        }
        if self.hub.ended() {
            return error(StatusCode::CONFLICT, ENDED);
        }
        let Some(halt) = &self.halt else {
            return error(StatusCode::CONFLICT, "this room cannot halt the run");
        };
        match halt(name.clone()).await {
            Ok(()) => accepted(&format!(
                "halt requested by {name}: the run reverts every fault and stops within a few seconds"
            )),
            Err(e) => error(
                StatusCode::BAD_GATEWAY,
                &format!("cannot halt the run: {e}"),
            ),
        }
    }
}

/// Beyond this, a body too large is no longer read to its end (read to
/// its end, the connection closes cleanly and the client reads the 413).
const DRAIN_LIMIT: usize = 1 << 20;

/// A JSON body of at most [`MAX_BODY`] bytes, or the refusal to send.
async fn body<T: for<'de> Deserialize<'de>>(req: Request<Incoming>) -> Result<T, Response<Body>> {
    let too_large = || {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("the request is larger than {MAX_BODY} bytes"),
        )
    };
    let declared = req
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > DRAIN_LIMIT as u64) {
        return Err(too_large());
    }
    let mut body = req.into_body();
    let mut bytes = Vec::new();
    let mut total = 0;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "the request's body could not be read",
            ));
        };
        if let Ok(data) = frame.into_data() {
            total += data.len();
            if total <= MAX_BODY {
                bytes.extend_from_slice(&data);
            } else if total > DRAIN_LIMIT {
                break;
            }
        }
    }
    if total > MAX_BODY {
        return Err(too_large());
    }
    serde_json::from_slice(&bytes).map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            &format!("the request is not the JSON expected: {e}"),
        )
    })
}

/// Accept connections on `listener` until the task is aborted; each is
/// served on a task of its own.
pub(crate) async fn serve(listener: tokio::net::TcpListener, server: Arc<Server>) {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let mut said_error = false;
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                if !std::mem::replace(&mut said_error, true) {
                    eprintln!(
                        "warning: the live room cannot accept a connection: {e}; the run goes on"
                    );
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            continue;
        };
        let server = server.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| server.clone().handle(req));
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(std::time::Duration::from_secs(10))
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
            drop(slot);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn observe(name: &str, kind: &str, text: &str) -> Result<Said, String> {
        Observe {
            name: name.into(),
            kind: kind.into(),
            text: text.into(),
        }
        .checked()
    }

    #[test]
    fn observations_are_checked_with_clear_messages() {
        let ok = observe(" Sam ", "Detected", "p99 up").unwrap();
        assert_eq!(ok.by.as_deref(), Some("Sam"));
        assert_eq!(ok.kind, Some(ObservationKind::Detected));
        assert_eq!(
            observe("  ", "note", "x").unwrap_err(),
            "say who you are: the name is empty"
        );
        assert!(
            observe(&"n".repeat(65), "note", "x")
                .unwrap_err()
                .contains("at most 64")
        );
        assert!(observe(&"é".repeat(64), "note", "x").is_ok());
        assert!(
            observe("Sam", "guessed", "x")
                .unwrap_err()
                .contains("detected, mitigated or note")
        );
        assert!(observe("Sam", "note", &"x".repeat(2000)).is_ok());
        assert!(
            observe("Sam", "note", &"x".repeat(2001))
                .unwrap_err()
                .contains("2001 characters")
        );
    }

    fn server(read: Option<&str>) -> Server {
        Server {
            hub: Arc::new(Hub::new(super::super::Pace::Live)),
            tokens: Tokens {
                write: "w".repeat(32),
                read: read.map(str::to_string),
            },
            writes: Writes::Archived,
            halt: None,
        }
    }

    fn headers(pairs: &[(&'static str, &str)]) -> hyper::HeaderMap {
        let mut map = hyper::HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, v.parse().unwrap());
        }
        map
    }

    #[test]
    fn reading_beyond_loopback_takes_a_token_and_writing_the_write_one() {
        let w = "w".repeat(32);
        let r = "r".repeat(32);
        let uri = |q: &str| q.parse::<hyper::Uri>().unwrap();
        let none = headers(&[]);
        let by_query = presented(&uri(&format!("/events?x=1&token={r}")), &none);
        assert_eq!(by_query, vec![r.clone()]);
        let bearer = headers(&[("authorization", &format!("Bearer {w}"))]);
        assert_eq!(presented(&uri("/observe"), &bearer), vec![w.clone()]);

        let beyond = server(Some(&r));
        assert!(!beyond.can_read(&[], &none));
        assert!(!beyond.can_read(&["nope".into()], &none));
        assert!(beyond.can_read(std::slice::from_ref(&r), &none));
        assert!(beyond.can_read(std::slice::from_ref(&w), &none));
        assert!(!beyond.can_write(std::slice::from_ref(&r)));
        assert!(beyond.can_write(std::slice::from_ref(&w)));

        let here = server(None);
        for host in [
            "127.0.0.1:8099",
            "localhost:8099",
            "[::1]:8099",
            "localhost",
        ] {
            assert!(here.can_read(&[], &headers(&[("host", host)])), "{host}");
        }
        assert!(!here.can_read(&[], &headers(&[("host", "evil.example:8099")])));
    }

    #[test]
    fn tokens_are_random_and_compared_whole() {
        let a = Tokens::new(false).unwrap();
        assert_eq!(a.write.len(), 32);
        assert_ne!(Some(&a.write), a.read.as_ref());
        assert!(Tokens::new(true).unwrap().read.is_none());
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "abcd"));
    }
}
