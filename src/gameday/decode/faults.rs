//! Faults (`fault:`, `faults:`, `- fault:` steps): one decoder per kind,
//! picked from [`FaultKind`] by an exhaustive `match`, each kind's keys
//! beside it in [`fault_keys`].

use super::*;
use crate::gameday::units::{ByteSize, Percent, parse_signal};

/// The key of every kind that acts on the target's network namespace:
/// whether it may reach containers outside the scope sharing it.
pub(super) const SHARED_NAMESPACE: &str = "include_shared_namespace";
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
const DNS_KEYS: &[&str] = &["names", "error", "delay", "percent", SHARED_NAMESPACE];

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
        FaultKind::Deploy => super::deploy::DEPLOY_KEYS,
    }
}

impl Decoder<'_> {
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
        let (target, obj) = self.target(body, &what, fault_keys(kind))?;
        match kind {
            FaultKind::Kill => self.kill(target, &obj),
            FaultKind::Stop => self.stop(target, &obj),
            FaultKind::Restart => self.restart(target, &obj),
            FaultKind::Pause => Some(Fault::Pause(PauseFault { target })),
            FaultKind::Process => self.process(target, &obj, &what),
            FaultKind::CpuStress => self.cpu_stress(target, &obj),
            FaultKind::MemoryStress => self.memory_stress(target, &obj, &what),
            FaultKind::IoStress => self.io_stress(target, &obj, &what),
            FaultKind::DiskFill => self.disk_fill(target, &obj, &what),
            FaultKind::Script => self.script(target, &obj, &what),
            FaultKind::Dns => self.dns(target, &obj, &what),
            FaultKind::HttpFault => self.http_fault(target, &obj, &what),
            FaultKind::Delay => self.delay(target, &obj, &what),
            FaultKind::Loss => self.loss(target, &obj, &what),
            FaultKind::Duplicate => self.packet_share(target, &obj, &what).map(Fault::Duplicate),
            FaultKind::Corrupt => self.packet_share(target, &obj, &what).map(Fault::Corrupt),
            FaultKind::Bandwidth => self.bandwidth(target, &obj, &what),
            FaultKind::Partition => self.partition(target, &obj, &what),
            FaultKind::Disconnect => self.disconnect(target, &obj, &what),
            FaultKind::Deploy => self.deploy(target, &obj),
        }
    }

    /// `kill`: a signal (SIGKILL), and whether to start it again.
    fn kill(&mut self, target: Target, obj: &Obj<'_>) -> Option<Fault> {
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

    /// `stop`: a grace period (10s), and whether to start it again.
    fn stop(&mut self, target: Target, obj: &Obj<'_>) -> Option<Fault> {
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

    /// `restart`: a grace period (10s).
    fn restart(&mut self, target: Target, obj: &Obj<'_>) -> Option<Fault> {
        let timeout = obj
            .get("timeout")
            .map(|n| self.duration(n, "`timeout`"))
            .unwrap_or(Some(HumanDuration::from_secs(10)));
        Some(Fault::Restart(RestartFault {
            target,
            timeout: timeout?,
        }))
    }

    /// `process`: which processes (`match`), the signal, `pid1`.
    fn process(&mut self, target: Target, obj: &Obj<'_>, what: &str) -> Option<Fault> {
        let pattern = self
            .require(obj, "match", what, "worker")
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

    /// `cpu_stress`: workers (1) and each one's load (100%).
    fn cpu_stress(&mut self, target: Target, obj: &Obj<'_>) -> Option<Fault> {
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

    /// `memory_stress`: how much.
    fn memory_stress(&mut self, target: Target, obj: &Obj<'_>, what: &str) -> Option<Fault> {
        let size = self
            .require(obj, "size", what, "200MiB")
            .and_then(|n| self.byte_size(n, "`size`"));
        Some(Fault::MemoryStress(MemoryStressFault {
            target,
            size: size?,
        }))
    }

    /// `io_stress`: where, how many writers, each one's file size.
    fn io_stress(&mut self, target: Target, obj: &Obj<'_>, what: &str) -> Option<Fault> {
        let path = self
            .require(obj, "path", what, "/data")
            .and_then(|n| self.container_path(n, "`path`"));
        let workers = obj
            .get("workers")
            .map(|n| self.count(n, "`workers`", 64))
            .unwrap_or(Some(1));
        let size = obj
            .get("size")
            .map(|n| self.byte_size(n, "`size`"))
            .unwrap_or(Some(ByteSize(64.0 * 1024.0 * 1024.0)));
        let shared = self.shared_filesystem(obj);
        Some(Fault::IoStress(IoStressFault {
            target,
            path: path?,
            workers: workers?,
            size: size?,
            shared_filesystem: shared?,
        }))
    }

    /// `disk_fill`: where, and one of `fill` (how full) and `size` (how much).
    fn disk_fill(&mut self, target: Target, obj: &Obj<'_>, what: &str) -> Option<Fault> {
        let path = self
            .require(obj, "path", what, "/data")
            .and_then(|n| self.container_path(n, "`path`"));
        let fill = obj.get("fill").map(|n| self.positive_percent(n, "`fill`"));
        let size = obj.get("size").map(|n| self.byte_size(n, "`size`"));
        let shared = self.shared_filesystem(obj);
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

    /// `script`: the `apply` and `revert` commands, where, their timeout.
    fn script(&mut self, target: Target, obj: &Obj<'_>, what: &str) -> Option<Fault> {
        let apply = self
            .require(obj, "apply", what, "[sh, -c, \"...\"]")
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
}
