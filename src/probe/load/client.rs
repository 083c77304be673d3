//! The load probe's connections: at most `connections` requests in flight,
//! each on a kept-alive HTTP/1.1 connection (hyper).
//!
//! Open model: a request takes a slot (a semaphore permit) and a connection
//! from the idle ones, or opens one; when no slot is free the request is not
//! sent at all (the generator is the limit, and says so). Closed loop: each
//! worker [`Own`]s one connection and drives it in its own task, so a request
//! and its answer never wait on a wake-up of another task.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::{Connection, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::tally::Ending;
use crate::gameday::model::LoadRequest;
use crate::gameday::units::StatusSpec;

/// The most a connection buffers of an answer at once (hyper's least).
const READ_BUFFER: usize = 8192;

/// The request, prepared once.
struct Request {
    /// `host:port` to connect to.
    address: String,
    method: hyper::Method,
    uri: hyper::Uri,
    headers: hyper::HeaderMap,
    body: Bytes,
    expect: StatusSpec,
}

impl Request {
    fn of(spec: &LoadRequest) -> Result<Request, String> {
        let uri: hyper::Uri = spec
            .url
            .parse()
            .map_err(|e| format!("`{}` is not a URL: {e}", crate::redact::text(&spec.url)))?;
        let host = uri.host().ok_or("the URL has no host")?.to_string();
        let port = uri.port_u16().unwrap_or(80);
        let method = hyper::Method::from_bytes(spec.method.as_bytes()).unwrap_or_default();
        let mut headers = hyper::HeaderMap::new();
        for (name, value) in &spec.headers {
            let name = hyper::header::HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| format!("header `{name}`: {e}"))?;
            let value = hyper::header::HeaderValue::from_str(value)
                .map_err(|e| format!("header `{name}`: {e}"))?;
            headers.insert(name, value);
        }
        let authority = match uri.port_u16() {
            Some(p) => format!("{host}:{p}"),
            None => host.clone(),
        };
        if !headers.contains_key(hyper::header::HOST) {
            let value = hyper::header::HeaderValue::from_str(&authority)
                .map_err(|e| format!("host `{authority}`: {e}"))?;
            headers.insert(hyper::header::HOST, value);
        }
        headers.insert(
            hyper::header::USER_AGENT,
            hyper::header::HeaderValue::from_static(concat!("gameday/", env!("CARGO_PKG_VERSION"))),
        );
        let path = uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .parse()
            .map_err(|e| format!("the URL's path: {e}"))?;
        Ok(Request {
            address: format!("{host}:{port}"),
            method,
            uri: path,
            headers,
            body: Bytes::from(spec.body.clone().unwrap_or_default()),
            expect: spec.expect_status.clone(),
        })
    }

    fn build(&self) -> hyper::Request<Full<Bytes>> {
        let mut request = hyper::Request::new(Full::new(self.body.clone()));
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = self.uri.clone();
        *request.headers_mut() = self.headers.clone();
        request
    }
}

/// Connections to the target, at most `connections` busy at once.
pub(crate) struct Pool {
    request: Request,
    idle: Mutex<Vec<SendRequest<Full<Bytes>>>>,
    slots: Arc<Semaphore>,
}

impl Pool {
    pub(crate) fn new(spec: &LoadRequest, connections: u32) -> Result<Pool, String> {
        Ok(Pool {
            request: Request::of(spec)?,
            idle: Mutex::new(Vec::new()),
            slots: Arc::new(Semaphore::new(connections as usize)),
        })
    }

    /// A slot for one request, if a connection is free (or may be opened).
    pub(crate) fn try_slot(&self) -> Option<OwnedSemaphorePermit> {
        self.slots.clone().try_acquire_owned().ok()
    }

    /// Send the request once (its slot held by the caller), within `timeout`.
    pub(crate) async fn send(&self, timeout: Duration) -> Ending {
        match tokio::time::timeout(timeout, self.exchange()).await {
            Ok(ending) => ending,
            // The connection is dropped with the request: it is not reused.
            Err(_) => Ending::Timeout,
        }
    }

    async fn exchange(&self) -> Ending {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let mut sender = match idle {
            Some(s) => s,
            None => match self.connect().await {
                Ok(s) => s,
                Err(ending) => return ending,
            },
        };
        if sender.ready().await.is_err() {
            // Closed while idle (the server's keep-alive ended): one new try.
            sender = match self.connect().await {
                Ok(s) => s,
                Err(ending) => return ending,
            };
        }
        let response = match sender.send_request(self.request.build()).await {
            Ok(r) => r,
            Err(_) => return Ending::Broken,
        };
        let status = response.status().as_u16();
        // Read the body through, so the connection can carry the next one.
        if response.into_body().collect().await.is_err() {
            return Ending::Broken;
        }
        if !sender.is_closed() {
            self.idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(sender);
        }
        self.judge(status)
    }

    fn judge(&self, status: u16) -> Ending {
        if self.request.expect.matches(status) {
            Ending::Ok(status)
        } else {
            Ending::Status(status)
        }
    }

    /// Send the request once on `own`'s connection (a new one if it has
    /// none or the server closed it), within `timeout`. A connection that
    /// failed or timed out is dropped.
    pub(crate) async fn send_on(&self, own: &mut Option<Own>, timeout: Duration) -> Ending {
        let ending = match tokio::time::timeout(timeout, self.exchange_on(own)).await {
            Ok(Ok(status)) => return self.judge(status),
            Ok(Err(ending)) => ending,
            Err(_) => Ending::Timeout,
        };
        *own = None;
        ending
    }

    async fn exchange_on(&self, own: &mut Option<Own>) -> Result<u16, Ending> {
        if own.as_mut().is_some_and(Own::ended) {
            *own = None;
        }
        let Own { sender, driver } = match own {
            Some(own) => own,
            None => {
                let (sender, driver) = self.handshake().await?;
                own.insert(Own {
                    sender,
                    driver: Box::pin(driver),
                })
            }
        };
        let exchange = async {
            sender.ready().await.map_err(|_| Ending::Broken)?;
            let response = sender
                .send_request(self.request.build())
                .await
                .map_err(|_| Ending::Broken)?;
            let status = response.status().as_u16();
            // Read the body through, so the connection can carry the next one.
            response
                .into_body()
                .collect()
                .await
                .map_err(|_| Ending::Broken)?;
            Ok(status)
        };
        tokio::select! {
            biased;
            answered = exchange => answered,
            // The connection ended before its answer came.
            _ = driver.as_mut() => Err(Ending::Broken),
        }
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, Ending> {
        let (sender, connection) = self.handshake().await?;
        // Ends when its sender is dropped or the server closes it.
        tokio::spawn(connection);
        Ok(sender)
    }

    async fn handshake(&self) -> Result<(SendRequest<Full<Bytes>>, Driver), Ending> {
        let stream = tokio::net::TcpStream::connect(&self.request.address)
            .await
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::ConnectionRefused => Ending::Refused,
                _ => Ending::Broken,
            })?;
        let _ = stream.set_nodelay(true);
        // Answers are read through and dropped: a small read buffer keeps
        // each of up to `connections` connections small (hyper's grows to
        // ~400 KiB otherwise).
        hyper::client::conn::http1::Builder::new()
            .max_buf_size(READ_BUFFER)
            .handshake(TokioIo::new(stream))
            .await
            .map_err(|_| Ending::Broken)
    }
}

/// What reads and writes one connection's bytes (hyper's side of it).
type Driver = Connection<TokioIo<tokio::net::TcpStream>, Full<Bytes>>;

/// A connection one closed-loop worker owns: its sender, and the driver it
/// polls itself while a request is out.
pub(crate) struct Own {
    sender: SendRequest<Full<Bytes>>,
    driver: Pin<Box<Driver>>,
}

impl Own {
    /// Has the connection ended while it waited (the server closed it)?
    /// Polling the driver once reads what came meanwhile.
    fn ended(&mut self) -> bool {
        let mut cx = Context::from_waker(Waker::noop());
        matches!(self.driver.as_mut().poll(&mut cx), Poll::Ready(_)) || self.sender.is_closed()
    }
}
