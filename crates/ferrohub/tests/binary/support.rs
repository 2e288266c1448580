//! Runs the real `ferrohub` binary on port 0 in a data directory.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use ferrohub::connection_string::ServiceConnectionString;

pub struct Server {
    pub child: Child,
    pub mqtt_port: u16,
    pub https_port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn start(dir: &Path) -> Server {
    start_command(dir, Command::new(env!("CARGO_BIN_EXE_ferrohub")))
}

/// Starts the server with a soft limit on the size of any file it writes (RLIMIT_FSIZE,
/// via util-linux `prlimit`): a write past it fails with EFBIG, as on a full disk. SIGXFSZ
/// is ignored (a shell's `trap ''` survives `exec`), so the write fails instead of killing
/// the process. `prlimit --pid` can raise the soft limit later (the hard one is unlimited).
/// `config` is the server's `ferrohub.toml` (it runs in `dir`, where the file is written).
pub fn start_with_file_size_limit(dir: &Path, bytes: u64, config: &str) -> Server {
    std::fs::write(dir.join("ferrohub.toml"), config).unwrap();
    let mut command = Command::new("sh");
    command.current_dir(dir);
    command.args([
        "-c",
        "trap '' XFSZ; limit=$1; shift; exec prlimit --fsize=\"$limit\":unlimited \"$0\" \"$@\"",
        env!("CARGO_BIN_EXE_ferrohub"),
        &bytes.to_string(),
    ]);
    start_command(dir, command)
}

fn start_command(dir: &Path, mut command: Command) -> Server {
    let record = dir.join("server.json");
    let _ = std::fs::remove_file(&record);
    let child = command
        .args([
            "serve",
            "--mqtt-port",
            "0",
            "--https-port",
            "0",
            "--bind",
            "127.0.0.1",
            "--data-dir",
        ])
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Owned by `Server` at once, so a failed start below still kills and reaps it.
    let mut server = Server {
        child,
        mqtt_port: 0,
        https_port: 0,
    };
    // `serve` records the ports it bound once the hub is ready; poll for it under a deadline.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(bytes) = std::fs::read(&record)
            && let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes)
        {
            server.mqtt_port = u16::try_from(v["mqttPort"].as_u64().unwrap()).unwrap();
            server.https_port = u16::try_from(v["httpsPort"].as_u64().unwrap()).unwrap();
            return server;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the server did not start"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub fn owner(dir: &Path) -> ServiceConnectionString {
    let out = Command::new(env!("CARGO_BIN_EXE_ferrohub"))
        .args(["hub", "connection-string", "--data-dir"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    ServiceConnectionString::parse(&String::from_utf8(out.stdout).unwrap()).unwrap()
}

/// Runs a CLI command against the data directory.
pub fn cli(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ferrohub"))
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .output()
        .unwrap()
}
