//! The `dns` fault through the real binary against real containers,
//! measured as the target's own lookups see them: `gameday-demo resolve
//! NAME` run inside the target (`docker exec`), as its services resolve
//! their peers through Docker's embedded resolver. A listed name fails
//! as asked (NXDOMAIN, SERVFAIL) or comes late, a name not listed still
//! resolves, and every name resolves again after the revert and after a
//! runner killed alone (the proxy takes its redirect away: fail-open).

mod common;

use std::time::Duration;

use common::*;

/// `gameday-demo resolve NAME` inside container `id`: Ok(address) or
/// Err(why), and how long the lookup took as the container measured it.
fn resolve(id: &str, name: &str) -> (Result<String, String>, Duration) {
    let out = std::process::Command::new("docker")
        .args(["exec", id, "/gameday-demo", "resolve", name])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let (said, ms) = text
        .rsplit_once(" in ")
        .unwrap_or_else(|| panic!("unexpected answer: {text:?}"));
    let ms: u64 = ms.trim_end_matches(" ms").parse().unwrap();
    let took = Duration::from_millis(ms);
    match said.strip_prefix("resolved ") {
        Some(addr) => (Ok(addr.to_string()), took),
        None => (Err(said.trim_start_matches("failed: ").to_string()), took),
    }
}

/// `gameday-demo resolve-tcp NAME` inside container `id`: the answer's
/// RCODE and number of answers (a lookup over TCP).
fn resolve_tcp(id: &str, name: &str) -> (u8, u16) {
    let out = std::process::Command::new("docker")
        .args(["exec", id, "/gameday-demo", "resolve-tcp", name])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let field = |key: &str| {
        text.split_whitespace()
            .find_map(|w| w.strip_prefix(key))
            .and_then(|v| v.parse::<u16>().ok())
            .unwrap_or_else(|| panic!("unexpected answer: {text:?}"))
    };
    (field("rcode=") as u8, field("answers="))
}

fn dns_gameday(project: &str, fault: &str, duration: &str) -> String {
    dns_gameday_with(project, "", fault, duration)
}

fn dns_gameday_with(project: &str, docker: &str, fault: &str, duration: &str) -> String {
    one_fault_gameday(
        project,
        docker,
        &format!("dns: {{ service: api, {fault} }}"),
        duration,
    )
}

/// Three services on one network; the api's lookups are the target.
fn stack(prefix: &str) -> (Project, Container) {
    let project = Project::new(prefix);
    project.service_opts("store", &[], &["store", "--listen", "0.0.0.0:7000"], None);
    project.service_opts(
        "pricing",
        &[],
        &["pricing", "--listen", "0.0.0.0:9000"],
        None,
    );
    let api = project.service_opts(
        "api",
        &[],
        &["api", "--listen", "0.0.0.0:8080", "--store", "store:7000"],
        None,
    );
    wait_for("the api to resolve store", Duration::from_secs(10), || {
        resolve(&api.id, "store").0.is_ok()
    });
    (project, api)
}

/// NXDOMAIN for the listed name only, then SERVFAIL; both gone after the
/// revert, and the result counts the lookups.
#[test]
fn a_listed_name_fails_as_asked_and_the_others_resolve() {
    let (_project, api) = stack("dnsfail");
    let (_g, file) = gameday_file(&dns_gameday(
        &_project.name,
        "names: [store], error: nxdomain",
        "10s",
    ));
    let out = tempfile::tempdir().unwrap();
    let child = spawn_run(&file, out.path());
    wait_until("store to stop resolving", Duration::from_secs(20), || {
        resolve(&api.id, "store").0.is_err()
    });
    let (failed, took) = resolve(&api.id, "store");
    let why = failed.unwrap_err();
    assert!(
        why.to_ascii_lowercase().contains("not known") || why.contains("NXDOMAIN"),
        "NXDOMAIN reads as an unknown name: {why}"
    );
    assert!(took < Duration::from_millis(500), "and fast: {took:?}");
    assert!(
        resolve(&api.id, "pricing").0.is_ok(),
        "pricing still resolves"
    );
    // Over TCP too: NXDOMAIN (3) for store, an answer for pricing.
    assert_eq!(resolve_tcp(&api.id, "store"), (3, 0));
    let (rcode, answers) = resolve_tcp(&api.id, "pricing");
    assert!(
        rcode == 0 && answers >= 1,
        "pricing over TCP: {rcode} {answers}"
    );
    assert_eq!(nat_redirects(&api.id).len(), 2, "UDP and TCP");
    assert_exit(&finish(child, Duration::from_secs(60)), 0);
    assert!(resolve(&api.id, "store").0.is_ok(), "store resolves again");
    let (rcode, answers) = resolve_tcp(&api.id, "store");
    assert!(
        rcode == 0 && answers >= 1,
        "store over TCP again: {rcode} {answers}"
    );
    assert_eq!(nat_redirects(&api.id), Vec::<String>::new());
    let result = result_json(&run_dir(out.path()));
    let detail = result["scenarios"][0]["faults"][0]["detail"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        detail.contains("lookups seen") && detail.contains("affected"),
        "{detail}"
    );

    let (_g2, file2) = gameday_file(&dns_gameday(
        &_project.name,
        r#"names: ["st*"], error: servfail"#,
        "8s",
    ));
    let out2 = tempfile::tempdir().unwrap();
    let child = spawn_run(&file2, out2.path());
    wait_until("store to stop resolving", Duration::from_secs(20), || {
        resolve(&api.id, "store").0.is_err()
    });
    let why = resolve(&api.id, "store").0.unwrap_err();
    assert!(
        why.to_ascii_lowercase().contains("temporary failure"),
        "SERVFAIL reads as a temporary failure: {why}"
    );
    assert!(resolve(&api.id, "pricing").0.is_ok());
    assert_exit(&finish(child, Duration::from_secs(60)), 0);
    assert!(resolve(&api.id, "store").0.is_ok());
}

/// A delay adds its time to the listed name's lookup (within 10%), not
/// to the others'; a runner killed alone leaves lookups working.
#[test]
fn a_delay_comes_late_and_a_dead_runner_fails_open() {
    let (project, api) = stack("dnsdelay");
    let before = resolve(&api.id, "pricing").1;
    let (_g, file) = gameday_file(&dns_gameday(
        &project.name,
        "names: [pricing], delay: 1s",
        "60s",
    ));
    let out = tempfile::tempdir().unwrap();
    let mut runner = spawn_run(&file, out.path());
    wait_until("pricing to come late", Duration::from_secs(20), || {
        resolve(&api.id, "pricing").1 >= Duration::from_millis(800)
    });
    let (found, took) = resolve(&api.id, "pricing");
    assert!(found.is_ok(), "late, not failed: {found:?}");
    let added = took.saturating_sub(before).as_millis();
    assert!(
        (900..=1100).contains(&added),
        "asked 1s, the lookup took {added} ms more ({took:?} vs {before:?})"
    );
    let (other, fast) = resolve(&api.id, "store");
    assert!(
        other.is_ok() && fast < Duration::from_millis(300),
        "{other:?} {fast:?}"
    );

    runner.kill().unwrap();
    runner.wait().unwrap();
    let open_after = wait_until("pricing to resolve at once", Duration::from_secs(5), || {
        resolve(&api.id, "pricing").1 < Duration::from_millis(300)
    });
    eprintln!("fail-open: lookups fast again {open_after:?} after the runner died");
    assert_eq!(nat_redirects(&api.id), Vec::<String>::new());
}

/// Through a helper container (what a remote engine gets; here the local
/// engine told `network_helper: helper`): the helper shares the target's
/// network namespace and its resolv.conf, answers the listed name, passes
/// the others, and is gone after the revert.
#[test]
fn a_dns_fault_through_a_helper_container_fails_the_listed_name_only() {
    ensure_nethelper_image();
    let (project, api) = stack("dnshelper");
    let _guard = HelperGuard(api.id.clone());
    let helper = format!(
        "docker: {{ network_helper: helper, helper_image: \"{}\" }}",
        nethelper_image()
    );
    let (_g, file) = gameday_file(&dns_gameday_with(
        &project.name,
        &helper,
        "names: [store], error: nxdomain",
        "8s",
    ));
    let out = tempfile::tempdir().unwrap();
    let child = spawn_run(&file, out.path());
    wait_until("store to stop resolving", Duration::from_secs(30), || {
        resolve(&api.id, "store").0.is_err()
    });
    assert!(
        resolve(&api.id, "pricing").0.is_ok(),
        "pricing still resolves"
    );
    assert_eq!(helpers_sharing(&api.id, "NetworkMode").len(), 1);
    assert_eq!(resolve_tcp(&api.id, "store"), (3, 0), "over TCP too");
    assert_exit(&finish(child, Duration::from_secs(60)), 0);
    assert!(resolve(&api.id, "store").0.is_ok(), "store resolves again");
    assert_eq!(nat_redirects(&api.id), Vec::<String>::new());
    assert_eq!(
        helpers_sharing(&api.id, "NetworkMode"),
        Vec::<String>::new()
    );
}

/// `service` of `project` started with its `/etc/resolv.conf` replaced, before
/// it starts, by a symlink to `link` (Docker then mounts its own resolv.conf
/// at `link` inside the container, where the link leads).
fn with_resolv_conf_link(project: &Project, service: &str, link: &str, args: &[&str]) -> Container {
    let name = format!("{}_{service}_1", project.name);
    let network = format!("{}_default", project.name);
    let labels = [
        format!("com.docker.compose.project={}", project.name),
        format!("com.docker.compose.service={service}"),
        "gameday.test=1".to_string(),
    ];
    let mut create = vec![
        "create",
        "--name",
        &name,
        "--network",
        &network,
        "--network-alias",
        service,
    ];
    for l in &labels {
        create.extend(["--label", l.as_str()]);
    }
    create.push(DEMO_IMAGE);
    create.extend(args);
    let id = docker(&create);
    let tree = tempfile::tempdir().unwrap();
    std::fs::create_dir(tree.path().join("etc")).unwrap();
    std::os::unix::fs::symlink(link, tree.path().join("etc/resolv.conf")).unwrap();
    let archive = tree.path().join("etc.tar");
    run(std::process::Command::new("tar")
        .arg("-cf")
        .arg(&archive)
        .arg("-C")
        .arg(tree.path())
        .arg("etc"));
    let archive = std::fs::File::open(archive).unwrap();
    let copied = std::process::Command::new("docker")
        .args(["cp", "-", &format!("{id}:/")])
        .stdin(archive)
        .output()
        .unwrap();
    assert!(
        copied.status.success(),
        "{}",
        String::from_utf8_lossy(&copied.stderr)
    );
    docker(&["start", &id]);
    Container {
        id,
        name,
        host_port: None,
    }
}

/// The DNS proxy reads the target's resolv.conf inside the container's
/// root. A target whose `/etc/resolv.conf` is an absolute symlink to a path
/// that also exists on this host (naming an unroutable nameserver there):
/// the proxy passes the other lookups to the container's own resolver, as
/// the container does, so they still resolve (read through /proc/PID/root,
/// the host's file was read and they timed out). Pointed at `/dev/zero`,
/// the fault is refused cleanly (a device is not read, and never for ever),
/// and lookups are answered throughout.
#[test]
fn the_resolv_conf_is_read_inside_the_container_never_through_a_link_to_this_host() {
    let project = Project::new("dnslink");
    project.service_opts("store", &[], &["store", "--listen", "0.0.0.0:7000"], None);
    project.service_opts(
        "pricing",
        &[],
        &["pricing", "--listen", "0.0.0.0:9000"],
        None,
    );
    let host_dir = tempfile::Builder::new()
        .prefix("gdt-dnslink-")
        .tempdir_in("/tmp")
        .unwrap();
    let host_file = host_dir.path().join("resolv.conf");
    // TEST-NET-1: nothing answers there.
    std::fs::write(&host_file, "nameserver 192.0.2.53\n").unwrap();
    let link = host_file.to_str().unwrap().to_string();
    let api = with_resolv_conf_link(
        &project,
        "api",
        &link,
        &["api", "--listen", "0.0.0.0:8080", "--store", "store:7000"],
    );
    wait_for("the api to resolve store", Duration::from_secs(10), || {
        resolve(&api.id, "store").0.is_ok()
    });
    let (_g, file) = gameday_file(&dns_gameday(
        &project.name,
        "names: [store], error: nxdomain",
        "8s",
    ));
    let out = tempfile::tempdir().unwrap();
    let child = spawn_run(&file, out.path());
    wait_until("store to stop resolving", Duration::from_secs(20), || {
        resolve(&api.id, "store").0.is_err()
    });
    let (pricing, took) = resolve(&api.id, "pricing");
    assert!(
        pricing.is_ok() && took < Duration::from_secs(1),
        "a name not listed goes to the container's own resolver: {pricing:?} in {took:?}"
    );
    let output = finish(child, Duration::from_secs(60));
    assert_exit(&output, 0);
    let said = text(&output);
    assert!(said.contains("passed to 127.0.0.11"), "{said}");
    assert!(
        !said.contains("192.0.2.53"),
        "the host's file was read: {said}"
    );

    // Now a link to /dev/zero: refused at once, nothing applied.
    let pid = docker(&["inspect", "-f", "{{.State.Pid}}", &api.id]);
    run(std::process::Command::new("ln").args([
        "-sfn",
        "/dev/zero",
        &format!("/proc/{}/root/etc/resolv.conf", pid.trim()),
    ]));
    let out2 = tempfile::tempdir().unwrap();
    let start = std::time::Instant::now();
    let output = finish(spawn_run(&file, out2.path()), Duration::from_secs(60));
    let said = text(&output);
    assert_ne!(output.status.code(), Some(0), "{said}");
    assert!(
        said.contains("/etc/resolv.conf is not a regular file"),
        "{said}"
    );
    eprintln!("refused after {:?}", start.elapsed());
    assert!(start.elapsed() < Duration::from_secs(30), "{said}");
    assert_eq!(nat_redirects(&api.id), Vec::<String>::new());
    // The container's own lookups need a resolv.conf again: nothing of the
    // refused fault is in their way.
    run(std::process::Command::new("ln").args([
        "-sfn",
        &link,
        &format!("/proc/{}/root/etc/resolv.conf", pid.trim()),
    ]));
    assert!(resolve(&api.id, "pricing").0.is_ok());
    assert!(resolve(&api.id, "store").0.is_ok());
}

/// A resolver asking from a fixed source port in `pid`'s network
/// namespace, from this host: a raw query for `name` to Docker's resolver
/// (127.0.0.11) every 100 ms for `seconds`, one line per query: the time
/// it was sent (Unix seconds) and `rcode=R answers=N`, `none` (no answer
/// within 250 ms) or `error` (refused).
fn fixed_port_resolver(pid: &str, port: u16, name: &str, seconds: u64) -> std::process::Child {
    let script = format!(
        r#"
import socket, struct, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", {port}))
s.settimeout(0.25)
end = time.time() + {seconds}
n = 0
while time.time() < end:
    n = (n + 1) & 0xffff
    q = struct.pack(">HHHHHH", n, 0x0100, 1, 0, 0, 0)
    for label in "{name}".split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\x00" + struct.pack(">HH", 1, 1)
    sent = time.time()
    try:
        s.sendto(q, ("127.0.0.11", 53))
        while True:
            a = s.recv(512)
            if struct.unpack(">H", a[:2])[0] == n:
                break
        said = "rcode=%d answers=%d" % (a[3] & 15, struct.unpack(">H", a[6:8])[0])
    except socket.timeout:
        said = "none"
    except OSError:
        said = "error"
    print("%.3f %s" % (sent, said), flush=True)
    time.sleep(0.1)
"#
    );
    std::process::Command::new("nsenter")
        .args(["-t", pid, "-n", "python3", "-c", &script])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// A resolver that asks from one fixed source port keeps one conntrack
/// flow: started during the fault, that flow is translated to the proxy's
/// port, and stays so for as long as it asks. The revert forgets the flows
/// its redirects translated, so the resolver gets real answers again
/// within a second of the redirect going (without it: no answer, ever).
#[test]
fn a_fixed_port_resolver_is_answered_again_within_a_second_of_the_revert() {
    let (project, api) = stack("dnsflow");
    let pid = docker(&["inspect", "-f", "{{.State.Pid}}", &api.id]);
    let pid = pid.trim().to_string();
    let (_g, file) = gameday_file(&dns_gameday(
        &project.name,
        "names: [store], error: nxdomain",
        "6s",
    ));
    let out = tempfile::tempdir().unwrap();
    let child = spawn_run(&file, out.path());
    wait_until("store to stop resolving", Duration::from_secs(20), || {
        resolve(&api.id, "store").0.is_err()
    });
    let resolver = fixed_port_resolver(&pid, 35353, "store", 14);
    wait_until("the redirect to go", Duration::from_secs(30), || {
        !redirected(&pid)
    });
    let gone = unix_now();
    assert_exit(&finish(child, Duration::from_secs(60)), 0);
    let first = answered_again_after(resolver, gone);
    eprintln!("the fixed-port resolver was answered again {first:.2}s after the redirect went");
}

/// The resolver's lines: all NXDOMAIN (its flow went to the proxy) or
/// nothing (to a dead proxy's port) until `gone`; real answers within a
/// second after, and from then on. How long after `gone` the first came.
fn answered_again_after(resolver: std::process::Child, gone: f64) -> f64 {
    let said = String::from_utf8_lossy(&resolver.wait_with_output().unwrap().stdout).into_owned();
    let answers: Vec<(f64, &str)> = said
        .lines()
        .filter_map(|l| {
            let (at, what) = l.split_once(' ')?;
            Some((at.parse().ok()?, what))
        })
        .collect();
    let real = |what: &str| what.starts_with("rcode=0") && !what.ends_with("answers=0");
    let during: Vec<&str> = answers
        .iter()
        .filter(|(at, _)| *at < gone - 0.3)
        .map(|(_, w)| *w)
        .collect();
    assert!(
        !during.is_empty() && during.iter().all(|w| !real(w)),
        "the fixed-port resolver's flow went to the proxy's port: {said}"
    );
    let first = answers
        .iter()
        .find(|(at, what)| *at >= gone && real(what))
        .map(|(at, _)| at - gone)
        .unwrap_or_else(|| panic!("never answered again after the revert: {said}"));
    assert!(first < 1.0, "{first:.2}s: {said}");
    assert!(
        answers
            .iter()
            .filter(|(at, _)| *at > gone + first + 0.01)
            .all(|(_, w)| real(w)),
        "and from then on: {said}"
    );
    first
}

/// `gameday dns-proxy` processes on this host serving container `id`.
fn dns_proxies(id: &str) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_string_lossy().parse::<i32>().ok())
        .filter(|pid| {
            let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let argv: Vec<&[u8]> = raw.split(|b| *b == 0).collect();
            argv.get(1) == Some(&&b"dns-proxy"[..])
                && argv
                    .windows(2)
                    .any(|w| w[0] == b"--container" && w[1] == id.as_bytes())
        })
        .collect()
}

/// A runner, its watchdog and its proxy killed together leave the
/// redirect to a dead port: a fixed-port resolver started then gets no
/// answer. `recover` removes the redirect and forgets the flows it
/// translated (read from the rule it removes), so that resolver is
/// answered again within a second.
#[test]
fn recover_forgets_the_flows_a_dead_proxys_redirect_translated() {
    recover_forgets_the_flows("dnsdead", None);
}

/// The same through helper containers (a remote engine): the proxy's
/// helper killed, `recover` forgets the flows from a helper
/// (`gameday conntrack-forget`).
#[test]
fn recover_forgets_the_flows_a_dead_proxys_redirect_translated_through_a_helper() {
    ensure_nethelper_image();
    recover_forgets_the_flows("dnsdeadhelper", Some(nethelper_image()));
}

fn recover_forgets_the_flows(prefix: &str, helper: Option<&str>) {
    let (project, api) = stack(prefix);
    let _guard = HelperGuard(api.id.clone());
    let pid = docker(&["inspect", "-f", "{{.State.Pid}}", &api.id]);
    let pid = pid.trim().to_string();
    let docker_line = helper
        .map(|image| format!("docker: {{ network_helper: helper, helper_image: \"{image}\" }}"))
        .unwrap_or_default();
    let (_g, file) = gameday_file(&dns_gameday_with(
        &project.name,
        &docker_line,
        "names: [store], error: nxdomain",
        "60s",
    ));
    let out = tempfile::tempdir().unwrap();
    kill_runner_once(&file, out.path(), || {
        let faulted = resolve(&api.id, "store").0.is_err();
        if faulted {
            for proxy in dns_proxies(&api.id) {
                // SAFETY: kill(2) on a process this test's run started.
                unsafe {
                    libc::kill(proxy, libc::SIGKILL);
                }
            }
        }
        faulted
    });
    wait_until("the proxy to die", Duration::from_secs(10), || {
        dns_proxies(&api.id).is_empty()
    });
    assert_eq!(nat_redirects(&api.id).len(), 2, "the redirects are left");
    let resolver = fixed_port_resolver(&pid, 35354, "store", 8);
    std::thread::sleep(Duration::from_secs(2));
    let recovered = {
        let out = out.path().to_path_buf();
        std::thread::spawn(move || gameday_recover(&out))
    };
    wait_until(
        "recover to remove the redirects",
        Duration::from_secs(60),
        || !redirected(&pid),
    );
    let gone = unix_now();
    assert_exit(&recovered.join().unwrap(), 0);
    let first = answered_again_after(resolver, gone);
    eprintln!(
        "the fixed-port resolver was answered again {first:.2}s after recover removed the redirect"
    );
}

/// Is there a gameday rule in `pid`'s nat table (read from this host)?
fn redirected(pid: &str) -> bool {
    std::process::Command::new("nsenter")
        .args(["-t", pid, "-n", "iptables", "-w", "5", "-t", "nat", "-S"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("gameday:"))
        .unwrap_or(true)
}
