//! A throwaway PostgreSQL cluster for tests and benchmarks: `initdb` into a temporary
//! directory, `pg_ctl start` on a random port with a private Unix socket (and, on request,
//! 127.0.0.1 with TLS), stopped and deleted when dropped. As root, the server runs as the
//! `postgres` user (PostgreSQL refuses to run as root).
//!
//! The binaries are found through `PULSECURE_PG_BIN`, then `PATH`, then Debian's
//! `/usr/lib/postgresql/*/bin`. Without them, starting fails with an error saying how to
//! install them: a test needing PostgreSQL fails, it is never silently skipped.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A running throwaway cluster.
pub struct ThrowawayCluster {
    dir: tempfile::TempDir,
    durable: bool,
    bin: PathBuf,
    port: u16,
    run_as: Option<String>,
    tls: bool,
}

impl std::fmt::Debug for ThrowawayCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThrowawayCluster")
            .field("port", &self.port)
            .finish()
    }
}

/// TLS material of a cluster started with [`ThrowawayCluster::start_with_tls`].
#[derive(Clone, Debug)]
pub struct ServerTls {
    /// Server certificate (for `localhost` and 127.0.0.1), PEM.
    pub cert_pem: String,
    /// Its private key, PEM.
    pub key_pem: String,
}

fn find_bin() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("PULSECURE_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            if dir.join("initdb").is_file() && dir.join("pg_ctl").is_file() {
                return Ok(dir);
            }
        }
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.path().join("bin"))
                .filter(|bin| bin.join("initdb").is_file())
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found.pop().ok_or_else(|| {
        "PostgreSQL server binaries (initdb, pg_ctl) not found: install Debian's `postgresql` \
         package (.ci/run does) or set PULSECURE_PG_BIN"
            .to_string()
    })
}

fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

fn chown_recursive(path: &Path, user: &str) -> Result<(), String> {
    let status = Command::new("chown")
        .arg("-R")
        .arg(format!("{user}:"))
        .arg(path)
        .status()
        .map_err(|e| format!("chown: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("chown -R {user} {} failed", path.display()))
    }
}

impl ThrowawayCluster {
    /// Start a cluster reachable on its Unix socket only, with `fsync = off` (tests: fast,
    /// and nothing in it needs to survive a power cut).
    pub fn start() -> Result<Self, String> {
        Self::launch(None, false)
    }

    /// Like [`Self::start`] but with PostgreSQL's default durability (`fsync = on`,
    /// synchronous commits): what benchmarks measure.
    pub fn start_durable() -> Result<Self, String> {
        Self::launch(None, true)
    }

    /// Start a cluster also listening on 127.0.0.1 with TLS (`ssl = on`) using `tls`.
    pub fn start_with_tls(tls: &ServerTls) -> Result<Self, String> {
        Self::launch(Some(tls), false)
    }

    fn launch(tls: Option<&ServerTls>, durable: bool) -> Result<Self, String> {
        let bin = find_bin()?;
        let dir = tempfile::Builder::new()
            .prefix("pulsecure-pg-")
            .tempdir()
            .map_err(|e| format!("creating the cluster directory: {e}"))?;
        let run_as = is_root().then(|| "postgres".to_string());
        let cluster = ThrowawayCluster {
            dir,
            durable,
            bin,
            port: free_port()?,
            run_as,
            tls: tls.is_some(),
        };
        std::fs::create_dir(cluster.socket_dir()).map_err(|e| e.to_string())?;
        if let Some(user) = &cluster.run_as {
            chown_recursive(cluster.dir.path(), user)?;
        }
        cluster.run(
            "initdb",
            &[
                "-D",
                &cluster.data().display().to_string(),
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ],
        )?;
        let mut conf = format!(
            "port = {}\nunix_socket_directories = '{}'\nfsync = {}\nmax_connections = 200\n",
            cluster.port,
            cluster.socket_dir().display(),
            if cluster.durable { "on" } else { "off" }
        );
        match tls {
            None => conf.push_str("listen_addresses = ''\n"),
            Some(tls) => {
                let cert = cluster.data().join("server.crt");
                let key = cluster.data().join("server.key");
                std::fs::write(&cert, &tls.cert_pem).map_err(|e| e.to_string())?;
                std::fs::write(&key, &tls.key_pem).map_err(|e| e.to_string())?;
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600))
                    .map_err(|e| e.to_string())?;
                if let Some(user) = &cluster.run_as {
                    chown_recursive(&cluster.data(), user)?;
                }
                conf.push_str("listen_addresses = '127.0.0.1'\nssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n");
                // TCP connections must use TLS; the socket stays trusted.
                let hba = "local all all trust\nhostssl all all 127.0.0.1/32 trust\n";
                std::fs::write(cluster.data().join("pg_hba.conf"), hba)
                    .map_err(|e| e.to_string())?;
            }
        }
        let auto = cluster.data().join("postgresql.auto.conf");
        std::fs::write(&auto, conf).map_err(|e| e.to_string())?;
        if let Some(user) = &cluster.run_as {
            chown_recursive(&cluster.data(), user)?;
        }
        cluster.pg_ctl(&["start", "-w", "-t", "60"])?;
        Ok(cluster)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn socket_dir(&self) -> PathBuf {
        self.dir.path().join("run")
    }

    fn run(&self, program: &str, args: &[&str]) -> Result<(), String> {
        let exe = self.bin.join(program);
        let mut command = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.arg("-u").arg(user).arg("--").arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        let output = command
            .args(args)
            .output()
            .map_err(|e| format!("running {}: {e}", exe.display()))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{program} {}: {}{}",
                args.join(" "),
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    }

    fn pg_ctl(&self, args: &[&str]) -> Result<(), String> {
        let data = self.data().display().to_string();
        let log = self.dir.path().join("server.log").display().to_string();
        let mut all = vec!["-D", data.as_str(), "-l", log.as_str()];
        all.extend_from_slice(args);
        self.run("pg_ctl", &all)
    }

    /// The URL of the cluster's `postgres` database over its Unix socket.
    pub fn url(&self) -> String {
        format!(
            "postgresql://postgres@/postgres?host={}&port={}",
            self.socket_dir().display(),
            self.port
        )
    }

    /// The URL over 127.0.0.1 with `sslmode=verify-full`, trusting `root_ca` (a PEM file).
    pub fn tls_url(&self, host: &str, root_ca: &Path) -> Option<String> {
        self.tls.then(|| {
            format!(
                "postgresql://postgres@{host}:{}/postgres?sslmode=verify-full&sslrootcert={}",
                self.port,
                root_ca.display()
            )
        })
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stop the server immediately (as a crash would) and start it again, after `down`.
    pub fn restart(&self, down: std::time::Duration) -> Result<(), String> {
        self.pg_ctl(&["stop", "-m", "immediate", "-w"])?;
        std::thread::sleep(down);
        self.pg_ctl(&["start", "-w", "-t", "60"])
    }

    /// The server's log so far (to explain a failure).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
}

impl Drop for ThrowawayCluster {
    fn drop(&mut self) {
        if let Err(e) = self.pg_ctl(&["stop", "-m", "immediate", "-w"]) {
            eprintln!("stopping the throwaway PostgreSQL: {e}");
        }
    }
}
