//! Published equations (both PREVENT outputs) through a real PostgreSQL job queue with real
//! worker processes: the same intake as a direct screening (known CVD and a 25-year-old
//! stored as not eligible at submission, never queued; an out-of-range row rejected), the
//! queue holds no reference, a collect for cvd-lr leaves the equation jobs alone, results
//! swapped between two patients in the queue's database are refused unread (the client
//! recomputes each answer from the request it recorded; audited, nothing stored) while the
//! rest are stored — by a later process than the one that encrypted —, and a rerun screens the refused patients again — the
//! final results equal those of the direct path in another data directory.

mod support;

use pulsecure_queue::cluster::ThrowawayCluster;
use support::queue::{queue_run, raw_client, wait_until_done, Workers};
use support::{assert_fails, stored_rows, Env};

const BATCH: &str = "\
patient_id,age,sex,sbp,bp_tx,total_c,hdl_c,statin,dm,smoking,egfr,known_cvd
EQ-F50,50,female,160,1,200,45,0,1,0,90,0
EQ-M62,62,male,138,0,230,38,1,0,1,72,0
EQ-F41,41,female,118,0,180,60,0,0,0,105,0
EQ-M70,70,male,150,1,190,50,0,1,0,60,0
EQ-CVD,60,male,140,0,210,40,0,0,1,80,1
EQ-YOUNG,25,male,120,0,180,50,0,0,0,100,0
EQ-BAD,55,male,400,0,200,50,0,0,0,90,0
";

/// Each result row of a JSON results file as `patient,model,probability,category,reason`
/// (the status — screened now or stored earlier — left out), sorted.
fn results(path: &std::path::Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).expect("results file");
    let rows: Vec<serde_json::Value> = serde_json::from_str(&text).expect("a JSON array");
    let mut out: Vec<String> = rows
        .iter()
        .map(|r| {
            format!(
                "{},{},{},{},{}",
                r["patient_id"], r["model_id"], r["probability"], r["risk_category"], r["reason"]
            )
        })
        .collect();
    out.sort();
    out
}

/// The batch screened directly (in-process evaluator) in another data directory.
fn direct(batch: &[u8]) -> Vec<String> {
    let env = Env::initialized();
    let file = env.write("direct.csv", batch);
    let out = env.path("direct.json");
    let run = env.run(
        &[
            "screen",
            "--model",
            "prevent",
            "--batch",
            &file.display().to_string(),
            "--format",
            "json",
            "--out",
            &out.display().to_string(),
            "--quiet",
        ],
        true,
    );
    assert_fails(&run, 3, "1 rejected");
    results(&out)
}

/// `screen --model prevent --batch FILE --queue URL MODE --format json --out OUT`.
fn screen_prevent(
    env: &Env,
    file: &str,
    url: &str,
    mode: &str,
    out: &std::path::Path,
) -> std::process::Output {
    queue_run(
        env,
        &[
            "screen",
            "--model",
            "prevent",
            "--batch",
            file,
            "--queue",
            url,
            mode,
            "--format",
            "json",
            "--out",
            &out.display().to_string(),
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prevent_through_the_queue_equals_the_direct_path_and_swapped_results_never_stick() {
    let cluster = ThrowawayCluster::start().unwrap_or_else(|e| panic!("PostgreSQL: {e}"));
    let url = cluster.url();
    let expected = direct(BATCH.as_bytes());
    assert_eq!(expected.len(), 12, "six patients, two models: {expected:?}");

    let env = Env::initialized();
    let file = env.write("batch.csv", BATCH.as_bytes());
    let file_arg = file.display().to_string();
    let submitted = env.path("submitted.json");
    let out = screen_prevent(&env, &file_arg, &url, "--detach", &submitted);
    assert_fails(
        &out,
        3,
        "8 enqueued, 0 already in the queue, 0 re-enqueued, 4 not eligible (stored as such, not queued), 0 already stored (skipped), 1 rejected",
    );
    assert_fails(&out, 3, "row 8, column sbp");
    assert!(String::from_utf8_lossy(&out.stderr).contains("jobs collect --model prevent"));
    let decided = results(&submitted);
    assert_eq!(decided.len(), 4, "{decided:?}");
    assert!(
        decided.iter().all(|r| expected.contains(r)),
        "{decided:?} vs {expected:?}"
    );
    assert_eq!(stored_rows(&env.data.join("pulsecure.db")), 4);

    let raw = raw_client(&url).await;
    let dump: String = raw
        .query_one(
            "SELECT string_agg(job_id || encode(request, 'escape'), '') FROM pulsecure_jobs",
            &[],
        )
        .await
        .expect("dump")
        .get(0);
    assert!(
        !dump.contains("EQ-"),
        "a patient reference reached the queue"
    );
    let models: i64 = raw
        .query_one(
            "SELECT count(DISTINCT model_fingerprint) FROM pulsecure_jobs",
            &[],
        )
        .await
        .expect("count")
        .get(0);
    assert_eq!(models, 2, "one job per patient and PREVENT output");

    // A collect for cvd-lr (the default) leaves the equation jobs waiting.
    let out = queue_run(&env, &["jobs", "collect", "--queue", &url]);
    assert_fails(&out, 0, "0 screened and stored, 0 failed in the queue, 0 refused by the result check, 0 still pending");
    assert_fails(&out, 0, "8 job(s) of other models wait in the queue");

    // Workers finish every job; then two patients' total-CVD results are swapped.
    let workers = Workers::start(&env, &url, 2);
    wait_until_done(&raw, 8).await;
    drop(workers);
    let swapped = raw
        .execute(
            "WITH one AS (SELECT model_fingerprint AS f FROM pulsecure_jobs ORDER BY 1 LIMIT 1),
                  pair AS (SELECT job_id, result,
                                  row_number() OVER (ORDER BY job_id) AS n
                           FROM pulsecure_jobs, one WHERE model_fingerprint = one.f
                           ORDER BY job_id LIMIT 2)
             UPDATE pulsecure_jobs j SET result = other.result
             FROM pair this, pair other
             WHERE this.job_id = j.job_id AND other.n = 3 - this.n",
            &[],
        )
        .await
        .expect("swap two results");
    assert_eq!(swapped, 2);

    let collected = env.path("collected.json");
    let refused = env.path("refused.csv");
    let out = queue_run(
        &env,
        &[
            "jobs",
            "collect",
            "--model",
            "prevent",
            "--queue",
            &url,
            "--quiet",
            "--format",
            "json",
            "--out",
            &collected.display().to_string(),
            "--errors",
            &refused.display().to_string(),
        ],
    );
    assert_fails(&out, 4, "2 result(s) were refused");
    let refused = std::fs::read_to_string(&refused).expect("the refused rows are reported");
    // The client recomputes the one answer the public linear map gives each recorded
    // request, and refuses anything else before decrypting.
    assert_eq!(
        refused
            .matches("not the model's linear map of the request it answers (nothing was decrypted)")
            .count(),
        2,
        "{refused}"
    );
    assert_eq!(support::audit_events(&env, "result-mismatch"), 2);
    let stored_now = results(&collected);
    assert_eq!(stored_now.len(), 6, "{stored_now:?}");
    assert!(
        stored_now.iter().all(|r| expected.contains(r)),
        "{stored_now:?} vs {expected:?}"
    );
    assert_eq!(stored_rows(&env.data.join("pulsecure.db")), 10);

    // A rerun submits the two refused screenings again and reports every stored one.
    let _workers = Workers::start(&env, &url, 2);
    let rerun = env.path("rerun.json");
    let out = screen_prevent(&env, &file_arg, &url, "--quiet", &rerun);
    assert_fails(&out, 3, "2 enqueued, 0 already in the queue, 0 re-enqueued, 0 not eligible (stored as such, not queued), 10 already stored (skipped), 1 rejected");
    assert_eq!(results(&rerun), expected);
    assert_eq!(stored_rows(&env.data.join("pulsecure.db")), 12);
    env.assert_log_free_of(&["EQ-F50", "EQ-M62"]);
}
