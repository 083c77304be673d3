//! The network faults' decoders (`delay`, `loss`, `duplicate`, `corrupt`,
//! `bandwidth`, `partition`, `disconnect`), picked by
//! [`Decoder::fault`](super::faults), and what they share with the HTTP
//! and DNS faults: `to`/`from` services, `include_shared_namespace`.

use super::faults::SHARED_NAMESPACE;
use super::*;

impl Decoder<'_> {
    /// `delay`: the latency, its jitter and correlation, toward whom.
    pub(super) fn delay(&mut self, target: Target, obj: &Obj<'_>, what: &str) -> Option<Fault> {
        let latency = self
            .require(obj, "latency", what, "200ms")
            .and_then(|n| self.duration(n, "`latency`"));
        let jitter = obj.get("jitter").map(|n| self.duration(n, "`jitter`"));
        let correlation = obj
            .get("correlation")
            .map(|n| self.percent(n, "`correlation`"));
        let to = self.peers_opt(obj, "to");
        let engine = self.engine(obj);
        let shared = self.shared_namespace(obj);
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

    /// `loss`: how many, correlated how, toward whom.
    pub(super) fn loss(&mut self, target: Target, obj: &Obj<'_>, what: &str) -> Option<Fault> {
        let percent = self
            .require(obj, "percent", what, "10%")
            .and_then(|n| self.positive_percent(n, "`percent`"));
        let correlation = obj
            .get("correlation")
            .map(|n| self.percent(n, "`correlation`"));
        let to = self.peers_opt(obj, "to");
        let engine = self.engine(obj);
        let shared = self.shared_namespace(obj);
        Some(Fault::Loss(LossFault {
            target,
            shared: shared?,
            percent: percent?,
            correlation: optional(correlation)?,
            to: to?,
            engine: engine?,
        }))
    }

    /// `duplicate` and `corrupt`: how many, toward whom.
    pub(super) fn packet_share(
        &mut self,
        target: Target,
        obj: &Obj<'_>,
        what: &str,
    ) -> Option<PacketShareFault> {
        let percent = self
            .require(obj, "percent", what, "5%")
            .and_then(|n| self.positive_percent(n, "`percent`"));
        let to = self.peers_opt(obj, "to");
        let engine = self.engine(obj);
        let shared = self.shared_namespace(obj);
        let fault = PacketShareFault {
            target,
            shared: shared?,
            percent: percent?,
            to: to?,
            engine: engine?,
        };
        Some(fault)
    }

    /// `bandwidth`: the rate.
    pub(super) fn bandwidth(&mut self, target: Target, obj: &Obj<'_>, what: &str) -> Option<Fault> {
        let rate = self.require(obj, "rate", what, "1mbit").and_then(|n| {
            let text = self.name(n, "`rate`")?;
            match text.parse::<crate::gameday::units::Rate>() {
                Ok(r) => Some(r),
                Err(e) => {
                    self.error_hint(n.pos, e, "write e.g. `rate: 1mbit`");
                    None
                }
            }
        });
        let shared = self.shared_namespace(obj);
        Some(Fault::Bandwidth(BandwidthFault {
            target,
            shared: shared?,
            rate: rate?,
        }))
    }

    /// `partition`: the services cut off, never its own.
    pub(super) fn partition(&mut self, target: Target, obj: &Obj<'_>, what: &str) -> Option<Fault> {
        let from = self
            .require(obj, "from", what, "[store]")
            .and_then(|n| self.peers(n));
        let shared = self.shared_namespace(obj);
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

    /// `disconnect`: the network.
    pub(super) fn disconnect(
        &mut self,
        target: Target,
        obj: &Obj<'_>,
        what: &str,
    ) -> Option<Fault> {
        let network = self
            .require(obj, "network", what, "default")
            .and_then(|n| self.name(n, "`network`"));
        let shared = self.shared_namespace(obj);
        Some(Fault::Disconnect(DisconnectFault {
            target,
            shared: shared?,
            network: network?,
        }))
    }

    /// `include_shared_namespace: true` (default false): a fault on the
    /// target's network namespace may reach the containers outside the
    /// scope that share it.
    pub(super) fn shared_namespace(&mut self, obj: &Obj<'_>) -> Option<SharedNamespace> {
        let include = match obj.get(SHARED_NAMESPACE) {
            None => false,
            Some(n) => self.boolean(n, "`include_shared_namespace`")?,
        };
        Some(SharedNamespace {
            include_shared_namespace: include,
        })
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
