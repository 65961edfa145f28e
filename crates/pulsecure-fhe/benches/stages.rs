//! Criterion benchmark of each stage of one encrypted evaluation, so later changes can be
//! compared stage by stage: encrypt, linear part, lookup, the result's compression
//! (keyswitch + modulus switch), decrypt. Run with `cargo bench -p pulsecure-fhe`.

use criterion::{criterion_group, criterion_main, Criterion};

use pulsecure_core::embedded_model::DEFAULT_MODEL_JSON;
use pulsecure_core::ports::fhe::{Evaluator, FheClient};
use pulsecure_core::{Model, QuantizedInput};
use pulsecure_fhe::circuit::PbsCount;
use pulsecure_fhe::result_switch::switch_block;
use pulsecure_fhe::{generate_keys, TfheClient, TfheEvaluator};

fn stages(c: &mut Criterion) {
    let model = Model::from_json(DEFAULT_MODEL_JSON).expect("valid model");
    let keys = generate_keys().expect("keygen");
    let evaluator = TfheEvaluator::new(&keys.server_key_bytes, &model).expect("evaluator");
    let client = TfheClient::new(&model, keys.client_key, keys.key_id).expect("client");
    let codes = model.features().iter().map(|f| f.max_code() / 2).collect();
    let input = QuantizedInput::from_codes(&model, codes).expect("codes");
    let request = client.encrypt(&input).expect("encrypt");
    let inputs = evaluator.decode_inputs(&request).expect("decode");
    let circuit = evaluator.circuit();
    let backend = evaluator.backend();
    let mut count = PbsCount::default();
    let index = circuit
        .linear_part(backend, &inputs, &mut count)
        .expect("linear");
    let seg = circuit.lookup(backend, &index, &mut count).expect("lookup");
    let response = evaluator.evaluate(&request).expect("evaluate");

    let mut group = c.benchmark_group("encrypted_stages");
    group.sample_size(10);
    group.bench_function("encrypt", |b| {
        b.iter(|| client.encrypt(&input).expect("encrypt"))
    });
    group.bench_function("linear_part", |b| {
        b.iter(|| {
            circuit
                .linear_part(backend, &inputs, &mut PbsCount::default())
                .expect("linear")
        })
    });
    group.bench_function("lookup", |b| {
        b.iter(|| {
            circuit
                .lookup(backend, &index, &mut PbsCount::default())
                .expect("lookup")
        })
    });
    group.bench_function("result_switch", |b| {
        b.iter(|| switch_block(backend.server_key(), &seg).expect("switch"))
    });
    group.bench_function("decrypt", |b| {
        b.iter(|| client.decrypt(&response).expect("decrypt"))
    });
    group.bench_function("whole_evaluation", |b| {
        b.iter(|| evaluator.evaluate(&request).expect("evaluate"))
    });
    group.finish();
}

criterion_group!(benches, stages);
criterion_main!(benches);
