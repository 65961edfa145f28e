//! Population screening through a real PostgreSQL job queue with real worker processes
//! (`pulsecure run-evaluator worker`): a detached batch collected later equals the
//! in-process engine; reruns add nothing; the queue holds no patient reference; a client
//! killed mid-wait and a database restarted mid-batch lose nothing and store nothing twice.

mod support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use pulsecure_queue::cluster::ThrowawayCluster;
use support::queue::{queue_run, raw_client, wait_until_done, Workers};
use support::{assert_ok, batch_file, outcomes, stored_rows, Env};

/// The same batch screened in-process in another data directory (other keys, same model).
fn reference(file: &std::path::Path) -> Vec<String> {
    let env = Env::initialized();
    let out = env.path("reference.csv");
    let run = env.run(
        &[
            "screen",
            "--batch",
            &file.display().to_string(),
            "--out",
            &out.display().to_string(),
            "--quiet",
        ],
        true,
    );
    assert_ok(&run);
    outcomes(&std::fs::read_to_string(out).expect("reference results"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_detached_batch_is_collected_later_equal_to_in_process_and_reruns_add_nothing() {
    let cluster = ThrowawayCluster::start().unwrap_or_else(|e| panic!("PostgreSQL: {e}"));
    let url = cluster.url();
    let env = Env::initialized();
    let file = batch_file(&env, "batch.csv", "QUEUE-", 10, 7);
    let expected = reference(&file);
    let file_arg = file.display().to_string();

    // Enqueued with no worker running: everything waits in the queue.
    let out = queue_run(
        &env,
        &["screen", "--batch", &file_arg, "--queue", &url, "--detach"],
    );
    assert_ok(&out);
    assert!(String::from_utf8_lossy(&out.stderr).contains("10 enqueued"));
    let status = queue_run(&env, &["jobs", "status", "--queue", &url]);
    assert_ok(&status);
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(
        text.contains("jobs of this workstation: 10") && text.contains("queued   10"),
        "{text}"
    );

    // What the queue holds names no patient: no reference, anywhere.
    let raw = raw_client(&url).await;
    let dump: String = raw
        .query_one(
            "SELECT string_agg(job_id || encode(request, 'escape') || encode(model_fingerprint, 'hex'), '')
             FROM pulsecure_jobs",
            &[],
        )
        .await
        .expect("dump")
        .get(0);
    assert!(
        !dump.contains("QUEUE-"),
        "a patient reference reached the queue"
    );

    // A rerun adds nothing.
    let out = queue_run(
        &env,
        &["screen", "--batch", &file_arg, "--queue", &url, "--detach"],
    );
    assert_ok(&out);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("0 enqueued, 10 already in the queue"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The database key cannot be rotated under pending jobs (they are sealed with it).
    let rotate = queue_run(&env, &["keys", "rotate"]);
    support::assert_fails(&rotate, 1, "waiting in the job queue");

    let _workers = Workers::start(&env, &url, 2);
    let results = env.path("collected.csv");
    let out = queue_run(
        &env,
        &[
            "jobs",
            "collect",
            "--queue",
            &url,
            "--wait",
            "--quiet",
            "--out",
            &results.display().to_string(),
        ],
    );
    assert_ok(&out);
    assert_eq!(
        outcomes(&std::fs::read_to_string(&results).expect("results")),
        expected
    );
    assert_eq!(stored_rows(&env.data.join("pulsecure.db")), 10);
    let left: i64 = raw
        .query_one("SELECT count(*) FROM pulsecure_jobs", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(left, 0, "collected jobs stay in the queue");

    // Everything stored: a rerun submits nothing.
    let out = queue_run(
        &env,
        &["screen", "--batch", &file_arg, "--queue", &url, "--quiet"],
    );
    assert_ok(&out);
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("0 enqueued, 0 already in the queue, 0 re-enqueued, 0 not eligible (stored as such, not queued), 10 already stored"));
    assert_eq!(stored_rows(&env.data.join("pulsecure.db")), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_client_and_a_restarted_database_lose_nothing_and_store_nothing_twice() {
    let cluster = ThrowawayCluster::start().unwrap_or_else(|e| panic!("PostgreSQL: {e}"));
    let url = cluster.url();
    let env = Env::initialized();
    let file = batch_file(&env, "batch.csv", "RESTART-", 12, 7);
    let expected = reference(&file);
    let file_arg = file.display().to_string();
    let _workers = Workers::start(&env, &url, 2);

    // The client waits for its results; it is killed once some are stored.
    let mut client = env
        .command()
        .args(["screen", "--batch", &file_arg, "--queue", &url, "--quiet"])
        .arg("--password-file")
        .arg(&env.password_file)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(env.path("client.err")).expect("stderr file"))
        .spawn()
        .expect("client");
    let deadline = Instant::now() + Duration::from_secs(300);
    let database = env.data.join("pulsecure.db");
    while !database.exists() || stored_rows(&database) < 2 {
        assert!(
            Instant::now() < deadline,
            "no job finished; client: {}\nworker: {}",
            std::fs::read_to_string(env.path("client.err")).unwrap_or_default(),
            std::fs::read_to_string(env.path("worker0.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    client.kill().expect("kill -9 the client");
    let _ = client.wait();
    let stored_before = stored_rows(&database);
    assert!(
        stored_before < 12,
        "the client finished before it was killed"
    );

    // The database goes down and comes back while the rerun waits for the rest.
    let mut rerun = env
        .command()
        .args(["screen", "--batch", &file_arg, "--queue", &url, "--quiet"])
        .arg("--out")
        .arg(env.path("rerun.csv"))
        .arg("--password-file")
        .arg(&env.password_file)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(env.path("rerun.err")).expect("stderr file"))
        .spawn()
        .expect("rerun");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let cluster = tokio::task::spawn_blocking(move || {
        cluster.restart(Duration::from_secs(1)).map(|()| cluster)
    })
    .await
    .expect("join")
    .expect("restart");
    let status = rerun.wait().expect("rerun finishes");
    let stderr = std::fs::read_to_string(env.path("rerun.err")).unwrap_or_default();
    assert!(
        status.success(),
        "rerun failed: {stderr}\n{}",
        cluster.log()
    );
    // The rerun reports every patient once: stored by the killed run, or screened now.
    let rerun_rows =
        outcomes(&std::fs::read_to_string(env.path("rerun.csv")).expect("rerun results"));
    assert_eq!(rerun_rows, expected, "{stderr}");
    assert_eq!(stored_rows(&env.data.join("pulsecure.db")), 12);
    let status = queue_run(&env, &["jobs", "status", "--queue", &url]);
    assert_ok(&status);
    assert!(String::from_utf8_lossy(&status.stdout).contains("jobs of this workstation: 0"));
    // The restart did cut both sides off mid-batch, and both reconnected.
    let log = env.log_text();
    assert!(
        log.contains("queue connection lost") || log.contains("reconnecting"),
        "the client never lost its connection"
    );
    let worker_logs: String = (0..2)
        .map(|i| std::fs::read_to_string(env.path(&format!("worker{i}.log"))).unwrap_or_default())
        .collect();
    assert!(worker_logs.contains("worker reconnected"), "{worker_logs}");
    // No reference, value or password in the clinician's log or the workers'.
    env.assert_log_free_of(&["RESTART-0"]);
    assert!(!worker_logs.contains("RESTART-0"));
}

/// Whoever can write to the queue's database can swap finished results between jobs (they
/// are all encrypted under this workstation's key, bound to its model and key set): the
/// client's check against the reference engine refuses every swapped result, stores
/// nothing wrong, audits it, exits 4, and a rerun screens the patients correctly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_swapped_in_the_queue_database_are_refused_and_never_stored() {
    let cluster = ThrowawayCluster::start().unwrap_or_else(|e| panic!("PostgreSQL: {e}"));
    let url = cluster.url();
    let env = Env::initialized();
    let file = batch_file(&env, "batch.csv", "SWAP-", 4, 9);
    let expected = reference(&file);
    let distinct: std::collections::HashSet<String> = expected
        .iter()
        .map(|row| {
            row.split_once(',')
                .map(|(_, r)| r.to_string())
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(distinct.len(), 4, "the test needs four different results");
    let file_arg = file.display().to_string();
    let out = queue_run(
        &env,
        &["screen", "--batch", &file_arg, "--queue", &url, "--detach"],
    );
    assert_ok(&out);

    // Workers finish every job; then they stop and the results are rotated among the jobs.
    let raw = raw_client(&url).await;
    let workers = Workers::start(&env, &url, 1);
    wait_until_done(&raw, 4).await;
    drop(workers);
    let rotated = raw
        .execute(
            "WITH ordered AS (
                 SELECT job_id, result, row_number() OVER (ORDER BY job_id) AS n,
                        count(*) OVER () AS total
                 FROM pulsecure_jobs)
             UPDATE pulsecure_jobs j SET result = o.result
             FROM ordered o, ordered t
             WHERE t.job_id = j.job_id AND o.n = t.n % t.total + 1",
            &[],
        )
        .await
        .expect("rotate the results");
    assert_eq!(rotated, 4);

    let errors = env.path("refused.csv");
    let out = queue_run(
        &env,
        &[
            "jobs",
            "collect",
            "--queue",
            &url,
            "--quiet",
            "--errors",
            &errors.display().to_string(),
        ],
    );
    support::assert_fails(&out, 4, "4 result(s) were refused");
    assert_eq!(
        stored_rows(&env.data.join("pulsecure.db")),
        0,
        "a swapped result was stored"
    );
    let refused = std::fs::read_to_string(&errors).expect("the refused rows are reported");
    assert_eq!(
        refused.matches("differs from the reference engine").count(),
        4,
        "{refused}"
    );
    assert_eq!(support::audit_events(&env, "result-mismatch"), 4);

    // The patients were forgotten locally, so a rerun screens them again, correctly.
    let _workers = Workers::start(&env, &url, 1);
    let results = env.path("rerun.csv");
    let out = queue_run(
        &env,
        &[
            "screen",
            "--batch",
            &file_arg,
            "--queue",
            &url,
            "--quiet",
            "--out",
            &results.display().to_string(),
        ],
    );
    assert_ok(&out);
    assert_eq!(
        outcomes(&std::fs::read_to_string(&results).expect("results")),
        expected
    );
    assert_eq!(stored_rows(&env.data.join("pulsecure.db")), 4);
    env.assert_log_free_of(&["SWAP-0"]);
}

/// Whoever can write to the queue's database can make a result of any size: `jobs collect`
/// reads results by their known maximum in SQL, so an oversize one is refused unread (exit 4,
/// the row reported, audited) and the other jobs are stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversize_result_in_the_queue_is_refused_unread_and_the_rest_are_stored() {
    let cluster = ThrowawayCluster::start().unwrap_or_else(|e| panic!("PostgreSQL: {e}"));
    let url = cluster.url();
    let env = Env::initialized();
    let file = batch_file(&env, "batch.csv", "BIG-", 4, 5);
    let file_arg = file.display().to_string();
    let out = queue_run(
        &env,
        &["screen", "--batch", &file_arg, "--queue", &url, "--detach"],
    );
    assert_ok(&out);
    let raw = raw_client(&url).await;
    let workers = Workers::start(&env, &url, 1);
    wait_until_done(&raw, 4).await;
    drop(workers);
    // Another result as an evaluator older than this client wrote it (a `PSR1` frame): made
    // before the upgrade, reported as such, never decrypted, and not a mismatch.
    let older = raw
        .execute(
            "UPDATE pulsecure_jobs SET result = overlay(result placing '\\x50535231'::bytea from 1 for 4)
             WHERE job_id = (SELECT max(job_id) FROM pulsecure_jobs)",
            &[],
        )
        .await
        .expect("an older evaluator's result");
    assert_eq!(older, 1);
    // One result grows to 4 MiB (the limit is 256 KiB; an honest result is 1 437 B).
    let grown = raw
        .execute(
            "UPDATE pulsecure_jobs SET result = result || decode(repeat('00', 4 * 1024 * 1024), 'hex')
             WHERE job_id = (SELECT min(job_id) FROM pulsecure_jobs)",
            &[],
        )
        .await
        .expect("grow one result");
    assert_eq!(grown, 1);
    let errors = env.path("refused.csv");
    let out = queue_run(
        &env,
        &[
            "jobs",
            "collect",
            "--queue",
            &url,
            "--quiet",
            "--errors",
            &errors.display().to_string(),
        ],
    );
    support::assert_fails(&out, 4, "1 result(s) were refused");
    assert_eq!(stored_rows(&env.data.join("pulsecure.db")), 2);
    let refused = std::fs::read_to_string(&errors).expect("the refused row is reported");
    assert!(
        refused.contains("above the limit of 262144: refused unread"),
        "{refused}"
    );
    assert!(
        refused.contains("an evaluator older than this client"),
        "{refused}"
    );
    assert_eq!(support::audit_events(&env, "result-mismatch"), 1);
}

/// A patient outside the model's population (known CVD, or an age outside 30-79) is decided
/// at submission: stored as such on the workstation, reported, and never enqueued — the
/// queue holds no trace of them; a rerun reports the stored decision.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_eligible_rows_are_stored_at_submission_and_never_queued() {
    let cluster = ThrowawayCluster::start().unwrap_or_else(|e| panic!("PostgreSQL: {e}"));
    let url = cluster.url();
    let env = Env::initialized();
    let csv = format!(
        "{}\n{}\nNE-CVD,1,60,0,130,0,1,1\nNE-AGE,0,25,0,130,0,1,1\n",
        support::HEADER,
        support::good_row("NE-OK", 3)
    );
    let file = env.write("batch.csv", csv.as_bytes());
    let file_arg = file.display().to_string();
    let results = env.path("submitted.csv");
    let out = queue_run(
        &env,
        &[
            "screen",
            "--batch",
            &file_arg,
            "--queue",
            &url,
            "--detach",
            "--out",
            &results.display().to_string(),
        ],
    );
    assert_ok(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("1 enqueued, 0 already in the queue, 0 re-enqueued, 2 not eligible"),
        "{stderr}"
    );
    let written = std::fs::read_to_string(&results).expect("results");
    assert!(
        written.contains("NE-CVD,not_eligible,,,,,cvd-lr,3,already diagnosed"),
        "{written}"
    );
    assert!(written.contains("NE-AGE,not_eligible,"), "{written}");
    let raw = raw_client(&url).await;
    let queued: i64 = raw
        .query_one("SELECT count(*) FROM pulsecure_jobs", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(queued, 1, "only the eligible patient reaches the queue");
    assert_eq!(stored_rows(&env.data.join("pulsecure.db")), 2);
    let again = queue_run(
        &env,
        &["screen", "--batch", &file_arg, "--queue", &url, "--detach"],
    );
    assert_ok(&again);
    assert!(
        String::from_utf8_lossy(&again.stderr)
            .contains("0 enqueued, 1 already in the queue, 0 re-enqueued, 0 not eligible (stored as such, not queued), 2 already stored"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(stored_rows(&env.data.join("pulsecure.db")), 2);
    // The queued patient resubmitted with known CVD: still the queued job's, not decided
    // anew (a stored decision beside a pending job would leave two answers).
    let changed = env.write(
        "changed.csv",
        format!("{}\nNE-OK,1,60,0,130,0,1,1\n", support::HEADER).as_bytes(),
    );
    let out = queue_run(
        &env,
        &[
            "screen",
            "--batch",
            &changed.display().to_string(),
            "--queue",
            &url,
            "--detach",
        ],
    );
    assert_ok(&out);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("0 enqueued, 1 already in the queue"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stored_rows(&env.data.join("pulsecure.db")), 2);
}
