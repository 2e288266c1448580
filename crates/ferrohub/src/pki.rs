//! The development PKI in the data directory.
//!
//! First start creates an ECDSA P-256 CA (`ca.pem`, `ca-key.pem`); every start issues a fresh
//! server certificate from it whose SANs cover every configured host name, `127.0.0.1` and
//! `::1`, so adding a `--hostname` never needs manual steps. Devices trust `ca.pem`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use anyhow::Context;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// The server's certificate chain and key, ready for rustls.
pub struct ServerIdentity {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

pub fn ca_path(data_dir: &Path) -> PathBuf {
    data_dir.join("ca.pem")
}

/// Makes sure the CA exists, then issues the server certificate for `hostnames`.
pub fn ensure_dev_identity(
    data_dir: &Path,
    hostnames: &[String],
) -> anyhow::Result<ServerIdentity> {
    let ca_pem_path = ca_path(data_dir);
    let ca_key_path = data_dir.join("ca-key.pem");
    if !ca_pem_path.exists() || !ca_key_path.exists() {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let cert = ca_params()?.self_signed(&key)?;
        write_private(&ca_key_path, &key.serialize_pem())?;
        std::fs::write(&ca_pem_path, cert.pem())
            .with_context(|| format!("cannot write {}", ca_pem_path.display()))?;
    }
    let ca_key = KeyPair::from_pem(&std::fs::read_to_string(&ca_key_path)?)
        .context("ca-key.pem is not a valid key")?;
    let ca_pem = std::fs::read_to_string(&ca_pem_path)?;
    let issuer = Issuer::from_ca_cert_pem(&ca_pem, ca_key)
        .context("ca.pem is not a valid CA certificate")?;

    let mut params = CertificateParams::new(Vec::<String>::new())?;
    let mut dn = DistinguishedName::new();
    dn.push(
        DnType::CommonName,
        hostnames.first().map_or("localhost", String::as_str),
    );
    params.distinguished_name = dn;
    for h in hostnames {
        params.subject_alt_names.push(match h.parse::<IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName(
                h.as_str()
                    .try_into()
                    .with_context(|| format!("{h} is not a valid host name"))?,
            ),
        });
    }
    params
        .subject_alt_names
        .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    params
        .subject_alt_names
        .push(SanType::IpAddress(IpAddr::V6(Ipv6Addr::LOCALHOST)));
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(365);
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let cert = params.signed_by(&key, &issuer)?;
    let server_pem = data_dir.join("server.pem");
    std::fs::write(&server_pem, format!("{}{}", cert.pem(), ca_pem))?;
    write_private(&data_dir.join("server-key.pem"), &key.serialize_pem())?;
    load_identity(&server_pem, &data_dir.join("server-key.pem"))
}

/// Loads a user-supplied (or generated) chain and key.
pub fn load_identity(cert: &Path, key: &Path) -> anyhow::Result<ServerIdentity> {
    let chain = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("cannot read {}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{} is not a PEM certificate chain", cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("{} is not a PEM private key", key.display()))?;
    Ok(ServerIdentity { chain, key })
}

fn ca_params() -> anyhow::Result<CertificateParams> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "ferrohub development CA");
    dn.push(DnType::OrganizationName, "ferrohub");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(3650);
    Ok(params)
}

/// Writes a secret readable by the owner only.
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    f.write_all(text.as_bytes())?;
    Ok(())
}
