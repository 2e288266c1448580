//! The CLI against the real binary: every command a user types in the README, and errors
//! as one clear line with a non-zero exit.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "binary/support.rs"]
mod support;

use std::process::Output;

use support::{cli, start};

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_readme_walkthrough_works_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let server = start(d);
    assert!(
        d.join("ca.pem").exists(),
        "the CA devices trust is at <data-dir>/ca.pem"
    );
    let owner = ok(cli(d, &["hub", "connection-string"]));
    assert!(
        owner.starts_with("HostName=localhost;SharedAccessKeyName=iothubowner;SharedAccessKey=")
    );
    let service = ok(cli(d, &["hub", "connection-string", "--policy", "service"]));
    assert!(service.contains("SharedAccessKeyName=service;"));

    let created: serde_json::Value =
        serde_json::from_str(&ok(cli(d, &["device", "create", "cli-dev"]))).unwrap();
    assert_eq!(created["deviceId"], "cli-dev");
    let shown: serde_json::Value =
        serde_json::from_str(&ok(cli(d, &["device", "show", "cli-dev"]))).unwrap();
    assert_eq!(shown["etag"], created["etag"]);
    assert!(ok(cli(d, &["device", "list"])).contains("cli-dev\tenabled\tDisconnected"));
    let cs = ok(cli(d, &["device", "connection-string", "cli-dev"]));
    let key = created["authentication"]["symmetricKey"]["primaryKey"]
        .as_str()
        .unwrap();
    assert_eq!(
        cs.trim(),
        format!("HostName=localhost;DeviceId=cli-dev;SharedAccessKey={key}")
    );
    let token = ok(cli(d, &["sas-token", "--device", "cli-dev", "--ttl", "60"]));
    let parsed = ferrohub_protocol::sas::SasToken::parse(token.trim()).unwrap();
    assert_eq!(parsed.resource, "localhost/devices/cli-dev");
    assert!(parsed.is_signed_by(key));

    let keyed = ok(cli(
        d,
        &[
            "device",
            "create",
            "keyed",
            "--primary-key",
            "cHJpbWFyeS1rZXktMDEyMzQ1Njc4OWFiY2RlZg==",
            "--secondary-key",
            "c2Vjb25kYXJ5LWtleS0wMTIzNDU2Nzg5YWJjZA==",
            "--disabled",
        ],
    ));
    let keyed: serde_json::Value = serde_json::from_str(&keyed).unwrap();
    assert_eq!(keyed["status"], "disabled");
    assert_eq!(
        keyed["authentication"]["symmetricKey"]["primaryKey"],
        "cHJpbWFyeS1rZXktMDEyMzQ1Njc4OWFiY2RlZg=="
    );

    // Monitoring an idle hub ends after --timeout with success and prints nothing.
    let quiet = ok(cli(
        d,
        &["monitor", "--from", "earliest", "--timeout", "1", "--json"],
    ));
    assert_eq!(quiet, "");

    ok(cli(d, &["device", "delete", "cli-dev"]));
    let missing = cli(d, &["device", "show", "cli-dev"]);
    assert!(!missing.status.success());
    let err = String::from_utf8(missing.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "one clear line: {err}");
    assert!(
        err.contains("does not exist") && err.contains("404"),
        "{err}"
    );

    let hub = ok(cli(
        d,
        &["hub", "create", "plant2", "--hostname", "plant2.local"],
    ));
    assert!(hub.contains("HostName=plant2.local;SharedAccessKeyName=iothubowner;"));
    drop(server);
}

#[test]
fn commands_without_a_data_directory_fail_with_a_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = cli(
        &dir.path().join("nothing-here"),
        &["hub", "connection-string"],
    );
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.starts_with("error: no ferrohub data directory at"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1);
}

#[test]
fn config_default_prints_a_valid_commented_file() {
    let dir = tempfile::tempdir().unwrap();
    let text = ok(cli(dir.path(), &["config", "default"]));
    assert!(text.starts_with("# ferrohub.toml"));
    let file = dir.path().join("ferrohub.toml");
    std::fs::write(&file, text).unwrap();
    let parsed: toml::Value = toml::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    assert_eq!(parsed["mqtt_port"].as_integer(), Some(8883));
}

/// A CA (or, with `issuer`, a certificate it signed) made with rcgen: (certificate, key).
fn test_certificate(
    cn: &str,
    issuer: Option<&(rcgen::Certificate, rcgen::KeyPair)>,
) -> (rcgen::Certificate, rcgen::KeyPair) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let cert = match issuer {
        Some((ca, ca_key)) => {
            let issuer = rcgen::Issuer::from_ca_cert_der(ca.der(), ca_key).unwrap();
            params.signed_by(&key, &issuer).unwrap()
        }
        None => params.self_signed(&key).unwrap(),
    };
    (cert, key)
}

#[test]
fn ca_certificates_and_hub_settings_are_managed_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let server = start(d);
    let root = test_certificate("cli root", None);
    let root_pem = d.join("root.pem");
    std::fs::write(&root_pem, root.0.pem()).unwrap();
    let root_path = root_pem.to_str().unwrap();

    let uploaded: serde_json::Value =
        serde_json::from_str(&ok(cli(d, &["ca", "upload", "root", root_path]))).unwrap();
    assert_eq!(uploaded["properties"]["isVerified"], false);
    let thumbprint = uploaded["properties"]["thumbprint"].as_str().unwrap();
    assert!(ok(cli(d, &["ca", "list"])).starts_with(&format!("root\tunverified\t{thumbprint}\t")));

    let code = ok(cli(d, &["ca", "verification-code", "root"]));
    let proof = test_certificate(code.trim(), Some(&root));
    // The proof as a binary DER file: the CLI sends it base64-encoded.
    let proof_der = d.join("proof.der");
    std::fs::write(&proof_der, proof.0.der()).unwrap();
    assert_eq!(
        ok(cli(
            d,
            &["ca", "verify", "root", proof_der.to_str().unwrap()]
        ))
        .trim(),
        "verified root"
    );
    assert!(ok(cli(d, &["ca", "list"])).starts_with("root\tverified\t"));
    let shown: serde_json::Value =
        serde_json::from_str(&ok(cli(d, &["ca", "show", "root"]))).unwrap();
    assert_eq!(shown["properties"]["isVerified"], true);

    let again = cli(d, &["ca", "upload", "root", root_path]);
    assert!(!again.status.success(), "a second upload does not replace");
    let replaced: serde_json::Value = serde_json::from_str(&ok(cli(
        d,
        &["ca", "upload", "root", root_path, "--replace"],
    )))
    .unwrap();
    assert_eq!(replaced["properties"]["isVerified"], false);
    assert_eq!(ok(cli(d, &["ca", "delete", "root"])).trim(), "deleted root");
    let gone = cli(d, &["ca", "show", "root"]);
    assert!(!gone.status.success());
    assert!(String::from_utf8_lossy(&gone.stderr).contains("does not exist"));

    let updated: serde_json::Value = serde_json::from_str(&ok(cli(
        d,
        &["hub", "update", "default", "--disable-device-sas", "true"],
    )))
    .unwrap();
    assert_eq!(updated["disableDeviceSAS"], true);
    let shown: serde_json::Value =
        serde_json::from_str(&ok(cli(d, &["hub", "show", "default"]))).unwrap();
    assert_eq!(shown["disableDeviceSAS"], true);
    // Another hub is changed with its own owner policy from the data directory.
    ok(cli(
        d,
        &["hub", "create", "plant2", "--hostname", "plant2.local"],
    ));
    let plant2: serde_json::Value = serde_json::from_str(&ok(cli(
        d,
        &[
            "hub",
            "update",
            "plant2",
            "--disable-device-sas",
            "true",
            "--disable-module-sas",
            "true",
        ],
    )))
    .unwrap();
    assert_eq!(plant2["name"], "plant2");
    assert_eq!(plant2["disableDeviceSAS"], true);
    assert_eq!(plant2["disableModuleSAS"], true);
    let shown: serde_json::Value =
        serde_json::from_str(&ok(cli(d, &["hub", "show", "default"]))).unwrap();
    assert_eq!(shown["disableModuleSAS"], false, "per hub");
    drop(server);
}

/// Port 443 needs privileges: `serve` says so in one warning line and listens for HTTPS on
/// 8443. Run as root, the server is started as `nobody` (util-linux `setpriv`), so binding
/// 443 is refused as it is for any unprivileged user.
#[test]
fn without_privileges_for_443_https_falls_back_to_8443_with_one_warning_line() {
    use std::os::unix::fs::PermissionsExt;
    use std::process::{Command, Stdio};

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o777)).unwrap();
    // A copy nobody can run wherever the build directory is.
    let binary = d.join("ferrohub");
    std::fs::copy(env!("CARGO_BIN_EXE_ferrohub"), &binary).unwrap();
    let uid = ok(Command::new("id").arg("-u").output().unwrap());
    let mut command = if uid.trim() == "0" {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(&binary);
        c
    } else {
        Command::new(&binary)
    };
    let data = d.join("data");
    let mut child = command
        .args([
            "serve",
            "--mqtt-port",
            "0",
            "--bind",
            "127.0.0.1",
            "--data-dir",
        ])
        .arg(&data)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let record = data.join("server.json");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let port = loop {
        if let Ok(bytes) = std::fs::read(&record)
            && let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes)
        {
            break v["httpsPort"].as_u64().unwrap();
        }
        if std::time::Instant::now() > deadline || child.try_wait().unwrap().is_some() {
            panic!(
                "the server did not start: {}",
                stop_and_read_stderr(&mut child)
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    let err = stop_and_read_stderr(&mut child);
    assert_eq!(port, 8443, "{err}");
    let warnings: Vec<_> = err
        .lines()
        .filter(|l| l.contains("port 443 needs privileges"))
        .collect();
    assert_eq!(warnings.len(), 1, "{err}");
    assert!(warnings[0].starts_with("warning: "), "{err}");
    assert!(warnings[0].contains("8443"), "{err}");
}

/// Kills the child and returns what it wrote to its (piped) standard error.
fn stop_and_read_stderr(child: &mut std::process::Child) -> String {
    use std::io::Read;
    let _ = child.kill();
    let _ = child.wait();
    let mut err = String::new();
    if let Some(mut stderr) = child.stderr.take() {
        stderr.read_to_string(&mut err).unwrap();
    }
    err
}

/// `ferrohub check`: refuses while a server runs, finds a data directory sound after the
/// server is gone (kill -9 included), and names the file when a segment is damaged.
#[test]
fn check_refuses_a_running_server_passes_a_sound_directory_and_names_damage() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut server = start(d);
    let running = cli(d, &["check"]);
    assert!(!running.status.success());
    let err = String::from_utf8_lossy(&running.stderr);
    assert!(err.contains("running ferrohub"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let report = ok(cli(d, &["check"]));
    assert!(report.contains("ferrohub.db: ok"), "{report}");
    assert!(
        report.contains("0 messages in 4 segments over 4 partitions: ok"),
        "{report}"
    );

    let segment = std::fs::read_dir(d.join("telemetry"))
        .unwrap()
        .map(|hub| hub.unwrap().path().join("partitions").join("0"))
        .flat_map(|partition| std::fs::read_dir(partition).unwrap())
        .map(|entry| entry.unwrap().path())
        .find(|path| path.extension().is_some_and(|e| e == "seg"))
        .unwrap();
    let mut bytes = std::fs::read(&segment).unwrap();
    bytes[..8].fill(0);
    std::fs::write(&segment, &bytes).unwrap();
    let damaged = cli(d, &["check"]);
    assert!(!damaged.status.success());
    let report = String::from_utf8_lossy(&damaged.stdout);
    let name = segment.file_name().unwrap().to_string_lossy();
    assert!(report.contains(name.as_ref()), "{report}");
    let err = String::from_utf8_lossy(&damaged.stderr);
    assert!(
        err.contains("damage found in the telemetry of hub"),
        "{err}"
    );
}
