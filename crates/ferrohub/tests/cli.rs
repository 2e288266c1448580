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
