//! Faults (`fault:`, `faults:`, `- fault:` steps): one decoder per kind,
//! picked from [`FaultKind`] by an exhaustive `match`, each kind's keys
//! beside it in [`fault_keys`].

use super::*;
use crate::gameday::units::{ByteSize, Percent, parse_signal};

/// The key of every kind that acts on the target's network namespace:
/// whether it may reach containers outside the scope sharing it.
const SHARED_NAMESPACE: &str = "include_shared_namespace";
const DELAY_KEYS: &[&str] = &[
    "latency",
    "jitter",
    "correlation",
    "to",
    "engine",
    SHARED_NAMESPACE,
];
const LOSS_KEYS: &[&str] = &["percent", "correlation", "to", "engine", SHARED_NAMESPACE];
const SHARE_KEYS: &[&str] = &["percent", "to", "engine", SHARED_NAMESPACE];
const BANDWIDTH_KEYS: &[&str] = &["rate", SHARED_NAMESPACE];
const PARTITION_KEYS: &[&str] = &["from", SHARED_NAMESPACE];
const DISCONNECT_KEYS: &[&str] = &["network", SHARED_NAMESPACE];
const KILL_KEYS: &[&str] = &["signal", "restore"];
const STOP_KEYS: &[&str] = &["timeout", "restore"];
const RESTART_KEYS: &[&str] = &["timeout"];

const PAUSE_KEYS: &[&str] = &[];
const PROCESS_KEYS: &[&str] = &["match", "signal", "pid1"];
const CPU_STRESS_KEYS: &[&str] = &["workers", "load"];
const MEMORY_STRESS_KEYS: &[&str] = &["size"];
const IO_STRESS_KEYS: &[&str] = &["path", "workers", "size", "shared_filesystem"];
const DISK_FILL_KEYS: &[&str] = &["path", "fill", "size", "shared_filesystem"];
const SCRIPT_KEYS: &[&str] = &["apply", "revert", "in", "timeout"];
const HTTP_FAULT_KEYS: &[&str] = &[
    "port",
    "side",
    "to",
    "match",
    "percent",
    "status",
    "body",
    "abort",
    "delay",
    SHARED_NAMESPACE,
];
const HTTP_MATCH_KEYS: &[&str] = &["method", "path", "header"];
const DNS_KEYS: &[&str] = &["names", "error", "delay", "percent", SHARED_NAMESPACE];
/// What an `http_fault` does to a request: exactly one of these.
const HTTP_ACTIONS: &[&str] = &["status", "abort", "delay"];

/// Where writing is not filling a disk, or is this host's business.
const PSEUDO_FILESYSTEMS: &[&str] = &["/proc", "/sys", "/dev"];

/// The keys each kind of fault takes besides its target's (`service:`, ...).
pub(crate) fn fault_keys(kind: FaultKind) -> &'static [&'static str] {
    match kind {
        FaultKind::Kill => KILL_KEYS,
        FaultKind::Stop => STOP_KEYS,
        FaultKind::Restart => RESTART_KEYS,
        FaultKind::Pause => PAUSE_KEYS,
        FaultKind::Delay => DELAY_KEYS,
        FaultKind::Loss => LOSS_KEYS,
        FaultKind::Duplicate | FaultKind::Corrupt => SHARE_KEYS,
        FaultKind::Bandwidth => BANDWIDTH_KEYS,
        FaultKind::Partition => PARTITION_KEYS,
        FaultKind::Disconnect => DISCONNECT_KEYS,
        FaultKind::Process => PROCESS_KEYS,
        FaultKind::CpuStress => CPU_STRESS_KEYS,
        FaultKind::MemoryStress => MEMORY_STRESS_KEYS,
        FaultKind::IoStress => IO_STRESS_KEYS,
        FaultKind::DiskFill => DISK_FILL_KEYS,
        FaultKind::Script => SCRIPT_KEYS,
        FaultKind::HttpFault => HTTP_FAULT_KEYS,
        FaultKind::Dns => DNS_KEYS,
    }
}

impl Decoder<'_> {
    /// A size with its unit (`200MiB`); greater than zero.
    fn byte_size(&mut self, node: &Node, what: &str) -> Option<ByteSize> {
        let text = match &node.value {
            Value::Str(s) => s.clone(),
            Value::Int(i) => {
                self.error_hint(
                    node.pos,
                    format!("{what} needs a unit, found `{i}`"),
                    format!("write a size with its unit, e.g. `{i}MiB` or `{i}B`"),
                );
                return None;
            }
            other => {
                self.error_hint(
                    node.pos,
                    format!("expected {what} as a size, found {}", other.kind()),
                    "sizes look like `200MiB`, `1GiB`, `500MB`",
                );
                return None;
            }
        };
        match text.parse::<ByteSize>() {
            Ok(b) if b.0 >= 1.0 => Some(b),
            Ok(_) => {
                self.error_hint(
                    node.pos,
                    format!("{what} must be greater than zero, found `{text}`"),
                    "sizes look like `200MiB`, `1GiB`, `500MB`",
                );
                None
            }
            Err(e) => {
                self.error_hint(
                    node.pos,
                    format!("invalid {what}: {e}"),
                    "sizes look like `200MiB`, `1GiB`, `500MB`",
                );
                None
            }
        }
    }

    /// A whole number from 1 to `max`.
    fn count(&mut self, node: &Node, what: &str, max: i64) -> Option<u32> {
        match &node.value {
            Value::Int(i) if (1..=max).contains(i) => Some(*i as u32),
            Value::Int(i) => {
                self.error_hint(
                    node.pos,
                    format!("{what} must be between 1 and {max}, found {i}"),
                    format!("write a whole number from 1 to {max}"),
                );
                None
            }
            other => {
                self.error_hint(
                    node.pos,
                    format!("expected {what} as a whole number, found {}", other.kind()),
                    "write e.g. `2`",
                );
                None
            }
        }
    }

    /// A directory inside the container: absolute, no `..`, not a pseudo
    /// filesystem. It is resolved inside the container's root when used.
    fn container_path(&mut self, node: &Node, what: &str) -> Option<String> {
        let path = self.name(node, what)?;
        let problem = if !path.starts_with('/') {
            Some(format!(
                "{what} must be an absolute path in the container, found `{path}`"
            ))
        } else if path.split('/').any(|part| part == "..") {
            Some(format!("{what} must not climb with `..`, found `{path}`"))
        } else {
            PSEUDO_FILESYSTEMS
                .iter()
                .find(|fs| path == **fs || path.starts_with(&format!("{fs}/")))
                .map(|fs| format!("{what} is under {fs}, which is not the container's filesystem"))
        };
        match problem {
            Some(message) => {
                self.error_hint(
                    node.pos,
                    message,
                    "name a directory of the container's own filesystem, e.g. `/data` (a tmpfs or volume of its own)",
                );
                None
            }
            None => Some(path),
        }
    }

    /// `shared_filesystem` of `io_stress` and `disk_fill` (default false).
    fn shared_filesystem(&mut self, obj: &Obj<'_>) -> Option<bool> {
        obj.get("shared_filesystem")
            .map(|n| self.boolean(n, "`shared_filesystem`"))
            .unwrap_or(Some(false))
    }

    /// A CPU worker's load: more than 0%, at most 100% (one core).
    fn load(&mut self, node: &Node) -> Option<Percent> {
        if let Value::Str(text) = &node.value
            && let Some(n) = text.trim().strip_suffix('%')
            && n.trim().parse::<f64>().is_ok_and(|v| v > 100.0)
        {
            self.error_hint(
                node.pos,
                format!("`load` is per worker and at most 100% (one busy core), found `{text}`"),
                "for more than one core, add workers: `workers: 2, load: 75%` loads 1.5 cores",
            );
            return None;
        }
        self.positive_percent(node, "`load`")
    }

    fn script_place(&mut self, node: &Node) -> Option<ScriptPlace> {
        match self.name(node, "`in`").as_deref() {
            Some("container") => Some(ScriptPlace::Container),
            Some("host") => Some(ScriptPlace::Host),
            Some(other) => {
                self.error_hint(
                    node.pos,
                    format!("unknown place `{other}` for a script"),
                    "use `container` (inside the target, the default) or `host` (this machine)",
                );
                None
            }
            None => None,
        }
    }

    /// A signal name (`SIGSTOP`, `TERM`, `9` is refused); SIGKILL when absent.
    fn signal(&mut self, node: Option<&Node>) -> Option<String> {
        let Some(n) = node else {
            return Some("SIGKILL".to_string());
        };
        let text = self.name(n, "the signal")?;
        match parse_signal(&text) {
            Ok(sig) => Some(sig),
            Err(e) => {
                self.error_hint(
                    n.pos,
                    e,
                    format!("use one of {}", crate::gameday::units::SIGNALS.join(", ")),
                );
                None
            }
        }
    }

    /// `include_shared_namespace: true` (default false): a fault on the
    /// target's network namespace may reach the containers outside the
    /// scope that share it.
    fn shared_namespace(&mut self, obj: &Obj<'_>) -> Option<SharedNamespace> {
        let include = match obj.get(SHARED_NAMESPACE) {
            None => false,
            Some(n) => self.boolean(n, "`include_shared_namespace`")?,
        };
        Some(SharedNamespace {
            include_shared_namespace: include,
        })
    }

    /// A TCP port, 1 to 65535.
    fn port(&mut self, node: &Node, what: &str) -> Option<u16> {
        match &node.value {
            Value::Int(i) if (1..=65535).contains(i) => Some(*i as u16),
            Value::Int(i) => {
                self.error_hint(
                    node.pos,
                    format!("{what} must be a port from 1 to 65535, found {i}"),
                    "the container port the service listens on, e.g. `8080`",
                );
                None
            }
            other => {
                self.error_hint(
                    node.pos,
                    format!(
                        "expected {what} as a port from 1 to 65535, found {}",
                        other.kind()
                    ),
                    "the container port the service listens on, e.g. `8080`",
                );
                None
            }
        }
    }

    /// `names: [store, "*.internal"]`: DNS names, `*` for any run.
    fn dns_names(&mut self, node: &Node) -> Option<Vec<String>> {
        let hint = "write the names as a list, e.g. `names: [store, \"*.internal\"]`";
        let Value::Seq(items) = &node.value else {
            self.error_hint(
                node.pos,
                format!("expected `names` as a list, found {}", node.value.kind()),
                hint,
            );
            return None;
        };
        let names: Vec<Option<String>> = items
            .iter()
            .map(|n| {
                let name = self.name(n, "a name")?;
                let plain = name.trim_end_matches('.').to_ascii_lowercase();
                if !plain.is_empty()
                    && plain
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-._*".contains(c))
                {
                    Some(plain)
                } else {
                    self.error_hint(
                        n.pos,
                        format!("`{name}` is not a DNS name"),
                        "names are letters, digits, `-` and `.`, with `*` for any run: `store`, `db.internal`, `*.internal`",
                    );
                    None
                }
            })
            .collect();
        names.into_iter().collect()
    }

    /// `match: { method, path, header: { name: value } }`.
    fn http_match(&mut self, node: &Node) -> Option<HttpMatch> {
        let obj = self.obj(node, "`match`", HTTP_MATCH_KEYS)?;
        let method = obj.get("method").map(|n| {
            let m = self.name(n, "`method`")?;
            if m.chars().all(|c| c.is_ascii_alphabetic()) {
                Some(m.to_ascii_uppercase())
            } else {
                self.error_hint(
                    n.pos,
                    format!("`{m}` is not an HTTP method"),
                    "write e.g. `GET`, `POST`, `DELETE`",
                );
                None
            }
        });
        let path = obj.get("path").map(|n| {
            let p = self.name(n, "`path`")?;
            if p.starts_with('/') || p.starts_with('*') {
                Some(p)
            } else {
                self.error_hint(
                    n.pos,
                    format!("the path `{p}` does not start with `/`"),
                    "paths look like `/charge`, or `/charge*` for every path under it",
                );
                None
            }
        });
        let header = match obj.get("header") {
            None => Some(Vec::new()),
            Some(n) => match &n.value {
                Value::Map(entries) => {
                    let mut pairs = Vec::new();
                    let mut ok = true;
                    for (key, value) in entries {
                        match self.name(value, "a header value") {
                            Some(v) => pairs.push((key.name.to_ascii_lowercase(), v)),
                            None => ok = false,
                        }
                    }
                    ok.then_some(pairs)
                }
                other => {
                    self.error_hint(
                        n.pos,
                        format!("expected `header` as a mapping, found {}", other.kind()),
                        "write e.g. `header: { x-tenant: beta }`",
                    );
                    None
                }
            },
        };
        Some(HttpMatch {
            method: optional(method)?,
            path: optional(path)?,
            header: header?,
        })
    }

    /// What an `http_fault` does: one of `status` (with `body`), `abort`,
    /// `delay`.
    fn http_action(&mut self, obj: &Obj<'_>, what: &str) -> Option<HttpAction> {
        let given: Vec<&str> = HTTP_ACTIONS
            .iter()
            .copied()
            .filter(|k| obj.get(k).is_some())
            .collect();
        match given.as_slice() {
            [] => {
                self.error_hint(
                    obj.pos,
                    format!("{what} says nothing about what the requests get"),
                    "add one of `status: 503`, `abort: reset` (or `close`) and `delay: 800ms`",
                );
                return None;
            }
            [_] => {}
            [first, second, ..] => {
                let pos = obj.key(second).map(|k| k.pos).unwrap_or(obj.pos);
                self.error_hint(
                    pos,
                    format!("{what} takes one of `status`, `abort` and `delay`, found `{first}` and `{second}`"),
                    "a request is answered, aborted or delayed: keep one (write two scenarios for both)",
                );
                return None;
            }
        }
        if given[0] != "status"
            && let Some(body) = obj.key("body")
        {
            self.error_hint(
                body.pos,
                format!("`body` goes with `status`, not with `{}`", given[0]),
                "remove `body`, or answer with `status: 503` and this body",
            );
            return None;
        }
        let node = obj.get(given[0])?;
        match given[0] {
            "status" => {
                let code = match &node.value {
                    Value::Int(i) if (200..=599).contains(i) => *i as u16,
                    Value::Int(i) => {
                        self.error_hint(
                            node.pos,
                            format!("`status` must be an HTTP status from 200 to 599, found {i}"),
                            "write e.g. `status: 503`",
                        );
                        return None;
                    }
                    other => {
                        self.error_hint(
                            node.pos,
                            format!(
                                "expected `status` as an HTTP status from 200 to 599, found {}",
                                other.kind()
                            ),
                            "write e.g. `status: 503`",
                        );
                        return None;
                    }
                };
                let body = match obj.get("body") {
                    Some(n) => Some(self.name(n, "`body`")?),
                    None => None,
                };
                Some(HttpAction::Status { code, body })
            }
            "abort" => match self.name(node, "`abort`")?.as_str() {
                "reset" => Some(HttpAction::Abort(HttpAbort::Reset)),
                "close" => Some(HttpAction::Abort(HttpAbort::Close)),
                other => {
                    self.error_hint(
                        node.pos,
                        format!("unknown abort `{other}`"),
                        "use `reset` (the client sees a connection reset) or `close` (the connection closes without an answer)",
                    );
                    None
                }
            },
            _ => self.duration(node, "`delay`").map(HttpAction::Delay),
        }
    }

    pub(super) fn fault(&mut self, node: &Node) -> Option<Fault> {
        let obj = self.obj(node, "a fault", FaultKind::KEYS)?;
        let kinds = obj.present(FaultKind::KEYS);
        let key = match kinds.as_slice() {
            [] => {
                if !obj.had_unknown_key {
                    self.error_hint(
                        obj.pos,
                        "the fault names no kind",
                        format!(
                            "write one of {}, e.g. `pause: {{ service: db }}`",
                            list_keys(FaultKind::KEYS)
                        ),
                    );
                }
                return None;
            }
            [one] => *one,
            [_, second, ..] => {
                self.error_hint(
                    second.pos,
                    "one fault item names two kinds",
                    "use `faults:` with one list item per fault",
                );
                return None;
            }
        };
        let body = obj.get(&key.name)?;
        let what = format!("the `{}` fault", key.name);
        let kind = FaultKind::from_key(&key.name)?;
        let keys = fault_keys(kind);
        match kind {
            FaultKind::Kill => {
                let (target, obj) = self.target(body, &what, keys)?;
                let signal = self.signal(obj.get("signal"));
                let restore = obj
                    .get("restore")
                    .map(|n| self.boolean(n, "`restore`"))
                    .unwrap_or(Some(true));
                Some(Fault::Kill(KillFault {
                    target,
                    signal: signal?,
                    restore: restore?,
                }))
            }
            FaultKind::Stop => {
                let (target, obj) = self.target(body, &what, keys)?;
                let timeout = obj
                    .get("timeout")
                    .map(|n| self.duration(n, "`timeout`"))
                    .unwrap_or(Some(HumanDuration::from_secs(10)));
                let restore = obj
                    .get("restore")
                    .map(|n| self.boolean(n, "`restore`"))
                    .unwrap_or(Some(true));
                Some(Fault::Stop(StopFault {
                    target,
                    timeout: timeout?,
                    restore: restore?,
                }))
            }
            FaultKind::Restart => {
                let (target, obj) = self.target(body, &what, keys)?;
                let timeout = obj
                    .get("timeout")
                    .map(|n| self.duration(n, "`timeout`"))
                    .unwrap_or(Some(HumanDuration::from_secs(10)));
                Some(Fault::Restart(RestartFault {
                    target,
                    timeout: timeout?,
                }))
            }
            FaultKind::Pause => {
                let (target, _) = self.target(body, &what, keys)?;
                Some(Fault::Pause(PauseFault { target }))
            }
            FaultKind::Process => {
                let (target, obj) = self.target(body, &what, keys)?;
                let pattern = self
                    .require(&obj, "match", &what, "worker")
                    .and_then(|n| self.name(n, "`match`"));
                let signal = self.signal(obj.get("signal"));
                let pid1 = obj
                    .get("pid1")
                    .map(|n| self.boolean(n, "`pid1`"))
                    .unwrap_or(Some(false));
                Some(Fault::Process(ProcessFault {
                    target,
                    pattern: pattern?,
                    signal: signal?,
                    pid1: pid1?,
                }))
            }
            FaultKind::CpuStress => {
                let (target, obj) = self.target(body, &what, keys)?;
                let workers = obj
                    .get("workers")
                    .map(|n| self.count(n, "`workers`", 256))
                    .unwrap_or(Some(1));
                let load = obj
                    .get("load")
                    .map(|n| self.load(n))
                    .unwrap_or(Some(Percent(100.0)));
                Some(Fault::CpuStress(CpuStressFault {
                    target,
                    workers: workers?,
                    load: load?,
                }))
            }
            FaultKind::MemoryStress => {
                let (target, obj) = self.target(body, &what, keys)?;
                let size = self
                    .require(&obj, "size", &what, "200MiB")
                    .and_then(|n| self.byte_size(n, "`size`"));
                Some(Fault::MemoryStress(MemoryStressFault {
                    target,
                    size: size?,
                }))
            }
            FaultKind::IoStress => {
                let (target, obj) = self.target(body, &what, keys)?;
                let path = self
                    .require(&obj, "path", &what, "/data")
                    .and_then(|n| self.container_path(n, "`path`"));
                let workers = obj
                    .get("workers")
                    .map(|n| self.count(n, "`workers`", 64))
                    .unwrap_or(Some(1));
                let size = obj
                    .get("size")
                    .map(|n| self.byte_size(n, "`size`"))
                    .unwrap_or(Some(ByteSize(64.0 * 1024.0 * 1024.0)));
                let shared = self.shared_filesystem(&obj);
                Some(Fault::IoStress(IoStressFault {
                    target,
                    path: path?,
                    workers: workers?,
                    size: size?,
                    shared_filesystem: shared?,
                }))
            }
            FaultKind::DiskFill => {
                let (target, obj) = self.target(body, &what, keys)?;
                let path = self
                    .require(&obj, "path", &what, "/data")
                    .and_then(|n| self.container_path(n, "`path`"));
                let fill = obj.get("fill").map(|n| self.positive_percent(n, "`fill`"));
                let size = obj.get("size").map(|n| self.byte_size(n, "`size`"));
                let shared = self.shared_filesystem(&obj);
                match (obj.key("fill"), obj.key("size")) {
                    (None, None) => {
                        self.error_hint(
                            obj.pos,
                            format!("{what} says neither how full nor how much"),
                            "add `fill: 95%` (the filesystem's use, as df counts) or `size: 1GiB`",
                        );
                        return None;
                    }
                    (Some(_), Some(second)) => {
                        self.error_hint(
                            second.pos,
                            format!("{what} takes one of `fill` and `size`, not both"),
                            "keep `fill: 95%` (how full) or `size: 1GiB` (how much)",
                        );
                        return None;
                    }
                    _ => {}
                }
                Some(Fault::DiskFill(DiskFillFault {
                    target,
                    path: path?,
                    fill: optional(fill)?,
                    size: optional(size)?,
                    shared_filesystem: shared?,
                }))
            }
            FaultKind::Script => {
                let (target, obj) = self.target(body, &what, keys)?;
                let apply = self
                    .require(&obj, "apply", &what, "[sh, -c, \"...\"]")
                    .and_then(|n| self.argv(n, "`apply`"));
                let revert = match obj.get("revert") {
                    Some(n) => self.argv(n, "`revert`"),
                    None => {
                        self.error_hint(
                            obj.pos,
                            format!("{what} has no `revert`"),
                            "every fault is undone: add `revert: [...]`, the command that undoes `apply` (it is journalled before `apply` runs, and must be safe to run twice)",
                        );
                        None
                    }
                };
                let place = obj
                    .get("in")
                    .map(|n| self.script_place(n))
                    .unwrap_or(Some(ScriptPlace::Container));
                let timeout = obj
                    .get("timeout")
                    .map(|n| self.duration(n, "`timeout`"))
                    .unwrap_or(Some(HumanDuration::from_secs(30)));
                Some(Fault::Script(ScriptFault {
                    target,
                    apply: apply?,
                    revert: revert?,
                    place: place?,
                    timeout: timeout?,
                }))
            }
            FaultKind::Dns => {
                let (target, obj) = self.target(body, &what, keys)?;
                let names = match obj.get("names") {
                    None => Some(Vec::new()),
                    Some(n) => self.dns_names(n),
                };
                let error = obj.get("error").map(|n| {
                    match self.name(n, "`error`").as_deref() {
                        Some("nxdomain") => Some(DnsError::Nxdomain),
                        Some("servfail") => Some(DnsError::Servfail),
                        Some("timeout") => Some(DnsError::Timeout),
                        Some(other) => {
                            self.error_hint(
                                n.pos,
                                format!("unknown DNS error `{other}`"),
                                "use `nxdomain` (no such name), `servfail` (the server failed) or `timeout` (no answer)",
                            );
                            None
                        }
                        None => None,
                    }
                });
                let delay = obj.get("delay").map(|n| self.duration(n, "`delay`"));
                match (obj.key("error"), obj.key("delay")) {
                    (None, None) => {
                        self.error_hint(
                            obj.pos,
                            format!("{what} says nothing about what the lookups get"),
                            "add `error: nxdomain` (or `servfail`, `timeout`) or `delay: 2s`",
                        );
                        return None;
                    }
                    (Some(_), Some(second)) => {
                        self.error_hint(
                            second.pos,
                            format!("{what} takes one of `error` and `delay`, not both"),
                            "a lookup fails or comes late: keep one (write two scenarios for both)",
                        );
                        return None;
                    }
                    _ => {}
                }
                let percent = obj
                    .get("percent")
                    .map(|n| self.positive_percent(n, "`percent`"))
                    .unwrap_or(Some(Percent(100.0)));
                let shared = self.shared_namespace(&obj);
                Some(Fault::Dns(DnsFault {
                    target,
                    shared: shared?,
                    names: names?,
                    error: optional(error)?,
                    delay: optional(delay)?,
                    percent: percent?,
                }))
            }
            FaultKind::HttpFault => {
                let (target, obj) = self.target(body, &what, keys)?;
                let port = self
                    .require(&obj, "port", &what, "8080")
                    .and_then(|n| self.port(n, "`port`"));
                let client = match obj.get("side") {
                    None => Some(false),
                    Some(side) => match self.name(side, "`side`").as_deref() {
                        Some("server") => Some(false),
                        Some("client") => Some(true),
                        Some(other) => {
                            self.error_hint(
                                side.pos,
                                format!("unknown side `{other}`"),
                                "use `server` (the requests arriving at the container's `port`) or `client` (the requests it makes to `port` of the `to` services)",
                            );
                            None
                        }
                        None => None,
                    },
                };
                let to = self.peers_opt(&obj, "to");
                match (client, obj.key("to")) {
                    (Some(true), None) => {
                        self.error_hint(
                            obj.get("side").map(|n| n.pos).unwrap_or(obj.pos),
                            "`side: client` says whose requests, but not to whom",
                            "add `to: [pricing]`: the services whose answers the container gets wrong",
                        );
                        return None;
                    }
                    (Some(false), Some(key)) => {
                        self.error_hint(
                            key.pos,
                            "`to` goes with `side: client`",
                            "add `side: client` (the requests the container makes to these services), or remove `to`",
                        );
                        return None;
                    }
                    _ => {}
                }
                client?;
                let matcher = obj
                    .get("match")
                    .map(|n| self.http_match(n))
                    .unwrap_or(Some(HttpMatch::default()));
                let percent = obj
                    .get("percent")
                    .map(|n| self.positive_percent(n, "`percent`"))
                    .unwrap_or(Some(Percent(100.0)));
                let action = self.http_action(&obj, &what);
                let shared = self.shared_namespace(&obj);
                let mut fault = HttpFault::new(target, port?, to?, matcher?, percent?, action?);
                fault.shared = shared?;
                Some(Fault::HttpFault(fault))
            }
            FaultKind::Delay => {
                let (target, obj) = self.target(body, &what, keys)?;
                let latency = self
                    .require(&obj, "latency", &what, "200ms")
                    .and_then(|n| self.duration(n, "`latency`"));
                let jitter = obj.get("jitter").map(|n| self.duration(n, "`jitter`"));
                let correlation = obj
                    .get("correlation")
                    .map(|n| self.percent(n, "`correlation`"));
                let to = self.peers_opt(&obj, "to");
                let engine = self.engine(&obj);
                let shared = self.shared_namespace(&obj);
                Some(Fault::Delay(DelayFault {
                    target,
                    shared: shared?,
                    latency: latency?,
                    jitter: optional(jitter)?,
                    correlation: optional(correlation)?,
                    to: to?,
                    engine: engine?,
                }))
            }
            FaultKind::Loss => {
                let (target, obj) = self.target(body, &what, keys)?;
                let percent = self
                    .require(&obj, "percent", &what, "10%")
                    .and_then(|n| self.positive_percent(n, "`percent`"));
                let correlation = obj
                    .get("correlation")
                    .map(|n| self.percent(n, "`correlation`"));
                let to = self.peers_opt(&obj, "to");
                let engine = self.engine(&obj);
                let shared = self.shared_namespace(&obj);
                Some(Fault::Loss(LossFault {
                    target,
                    shared: shared?,
                    percent: percent?,
                    correlation: optional(correlation)?,
                    to: to?,
                    engine: engine?,
                }))
            }
            FaultKind::Duplicate | FaultKind::Corrupt => {
                let (target, obj) = self.target(body, &what, keys)?;
                let percent = self
                    .require(&obj, "percent", &what, "5%")
                    .and_then(|n| self.positive_percent(n, "`percent`"));
                let to = self.peers_opt(&obj, "to");
                let engine = self.engine(&obj);
                let shared = self.shared_namespace(&obj);
                let fault = PacketShareFault {
                    target,
                    shared: shared?,
                    percent: percent?,
                    to: to?,
                    engine: engine?,
                };
                Some(if kind == FaultKind::Duplicate {
                    Fault::Duplicate(fault)
                } else {
                    Fault::Corrupt(fault)
                })
            }
            FaultKind::Bandwidth => {
                let (target, obj) = self.target(body, &what, keys)?;
                let rate = self.require(&obj, "rate", &what, "1mbit").and_then(|n| {
                    let text = self.name(n, "`rate`")?;
                    match text.parse::<crate::gameday::units::Rate>() {
                        Ok(r) => Some(r),
                        Err(e) => {
                            self.error_hint(n.pos, e, "write e.g. `rate: 1mbit`");
                            None
                        }
                    }
                });
                let shared = self.shared_namespace(&obj);
                Some(Fault::Bandwidth(BandwidthFault {
                    target,
                    shared: shared?,
                    rate: rate?,
                }))
            }
            FaultKind::Partition => {
                let (target, obj) = self.target(body, &what, keys)?;
                let from = self
                    .require(&obj, "from", &what, "[store]")
                    .and_then(|n| self.peers(n));
                let shared = self.shared_namespace(&obj);
                let from = from?;
                if from.is_empty() {
                    self.error_hint(
                        obj.key("from")?.pos,
                        "`from` is empty",
                        "name the services to cut off, e.g. `from: [store]`",
                    );
                    return None;
                }
                if let Selector::Service(own) = &target.selector
                    && let Some(p) = from.iter().find(|p| &p.service == own)
                {
                    self.error_hint(
                        p.pos,
                        format!("a service cannot be partitioned from itself (`{own}`)"),
                        "name the other side of the partition",
                    );
                    return None;
                }
                Some(Fault::Partition(PartitionFault {
                    target,
                    shared: shared?,
                    from,
                }))
            }
            FaultKind::Disconnect => {
                let (target, obj) = self.target(body, &what, keys)?;
                let network = self
                    .require(&obj, "network", &what, "default")
                    .and_then(|n| self.name(n, "`network`"));
                let shared = self.shared_namespace(&obj);
                Some(Fault::Disconnect(DisconnectFault {
                    target,
                    shared: shared?,
                    network: network?,
                }))
            }
        }
    }

    /// A list of service names (or one name).
    pub(super) fn peers(&mut self, node: &Node) -> Option<Vec<Peer>> {
        let one = |d: &mut Self, n: &Node| {
            d.name(n, "a service name").map(|service| Peer {
                service,
                pos: n.pos,
            })
        };
        match &node.value {
            Value::Seq(items) => items
                .iter()
                .map(|n| one(self, n))
                .collect::<Vec<_>>()
                .into_iter()
                .collect(),
            Value::Str(_) => one(self, node).map(|p| vec![p]),
            other => {
                self.error_hint(
                    node.pos,
                    format!("expected a list of services, found {}", other.kind()),
                    "write e.g. `[store, cache]`",
                );
                None
            }
        }
    }

    pub(super) fn peers_opt(&mut self, obj: &Obj<'_>, key: &str) -> Option<Vec<Peer>> {
        match obj.get(key) {
            None => Some(Vec::new()),
            Some(n) => self.peers(n),
        }
    }

    pub(super) fn engine(&mut self, obj: &Obj<'_>) -> Option<NetEngine> {
        match obj.get("engine") {
            None => Some(NetEngine::Auto),
            Some(n) => match self.name(n, "`engine`").as_deref() {
                Some("auto") => Some(NetEngine::Auto),
                Some("netem") => Some(NetEngine::Netem),
                Some("userspace") => Some(NetEngine::Userspace),
                Some(other) => {
                    self.error_hint(
                        n.pos,
                        format!("unknown engine `{other}`"),
                        "use `auto` (netem where the kernel has it, else userspace), `netem` or `userspace`",
                    );
                    None
                }
                None => None,
            },
        }
    }
}
