//! A real server on port 0 in a temp dir, plus clients: the REST API, rumqttc, raw TLS.
//! The server runs in the test process, or (for the hostile battery) as the real binary in
//! its own process, so its memory and its survival can be observed from outside.

// The battery binary includes this file too and uses only part of it.
#![allow(dead_code)]

use std::net::{IpAddr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::BytesMut;
use ferrohub::client::{ApiClient, segment, tls_config};
use ferrohub::connection_string::ServiceConnectionString;
use ferrohub::pki::ensure_dev_identity;
use ferrohub::server::{Listeners, RunningServer, ServerOptions, start};
use ferrohub_gateway::shutdown::{ShutdownTrigger, channel};
use ferrohub_mqtt::{Connect, Limits, Packet, decode, encode};
use hyper::Method;
use rustls_pki_types::ServerName;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

pub const HOST: &str = "localhost";

/// Device ids of the battery's canaries start with this.
pub const CANARY_PREFIX: &str = "canary-";

/// A TCP connection to `to` from `from` (a loopback address), or from the kernel's choice;
/// without Nagle's algorithm, as devices' MQTT stacks run.
pub async fn connect_from(from: Option<IpAddr>, to: SocketAddr) -> std::io::Result<TcpStream> {
    let tcp = match from {
        None => TcpStream::connect(to).await?,
        Some(ip) => {
            let socket = tokio::net::TcpSocket::new_v4()?;
            socket.bind(SocketAddr::new(ip, 0))?;
            socket.connect(to).await?
        }
    };
    tcp.set_nodelay(true)?;
    Ok(tcp)
}

pub struct TestServer {
    pub dir: tempfile::TempDir,
    pub mqtt_addr: SocketAddr,
    pub https_addr: SocketAddr,
    pub owner: ServiceConnectionString,
    trigger: ShutdownTrigger,
    running: Option<RunningServer>,
    /// The `ferrohub serve` process, when the server runs as the real binary.
    child: Mutex<Option<Child>>,
    /// The loopback address raw connections come from (None: the kernel's choice,
    /// 127.0.0.1). The battery gives each case its own, so one case's failed attempts never
    /// get the next case's connections throttled.
    source: Mutex<Option<IpAddr>>,
}

/// The soft limit on open files, after raising it (see `raise_open_file_limit`).
pub fn open_file_limit() -> u64 {
    raise_open_file_limit();
    rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(u64::MAX)
}

/// Raises this process's soft limit on open files to its hard limit, once. Some tests hold
/// thousands of sockets at a time (1,000 concurrent REST calls, both ends in this process
/// when the server runs in process), more than a default soft limit of 1,024 allows. A
/// server started as a child process inherits the raised limit.
fn raise_open_file_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    static RAISED: std::sync::Once = std::sync::Once::new();
    RAISED.call_once(|| {
        let mut limit = getrlimit(Resource::Nofile);
        if limit.current < limit.maximum {
            limit.current = limit.maximum;
            let _ = setrlimit(Resource::Nofile, limit);
        }
    });
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_in(tempfile::tempdir().unwrap()).await
    }

    pub async fn start_in(dir: tempfile::TempDir) -> Self {
        Self::start_with(dir, |_| {}).await
    }

    /// A server in `dir` whose options `adjust` changes first (an IP filter, a shorter
    /// write timeout ...).
    pub async fn start_with(
        dir: tempfile::TempDir,
        adjust: impl FnOnce(&mut ServerOptions),
    ) -> Self {
        raise_open_file_limit();
        let mqtt = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let https = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (mqtt_addr, https_addr) = (mqtt.local_addr().unwrap(), https.local_addr().unwrap());
        let hostnames = vec![HOST.to_owned(), "alias.local".to_owned()];
        let identity = ensure_dev_identity(dir.path(), &hostnames).unwrap();
        let mut options = ServerOptions {
            data_dir: dir.path().to_path_buf(),
            hostnames,
            telemetry_partitions: 4,
            telemetry_retention: Duration::from_secs(86_400),
            telemetry_journal_mib: ferrohub::config::DEFAULT_JOURNAL_MIB,
            identity,
            ip_filter: Default::default(),
            write_timeout: Default::default(),
        };
        adjust(&mut options);
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
        Self {
            dir,
            mqtt_addr,
            https_addr,
            owner,
            trigger,
            running: Some(running),
            child: Mutex::new(None),
            source: Mutex::new(None),
        }
    }

    /// Runs the real `ferrohub serve` binary on port 0 in a new data directory; its stderr
    /// goes to `<data-dir>/server.stderr` (see `server_stderr`).
    pub async fn spawn_binary() -> Self {
        raise_open_file_limit();
        let dir = tempfile::tempdir().unwrap();
        let stderr = std::fs::File::create(dir.path().join("server.stderr")).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_ferrohub"))
            .args(["serve", "--mqtt-port", "0", "--https-port", "0"])
            .args(["--bind", "127.0.0.1", "--hostname", HOST])
            .args(["--hostname", "alias.local", "--data-dir"])
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap();
        // `serve` records the ports it bound once the hub is ready.
        let record = dir.path().join("server.json");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let ports = loop {
            if let Ok(bytes) = std::fs::read(&record)
                && let Ok(v) = serde_json::from_slice::<Value>(&bytes)
            {
                break v;
            }
            if tokio::time::Instant::now() > deadline || child.try_wait().unwrap().is_some() {
                let _ = child.kill();
                panic!("ferrohub serve did not start");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        let port = |name: &str| u16::try_from(ports[name].as_u64().unwrap()).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_ferrohub"))
            .args(["hub", "connection-string", "--data-dir"])
            .arg(dir.path())
            .output()
            .unwrap();
        let owner = ServiceConnectionString::parse(&String::from_utf8(out.stdout).unwrap())
            .expect("the owner connection string");
        let (trigger, _) = channel();
        Self {
            mqtt_addr: SocketAddr::from(([127, 0, 0, 1], port("mqttPort"))),
            https_addr: SocketAddr::from(([127, 0, 0, 1], port("httpsPort"))),
            dir,
            owner,
            trigger,
            running: None,
            child: Mutex::new(Some(child)),
            source: Mutex::new(None),
        }
    }

    /// The in-process hub (not available when the server runs as the binary).
    pub fn hub(&self) -> &ferrohub_core::Hub {
        &self
            .running
            .as_ref()
            .expect("this test needs the in-process server")
            .hub
    }

    /// The server process's id, when it runs as the binary.
    pub fn pid(&self) -> Option<u32> {
        self.child.lock().unwrap().as_ref().map(Child::id)
    }

    /// True while the server process runs (always, in process).
    pub fn is_alive(&self) -> bool {
        self.child
            .lock()
            .unwrap()
            .as_mut()
            .is_none_or(|c| c.try_wait().unwrap().is_none())
    }

    /// `/proc/<server>/`: the server's process, which is this one when it runs in process.
    fn proc_dir(&self) -> String {
        self.pid()
            .map_or_else(|| "/proc/self".to_owned(), |pid| format!("/proc/{pid}"))
    }

    /// The server process's resident memory (this process's, when in process), in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("{}/status", self.proc_dir())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    /// How many file descriptors the server process holds (this process's, in process).
    pub fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("{}/fd", self.proc_dir()))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    /// What the server process wrote to stderr so far.
    pub fn server_stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.stderr")).unwrap_or_default()
    }

    /// Raw connections come from `ip` from now on (a loopback address), or from the
    /// kernel's choice with None.
    pub fn set_source(&self, ip: Option<IpAddr>) {
        *self.source.lock().unwrap() = ip;
    }

    pub fn source(&self) -> Option<IpAddr> {
        *self.source.lock().unwrap()
    }

    /// A TCP connection to the MQTT port from the current source address.
    pub async fn tcp(&self) -> std::io::Result<TcpStream> {
        connect_from(self.source(), self.mqtt_addr).await
    }

    /// Stops the server gracefully and returns its data directory for a restart. The
    /// binary gets SIGTERM and must exit with status 0.
    pub async fn stop(mut self) -> tempfile::TempDir {
        self.trigger.fire();
        if let Some(r) = self.running.take() {
            r.wait().await;
        }
        let child = self.child.lock().unwrap().take();
        if let Some(mut child) = child {
            let status = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status()
                .unwrap();
            assert!(status.success(), "kill -TERM failed");
            let exit = tokio::task::spawn_blocking(move || child.wait())
                .await
                .unwrap()
                .unwrap();
            assert!(exit.success(), "ferrohub serve exited with {exit}");
        }
        self.dir
    }

    pub fn ca(&self) -> std::path::PathBuf {
        self.dir.path().join("ca.pem")
    }

    pub fn api(&self) -> ApiClient {
        self.api_as(self.owner.clone())
    }

    /// A client with other credentials; TLS still verifies the test certificate's name.
    pub fn api_as(&self, credentials: ServiceConnectionString) -> ApiClient {
        let mut client =
            ApiClient::new(credentials, self.https_addr.to_string(), &self.ca()).unwrap();
        client.server_name = HOST.to_owned();
        client
    }

    pub fn policy(&self, name: &str) -> ServiceConnectionString {
        if self.running.is_none() {
            // The binary's data directory, read by the CLI as a user would.
            let out = Command::new(env!("CARGO_BIN_EXE_ferrohub"))
                .args(["hub", "connection-string", "--policy", name, "--data-dir"])
                .arg(self.dir.path())
                .output()
                .unwrap();
            return ServiceConnectionString::parse(&String::from_utf8(out.stdout).unwrap())
                .expect("the policy's connection string");
        }
        let p = self
            .hub()
            .directory()
            .policy(self.hub().default_hub(), name)
            .unwrap();
        ServiceConnectionString {
            host_name: HOST.to_owned(),
            key_name: p.name,
            key: p.primary_key,
        }
    }

    /// Creates a device with generated keys; returns its primary key.
    pub async fn create_device(&self, id: &str) -> String {
        let r = self
            .api()
            .call_ok(
                Method::PUT,
                &format!("/devices/{}", segment(id)),
                Some(json!({"deviceId": id})),
            )
            .await
            .unwrap();
        r.json().unwrap()["authentication"]["symmetricKey"]["primaryKey"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub async fn create_module(&self, device: &str, module: &str) -> String {
        let r = self
            .api()
            .call_ok(
                Method::PUT,
                &format!("/devices/{}/modules/{}", segment(device), segment(module)),
                Some(json!({"deviceId": device, "moduleId": module})),
            )
            .await
            .unwrap();
        r.json().unwrap()["authentication"]["symmetricKey"]["primaryKey"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// A raw TLS connection to the MQTT port, for byte-level tests.
    pub async fn raw(&self) -> RawClient {
        self.raw_from(self.source()).await
    }

    /// A raw TLS connection to the MQTT port from `ip` (a loopback address).
    pub async fn raw_from(&self, ip: Option<IpAddr>) -> RawClient {
        RawClient {
            tls: self.tls_from(ip, self.mqtt_addr).await,
            buf: BytesMut::new(),
        }
    }

    /// A TLS session to `addr` (the MQTT or the HTTPS port) from source address `ip`,
    /// trusting this server's CA and naming `HOST`.
    pub async fn tls_from(&self, ip: Option<IpAddr>, addr: SocketAddr) -> TlsStream<TcpStream> {
        let tcp = connect_from(ip, addr).await.unwrap();
        TlsConnector::from(tls_config(&self.ca()).unwrap())
            .connect(ServerName::try_from(HOST).unwrap(), tcp)
            .await
            .unwrap()
    }

    /// IoT Hub's count of connected devices (`GET /statistics/service`).
    pub async fn connected_devices(&self) -> u64 {
        get_json(&self.api(), "/statistics/service").await["connectedDeviceCount"]
            .as_u64()
            .unwrap()
    }

    /// How many telemetry messages of `device` (its modules included) the default hub's
    /// log holds, read over REST up to the log's current end (`until=now`).
    pub async fn telemetry_count(&self, device: &str) -> usize {
        let r = self
            .api()
            .call_ok(
                Method::GET,
                &format!(
                    "/ferrohub/telemetry?from=earliest&until=now&deviceId={}",
                    segment(device)
                ),
                None,
            )
            .await
            .unwrap();
        r.body
            .split(|b| *b == b'\n')
            .filter(|line| !line.iter().all(u8::is_ascii_whitespace))
            .count()
    }

    /// Reads `count` telemetry events of `device` from the earliest, waiting at most 10 s.
    pub async fn events(&self, device: &str, count: usize) -> Vec<Value> {
        use http_body_util::BodyExt;
        let path = format!(
            "/ferrohub/telemetry?from=earliest&deviceId={}",
            segment(device)
        );
        let response = self.api().send(Method::GET, &path, None).await.unwrap();
        assert!(
            response.status().is_success(),
            "stream status {}",
            response.status()
        );
        let mut body = response.into_body();
        let mut pending = Vec::new();
        let mut events = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while events.len() < count {
            let frame = tokio::time::timeout_at(deadline, body.frame())
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "only {} of {count} events for {device}: {events:?}",
                        events.len()
                    )
                });
            let data = frame.unwrap().unwrap().into_data().unwrap_or_default();
            pending.extend_from_slice(&data);
            while let Some(pos) = pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = pending.drain(..=pos).collect();
                if !line.iter().all(u8::is_ascii_whitespace) {
                    events.push(serde_json::from_slice(&line).unwrap());
                }
            }
        }
        events
    }
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A device SAS token valid for `ttl` seconds.
pub fn device_token(device: &str, key: &str, ttl: i64) -> String {
    let expiry = (i64::try_from(unix_now()).unwrap() + ttl).max(0) as u64;
    ferrohub_protocol::sas::sign(&format!("{HOST}/devices/{device}"), key, expiry, None).unwrap()
}

pub fn connect_packet(client_id: &str, token: Option<String>) -> Packet {
    Packet::Connect(Connect {
        protocol_level: 4,
        clean_session: false,
        keep_alive: 60,
        client_id: client_id.to_owned(),
        will: None,
        username: Some(format!("{HOST}/{client_id}/?api-version=2021-04-12")),
        password: token.map(Into::into),
    })
}

/// A CONNECT as `client_id` with a valid token (one hour), changed by `adjust` (keep-alive,
/// Will, clean session, user name ...), for tests about one CONNECT field.
pub fn connect_adjusted(client_id: &str, key: &str, adjust: impl FnOnce(&mut Connect)) -> Packet {
    let Packet::Connect(mut connect) =
        connect_packet(client_id, Some(device_token(client_id, key, 3600)))
    else {
        unreachable!("connect_packet builds a CONNECT")
    };
    adjust(&mut connect);
    Packet::Connect(connect)
}

/// A byte-level client: send anything, read packets, observe the close.
pub struct RawClient {
    pub tls: TlsStream<TcpStream>,
    pub buf: BytesMut,
}

/// What the server did next.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    Packet(Packet),
    Closed,
}

impl RawClient {
    pub async fn send_bytes(&mut self, bytes: &[u8]) {
        // The server may already have closed; a failed write shows up as Closed on read.
        let _ = self.tls.write_all(bytes).await;
        let _ = self.tls.flush().await;
    }

    /// A PUBLISH without DUP or RETAIN.
    pub async fn publish(
        &mut self,
        topic: impl Into<String>,
        qos: ferrohub_mqtt::QoS,
        packet_id: Option<u16>,
        payload: bytes::Bytes,
    ) {
        self.send(&Packet::Publish(ferrohub_mqtt::Publish {
            dup: false,
            qos,
            retain: false,
            topic: topic.into(),
            packet_id,
            payload,
        }))
        .await;
    }

    /// A QoS 1 PUBLISH; asserts that its PUBACK is the next packet.
    pub async fn publish_acked(
        &mut self,
        topic: impl Into<String>,
        packet_id: u16,
        payload: impl Into<bytes::Bytes>,
    ) {
        self.publish(
            topic,
            ferrohub_mqtt::QoS::AtLeastOnce,
            Some(packet_id),
            payload.into(),
        )
        .await;
        assert_eq!(
            self.next().await,
            Next::Packet(Packet::PubAck(packet_id)),
            "the PUBACK of packet {packet_id}"
        );
    }

    pub async fn send(&mut self, packet: &Packet) {
        let mut out = BytesMut::new();
        encode(packet, &mut out).unwrap();
        self.send_bytes(&out).await;
    }

    /// The next packet, or Closed; panics if neither happens within `within`.
    pub async fn next_within(&mut self, within: Duration) -> Next {
        let limits = Limits::default();
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match decode(&mut self.buf, &limits) {
                Ok(Some(p)) => return Next::Packet(p),
                Ok(None) => {}
                Err(e) => panic!("the server sent bytes we cannot decode: {e}"),
            }
            let mut chunk = [0u8; 4096];
            match tokio::time::timeout_at(deadline, self.tls.read(&mut chunk)).await {
                Err(_) => panic!("the server neither answered nor closed within {within:?}"),
                Ok(Ok(0)) | Ok(Err(_)) => return Next::Closed,
                Ok(Ok(n)) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    pub async fn next(&mut self) -> Next {
        self.next_within(Duration::from_secs(5)).await
    }

    /// CONNECT as `device` (CleanSession=0) with a valid token; asserts CONNACK 0 with the
    /// given session-present flag.
    pub async fn connect_expecting_session(&mut self, device: &str, key: &str, present: bool) {
        self.send(&connect_packet(device, Some(device_token(device, key, 60))))
            .await;
        assert_eq!(
            self.next().await,
            Next::Packet(Packet::ConnAck(ferrohub_mqtt::ConnAck {
                session_present: present,
                code: ferrohub_mqtt::ConnectReturnCode::Accepted,
            })),
            "CONNACK 0 with session present = {present}"
        );
    }

    /// CONNECT as `device` with a valid token; asserts CONNACK 0.
    pub async fn connect_as(&mut self, device: &str, key: &str) {
        self.send(&connect_packet(
            device,
            Some(device_token(device, key, 3600)),
        ))
        .await;
        match self.next().await {
            Next::Packet(Packet::ConnAck(a)) => {
                assert_eq!(a.code, ferrohub_mqtt::ConnectReturnCode::Accepted)
            }
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }
}

/// The JSON body of a successful GET of `path`.
pub async fn get_json(api: &ApiClient, path: &str) -> Value {
    api.call_ok(Method::GET, path, None)
        .await
        .unwrap()
        .json()
        .unwrap()
}

/// The status of a GET of `path` (the body is read and dropped).
pub async fn get_status(api: &ApiClient, path: &str) -> hyper::StatusCode {
    api.call(Method::GET, path, None).await.unwrap().status
}

/// A rumqttc client connected as a device over TLS.
pub fn rumqttc_device(
    server: &TestServer,
    client_id: &str,
    token: String,
    clean: bool,
) -> (rumqttc::AsyncClient, rumqttc::EventLoop) {
    let mut options = rumqttc::MqttOptions::new(client_id, HOST, server.mqtt_addr.port());
    options.set_credentials(format!("{HOST}/{client_id}/?api-version=2021-04-12"), token);
    options.set_clean_session(clean);
    options.set_keep_alive(Duration::from_secs(30));
    options.set_max_packet_size(300 * 1024, 300 * 1024);
    options.set_transport(rumqttc::Transport::tls_with_config(
        rumqttc::TlsConfiguration::Rustls(tls_config(&server.ca()).unwrap()),
    ));
    // rumqttc dials the host name; localhost resolves to 127.0.0.1 where the server listens.
    rumqttc::AsyncClient::new(options, 64)
}

/// Polls the event loop until `pred` accepts an event; fails after 10 s.
pub async fn wait_for(
    eventloop: &mut rumqttc::EventLoop,
    mut pred: impl FnMut(&rumqttc::Event) -> bool,
) -> rumqttc::Event {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let event = tokio::time::timeout_at(deadline, eventloop.poll())
            .await
            .expect("timed out waiting for an MQTT event")
            .expect("the MQTT connection failed");
        if pred(&event) {
            return event;
        }
    }
}

/// A REST answer, status and JSON body.
pub struct Sent {
    pub status: hyper::StatusCode,
    pub body: Value,
}
