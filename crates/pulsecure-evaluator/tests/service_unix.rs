//! The evaluator binary over its Unix socket, with real TFHE keys: status, key upload that
//! survives a restart, evaluations equal to the reference engine (unary and streamed), and
//! each kind of hostile request answered with its own status while the server stays up.

mod support;

use std::sync::Arc;

use pulsecure_core::embedded_model::DEFAULT_MODEL_JSON;
use pulsecure_core::ports::fhe::{Evaluator, FheClient, FheError};
use pulsecure_core::{Model, PatientFeatures, QuantizedInput, ReferenceEngine};
use pulsecure_evaluator_client::{RemoteError, RemoteEvaluator};
use pulsecure_fhe::{generate_keys, model_fingerprint, TfheClient};
use pulsecure_rpc::v1::{EvaluateRequest, KeyChunk};
use support::EvaluatorProcess;
use tonic::Code;

fn model() -> Model {
    Model::from_json(DEFAULT_MODEL_JSON).expect("valid")
}

fn patients(model: &Model) -> Vec<PatientFeatures> {
    // age, told_diabetes, systolic_bp, current_smoker, male, told_high_bp
    let raw: [[f64; 6]; 3] = [
        [63.0, 1.0, 142.0, 1.0, 1.0, 1.0],
        [35.0, 0.0, 112.0, 0.0, 0.0, 0.0],
        [78.0, 1.0, 165.0, 1.0, 1.0, 1.0],
    ];
    raw.iter()
        .map(|r| PatientFeatures::from_ordered(model.features(), r).expect("valid patient"))
        .collect()
}

fn refused(e: RemoteError) -> (Code, String) {
    match e {
        RemoteError::Refused { code, message } => (code, message),
        other => panic!("expected a refusal, got {other}"),
    }
}

#[test]
fn unix_socket_service_end_to_end() {
    let dir = tempfile::tempdir().expect("tmp");
    let model = model();
    let keys = generate_keys().expect("keygen");
    let key_id = keys.key_id;
    let server_key = Arc::new(keys.server_key_bytes.clone());
    let client = TfheClient::new(&model, keys.client_key, key_id).expect("client");

    let evaluator = EvaluatorProcess::start(dir.path(), &[]);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&evaluator.socket)
        .expect("socket")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o660, "socket mode");
    let connection = Arc::new(evaluator.connect());

    // Status: the embedded model with its fingerprint and cost, our parameter set.
    let status = connection.status().expect("status");
    assert_eq!(
        status.parameters,
        "PARAM_MESSAGE_2_CARRY_2_KS32_PBS_TUNIFORM_2M128"
    );
    let served = &status.models[0];
    assert_eq!(served.fingerprint, model_fingerprint(&model).to_vec());
    let plan = pulsecure_fhe::circuit::static_pbs_count(&model).expect("plan");
    assert_eq!(
        (served.bootstrappings as usize, served.levels as usize),
        (plan.total(), plan.depth)
    );
    // The embedded v3 on circuit v2 with compressed results: 33 bootstrappings in 8 levels
    // (37 in 9 with the output stage; v2: 38 in 9; v2 on circuit v1: 55 in 11).
    assert_eq!((plan.total(), plan.depth), (33, 8));

    // Before the key is uploaded: NOT_FOUND, which the port reports as the typed
    // KeyUnknown (the same condition the workstation finds at open; the hint is the
    // binary's).
    assert!(!connection.has_key(&key_id).expect("has_key"));
    let remote = RemoteEvaluator::new(Arc::clone(&connection), 2);
    let request = client
        .encrypt(&QuantizedInput::from_patient(&model, &patients(&model)[0]))
        .expect("encrypt");
    match remote.evaluate(&request) {
        Err(FheError::KeyUnknown) => {}
        other => panic!(
            "expected the missing key refused, got {:?}",
            other.map(|b| b.len())
        ),
    }

    // Hostile uploads keep nothing: garbage, and bytes that are not the announced key.
    let garbage = Arc::new(vec![7u8; 3 << 20]);
    let (code, message) = refused(
        connection
            .put_server_key(garbage, &key_id, Arc::new(|_| {}))
            .expect_err("refused"),
    );
    assert_eq!(code, Code::InvalidArgument, "{message}");
    let wrong_id = pulsecure_fhe::ServerKeyId::from_slice(&[9u8; 16]).expect("16 bytes");
    let (code, message) = refused(
        connection
            .put_server_key(Arc::clone(&server_key), &wrong_id, Arc::new(|_| {}))
            .expect_err("refused"),
    );
    assert_eq!(code, Code::InvalidArgument);
    assert!(message.contains("hash to key"), "{message}");
    assert!(!connection.has_key(&key_id).expect("has_key"));

    // The real upload, with progress reaching the key's size.
    let seen = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let progress = Arc::clone(&seen);
    let received = connection
        .put_server_key(
            Arc::clone(&server_key),
            &key_id,
            Arc::new(move |n| progress.store(n, std::sync::atomic::Ordering::Relaxed)),
        )
        .expect("upload");
    assert_eq!(received, server_key.len() as u64);
    assert_eq!(
        seen.load(std::sync::atomic::Ordering::Relaxed),
        server_key.len() as u64
    );
    assert!(connection.has_key(&key_id).expect("has_key"));

    // Evaluations equal the reference engine.
    let reference = ReferenceEngine::new(&model);
    for patient in patients(&model) {
        let request = client
            .encrypt(&QuantizedInput::from_patient(&model, &patient))
            .expect("encrypt");
        let result = client
            .decrypt(&remote.evaluate(&request).expect("evaluate"))
            .expect("decrypt");
        let expected = reference.evaluate(&patient);
        assert_eq!(result.probability_code, expected.probability_code);
        assert_eq!(result.high_risk, expected.high_risk);
    }

    // Hostile evaluations: each its own status; the server stays up.
    let (mut raw, runtime) = connection.raw();
    let fingerprint = model_fingerprint(&model).to_vec();
    let good = |request: Vec<u8>| EvaluateRequest {
        request_id: 1,
        key_id: key_id.as_bytes().to_vec(),
        model_fingerprint: fingerprint.clone(),
        request,
    };
    let mut call = |item: EvaluateRequest| {
        runtime
            .block_on(raw.evaluate(item))
            .map(|r| r.into_inner())
            .map_err(|s| (s.code(), s.message().to_string()))
    };
    let cases: Vec<(&str, EvaluateRequest, Code, &str)> = vec![
        (
            "garbage frame",
            good(vec![0xAB; 200]),
            Code::InvalidArgument,
            "wrong magic",
        ),
        (
            "truncated frame",
            good(request[..request.len() / 2].to_vec()),
            Code::InvalidArgument,
            "truncated",
        ),
        (
            // A version-2 frame from an older client, which reads only uncompressed results.
            "older client",
            good([&b"PSQ2"[..], &request[4..]].concat()),
            Code::InvalidArgument,
            "upgrade the client",
        ),
        (
            "oversized request",
            good(vec![0; 300 << 10]),
            Code::ResourceExhausted,
            "exceeds the limit",
        ),
        (
            "short key id",
            EvaluateRequest {
                key_id: vec![1, 2, 3],
                ..good(request.clone())
            },
            Code::InvalidArgument,
            "16 bytes",
        ),
        (
            "unknown key",
            EvaluateRequest {
                key_id: vec![5; 16],
                ..good(request.clone())
            },
            Code::NotFound,
            "not held",
        ),
        (
            "unknown model",
            EvaluateRequest {
                model_fingerprint: vec![3; 32],
                ..good(request.clone())
            },
            Code::FailedPrecondition,
            "0303030303",
        ),
    ];
    for (name, item, code, needle) in cases {
        let (got, message) = call(item).expect_err(name);
        assert_eq!(got, code, "{name}: {message}");
        assert!(message.contains(needle), "{name}: {message}");
    }
    // A frame whose blocks were damaged: refused by tfhe's conformance-checked reading.
    let mut damaged = request.clone();
    let at = damaged.len() - 40;
    damaged[at..].fill(0xFF);
    let (got, message) = call(good(damaged)).expect_err("damaged ciphertext");
    assert_eq!(got, Code::InvalidArgument, "{message}");
    assert!(connection.status().is_ok(), "the server is still up");

    // A stream: good and bad items, every answer matched by its request id.
    let items = vec![
        EvaluateRequest {
            request_id: 10,
            ..good(request.clone())
        },
        EvaluateRequest {
            request_id: 11,
            ..good(vec![1, 2, 3])
        },
        EvaluateRequest {
            request_id: 12,
            ..good(request.clone())
        },
    ];
    let answers = runtime.block_on(async {
        let mut stream = raw
            .evaluate_stream(tokio_stream::iter(items))
            .await
            .expect("stream")
            .into_inner();
        let mut answers = Vec::new();
        while let Some(answer) = stream.message().await.expect("item") {
            answers.push(answer);
        }
        answers
    });
    assert_eq!(answers.len(), 3);
    for answer in &answers {
        match answer.request_id {
            10 | 12 => {
                assert!(answer.error.is_none());
                assert_eq!((answer.bootstrappings, answer.levels), (33, 8));
                let result = client.decrypt(&answer.response).expect("decrypt");
                let expected = reference.evaluate(&patients(&model)[0]);
                assert_eq!(result.probability_code, expected.probability_code);
            }
            11 => {
                let error = answer.error.as_ref().expect("item error");
                assert_eq!(error.code, Code::InvalidArgument as i32);
            }
            other => panic!("unexpected request id {other}"),
        }
    }

    // A client deadline is honoured: far too short for an evaluation, it ends the call.
    let mut hurried = tonic::Request::new(good(request.clone()));
    hurried.set_timeout(std::time::Duration::from_millis(5));
    let status = runtime
        .block_on(raw.evaluate(hurried))
        .expect_err("no evaluation fits in 5 ms");
    assert!(
        matches!(status.code(), Code::DeadlineExceeded | Code::Cancelled),
        "{status:?}"
    );

    // SIGTERM while an evaluation is in flight: it finishes, then the server exits 0.
    let in_flight = {
        let (mut raw, item) = (raw.clone(), good(request.clone()));
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Runtime::new().expect("runtime");
            runtime.block_on(raw.evaluate(item)).map(|r| r.into_inner())
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(150));
    drop(connection);
    let status = evaluator.terminate();
    assert!(status.success(), "graceful exit: {status:?}");
    let finished = in_flight
        .join()
        .expect("thread")
        .expect("the in-flight evaluation finished during shutdown");
    let result = client.decrypt(&finished.response).expect("decrypt");
    assert_eq!(
        result.probability_code,
        reference.evaluate(&patients(&model)[0]).probability_code
    );

    // The key survives the restart, then can be deleted.
    let evaluator = EvaluatorProcess::start(dir.path(), &[]);
    let connection = evaluator.connect();
    assert!(connection.has_key(&key_id).expect("has_key after restart"));
    assert!(connection.delete_key(&key_id).expect("delete"));
    assert!(!connection.has_key(&key_id).expect("has_key after delete"));
    assert!(!connection.delete_key(&key_id).expect("delete again"));

    // Nothing of a request reaches the log beyond sizes, statuses and key-id prefixes.
    let log = evaluator.log_text();
    let full_id = key_id.hex();
    assert!(!log.contains(&full_id), "full key id logged");
    let _ = KeyChunk::default();
}

#[test]
fn plain_tcp_and_open_socket_directories_are_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    let output = std::process::Command::new(support::binary())
        .args(["serve", "--listen", "tcp:127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("plain TCP is refused"), "{stderr}");

    let open = dir.path().join("open");
    std::fs::create_dir(&open).expect("dir");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let output = std::process::Command::new(support::binary())
        .arg("serve")
        .arg("--listen")
        .arg(format!("unix:{}", open.join("e.sock").display()))
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("open to other users"), "{stderr}");
}

/// One ciphertext encrypted under another parameter set (1-bit blocks), framed as a request
/// for our key and model: the frame is well formed, the ciphertext is not ours.
fn other_parameter_request(
    model: &Model,
    key_id: pulsecure_fhe::ServerKeyId,
    blocks: usize,
) -> Vec<u8> {
    use tfhe::prelude::FheEncrypt;
    use tfhe::safe_serialization::safe_serialize;
    let config = tfhe::ConfigBuilder::with_custom_parameters(
        tfhe::shortint::parameters::v1_8::V1_8_PARAM_MESSAGE_1_CARRY_1_KS_PBS_TUNIFORM_2M128,
    )
    .build();
    let client_key = tfhe::ClientKey::generate(config);
    let block = {
        let ct = tfhe::CompressedFheUint2::encrypt(1u8, &client_key);
        let mut bytes = Vec::new();
        safe_serialize(&ct, &mut bytes, 1 << 20).expect("serialize");
        bytes
    };
    pulsecure_fhe::wire::write(
        pulsecure_fhe::wire::REQUEST_MAGIC,
        &model_fingerprint(model),
        &key_id,
        &vec![block; blocks],
    )
}

fn http_get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("metrics listener");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    let mut text = String::new();
    stream.read_to_string(&mut text).expect("response");
    text
}

#[test]
fn other_parameter_ciphertexts_are_refused_and_metrics_count_them() {
    let dir = tempfile::tempdir().expect("tmp");
    let model = model();
    let keys = generate_keys().expect("keygen");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port");
    let evaluator = EvaluatorProcess::start(
        dir.path(),
        &["--metrics-listen", &format!("127.0.0.1:{port}")],
    );
    let connection = Arc::new(evaluator.connect());
    connection
        .put_server_key(
            Arc::new(keys.server_key_bytes.clone()),
            &keys.key_id,
            Arc::new(|_| {}),
        )
        .expect("upload");
    let client = TfheClient::new(&model, keys.client_key, keys.key_id).expect("client");
    let ours = client
        .encrypt(&QuantizedInput::from_patient(&model, &patients(&model)[1]))
        .expect("encrypt");
    let blocks = pulsecure_fhe::wire::read(pulsecure_fhe::wire::REQUEST_MAGIC, &ours, "request")
        .expect("our frame")
        .blocks
        .len();
    let foreign = other_parameter_request(&model, keys.key_id, blocks);
    let remote = RemoteEvaluator::new(Arc::clone(&connection), 1);
    match remote.evaluate(&foreign) {
        Err(FheError::Malformed { what, reason }) => {
            assert_eq!(what, "request");
            assert!(!reason.is_empty());
        }
        other => panic!(
            "expected a malformed request, got {:?}",
            other.map(|b| b.len())
        ),
    }
    // The server is still up and evaluates ours.
    let result = client
        .decrypt(&remote.evaluate(&ours).expect("ours"))
        .expect("decrypt");
    let expected = ReferenceEngine::new(&model).evaluate(&patients(&model)[1]);
    assert_eq!(result.probability_code, expected.probability_code);

    let metrics = http_get(port, "/metrics");
    assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");
    for line in [
        "pulsecure_requests_total{method=\"Evaluate\",status=\"InvalidArgument\"} 1",
        "pulsecure_requests_total{method=\"Evaluate\",status=\"Ok\"} 1",
        "pulsecure_requests_total{method=\"PutServerKey\",status=\"Ok\"} 1",
        "pulsecure_evaluation_seconds_count 1",
        "pulsecure_bootstrappings_total 33",
        "pulsecure_cached_keys 1",
        "pulsecure_stored_keys 1",
        "pulsecure_queue_depth 0",
    ] {
        assert!(metrics.contains(line), "missing `{line}` in:\n{metrics}");
    }
}
