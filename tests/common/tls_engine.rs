//! The tests' second Docker engine that speaks only mutual TLS, with
//! certificates each test generates: a remote engine on 127.0.0.1.

use std::process::{Command as StdCommand, Stdio};
use std::time::Duration;

use super::*;

/// A second Docker engine for one test: its own dockerd (and containerd),
/// socket, data root and TLS certificates, listening on 127.0.0.1 for TLS
/// clients only, with a bridge of its own that the test creates (never
/// `--bridge=none`: a dockerd started so removes the host's `docker0`, and
/// with it the main engine's default network). Its containers use the
/// host's network. Everything is removed when the guard drops.
pub struct TlsEngine {
    daemon: std::process::Child,
    dir: tempfile::TempDir,
    pub port: u16,
    _bridge: TestBridge,
}

impl TlsEngine {
    pub fn start() -> TlsEngine {
        ensure_demo_image();
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let openssl = |args: &[&str]| {
            run(StdCommand::new("openssl").args(args).current_dir(d));
        };
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        openssl(
            &[
                &["req", "-x509"][..],
                &ec,
                &[
                    "-keyout",
                    "ca-key.pem",
                    "-out",
                    "ca.pem",
                    "-days",
                    "1",
                    "-subj",
                    "/CN=gameday test CA",
                ],
            ]
            .concat(),
        );
        std::fs::write(
            d.join("server.ext"),
            "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        std::fs::write(d.join("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
        for (name, cn, ext) in [
            ("server", "127.0.0.1", "server.ext"),
            ("client", "gameday", "client.ext"),
        ] {
            let key = format!("{name}-key.pem");
            let csr = format!("{name}.csr");
            let cert = format!("{name}-cert.pem");
            let subj = format!("/CN={cn}");
            openssl(
                &[
                    &["req"][..],
                    &ec,
                    &["-keyout", &key, "-out", &csr, "-subj", &subj],
                ]
                .concat(),
            );
            openssl(&[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca-key.pem",
                "-CAcreateserial",
                "-out",
                &cert,
                "-days",
                "1",
                "-extfile",
                ext,
            ]);
        }
        std::fs::write(d.join("daemon.json"), "{}").unwrap();
        let port = free_port();
        let bridge = TestBridge::create(port);
        let log = std::fs::File::create(d.join("dockerd.log")).unwrap();
        let path = |p: &str| d.join(p).display().to_string();
        let daemon = StdCommand::new("dockerd")
            .args(["--config-file", &path("daemon.json")])
            .args(["--data-root", &path("root"), "--exec-root", &path("exec")])
            .args(["--pidfile", &path("dockerd.pid")])
            .args(["-H", &format!("unix://{}", path("sock"))])
            .args(["-H", &format!("tcp://127.0.0.1:{port}")])
            .args(["--tlsverify", "--tlscacert", &path("ca.pem")])
            .args([
                "--tlscert",
                &path("server-cert.pem"),
                "--tlskey",
                &path("server-key.pem"),
            ])
            .args([
                &format!("--bridge={}", bridge.name),
                "--iptables=false",
                "--ip6tables=false",
                "--storage-driver=vfs",
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("dockerd (the Docker engine's daemon) is needed for this test");
        record_test_daemon(daemon.id());
        let engine = TlsEngine {
            daemon,
            dir,
            port,
            _bridge: bridge,
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !engine.docker(&["version"]).status.success() {
            assert!(
                std::time::Instant::now() < deadline,
                "the second dockerd did not start: {}",
                std::fs::read_to_string(engine.dir.path().join("dockerd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        // No registry: hand it the demo image built for the first engine.
        engine.load(DEMO_IMAGE);
        engine
    }

    /// Copy `image` from this host's engine into this one.
    pub fn load(&self, image: &str) {
        let mut save = StdCommand::new("docker")
            .args(["save", image])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let loaded = StdCommand::new("docker")
            .args(["-H", &self.socket(), "load", "-q"])
            .stdin(save.stdout.take().unwrap())
            .output()
            .unwrap();
        assert!(save.wait().unwrap().success(), "docker save failed");
        assert!(
            loaded.status.success(),
            "{}",
            String::from_utf8_lossy(&loaded.stderr)
        );
        // The gamedays here name no helper image: this engine's default is
        // the one the test built, whatever its tag on this host.
        if image == nethelper_image() && image != "gameday-nethelper:latest" {
            let tagged = self.docker(&["tag", image, "gameday-nethelper:latest"]);
            assert!(tagged.status.success(), "docker tag failed");
        }
    }

    pub fn socket(&self) -> String {
        format!("unix://{}", self.dir.path().join("sock").display())
    }

    /// `docker` against this engine's own socket (for the test's checks).
    pub fn docker(&self, args: &[&str]) -> std::process::Output {
        StdCommand::new("docker")
            .args(["-H", &self.socket()])
            .args(args)
            .output()
            .unwrap()
    }

    pub fn state(&self, container: &str) -> String {
        let out = self.docker(&["inspect", "-f", "{{.State.Status}}", container]);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    pub fn file(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    /// Start the demo store as container `name`, service `service` of
    /// compose project `project`, on the host's network at 127.0.0.1:`port`.
    pub fn run_store(&self, name: &str, project: &str, service: &str, port: u16) {
        start_store_with(&|a| self.docker(a), name, project, service, port);
    }

    /// How a gameday file reaches this engine: `host: ..., tls: {...}`.
    pub fn engine_yaml(&self) -> String {
        format!(
            r#"host: "tcp://127.0.0.1:{}", tls: {{ ca: "{}", cert: "{}", key: "{}" }}"#,
            self.port,
            self.file("ca.pem"),
            self.file("client-cert.pem"),
            self.file("client-key.pem"),
        )
    }
}

impl Drop for TlsEngine {
    fn drop(&mut self) {
        remove_every_container_with(&|a| self.docker(a));
        // SIGTERM: dockerd stops its containerd and its containers.
        let _ = nix_kill(self.daemon.id());
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.daemon.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
        // dockerd leaves its namespace mount behind; the dir cannot go before it.
        let dir = self.dir.path().display().to_string();
        if let Ok(mounts) = std::fs::read_to_string("/proc/self/mounts") {
            for point in mounts.lines().filter_map(|l| l.split_whitespace().nth(1)) {
                if point.starts_with(&dir) {
                    let _ = StdCommand::new("umount").args(["-l", point]).output();
                }
            }
        }
    }
}

fn nix_kill(pid: u32) -> std::io::Result<()> {
    let status = StdCommand::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()?;
    if status.success() {
        Ok(())
    } else {
        Err(std::io::Error::other("kill failed"))
    }
}
