//! The bench against a real ferrohub started in-process on port 0: a few devices and
//! messages, enough to prove the whole path (REST provisioning, TLS, SAS sign-in, QoS 1
//! publishing, idle holding, twin requests, method calls, C2D, cleanup) works, and fast
//! enough for every test run.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use clap::Parser;
use ferrohub::client::ApiClient;
use ferrohub::connection_string::ServiceConnectionString;
use ferrohub::pki::ensure_dev_identity;
use ferrohub::server::{Listeners, ServerOptions, start};
use ferrohub_bench::cli::Cli;
use ferrohub_gateway::shutdown::channel;
use hyper::Method;
use tokio::net::TcpListener;

const HOST: &str = "localhost";

struct Server {
    dir: tempfile::TempDir,
    owner: String,
    mqtt: String,
    https: String,
}

async fn start_server() -> (Server, ferrohub_gateway::shutdown::ShutdownTrigger) {
    let dir = tempfile::tempdir().unwrap();
    let mqtt = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let https = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (mqtt_addr, https_addr) = (mqtt.local_addr().unwrap(), https.local_addr().unwrap());
    let hostnames = vec![HOST.to_owned()];
    let options = ServerOptions {
        data_dir: dir.path().to_path_buf(),
        identity: ensure_dev_identity(dir.path(), &hostnames).unwrap(),
        hostnames,
        telemetry_partitions: 1,
        telemetry_retention: Duration::from_secs(3600),
        telemetry_journal_mib: ferrohub::config::DEFAULT_JOURNAL_MIB,
        ip_filter: Default::default(),
        write_timeout: Default::default(),
    };
    let (trigger, shutdown) = channel();
    let running = start(options, Listeners { mqtt, https }, shutdown)
        .await
        .unwrap();
    let policy = running
        .hub
        .directory()
        .policy(running.hub.default_hub(), "iothubowner")
        .unwrap();
    let owner = ServiceConnectionString {
        host_name: HOST.to_owned(),
        key_name: policy.name,
        key: policy.primary_key,
    };
    let server = Server {
        dir,
        owner: owner.to_text(),
        mqtt: mqtt_addr.to_string(),
        https: https_addr.to_string(),
    };
    (server, trigger)
}

fn cli(server: &Server, scenario: &[&str]) -> Cli {
    let ca = server.dir.path().join("ca.pem");
    let pid = std::process::id().to_string();
    let mut args = vec!["ferrohub-bench"];
    args.extend(scenario);
    args.extend([
        "--hub-connection-string",
        &server.owner,
        "--api-address",
        &server.https,
        "--mqtt-address",
        &server.mqtt,
        "--ca",
        ca.to_str().unwrap(),
        "--server-pid",
        &pid,
    ]);
    let cli = Cli::try_parse_from(args).unwrap();
    cli.validate().unwrap();
    cli
}

async fn device_count(server: &Server) -> usize {
    let owner = ServiceConnectionString::parse(&server.owner).unwrap();
    let api = ApiClient::new(
        owner,
        server.https.clone(),
        &server.dir.path().join("ca.pem"),
    )
    .unwrap();
    let list = api.call_ok(Method::GET, "/devices", None).await.unwrap();
    list.json().unwrap().as_array().unwrap().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telemetry_and_idle_runs_succeed_and_clean_up() {
    let (server, trigger) = start_server().await;

    let telemetry = cli(
        &server,
        &[
            "telemetry",
            "--devices",
            "2",
            "--messages",
            "10",
            "--inflight",
            "3",
            "--size",
            "32",
        ],
    );
    let report = ferrohub_bench::run(telemetry).await.unwrap();
    assert_eq!(report.errors.total(), 0, "{:?}", report.errors);
    assert_eq!(report.connected, 2);
    assert_eq!(report.acked, Some(20));
    assert_eq!(report.latency.unwrap().count, 20);
    let usage = report.server.clone().unwrap();
    assert!(usage.cpu_us_per_message.is_some() && usage.peak_rss_kib.is_some());
    assert_eq!(report.to_json()["acked"], 20);

    let idle = cli(&server, &["idle", "--devices", "3", "--hold", "1"]);
    let report = ferrohub_bench::run(idle).await.unwrap();
    assert_eq!(report.errors.total(), 0, "{:?}", report.errors);
    assert_eq!(report.connected, 3);
    assert!(report.server.unwrap().rss_per_connection_bytes.is_some());

    // Both runs deleted the devices they created.
    assert_eq!(device_count(&server).await, 0);
    trigger.fire();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twin_method_and_c2d_runs_succeed_and_clean_up() {
    let (server, trigger) = start_server().await;

    let twin = cli(
        &server,
        &["twin", "--devices", "2", "--ops", "10", "--inflight", "3"],
    );
    let report = ferrohub_bench::run(twin).await.unwrap();
    assert_eq!(report.errors.total(), 0, "{:?}", report.errors);
    let ops = report.operations.clone().unwrap();
    assert_eq!((ops.completed, ops.failed), (20, 0));
    // GETs and PATCHes alternate: 10 of each.
    let kinds: Vec<_> = ops.breakdown.iter().map(|(n, l)| (*n, l.count)).collect();
    assert_eq!(kinds, vec![("GET", 10), ("PATCH", 10)]);
    assert!(report.server.unwrap().cpu_us_per_message.is_some());

    let method = cli(
        &server,
        &[
            "method",
            "--devices",
            "2",
            "--rate",
            "200",
            "--calls",
            "20",
            "--connections",
            "2",
        ],
    );
    let report = ferrohub_bench::run(method).await.unwrap();
    assert_eq!(report.errors.total(), 0, "{:?}", report.errors);
    let ops = report.operations.clone().unwrap();
    assert_eq!((ops.completed, ops.target_per_second), (20, Some(200.0)));
    assert_eq!(report.to_json()["operations"]["completed"], 20);

    let c2d = cli(
        &server,
        &[
            "c2d",
            "--devices",
            "2",
            "--messages",
            "15",
            "--outstanding",
            "4",
            "--connections",
            "2",
        ],
    );
    let report = ferrohub_bench::run(c2d).await.unwrap();
    assert_eq!(report.errors.total(), 0, "{:?}", report.errors);
    let ops = report.operations.unwrap();
    assert_eq!(ops.completed, 30);
    assert_eq!(ops.breakdown[0].1.count, 30);

    assert_eq!(device_count(&server).await, 0);
    trigger.fire();
}
