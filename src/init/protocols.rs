//! What speaks on a port, found by speaking to it: PostgreSQL (its
//! SSLRequest answered by one byte, `S` or `N`: a pooler such as PgBouncer
//! answers it too), Redis (`PING` answered `+PONG`, or `-NOAUTH`/`-DENIED`
//! by one that wants a password), MySQL and MariaDB (the server speaks
//! first: a greeting of protocol 10), and HTTP (whatever was asked, an
//! answer starting `HTTP/`). The verdict is pure, the bytes read so far in
//! ([`verdict`]); the I/O around it is thin and bounded ([`ask`]): a
//! connection within [`CONNECT_WITHIN`], the answer within
//! [`ANSWER_WITHIN`], at most [`READ_AT_MOST`] bytes, and nothing sent but
//! the question's few bytes: no server is logged into or changed.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long a connection may take to open.
pub(crate) const CONNECT_WITHIN: Duration = Duration::from_millis(300);
/// How long the answer may take, from the question sent.
pub(crate) const ANSWER_WITHIN: Duration = Duration::from_millis(500);
/// The most read of an answer: a greeting or a status line is shorter.
pub(crate) const READ_AT_MOST: usize = 256;

/// PostgreSQL's SSLRequest: length 8, then the code 80877103.
const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

/// What init asks a port, each on a connection of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Question {
    /// Nothing sent: a MySQL server greets first.
    Greeting,
    /// Redis's inline `PING`. Asked first of an unknown port: a MySQL
    /// server greets before reading it, an HTTP server refuses it with an
    /// HTTP answer, a PostgreSQL server refuses it at once.
    Ping,
    /// PostgreSQL's SSLRequest, answered by one byte before any login.
    SslRequest,
}

impl Question {
    /// What an unknown port is asked, in order: `Ping` first, so that a
    /// MySQL greeting is heard before a lone `N` could be taken for
    /// PostgreSQL's answer.
    pub(crate) const UNKNOWN_PORT: [Question; 2] = [Question::Ping, Question::SslRequest];

    /// The bytes sent.
    pub(crate) fn bytes(self) -> &'static [u8] {
        match self {
            Question::Greeting => b"",
            Question::Ping => b"PING\r\n",
            Question::SslRequest => &SSL_REQUEST,
        }
    }
}

/// What answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Heard {
    /// PostgreSQL's protocol (a server, or a pooler in front of one).
    Postgres,
    /// Redis's protocol; `password`: it answered `-NOAUTH` (it wants one)
    /// or `-DENIED` (it refuses clients from afar until it has one).
    Redis { password: bool },
    /// MySQL's greeting; `mariadb`: its version says MariaDB.
    Mysql { mariadb: bool },
    /// An HTTP answer.
    Http,
}

impl Heard {
    /// How it answered, as the written file says it.
    pub(crate) fn describe(&self) -> &'static str {
        match self {
            Heard::Postgres => "answered PostgreSQL's SSLRequest",
            Heard::Redis { password: false } => "answered PING with +PONG",
            Heard::Redis { password: true } => "answered PING asking for a password",
            Heard::Mysql { mariadb: false } => "greeted as MySQL does",
            Heard::Mysql { mariadb: true } => "greeted as MariaDB does",
            Heard::Http => "answered HTTP",
        }
    }
}

/// What the bytes read so far say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    Heard(Heard),
    /// Not yet decided: more bytes could still make it one.
    NotYet,
    /// Nothing init knows.
    Unknown,
}

/// What `answer`, read after asking `asked`, says. Pure.
pub(crate) fn verdict(asked: Question, answer: &[u8]) -> Verdict {
    if answer.is_empty() {
        return Verdict::NotYet;
    }
    // A greeting comes first whatever was asked.
    let mysql = mysql(answer);
    if let Verdict::Heard(_) = mysql {
        return mysql;
    }
    let mut open = mysql == Verdict::NotYet;
    let mut prefixes: Vec<(&[u8], Heard)> = vec![(b"HTTP/", Heard::Http)];
    match asked {
        Question::Ping => prefixes.extend([
            (&b"+PONG"[..], Heard::Redis { password: false }),
            (&b"-NOAUTH"[..], Heard::Redis { password: true }),
            (&b"-DENIED"[..], Heard::Redis { password: true }),
        ]),
        // One byte, and nothing after it until the client goes on.
        Question::SslRequest if matches!(answer, b"S" | b"N") => {
            return Verdict::Heard(Heard::Postgres);
        }
        Question::SslRequest | Question::Greeting => {}
    }
    for (prefix, heard) in prefixes {
        if answer.starts_with(prefix) {
            return Verdict::Heard(heard);
        }
        open |= prefix.starts_with(answer);
    }
    if open {
        Verdict::NotYet
    } else {
        Verdict::Unknown
    }
}

/// A MySQL server's first packet: 3 bytes of length (little-endian), a
/// sequence number of 0, then a greeting (protocol 10, the server's
/// version ending in NUL) or an error (0xFF, a server error number: the
/// host is not allowed, too many connections).
fn mysql(answer: &[u8]) -> Verdict {
    let [l0, l1, l2, rest @ ..] = answer else {
        return Verdict::NotYet;
    };
    let length = usize::from(*l0) | usize::from(*l1) << 8 | usize::from(*l2) << 16;
    let [sequence, payload @ ..] = rest else {
        return Verdict::NotYet;
    };
    if *sequence != 0 || !(5..=1024).contains(&length) {
        return Verdict::Unknown;
    }
    match payload {
        [] => Verdict::NotYet,
        [10, version @ ..] => match version.iter().position(|b| *b == 0) {
            Some(end) if end > 0 && version[..end].iter().all(u8::is_ascii_graphic) => {
                let mariadb = version[..end].windows(7).any(|w| w == b"MariaDB");
                Verdict::Heard(Heard::Mysql { mariadb })
            }
            Some(_) => Verdict::Unknown,
            None if version.iter().all(u8::is_ascii_graphic) && version.len() < length => {
                Verdict::NotYet
            }
            None => Verdict::Unknown,
        },
        [0xff, code @ ..] => match code {
            [lo, hi, ..] if (1000..5000).contains(&u16::from_le_bytes([*lo, *hi])) => {
                Verdict::Heard(Heard::Mysql { mariadb: false })
            }
            [_, _, ..] => Verdict::Unknown,
            _ => Verdict::NotYet,
        },
        _ => Verdict::Unknown,
    }
}

/// Ask `address` one question: what answered, if init knows it. Bounded:
/// [`CONNECT_WITHIN`], then [`ANSWER_WITHIN`] for the answer.
pub(crate) async fn ask(address: &str, question: Question) -> Option<Heard> {
    let connect = tokio::net::TcpStream::connect(address);
    let mut stream = tokio::time::timeout(CONNECT_WITHIN, connect)
        .await
        .ok()?
        .ok()?;
    let exchange = async {
        // A server that speaks first may close before reading: its
        // greeting is still there to read.
        let _ = stream.write_all(question.bytes()).await;
        let mut answer = [0u8; READ_AT_MOST];
        let mut read = 0;
        loop {
            let n = stream.read(&mut answer[read..]).await.ok()?;
            read += n;
            match verdict(question, &answer[..read]) {
                Verdict::Heard(heard) => return Some(heard),
                Verdict::NotYet if n > 0 && read < READ_AT_MOST => {}
                Verdict::NotYet | Verdict::Unknown => return None,
            }
        }
    };
    tokio::time::timeout(ANSWER_WITHIN, exchange)
        .await
        .ok()
        .flatten()
}

/// Ask `address` each question in turn: the first answer init knows.
pub(crate) async fn identify(address: &str, questions: &[Question]) -> Option<Heard> {
    for question in questions {
        if let Some(heard) = ask(address, *question).await {
            return Some(heard);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A MySQL 8 greeting as a server sends it (its start).
    fn mysql_greeting(version: &str) -> Vec<u8> {
        let mut payload = vec![10];
        payload.extend(version.as_bytes());
        payload.push(0);
        payload.extend([0x0b, 0, 0, 0]); // connection id
        payload.extend(b"abcdefgh\0"); // salt
        let mut packet = (payload.len() as u32).to_le_bytes()[..3].to_vec();
        packet.push(0);
        packet.extend(payload);
        packet
    }

    #[test]
    fn postgres_answers_its_ssl_request_with_one_byte() {
        assert_eq!(SSL_REQUEST[..4], 8u32.to_be_bytes());
        assert_eq!(SSL_REQUEST[4..], 80877103u32.to_be_bytes());
        for answer in [b"N", b"S"] {
            assert_eq!(
                verdict(Question::SslRequest, answer),
                Verdict::Heard(Heard::Postgres)
            );
        }
        // An error, or a byte too many: not PostgreSQL's answer.
        assert_eq!(
            verdict(Question::SslRequest, b"E\0\0\0\x10SFATAL"),
            Verdict::Unknown
        );
        assert_eq!(verdict(Question::SslRequest, b"NOPE\r\n"), Verdict::Unknown);
        // The same byte to another question is not PostgreSQL's answer (it
        // could begin a MySQL greeting).
        assert_eq!(verdict(Question::Ping, b"N"), Verdict::NotYet);
    }

    #[test]
    fn redis_answers_ping_even_when_it_wants_a_password() {
        assert_eq!(
            verdict(Question::Ping, b"+PONG\r\n"),
            Verdict::Heard(Heard::Redis { password: false })
        );
        assert_eq!(
            verdict(Question::Ping, b"-NOAUTH Authentication required.\r\n"),
            Verdict::Heard(Heard::Redis { password: true })
        );
        assert_eq!(
            verdict(
                Question::Ping,
                b"-DENIED Redis is running in protected mode because protected mode is enabled"
            ),
            Verdict::Heard(Heard::Redis { password: true })
        );
        // Cut short: wait for the rest.
        assert_eq!(verdict(Question::Ping, b"+PO"), Verdict::NotYet);
        assert_eq!(verdict(Question::Ping, b""), Verdict::NotYet);
        // Another error, or +PONG to the SSLRequest: not Redis as asked.
        assert_eq!(
            verdict(Question::Ping, b"-ERR unknown command\r\n"),
            Verdict::Unknown
        );
        assert_eq!(
            verdict(Question::SslRequest, b"+PONG\r\n"),
            Verdict::Unknown
        );
    }

    #[test]
    fn mysql_greets_first_whatever_was_asked() {
        let greeting = mysql_greeting("8.0.36");
        for asked in [Question::Greeting, Question::Ping, Question::SslRequest] {
            assert_eq!(
                verdict(asked, &greeting),
                Verdict::Heard(Heard::Mysql { mariadb: false }),
                "{asked:?}"
            );
        }
        assert_eq!(
            verdict(
                Question::Greeting,
                &mysql_greeting("5.5.5-10.11.6-MariaDB-0+deb12u1")
            ),
            Verdict::Heard(Heard::Mysql { mariadb: true })
        );
        // The first bytes alone: not yet.
        assert_eq!(verdict(Question::Greeting, &greeting[..3]), Verdict::NotYet);
        assert_eq!(verdict(Question::Greeting, &greeting[..9]), Verdict::NotYet);
        // A refusal is MySQL too: 0xFF, error 1130 (host not allowed).
        let mut refusal = vec![0x20, 0, 0, 0, 0xff];
        refusal.extend(1130u16.to_le_bytes());
        refusal.extend(b"Host '172.17.0.1' is not allowed");
        assert_eq!(
            verdict(Question::Ping, &refusal),
            Verdict::Heard(Heard::Mysql { mariadb: false })
        );
        // Protocol 9, a later sequence number, or an unprintable version.
        let mut old = greeting.clone();
        old[4] = 9;
        assert_eq!(verdict(Question::Greeting, &old), Verdict::Unknown);
        let mut later = greeting.clone();
        later[3] = 1;
        assert_eq!(verdict(Question::Greeting, &later), Verdict::Unknown);
        assert_eq!(
            verdict(Question::Greeting, &mysql_greeting("8.0\x01")),
            Verdict::Unknown
        );
    }

    #[test]
    fn http_is_heard_whatever_was_asked() {
        for asked in [Question::Greeting, Question::Ping, Question::SslRequest] {
            assert_eq!(
                verdict(asked, b"HTTP/1.1 400 Bad Request\r\n"),
                Verdict::Heard(Heard::Http)
            );
            assert_eq!(verdict(asked, b"HTT"), Verdict::NotYet);
        }
        assert_eq!(
            verdict(Question::Greeting, b"SSH-2.0-OpenSSH_9.2\r\n"),
            Verdict::Unknown
        );
        assert_eq!(
            verdict(Question::Ping, b"220 mail ESMTP\r\n"),
            Verdict::Unknown
        );
    }

    /// A server on 127.0.0.1 that writes `greeting` on accept, then answers
    /// whatever it reads with `answer` (both may be empty).
    async fn server(greeting: &'static [u8], answer: &'static [u8]) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let _ = stream.write_all(greeting).await;
                    let mut buf = [0u8; 64];
                    while let Ok(n) = stream.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        if !answer.is_empty() {
                            let _ = stream.write_all(answer).await;
                        }
                    }
                });
            }
        });
        address
    }

    #[tokio::test]
    async fn asking_is_bounded_and_reads_what_answers() {
        let pong = server(b"", b"+PONG\r\n").await;
        assert_eq!(
            identify(&pong, &Question::UNKNOWN_PORT).await,
            Some(Heard::Redis { password: false })
        );
        // A server that never answers costs one answer's wait per question.
        let silent = server(b"", b"").await;
        let started = std::time::Instant::now();
        assert_eq!(identify(&silent, &Question::UNKNOWN_PORT).await, None);
        let took = started.elapsed();
        assert!(
            took >= ANSWER_WITHIN * 2 && took < ANSWER_WITHIN * 2 + Duration::from_millis(400),
            "{took:?}"
        );
        // Nothing listening: refused at once.
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().to_string()
        };
        assert_eq!(ask(&closed, Question::Ping).await, None);
    }
}
