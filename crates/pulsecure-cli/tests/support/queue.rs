//! Launchers for the job-queue tests: worker processes, a client's run, a raw connection.

use std::process::{Child, Command};

use super::Env;

/// Worker processes (`pulsecure run-evaluator worker`), killed when dropped.
pub struct Workers(Vec<Child>);

impl Workers {
    /// Start `count` workers on the queue at `url`, each with its own data directory.
    pub fn start(env: &Env, url: &str, count: usize) -> Self {
        Workers(
            (0..count)
                .map(|i| {
                    let log =
                        std::fs::File::create(env.path(&format!("worker{i}.log"))).expect("log");
                    let mut pulsecure = Command::new(env!("CARGO_BIN_EXE_pulsecure"));
                    pulsecure.arg("run-evaluator");
                    pulsecure_testkit::processes::queue_worker(
                        pulsecure,
                        url,
                        &env.path(&format!("worker{i}")),
                    )
                    .args(["--lease-seconds", "20"])
                    .stderr(log)
                    .spawn()
                    .expect("spawn a worker")
                })
                .collect(),
        )
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Run the client with the test password, echoing its stderr (the test log shows it).
pub fn queue_run(env: &Env, args: &[&str]) -> std::process::Output {
    let out = env.run(args, true);
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    out
}

/// A plain connection to the queue's database, as anyone who can write to it has.
pub async fn raw_client(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("raw client");
    tokio::spawn(connection);
    client
}

/// Wait until `jobs` jobs of the queue at `raw` are done (the workers finished them), for
/// at most five minutes.
pub async fn wait_until_done(raw: &tokio_postgres::Client, jobs: i64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    loop {
        let done: i64 = raw
            .query_one(
                "SELECT count(*) FROM pulsecure_jobs WHERE state = 'done'",
                &[],
            )
            .await
            .expect("count")
            .get(0);
        if done == jobs {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the workers did not finish"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
