//! A proxy in front of a real evaluator that answers every evaluation with the first answer
//! it saw (another patient's result, replayed under the new request id). The clinician's
//! program refuses each replayed result that is not this patient's: nothing wrong is stored,
//! the refusal is audited, the command exits 4 and a batch goes on with its other rows.

mod support;

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use hyper_util::rt::TokioIo;
use pulsecure_rpc::v1::evaluator_client::EvaluatorClient;
use pulsecure_rpc::v1::evaluator_server::{Evaluator as EvaluatorRpc, EvaluatorServer};
use pulsecure_rpc::v1::{
    DeleteKeyResponse, EvaluateRequest, EvaluateResponse, GetStatusRequest, GetStatusResponse,
    HasKeyResponse, KeyChunk, KeyRef, PutServerKeyResponse,
};
use support::{assert_fails, assert_ok, audit_events, stored_rows, Env, Evaluator};
use tokio::net::{UnixListener, UnixStream};
use tokio_stream::{Stream, StreamExt};
use tonic::transport::{Channel, Endpoint, Server, Uri};
use tonic::{Request, Response, Status, Streaming};

/// Forwards everything to the real evaluator, but replaces every evaluation result after the
/// first with the first one.
struct ReplayingProxy {
    upstream: EvaluatorClient<Channel>,
    first: Arc<Mutex<Option<Vec<u8>>>>,
}

fn replay(first: &Mutex<Option<Vec<u8>>>, response: &mut EvaluateResponse) {
    if response.response.is_empty() {
        return;
    }
    let mut first = first.lock().expect("not poisoned");
    match first.as_ref() {
        Some(bytes) => response.response = bytes.clone(),
        None => *first = Some(response.response.clone()),
    }
}

type Answers = Pin<Box<dyn Stream<Item = Result<EvaluateResponse, Status>> + Send>>;

#[tonic::async_trait]
impl EvaluatorRpc for ReplayingProxy {
    async fn get_status(
        &self,
        request: Request<GetStatusRequest>,
    ) -> Result<Response<GetStatusResponse>, Status> {
        self.upstream.clone().get_status(request.into_inner()).await
    }

    async fn has_key(&self, request: Request<KeyRef>) -> Result<Response<HasKeyResponse>, Status> {
        self.upstream.clone().has_key(request.into_inner()).await
    }

    async fn put_server_key(
        &self,
        _request: Request<Streaming<KeyChunk>>,
    ) -> Result<Response<PutServerKeyResponse>, Status> {
        Err(Status::unimplemented("register with the real evaluator"))
    }

    async fn delete_key(
        &self,
        _request: Request<KeyRef>,
    ) -> Result<Response<DeleteKeyResponse>, Status> {
        Err(Status::unimplemented("not proxied"))
    }

    async fn evaluate(
        &self,
        request: Request<EvaluateRequest>,
    ) -> Result<Response<EvaluateResponse>, Status> {
        let mut answer = self
            .upstream
            .clone()
            .evaluate(request.into_inner())
            .await?
            .into_inner();
        replay(&self.first, &mut answer);
        Ok(Response::new(answer))
    }

    type EvaluateStreamStream = Answers;

    async fn evaluate_stream(
        &self,
        request: Request<Streaming<EvaluateRequest>>,
    ) -> Result<Response<Answers>, Status> {
        let requests = request.into_inner().filter_map(Result::ok);
        let answers = self
            .upstream
            .clone()
            .evaluate_stream(requests)
            .await?
            .into_inner();
        let first = Arc::clone(&self.first);
        let replayed = answers.map(move |item| {
            item.map(|mut answer| {
                replay(&first, &mut answer);
                answer
            })
        });
        Ok(Response::new(Box::pin(replayed)))
    }
}

/// Start the proxy on `dir/proxy/evaluator.sock` in front of the evaluator at `upstream`;
/// the runtime serving it lives as long as the returned value.
fn start_proxy(dir: &Path, upstream: PathBuf) -> (tokio::runtime::Runtime, PathBuf) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let proxy_dir = dir.join("proxy");
    std::fs::create_dir_all(&proxy_dir).expect("proxy dir");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&proxy_dir, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let socket = proxy_dir.join("evaluator.sock");
    let listener = {
        let _guard = runtime.enter();
        UnixListener::bind(&socket).expect("bind the proxy")
    };
    runtime.spawn(async move {
        let channel =
            Endpoint::from_static("http://evaluator.invalid")
                .connect_with_connector(tower::service_fn(move |_: Uri| {
                    let path = upstream.clone();
                    async move {
                        Ok::<_, std::io::Error>(TokioIo::new(UnixStream::connect(path).await?))
                    }
                }))
                .await
                .expect("the real evaluator");
        let proxy = ReplayingProxy {
            upstream: EvaluatorClient::new(channel),
            first: Arc::new(Mutex::new(None)),
        };
        Server::builder()
            .add_service(EvaluatorServer::new(proxy))
            .serve_with_incoming(tokio_stream::wrappers::UnixListenerStream::new(listener))
            .await
            .expect("proxy serves");
    });
    (runtime, socket)
}

fn through(env: &Env, socket: &Path, args: &[&str]) -> std::process::Output {
    env.command()
        .env("PULSECURE_EVALUATOR", format!("unix:{}", socket.display()))
        .args(args)
        .arg("--password-file")
        .arg(&env.password_file)
        .output()
        .expect("runs")
}

const LOW: &str = r#"{"patient_id": "REPLAY-LOW", "known_cvd": 0, "age": 30, "told_diabetes": 0,
    "systolic_bp": 105, "current_smoker": 0, "male": 0, "told_high_bp": 0}"#;
const HIGH: &str = r#"{"patient_id": "REPLAY-HIGH", "known_cvd": 0, "age": 79, "told_diabetes": 1,
    "systolic_bp": 175, "current_smoker": 1, "male": 1, "told_high_bp": 1}"#;

#[test]
fn replayed_results_are_refused_audited_and_never_stored() {
    let env = Env::initialized();
    let evaluator = Evaluator::start(env.tmp.path());
    assert_ok(&through(&env, &evaluator.socket, &["keys", "register"]));
    let (_runtime, proxy) = start_proxy(env.tmp.path(), evaluator.socket.clone());

    // The first answer is the low-risk patient's own, and is stored.
    let low = env.write("low.json", LOW.as_bytes());
    let out = through(
        &env,
        &proxy,
        &["screen", "--json", &format!("@{}", low.display()), "-q"],
    );
    assert_ok(&out);
    assert_eq!(stored_rows(&env.data.join("pulsecure.db")), 1);

    // The high-risk patient gets the low-risk answer replayed: refused, exit 4.
    let high = env.write("high.json", HIGH.as_bytes());
    let out = through(
        &env,
        &proxy,
        &["screen", "--json", &format!("@{}", high.display()), "-q"],
    );
    assert_fails(&out, 4, "differs from the reference engine");
    assert_eq!(stored_rows(&env.data.join("pulsecure.db")), 1);
    assert_eq!(audit_events(&env, "result-mismatch"), 1);

    // A batch: the rows whose own result is not the replayed one are refused and reported,
    // the others stored, and the batch runs to its end.
    let batch = env.write(
        "batch.jsonl",
        format!(
            "{}\n{}\n{}\n",
            LOW.replace("REPLAY-LOW", "B-LOW").replace('\n', " "),
            HIGH.replace("REPLAY-HIGH", "B-HIGH").replace('\n', " "),
            HIGH.replace("REPLAY-HIGH", "B-HIGH-2")
                .replace("\"age\": 79", "\"age\": 70")
                .replace('\n', " "),
        )
        .as_bytes(),
    );
    let errors = env.path("refused.csv");
    let results = env.path("results.csv");
    let out = through(
        &env,
        &proxy,
        &[
            "screen",
            "--batch",
            &batch.display().to_string(),
            "--out",
            &results.display().to_string(),
            "--errors",
            &errors.display().to_string(),
            "-q",
        ],
    );
    assert_fails(&out, 4, "2 result(s) were refused");
    let refused = std::fs::read_to_string(&errors).expect("errors file");
    assert!(
        refused.contains("B-HIGH,") && refused.contains("B-HIGH-2,"),
        "{refused}"
    );
    assert_eq!(
        refused.matches("differs from the reference engine").count(),
        2
    );
    let stored = std::fs::read_to_string(&results).expect("results file");
    assert!(stored.contains("B-LOW"), "{stored}");
    assert_eq!(stored_rows(&env.data.join("pulsecure.db")), 2);
    assert_eq!(audit_events(&env, "result-mismatch"), 3);
    env.assert_log_free_of(&["REPLAY-HIGH", "B-HIGH"]);
}
