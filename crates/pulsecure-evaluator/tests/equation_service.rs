//! The evaluator binary serves the carried PREVENT and PCE releases beside cvd-lr, through the
//! same RPCs: its status lists them with their fingerprints and costs, and a real encrypted
//! request for one of them comes back as the accumulator the reference engine computes (for
//! the PCE: its three outputs, recombined).

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;

use pulsecure_core::domain::equation::InputValue;
use pulsecure_core::domain::equation_model::EquationModel;
use pulsecure_core::ports::fhe::Evaluator;
use pulsecure_evaluator_client::RemoteEvaluator;
use pulsecure_fhe::{equation_fingerprint, generate_keys, EquationClient};
use support::EvaluatorProcess;

fn prevent(id: &str) -> EquationModel {
    pulsecure_testkit::models::equation_model(id)
}

#[test]
fn the_evaluator_serves_prevent_and_pce_models_by_the_same_rpcs() {
    let dir = tempfile::tempdir().expect("tmp");
    let evaluator = EvaluatorProcess::start(dir.path(), &[]);
    let connection = Arc::new(evaluator.connect());
    let status = connection.status().expect("status");
    for (id, version) in [
        ("prevent-cvd-10y", 2),
        ("prevent-ascvd-10y", 2),
        ("pce-ascvd-10y", 1),
    ] {
        let model = prevent(id);
        let served = status
            .models
            .iter()
            .find(|m| m.id == id)
            .unwrap_or_else(|| panic!("{id} is not served"));
        assert_eq!(served.version, version);
        assert_eq!(served.fingerprint, equation_fingerprint(&model).to_vec());
        assert_eq!(
            (served.bootstrappings, served.levels),
            (0, 0),
            "a linear map: no bootstrapping"
        );
    }
    assert!(
        status.models.iter().any(|m| m.id == "cvd-lr"),
        "cvd-lr still served"
    );

    // One real evaluation.
    let model = prevent("prevent-cvd-10y");
    let keys = generate_keys().expect("keygen");
    connection
        .put_server_key(
            Arc::new(keys.server_key_bytes.clone()),
            &keys.key_id,
            Arc::new(|_| {}),
        )
        .expect("upload");
    let client = EquationClient::new(&model, keys.client_key.clone(), keys.key_id).expect("client");
    let n = InputValue::Number;
    let values = BTreeMap::from([
        ("age".to_string(), n(50.0)),
        ("sex".into(), InputValue::Level("female".into())),
        ("sbp".into(), n(160.0)),
        ("bp_tx".into(), n(1.0)),
        ("total_c".into(), n(200.0)),
        ("hdl_c".into(), n(45.0)),
        ("statin".into(), n(0.0)),
        ("dm".into(), n(1.0)),
        ("smoking".into(), n(0.0)),
        ("egfr".into(), n(90.0)),
    ]);
    let inputs = model.equation().check(&values).expect("valid");
    let encoded = model.encode(&inputs);
    let remote = RemoteEvaluator::new(Arc::clone(&connection), 1);
    let request = client.encrypt(&encoded).expect("encrypt");
    let response = remote.evaluate(&request).expect("evaluate");
    let accumulator = client.decrypt(&request, &response).expect("decrypt");
    let reference = model.run(&inputs);
    assert_eq!(accumulator as i64, reference.acc + model.index().offset);
    // Compressed: the outputs' bodies only (one for PREVENT), not the full ciphertext.
    assert_eq!(response.len(), 54 + 12, "a compressed PREVENT result");
    // An older client's (version-2) request is refused with the reason, not evaluated: by
    // this client before sending, and by the service when it arrives anyway.
    let older = [&b"PSQ2"[..], &request[4..]].concat();
    let err = remote.evaluate(&older).expect_err("an older client");
    assert!(err.to_string().contains("upgrade the client"), "{err}");
    let (mut raw, runtime) = connection.raw();
    let status = runtime
        .block_on(raw.evaluate(pulsecure_rpc::v1::EvaluateRequest {
            request_id: 1,
            key_id: keys.key_id.as_bytes().to_vec(),
            model_fingerprint: equation_fingerprint(&model).to_vec(),
            request: older,
        }))
        .expect_err("refused by the service");
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert!(
        status.message().contains("upgrade the client"),
        "{status:?}"
    );
    let golden: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!(
            "{}/../../models/prevent-cvd-10y/v2/golden.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .expect("golden"),
    )
    .expect("json");
    let published = &golden["vectors"][0];
    assert_eq!(published["id"], "preventr-F50-base");
    assert_eq!(
        accumulator as i64 - model.index().offset,
        published["acc"].as_i64().expect("acc"),
        "the golden vector's accumulator"
    );

    // The PCE (three encrypted outputs) by the same RPC: an African American woman of the
    // guideline's Table A.
    let pce = prevent("pce-ascvd-10y");
    let client = EquationClient::new(&pce, keys.client_key, keys.key_id).expect("client");
    let values = BTreeMap::from([
        ("age".to_string(), n(55.0)),
        ("sex".into(), InputValue::Level("female".into())),
        ("race".into(), InputValue::Level("black".into())),
        ("sbp".into(), n(120.0)),
        ("bp_tx".into(), n(0.0)),
        ("total_c".into(), n(213.0)),
        ("hdl_c".into(), n(50.0)),
        ("dm".into(), n(0.0)),
        ("smoking".into(), n(0.0)),
    ]);
    let inputs = pce.equation().check(&values).expect("valid");
    let request = client.encrypt(&pce.encode(&inputs)).expect("encrypt");
    let response = remote.evaluate(&request).expect("evaluate");
    let accumulator = client.decrypt(&request, &response).expect("decrypt");
    let reference = pce.run(&inputs);
    assert_eq!(accumulator as i64, reference.acc + pce.index().offset);
    assert_eq!(reference.probability, 303, "Table A: 3.0 %");
}
