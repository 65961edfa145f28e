//! `keys rotate` through the real binary (security review, issue 18 item 10): every row is
//! re-sealed under a new database key, and an old copy of the vault no longer reads it.

mod support;

use support::{assert_fails, assert_ok, stdout, Env};

#[test]
fn keys_rotate_reseals_every_row_and_locks_out_an_old_vault_copy() {
    let env = Env::initialized();
    support::screen_good_rows(&env, "R", 3, 3);
    let before = env.run(&["history", "--format", "csv"], true);
    assert_ok(&before);
    let old_vault = env.path("vault-before-rotation.psv");
    std::fs::copy(env.data.join("vault.psv"), &old_vault).expect("copy vault");
    let payloads = || -> Vec<Vec<u8>> {
        let conn = rusqlite::Connection::open(env.data.join("pulsecure.db")).expect("db");
        let mut stmt = conn
            .prepare("SELECT payload FROM screenings ORDER BY id")
            .expect("prepare");
        let rows = stmt
            .query_map([], |r| r.get(0))
            .expect("query")
            .collect::<Result<Vec<_>, _>>()
            .expect("rows");
        rows
    };
    let sealed_before = payloads();

    let out = env.run(&["keys", "rotate"], true);
    assert_ok(&out);
    assert!(
        stdout(&out).contains("3 screening(s) re-sealed"),
        "{}",
        stdout(&out)
    );
    let sealed_after = payloads();
    assert_eq!(sealed_after.len(), 3);
    assert!(sealed_before.iter().all(|p| !sealed_after.contains(p)));

    // Same history, same ids, under the new key.
    let after = env.run(&["history", "--format", "csv"], true);
    assert_ok(&after);
    assert_eq!(stdout(&before), stdout(&after));
    assert_ok(&env.run(&["db", "check"], true));

    // The old vault (same password) opens, but no longer reads the database.
    std::fs::copy(&old_vault, env.data.join("vault.psv")).expect("restore old vault");
    assert_fails(
        &env.run(&["history"], true),
        4,
        "different vault's data key",
    );
}
