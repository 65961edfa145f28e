//! The client checks whom it talks to on a Unix socket before sending anything: a server
//! whose process runs under another uid than the expected one (`SO_PEERCRED`), or — by
//! default — under any uid other than this user's or root's, is refused, and it receives
//! not one byte. (The tests run as root and use uid 65534, `nobody`, as the other user.)

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use pulsecure_evaluator_client::{Connection, RemoteConfig, RemoteError};
use pulsecure_rpc::EvaluatorAddress;

const NOBODY: u32 = 65534;
const IMPOSTOR: &str = "PULSECURE_TEST_IMPOSTOR_SOCKET";

fn config(socket: &Path, peer_uid: Option<u32>) -> RemoteConfig {
    let mut config = RemoteConfig::new(EvaluatorAddress::Unix(socket.to_path_buf()), None);
    config.retry_for = Duration::from_secs(1);
    config.call_timeout = Duration::from_secs(5);
    config.peer_uid = peer_uid;
    config
}

fn untrusted_reason(result: Result<Connection, RemoteError>) -> String {
    match result {
        Err(RemoteError::Untrusted { reason, .. }) => reason,
        Err(other) => panic!("expected a refusal of the peer, got: {other}"),
        Ok(_) => panic!("connected to an untrusted peer"),
    }
}

/// Accept one connection on `listener` and count the bytes the client sends before it hangs
/// up (or 5 s pass).
fn bytes_received(listener: &UnixListener) -> usize {
    let (mut stream, _) = listener.accept().expect("accept");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut received = Vec::new();
    let _ = stream.read_to_end(&mut received);
    received.len()
}

#[test]
fn a_server_under_another_uid_than_the_expected_one_is_refused_and_sent_nothing() {
    let dir = tempfile::tempdir().expect("dir");
    let socket = dir.path().join("evaluator.sock");
    let listener = UnixListener::bind(&socket).expect("listen");
    let server = std::thread::spawn(move || bytes_received(&listener));
    // This process (root) serves; the configuration expects the evaluator's own account.
    let reason = untrusted_reason(Connection::connect(config(&socket, Some(NOBODY))));
    assert!(
        reason.contains("runs as uid 0, not as the expected uid 65534"),
        "{reason}"
    );
    assert_eq!(
        server.join().expect("server"),
        0,
        "bytes reached the impostor"
    );
}

/// Run by the test below as uid 65534: listen on the socket named in the environment, then
/// report how many bytes the one client sent. Does nothing in a normal test run.
#[test]
fn impostor_helper() {
    let Some(socket) = std::env::var_os(IMPOSTOR) else {
        return;
    };
    let listener = UnixListener::bind(&socket).expect("impostor listens");
    println!("RECEIVED {}", bytes_received(&listener));
}

#[test]
fn a_server_run_by_another_user_is_refused_by_default_even_behind_a_root_owned_socket_file() {
    let root = tempfile::tempdir().expect("dir");
    std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o711)).expect("chmod");
    let theirs = root.path().join("theirs");
    std::fs::create_dir(&theirs).expect("mkdir");
    std::os::unix::fs::chown(&theirs, Some(NOBODY), Some(NOBODY)).expect("chown");
    let their_socket = theirs.join("evaluator.sock");
    let mut impostor = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "impostor_helper",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(IMPOSTOR, &their_socket)
        .uid(NOBODY)
        .gid(NOBODY)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the impostor as nobody");
    let mut waited = 0;
    while !their_socket.exists() {
        assert!(waited < 200, "the impostor did not listen");
        std::thread::sleep(Duration::from_millis(50));
        waited += 1;
    }
    // The socket file moved into a private root-owned directory and given to root: only the
    // kernel's word on the serving process (SO_PEERCRED) tells the impostor apart.
    let private = root.path().join("private");
    std::fs::create_dir(&private).expect("mkdir");
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let socket = private.join("evaluator.sock");
    std::fs::rename(&their_socket, &socket).expect("move the socket");
    std::os::unix::fs::chown(&socket, Some(0), Some(0)).expect("chown");
    let reason = untrusted_reason(Connection::connect(config(&socket, None)));
    assert!(
        reason.contains("runs as uid 65534, not as this user (uid 0) or root"),
        "{reason}"
    );
    let mut report = String::new();
    impostor
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut report)
        .expect("impostor report");
    let _ = impostor.wait();
    assert!(
        report.contains("RECEIVED 0\n"),
        "bytes reached the impostor: {report}"
    );
}

#[test]
fn a_socket_in_a_directory_others_can_write_or_own_is_refused() {
    let root = tempfile::tempdir().expect("dir");
    let open = root.path().join("open");
    std::fs::create_dir(&open).expect("mkdir");
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let _open_listener = UnixListener::bind(open.join("evaluator.sock")).expect("listen");
    let reason = untrusted_reason(Connection::connect(config(
        &open.join("evaluator.sock"),
        None,
    )));
    assert!(reason.contains("has mode 0777"), "{reason}");

    let theirs = root.path().join("theirs");
    std::fs::create_dir(&theirs).expect("mkdir");
    let _their_listener = UnixListener::bind(theirs.join("evaluator.sock")).expect("listen");
    std::os::unix::fs::chown(&theirs, Some(NOBODY), Some(NOBODY)).expect("chown");
    let reason = untrusted_reason(Connection::connect(config(
        &theirs.join("evaluator.sock"),
        None,
    )));
    assert!(reason.contains("belongs to uid 65534"), "{reason}");
}
