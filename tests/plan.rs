//! `gameday plan` against the real Docker engine: targets resolve to the
//! containers of the scope, the schedule is printed, nothing is changed, and
//! a target that does not resolve is named with what exists in scope.

mod common;

use assert_cmd::Command;
use common::*;

fn gameday_text(project: &str, port: u16, store_service: &str) -> String {
    format!(
        r#"gameday: Plan test
scope: {{ compose_project: {project} }}
defaults: {{ baseline: 2s, cooldown: 3s }}
probes:
  health: {{ http: {{ url: "http://127.0.0.1:{port}/health", body_contains: ok }}, every: 200ms, timeout: 1s }}
  store-state: {{ container: {{ service: store }} }}
scenarios:
  - name: Store paused
    expected: login answers 503 fast
    fault: {{ pause: {{ service: {store_service} }} }}
    duration: 10s
    expect:
      - {{ probe: health, during: fault, success_rate: "<= 10%" }}
      - {{ probe: health, recovers_within: 5s }}
  - name: Two faults
    faults:
      - kill: {{ service: store, signal: SIGTERM }}
      - restart: {{ service: api, timeout: 1s }}
    duration: 1m
    cooldown: 10s
    halt_if:
      - {{ probe: health, failing_for: 30s }}
"#
    )
}

#[test]
fn plan_resolves_targets_and_prints_the_schedule() {
    if !docker_available() {
        return;
    }
    let project = Project::new("plan");
    let (store, api) = project.demo_stack();
    let port = api.host_port.unwrap();
    let (_dir, file) = gameday_file(&gameday_text(&project.name, port, "store"));
    let output = gameday_plan(&file);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // Nothing was changed.
    assert_eq!(store.state(), "running");
    assert_eq!(api.state(), "running");
    let normalised = stdout
        .replace(&project.name, "[project]")
        .replace(&file.display().to_string(), "[file]")
        .replace(&port.to_string(), "[port]")
        .replace(&store.id[..12], "[store-id]")
        .replace(&api.id[..12], "[api-id]");
    let normalised = regex_lite_replace_version(&normalised);
    insta::assert_snapshot!(normalised);
}

/// `gameday plan FILE`.
/// The Docker version line differs between machines.
fn regex_lite_replace_version(text: &str) -> String {
    text.lines()
        .map(|l| {
            if l.trim_start().starts_with("docker ") {
                "  docker       [engine]".to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn plan_fails_when_a_target_does_not_resolve() {
    if !docker_available() {
        return;
    }
    let project = Project::new("plan-miss");
    let _stack = project.demo_stack();
    let (_dir, file) = gameday_file(&gameday_text(&project.name, 1, "stor"));
    let output = gameday_plan(&file);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(":10:23: service `stor` not found in compose project"),
        "{stderr}"
    );
    assert!(
        stderr.contains("did you mean `store`? in scope: api, store"),
        "{stderr}"
    );
}

#[test]
fn plan_never_reaches_outside_the_scope() {
    if !docker_available() {
        return;
    }
    // `store` exists, but in another project: it must not be a target.
    let other = Project::new("plan-other");
    let _store = other.service("store", &["store", "--listen", "0.0.0.0:7000"], None);
    let mine = Project::new("plan-mine");
    let _api = mine.service(
        "api",
        &["api", "--listen", "0.0.0.0:8080", "--store", "store:7000"],
        None,
    );
    let (_dir, file) = gameday_file(&gameday_text(&mine.name, 1, "store"));
    let output = gameday_plan(&file);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("service `store` not found"), "{stderr}");
    assert!(stderr.contains("exists outside scope"), "{stderr}");
}

#[test]
fn plan_says_how_each_network_fault_will_be_made() {
    if !docker_available() {
        return;
    }
    let project = Project::new("plan-net");
    let (_store, _api) = project.demo_stack();
    let text = format!(
        r#"gameday: Network plan
scope: {{ compose_project: {} }}
scenarios:
  - name: slow and cut
    faults:
      - delay: {{ service: store, latency: 200ms, jitter: 20ms, to: [api] }}
      - loss: {{ service: store, percent: 10% }}
      - bandwidth: {{ service: store, rate: 1mbit }}
      - partition: {{ service: api, from: [store] }}
      - duplicate: {{ service: store, percent: 1%, engine: netem }}
    duration: 10s
"#,
        project.name
    );
    let (_dir, file) = gameday_file(&text);
    let output = gameday_plan(&file);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("delay packets from") && stdout.contains("by 200ms ± 20ms toward api"),
        "{stdout}"
    );
    assert!(
        stdout.contains("limit") && stdout.contains("to 1mbit outgoing"),
        "{stdout}"
    );
    assert!(stdout.contains("with tc tbf"), "{stdout}");
    assert!(stdout.contains("with iptables DROP rules"), "{stdout}");
    if gameday::testing::fault::netns::kernel_has_netem() {
        assert!(stdout.matches("with tc netem").count() >= 3, "{stdout}");
    } else {
        assert!(
            stdout.contains("with userspace NFQUEUE engine (this kernel has no sch_netem)"),
            "{stdout}"
        );
        assert!(
            stdout.contains("with iptables statistic (this kernel has no sch_netem)"),
            "{stdout}"
        );
        // Which way the namespace is reached, and why.
        assert!(
            stdout.contains("entered from this host (local engine, running as root)"),
            "{stdout}"
        );
        assert!(
            stdout.contains("WILL FAIL: the kernel has no `sch_netem`"),
            "{stdout}"
        );
    }
}

/// A missing helper image is one the run installs (the plan says so, with
/// its size, and warns of nothing); an image at the tag that is not
/// gameday's is never overwritten: the run is refused before anything.
#[test]
fn a_missing_helper_image_will_be_installed_and_a_foreign_one_refuses_the_run() {
    if !docker_available() {
        return;
    }
    let project = Project::new("plan-helper");
    let (store, _api) = project.demo_stack();
    let missing = format!("gameday-nethelper:gdt-none-{}", std::process::id());
    let text = format!(
        "gameday: helper\ndocker: {{ network_helper: helper, helper_image: \"{missing}\" }}\nscope: {{ compose_project: {} }}\nscenarios:\n  - {{ name: s, fault: {{ delay: {{ service: store, latency: 100ms }} }}, duration: 1s }}\n",
        project.name
    );
    let (_dir, file) = gameday_file(&text);
    let planned = gameday_plan(&file);
    let stdout = String::from_utf8_lossy(&planned.stdout);
    assert!(
        stdout.contains(&format!("through a helper container ({missing}) sharing the container's network namespace (network_helper: helper)")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "HELPER: the helper image `{missing}` will be installed on engine `default` (unix:///var/run/docker.sock) before anything is applied ("
        )) && stdout.contains(" MB): there it is missing"),
        "{stdout}"
    );
    assert!(!stdout.contains("WARNING"), "{stdout}");

    // Under another name, a run never installs it by itself.
    let other = text.replace(&missing, "gameday-test-no-such-image:none");
    let (_dir, file) = gameday_file(&other);
    let planned = gameday_plan(&file);
    let stdout = String::from_utf8_lossy(&planned.stdout);
    assert!(
        stdout.contains(
            "WARNING: the helper image `gameday-test-no-such-image:none` on engine `default`"
        ) && stdout.contains("a run installs one only under `gameday-nethelper`"),
        "{stdout}"
    );

    let foreign = text.replace(&missing, DEMO_IMAGE);
    let (_dir, file) = gameday_file(&foreign);
    let planned = gameday_plan(&file);
    let stdout = String::from_utf8_lossy(&planned.stdout);
    assert!(
        stdout.contains(&format!(
            "WARNING: `{DEMO_IMAGE}` on engine `default` (unix:///var/run/docker.sock) is not gameday's helper image"
        )),
        "{stdout}"
    );
    let out = tempfile::tempdir().unwrap();
    let run = Command::cargo_bin("gameday")
        .unwrap()
        .args(["run", "--no-progress", "--out"])
        .arg(out.path())
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("gameday never overwrites it"), "{stderr}");
    assert_eq!(
        std::fs::read_dir(out.path()).unwrap().count(),
        0,
        "a run started"
    );
    assert_eq!(store.state(), "running");
}

/// How an HTTP fault and a stress fault will be made, from this host and
/// through helper containers (what a remote engine gets), in the plan's
/// own words.
#[test]
fn plan_says_how_http_and_stress_faults_will_be_made_here_and_through_helpers() {
    if !docker_available() {
        return;
    }
    let project = Project::new("plan-http");
    let (_store, _api) = project.demo_stack();
    let mut said = String::new();
    for docker in ["", "docker: { network_helper: helper }\n"] {
        let text = format!(
            r#"gameday: HTTP plan
scope: {{ compose_project: {} }}
{docker}scenarios:
  - name: bad answers
    faults:
      - http_fault: {{ service: store, port: 7000, match: {{ method: GET, path: "/get*", header: {{ x-tenant: beta }} }}, percent: 50%, status: 503 }}
      - cpu_stress: {{ service: api, workers: 2, load: 80% }}
    duration: 10s
"#,
            project.name
        );
        let (_dir, file) = gameday_file(&text);
        let output = gameday_plan(&file);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_eq!(output.status.code(), Some(0), "{stdout}");
        let lines: Vec<&str> = stdout
            .lines()
            .skip_while(|l| !l.contains("apply"))
            .take_while(|l| !l.contains("hold"))
            .collect();
        said.push_str(&lines.join("\n").replace(&project.name, "[project]"));
        said.push('\n');
    }
    insta::assert_snapshot!(said);
}

/// `gameday run` of `file`, which must be refused before it starts:
/// exit 2, no run directory.
fn assert_run_refused(file: &std::path::Path) -> String {
    let out = tempfile::tempdir().unwrap();
    let run = gameday_run(out.path(), file, &[], 60);
    assert_exit(&run, 2);
    assert_eq!(
        std::fs::read_dir(out.path()).unwrap().count(),
        0,
        "a run started"
    );
    String::from_utf8_lossy(&run.stderr).into_owned()
}

/// `memory_stress` on a container without a memory limit takes the
/// engine host's memory: asked for more than this host can give (all it
/// has available, by this machine's own /proc/meminfo), `plan` and `run`
/// refuse with exit 2 and say which figure they used and the reserve
/// kept. With a limit, the same size is the OOM scenario: allowed.
#[test]
fn memory_stress_past_what_the_host_can_give_is_refused() {
    if !docker_available() {
        return;
    }
    let project = Project::new("plan-mem");
    let api = project.service(
        "api",
        &["api", "--listen", "0.0.0.0:8080", "--store", "store:7000"],
        None,
    );
    let _store = project.service_opts(
        "store",
        &["--memory", "64m"],
        &["store", "--listen", "0.0.0.0:7000"],
        None,
    );
    let (total, available) = meminfo();
    let reserve = (total / 10).max(1 << 30);
    let asked = available.div_ceil(1 << 20);
    let text = |service: &str| {
        format!(
            "gameday: Memory\nscope: {{ compose_project: {} }}\nscenarios:\n  - name: Held\n    fault: {{ memory_stress: {{ service: {service}, size: {asked}MiB }} }}\n    duration: 5s\n",
            project.name
        )
    };
    let (_dir, file) = gameday_file(&text("api"));
    let planned = gameday_plan(&file);
    assert_exit(&planned, 2);
    let stderr = String::from_utf8_lossy(&planned.stderr);
    assert!(
        stderr.contains(&format!(
            ":5:31: `memory_stress` of {} on `{}`, which has no memory limit, would take it from the engine's host, which can give ",
            size_text(asked << 20),
            api.name
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "available on this host (MemAvailable), less a reserve of {})",
            size_text(reserve)
        )) && stderr
            .contains("hint: set a memory limit on the service (`mem_limit: 256m` in compose"),
        "{stderr}"
    );
    // The figure is this host's MemAvailable less the reserve (read again
    // by gameday a moment later: within 5%).
    let said: f64 = stderr
        .split("which can give ")
        .nth(1)
        .and_then(|rest| rest.split("GiB").next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no figure in {stderr}"));
    let can = (available - reserve) as f64 / (1u64 << 30) as f64;
    assert!(
        (said - can).abs() <= can * 0.05,
        "said {said}GiB, this host can give {can:.1}GiB"
    );
    assert!(assert_run_refused(&file).contains("which has no memory limit"));
    let (_dir, limited) = gameday_file(&text("store"));
    let planned = gameday_plan(&limited);
    assert_exit(&planned, 0);
    assert!(
        String::from_utf8_lossy(&planned.stdout)
            .contains("within its limit of 64MiB (past it, the container's own OOM killer acts)")
    );
}

/// A fill or writers on a filesystem shared with the engine's host or
/// other containers (the container's root filesystem, a volume another
/// container mounts, a bind mount of the host) are refused without
/// `shared_filesystem: true`: each at its target, naming the filesystem
/// and who shares it; `run` refuses too, before anything is touched.
#[test]
fn a_fill_of_a_filesystem_shared_with_the_host_or_other_containers_is_refused() {
    if !docker_available() {
        return;
    }
    let volume = VolumeGuard::create(&format!("gdt-h1-shared-{}", std::process::id()), &[]);
    let project = Project::new("plan-shared");
    let bound = tempfile::tempdir().unwrap();
    let mount = format!("{}:/shared", volume.0);
    let bind = format!("{}:/bound", bound.path().display());
    let store = project.service_opts(
        "store",
        &["-v", &mount, "-v", &bind],
        &["store", "--listen", "0.0.0.0:7000"],
        None,
    );
    let cache = project.service_opts(
        "cache",
        &["-v", &mount],
        &["store", "--listen", "0.0.0.0:7000"],
        None,
    );
    let driver = docker(&["info", "-f", "{{.Driver}}"]);
    let text = format!(
        r#"gameday: Shared
scope: {{ compose_project: {} }}
scenarios:
  - name: Full
    faults:
      - disk_fill: {{ service: store, path: /, fill: 100% }}
      - io_stress: {{ service: store, path: /shared }}
      - disk_fill: {{ service: store, path: /bound/x, size: 1MiB }}
    duration: 5s
"#,
        project.name
    );
    let (_dir, file) = gameday_file(&text);
    let planned = gameday_plan(&file);
    assert_exit(&planned, 2);
    let stderr = String::from_utf8_lossy(&planned.stderr);
    for said in [
        format!(
            ":6:22: `disk_fill` of / in `{}` would write to the container's root filesystem ({driver}) on the engine host's disk, shared with the engine's host and every container on it",
            store.name
        ),
        format!(
            ":7:22: `io_stress` of /shared in `{}` would write to volume `{}`, a directory of the engine host's disk, shared with the engine's host, container `{}`",
            store.name, volume.0, cache.name
        ),
        format!(
            ":8:22: `disk_fill` of /bound/x in `{}` would write to a bind mount of {} of the engine's host, shared with the engine's host",
            store.name,
            bound.path().display()
        ),
        "or add `shared_filesystem: true` to allow it: then no less than 5% of it (at least 1GiB) is ever left free. Nothing was changed".to_string(),
    ] {
        assert!(stderr.contains(&said), "{said}\nnot in\n{stderr}");
    }
    assert!(assert_run_refused(&file).contains("3 errors"));
    assert_eq!(
        std::fs::read_dir(bound.path()).unwrap().count(),
        0,
        "nothing written"
    );
}

/// With the filesystem known, the plan says which it is, its size, who
/// shares it, how much will be written (a shared one capped above its
/// reserve), and the memory a fault takes from where.
#[test]
fn the_plan_says_which_filesystem_who_shares_it_and_how_much_is_written() {
    if !docker_available() {
        return;
    }
    let volume = VolumeGuard::create(
        &format!("gdt-h1-tmpvol-{}", std::process::id()),
        &[
            "--opt",
            "type=tmpfs",
            "--opt",
            "device=tmpfs",
            "--opt",
            "o=size=1280m",
        ],
    );
    let project = Project::new("plan-fs");
    let mount = format!("{}:/shared", volume.0);
    let _store = project.service_opts(
        "store",
        &["--tmpfs", "/data:size=16m", "-v", &mount],
        &["store", "--listen", "0.0.0.0:7000"],
        None,
    );
    let _cache = project.service_opts(
        "cache",
        &["-v", &mount, "--memory", "64m"],
        &["store", "--listen", "0.0.0.0:7000"],
        None,
    );
    let text = format!(
        r#"gameday: Filesystems
scope: {{ compose_project: {} }}
scenarios:
  - name: Full
    faults:
      - disk_fill: {{ service: store, path: /data, fill: 100% }}
      - disk_fill: {{ service: store, path: /shared/x, size: 1GiB, shared_filesystem: true }}
      - io_stress: {{ service: cache, path: /shared, workers: 2, size: 8MiB, shared_filesystem: true }}
      - memory_stress: {{ service: cache, size: 96MiB }}
    duration: 5s
"#,
        project.name
    );
    let (_dir, file) = gameday_file(&text);
    let planned = gameday_plan(&file);
    assert_exit(&planned, 0);
    let stdout = String::from_utf8_lossy(&planned.stdout);
    let lines: Vec<String> = stdout
        .lines()
        .filter(|l| {
            l.trim_start().starts_with("filesystem of") || l.trim_start().starts_with("memory of")
        })
        .map(|l| {
            l.trim()
                .replace(&project.name, "[project]")
                .replace(&volume.0, "[volume]")
        })
        .collect();
    insta::with_settings!({filters => vec![
        (r"of the \S+ its host can give \(\S+ available on this host \(MemAvailable\), less a reserve of \S+\)", "of the [what this host can give]"),
    ]}, {
        insta::assert_snapshot!(lines.join("\n"));
    });
}

/// A container of no project, removed when the test ends (even failing).
struct Outsider(String);

impl Outsider {
    fn start(name: &str, options: &[&str], args: &[&str]) -> Outsider {
        let mut cmd = vec!["run", "-d", "--name", name, "--label", "gameday.test=1"];
        cmd.extend(options);
        cmd.push(DEMO_IMAGE);
        cmd.extend(args);
        Outsider(docker(&cmd))
    }
}

impl Drop for Outsider {
    fn drop(&mut self) {
        let _ = std::process::Command::new("docker")
            .args(["rm", "-f", &self.0])
            .output();
    }
}

/// Containers sharing a target's network namespace (`--network
/// container:<api>`) get its network, HTTP and DNS faults too: one outside
/// the scope is named and the fault refused, exit 2, by `plan` and by
/// `run` (nothing starts); with `include_shared_namespace: true` the plan
/// goes ahead and lists it, beside the one of the scope (always allowed).
#[test]
fn containers_sharing_a_targets_network_namespace_are_listed_and_outside_ones_refused() {
    if !docker_available() {
        return;
    }
    let project = Project::new("plan-shared");
    let (_store, api) = project.demo_stack();
    let by_id = format!("container:{}", api.id);
    let _sidecar = project.service_with(
        "sidecar",
        &["--network", &by_id],
        &["store", "--listen", "0.0.0.0:7001"],
    );
    let by_name = format!("container:{}", api.name);
    let tap_name = format!("{}-tap", project.name);
    let _tap = Outsider::start(
        &tap_name,
        &["--network", &by_name],
        &["store", "--listen", "0.0.0.0:7002"],
    );
    let text = |include: &str| {
        format!(
            r#"gameday: Shared namespace
scope: {{ compose_project: {} }}
scenarios:
  - name: lookups fail
    faults:
      - dns: {{ service: api, error: nxdomain{include} }}
      - loss: {{ service: store, percent: 10% }}
    duration: 10s
"#,
            project.name
        )
    };
    let normalise = |s: &str| {
        s.replace(&tap_name, "[outsider]")
            .replace(&project.name, "[project]")
    };
    let (_dir, file) = gameday_file(&text(""));
    let refused = gameday_plan(&file);
    assert_eq!(refused.status.code(), Some(2), "{}", text_of(&refused));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    insta::assert_snapshot!(
        "shared_namespace_refused",
        normalise(&stderr).replace(&file.display().to_string(), "[file]")
    );
    let out = tempfile::tempdir().unwrap();
    let run = Command::cargo_bin("gameday")
        .unwrap()
        .args(["run", "--no-progress", "--yes", "--out"])
        .arg(out.path())
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2), "{}", text_of(&run));
    assert!(
        String::from_utf8_lossy(&run.stderr).contains(&format!(
            "`{tap_name}` shares the network namespace of `{}`",
            api.name
        )),
        "{}",
        text_of(&run)
    );
    assert_eq!(
        std::fs::read_dir(out.path()).unwrap().count(),
        0,
        "a run started"
    );

    let (_dir, file) = gameday_file(&text(", include_shared_namespace: true"));
    let planned = gameday_plan(&file);
    let stdout = String::from_utf8_lossy(&planned.stdout);
    assert_eq!(planned.status.code(), Some(0), "{}", text_of(&planned));
    let lines: Vec<&str> = stdout
        .lines()
        .skip_while(|l| !l.contains("apply"))
        .take_while(|l| !l.contains("hold"))
        .collect();
    insta::assert_snapshot!("shared_namespace_listed", normalise(&lines.join("\n")));
}

fn text_of(output: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}
