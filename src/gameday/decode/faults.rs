//! Faults (`fault:`, `faults:`, `- fault:` steps): one decoder per kind,
//! picked from [`FaultKind`] by an exhaustive `match`, each kind's keys
//! beside it in [`fault_keys`].

use super::*;
use crate::gameday::units::parse_signal;

const DELAY_KEYS: &[&str] = &["latency", "jitter", "correlation", "to", "engine"];
const LOSS_KEYS: &[&str] = &["percent", "correlation", "to", "engine"];
const SHARE_KEYS: &[&str] = &["percent", "to", "engine"];
const BANDWIDTH_KEYS: &[&str] = &["rate"];
const PARTITION_KEYS: &[&str] = &["from"];
const DISCONNECT_KEYS: &[&str] = &["network"];
const KILL_KEYS: &[&str] = &["signal", "restore"];
const STOP_KEYS: &[&str] = &["timeout", "restore"];
const RESTART_KEYS: &[&str] = &["timeout"];

const PAUSE_KEYS: &[&str] = &[];
const PROCESS_KEYS: &[&str] = &["match", "signal", "pid1"];

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
    }
}

impl Decoder<'_> {
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
                Some(Fault::Delay(DelayFault {
                    target,
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
                Some(Fault::Loss(LossFault {
                    target,
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
                let fault = PacketShareFault {
                    target,
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
                Some(Fault::Bandwidth(BandwidthFault {
                    target,
                    rate: rate?,
                }))
            }
            FaultKind::Partition => {
                let (target, obj) = self.target(body, &what, keys)?;
                let from = self
                    .require(&obj, "from", &what, "[store]")
                    .and_then(|n| self.peers(n));
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
                Some(Fault::Partition(PartitionFault { target, from }))
            }
            FaultKind::Disconnect => {
                let (target, obj) = self.target(body, &what, keys)?;
                let network = self
                    .require(&obj, "network", &what, "default")
                    .and_then(|n| self.name(n, "`network`"));
                Some(Fault::Disconnect(DisconnectFault {
                    target,
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
