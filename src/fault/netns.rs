//! Reaching a container's network namespace from the Docker host: run the
//! host's `tc` and `iptables` with the process switched (setns, in a
//! pre-exec hook) into the namespace of the container's first process.
//! Also what the kernel can do: whether it has `sch_netem`.

use std::os::unix::process::CommandExt;
use std::process::Command;

#[derive(Debug, thiserror::Error)]
pub(crate) enum NetnsError {
    #[error("cannot run {program}: {source}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{command}` failed in the container's network namespace: {stderr}")]
    Failed { command: String, stderr: String },
}

/// Run `program args` inside the network namespace of process `pid`.
pub(crate) fn run(pid: i64, program: &str, args: &[&str]) -> Result<String, NetnsError> {
    use std::os::fd::AsRawFd;
    let ns_path = format!("/proc/{pid}/ns/net");
    // Opened before the fork: the child only calls setns(2) on the descriptor.
    let ns = std::fs::File::open(&ns_path).map_err(|source| NetnsError::Spawn {
        program: ns_path.clone(),
        source,
    })?;
    let fd = ns.as_raw_fd();
    let mut command = Command::new(program);
    command.args(args);
    // SAFETY: between fork and exec only setns(2), which is async-signal-safe.
    unsafe {
        command.pre_exec(move || {
            if libc::setns(fd, libc::CLONE_NEWNET) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    let output = command.output().map_err(|source| NetnsError::Spawn {
        program: program.to_string(),
        source,
    })?;
    drop(ns);
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(NetnsError::Failed {
            command: format!("{program} {}", args.join(" ")),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        })
    }
}

/// Does this kernel have the netem queueing discipline?
pub fn kernel_has_netem() -> bool {
    if std::path::Path::new("/sys/module/sch_netem").exists() {
        return true;
    }
    let config = Command::new("sh")
        .args([
            "-c",
            "zcat /proc/config.gz 2>/dev/null || cat /boot/config-$(uname -r) 2>/dev/null",
        ])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    if config.lines().any(|l| l.trim() == "CONFIG_NET_SCH_NETEM=y") {
        return true;
    }
    // Built as a module: present only if it can be loaded.
    config.lines().any(|l| l.trim() == "CONFIG_NET_SCH_NETEM=m")
        && Command::new("modprobe")
            .arg("sch_netem")
            .status()
            .is_ok_and(|s| s.success())
}

/// The message for a kernel without netem.
pub(crate) fn netem_missing() -> String {
    "the kernel has no `sch_netem` (CONFIG_NET_SCH_NETEM is not set), so `tc qdisc ... netem` cannot take effect here; \
     use `engine: userspace` (or `auto`), which works on any kernel with NFQUEUE"
        .to_string()
}

/// Where network commands run: in the container's namespace entered from
/// this host, or in a helper container sharing it (remote engines).
pub(crate) trait NetExec: Send {
    /// Run `program args` in the namespace; its stdout, or why it failed.
    fn run(&mut self, program: &str, args: &[&str]) -> Result<String, String>;
    /// Start serving NFQUEUE `queue` with `plan`, in the namespace; it stops
    /// by itself after `max_lifetime` at the latest.
    fn start_packet_server(
        &mut self,
        queue: u16,
        plan: super::nfqueue::PacketPlan,
        max_lifetime: std::time::Duration,
    ) -> Result<super::nfqueue::PacketServer, String>;
    /// Delete the conntrack entries `redirects` made in the namespace;
    /// how many.
    fn forget_redirected(
        &mut self,
        redirects: &[super::conntrack::Redirect],
    ) -> Result<usize, String>;
}

/// Enter the namespace of a process of this host (setns), as root.
pub(crate) struct HostExec {
    pub pid: i64,
}

impl NetExec for HostExec {
    fn run(&mut self, program: &str, args: &[&str]) -> Result<String, String> {
        run(self.pid, program, args).map_err(|e| e.to_string())
    }

    fn start_packet_server(
        &mut self,
        queue: u16,
        plan: super::nfqueue::PacketPlan,
        _max_lifetime: std::time::Duration,
    ) -> Result<super::nfqueue::PacketServer, String> {
        // In process: it dies with the runner, and the queue fails open.
        super::nfqueue::Worker::start(Some(self.pid), queue, plan)
            .map(super::nfqueue::PacketServer::InProcess)
            .map_err(|e| format!("cannot start the packet queue: {e}"))
    }

    fn forget_redirected(
        &mut self,
        redirects: &[super::conntrack::Redirect],
    ) -> Result<usize, String> {
        super::conntrack::forget_in(self.pid, redirects)
    }
}

/// The network interfaces of the namespace, without loopback.
pub(crate) fn interfaces_via(exec: &mut dyn NetExec) -> Result<Vec<String>, String> {
    let out = exec.run("ip", &["-o", "link", "show"])?;
    Ok(out
        .lines()
        .filter_map(|l| l.split(':').nth(1))
        .map(|name| name.trim().split('@').next().unwrap_or("").to_string())
        .filter(|n| !n.is_empty() && n != "lo")
        .collect())
}

/// Whether host process `pid` belongs to container `container_id` (its
/// cgroup names the container), as it does when the engine runs on this
/// host.
pub(crate) fn pid_is_container(pid: i64, container_id: &str) -> bool {
    !container_id.is_empty()
        && std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
            .is_ok_and(|cgroup| cgroup.contains(container_id))
}
